//! Uploads and downloads: `put` writes `<name>.part` (created exclusively or resumed), fsyncs
//! it, checks its sha256 and renames it atomically over the final name; `get` copies a file
//! that resolves inside its root.

use std::io::{Read, Write};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest, Sha256};

use super::{FsError, RemoteFs};
use crate::host::{Host, Kind, Meta};
use crate::layout::RemotePath;
use crate::path::HostOs;

/// Write buffer: a multiple of libssh2's 30000-byte SFTP packet, as large as crates/ssh uses so
/// that libssh2 keeps many packets in flight.
const BUF: usize = 30_000 * 34;
/// Chunks a put reads (and hashes) ahead of its writes.
const AHEAD: usize = 4;
/// Suffix of the temporary file a put writes before the atomic rename.
pub const PART_SUFFIX: &str = ".part";

/// Settings of one [`RemoteFs::put`].
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// Continue a `<name>.part` left by an earlier, interrupted put.
    pub resume: bool,
    /// Replace an existing file of that name (atomically).
    pub overwrite: bool,
    /// Create missing folders below the root.
    pub create_parents: bool,
    /// Refuse (and discard the upload) unless the final content has this sha256.
    pub expected_sha256: Option<[u8; 32]>,
    /// Bytes of the source, for progress reports.
    pub total: Option<u64>,
    /// The source starts at this byte of the file (a ranged download resuming the `.part`)
    /// instead of at its beginning: nothing is skipped, and the put fails with
    /// [`FsError::PartChanged`] unless it resumes a `.part` of exactly this size (needs
    /// `resume`; `Some(0)` means a fresh `.part`).
    pub source_offset: Option<u64>,
    /// The host's Python: with it, a POSIX host flushes the `.part` to disk while it is
    /// written ([`Host::start_flushing`]), so the fsync before the rename has little left to
    /// wait for. Without it (or when it cannot run) that fsync writes the whole file out.
    pub host_python: Option<String>,
}

/// Progress of a put or get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the final file that are in place (includes a resumed prefix).
    pub position: u64,
    pub total: Option<u64>,
}

/// What a put did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutReport {
    /// Final canonical host path.
    pub path: Utf8PathBuf,
    pub size: u64,
    /// Bytes that were already on the host from an interrupted put.
    pub resumed_from: u64,
    pub sha256: [u8; 32],
    /// `false` when the host could not fsync.
    pub fsynced: bool,
}

