//! From an instance id to everything an operation needs to reach that instance: the one place
//! that tells a local instance from a rented one ([`resolve`]), and the SSH connection options
//! of `crates/ssh` for the result.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use comfy_local_config::{
    ApiUrl, ComfyUiSettings, Config, Host, HostKeyCheck, HostKeyPolicy, InstanceId, LocalInstance,
    Port, SshSettings, UserName, VastAiSettings,
};
use comfy_local_providers::{
    ApiKey, Instance, InstanceProvider as _, InstanceStatus, ProviderError, ProviderKind,
    VastAiOptions, VastAiProvider,
};
use comfy_local_ssh as ssh;

/// One instance, local or rented, resolved into everything an operation needs: how to reach
/// its sshd (endpoint, key, host-key policy), where its ComfyUI lives and how its API is
/// reached, what it may be used for, and what it costs. Operations take this and never ask
/// which provider it came from.
///
/// `instance` has the shape of a `local:` entry of the config. For a local instance it is that
/// entry. For a running VastAI instance it is built from VastAI's record and the `vastai:`
/// section: `id` is the numeric id, `ssh` is VastAI's SSH endpoint with `vastai.ssh`'s user,
/// key and timeouts and the instance's own `known_hosts` file (`vastai.ssh.known_hosts_dir` /
/// `vastai-<id>`, policy `accept-new`), `comfyui.path`/`python` come from `vastai.comfyui`, and
/// `comfyui.api_url` is the published address of `vastai.comfyui.port` when VastAI publishes
/// it, else `http://127.0.0.1:<port>` as the instance itself sees it (reached only through the
/// SSH forward); `features` and `limits` are `vastai.features`/`vastai.limits`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedInstance {
    /// The instance in the config's `local:` shape (see above).
    pub instance: LocalInstance,
    /// Which provider it came from (for listings and messages; operations do not branch on it).
    pub provider: ProviderKind,
    /// Where its settings are in the config: `local[0]`, or `vastai` for a rented instance
    /// (refusals name `<key>.features.workflow_execution`, `<key>.limits.max_upload_mb`, ...).
    pub key: String,
    /// Whether `comfyui.api_url` may be tried directly before the SSH forward.
    pub try_direct: bool,
    /// ComfyUI's port on the instance's 127.0.0.1, for the SSH forward.
    pub forward_port: u16,
    /// Price in US dollars per hour (0 for local instances).
    pub cost_per_hour: f64,
    /// Whether the host may be given download tokens (`install model`'s host fetch): always
    /// for a local instance, for a rented one only with `vastai.send_download_tokens: true`.
    pub tokens_to_host: bool,
    /// The config key that turns this instance off right now (`enabled: false` for local
    /// instances), if any.
    pub turned_off_by: Option<String>,
}

impl ResolvedInstance {
    /// The id `--instance` takes.
    pub fn id(&self) -> &str {
        self.instance.id.as_str()
    }

    /// Hints depend on how the host was set up: a local host by the setup script and the
    /// config's `local:` entry, a rented one by its provider's image and the `vastai:` section.
    /// `local` for a local instance, `rented` for a rented one.
    pub(crate) fn pick(&self, local: String, rented: String) -> String {
        if self.provider == ProviderKind::Local {
            local
        } else {
            rented
        }
    }

    /// The config key that sets `key` (as under a `local:` entry) for this instance:
    /// `comfyui.path`, or `vastai.comfyui.path` for a rented one.
    pub(crate) fn setting(&self, key: &str) -> String {
        self.pick(key.to_owned(), format!("vastai.{key}"))
    }

    /// The SSH options to connect with.
    pub fn connect_options(&self) -> ssh::ConnectOptions {
        connect_options(&self.instance)
    }

    /// What to do when the host refuses the SSH key.
    pub(crate) fn auth_hint(&self, opts: &ssh::ConnectOptions) -> String {
        match self.provider {
            ProviderKind::VastAi => format!(
                "VastAI instance {} does not accept {} for user {:?}: is its public key ({}.pub) in your VastAI account's SSH keys (they are copied into an instance when it is created)? Is vastai.ssh.user right?",
                self.id(),
                opts.key_file,
                opts.user,
                opts.key_file
            ),
            _ => format!(
                "the host does not accept {} for user {:?}: is its public key in /etc/comfy-local/authorized_keys/{} on the host (where the setup script puts it; <state-dir>/authorized_keys/ with --state-dir; ~{}/.ssh/authorized_keys for a plain sshd)? Is ssh.user right?",
                opts.key_file, opts.user, opts.user, opts.user
            ),
        }
    }

