//! The write probe: proves that files can be created and removed in one folder of the install
//! (a root such as `custom_nodes`, or `models`, the folder that holds the model roots), without
//! leaving anything behind and without writing through a symlink.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use camino::Utf8PathBuf;

use super::{FsError, RemoteFs, RootState};
use crate::host::{Host, Kind};
use crate::layout::is_within;
use crate::path::Name;

/// Start of every probe file's name (the rest makes it unique).
pub const PROBE_PREFIX: &str = ".comfy-local-write-probe-";

/// What a probe file contains.
const PROBE_CONTENT: &[u8] = b"comfy-local write probe\n";

/// Tells apart the probes of one process that start in the same nanosecond.
static PROBE_COUNTER: AtomicU64 = AtomicU64::new(0);

impl<H: Host> RemoteFs<H> {
    /// Creates a uniquely named file in `folder` (one name directly in the install: a root,
    /// or a folder holding roots, like `models`), writes a line to it and removes it again;
    /// returns the canonical folder probed.
    ///
    /// The folder must be a root that exists, or hold roots and resolve inside the install or
    /// to the parent of one of those roots; anything else is refused before anything is
    /// written. The file is created with `O_EXCL`, so nothing that already exists there (not
    /// even a dangling symlink) is written through, and it is `lstat`'d before removal, so only
    /// the plain file the probe made is removed.
    pub fn probe_write(&self, folder: &str) -> Result<Utf8PathBuf, FsError> {
        let dir = self.probe_dir(folder)?;
        let name = format!(
            "{PROBE_PREFIX}{}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            PROBE_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let probe = dir.join(name);
        let mut file = self.host.create_new(&probe, 0o600)?;
        let written = file
            .write_all(PROBE_CONTENT)
            .and_then(|()| file.flush())
            .map_err(|source| FsError::Write {
                path: probe.clone(),
                source,
            });
        let closed = self.host.close(file).map_err(FsError::from);
        // Remove the probe even when writing failed: it is ours (created exclusively above).
        let meta = self.host.lstat(&probe)?;
        let requested = || format!("the write probe in {folder}");
        match meta.kind {
            Kind::File => {}
            Kind::Symlink => {
                return Err(FsError::SymlinkTarget {
                    requested: requested(),
                    path: probe,
                });
            }
            kind => {
                return Err(FsError::NotAFile {
                    requested: requested(),
                    path: probe,
                    kind,
                });
            }
        }
        self.host.unlink(&probe)?;
        written?;
        closed?;
        Ok(dir)
    }

    /// The canonical directory a probe of `folder` writes in (see [`RemoteFs::probe_write`]).
    fn probe_dir(&self, folder: &str) -> Result<Utf8PathBuf, FsError> {
        let name = Name::parse(folder, self.os)?;
        let configured = self.layout.install().join(name.as_str());
        let refuse = || FsError::NotAProbeFolder {
            folder: folder.to_owned(),
            path: configured.clone(),
        };
        let roots = self.layout.roots();
        if let Some((id, _)) = roots.iter().find(|(_, p)| *p == configured) {
            return self.root_dir(id).map(ToOwned::to_owned);
        }
        // A folder holding roots (`models`): its canonical roots' parents, or inside the install.
        let held: Vec<&RootState> = roots
            .iter()
            .filter(|(_, p)| p.parent() == Some(configured.as_path()))
            .filter_map(|(id, _)| self.roots.get(id))
            .collect();
        if held.is_empty() {
            return Err(refuse());
        }
        let real = self.host.realpath(&configured)?;
        let parent_of_root = held.iter().any(|state| match state {
            RootState::Ready(root) => root.parent() == Some(real.as_path()),
            RootState::Missing(_) => false,
        });
        if !parent_of_root && !is_within(&self.install, &real) {
            return Err(refuse());
        }
        let meta = self.host.stat(&real)?;
        if meta.kind != Kind::Dir {
            return Err(FsError::NotADirectory {
                requested: folder.to_owned(),
                path: real,
                kind: meta.kind,
            });
        }
        Ok(real)
    }
}
