//! The typed configuration: what `local-support-config.yml` holds, with its defaults.
//! Field names are the YAML keys; `Serialize` writes the same shape back (secrets redacted).

use std::num::{NonZeroU16, NonZeroU32, NonZeroU64};
use std::time::Duration;

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};

use crate::values::{
    ApiUrl, Fingerprint, GitHost, Host, InstallPath, InstanceId, Port, Secret, UserName,
};

/// Default SSH port of the host's dedicated sshd.
pub const DEFAULT_SSH_PORT: u16 = 22022;
/// Default SSH user on the host.
pub const DEFAULT_SSH_USER: &str = "comfyui";
/// Default `ComfyUI` API URL as seen from the container.
pub const DEFAULT_COMFYUI_API_URL: &str = "http://host.docker.internal:8188";
/// Default `VastAI` API base URL.
pub const DEFAULT_VASTAI_API_URL: &str = "https://console.vast.ai";
/// Default name of the environment variable holding the `VastAI` API key.
pub const DEFAULT_VASTAI_API_KEY_ENV: &str = "VAST_API_KEY";
/// Default SSH user on `VastAI` instances (their images log in as root).
pub const DEFAULT_VASTAI_SSH_USER: &str = "root";
/// Default `ComfyUI` install folder on a `VastAI` instance (`${WORKSPACE}/ComfyUI` of Vast.ai's
/// `vastai/comfyui` image).
pub const DEFAULT_VASTAI_COMFYUI_PATH: &str = "/workspace/ComfyUI";
/// Default port `ComfyUI` listens on inside a `VastAI` instance: the image's internal port,
/// behind the authenticating proxy that publishes 8188.
pub const DEFAULT_VASTAI_COMFYUI_PORT: u16 = 18188;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Master switch for local-host support.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The local instances (usually one: the container's own host).
    #[serde(default)]
    pub local: Vec<LocalInstance>,
    /// Rented `VastAI` instances.
    #[serde(default)]
    pub vastai: VastAiSettings,
    /// Credentials for downloading models (`comfy-local install model`).
    #[serde(default)]
    pub resources: ResourcesSettings,
    /// How `run --batch` spreads jobs over the instances.
    #[serde(default)]
    pub pool: PoolSettings,
}

/// How `run --batch` routes jobs and recovers from failures. Zero is refused where it would
/// stop the pool (no job could run, or no job would be tried).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolSettings {
    /// A rented instance gets a job only while every free instance that could take it has
    /// more prompts than this in its ComfyUI queue (running + pending).
    pub queue_threshold: u32,
    /// At most this many of a batch's jobs run or wait on one instance at a time.
    pub max_in_flight: NonZeroU32,
    /// A job is attempted at most this many times, each on another instance.
    pub max_tries: NonZeroU32,
    /// An instance is taken out of the pool after this many failures in a row.
    pub failures_before_quarantine: NonZeroU32,
    /// A quarantined instance is probed (`GET /system_stats`) this many seconds after it
    /// was taken out, and again as long after each failed probe.
    pub probe_interval_secs: NonZeroU64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        let n = |v: u32| NonZeroU32::new(v).unwrap_or(NonZeroU32::MIN);
        Self {
            queue_threshold: 1,
            max_in_flight: n(2),
            max_tries: n(3),
            failures_before_quarantine: n(3),
            probe_interval_secs: NonZeroU64::new(30).unwrap_or(NonZeroU64::MIN),
        }
    }
}

/// Where the download credentials come from: names of environment variables, never the
/// tokens themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesSettings {
    /// Variable holding a Hugging Face token, sent as `Authorization: Bearer` to
    /// huggingface.co hosts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub huggingface_token_env: Option<String>,
    /// Variable holding a Civitai token, sent as the `token` query parameter to civitai.com
    /// hosts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub civitai_token_env: Option<String>,
    /// Hosts `comfy-local install node` may clone from (default github.com, gitlab.com,
    /// codeberg.org); a node URL's host must be one of them exactly.
    #[serde(default = "default_git_hosts")]
    pub allowed_git_hosts: Vec<GitHost>,
}

impl Default for ResourcesSettings {
    fn default() -> Self {
        Self {
            huggingface_token_env: None,
            civitai_token_env: None,
            allowed_git_hosts: default_git_hosts(),
        }
    }
}