    /// What to do when the host key differs from the recorded one.
    pub(crate) fn changed_key_hint(&self, known_hosts: &camino::Utf8Path) -> String {
        match self.provider {
            ProviderKind::VastAi => format!(
                "the host key of VastAI instance {} CHANGED since it was recorded in {known_hosts} on first contact. VastAI does not publish host keys, so nothing here can tell a rebuilt instance from a man-in-the-middle: do not connect unless you know the instance was recreated; then delete {known_hosts} to record the new key",
                self.id()
            ),
            _ => format!(
                "the host key CHANGED since {known_hosts} was written. If you re-ran the setup script or reinstalled the host, replace the entry with the new known_hosts file; otherwise do not connect (possible man-in-the-middle)"
            ),
        }
    }
}

/// Why an instance id does not resolve to an instance that can be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// No local instance of that id, and not a VastAI id (or VastAI is not enabled).
    #[error(transparent)]
    Unknown(#[from] UnknownInstance),
    /// VastAI could not be asked about the instance, or does not know it.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The VastAI instance exists but is not running.
    #[error("VastAI instance {id} is {status}, not running: it cannot be reached")]
    NotRunning {
        /// The instance id.
        id: String,
        /// Its status word (`stopped`, `loading`, ...).
        status: String,
    },
    /// VastAI reports no way to reach the instance's sshd.
    #[error(
        "VastAI instance {id} has no SSH endpoint (VastAI reports neither ssh_host/ssh_port nor a published 22/tcp)"
    )]
    NoSshEndpoint {
        /// The instance id.
        id: String,
    },
    /// VastAI reported an endpoint or URL this crate refuses to use.
    #[error("VastAI instance {id}: {what} {value:?} is not usable: {reason}")]
    BadRecord {
        /// The instance id.
        id: String,
        /// Which field (`SSH host`, `ComfyUI URL`, ...).
        what: &'static str,
        /// As VastAI sent it.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A listed VastAI instance has the id of a local instance, so the id names the local one
    /// (only [`resolve_listed`] says so: [`resolve`] resolves the id to the local instance).
    #[error(
        "VastAI instance {id} cannot be named: `{id}` is the id of the config's local instance ({key})"
    )]
    Shadowed {
        /// The instance id.
        id: String,
        /// Where the local instance is in the config (`local[0]`, ...).
        key: String,
    },
    /// The config lacks what reaching a rented instance needs.
    #[error(
        "VastAI instance {id} is reached over SSH, but `vastai.ssh.{missing}` is not set in the config"
    )]
    NotConfigured {
        /// The instance id.
        id: String,
        /// The key that is missing (`key_file`, `known_hosts_dir`).
        missing: &'static str,
    },
}

impl ResolveError {
    /// Whether the failure is the config's or the arguments' (exit code 2) rather than the
    /// connection's (exit code 3).
    pub fn is_usage(&self) -> bool {
        match self {
            ResolveError::Unknown(_)
            | ResolveError::NotConfigured { .. }
            | ResolveError::Shadowed { .. } => true,
            ResolveError::Provider(e) => matches!(
                e,
                ProviderError::NotFound { .. }
                    | ProviderError::InvalidInstanceId { .. }
                    | ProviderError::MissingApiKey { .. }
                    | ProviderError::ApiKeyFile { .. }
                    | ProviderError::InvalidApiKey { .. }
                    | ProviderError::InvalidBaseUrl { .. }
                    | ProviderError::Unauthorized { .. }
            ),
            ResolveError::NotRunning { .. }
            | ResolveError::NoSshEndpoint { .. }
            | ResolveError::BadRecord { .. } => false,
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ResolveError::Unknown(_)
            | ResolveError::Provider(ProviderError::NotFound { .. } | ProviderError::InvalidInstanceId { .. }) => {
                "`comfy-local instances` lists the instance ids".to_owned()
            }
            ResolveError::Provider(_) => return None,
            ResolveError::NotRunning { id, .. } => format!(
                "start it (`vastai start instance {id}`) and wait until `comfy-local instances` shows it running"
            ),
            ResolveError::NoSshEndpoint { .. } => "rent instances with SSH access (VastAI's launch mode `ssh` or `jupyter`, which also run sshd), or wait until it has finished starting".to_owned(),
            ResolveError::BadRecord { .. } => "`vastai show instance ID` shows what VastAI reports for it".to_owned(),
            ResolveError::Shadowed { key, .. } => format!(
                "give the local instance at {key} another `id:`; commands then reach the VastAI instance by its number"
            ),
            ResolveError::NotConfigured { .. } => "set vastai.ssh.key_file (the private key whose public half is in your VastAI account's SSH keys) and vastai.ssh.known_hosts_dir (where each instance's host key is recorded on first contact); local-support-config.yml.example documents both".to_owned(),
        })
    }
}

