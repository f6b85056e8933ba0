//! [`Host`] over SFTP: `comfy_local_ssh::Sftp` on a real SSH session (the production path).

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_ssh::{
    Command, FileKind, RemoteFile, Session, Sftp, SftpErrorKind, Spawned, SshError,
};

use super::{Flushing, Host, HostError, HostErrorKind, Kind, Meta, RawEntry};

/// The host-side flusher (Python 3, standard library only). argv: the file. It opens the file
/// read-only without following a symlink and, every 0.1 s, flushes it (`fdatasync`, else
/// `fsync`) once it grew by 16 MiB since the last flush, until its stdin ends. Exit status 3,
/// with the error on stderr, when a flush failed; anything else that stops it (no Python, the
/// file gone) only means no flushing.
const FLUSH_PY: &str = r#"
import os, sys, threading

path = sys.argv[1]
fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
sync = getattr(os, "fdatasync", os.fsync)
ended = threading.Event()

def watch():
    try:
        while os.read(0, 65536):
            pass
    finally:
        ended.set()

threading.Thread(target=watch, daemon=True).start()
flushed = os.fstat(fd).st_size
while not ended.wait(0.1):
    size = os.fstat(fd).st_size
    if size - flushed >= (16 << 20):
        try:
            sync(fd)
        except OSError as e:
            sys.stderr.write("flushing %s to disk: %s\n" % (path, e))
            sys.exit(3)
        flushed = size
"#;

/// `python -I -S -c program`, for the programs remote-fs runs on the host (standard library
/// only): isolated (neither the current folder nor the user site on `sys.path`, no `PYTHON*`
/// variables) and without `site`, which also starts faster. Their arguments follow.
pub(crate) fn stdlib_python(python: &str, program: &str) -> Command {
    Command::from_argv([python, "-I", "-S", "-c", program])
}

/// The flusher's exit status when a flush failed.
const FLUSH_FAILED: i32 = 3;

/// [`FLUSH_PY`] running on the host.
#[derive(Debug)]
struct SshFlushing<'a> {
    running: Spawned<'a>,
    path: Utf8PathBuf,
}

impl Flushing for SshFlushing<'_> {
    /// Only a flush the program reports as failed fails: a flusher that never ends (given up
    /// after the session's command timeout) or a channel that broke leaves the durability to
    /// the final fsync, which reports a broken session itself.
    fn finish(self: Box<Self>) -> Result<(), HostError> {
        match self.running.finish() {
            Ok(out) if out.exit_signal.is_none() && out.exit_status == FLUSH_FAILED => {
                Err(HostError {
                    op: "flushing to disk",
                    path: self.path.clone(),
                    kind: HostErrorKind::Other,
                    source: String::from_utf8_lossy(&out.stderr)
                        .trim()
                        .to_owned()
                        .into(),
                })
            }
            Ok(_) | Err(_) => Ok(()),
        }
    }
}

fn err(op: &'static str, path: &Utf8Path, e: SshError) -> HostError {
    let kind = match e.sftp_kind() {
        Some(SftpErrorKind::NotFound) => HostErrorKind::NotFound,
        Some(SftpErrorKind::PermissionDenied) => HostErrorKind::PermissionDenied,
        Some(SftpErrorKind::AlreadyExists) => HostErrorKind::AlreadyExists,
        Some(SftpErrorKind::NotADirectory) => HostErrorKind::NotADirectory,
        Some(SftpErrorKind::DirectoryNotEmpty) => HostErrorKind::DirectoryNotEmpty,
        _ => HostErrorKind::Other,
    };
    HostError {
        op,
        path: path.to_owned(),
        kind,
        source: Box::new(e),
    }
}

fn meta(info: &comfy_local_ssh::FileInfo) -> Meta {
    let kind = match info.kind {
        FileKind::File => Kind::File,
        FileKind::Dir => Kind::Dir,
        FileKind::Symlink => Kind::Symlink,
        FileKind::Other => Kind::Other,
    };
    Meta {
        kind,
        size: info.size,
        mtime: info.mtime,
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "this is the SFTP host RemoteFs performs its checked operations through"
)]
impl Host for Sftp {
    type File = RemoteFile;