/// The hosts custom nodes may come from when the config names none.
pub const DEFAULT_GIT_HOSTS: [&str; 3] = ["github.com", "gitlab.com", "codeberg.org"];

fn default_git_hosts() -> Vec<GitHost> {
    DEFAULT_GIT_HOSTS
        .iter()
        .filter_map(|h| GitHost::try_from(*h).ok())
        .collect()
}

impl ResourcesSettings {
    /// The Hugging Face token, when a variable is named and set (non-empty).
    pub fn huggingface_token_with(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Secret> {
        token(self.huggingface_token_env.as_deref(), lookup)
    }

    /// The Civitai token, when a variable is named and set (non-empty).
    pub fn civitai_token_with(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Option<Secret> {
        token(self.civitai_token_env.as_deref(), lookup)
    }
}

fn token(name: Option<&str>, lookup: &dyn Fn(&str) -> Option<String>) -> Option<Secret> {
    lookup(name?).filter(|v| !v.is_empty()).map(Secret::new)
}

/// One `ComfyUI` host reached over SSH and HTTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalInstance {
    /// Id used to select the instance (`--instance local`).
    #[serde(default = "default_id")]
    pub id: InstanceId,
    /// Display name.
    #[serde(default = "default_name")]
    pub name: String,
    /// How to reach the host's sshd.
    pub ssh: SshSettings,
    /// Where `ComfyUI` lives on the host and how to reach its API.
    pub comfyui: ComfyUiSettings,
    /// What this instance may be used for.
    #[serde(default)]
    pub features: Features,
    /// Resource limits for transfers.
    #[serde(default)]
    pub limits: Limits,
}

/// How host keys are checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// The host key must already be in the `known_hosts` file (or match the pinned fingerprint).
    #[default]
    Strict,
    /// An unknown host is added to the `known_hosts` file on first contact; a changed key is
    /// still refused.
    AcceptNew,
}

/// SSH connection settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSettings {
    /// Host name or address of the sshd.
    pub host: Host,
    /// sshd port.
    #[serde(default = "default_port")]
    pub port: Port,
    /// Login user (dedicated, non-root).
    #[serde(default = "default_user")]
    pub user: UserName,
    /// Private key file inside the container (mode 600).
    pub key_file: Utf8PathBuf,
    /// OpenSSH `known_hosts` file holding the host's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts_file: Option<Utf8PathBuf>,
    /// Pinned host key fingerprint, `SHA256:...` (instead of a `known_hosts` file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key_fingerprint: Option<Fingerprint>,
    /// `strict` or `accept-new`.
    #[serde(default)]
    pub host_key_policy: HostKeyPolicy,
    /// Seconds to wait for TCP connect and the SSH handshake.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: NonZeroU64,
    /// Seconds a remote command may run.
    #[serde(default = "default_command_timeout")]
    pub command_timeout_secs: NonZeroU64,
    /// Seconds between keepalive messages; 0 turns keepalive off.
    #[serde(default = "default_keepalive")]
    pub keepalive_secs: u64,
}

/// How the host key of an instance is verified, derived from [`SshSettings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyCheck<'a> {
    /// Compare with the `known_hosts` file under the policy.
    KnownHosts {
        /// The file.
        file: &'a camino::Utf8Path,
        /// Strict or accept-new.
        policy: HostKeyPolicy,
    },
    /// Compare with the pinned fingerprint.
    Fingerprint(&'a Fingerprint),
}

impl SshSettings {
    /// TCP connect and handshake timeout.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs.get())
    }

    /// Remote command timeout.
    pub fn command_timeout(&self) -> Duration {
        Duration::from_secs(self.command_timeout_secs.get())
    }

    /// Keepalive interval; `None` when turned off.
    pub fn keepalive(&self) -> Option<Duration> {
        (self.keepalive_secs > 0).then(|| Duration::from_secs(self.keepalive_secs))
    }

    /// How to verify the host key. A loaded config always has exactly one of the two
    /// sources; `None` only for a hand-built value with neither.
    pub fn host_key_check(&self) -> Option<HostKeyCheck<'_>> {
        match (&self.host_key_fingerprint, &self.known_hosts_file) {
            (Some(fingerprint), _) => Some(HostKeyCheck::Fingerprint(fingerprint)),
            (None, Some(file)) => Some(HostKeyCheck::KnownHosts {
                file,
                policy: self.host_key_policy,
            }),
            (None, None) => None,
        }
    }
}