/// Resolves the instance named `id` (the first local one when `None`): a local instance of
/// the config by its id, else, when `vastai.enabled`, a VastAI instance by its numeric id
/// (looked up through [`VastAiProvider`], with the API key from the variable the config names,
/// read with `getenv`). A VastAI instance must be running and have an SSH endpoint, and the
/// config must name `vastai.ssh.key_file` and `known_hosts_dir`.
pub fn resolve(
    config: &Config,
    id: Option<&str>,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<ResolvedInstance, ResolveError> {
    match (instance_or_default(config, id), id) {
        (Ok(local), _) => Ok(resolve_local(config, local)),
        (Err(_), Some(id)) if config.vastai.enabled && is_vastai_id(id) => {
            resolve_vastai(&config.vastai, id, getenv)
        }
        (Err(e), _) => Err(e.into()),
    }
}

/// [`resolve`] with the process environment.
pub fn resolve_env(config: &Config, id: Option<&str>) -> Result<ResolvedInstance, ResolveError> {
    resolve(config, id, &|name| std::env::var(name).ok())
}

fn is_vastai_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}

fn resolve_local(config: &Config, local: &LocalInstance) -> ResolvedInstance {
    ResolvedInstance {
        instance: local.clone(),
        provider: ProviderKind::Local,
        key: crate::switches::instance_key(config, local),
        try_direct: true,
        forward_port: local.comfyui.api_url.port(),
        cost_per_hour: 0.0,
        tokens_to_host: true,
        turned_off_by: (!config.enabled).then(|| "enabled".to_owned()),
    }
}

