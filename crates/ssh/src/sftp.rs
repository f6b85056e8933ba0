//! Raw SFTP operations on remote paths, atomic rename, fsync and resumable transfers.
//!
//! No path policy lives here: `remote-fs` decides which paths are allowed and calls these.

use camino::{Utf8Path, Utf8PathBuf};
use ssh2::{ErrorCode, OpenFlags, OpenType};
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sys::{RawSftp, RenameError};
use crate::{SftpErrorKind, SshError};

/// libssh2 splits SFTP writes into 30000-byte packets and pipelines the packets of one call:
/// a large multiple of 30000 keeps many in flight.
pub const SFTP_UPLOAD_BUF: usize = 30_000 * 34;
/// Reads: libssh2 issues read-ahead requests for the whole buffer. Measured (`ssh_vs_openssh`,
/// 256 MiB): 240 kB and 1 MB are alike, 4 MB and 8 MB are 10-30% slower.
pub const SFTP_DOWNLOAD_BUF: usize = 30_000 * 34;

/// What kind of file a remote path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// The attributes of a remote file that callers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub mtime: Option<u64>,
    pub kind: FileKind,
    /// Permission bits (`0o7777` part of the mode).
    pub perm: Option<u32>,
}

impl FileInfo {
    fn from_stat(st: &ssh2::FileStat) -> FileInfo {
        let kind = match st.perm.map(|p| p & 0o170_000) {
            Some(0o100_000) => FileKind::File,
            Some(0o040_000) => FileKind::Dir,
            Some(0o120_000) => FileKind::Symlink,
            _ => FileKind::Other,
        };
        FileInfo {
            size: st.size.unwrap_or(0),
            mtime: st.mtime,
            kind,
            perm: st.perm.map(|p| p & 0o7777),
        }
    }
}

/// One directory entry; `name` is the raw name as the host sent it (no `.`/`..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub info: FileInfo,
}

/// How [`Sftp::rename_atomic`] replaced the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameMethod {
    /// `posix-rename@openssh.com`: atomic, replaces an existing target.
    PosixRename,
    /// The server lacks posix-rename; the target did not exist and plain SFTP rename (which
    /// never replaces) moved the file.
    PlainRenameNoTarget,
}

/// Settings of one upload.
#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// Write starting at this offset of the remote file (resume). 0 creates or truncates the
    /// file. The source is read from its current position.
    pub resume_from: u64,
    /// Mode of a newly created file.
    pub mode: i32,
    /// fsync the remote file at the end where the server supports it.
    pub fsync: bool,
    /// Size of each write; a multiple of 30000 suits libssh2.
    pub buffer_size: usize,
    /// Total size, if known, for progress reports.
    pub total: Option<u64>,
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            resume_from: 0,
            mode: 0o644,
            fsync: true,
            buffer_size: SFTP_UPLOAD_BUF,
            total: None,
        }
    }
}

/// Progress of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Position in the remote file (includes a resume offset).
    pub position: u64,
    /// Bytes moved by this call so far.
    pub transferred: u64,
    pub total: Option<u64>,
}

/// What a finished transfer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferReport {
    pub start_offset: u64,
    pub bytes: u64,
    pub elapsed: Duration,
    /// `Some(true)` fsynced, `Some(false)` the server lacks fsync, `None` not asked.
    pub fsynced: Option<bool>,
}

