//! What a connection needs: address, user, key, how to verify the host key, timeouts.

use camino::Utf8PathBuf;
use std::time::Duration;

use crate::SshError;

/// Everything [`crate::Session::connect`] needs.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// OpenSSH or PEM private key file.
    pub key_file: Utf8PathBuf,
    /// Passphrase for an encrypted key. Never logged or put in an error.
    pub key_passphrase: Option<String>,
    pub host_key: HostKeyCheck,
    /// Bounds the TCP connect, the handshake and authentication (each).
    pub connect_timeout: Duration,
    /// Default bound for one blocking protocol operation and for commands without their own timeout.
    pub command_timeout: Duration,
    /// Send an SSH keepalive this often while the session is in use.
    pub keepalive: Option<Duration>,
}

impl ConnectOptions {
    /// Options with the defaults: strict `known_hosts` checking, 10 s connect timeout,
    /// 60 s command timeout, 30 s keepalive.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        user: impl Into<String>,
        key_file: impl Into<Utf8PathBuf>,
        known_hosts: impl Into<Utf8PathBuf>,
    ) -> ConnectOptions {
        ConnectOptions {
            host: host.into(),
            port,
            user: user.into(),
            key_file: key_file.into(),
            key_passphrase: None,
            host_key: HostKeyCheck::KnownHosts {
                file: known_hosts.into(),
                policy: HostKeyPolicy::Strict,
            },
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(60),
            keepalive: Some(Duration::from_secs(30)),
        }
    }

    /// Rejects a host or user that is empty, contains whitespace/control characters, or starts
    /// with `-` (it could be mistaken for a command-line option by tools that get it later).
    pub fn validate(&self) -> Result<(), SshError> {
        check_field("host", &self.host)?;
        check_field("user", &self.user)?;
        if self.port == 0 {
            return Err(SshError::InvalidInput {
                field: "port",
                value: "0".into(),
                reason: "port 0 is not a valid SSH port",
            });
        }
        if let HostKeyCheck::Fingerprint(fp) = &self.host_key {
            crate::known_hosts::parse_fingerprint(fp)?;
        }
        Ok(())
    }
}

fn check_field(field: &'static str, value: &str) -> Result<(), SshError> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.starts_with('-') {
        "starts with '-' and could be mistaken for a command-line option"
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "must not contain whitespace or control characters"
    } else {
        return Ok(());
    };
    Err(SshError::InvalidInput {
        field,
        value: value.to_owned(),
        reason,
    })
}

/// How the server's host key is verified. There is deliberately no "accept anything" mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyCheck {
    /// An OpenSSH `known_hosts` file (plain, `[host]:port` and hashed `|1|` entries).
    KnownHosts {
        file: Utf8PathBuf,
        policy: HostKeyPolicy,
    },
    /// A pinned fingerprint as OpenSSH prints it: `SHA256:<base64 without padding>`.
    Fingerprint(String),
}

/// What to do with a host that is not in `known_hosts`. A changed key is refused under both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// The host must already be listed (a missing file is an error).
    #[default]
    Strict,
    /// Trust on first use: record an unknown host (like `StrictHostKeyChecking=accept-new`).
    AcceptNew,
}
