//! The one error type of this crate: one variant per way an SSH operation can fail, each naming
//! the host, port, user, key file or remote path it failed with.

use camino::Utf8PathBuf;
use std::time::Duration;

/// Everything that can go wrong talking to an SSH host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SshError {
    /// The host name did not resolve (or resolved to no address).
    #[error("cannot resolve host {host:?} (port {port})")]
    Dns {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    /// The host actively refused the TCP connection: nothing listens on that port.
    #[error("connection to {host}:{port} refused (is sshd running and listening on that port?)")]
    ConnectionRefused {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    /// The TCP connection or the SSH handshake did not complete in time.
    #[error("connecting to {host}:{port} timed out after {timeout:?} during {stage}")]
    ConnectTimeout {
        host: String,
        port: u16,
        timeout: Duration,
        stage: ConnectStage,
    },
    /// Any other TCP-level connect failure.
    #[error("cannot connect to {host}:{port}")]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    /// The SSH protocol handshake failed (not an SSH server, connection dropped, ...).
    #[error("SSH handshake with {host}:{port} failed: {message}")]
    Handshake {
        host: String,
        port: u16,
        /// libssh2's own words (its error is not kept as a source: its text is this one).
        message: String,
    },
    /// Client and server share no algorithm of one kind (key exchange, host key, cipher, MAC).
    #[error(
        "no common {kind} algorithm with {host}:{port}: server offers [{server}], we support [{client}]"
    )]
    NoCommonAlgorithm {
        host: String,
        port: u16,
        /// "key exchange", "host key", "cipher", "MAC" or "compression"; "unknown" if it could
        /// not be determined.
        kind: String,
        server: String,
        client: String,
    },
    /// The host is not listed in the `known_hosts` file and the policy is strict.
    #[error(
        "host key for [{host}]:{port} is not in {known_hosts} (strict checking): offered {fingerprint}; add it to known_hosts or use the accept-new policy once"
    )]
    HostKeyUnknown {
        host: String,
        port: u16,
        known_hosts: Utf8PathBuf,
        fingerprint: String,
    },
    /// The host IS known with a different key: a hard error under every policy.
    #[error(
        "host key for [{host}]:{port} does not match {known_hosts}: offered {fingerprint}, refusing to connect (possible man-in-the-middle)"
    )]
    HostKeyMismatch {
        host: String,
        port: u16,
        known_hosts: Utf8PathBuf,
        fingerprint: String,
    },
    /// The host key does not match the pinned fingerprint from the configuration.
    #[error(
        "host key for [{host}]:{port} is {fingerprint}, not the pinned {expected}: refusing to connect (possible man-in-the-middle)"
    )]
    HostKeyFingerprintMismatch {
        host: String,
        port: u16,
        expected: String,
        fingerprint: String,
    },
    /// Under the strict policy the `known_hosts` file must exist.
    #[error(
        "known_hosts file {known_hosts} does not exist (strict host key checking needs it to verify [{host}]:{port})"
    )]
    KnownHostsMissing {
        host: String,
        port: u16,
        known_hosts: Utf8PathBuf,
    },
    /// The `known_hosts` file exists but cannot be read, parsed or (accept-new) appended to.
    #[error("known_hosts file {known_hosts}: {message}")]
    KnownHostsFile {
        known_hosts: Utf8PathBuf,
        message: String,
        #[source]
        source: Option<std::io::Error>,
    },
    /// A pinned fingerprint in the configuration is not of the form `SHA256:<base64>`.
    #[error("pinned host key fingerprint {fingerprint:?} is not of the form SHA256:<base64>")]
    BadFingerprint { fingerprint: String },
    /// The private key file cannot be read.
    #[error("cannot read private key file {key_file}")]
    KeyUnreadable {
        key_file: Utf8PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The private key is encrypted and no passphrase was configured.
    #[error("private key file {key_file} is encrypted and no passphrase was given")]
    KeyEncrypted { key_file: Utf8PathBuf },
    /// libssh2 could not load the private key (wrong passphrase or unsupported format).
    #[error(
        "cannot load private key {key_file} (wrong passphrase or unsupported key format): {message}"
    )]
    KeyLoad {
        key_file: Utf8PathBuf,
        message: String,
    },
    /// The server did not accept the key for the user.
    #[error(
        "{host}:{port} refused public key authentication for user {user:?} with key {key_file} (server allows: {methods})"
    )]
    AuthRefused {
        host: String,
        port: u16,
        user: String,
        key_file: Utf8PathBuf,
        methods: String,
    },
    /// A host or user that would be read as a command-line option, or otherwise unusable.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidInput {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    /// The command ran past its timeout; the channel was closed.
    #[error("command `{command}` on {host}:{port} timed out after {timeout:?}")]
    CommandTimeout {
        host: String,
        port: u16,
        command: String,
        timeout: Duration,
    },
    /// A channel-level failure (open, read, write, close) while running a command.
    #[error("command `{command}` on {host}:{port}: {op} failed")]
    Channel {
        host: String,
        port: u16,
        command: String,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Opening the SFTP subsystem failed.
    #[error("cannot start SFTP on {host}:{port}")]
    SftpStart {
        host: String,
        port: u16,
        #[source]
        source: ssh2::Error,
    },
    /// An SFTP operation on a remote path failed.
    #[error("SFTP {op} {path} on {host}:{port} failed: {kind}")]
    Sftp {
        host: String,
        port: u16,
        op: &'static str,
        path: String,
        kind: SftpErrorKind,
        #[source]
        source: std::io::Error,
    },
    /// The server supports neither atomic rename nor a safe fallback for this case.
    #[error(
        "cannot rename {from} to {to} on {host}:{port} atomically: the server lacks posix-rename@openssh.com and {to} exists"
    )]
    RenameUnsupported {
        host: String,
        port: u16,
        from: String,
        to: String,
    },
    /// Reading the local source or writing the local destination of a transfer failed.
    #[error("local {op} during transfer of {remote} failed")]
    LocalIo {
        op: &'static str,
        remote: String,
        #[source]
        source: std::io::Error,
    },
    /// Opening a TCP forward through the SSH connection failed.
    #[error("cannot forward {host}:{port} -> {target_host}:{target_port}: {message}")]
    Forward {
        host: String,
        port: u16,
        target_host: String,
        target_port: u16,
        /// The server's or libssh2's reason (its error is not kept as a source: its text is this one).
        message: String,
    },
    /// Any other libssh2 failure, with what we were doing.
    #[error("{op} on {host}:{port} failed")]
    Protocol {
        host: String,
        port: u16,
        op: &'static str,
        #[source]
        source: ssh2::Error,
    },
}

