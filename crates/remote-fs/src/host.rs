//! The raw file operations remote-fs performs on a host, as a trait: implemented over SFTP for
//! `comfy_local_ssh::Sftp` (the real thing) and over `std::fs` by [`LocalHost`] (the same
//! semantics on this machine, for tests and for tools that run on the host itself).
//!
//! Nothing here checks paths: [`crate::fs::RemoteFs`] decides what may be touched and calls
//! these with absolute, already-resolved paths; `clippy.toml` disallows the writing ones (and
//! the ssh crate's raw SFTP writes) everywhere but in `RemoteFs` and these implementations.
//! The semantics follow OpenSSH's sftp-server: `realpath` resolves every symlink and accepts a
//! missing last component, `read_dir` reports `lstat` attributes, `create_new` is
//! `O_CREAT|O_EXCL`, and `rename_atomic` replaces the target in one step
//! (`posix-rename@openssh.com`).

use std::error::Error as StdError;
use std::fmt;
use std::io::{Read, Write};

use camino::{Utf8Path, Utf8PathBuf};

/// What a path is, as `lstat`/`stat` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::File => "a file",
            Kind::Dir => "a directory",
            Kind::Symlink => "a symlink",
            Kind::Other => "a special file",
        })
    }
}

/// Attributes of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub mtime: Option<u64>,
}

/// The class of a failed host operation, which decides how remote-fs reacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostErrorKind {
    NotFound,
    PermissionDenied,
    AlreadyExists,
    NotADirectory,
    DirectoryNotEmpty,
    Other,
}

/// A failed host operation: which, on what path, and the transport's own error.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path} failed ({kind:?})")]
pub struct HostError {
    pub op: &'static str,
    pub path: Utf8PathBuf,
    pub kind: HostErrorKind,
    #[source]
    pub source: Box<dyn StdError + Send + Sync>,
}

impl HostError {
    pub fn is_not_found(&self) -> bool {
        self.kind == HostErrorKind::NotFound
    }
}

/// One directory entry: the raw name the host sent (unvalidated) and its `lstat` attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    pub name: String,
    pub meta: Meta,
}

/// The file operations remote-fs needs. Paths are absolute host paths (SFTP form).
pub trait Host: fmt::Debug {
    /// An open remote file.
    type File: Read + Write;

    /// Resolves every symlink; a missing last component is allowed (as OpenSSH does).
    fn realpath(&self, p: &Utf8Path) -> Result<Utf8PathBuf, HostError>;
    fn stat(&self, p: &Utf8Path) -> Result<Meta, HostError>;
    fn lstat(&self, p: &Utf8Path) -> Result<Meta, HostError>;
    /// Entries without `.` and `..`, with `lstat` attributes.
    fn read_dir(&self, p: &Utf8Path) -> Result<Vec<RawEntry>, HostError>;
    fn mkdir(&self, p: &Utf8Path, mode: i32) -> Result<(), HostError>;
    /// Removes a file or symlink (never follows it).
    fn unlink(&self, p: &Utf8Path) -> Result<(), HostError>;
    fn rmdir(&self, p: &Utf8Path) -> Result<(), HostError>;
    /// `O_WRONLY|O_CREAT|O_EXCL`: fails when anything (even a dangling symlink) exists there.
    fn create_new(&self, p: &Utf8Path, mode: i32) -> Result<Self::File, HostError>;
    /// Opens an existing file for writing at `offset`.
    fn open_append_at(&self, p: &Utf8Path, offset: u64) -> Result<Self::File, HostError>;
    fn open_read(&self, p: &Utf8Path, offset: u64) -> Result<Self::File, HostError>;
    /// `Ok(false)` when the host cannot fsync.
    fn fsync(&self, f: &mut Self::File) -> Result<bool, HostError>;
    /// Closes the handle, reporting a failed close.
    fn close(&self, f: Self::File) -> Result<(), HostError>;
    /// Renames `from` to `to`, replacing `to` atomically if it exists.
    fn rename_atomic(&self, from: &Utf8Path, to: &Utf8Path) -> Result<(), HostError>;
    /// Home directory of the user (for `~` in `extra_model_paths.yaml`).
    fn home(&self) -> Result<Utf8PathBuf, HostError> {
        self.realpath(Utf8Path::new("."))
    }
    /// Starts flushing `p`, a file being written, to disk on the host while the writes go on
    /// (with the host's `python`), so that the final fsync has little left to wait for. `None`
    /// where the host cannot, which only costs time: the default, and what a host that fails
    /// to start it returns.
    fn start_flushing(&self, p: &Utf8Path, python: &str) -> Option<Box<dyn Flushing + '_>> {
        let _ = (p, python);
        None
    }
}

/// A file being flushed to disk on the host beside the writes ([`Host::start_flushing`]).
pub trait Flushing: fmt::Debug {
    /// Stops the flushing. `Err` when a flush failed: the host's disk refused data that was
    /// written, and the final fsync may not report that again (Linux reports a writeback
    /// error to one fsync only).
    fn finish(self: Box<Self>) -> Result<(), HostError>;
}

#[cfg(unix)]
mod local;
#[cfg(unix)]
pub use local::{LocalFile, LocalHost};
#[cfg(feature = "ssh")]
mod ssh;
#[cfg(feature = "ssh")]
pub use ssh::SftpHost;
#[cfg(feature = "ssh")]
pub(crate) use ssh::stdlib_python;