impl<H: Host> RemoteFs<H> {
    /// Copies an existing file (resolved inside its root) into `sink`.
    pub fn get(
        &self,
        p: &RemotePath,
        sink: &mut dyn Write,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<u64, FsError> {
        let (real, meta) = self.resolve_existing(p)?.ok_or_else(|| self.not_found(p))?;
        if meta.kind != Kind::File {
            return Err(FsError::NotAFile {
                requested: p.to_string(),
                path: real,
                kind: meta.kind,
            });
        }
        let mut f = self.host.open_read(&real, 0)?;
        let mut buf = vec![0u8; BUF];
        let mut done = 0u64;
        loop {
            let n = f.read(&mut buf).map_err(|source| FsError::Read {
                path: real.clone(),
                source,
            })?;
            if n == 0 {
                break;
            }
            sink.write_all(&buf[..n]).map_err(|source| FsError::Sink {
                requested: p.to_string(),
                source,
            })?;
            done += n as u64;
            progress(Progress {
                position: done,
                total: Some(meta.size),
            });
        }
        self.host.close(f)?;
        Ok(done)
    }

    /// Uploads `source` to `dest` via `<name>.part` and an atomic rename. With `resume`, an
    /// existing `.part` is continued: its bytes are kept and the same number of bytes of
    /// `source` are skipped. The sha256 covers the whole final file (the kept prefix is read
    /// back from the host). `progress` may return `Break` to stop; the `.part` is kept.
    ///
    /// The source is read and hashed on a thread of its own, a few chunks ahead of the writes
    /// (libssh2 encrypts on the writing thread), so reading, hashing and sending overlap.
    pub fn put(
        &self,
        dest: &RemotePath,
        source: &mut (dyn Read + Send),
        opts: &PutOptions,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<PutReport, FsError> {
        let requested = dest.to_string();
        let (parent, target, meta) = self.resolve_new(dest, opts.create_parents)?;
        check_final(&requested, &target, meta, opts.overwrite)?;
        let part = part_path(&requested, dest, &parent)?;
        let mut hasher = Sha256::new();
        let resume = opts.resume && opts.source_offset != Some(0);
        let (mut file, offset) = self.open_part(&requested, &part, resume, &mut hasher)?;
        if let Some(expected) = opts.source_offset {
            if expected != offset {
                let _ = self.host.close(file);
                return Err(FsError::PartChanged {
                    requested,
                    part,
                    expected,
                    actual: offset,
                });
            }
        } else if offset > 0 {
            skip_source(source, offset).map_err(|s| FsError::Source {
                requested: requested.clone(),
                source: s,
            })?;
        }
        let flushing = match (&opts.host_python, self.os()) {
            (Some(python), HostOs::Posix) => self.host.start_flushing(&part, python),
            _ => None,
        };
        let (hasher, position) = match write_from(
            &requested, &part, &mut file, source, hasher, offset, opts, progress,
        ) {
            Ok(r) => r,
            Err(e) => {
                drop(flushing);
                let _ = self.host.close(file);
                return Err(e);
            }
        };
        file.flush().map_err(|s| FsError::Write {
            path: part.clone(),
            source: s,
        })?;
        if let Some(Err(e)) = flushing.map(crate::host::Flushing::finish) {
            let _ = self.host.close(file);
            return Err(e.into());
        }
        let fsynced = self.host.fsync(&mut file)?;
        self.host.close(file)?;
        let sha256: [u8; 32] = hasher.finalize().into();
        self.commit_part(&requested, &part, &target, sha256, opts)?;
        Ok(PutReport {
            path: target,
            size: position,
            resumed_from: offset,
            sha256,
            fsynced,
        })
    }

    /// The size of the `<name>.part` a resumed put of `dest` would continue: `None` when there
    /// is none (or it is not a plain file) or when `dest`'s folder does not exist yet. The
    /// folder is resolved as a put resolves it, so an escape is refused here already.
    pub fn partial(&self, dest: &RemotePath) -> Result<Option<u64>, FsError> {
        let (parent, _, _) = match self.resolve_new(dest, false) {
            Ok(r) => r,
            Err(FsError::ParentNotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let name = dest.relative().file_name().unwrap_or_default();
        let part = parent.join(format!("{name}{PART_SUFFIX}"));
        match self.host.lstat(&part) {
            Ok(m) if m.kind == Kind::File => Ok(Some(m.size)),
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the `<name>.part` of `dest`, if any (never following a symlink).
    pub fn discard_partial(&self, dest: &RemotePath) -> Result<bool, FsError> {
        let (parent, _, _) = match self.resolve_new(dest, false) {
            Ok(r) => r,
            Err(FsError::ParentNotFound { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let name = dest.relative().file_name().unwrap_or_default();
        let part = parent.join(format!("{name}{PART_SUFFIX}"));
        match self.host.lstat(&part) {
            Ok(m) if m.kind != Kind::Dir => {
                self.host.unlink(&part)?;
                Ok(true)
            }
            Ok(_) => Ok(false),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The sha256 of an existing file (resolved inside its root).
    pub fn sha256(&self, p: &RemotePath) -> Result<[u8; 32], FsError> {
        struct HashSink(Sha256);
        impl Write for HashSink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.update(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut sink = HashSink(Sha256::new());
        self.get(p, &mut sink, &mut |_| {})?;
        Ok(sink.0.finalize().into())
    }

    /// [`RemoteFs::put`] from a local file; `opts.total` is taken from its size.
    pub fn put_file(
        &self,
        dest: &RemotePath,
        local: &std::path::Path,
        opts: &PutOptions,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<PutReport, FsError> {
        let source_err = |source| FsError::Source {
            requested: dest.to_string(),
            source,
        };
        let mut f = std::fs::File::open(local).map_err(source_err)?;
        let size = f.metadata().map_err(source_err)?.len();
        let opts = PutOptions {
            total: Some(size),
            ..opts.clone()
        };
        self.put(dest, &mut f, &opts, progress)
    }

    /// The end of every write into a `.part` (ours: created or lstat-checked by the caller):
    /// the sha256 compared with the expected one (a mismatch removes the `.part`), the final
    /// name re-checked right before the rename (see the module doc on the race), then the
    /// atomic rename.
    pub(super) fn commit_part(
        &self,
        requested: &str,
        part: &Utf8Path,
        target: &Utf8Path,
        sha256: [u8; 32],
        opts: &PutOptions,
    ) -> Result<(), FsError> {
        if let Some(expected) = opts.expected_sha256
            && expected != sha256
        {
            let _ = self.host.unlink(part);
            return Err(FsError::ChecksumMismatch {
                requested: requested.to_owned(),
                expected: hex::encode(expected),
                actual: hex::encode(sha256),
            });
        }
        let meta = match self.host.lstat(target) {
            Ok(m) => Some(m),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        check_final(requested, target, meta, opts.overwrite)?;
        self.host.rename_atomic(part, target)?;
        Ok(())
    }

    /// Opens `<name>.part`: resumes a plain file when asked (hashing its content), else
    /// removes a stale one (never following a symlink) and creates it exclusively.
    fn open_part(
        &self,
        requested: &str,
        part: &Utf8Path,
        resume: bool,
        hasher: &mut Sha256,
    ) -> Result<(H::File, u64), FsError> {
        let meta = match self.host.lstat(part) {
            Ok(m) => Some(m),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        match meta {
            Some(m) if resume && m.kind == Kind::File => {
                let mut r = self.host.open_read(part, 0)?;
                let mut buf = vec![0u8; BUF];
                let mut have = 0u64;
                while have < m.size {
                    let want = usize::try_from((m.size - have).min(BUF as u64)).unwrap_or(BUF);
                    let n = r.read(&mut buf[..want]).map_err(|s| FsError::Read {
                        path: part.to_owned(),
                        source: s,
                    })?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    have += n as u64;
                }
                self.host.close(r)?;
                let f = self.host.open_append_at(part, have)?;
                return Ok((f, have));
            }
            Some(m) if m.kind == Kind::Dir => {
                return Err(FsError::NotAFile {
                    requested: requested.to_owned(),
                    path: part.to_owned(),
                    kind: m.kind,
                });
            }
            Some(_) => self.host.unlink(part)?,
            None => {}
        }
        let f = self.host.create_new(part, 0o644)?;
        Ok((f, 0))
    }
}

/// `dest`'s `<name>.part` in its (resolved) `parent`, refused when the name gets too long.
pub(super) fn part_path(
    requested: &str,
    dest: &RemotePath,
    parent: &Utf8Path,
) -> Result<Utf8PathBuf, FsError> {
    let name = dest.relative().file_name().unwrap_or_default();
    let part_name = format!("{name}{PART_SUFFIX}");
    if part_name.len() > crate::path::MAX_NAME_BYTES {
        return Err(FsError::NameTooLongForPart {
            requested: requested.to_owned(),
            name: name.to_owned(),
        });
    }
    Ok(parent.join(&part_name))
}

pub(super) fn check_final(
    requested: &str,
    target: &Utf8Path,
    meta: Option<Meta>,
    overwrite: bool,
) -> Result<(), FsError> {
    match meta.map(|m| m.kind) {
        None => Ok(()),
        Some(Kind::Symlink) => Err(FsError::SymlinkTarget {
            requested: requested.to_owned(),
            path: target.to_owned(),
        }),
        Some(Kind::File) if overwrite => Ok(()),
        Some(Kind::File) => Err(FsError::AlreadyExists {
            requested: requested.to_owned(),
            path: target.to_owned(),
        }),
        Some(kind) => Err(FsError::NotAFile {
            requested: requested.to_owned(),
            path: target.to_owned(),
            kind,
        }),
    }
}

/// Writes `source` to the open `.part` `file` from byte `offset`, the source read and hashed
/// `AHEAD` chunks ahead on its own thread; the hasher and the final position when the
/// source ends. A write error, a source error or a `Break` from `progress` stops both.
#[expect(
    clippy::too_many_arguments,
    reason = "the put's state, passed down instead of a one-use struct"
)]
fn write_from(
    requested: &str,
    part: &Utf8Path,
    file: &mut dyn Write,
    source: &mut (dyn Read + Send),
    hasher: Sha256,
    offset: u64,
    opts: &PutOptions,
    progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
) -> Result<(Sha256, u64), FsError> {
    let source_err = |s| FsError::Source {
        requested: requested.to_owned(),
        source: s,
    };
    let stop = AtomicBool::new(false);
    let stop_ref = &stop;
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = mpsc::sync_channel::<Vec<u8>>(AHEAD);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
        let reader = std::thread::Builder::new()
            .name("put-read".to_owned())
            .spawn_scoped(scope, move || {
                read_ahead(source, hasher, &full_tx, &empty_rx, stop_ref)
            })
            .map_err(source_err)?;
        let mut position = offset;
        let mut ended = Ok(());
        for buf in &full_rx {
            if let Err(s) = file.write_all(&buf) {
                ended = Err(FsError::Write {
                    path: part.to_owned(),
                    source: s,
                });
                break;
            }
            position += buf.len() as u64;
            let _ = empty_tx.send(buf);
            if progress(Progress {
                position,
                total: opts.total,
            })
            .is_break()
            {
                ended = Err(FsError::Cancelled {
                    requested: requested.to_owned(),
                    written: position,
                    part: part.to_owned(),
                });
                break;
            }
        }
        stop_ref.store(true, Ordering::Relaxed);
        drop(full_rx);
        let read = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        ended?;
        Ok((read.map_err(source_err)?, position))
    })
}

/// The reading side of a put: fills chunks of `BUF` bytes from `source` (reusing those the
/// writer sent back), hashes them and hands them on, until the source ends, fails, or the
/// writer stops (`stop`, or its end of `full` gone).
fn read_ahead(
    source: &mut (dyn Read + Send),
    mut hasher: Sha256,
    full: &mpsc::SyncSender<Vec<u8>>,
    empty: &mpsc::Receiver<Vec<u8>>,
    stop: &AtomicBool,
) -> std::io::Result<Sha256> {
    loop {
        let mut buf = empty.try_recv().unwrap_or_default();
        buf.resize(BUF, 0);
        let mut n = 0;
        while n < buf.len() && !stop.load(Ordering::Relaxed) {
            match source.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if n == 0 {
            return Ok(hasher);
        }
        buf.truncate(n);
        hasher.update(&buf);
        if full.send(buf).is_err() {
            return Ok(hasher);
        }
    }
}

fn skip_source(r: &mut dyn Read, n: u64) -> std::io::Result<()> {
    let skipped = std::io::copy(&mut r.take(n), &mut std::io::sink())?;
    if skipped < n {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the source has {skipped} bytes, fewer than the {n} already uploaded"),
        ));
    }
    Ok(())
}
