//! Vast.ai's JSON (only the fields we use) and its mapping onto [`Instance`].
//!
//! Rows are read leniently where the API is loose in practice: strings may carry trailing
//! whitespace, ports may be numbers or strings, `ports` may be absent, `{}` or `null`, and
//! `actual_status` is `null` while an instance is provisioned.

use serde::Deserialize;
use serde_json::Value;

use crate::instance::{GpuInfo, Instance, InstanceStatus, ProviderKind, SshEndpoint};

/// A page of `GET /api/v1/instances/`.
#[derive(Debug, Deserialize)]
pub(crate) struct Page {
    #[serde(default)]
    pub(crate) instances: Vec<Row>,
    #[serde(default)]
    pub(crate) next_token: Option<String>,
}

/// `GET /api/v0/instances/{id}/`: the row sits under the (singular!) key `instances`.
#[derive(Debug, Deserialize)]
pub(crate) struct One {
    #[serde(default)]
    pub(crate) instances: Option<Row>,
}

/// The answer to `PUT /api/v0/instances/{id}/`.
#[derive(Debug, Deserialize)]
pub(crate) struct StateChange {
    #[serde(default)]
    pub(crate) success: Option<bool>,
    #[serde(default)]
    pub(crate) msg: Option<String>,
    #[serde(default)]
    pub(crate) error: Option<String>,
}

/// One instance row.
#[derive(Debug, Deserialize)]
pub(crate) struct Row {
    id: u64,
    #[serde(default)]
    actual_status: Option<String>,
    #[serde(default)]
    intended_status: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    gpu_name: Option<String>,
    #[serde(default)]
    num_gpus: Option<u32>,
    #[serde(default)]
    gpu_ram: Option<f64>,
    #[serde(default)]
    dph_total: Option<f64>,
    #[serde(default)]
    ssh_host: Option<String>,
    #[serde(default)]
    ssh_port: Option<Value>,
    #[serde(default)]
    public_ipaddr: Option<String>,
    #[serde(default)]
    ports: Option<Value>,
}

/// What the mapping needs from the options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MapSettings<'a> {
    pub(crate) comfyui_port: u16,
    pub(crate) ssh_user: &'a str,
}

impl Row {
    pub(crate) fn into_instance(self, settings: MapSettings<'_>) -> Instance {
        let public_ip = non_empty(self.public_ipaddr.as_deref());
        let ports = self.ports.as_ref();
        Instance {
            id: self.id.to_string(),
            display_name: non_empty(self.label.as_deref())
                .map_or_else(|| format!("VastAI #{}", self.id), str::to_owned),
            provider: ProviderKind::VastAi,
            status: status(
                non_empty(self.actual_status.as_deref()),
                non_empty(self.intended_status.as_deref()),
            ),
            gpu: non_empty(self.gpu_name.as_deref()).map(|name| GpuInfo {
                name: name.to_owned(),
                count: self.num_gpus.unwrap_or(1),
                vram_mb: self
                    .gpu_ram
                    .filter(|mb| mb.is_finite() && *mb > 0.0)
                    .map(|mb| mb.round() as u64),
            }),
            cost_per_hour: self.dph_total.filter(|c| c.is_finite()).unwrap_or(0.0),
            ssh: ssh(
                non_empty(self.ssh_host.as_deref()),
                self.ssh_port.as_ref(),
                public_ip,
                ports,
                settings.ssh_user,
            ),
            comfyui_url: public_ip.zip(host_port(ports, settings.comfyui_port)).map(
                |(ip, port)| {
                    if ip.contains(':') {
                        format!("http://[{ip}]:{port}")
                    } else {
                        format!("http://{ip}:{port}")
                    }
                },
            ),
        }
    }
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Vast.ai's `actual_status` (container) read together with `intended_status` (what the user
/// asked for), so that "stopped but asked to run" shows as starting.
fn status(actual: Option<&str>, intended: Option<&str>) -> InstanceStatus {
    let wants_stop = intended == Some("stopped");
    let wants_run = intended == Some("running");
    match actual {
        None if wants_stop => InstanceStatus::Stopped,
        None | Some("created" | "scheduling" | "rebooting" | "recycling") => {
            InstanceStatus::Starting
        }
        Some("running") if wants_stop => InstanceStatus::Stopping,
        Some("running") => InstanceStatus::Running,
        Some("loading") => InstanceStatus::Loading,
        Some("stopped") if wants_run => InstanceStatus::Starting,
        Some("stopped") => InstanceStatus::Stopped,
        Some("frozen") => InstanceStatus::Frozen,
        Some("exited") => InstanceStatus::Exited,
        Some("offline") => InstanceStatus::Offline,
        Some(other) => InstanceStatus::Unknown(other.to_owned()),
    }
}

/// The proxy endpoint (`ssh_host`/`ssh_port`) when there is one, else the direct one
/// (`public_ipaddr` and the `22/tcp` mapping).
fn ssh(
    host: Option<&str>,
    port: Option<&Value>,
    public_ip: Option<&str>,
    ports: Option<&Value>,
    user: &str,
) -> Option<SshEndpoint> {
    let endpoint = |host: &str, port: u16| SshEndpoint {
        host: host.to_owned(),
        port,
        user: user.to_owned(),
    };
    if let Some((host, port)) = host.zip(port.and_then(port_number)) {
        return Some(endpoint(host, port));
    }
    public_ip
        .zip(host_port(ports, 22))
        .map(|(ip, port)| endpoint(ip, port))
}

/// The host port Docker published for `<container_port>/tcp`, preferring the IPv4 binding.
fn host_port(ports: Option<&Value>, container_port: u16) -> Option<u16> {
    let bindings = ports?.get(format!("{container_port}/tcp"))?.as_array()?;
    let port_of = |binding: &Value| binding.get("HostPort").and_then(port_number);
    let ipv4 = bindings
        .iter()
        .filter(|b| b.get("HostIp").and_then(Value::as_str) != Some("::"))
        .find_map(port_of);
    ipv4.or_else(|| bindings.iter().find_map(port_of))
}

/// A TCP port given as a number or a numeric string; 0 and out-of-range values are none.
fn port_number(value: &Value) -> Option<u16> {
    let number = match value {
        Value::Number(n) => n.as_u64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    u16::try_from(number).ok().filter(|p| *p != 0)
}