/// `ComfyUI` on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComfyUiSettings {
    /// `ComfyUI`'s install directory on the host (absolute).
    pub path: InstallPath,
    /// `ComfyUI`'s HTTP API as reached from the container. Basic-auth credentials in it
    /// (`http://user:pass@host:8188`) are sent to the server and never printed.
    #[serde(default = "default_comfyui_url")]
    pub api_url: ApiUrl,
    /// Python of `ComfyUI`'s environment, absolute: `install node` installs a node's
    /// `requirements.txt` and runs its `install.py` with it (default: `venv/bin/python` or
    /// `.venv/bin/python` in the install folder when present, else `python3`, checked against
    /// the version the running server reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<InstallPath>,
}

/// Feature switches of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Features {
    /// Run workflows.
    pub workflow_execution: bool,
    /// Install models and other resources.
    pub resource_installation: bool,
    /// Install custom nodes.
    pub custom_nodes: bool,
}

impl Default for Features {
    fn default() -> Self {
        Self {
            workflow_execution: true,
            resource_installation: true,
            custom_nodes: true,
        }
    }
}

/// Transfer limits of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest single upload (a `run --input` or `upload` file), in MiB.
    pub max_upload_mb: NonZeroU64,
    /// Most bytes one run saves into its output folder (every output together), in MiB.
    pub max_output_mb: NonZeroU64,
}

impl Limits {
    /// Largest single upload in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_mb.get().saturating_mul(1024 * 1024)
    }

    /// Most bytes one run saves, in bytes.
    pub fn max_output_bytes(&self) -> u64 {
        self.max_output_mb.get().saturating_mul(1024 * 1024)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_upload_mb: NonZeroU64::new(20480).unwrap_or(NonZeroU64::MIN),
            max_output_mb: NonZeroU64::new(20480).unwrap_or(NonZeroU64::MIN),
        }
    }
}

/// `VastAI` access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VastAiSettings {
    /// Use `VastAI` instances.
    #[serde(default)]
    pub enabled: bool,
    /// Name of the environment variable holding the API key.
    #[serde(default = "default_vast_key_env")]
    pub api_key_env: String,
    /// The API key written in the file: refused unless `allow_inline_api_key` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<Secret>,
    /// Accept `api_key` written in the file (not recommended).
    #[serde(default)]
    pub allow_inline_api_key: bool,
    /// `VastAI` API base URL.
    #[serde(default = "default_vast_url")]
    pub api_url: ApiUrl,
    /// How rented instances are reached over SSH.
    #[serde(default)]
    pub ssh: VastAiSsh,
    /// Where `ComfyUI` lives on the rented image.
    #[serde(default)]
    pub comfyui: VastAiComfyUi,
    /// What rented instances may be used for.
    #[serde(default)]
    pub features: Features,
    /// Transfer limits of rented instances.
    #[serde(default)]
    pub limits: Limits,
    /// Let a rented instance download a model itself with the `resources:` tokens (given to
    /// its download program on stdin). False (the default): tokens stay in this container,
    /// and a download that needs one is streamed through it instead.
    #[serde(default)]
    pub send_download_tokens: bool,
}

impl Default for VastAiSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            api_key_env: default_vast_key_env(),
            api_key: None,
            allow_inline_api_key: false,
            api_url: default_vast_url(),
            ssh: VastAiSsh::default(),
            comfyui: VastAiComfyUi::default(),
            features: Features::default(),
            limits: Limits::default(),
            send_download_tokens: false,
        }
    }
}

/// SSH settings shared by every `VastAI` instance; host and port come from `VastAI`. The host
/// key of each instance is recorded in its own file under `known_hosts_dir` on first contact
/// (`accept-new`: `VastAI` publishes no host keys) and a changed key is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VastAiSsh {
    /// Private key whose public half is in the `VastAI` account's SSH keys (mode 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<Utf8PathBuf>,
    /// Folder of the per-instance `known_hosts` files (`vastai-<id>`); created when missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts_dir: Option<Utf8PathBuf>,
    /// Login user.
    #[serde(default = "default_vast_user")]
    pub user: UserName,
    /// Seconds to wait for TCP connect and the SSH handshake.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: NonZeroU64,
    /// Seconds a remote command may run.
    #[serde(default = "default_command_timeout")]
    pub command_timeout_secs: NonZeroU64,
    /// Seconds between keepalive messages; 0 turns keepalive off.
    #[serde(default = "default_keepalive")]
    pub keepalive_secs: u64,
}