fn resolve_vastai(
    vast: &VastAiSettings,
    id: &str,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<ResolvedInstance, ResolveError> {
    let (key_file, known_hosts_file) = vastai_ssh(vast, id)?;
    let key = ApiKey::from_config(vast, getenv)?;
    let provider = VastAiProvider::new(key, VastAiOptions::from_config(vast))?;
    from_record(vast, provider.get(id)?, key_file, known_hosts_file)
}

/// What [`resolve`] makes of an instance that is already listed (a record of
/// [`crate::list_instances`]), without asking its provider again: the same checks in the same
/// order, so the listing can say whether commands will accept the instance and why not. A local
/// record is the config's entry of that id; a VastAI one is checked against the `vastai:` section
/// and the record's status, endpoint and URL; one whose id is also a local instance's is
/// [`ResolveError::Shadowed`] (the id names the local instance).
pub fn resolve_listed(
    config: &Config,
    listed: &Instance,
) -> Result<ResolvedInstance, ResolveError> {
    if listed.provider == ProviderKind::VastAi {
        if let Some(local) = config.instance(&listed.id) {
            return Err(ResolveError::Shadowed {
                id: listed.id.clone(),
                key: crate::switches::instance_key(config, local),
            });
        }
        let (key_file, known_hosts_file) = vastai_ssh(&config.vastai, &listed.id)?;
        return from_record(&config.vastai, listed.clone(), key_file, known_hosts_file);
    }
    // Only local instances are resolved from the config alone.
    Ok(resolve_local(
        config,
        instance_or_default(config, Some(&listed.id))?,
    ))
}

/// The key file and the instance's `known_hosts` file `vastai.ssh` names for instance `id`.
fn vastai_ssh(
    vast: &VastAiSettings,
    id: &str,
) -> Result<(camino::Utf8PathBuf, camino::Utf8PathBuf), ResolveError> {
    let not_configured = |missing| ResolveError::NotConfigured {
        id: id.to_owned(),
        missing,
    };
    let key_file = vast
        .ssh
        .key_file
        .clone()
        .ok_or_else(|| not_configured("key_file"))?;
    let known_hosts_file = vast
        .ssh
        .known_hosts_file(id)
        .ok_or_else(|| not_configured("known_hosts_dir"))?;
    Ok((key_file, known_hosts_file))
}

/// A VastAI record as a [`ResolvedInstance`] when it is running (see [`rented`]).
fn from_record(
    vast: &VastAiSettings,
    found: Instance,
    key_file: camino::Utf8PathBuf,
    known_hosts_file: camino::Utf8PathBuf,
) -> Result<ResolvedInstance, ResolveError> {
    if found.status != InstanceStatus::Running {
        return Err(ResolveError::NotRunning {
            id: found.id,
            status: found.status.to_string(),
        });
    }
    rented(vast, found, key_file, known_hosts_file)
}

/// A running VastAI instance as a [`ResolvedInstance`] (see there for what comes from where).
fn rented(
    vast: &VastAiSettings,
    found: Instance,
    key_file: camino::Utf8PathBuf,
    known_hosts_file: camino::Utf8PathBuf,
) -> Result<ResolvedInstance, ResolveError> {
    let id = found.id.clone();
    let bad = |what: &'static str, value: &str, reason: String| ResolveError::BadRecord {
        id: id.clone(),
        what,
        value: value.to_owned(),
        reason,
    };
    let endpoint = found
        .ssh
        .ok_or_else(|| ResolveError::NoSshEndpoint { id: id.clone() })?;
    let host = Host::try_from(endpoint.host.as_str())
        .map_err(|e| bad("SSH host", &endpoint.host, e.to_string()))?;
    let port = std::num::NonZeroU16::new(endpoint.port)
        .map(Port::new)
        .ok_or_else(|| bad("SSH port", "0", "port 0".to_owned()))?;
    let user = UserName::try_from(endpoint.user.as_str())
        .map_err(|e| bad("SSH user", &endpoint.user, e.to_string()))?;
    let comfy_port = vast.comfyui.port.get();
    let (api_url, try_direct) = match found.comfyui_url {
        Some(url) => (
            ApiUrl::try_from(url.as_str()).map_err(|e| bad("ComfyUI URL", &url, e.to_string()))?,
            true,
        ),
        None => (
            ApiUrl::try_from(format!("http://127.0.0.1:{comfy_port}"))
                .map_err(|e| bad("ComfyUI port", &comfy_port.to_string(), e.to_string()))?,
            false,
        ),
    };
    let instance_id =
        InstanceId::try_from(id.as_str()).map_err(|e| bad("id", &id, e.to_string()))?;
    let s = &vast.ssh;
    Ok(ResolvedInstance {
        instance: LocalInstance {
            id: instance_id,
            name: found.display_name,
            ssh: SshSettings {
                host,
                port,
                user,
                key_file,
                known_hosts_file: Some(known_hosts_file),
                host_key_fingerprint: None,
                host_key_policy: HostKeyPolicy::AcceptNew,
                connect_timeout_secs: s.connect_timeout_secs,
                command_timeout_secs: s.command_timeout_secs,
                keepalive_secs: s.keepalive_secs,
            },
            comfyui: ComfyUiSettings {
                path: vast.comfyui.path.clone(),
                api_url,
                python: vast.comfyui.python.clone(),
            },
            features: vast.features,
            limits: vast.limits,
        },
        provider: ProviderKind::VastAi,
        key: "vastai".to_owned(),
        try_direct,
        forward_port: comfy_port,
        cost_per_hour: found.cost_per_hour,
        tokens_to_host: vast.send_download_tokens,
        turned_off_by: None,
    })
}

/// The local instance named `id`, or the default (first local) one when `id` is `None`. Only
/// the config's `local:` list: operations use [`resolve`], which also finds VastAI instances.
pub fn instance_or_default<'a>(
    config: &'a Config,
    id: Option<&str>,
) -> Result<&'a LocalInstance, UnknownInstance> {
    match id {
        Some(id) => config.instance(id).ok_or_else(|| UnknownInstance {
            requested: Some(id.to_owned()),
            known: config.local.iter().map(|i| i.id.to_string()).collect(),
            vastai_disabled: !config.vastai.enabled && is_vastai_id(id),
        }),
        None => config.default_instance().ok_or(UnknownInstance {
            requested: None,
            known: Vec::new(),
            vastai_disabled: false,
        }),
    }
}

/// The requested instance is not in the config (nor, for a numeric id, on VastAI while
/// `vastai.enabled` is false).
#[derive(Debug, thiserror::Error)]
#[error("{}{}", match requested {
    Some(id) => format!("no local instance {id:?} in the config (configured: {})", if known.is_empty() { "none".to_owned() } else { known.join(", ") }),
    None => "the config has no local instance (add one under `local:`)".to_owned(),
}, if *vastai_disabled { "; a VastAI instance id needs `vastai.enabled: true`" } else { "" })]
pub struct UnknownInstance {
    /// The id asked for; `None` when the default was asked for.
    pub requested: Option<String>,
    /// The ids the config has.
    pub known: Vec<String>,
    /// The id looks like a VastAI id, but VastAI is not enabled.
    pub vastai_disabled: bool,
}