/// Where in connecting a timeout happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectStage {
    Tcp,
    Handshake,
    Auth,
}

impl std::fmt::Display for ConnectStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConnectStage::Tcp => "TCP connect",
            ConnectStage::Handshake => "SSH handshake",
            ConnectStage::Auth => "authentication",
        })
    }
}

/// The SFTP status a failed remote operation reported, simplified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SftpErrorKind {
    NotFound,
    PermissionDenied,
    AlreadyExists,
    NotADirectory,
    DirectoryNotEmpty,
    NoSpace,
    Unsupported,
    ConnectionLost,
    Timeout,
    Other,
}

impl std::fmt::Display for SftpErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SftpErrorKind::NotFound => "no such file",
            SftpErrorKind::PermissionDenied => "permission denied",
            SftpErrorKind::AlreadyExists => "already exists",
            SftpErrorKind::NotADirectory => "not a directory",
            SftpErrorKind::DirectoryNotEmpty => "directory not empty",
            SftpErrorKind::NoSpace => "no space left",
            SftpErrorKind::Unsupported => "operation not supported by the server",
            SftpErrorKind::ConnectionLost => "connection lost",
            SftpErrorKind::Timeout => "timed out",
            SftpErrorKind::Other => "failure",
        })
    }
}

impl SshError {
    /// The SFTP status of an [`SshError::Sftp`], if this is one.
    pub fn sftp_kind(&self) -> Option<SftpErrorKind> {
        match self {
            SshError::Sftp { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}