impl TransferReport {
    /// Throughput in bytes per second.
    pub fn bytes_per_sec(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// An SFTP session on one SSH connection.
pub struct Sftp {
    inner: ssh2::Sftp,
    session: ssh2::Session,
    host: String,
    port: u16,
    raw: Mutex<Option<RawSftp>>,
}

impl std::fmt::Debug for Sftp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sftp")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

pub(crate) fn kind_of(e: &ssh2::Error) -> SftpErrorKind {
    match e.code() {
        ErrorCode::SFTP(2 | 10) => SftpErrorKind::NotFound,
        ErrorCode::SFTP(3 | 12) => SftpErrorKind::PermissionDenied,
        ErrorCode::SFTP(11) => SftpErrorKind::AlreadyExists,
        ErrorCode::SFTP(19) => SftpErrorKind::NotADirectory,
        ErrorCode::SFTP(18) => SftpErrorKind::DirectoryNotEmpty,
        ErrorCode::SFTP(14 | 15) => SftpErrorKind::NoSpace,
        ErrorCode::SFTP(8) => SftpErrorKind::Unsupported,
        ErrorCode::SFTP(6 | 7) | ErrorCode::Session(-7 | -13 | -43 | -2 | -1) => {
            SftpErrorKind::ConnectionLost
        }
        ErrorCode::Session(-9) => SftpErrorKind::Timeout,
        _ => SftpErrorKind::Other,
    }
}

fn io_kind(e: &std::io::Error) -> SftpErrorKind {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound => SftpErrorKind::NotFound,
        K::PermissionDenied => SftpErrorKind::PermissionDenied,
        K::AlreadyExists => SftpErrorKind::AlreadyExists,
        K::TimedOut => SftpErrorKind::Timeout,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            SftpErrorKind::ConnectionLost
        }
        _ => e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ssh2::Error>())
            .map_or(SftpErrorKind::Other, kind_of),
    }
}

impl Sftp {
    pub(crate) fn new(inner: ssh2::Sftp, session: ssh2::Session, host: String, port: u16) -> Sftp {
        Sftp {
            inner,
            session,
            host,
            port,
            raw: Mutex::new(None),
        }
    }

    fn err(&self, op: &'static str, path: &Utf8Path, e: ssh2::Error) -> SshError {
        SshError::Sftp {
            host: self.host.clone(),
            port: self.port,
            op,
            path: path.to_string(),
            kind: kind_of(&e),
            source: std::io::Error::other(e),
        }
    }

    fn io_err(&self, op: &'static str, path: &str, e: std::io::Error) -> SshError {
        SshError::Sftp {
            host: self.host.clone(),
            port: self.port,
            op,
            path: path.to_owned(),
            kind: io_kind(&e),
            source: e,
        }
    }

