//! Blocking SSH transport on `ssh2`: connect with typed errors, host-key verification that fails
//! closed, argv-quoted (POSIX) exec with stdout/stderr drained together, SFTP with atomic rename
//! and resumable transfers, exec-stream transfers, and [`Tunnel`], a local forward reached
//! through in-process streams instead of a TCP port. Exec, stream transfers and the tunnel share
//! one poll-based pump (libssh2 in non-blocking mode, no sleeping).
//!
//! One [`Session`] per concurrent activity: libssh2 serialises all channels of a session.

mod command;
mod connect;
mod error;
pub mod known_hosts;
mod options;
mod pump;
pub mod quote;
mod session;
mod sftp;
mod spawn;
mod stream;
mod sys;
mod tunnel;

pub use command::{Command, DEFAULT_OUTPUT_CAP, ExecOutput};
pub use connect::ConnectTimings;
pub use error::{ConnectStage, SftpErrorKind, SshError};
pub use options::{ConnectOptions, HostKeyCheck, HostKeyPolicy};
pub use session::Session;
pub use sftp::{
    DirEntry, FileInfo, FileKind, Progress, RemoteFile, RenameMethod, SFTP_DOWNLOAD_BUF,
    SFTP_UPLOAD_BUF, Sftp, TransferOptions, TransferReport,
};
pub use spawn::Spawned;
pub use stream::STREAM_BUF;
pub use tunnel::{Tunnel, TunnelStream};