/// SSH options for an instance (a `local:` entry, or the `instance` of a [`ResolvedInstance`]).
pub fn connect_options(instance: &LocalInstance) -> ssh::ConnectOptions {
    let s = &instance.ssh;
    let host_key = match s.host_key_check() {
        Some(HostKeyCheck::Fingerprint(fp)) => {
            ssh::HostKeyCheck::Fingerprint(fp.as_str().to_owned())
        }
        Some(HostKeyCheck::KnownHosts { file, policy }) => ssh::HostKeyCheck::KnownHosts {
            file: file.to_owned(),
            policy: match policy {
                HostKeyPolicy::Strict => ssh::HostKeyPolicy::Strict,
                HostKeyPolicy::AcceptNew => ssh::HostKeyPolicy::AcceptNew,
            },
        },
        // A loaded config always names one of the two; a hand-built one without either gets a
        // known_hosts path that cannot exist, so strict checking fails closed with a clear error.
        None => ssh::HostKeyCheck::KnownHosts {
            file: "(no known_hosts_file or host_key_fingerprint configured)".into(),
            policy: ssh::HostKeyPolicy::Strict,
        },
    };
    ssh::ConnectOptions {
        host: s.host.as_str().to_owned(),
        port: s.port.get(),
        user: s.user.as_str().to_owned(),
        key_file: s.key_file.clone(),
        key_passphrase: None,
        host_key,
        connect_timeout: s.connect_timeout(),
        command_timeout: s.command_timeout(),
        keepalive: s.keepalive(),
    }
}

/// Why no address of a host accepted a TCP connection.
#[derive(Debug)]
pub(crate) enum Unreachable {
    /// The name did not resolve.
    Resolve(std::io::Error),
    /// It resolved to no address.
    NoAddress,
    /// The last address tried refused or timed out.
    Connect(SocketAddr, std::io::Error),
}