    pub fn realpath(&self, p: &Utf8Path) -> Result<Utf8PathBuf, SshError> {
        let r = self
            .inner
            .realpath(p.as_std_path())
            .map_err(|e| self.err("realpath", p, e))?;
        Utf8PathBuf::from_path_buf(r).map_err(|r| SshError::Sftp {
            host: self.host.clone(),
            port: self.port,
            op: "realpath",
            path: p.to_string(),
            kind: SftpErrorKind::Other,
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("server returned a non-UTF-8 path {}", r.display()),
            ),
        })
    }

    pub fn stat(&self, p: &Utf8Path) -> Result<FileInfo, SshError> {
        let st = self
            .inner
            .stat(p.as_std_path())
            .map_err(|e| self.err("stat", p, e))?;
        Ok(FileInfo::from_stat(&st))
    }

    pub fn lstat(&self, p: &Utf8Path) -> Result<FileInfo, SshError> {
        let st = self
            .inner
            .lstat(p.as_std_path())
            .map_err(|e| self.err("lstat", p, e))?;
        Ok(FileInfo::from_stat(&st))
    }

    /// Entries of a directory, without `.` and `..`. Names are as the host sent them
    /// (non-UTF-8 bytes replaced by U+FFFD).
    pub fn read_dir(&self, p: &Utf8Path) -> Result<Vec<DirEntry>, SshError> {
        let mut dir = self
            .inner
            .opendir(p.as_std_path())
            .map_err(|e| self.err("opendir", p, e))?;
        let mut out = Vec::new();
        loop {
            match dir.readdir() {
                Ok((name, st)) => {
                    let name = name.to_string_lossy().into_owned();
                    if name == "." || name == ".." {
                        continue;
                    }
                    out.push(DirEntry {
                        name,
                        info: FileInfo::from_stat(&st),
                    });
                }
                // libssh2 reports the end of the listing as an SFTP EOF status.
                Err(e) if e.code() == ErrorCode::Session(libssh2_sys::LIBSSH2_ERROR_FILE) => break,
                Err(e) if e.code() == ErrorCode::SFTP(1) => break,
                Err(e) => return Err(self.err("readdir", p, e)),
            }
        }
        Ok(out)
    }

    pub fn mkdir(&self, p: &Utf8Path, mode: i32) -> Result<(), SshError> {
        self.inner
            .mkdir(p.as_std_path(), mode)
            .map_err(|e| self.refine_exists(self.err("mkdir", p, e), p))
    }

    #[expect(
        clippy::disallowed_methods,
        reason = "this crate is the transport remote-fs builds on"
    )]
    pub fn unlink(&self, p: &Utf8Path) -> Result<(), SshError> {
        self.inner
            .unlink(p.as_std_path())
            .map_err(|e| self.err("unlink", p, e))
    }

    #[expect(
        clippy::disallowed_methods,
        reason = "this crate is the transport remote-fs builds on"
    )]
    pub fn rmdir(&self, p: &Utf8Path) -> Result<(), SshError> {
        self.inner
            .rmdir(p.as_std_path())
            .map_err(|e| self.err("rmdir", p, e))
    }

    /// Creates `link` pointing at `target`.
    pub fn symlink(&self, target: &Utf8Path, link: &Utf8Path) -> Result<(), SshError> {
        // OpenSSH's sftp-server takes (target, link) in swapped order relative to the draft;
        // ssh2's `symlink(path, target)` sends path first, which OpenSSH reads as the target.
        self.inner
            .symlink(target.as_std_path(), link.as_std_path())
            .map_err(|e| self.refine_exists(self.err("symlink", link, e), link))
    }

    pub fn readlink(&self, p: &Utf8Path) -> Result<String, SshError> {
        let t = self
            .inner
            .readlink(p.as_std_path())
            .map_err(|e| self.err("readlink", p, e))?;
        Ok(t.to_string_lossy().into_owned())
    }

    /// `SFTPv3` servers report "exists" as a generic failure: look the path up to say so.
    fn refine_exists(&self, err: SshError, p: &Utf8Path) -> SshError {
        match err {
            SshError::Sftp {
                host,
                port,
                op,
                path,
                kind: SftpErrorKind::Other,
                source,
            } if self.inner.lstat(p.as_std_path()).is_ok() => SshError::Sftp {
                host,
                port,
                op,
                path,
                kind: SftpErrorKind::AlreadyExists,
                source,
            },
            other => other,
        }
    }

    fn open(
        &self,
        op: &'static str,
        p: &Utf8Path,
        flags: OpenFlags,
        mode: i32,
    ) -> Result<RemoteFile, SshError> {
        let file = self
            .inner
            .open_mode(p.as_std_path(), flags, mode, OpenType::File)
            .map_err(|e| self.err(op, p, e))?;
        Ok(RemoteFile {
            file,
            path: p.to_owned(),
            host: self.host.clone(),
            port: self.port,
        })
    }

    /// Creates a new file; fails with `AlreadyExists` if anything is at `p` (`O_CREAT|O_EXCL`).
    pub fn create_new(&self, p: &Utf8Path, mode: i32) -> Result<RemoteFile, SshError> {
        self.open(
            "create",
            p,
            OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUSIVE,
            mode,
        )
        .map_err(|e| self.refine_exists(e, p))
    }

    /// Creates or truncates a file for writing.
    pub fn create_truncate(&self, p: &Utf8Path, mode: i32) -> Result<RemoteFile, SshError> {
        self.open(
            "create",
            p,
            OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE,
            mode,
        )
    }

    /// Opens an existing file for writing at `offset` (resuming an upload).
    pub fn open_append_at(&self, p: &Utf8Path, offset: u64) -> Result<RemoteFile, SshError> {
        let mut f = self.open("open for resume", p, OpenFlags::WRITE, 0o644)?;
        f.file
            .seek(SeekFrom::Start(offset))
            .map_err(|e| self.io_err("seek", p.as_str(), e))?;
        Ok(f)
    }

    /// Opens a file for reading from `offset`.
    pub fn open_read(&self, p: &Utf8Path, offset: u64) -> Result<RemoteFile, SshError> {
        let mut f = self.open("open", p, OpenFlags::READ, 0)?;
        if offset > 0 {
            f.file
                .seek(SeekFrom::Start(offset))
                .map_err(|e| self.io_err("seek", p.as_str(), e))?;
        }
        Ok(f)
    }

    /// Moves `from` over `to` atomically with `posix-rename@openssh.com`. Without that extension
    /// it falls back to plain rename only when `to` does not exist, and says so in the result.
    pub fn rename_atomic(&self, from: &Utf8Path, to: &Utf8Path) -> Result<RenameMethod, SshError> {
        let mut raw = self
            .raw
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if raw.is_none() {
            *raw = Some(
                RawSftp::open(&self.session).map_err(|e| SshError::SftpStart {
                    host: self.host.clone(),
                    port: self.port,
                    source: e,
                })?,
            );
        }
        let Some(r) = raw.as_ref() else {
            unreachable!("set above")
        };
        match r.posix_rename(from.as_str(), to.as_str()) {
            Ok(()) => Ok(RenameMethod::PosixRename),
            Err(RenameError::Unsupported) => {
                drop(raw);
                self.inner
                    .rename(
                        from.as_std_path(),
                        to.as_std_path(),
                        Some(ssh2::RenameFlags::empty()),
                    )
                    .map_err(|e| {
                        if self.inner.lstat(to.as_std_path()).is_ok() {
                            SshError::RenameUnsupported {
                                host: self.host.clone(),
                                port: self.port,
                                from: from.to_string(),
                                to: to.to_string(),
                            }
                        } else {
                            self.err("rename", from, e)
                        }
                    })?;
                Ok(RenameMethod::PlainRenameNoTarget)
            }
            Err(RenameError::Status(e) | RenameError::Session(e)) => {
                Err(self.err("posix-rename", from, e))
            }
        }
    }

    /// Uploads `src` (from its current position) to `dst`, at `opts.resume_from`.
    #[expect(
        clippy::disallowed_methods,
        reason = "the transport's own upload is built on its raw create and append"
    )]
    pub fn upload(
        &self,
        src: &mut dyn Read,
        dst: &Utf8Path,
        opts: &TransferOptions,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<TransferReport, SshError> {
        let started = Instant::now();
        let mut file = if opts.resume_from == 0 {
            self.create_truncate(dst, opts.mode)?
        } else {
            // Writing past the end would leave a hole of zeros in the file: refuse.
            let have = self.stat(dst)?.size;
            if have < opts.resume_from {
                return Err(SshError::Sftp {
                    host: self.host.clone(),
                    port: self.port,
                    op: "resume",
                    path: dst.to_string(),
                    kind: SftpErrorKind::Other,
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!(
                            "the remote file has {have} bytes, cannot resume at offset {}",
                            opts.resume_from
                        ),
                    ),
                });
            }
            self.open_append_at(dst, opts.resume_from)?
        };
        let mut buf = vec![0u8; opts.buffer_size.max(30_000)];
        let mut done = 0u64;
        loop {
            let n = read_full(src, &mut buf, dst)?;
            if n == 0 {
                break;
            }
            file.file
                .write_all(&buf[..n])
                .map_err(|e| self.io_err("write", dst.as_str(), e))?;
            done += n as u64;
            progress(Progress {
                position: opts.resume_from + done,
                transferred: done,
                total: opts.total,
            });
        }
        let fsynced = if opts.fsync {
            Some(file.fsync()?)
        } else {
            None
        };
        file.close()?;
        Ok(TransferReport {
            start_offset: opts.resume_from,
            bytes: done,
            elapsed: started.elapsed(),
            fsynced,
        })
    }

    /// Downloads `src` from `offset` to the end into `dst`.
    pub fn download(
        &self,
        src: &Utf8Path,
        dst: &mut dyn Write,
        offset: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<TransferReport, SshError> {
        self.download_buffered(src, dst, offset, SFTP_DOWNLOAD_BUF, progress)
    }

    /// [`Sftp::download`] with a chosen read size (libssh2 keeps that much read-ahead in flight).
    pub fn download_buffered(
        &self,
        src: &Utf8Path,
        dst: &mut dyn Write,
        offset: u64,
        buffer_size: usize,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<TransferReport, SshError> {
        let started = Instant::now();
        let total = self.stat(src)?.size;
        let mut file = self.open_read(src, offset)?;
        let mut buf = vec![0u8; buffer_size.max(30_000)];
        let mut done = 0u64;
        loop {
            let n = file
                .file
                .read(&mut buf)
                .map_err(|e| self.io_err("read", src.as_str(), e))?;
            if n == 0 {
                break;
            }
            crate::session::write_all_to(dst, &buf[..n], src.as_str())?;
            done += n as u64;
            progress(Progress {
                position: offset + done,
                transferred: done,
                total: Some(total),
            });
        }
        if offset + done < total {
            return Err(SshError::Sftp {
                host: self.host.clone(),
                port: self.port,
                op: "read",
                path: src.to_string(),
                kind: SftpErrorKind::Other,
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("file ended at {} of {total} bytes", offset + done),
                ),
            });
        }
        Ok(TransferReport {
            start_offset: offset,
            bytes: done,
            elapsed: started.elapsed(),
            fsynced: None,
        })
    }
}

