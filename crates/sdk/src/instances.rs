//! All instances from all providers: the local host(s) from the config (as `disabled` while the
//! master switch `enabled` is false, else `online` or `offline` from a quick probe of their
//! ComfyUI) and, when enabled, VastAI. A failing provider does not hide the others: its error is listed beside them.
//! Each instance says whether commands accept it ([`crate::connection::resolve_listed`]).

use std::fmt::Write as _;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use comfy_local_comfyui::{ApiPrefix, ClientOptions, ComfyClient};
use comfy_local_config::{Config, LocalInstance};
use comfy_local_providers::{
    ApiKey, Instance, InstanceProvider, InstanceStatus, LocalProvider, ProviderKind, VastAiOptions,
    VastAiProvider,
};
use serde::Serialize;

use crate::terminal::one_line;

/// Every instance found, and every provider that could not be asked.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceList {
    /// Local instances first (in config order), then VastAI's.
    pub instances: Vec<ListedInstance>,
    /// Providers that failed, with why.
    pub errors: Vec<ProviderFailure>,
}

/// A provider that could not list its instances.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderFailure {
    /// Which provider.
    pub provider: ProviderKind,
    /// What went wrong (never contains the API key).
    pub message: String,
}

/// One instance of the list: the provider's record (its fields, flattened in JSON; the struct
/// derefs to it) and whether commands accept its id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListedInstance {
    /// The provider's record (status from the probe for local instances).
    #[serde(flatten)]
    pub instance: Instance,
    /// Whether [`crate::resolve`] accepts the instance as listed: false for a VastAI instance
    /// that is not running, has no SSH endpoint or an unusable record, or has the id of a local
    /// instance (which the id then names), or while the config lacks `vastai.ssh.key_file` /
    /// `known_hosts_dir`. Says nothing about whether it answers now
    /// (that is `status`) or about switches that turn operations off (`enabled`, `features`).
    pub usable: bool,
    /// Why not, when `usable` is false (`null` otherwise).
    pub unusable: Option<Unusable>,
}

impl std::ops::Deref for ListedInstance {
    type Target = Instance;

    fn deref(&self) -> &Instance {
        &self.instance
    }
}

/// Why commands refuse a listed instance: the [`crate::ResolveError`] they would fail with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unusable {
    /// The error's message.
    pub reason: String,
    /// What to do about it ([`crate::ResolveError::hint`]).
    pub hint: Option<String>,
}

impl ListedInstance {
    /// `instance` with what [`crate::connection::resolve_listed`] says about it (no request).
    pub fn new(config: &Config, instance: Instance) -> ListedInstance {
        let unusable = crate::connection::resolve_listed(config, &instance)
            .err()
            .map(|e| Unusable {
                reason: crate::error_chain(&e),
                hint: e.hint(),
            });
        ListedInstance {
            instance,
            usable: unusable.is_none(),
            unusable,
        }
    }
}

/// How long one probe of a local ComfyUI may take per step (TCP, SSH, HTTP).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the listing waits for all probes together (they run in parallel); an instance
/// whose probe has not answered by then is `offline`.
const PROBE_DEADLINE: Duration = Duration::from_secs(4);

/// Lists the local instances (`disabled` while `enabled` is false, else `online` when their
/// ComfyUI answers `GET /system_stats` right now, directly or through the SSH forward, and
/// `offline` when not; all probed in parallel, within a few seconds) and, when `vastai.enabled`,
/// VastAI's; the VastAI key comes from the environment
/// variable the config names (or the vastai CLI's key file). Each says whether commands accept
/// it ([`ListedInstance::usable`]), from the records listed: no request per instance.
pub fn list_instances(config: &Config) -> InstanceList {
    list_instances_with(config, &|name| std::env::var(name).ok())
}

