//! Saving server-named files into the output folder without ever replacing a file or following
//! a link: names are checked, folders are opened one component at a time relative to the
//! already-open parent (`openat` with `O_NOFOLLOW | O_DIRECTORY`, through rustix), and each
//! file is written under a temp name and hard-linked to a free final name (`linkat` fails
//! instead of replacing; `renameat2(RENAME_NOREPLACE)` where hard links are not supported), so
//! no partial file ever sits under a final name.
//!
//! Why `openat` rather than `std` + `symlink_metadata` checks: a check followed by a path-based
//! open can be raced (a folder swapped for a symlink in between); a descriptor-relative open
//! with `O_NOFOLLOW` cannot. Only the `--out` folder itself is opened by path (it is the user's
//! own choice, symlinks included).

use std::fs::File;
use std::io::Write as _;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};

use camino::{Utf8Path, Utf8PathBuf};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

/// Why a server-given name is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Empty, `.`/`..`, or with a separator, `:`, NUL or a control character.
    #[error("{0:?} is not a plain file or folder name")]
    NotPlain(String),
    /// Starts with a dot (`.git`, `.bashrc`, `.ssh`): such names configure programs.
    #[error("{0:?} starts with a dot (hidden files such as .git/ or .bashrc are never written)")]
    LeadingDot(String),
}

/// Checks one path component a server gave us.
pub fn check_component(part: &str) -> Result<(), NameError> {
    if part.starts_with('.') && !part.is_empty() && part != "." && part != ".." {
        return Err(NameError::LeadingDot(part.to_owned()));
    }
    let plain = !part.is_empty()
        && part != "."
        && part != ".."
        && !part.contains(['/', '\\', '\0', ':'])
        && !part.chars().any(char::is_control);
    if plain {
        Ok(())
    } else {
        Err(NameError::NotPlain(part.to_owned()))
    }
}

/// The `n`-th alternative of a file name, as browsers pick them: `name.png`, `name (1).png`, ...
pub fn numbered(name: &str, n: u32) -> String {
    if n == 0 {
        return name.to_owned();
    }
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{} ({n}){}", &name[..dot], &name[dot..]),
        _ => format!("{name} ({n})"),
    }
}

/// How many alternative names are tried before giving up.
const MAX_ALTERNATIVES: u32 = 10_000;

/// What went wrong while saving one file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SaveError {
    /// The server-given name was refused.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A folder component inside the output folder is a symlink (or not a folder).
    #[error("{path} is a symlink or not a folder; not following it")]
    NotAFolder {
        /// The component, under the output folder.
        path: Utf8PathBuf,
    },
    /// A local file operation failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Where.
        path: Utf8PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Filling the file failed (the download or the data source).
    #[error("{0}")]
    Fill(String),
}

/// The output folder, opened once; every file goes below it.
#[derive(Debug)]
pub struct OutDir {
    fd: OwnedFd,
    path: Utf8PathBuf,
}

fn io_err(op: &'static str, path: &Utf8Path) -> impl FnOnce(Errno) -> SaveError {
    let path = path.to_owned();
    move |e| SaveError::Io {
        op,
        path,
        source: e.into(),
    }
}

impl OutDir {
    /// Creates (with parents) and opens the output folder.
    pub fn create(path: &Utf8Path) -> Result<Self, SaveError> {
        std::fs::create_dir_all(path).map_err(|source| SaveError::Io {
            op: "creating",
            path: path.to_owned(),
            source,
        })?;
        let fd = rustix::fs::open(
            path.as_std_path(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(io_err("opening", path))?;
        Ok(Self {
            fd,
            path: path.to_owned(),
        })
    }

    /// The folder as given.
    pub fn path(&self) -> &Utf8Path {
        &self.path
    }

    /// Opens (creating if missing) `folders` below the output folder, one component at a
    /// time, never following a symlink.
    fn open_folders(&self, folders: &[&str]) -> Result<(OwnedFd, Utf8PathBuf), SaveError> {
        let mut path = self.path.clone();
        for part in folders {
            check_component(part)?;
        }
        let mut dir = rustix::io::dup(&self.fd).map_err(io_err("opening", &path))?;
        for part in folders {
            path.push(part);
            match rustix::fs::mkdirat(&dir, *part, Mode::from_raw_mode(0o777)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(io_err("creating", &path)(e)),
            }
            dir = match rustix::fs::openat(
                &dir,
                *part,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    return Err(SaveError::NotAFolder { path });
                }
                Err(e) => return Err(io_err("opening", &path)(e)),
            };
        }
        Ok((dir, path))
    }

    /// Saves a file named `name` in `folders`: `fill` writes its content into a fresh temp
    /// file, which is then linked to the first free name among `name`, `name (1)`, ... The
    /// file's mode is 0666 minus the umask. Returns the final path and the bytes written.
    pub fn save(
        &self,
        folders: &[&str],
        name: &str,
        fill: &mut dyn FnMut(&mut File) -> Result<u64, String>,
    ) -> Result<(Utf8PathBuf, u64), SaveError> {
        check_component(name)?;
        for part in folders {
            check_component(part)?;
        }
        let (dir, dir_path) = self.open_folders(folders)?;
        let (tmp_name, fd) = create_temp(&dir, &dir_path)?;
        let result = fill_and_link(&dir, &dir_path, &tmp_name, fd, name, fill);
        // The temp name goes away in every case (after a link, the file lives on under its name).
        let _ = rustix::fs::unlinkat(&dir, tmp_name.as_str(), AtFlags::empty());
        result
    }
}

/// A new, empty temp file in `dir`, created exclusively (mode 0666 minus the umask).
fn create_temp(dir: &OwnedFd, dir_path: &Utf8Path) -> Result<(String, OwnedFd), SaveError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            ".comfy-local-download-{}-{}-{nanos:x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        match rustix::fs::openat(
            dir,
            name.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o666),
        ) {
            Ok(fd) => return Ok((name, fd)),
            Err(Errno::EXIST) => {}
            Err(e) => return Err(io_err("creating a temp file in", dir_path)(e)),
        }
    }
}