impl Default for VastAiSsh {
    fn default() -> Self {
        Self {
            key_file: None,
            known_hosts_dir: None,
            user: default_vast_user(),
            connect_timeout_secs: default_connect_timeout(),
            command_timeout_secs: default_command_timeout(),
            keepalive_secs: default_keepalive(),
        }
    }
}

impl VastAiSsh {
    /// The `known_hosts` file of instance `id`: `<known_hosts_dir>/vastai-<id>`.
    pub fn known_hosts_file(&self, id: &str) -> Option<Utf8PathBuf> {
        self.known_hosts_dir
            .as_ref()
            .map(|dir| dir.join(format!("vastai-{id}")))
    }
}

/// `ComfyUI` on a rented image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VastAiComfyUi {
    /// Install folder on the instance (absolute).
    #[serde(default = "default_vast_comfyui_path")]
    pub path: InstallPath,
    /// Port `ComfyUI` listens on inside the instance. When `VastAI` publishes it
    /// (`<port>/tcp`), the published address is used; otherwise an SSH forward to the
    /// instance's 127.0.0.1:`port`.
    #[serde(default = "default_vast_comfyui_port")]
    pub port: Port,
    /// Python of `ComfyUI`'s environment, absolute (as `local[].comfyui.python`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<InstallPath>,
}

impl Default for VastAiComfyUi {
    fn default() -> Self {
        Self {
            path: default_vast_comfyui_path(),
            port: default_vast_comfyui_port(),
            python: None,
        }
    }
}

/// Why the `VastAI` API key is not available.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// The environment variable named by `vastai.api_key_env` is unset or empty.
    #[error("the VastAI API key variable `{variable}` (vastai.api_key_env) is not set")]
    Unset {
        /// The variable's name.
        variable: String,
    },
}

impl VastAiSettings {
    /// The API key: the inline one if the file has (and allows) it, else the environment
    /// variable named by `api_key_env`.
    pub fn api_key(&self) -> Result<Secret, ApiKeyError> {
        self.api_key_with(&|name| std::env::var(name).ok())
    }