/// [`list_instances`] with a custom environment lookup (for tests and embedding apps).
pub fn list_instances_with(
    config: &Config,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> InstanceList {
    listing(config, getenv, true)
}

/// The listing without probing any ComfyUI (a batch probes the instances it chose itself):
/// local instances as the config has them (`disabled` while `enabled` is false), VastAI's
/// from its one list request.
pub(crate) fn list_unprobed(
    config: &Config,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> InstanceList {
    listing(config, getenv, false)
}

fn listing(config: &Config, getenv: &dyn Fn(&str) -> Option<String>, probe: bool) -> InstanceList {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    match LocalProvider::from_config(config).and_then(|p| p.list()) {
        // The master switch off: listed, but as not to be used.
        Ok(list) if !config.enabled => found.extend(list.into_iter().map(|i| Instance {
            status: InstanceStatus::Disabled,
            ..i
        })),
        Ok(mut list) => {
            if probe {
                probe_all(config, &mut list);
            }
            found.extend(list);
        }
        Err(e) => errors.push(ProviderFailure {
            provider: ProviderKind::Local,
            message: crate::error_chain(&e),
        }),
    }
    if config.vastai.enabled {
        let provider = ApiKey::from_config(&config.vastai, getenv)
            .and_then(|key| VastAiProvider::new(key, VastAiOptions::from_config(&config.vastai)));
        match provider.and_then(|p| p.list()) {
            Ok(list) => found.extend(list),
            Err(e) => errors.push(ProviderFailure {
                provider: ProviderKind::VastAi,
                message: crate::error_chain(&e),
            }),
        }
    }
    InstanceList {
        instances: found
            .into_iter()
            .map(|i| ListedInstance::new(config, i))
            .collect(),
        errors,
    }
}

/// Sets each local instance's status from a probe of its ComfyUI, every probe in its own
/// thread; waits at most [`PROBE_DEADLINE`] for them all.
fn probe_all(config: &Config, instances: &mut [Instance]) {
    let (tx, rx) = mpsc::channel();
    for local in &config.local {
        let (tx, local) = (tx.clone(), local.clone());
        // A probe still running at the deadline ends on its own timeouts; its answer is dropped.
        std::thread::spawn(move || {
            let online = answers(&local);
            let _ = tx.send((local.id.to_string(), online));
        });
    }
    drop(tx);
    for instance in instances.iter_mut() {
        instance.status = InstanceStatus::Offline;
    }
    let deadline = Instant::now() + PROBE_DEADLINE;
    while let Ok((id, online)) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
    {
        if let Some(instance) = instances.iter_mut().find(|i| i.id == id) {
            instance.status = if online {
                InstanceStatus::Online
            } else {
                InstanceStatus::Offline
            };
        }
    }
}

/// Whether the instance's ComfyUI answers `GET /system_stats` now: at `api_url`, or when that
/// port does not accept connections from here, through the SSH forward `run` would use.
fn answers(local: &LocalInstance) -> bool {
    let api = &local.comfyui.api_url;
    let mut options = ClientOptions::default()
        .api_prefix(ApiPrefix::Root)
        .connect_timeout(PROBE_TIMEOUT)
        .request_timeout(PROBE_TIMEOUT)
        .stall_timeout(PROBE_TIMEOUT);
    if crate::workflow::https_or_reachable(api.host(), api.port(), api.is_https(), PROBE_TIMEOUT)
        .is_err()
    {
        let mut ssh = crate::connection::connect_options(local);
        ssh.connect_timeout = ssh.connect_timeout.min(PROBE_TIMEOUT);
        ssh.command_timeout = ssh.command_timeout.min(PROBE_TIMEOUT);
        match crate::workflow::ssh_dialer_with(&ssh, api.port()) {
            Ok(dialer) => options = options.dialer(dialer),
            Err(e) => {
                tracing::debug!(instance = local.id.as_str(), error = %crate::error_chain(&e), "probe: no SSH forward either");
                return false;
            }
        }
    }
    ComfyClient::with_options(api.as_str(), options)
        .and_then(|client| client.system_stats())
        .inspect_err(|e| {
            tracing::debug!(instance = local.id.as_str(), error = %crate::error_chain(e), "probe: ComfyUI did not answer");
        })
        .is_ok()
}

impl InstanceList {
    /// A table for a terminal: id, provider, status, usable, GPU, cost, name; then a line for
    /// each unusable instance saying why (each distinct hint once, under the first instance it
    /// is for), and a line for each provider's error.
    pub fn to_table(&self) -> String {
        let rows: Vec<[String; 7]> = self
            .instances
            .iter()
            .map(|i| {
                let gpu = i.gpu.as_ref().map_or_else(
                    || "-".to_owned(),
                    |g| {
                        let count = if g.count > 1 {
                            format!("{}x ", g.count)
                        } else {
                            String::new()
                        };
                        let vram = g
                            .vram_mb
                            .map(|mb| format!(" ({:.0} GB)", mb as f64 / 1024.0))
                            .unwrap_or_default();
                        format!("{count}{}{vram}", one_line(&g.name))
                    },
                );
                [
                    one_line(&i.id).into_owned(),
                    i.provider.as_str().to_owned(),
                    i.status.as_str().to_owned(),
                    if i.usable { "yes" } else { "NO" }.to_owned(),
                    gpu,
                    one_line(&i.cost_text()).into_owned(),
                    one_line(&i.display_name).into_owned(),
                ]
            })
            .collect();
        let header =
            ["ID", "PROVIDER", "STATUS", "USABLE", "GPU", "COST", "NAME"].map(str::to_owned);
        let mut widths = header.clone().map(|h| h.len());
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<w$}  ");
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        if self.instances.is_empty() {
            let _ = writeln!(
                out,
                "(no instances: add one under `local:` or enable `vastai:`)"
            );
        }
        // Each hint once, under the first instance it is for.
        let mut hinted = Vec::new();
        for (i, why) in self
            .instances
            .iter()
            .filter_map(|i| Some((i, i.unusable.as_ref()?)))
        {
            let _ = writeln!(
                out,
                "unusable: {}: {}",
                one_line(&i.id),
                one_line(&why.reason)
            );
            match &why.hint {
                Some(hint) if !hinted.contains(&hint) => {
                    let _ = writeln!(out, "  hint: {}", one_line(hint));
                    hinted.push(hint);
                }
                _ => {}
            }
        }
        for e in &self.errors {
            let _ = writeln!(out, "error: {}: {}", e.provider.as_str(), e.message);
        }
        out
    }
}
