//! The provider-neutral instance model: what the CLI lists and what `--instance` selects.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where an instance comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ProviderKind {
    /// A host from the config's `local` list (the container's own host).
    #[serde(rename = "local")]
    Local,
    /// An instance rented on Vast.ai.
    #[serde(rename = "vastai")]
    VastAi,
}

impl ProviderKind {
    /// `local` or `vastai`, as in the config and in `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::VastAi => "vastai",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What state an instance is in, as far as its provider knows.
///
/// Serialized as one lowercase string (`"running"`, `"stopping"`, ...); [`InstanceStatus::Unknown`]
/// serializes as the provider's own word so nothing is lost.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
#[non_exhaustive]
pub enum InstanceStatus {
    /// Up; its `ComfyUI` may be used.
    Running,
    /// Being provisioned, scheduled or rebooted; not usable yet.
    Starting,
    /// Container image downloading or the container is starting up.
    Loading,
    /// Asked to stop but still running.
    Stopping,
    /// Halted (on Vast.ai: disk still billed, no GPU charges).
    Stopped,
    /// Paused with memory kept (Vast.ai `frozen`).
    Frozen,
    /// The container's process exited unexpectedly.
    Exited,
    /// Not answering: on Vast.ai the host machine is disconnected; a local host's ComfyUI did
    /// not answer a quick probe just now.
    Offline,
    /// A local host whose ComfyUI answered a quick probe just now.
    Online,
    /// A local host from the config; not probed (the connection test does that).
    Configured,
    /// A local host from a config whose master switch `enabled` is false: not used.
    Disabled,
    /// A status this crate does not know, kept verbatim (e.g. Vast.ai's `unknown`).
    Unknown(String),
}

impl InstanceStatus {
    /// The lowercase word for this status (the provider's own word for `Unknown`).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Running => "running",
            Self::Starting => "starting",
            Self::Loading => "loading",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Frozen => "frozen",
            Self::Exited => "exited",
            Self::Offline => "offline",
            Self::Online => "online",
            Self::Configured => "configured",
            Self::Disabled => "disabled",
            Self::Unknown(word) => word,
        }
    }

    /// Whether the instance is up and its `ComfyUI` may answer.
    pub fn is_running(&self) -> bool {
        matches!(self, Self::Running | Self::Online)
    }
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<InstanceStatus> for String {
    fn from(status: InstanceStatus) -> Self {
        status.as_str().to_owned()
    }
}

impl From<String> for InstanceStatus {
    fn from(word: String) -> Self {
        match word.as_str() {
            "running" => Self::Running,
            "starting" => Self::Starting,
            "loading" => Self::Loading,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            "frozen" => Self::Frozen,
            "exited" => Self::Exited,
            "offline" => Self::Offline,
            "online" => Self::Online,
            "configured" => Self::Configured,
            "disabled" => Self::Disabled,
            _ => Self::Unknown(word),
        }
    }
}

/// The GPUs of an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// Model name, e.g. `RTX 4090`.
    pub name: String,
    /// Number of GPUs of that model.
    pub count: u32,
    /// Memory of one GPU in MB, when known.
    pub vram_mb: Option<u64>,
}

/// Where to reach an instance's sshd.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SshEndpoint {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Login user.
    pub user: String,
}

impl fmt::Display for SshEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}@[{}]:{}", self.user, self.host, self.port)
        } else {
            write!(f, "{}@{}:{}", self.user, self.host, self.port)
        }
    }
}

/// One machine that can run `ComfyUI` workflows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// What `--instance` takes: the config id for local hosts, the numeric id on Vast.ai.
    pub id: String,
    /// A human name: the config's `name`, or the Vast.ai label.
    pub display_name: String,
    /// Which provider it belongs to.
    pub provider: ProviderKind,
    /// Its state when listed.
    pub status: InstanceStatus,
    /// Its GPUs, when the provider reports them (local hosts: after a connection test).
    pub gpu: Option<GpuInfo>,
    /// Price in US dollars per hour; `0.0` for local hosts.
    pub cost_per_hour: f64,
    /// How to reach its sshd, when known.
    pub ssh: Option<SshEndpoint>,
    /// Base URL of its `ComfyUI` HTTP API when it is reachable directly (e.g. a published port);
    /// `None` means it is only reachable through an SSH port forward.
    pub comfyui_url: Option<String>,
}

impl Instance {
    /// Whether using it costs nothing.
    pub fn is_free(&self) -> bool {
        self.cost_per_hour <= 0.0
    }

    /// The cost as the CLI and the toolbar show it: `FREE  $0.00/hr` or `$0.40/hr`.
    pub fn cost_text(&self) -> String {
        if self.is_free() {
            "FREE  $0.00/hr".to_owned()
        } else {
            format!("${:.2}/hr", self.cost_per_hour)
        }
    }
}