fn fill_and_link(
    dir: &OwnedFd,
    dir_path: &Utf8Path,
    tmp_name: &str,
    fd: OwnedFd,
    name: &str,
    fill: &mut dyn FnMut(&mut File) -> Result<u64, String>,
) -> Result<(Utf8PathBuf, u64), SaveError> {
    let mut written = File::from(fd);
    let bytes = fill(&mut written).map_err(SaveError::Fill)?;
    let io = |op: &'static str| {
        let path = dir_path.join(name);
        move |source| SaveError::Io { op, path, source }
    };
    written.flush().map_err(io("writing"))?;
    written.sync_all().map_err(io("syncing"))?;
    drop(written);
    for n in 0..MAX_ALTERNATIVES {
        let candidate = numbered(name, n);
        match link_noreplace(dir, tmp_name, &candidate) {
            Ok(()) => return Ok((dir_path.join(candidate), bytes)),
            Err(Errno::EXIST) => {}
            Err(e) => return Err(io_err("linking into place", &dir_path.join(candidate))(e)),
        }
    }
    Err(SaveError::Io {
        op: "finding a free name for",
        path: dir_path.join(name),
        source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
    })
}

/// Gives the temp file its final name, failing with `EEXIST` rather than replacing anything:
/// `linkat`, or on file systems without hard links, `renameat2(RENAME_NOREPLACE)`.
fn link_noreplace(dir: &OwnedFd, tmp_name: &str, name: &str) -> Result<(), Errno> {
    match rustix::fs::linkat(dir, tmp_name, dir, name, AtFlags::empty()) {
        Err(Errno::PERM | Errno::NOTSUP | Errno::MLINK) => {
            rustix::fs::renameat_with(dir, tmp_name, dir, name, rustix::fs::RenameFlags::NOREPLACE)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternatives_keep_the_extension() {
        assert_eq!(numbered("a.png", 0), "a.png");
        assert_eq!(numbered("a.png", 1), "a (1).png");
        assert_eq!(numbered("a.tar.gz", 2), "a.tar (2).gz");
        assert_eq!(numbered("noext", 3), "noext (3)");
    }

    #[test]
    fn leading_dots_and_odd_names_are_refused() {
        for bad in [".git", ".bashrc", ".ssh"] {
            assert_eq!(
                check_component(bad),
                Err(NameError::LeadingDot(bad.to_owned()))
            );
        }
        for bad in ["", ".", "..", "a/b", "a\\b", "c:", "x\u{1b}y"] {
            assert!(matches!(check_component(bad), Err(NameError::NotPlain(_))));
        }
        assert_eq!(check_component("ComfyUI_00001_.png"), Ok(()));
    }

    fn dir() -> (tempfile::TempDir, Utf8PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = Utf8PathBuf::from_path_buf(d.path().to_path_buf()).unwrap();
        (d, p)
    }

    fn put(
        out: &OutDir,
        folders: &[&str],
        name: &str,
        body: &[u8],
    ) -> Result<Utf8PathBuf, SaveError> {
        out.save(folders, name, &mut |f| {
            f.write_all(body).map_err(|e| e.to_string())?;
            Ok(body.len() as u64)
        })
        .map(|(p, _)| p)
    }

    #[test]
    fn an_existing_name_is_never_replaced() {
        let (_g, root) = dir();
        let out = OutDir::create(&root).unwrap();
        std::fs::write(root.join("a.png"), "mine").unwrap();
        let first = put(&out, &[], "a.png", b"one").unwrap();
        let second = put(&out, &[], "a.png", b"two").unwrap();
        assert_eq!(first, root.join("a (1).png"));
        assert_eq!(second, root.join("a (2).png"));
        assert_eq!(std::fs::read_to_string(root.join("a.png")).unwrap(), "mine");
        assert_eq!(std::fs::read_to_string(&second).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(&root).unwrap().flatten().collect();
        assert_eq!(names.len(), 3, "no temp file is left: {names:?}");
    }

    #[test]
    fn a_symlinked_folder_is_not_followed() {
        let (_g, root) = dir();
        let (_g2, elsewhere) = dir();
        std::os::unix::fs::symlink(&elsewhere, root.join("sub")).unwrap();
        let out = OutDir::create(&root).unwrap();
        let err = put(&out, &["sub"], "a.png", b"x").unwrap_err();
        assert!(matches!(err, SaveError::NotAFolder { .. }), "{err:?}");
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    }

    #[test]
    fn a_symlink_under_the_final_name_is_not_replaced_or_followed() {
        let (_g, root) = dir();
        let (_g2, elsewhere) = dir();
        std::os::unix::fs::symlink(elsewhere.join("target"), root.join("a.png")).unwrap();
        let out = OutDir::create(&root).unwrap();
        let saved = put(&out, &[], "a.png", b"x").unwrap();
        assert_eq!(saved, root.join("a (1).png"));
        assert!(!elsewhere.join("target").exists());
    }

    #[test]
    fn a_failed_fill_leaves_nothing() {
        let (_g, root) = dir();
        let out = OutDir::create(&root).unwrap();
        let err = out
            .save(&["x"], "a.png", &mut |f| {
                f.write_all(b"partial").map_err(|e| e.to_string())?;
                Err("download broke".to_owned())
            })
            .unwrap_err();
        assert!(matches!(err, SaveError::Fill(_)));
        assert_eq!(std::fs::read_dir(root.join("x")).unwrap().count(), 0);
    }
}
