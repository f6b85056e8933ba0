//! From a configured local instance to the SSH connection options of `crates/ssh`.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use comfy_local_config::{Config, HostKeyCheck, HostKeyPolicy, LocalInstance};
use comfy_local_ssh as ssh;

/// The instance named `id`, or the default (first local) one when `id` is `None`.
pub fn instance_or_default<'a>(
    config: &'a Config,
    id: Option<&str>,
) -> Result<&'a LocalInstance, UnknownInstance> {
    match id {
        Some(id) => config.instance(id).ok_or_else(|| UnknownInstance {
            requested: Some(id.to_owned()),
            known: config.local.iter().map(|i| i.id.to_string()).collect(),
        }),
        None => config.default_instance().ok_or(UnknownInstance {
            requested: None,
            known: Vec::new(),
        }),
    }
}

/// The requested instance is not in the config.
#[derive(Debug, thiserror::Error)]
#[error("{}", match requested {
    Some(id) => format!("no local instance {id:?} in the config (configured: {})", if known.is_empty() { "none".to_owned() } else { known.join(", ") }),
    None => "the config has no local instance (add one under `local:`)".to_owned(),
})]
pub struct UnknownInstance {
    /// The id asked for; `None` when the default was asked for.
    pub requested: Option<String>,
    /// The ids the config has.
    pub known: Vec<String>,
}

/// SSH options for a configured instance.
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