/// Fills `buf` as far as the local source allows (fewer bytes only at end of input); a read
/// error is a [`SshError::LocalIo`] of the transfer to `remote`.
pub(crate) fn read_full(
    src: &mut dyn Read,
    buf: &mut [u8],
    remote: &Utf8Path,
) -> Result<usize, SshError> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(SshError::LocalIo {
                    op: "read",
                    remote: remote.to_string(),
                    source,
                });
            }
        }
    }
    Ok(n)
}

/// An open remote file.
pub struct RemoteFile {
    file: ssh2::File,
    path: Utf8PathBuf,
    host: String,
    port: u16,
}

impl std::fmt::Debug for RemoteFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RemoteFile {
    pub fn path(&self) -> &Utf8Path {
        &self.path
    }

    /// `fsync@openssh.com`: `Ok(true)` when synced, `Ok(false)` when the server lacks it.
    pub fn fsync(&mut self) -> Result<bool, SshError> {
        match self.file.fsync() {
            Ok(()) => Ok(true),
            Err(e) if kind_of(&e) == SftpErrorKind::Unsupported => Ok(false),
            Err(e) => Err(SshError::Sftp {
                host: self.host.clone(),
                port: self.port,
                op: "fsync",
                path: self.path.to_string(),
                kind: kind_of(&e),
                source: std::io::Error::other(e),
            }),
        }
    }

    /// Closes the handle, reporting a failed close (which can mean lost data).
    pub fn close(mut self) -> Result<(), SshError> {
        self.file.close().map_err(|e| SshError::Sftp {
            host: self.host.clone(),
            port: self.port,
            op: "close",
            path: self.path.to_string(),
            kind: kind_of(&e),
            source: std::io::Error::other(e),
        })
    }
}

impl Read for RemoteFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read(buf)
    }
}

impl Write for RemoteFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}