    fn realpath(&self, p: &Utf8Path) -> Result<Utf8PathBuf, HostError> {
        Sftp::realpath(self, p).map_err(|e| err("realpath", p, e))
    }
    fn stat(&self, p: &Utf8Path) -> Result<Meta, HostError> {
        Sftp::stat(self, p)
            .map(|i| meta(&i))
            .map_err(|e| err("stat", p, e))
    }
    fn lstat(&self, p: &Utf8Path) -> Result<Meta, HostError> {
        Sftp::lstat(self, p)
            .map(|i| meta(&i))
            .map_err(|e| err("lstat", p, e))
    }
    fn read_dir(&self, p: &Utf8Path) -> Result<Vec<RawEntry>, HostError> {
        let entries = Sftp::read_dir(self, p).map_err(|e| err("read_dir", p, e))?;
        Ok(entries
            .into_iter()
            .map(|e| RawEntry {
                name: e.name,
                meta: meta(&e.info),
            })
            .collect())
    }
    fn mkdir(&self, p: &Utf8Path, mode: i32) -> Result<(), HostError> {
        Sftp::mkdir(self, p, mode).map_err(|e| err("mkdir", p, e))
    }
    fn unlink(&self, p: &Utf8Path) -> Result<(), HostError> {
        Sftp::unlink(self, p).map_err(|e| err("unlink", p, e))
    }
    fn rmdir(&self, p: &Utf8Path) -> Result<(), HostError> {
        Sftp::rmdir(self, p).map_err(|e| err("rmdir", p, e))
    }
    fn create_new(&self, p: &Utf8Path, mode: i32) -> Result<RemoteFile, HostError> {
        Sftp::create_new(self, p, mode).map_err(|e| err("create", p, e))
    }
    fn open_append_at(&self, p: &Utf8Path, offset: u64) -> Result<RemoteFile, HostError> {
        Sftp::open_append_at(self, p, offset).map_err(|e| err("open", p, e))
    }
    fn open_read(&self, p: &Utf8Path, offset: u64) -> Result<RemoteFile, HostError> {
        Sftp::open_read(self, p, offset).map_err(|e| err("open", p, e))
    }
    fn fsync(&self, f: &mut RemoteFile) -> Result<bool, HostError> {
        let path = f.path().to_owned();
        f.fsync().map_err(|e| err("fsync", &path, e))
    }
    fn close(&self, f: RemoteFile) -> Result<(), HostError> {
        let path = f.path().to_owned();
        f.close().map_err(|e| err("close", &path, e))
    }
    fn rename_atomic(&self, from: &Utf8Path, to: &Utf8Path) -> Result<(), HostError> {
        Sftp::rename_atomic(self, from, to)
            .map(drop)
            .map_err(|e| err("rename", from, e))
    }
}

/// An SFTP [`Host`] that owns its SSH session (dropping the session would end the SFTP
/// channel): what [`crate::RemoteFs`] uses in production.
#[derive(Debug)]
pub struct SftpHost {
    sftp: Sftp,
    session: Session,
}

impl SftpHost {
    /// Starts SFTP on `session` and keeps both.
    pub fn open(session: Session) -> Result<Self, SshError> {
        let sftp = session.sftp()?;
        Ok(SftpHost { sftp, session })
    }
    pub fn session(&self) -> &Session {
        &self.session
    }
    pub fn sftp(&self) -> &Sftp {
        &self.sftp
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "delegates to the SFTP host above; callers go through RemoteFs"
)]
impl Host for SftpHost {
    type File = RemoteFile;

    fn realpath(&self, p: &Utf8Path) -> Result<Utf8PathBuf, HostError> {
        Host::realpath(&self.sftp, p)
    }
    fn stat(&self, p: &Utf8Path) -> Result<Meta, HostError> {
        Host::stat(&self.sftp, p)
    }
    fn lstat(&self, p: &Utf8Path) -> Result<Meta, HostError> {
        Host::lstat(&self.sftp, p)
    }
    fn read_dir(&self, p: &Utf8Path) -> Result<Vec<RawEntry>, HostError> {
        Host::read_dir(&self.sftp, p)
    }
    fn mkdir(&self, p: &Utf8Path, mode: i32) -> Result<(), HostError> {
        Host::mkdir(&self.sftp, p, mode)
    }
    fn unlink(&self, p: &Utf8Path) -> Result<(), HostError> {
        Host::unlink(&self.sftp, p)
    }
    fn rmdir(&self, p: &Utf8Path) -> Result<(), HostError> {
        Host::rmdir(&self.sftp, p)
    }
    fn create_new(&self, p: &Utf8Path, mode: i32) -> Result<RemoteFile, HostError> {
        Host::create_new(&self.sftp, p, mode)
    }
    fn open_append_at(&self, p: &Utf8Path, offset: u64) -> Result<RemoteFile, HostError> {
        Host::open_append_at(&self.sftp, p, offset)
    }
    fn open_read(&self, p: &Utf8Path, offset: u64) -> Result<RemoteFile, HostError> {
        Host::open_read(&self.sftp, p, offset)
    }
    fn fsync(&self, f: &mut RemoteFile) -> Result<bool, HostError> {
        Host::fsync(&self.sftp, f)
    }
    fn close(&self, f: RemoteFile) -> Result<(), HostError> {
        Host::close(&self.sftp, f)
    }
    fn rename_atomic(&self, from: &Utf8Path, to: &Utf8Path) -> Result<(), HostError> {
        Host::rename_atomic(&self.sftp, from, to)
    }
    fn start_flushing(&self, p: &Utf8Path, python: &str) -> Option<Box<dyn Flushing + '_>> {
        let cmd = stdlib_python(python, FLUSH_PY)
            .arg(p.as_str())
            .output_cap(4096);
        let running = self.session.spawn(&cmd).ok()?;
        Some(Box::new(SshFlushing {
            running,
            path: p.to_owned(),
        }))
    }
}