/// The first address of `host:port` that accepts a TCP connection within `timeout`.
pub(crate) fn connect_any(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<SocketAddr, Unreachable> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(Unreachable::Resolve)?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => return Ok(addr),
            Err(e) => last = Some((addr, e)),
        }
    }
    Err(last.map_or(Unreachable::NoAddress, |(addr, e)| {
        Unreachable::Connect(addr, e)
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use comfy_local_config::Config;

    use super::connect_options;

    fn options(ssh_extra: &str) -> comfy_local_ssh::ConnectOptions {
        let yaml = format!(
            "local:\n  - ssh: {{ host: h, key_file: /k, known_hosts_file: /kh{ssh_extra} }}\n    comfyui: {{ path: /c }}\n"
        );
        let config = Config::from_str_named(&yaml, "t.yml").unwrap();
        connect_options(&config.local[0])
    }

    /// A rented instance: VastAI's endpoint, `vastai.ssh`'s key and user, its own accept-new
    /// `known_hosts` file; ComfyUI at the published address when VastAI publishes the port,
    /// else only through the forward to the instance's 127.0.0.1.
    #[test]
    fn a_rented_instance_gets_the_published_url_or_the_forward() {
        use comfy_local_providers::{Instance, InstanceStatus, ProviderKind, SshEndpoint};
        let config = Config::from_str_named(
            "enabled: false\nvastai:\n  enabled: true\n  ssh: { key_file: /k, known_hosts_dir: /kh.d, keepalive_secs: 0 }\n",
            "t.yml",
        )
        .unwrap();
        let found = |url: Option<&str>| Instance {
            id: "7".to_owned(),
            display_name: "box".to_owned(),
            provider: ProviderKind::VastAi,
            status: InstanceStatus::Running,
            gpu: None,
            cost_per_hour: 0.5,
            ssh: Some(SshEndpoint {
                host: "ssh4.vast.ai".to_owned(),
                port: 34001,
                user: "root".to_owned(),
            }),
            comfyui_url: url.map(str::to_owned),
        };
        let rented = |url| {
            super::rented(
                &config.vastai,
                found(url),
                "/k".into(),
                "/kh.d/vastai-7".into(),
            )
            .unwrap()
        };
        let forwarded = rented(None);
        assert!(!forwarded.try_direct);
        assert_eq!(forwarded.forward_port, 18188);
        assert_eq!(
            forwarded.instance.comfyui.api_url.as_str(),
            "http://127.0.0.1:18188"
        );
        assert_eq!(
            forwarded.instance.comfyui.path.as_str(),
            "/workspace/ComfyUI"
        );
        let o = forwarded.connect_options();
        assert_eq!(
            (o.host.as_str(), o.port, o.user.as_str()),
            ("ssh4.vast.ai", 34001, "root")
        );
        assert_eq!(o.keepalive, None);
        assert_eq!(
            o.host_key,
            comfy_local_ssh::HostKeyCheck::KnownHosts {
                file: "/kh.d/vastai-7".into(),
                policy: comfy_local_ssh::HostKeyPolicy::AcceptNew,
            }
        );
        let published = rented(Some("http://203.0.113.17:40001"));
        assert!(published.try_direct);
        assert_eq!(
            published.instance.comfyui.api_url.as_str(),
            "http://203.0.113.17:40001"
        );
        assert_eq!(
            published.forward_port, 18188,
            "the fallback is the container port"
        );
    }

    /// A listed record is judged as `resolve` judges a fetched one: the config's `vastai.ssh`
    /// first, then the status, then the endpoint; a local record is its config entry.
    #[test]
    fn a_listed_record_is_judged_as_resolve_judges_it() {
        use comfy_local_providers::{Instance, InstanceStatus, ProviderKind, SshEndpoint};

        use super::{ResolveError, resolve_listed};
        let config = |ssh: &str| {
            Config::from_str_named(
                &format!(
                    "local:\n  - id: box\n    ssh: {{ host: h, key_file: /k, known_hosts_file: /kh }}\n    comfyui: {{ path: /c }}\nvastai:\n  enabled: true\n  ssh: {ssh}\n"
                ),
                "t.yml",
            )
            .unwrap()
        };
        let record = |status: InstanceStatus, ssh: bool| Instance {
            id: "7".to_owned(),
            display_name: "rented".to_owned(),
            provider: ProviderKind::VastAi,
            status,
            gpu: None,
            cost_per_hour: 0.5,
            ssh: ssh.then(|| SshEndpoint {
                host: "ssh4.vast.ai".to_owned(),
                port: 34001,
                user: "root".to_owned(),
            }),
            comfyui_url: None,
        };
        let full = config("{ key_file: /k, known_hosts_dir: /kh.d }");
        let ok = resolve_listed(&full, &record(InstanceStatus::Running, true)).unwrap();
        assert_eq!(ok.instance.ssh.host.as_str(), "ssh4.vast.ai");
        assert!(matches!(
            resolve_listed(&full, &record(InstanceStatus::Running, false)),
            Err(ResolveError::NoSshEndpoint { .. })
        ));
        assert!(matches!(
            resolve_listed(&full, &record(InstanceStatus::Stopped, true)),
            Err(ResolveError::NotRunning { .. })
        ));
        let no_key = config("{ user: root }");
        assert!(matches!(
            resolve_listed(&no_key, &record(InstanceStatus::Stopped, true)),
            Err(ResolveError::NotConfigured {
                missing: "key_file",
                ..
            })
        ));
        let local = Instance {
            id: "box".to_owned(),
            provider: ProviderKind::Local,
            ..record(InstanceStatus::Offline, false)
        };
        assert_eq!(resolve_listed(&no_key, &local).unwrap().id(), "box");
        let same_id = Instance {
            id: "box".to_owned(),
            ..record(InstanceStatus::Running, true)
        };
        let shadowed = resolve_listed(&full, &same_id).unwrap_err();
        assert!(
            matches!(&shadowed, ResolveError::Shadowed { key, .. } if key == "local[0]"),
            "{shadowed:?}"
        );
        assert!(shadowed.is_usage());
    }

    /// `ssh.command_timeout_secs` and `ssh.keepalive_secs` reach the SSH layer (0: no keepalive).
    #[test]
    fn timeouts_and_keepalive_come_from_the_config() {
        let o = options(", command_timeout_secs: 7, keepalive_secs: 3");
        assert_eq!(o.command_timeout, Duration::from_secs(7));
        assert_eq!(o.keepalive, Some(Duration::from_secs(3)));
        assert_eq!(options(", keepalive_secs: 0").keepalive, None);
        let defaults = options("");
        assert_eq!(defaults.command_timeout, Duration::from_secs(600));
        assert_eq!(defaults.keepalive, Some(Duration::from_secs(30)));
    }
}