    /// [`Self::api_key`] with a custom environment lookup.
    pub fn api_key_with(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Secret, ApiKeyError> {
        if let Some(key) = &self.api_key {
            return Ok(key.clone());
        }
        lookup(&self.api_key_env)
            .filter(|v| !v.is_empty())
            .map(Secret::new)
            .ok_or_else(|| ApiKeyError::Unset {
                variable: self.api_key_env.clone(),
            })
    }
}

fn yes() -> bool {
    true
}

fn default_id() -> InstanceId {
    InstanceId::try_from("local").unwrap_or_else(|_| unreachable!("constant id is valid"))
}

fn default_name() -> String {
    String::from("Local ComfyUI")
}

fn default_port() -> Port {
    Port::new(NonZeroU16::new(DEFAULT_SSH_PORT).unwrap_or(NonZeroU16::MIN))
}

fn default_user() -> UserName {
    UserName::try_from(DEFAULT_SSH_USER).unwrap_or_else(|_| unreachable!("constant user is valid"))
}

fn default_connect_timeout() -> NonZeroU64 {
    NonZeroU64::new(10).unwrap_or(NonZeroU64::MIN)
}

fn default_command_timeout() -> NonZeroU64 {
    NonZeroU64::new(600).unwrap_or(NonZeroU64::MIN)
}

fn default_keepalive() -> u64 {
    30
}

fn default_comfyui_url() -> ApiUrl {
    ApiUrl::try_from(DEFAULT_COMFYUI_API_URL)
        .unwrap_or_else(|_| unreachable!("constant URL is valid"))
}

fn default_vast_url() -> ApiUrl {
    ApiUrl::try_from(DEFAULT_VASTAI_API_URL)
        .unwrap_or_else(|_| unreachable!("constant URL is valid"))
}

fn default_vast_user() -> UserName {
    UserName::try_from(DEFAULT_VASTAI_SSH_USER)
        .unwrap_or_else(|_| unreachable!("constant user is valid"))
}

fn default_vast_comfyui_path() -> InstallPath {
    InstallPath::try_from(DEFAULT_VASTAI_COMFYUI_PATH)
        .unwrap_or_else(|_| unreachable!("constant path is valid"))
}

fn default_vast_comfyui_port() -> Port {
    Port::new(NonZeroU16::new(DEFAULT_VASTAI_COMFYUI_PORT).unwrap_or(NonZeroU16::MIN))
}

fn default_vast_key_env() -> String {
    String::from(DEFAULT_VASTAI_API_KEY_ENV)
}

impl Config {
    /// A config with every optional key set, so its serialised form lists every key of the
    /// schema. Used to detect unknown keys (with suggestions) and to check that the example
    /// file documents every key.
    pub fn schema_sample() -> Self {
        let sample = |text: &str| Utf8PathBuf::from(text);
        Self {
            enabled: true,
            local: vec![LocalInstance {
                id: default_id(),
                name: default_name(),
                ssh: SshSettings {
                    host: Host::try_from("host.docker.internal")
                        .unwrap_or_else(|_| unreachable!("constant host is valid")),
                    port: default_port(),
                    user: default_user(),
                    key_file: sample("/root/.ssh/local_host_key"),
                    known_hosts_file: Some(sample("/app/local_known_hosts")),
                    host_key_fingerprint: Some(
                        Fingerprint::try_from("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
                            .unwrap_or_else(|_| unreachable!("constant fingerprint is valid")),
                    ),
                    host_key_policy: HostKeyPolicy::Strict,
                    connect_timeout_secs: default_connect_timeout(),
                    command_timeout_secs: default_command_timeout(),
                    keepalive_secs: default_keepalive(),
                },
                comfyui: ComfyUiSettings {
                    path: InstallPath::try_from("/home/comfy/ComfyUI")
                        .unwrap_or_else(|_| unreachable!("constant path is valid")),
                    api_url: default_comfyui_url(),
                    python: Some(
                        InstallPath::try_from("/home/comfy/ComfyUI/venv/bin/python")
                            .unwrap_or_else(|_| unreachable!("constant path is valid")),
                    ),
                },
                features: Features::default(),
                limits: Limits::default(),
            }],
            vastai: VastAiSettings {
                api_key: Some(Secret::new("sample")),
                ssh: VastAiSsh {
                    key_file: Some(sample("/root/.ssh/vastai_key")),
                    known_hosts_dir: Some(sample("/app/vastai_known_hosts")),
                    ..VastAiSsh::default()
                },
                comfyui: VastAiComfyUi {
                    python: Some(
                        InstallPath::try_from("/venv/main/bin/python")
                            .unwrap_or_else(|_| unreachable!("constant path is valid")),
                    ),
                    ..VastAiComfyUi::default()
                },
                ..VastAiSettings::default()
            },
            resources: ResourcesSettings {
                huggingface_token_env: Some("HF_TOKEN".to_owned()),
                civitai_token_env: Some("CIVITAI_TOKEN".to_owned()),
                allowed_git_hosts: default_git_hosts(),
            },
            pool: PoolSettings::default(),
        }
    }

    /// The instance with this id.
    pub fn instance(&self, id: &str) -> Option<&LocalInstance> {
        self.local.iter().find(|i| i.id.as_str() == id)
    }

    /// The default instance: the first local one.
    pub fn default_instance(&self) -> Option<&LocalInstance> {
        self.local.first()
    }

    /// A copy safe to print: secrets (already redacted by their type) and passwords in URLs
    /// replaced by `<redacted>`.
    #[must_use]
    pub fn redacted(&self) -> Self {
        let mut copy = self.clone();
        for instance in &mut copy.local {
            instance.comfyui.api_url = instance.comfyui.api_url.with_redacted_password();
        }
        copy.vastai.api_url = copy.vastai.api_url.with_redacted_password();
        if copy.vastai.api_key.is_some() {
            copy.vastai.api_key = Some(Secret::new(crate::values::REDACTED));
        }
        copy
    }

    /// The config as YAML, secrets redacted.
    pub fn to_redacted_yaml(&self) -> String {
        serde_yaml::to_string(&self.redacted())
            .unwrap_or_else(|e| format!("# cannot render the config as YAML: {e}\n"))
    }
}
