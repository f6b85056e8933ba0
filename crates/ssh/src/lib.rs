//! Blocking SSH transport on `ssh2`: connect with typed errors, host-key verification that fails
//! closed, argv-quoted exec with stdout/stderr drained together, SFTP with atomic rename and
//! resumable transfers, exec-stream transfers, and a small session pool.
//!
//! One [`Session`] per concurrent activity: libssh2 serialises all channels of a session.

mod command;
mod connect;
mod error;
pub mod known_hosts;
mod options;
mod pool;
pub mod quote;
mod session;
mod sftp;
mod stream;
mod sys;

pub use command::{Command, DEFAULT_OUTPUT_CAP, ExecOutput, RemoteShell};
pub use connect::ConnectTimings;
pub use error::{ConnectStage, SftpErrorKind, SshError};
pub use options::{ConnectOptions, HostKeyCheck, HostKeyPolicy};
pub use pool::{Pool, PooledSession};
pub use session::Session;
pub use sftp::{
    DirEntry, FileInfo, FileKind, Progress, RemoteFile, RenameMethod, SFTP_DOWNLOAD_BUF,
    SFTP_UPLOAD_BUF, Sftp, TransferOptions, TransferReport,
};
pub use ssh2;
pub use stream::STREAM_BUF;
