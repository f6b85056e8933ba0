//! [`Host`] on this machine through `std::fs`, with the semantics of OpenSSH's sftp-server
//! (a missing last component is accepted by `realpath`).

use std::io::{Read, Seek, SeekFrom, Write};

use camino::{Utf8Path, Utf8PathBuf};

use super::{Host, HostError, HostErrorKind, Kind, Meta, RawEntry};

/// [`Host`] on this machine through `std::fs`, with OpenSSH sftp-server semantics.
#[derive(Debug, Clone, Default)]
pub struct LocalHost;

/// An open local file.
#[derive(Debug)]
pub struct LocalFile {
    file: std::fs::File,
    path: Utf8PathBuf,
}

impl Read for LocalFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read(buf)
    }
}

impl Write for LocalFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

fn local_err(op: &'static str, path: &Utf8Path, e: std::io::Error) -> HostError {
    use std::io::ErrorKind as K;
    let kind = match e.kind() {
        K::NotFound => HostErrorKind::NotFound,
        K::PermissionDenied => HostErrorKind::PermissionDenied,
        K::AlreadyExists => HostErrorKind::AlreadyExists,
        K::NotADirectory => HostErrorKind::NotADirectory,
        K::DirectoryNotEmpty => HostErrorKind::DirectoryNotEmpty,
        _ => HostErrorKind::Other,
    };
    HostError {
        op,
        path: path.to_owned(),
        kind,
        source: Box::new(e),
    }
}

fn local_meta(m: &std::fs::Metadata) -> Meta {
    let ft = m.file_type();
    let kind = if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else {
        Kind::Other
    };
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    Meta {
        kind,
        size: m.len(),
        mtime,
    }
}

fn utf8(op: &'static str, p: std::path::PathBuf) -> Result<Utf8PathBuf, HostError> {
    Utf8PathBuf::from_path_buf(p).map_err(|p| HostError {
        op,
        path: Utf8PathBuf::from(p.to_string_lossy().into_owned()),
        kind: HostErrorKind::Other,
        source: "path is not UTF-8".into(),
    })
}

impl Host for LocalHost {
    type File = LocalFile;

    fn realpath(&self, p: &Utf8Path) -> Result<Utf8PathBuf, HostError> {
        match std::fs::canonicalize(p) {
            Ok(r) => utf8("realpath", r),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // OpenSSH accepts a missing last component when its parent resolves.
                match (p.parent(), p.file_name()) {
                    (Some(parent), Some(name)) if std::fs::symlink_metadata(p).is_err() => {
                        let parent = std::fs::canonicalize(parent)
                            .map_err(|e| local_err("realpath", p, e))?;
                        Ok(utf8("realpath", parent)?.join(name))
                    }
                    _ => Err(local_err("realpath", p, e)),
                }
            }
            Err(e) => Err(local_err("realpath", p, e)),
        }
    }
    fn stat(&self, p: &Utf8Path) -> Result<Meta, HostError> {
        std::fs::metadata(p)
            .map(|m| local_meta(&m))
            .map_err(|e| local_err("stat", p, e))
    }
    fn lstat(&self, p: &Utf8Path) -> Result<Meta, HostError> {
        std::fs::symlink_metadata(p)
            .map(|m| local_meta(&m))
            .map_err(|e| local_err("lstat", p, e))
    }
    fn read_dir(&self, p: &Utf8Path) -> Result<Vec<RawEntry>, HostError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(p).map_err(|e| local_err("read_dir", p, e))? {
            let entry = entry.map_err(|e| local_err("read_dir", p, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = entry.metadata().map_err(|e| local_err("lstat", p, e))?;
            out.push(RawEntry {
                name,
                meta: local_meta(&meta),
            });
        }
        Ok(out)
    }
    fn mkdir(&self, p: &Utf8Path, mode: i32) -> Result<(), HostError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(mode as u32)
            .create(p)
            .map_err(|e| local_err("mkdir", p, e))
    }
    fn unlink(&self, p: &Utf8Path) -> Result<(), HostError> {
        std::fs::remove_file(p).map_err(|e| local_err("unlink", p, e))
    }
    fn rmdir(&self, p: &Utf8Path) -> Result<(), HostError> {
        std::fs::remove_dir(p).map_err(|e| local_err("rmdir", p, e))
    }
    fn create_new(&self, p: &Utf8Path, mode: i32) -> Result<LocalFile, HostError> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode as u32)
            .open(p)
            .map_err(|e| local_err("create", p, e))?;
        Ok(LocalFile {
            file,
            path: p.to_owned(),
        })
    }
    fn open_append_at(&self, p: &Utf8Path, offset: u64) -> Result<LocalFile, HostError> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .map_err(|e| local_err("open", p, e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| local_err("seek", p, e))?;
        Ok(LocalFile {
            file,
            path: p.to_owned(),
        })
    }
    fn open_read(&self, p: &Utf8Path, offset: u64) -> Result<LocalFile, HostError> {
        let mut file = std::fs::File::open(p).map_err(|e| local_err("open", p, e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| local_err("seek", p, e))?;
        Ok(LocalFile {
            file,
            path: p.to_owned(),
        })
    }
    fn fsync(&self, f: &mut LocalFile) -> Result<bool, HostError> {
        f.file
            .sync_all()
            .map(|()| true)
            .map_err(|e| local_err("fsync", &f.path, e))
    }
    fn close(&self, f: LocalFile) -> Result<(), HostError> {
        drop(f);
        Ok(())
    }
    fn rename_atomic(&self, from: &Utf8Path, to: &Utf8Path) -> Result<(), HostError> {
        std::fs::rename(from, to).map_err(|e| local_err("rename", from, e))
    }
    fn home(&self) -> Result<Utf8PathBuf, HostError> {
        std::env::home_dir()
            .ok_or_else(|| HostError {
                op: "home",
                path: Utf8PathBuf::from("~"),
                kind: HostErrorKind::NotFound,
                source: "no home directory".into(),
            })
            .and_then(|h| utf8("home", h))
    }
}
