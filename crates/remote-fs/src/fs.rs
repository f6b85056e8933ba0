//! Path-safe operations on the allowed roots of one ComfyUI install on a host.
//!
//! [`RemoteFs::open`] canonicalises every root on the host once (SFTP `realpath`), so a root
//! that is itself a symlink to an allowed place works; the install root must exist and be a
//! directory, any existing root must be a directory, and a configured root that does not exist
//! is recorded as missing (ComfyUI skips such paths too) and refused for every operation.
//!
//! Every operation then re-checks on the host what it touches:
//! - an existing target is `realpath`'d and must stay inside its root, compared component-wise;
//! - for a new file the parent is `realpath`'d (inside the root) and the target is `lstat`'d and
//!   must not be a symlink or a directory;
//! - writes go to `<name>.part` in the same folder (created exclusively, or resumed after an
//!   `lstat` that shows a plain file), are fsync'd and renamed atomically into place, so a failed
//!   or interrupted write never leaves a partial file under the final name;
//! - deletes `lstat` the target and never follow a symlink;
//! - names that the host returns in directory listings are validated before use (the scp
//!   CVE-2019-6111 lesson); invalid ones are reported, never used.
//!
//! # The remaining race
//! SFTP has no `openat`/`O_NOFOLLOW`/`O_BENEATH`: every request names a full path, which the
//! server resolves again. Between our `realpath`/`lstat` check and the `open`, `rename` or
//! `remove` that follows, someone who can write in the same folders could swap a component for a
//! symlink and redirect the operation outside the root. The checks above close every case where
//! the tree is not changed concurrently by another writer; the concurrent case is closed by the
//! host setup, which makes the dedicated SSH user the only writer of the ComfyUI folders (see
//! the crate README, "Remaining race").

// RemoteFs is the checked wrapper the raw host writes are disallowed for everywhere else.
#![expect(
    clippy::disallowed_methods,
    reason = "RemoteFs performs each raw host write only after its realpath/lstat checks"
)]

mod error;
#[cfg(feature = "ssh")]
mod fetch;
mod probe;
mod transfer;
mod walk;

use std::collections::BTreeMap;
use std::io::Read;

use camino::{Utf8Path, Utf8PathBuf};

use crate::extra_paths::{Expansion, ExtraPaths, parse_extra_model_paths};
use crate::folders::{FolderName, SpecialDir};
use crate::host::{Host, HostErrorKind, Kind, Meta};
use crate::layout::{Area, Layout, RemotePath, RootId, is_within};
use crate::path::{HostOs, RelPath};

pub use error::FsError;
#[cfg(feature = "ssh")]
pub use fetch::{HostFetch, HostFetchFailure};
pub use probe::PROBE_PREFIX;
pub use transfer::{PART_SUFFIX, Progress, PutOptions, PutReport};
pub use walk::{Entry, Listing, ModelFile, ModelFiles, RejectedName};

/// `extra_model_paths.yaml` larger than this is refused.
const MAX_EXTRA_YAML: u64 = 1024 * 1024;

/// How a root turned out on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootState {
    /// Canonical (realpath'd) directory.
    Ready(Utf8PathBuf),
    /// The configured path does not exist (ComfyUI skips it too).
    Missing(Utf8PathBuf),
}

/// How to find the roots of an install.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// ComfyUI's install directory on the host.
    pub install: Utf8PathBuf,
    pub os: HostOs,
    /// Read `<install>/extra_model_paths.yaml` when it exists (ComfyUI always does).
    pub read_default_extra: bool,
    /// More files, like ComfyUI's `--extra-model-paths-config`.
    pub extra_configs: Vec<Utf8PathBuf>,
    /// Values for `~` and variables in those files; `None` uses the SSH user's home.
    pub expansion: Option<Expansion>,
    /// ComfyUI's `--output-directory` and friends.
    pub dirs: Vec<(SpecialDir, Utf8PathBuf)>,
}

impl OpenOptions {
    pub fn new(install: impl Into<Utf8PathBuf>) -> Self {
        OpenOptions {
            install: install.into(),
            os: HostOs::Posix,
            read_default_extra: true,
            extra_configs: Vec::new(),
            expansion: None,
            dirs: Vec::new(),
        }
    }
}

/// The allowed roots of one ComfyUI install, checked on the host, and the operations on them.
#[derive(Debug)]
pub struct RemoteFs<H: Host> {
    host: H,
    os: HostOs,
    layout: Layout,
    install: Utf8PathBuf,
    roots: BTreeMap<RootId, RootState>,
    extra: Vec<(Utf8PathBuf, ExtraPaths)>,
}

impl<H: Host> RemoteFs<H> {
    /// Builds the layout (defaults + `extra_model_paths.yaml`) and canonicalises every root.
    pub fn open(host: H, opts: &OpenOptions) -> Result<Self, FsError> {
        let mut layout = Layout::comfyui_default(&opts.install)?;
        for (dir, path) in &opts.dirs {
            layout.set_dir(*dir, path)?;
        }
        let install = match canonical_dir(&host, layout.install())? {
            DirState::Ready(p) => p,
            DirState::Missing => {
                return Err(FsError::InstallMissing {
                    path: opts.install.clone(),
                });
            }
            DirState::NotADir(kind) => {
                return Err(FsError::InstallNotADirectory {
                    path: opts.install.clone(),
                    kind,
                });
            }
        };
        let mut files: Vec<Utf8PathBuf> = Vec::new();
        if opts.read_default_extra {
            let default = install.join("extra_model_paths.yaml");
            match host.lstat(&default) {
                Ok(_) => files.push(default),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        files.extend(opts.extra_configs.iter().cloned());
        let mut extra = Vec::new();
        if !files.is_empty() {
            let expansion = if let Some(e) = &opts.expansion {
                e.clone()
            } else {
                let home = host.home()?;
                Expansion::with_home(home.as_str())
            };
            for file in files {
                let text = read_small_text(&host, &file)?;
                let parsed = parse_extra_model_paths(&text, &file, &expansion, opts.os)?;
                layout.add_extra(&parsed);
                extra.push((file, parsed));
            }
        }
        let mut roots = BTreeMap::new();
        for (id, path) in layout.roots() {
            let state = match canonical_dir(&host, &path)? {
                DirState::Ready(real) => RootState::Ready(real),
                DirState::Missing => RootState::Missing(path),
                DirState::NotADir(kind) => {
                    return Err(FsError::RootNotADirectory {
                        root: id,
                        path,
                        kind,
                    });
                }
            };
            roots.insert(id, state);
        }
        Ok(RemoteFs {
            host,
            os: opts.os,
            layout,
            install,
            roots,
            extra,
        })
    }

    pub fn host(&self) -> &H {
        &self.host
    }
    pub fn os(&self) -> HostOs {
        self.os
    }
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    /// Canonical path of the install.
    pub fn install(&self) -> &Utf8Path {
        &self.install
    }
    /// Every root and how it turned out.
    pub fn roots(&self) -> &BTreeMap<RootId, RootState> {
        &self.roots
    }
    /// The `extra_model_paths.yaml` files read, with what each added or skipped.
    pub fn extra_files(&self) -> &[(Utf8PathBuf, ExtraPaths)] {
        &self.extra
    }

    /// Validates `relative` below `root` with this host's rules.
    pub fn path(&self, root: RootId, relative: &str) -> Result<RemotePath, FsError> {
        Ok(RemotePath::new(root, relative, self.os)?)
    }

    /// Validates `relative` below the first root of `folder` (where ComfyUI-style downloads go).
    pub fn model_path(&self, folder: &str, relative: &str) -> Result<RemotePath, FsError> {
        let folder = FolderName::parse(folder)?;
        if self.layout.folder(&folder).is_none() {
            return Err(FsError::UnknownFolder { folder });
        }
        self.path(RootId::primary(Area::Folder(folder)), relative)
    }

    /// Creates a missing root that lies directly in an existing folder of the install (say
    /// `models/model_patches` on an older checkout) and marks it ready. Roots elsewhere (from
    /// `extra_model_paths.yaml`) are never created: they may live on storage that is not mounted.
    pub fn create_root(&mut self, root: &RootId) -> Result<&Utf8Path, FsError> {
        let configured = match self.roots.get(root) {
            Some(RootState::Ready(_)) => return self.root_dir(root),
            Some(RootState::Missing(p)) => p.clone(),
            None => return Err(FsError::UnknownRoot { root: root.clone() }),
        };
        let outside = || FsError::RootOutsideInstall {
            root: root.clone(),
            path: configured.clone(),
            install: self.install.clone(),
        };
        let (Some(parent), Some(name)) = (configured.parent(), configured.file_name()) else {
            return Err(outside());
        };
        let parent_real = match self.host.realpath(parent) {
            Ok(p) => p,
            Err(e) if e.is_not_found() => return Err(outside()),
            Err(e) => return Err(e.into()),
        };
        let in_install = is_within(&self.install, &parent_real)
            && self.layout.install().as_str() != configured.as_str();
        if !in_install || !configured.starts_with(self.layout.install()) {
            return Err(outside());
        }
        let meta = self.host.stat(&parent_real)?;
        if meta.kind != Kind::Dir {
            return Err(outside());
        }
        let target = parent_real.join(name);
        match self.host.lstat(&target) {
            Err(e) if e.is_not_found() => {
                self.host.mkdir(&target, 0o755)?;
            }
            Err(e) => return Err(e.into()),
            Ok(m) => {
                return Err(FsError::RootNotADirectory {
                    root: root.clone(),
                    path: target,
                    kind: m.kind,
                });
            }
        }
        let real = self.host.realpath(&target)?;
        if !is_within(&self.install, &real) {
            return Err(outside());
        }
        self.roots.insert(root.clone(), RootState::Ready(real));
        self.root_dir(root)
    }

    /// Canonical path of a root that exists.
    pub fn root_dir(&self, root: &RootId) -> Result<&Utf8Path, FsError> {
        match self.roots.get(root) {
            Some(RootState::Ready(p)) => Ok(p),
            Some(RootState::Missing(p)) => Err(FsError::RootMissing {
                root: root.clone(),
                path: p.clone(),
            }),
            None => Err(FsError::UnknownRoot { root: root.clone() }),
        }
    }

    fn escape(root: &Utf8Path, p: &RemotePath, resolved: Utf8PathBuf) -> FsError {
        FsError::PathEscape {
            root: root.to_owned(),
            requested: p.to_string(),
            resolved,
        }
    }

    /// An existing target, realpath'd; must stay inside its root. `None` when it does not exist.
    fn resolve_existing(&self, p: &RemotePath) -> Result<Option<(Utf8PathBuf, Meta)>, FsError> {
        let root = self.root_dir(p.root())?;
        let full = join_rel(root, p.relative());
        let real = match self.host.realpath(&full) {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if !is_within(root, &real) {
            return Err(Self::escape(root, p, real));
        }
        match self.host.stat(&real) {
            Ok(meta) => Ok(Some((real, meta))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The parent of a target, realpath'd and inside the root (created when `create` is set),
    /// plus the target's final path and `lstat` result (`None`: does not exist).
    fn resolve_new(
        &self,
        p: &RemotePath,
        create: bool,
    ) -> Result<(Utf8PathBuf, Utf8PathBuf, Option<Meta>), FsError> {
        let (Some(parent), Some(name)) = (p.relative().parent(), p.relative().file_name()) else {
            return Err(FsError::NeedsName {
                requested: p.to_string(),
            });
        };
        let parent_path = RemotePath::from_parts(p.root().clone(), parent);
        let parent_real = self
            .resolve_parent(p, &parent_path, create)
            .map_err(|e| with_requested(e, p))?;
        let target = parent_real.join(name);
        let meta = match self.host.lstat(&target) {
            Ok(m) => Some(m),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        Ok((parent_real, target, meta))
    }

    fn resolve_parent(
        &self,
        p: &RemotePath,
        parent_path: &RemotePath,
        create: bool,
    ) -> Result<Utf8PathBuf, FsError> {
        Ok(if create {
            self.ensure_dir(parent_path)?
        } else {
            match self.resolve_existing(parent_path)? {
                Some((real, meta)) if meta.kind == Kind::Dir => real,
                Some((real, meta)) => {
                    return Err(FsError::NotADirectory {
                        requested: parent_path.to_string(),
                        path: real,
                        kind: meta.kind,
                    });
                }
                None => {
                    let root = self.root_dir(p.root())?;
                    return Err(FsError::NotFound {
                        requested: parent_path.to_string(),
                        path: join_rel(root, parent_path.relative()),
                    });
                }
            }
        })
    }

    /// `mkdir -p` below the root: every component is `lstat`'d; an existing symlink must
    /// resolve inside the root; a missing one is created. Returns the canonical directory.
    fn ensure_dir(&self, p: &RemotePath) -> Result<Utf8PathBuf, FsError> {
        let root = self.root_dir(p.root())?;
        let mut cur = root.to_owned();
        for comp in p.relative().components() {
            let next = cur.join(comp);
            let meta = match self.host.lstat(&next) {
                Ok(m) => Some(m),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e.into()),
            };
            cur = match meta.map(|m| m.kind) {
                None => {
                    match self.host.mkdir(&next, 0o755) {
                        Ok(()) => {}
                        Err(e) if e.kind == HostErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e.into()),
                    }
                    self.checked_dir(root, p, &next)?
                }
                Some(Kind::Dir | Kind::Symlink) => self.checked_dir(root, p, &next)?,
                Some(kind) => {
                    return Err(FsError::NotADirectory {
                        requested: p.to_string(),
                        path: next,
                        kind,
                    });
                }
            };
        }
        Ok(cur)
    }

    /// `realpath` of `dir`, which must be inside `root` and a directory.
    fn checked_dir(
        &self,
        root: &Utf8Path,
        p: &RemotePath,
        dir: &Utf8Path,
    ) -> Result<Utf8PathBuf, FsError> {
        let real = self.host.realpath(dir)?;
        if !is_within(root, &real) {
            return Err(Self::escape(root, p, real));
        }
        let meta = self.host.stat(&real)?;
        if meta.kind != Kind::Dir {
            return Err(FsError::NotADirectory {
                requested: p.to_string(),
                path: real,
                kind: meta.kind,
            });
        }
        Ok(real)
    }

    /// Whether the target exists (following symlinks that stay inside the root).
    pub fn exists(&self, p: &RemotePath) -> Result<bool, FsError> {
        Ok(self.resolve_existing(p)?.is_some())
    }

    /// Attributes of an existing target (resolved inside its root).
    pub fn metadata(&self, p: &RemotePath) -> Result<Meta, FsError> {
        self.resolve_existing(p)?
            .map(|(_, m)| m)
            .ok_or_else(|| self.not_found(p))
    }

    fn not_found(&self, p: &RemotePath) -> FsError {
        let path = self
            .root_dir(p.root())
            .map_or_else(|_| Utf8PathBuf::new(), |r| join_rel(r, p.relative()));
        FsError::NotFound {
            requested: p.to_string(),
            path,
        }
    }

    /// Creates the directory and its missing parents below the root.
    pub fn mkdir(&self, p: &RemotePath) -> Result<Utf8PathBuf, FsError> {
        self.ensure_dir(p)
    }

    /// Removes a file, a symlink (never its target) or an empty directory.
    pub fn remove(&self, p: &RemotePath) -> Result<(), FsError> {
        let (_, target, meta) = self.resolve_new(p, false)?;
        let root = self.root_dir(p.root())?;
        match meta.map(|m| m.kind) {
            None => Err(FsError::NotFound {
                requested: p.to_string(),
                path: target,
            }),
            Some(Kind::Dir) => self.host.rmdir(&target).map_err(FsError::from),
            Some(Kind::Symlink) => {
                // The link itself is inside the root; refuse one that points outside, so that
                // nothing here even looks like an operation on a place outside the roots.
                let real = self.host.realpath(&target)?;
                if !is_within(root, &real) {
                    return Err(FsError::SymlinkOutsideRoot {
                        requested: p.to_string(),
                        path: target,
                        resolved: real,
                    });
                }
                self.host.unlink(&target).map_err(FsError::from)
            }
            Some(_) => self.host.unlink(&target).map_err(FsError::from),
        }
    }
}

/// Names the path the caller asked for in an error about one of its parents.
fn with_requested(e: FsError, p: &RemotePath) -> FsError {
    let requested = p.to_string();
    match e {
        FsError::PathEscape { root, resolved, .. } => FsError::PathEscape {
            root,
            requested,
            resolved,
        },
        FsError::NotFound { path, .. } => FsError::ParentNotFound { requested, path },
        FsError::NotADirectory { path, kind, .. } => FsError::NotADirectory {
            requested,
            path,
            kind,
        },
        other => other,
    }
}

fn join_rel(root: &Utf8Path, rel: &RelPath) -> Utf8PathBuf {
    if rel.is_root() {
        root.to_owned()
    } else {
        root.join(rel.as_str())
    }
}

enum DirState {
    Ready(Utf8PathBuf),
    Missing,
    NotADir(Kind),
}

/// The canonical directory at `path`.
fn canonical_dir<H: Host>(host: &H, path: &Utf8Path) -> Result<DirState, FsError> {
    let real = match host.realpath(path) {
        Ok(r) => r,
        Err(e) if e.is_not_found() => return Ok(DirState::Missing),
        Err(e) => return Err(e.into()),
    };
    match host.stat(&real) {
        Ok(m) if m.kind == Kind::Dir => Ok(DirState::Ready(real)),
        Ok(m) => Ok(DirState::NotADir(m.kind)),
        Err(e) if e.is_not_found() => Ok(DirState::Missing),
        Err(e) => Err(e.into()),
    }
}

fn read_small_text<H: Host>(host: &H, path: &Utf8Path) -> Result<String, FsError> {
    let meta = host.stat(path)?;
    if meta.size > MAX_EXTRA_YAML {
        return Err(FsError::TooLarge {
            path: path.to_owned(),
            size: meta.size,
            max: MAX_EXTRA_YAML,
        });
    }
    let f = host.open_read(path, 0)?;
    let mut bytes = Vec::new();
    f.take(MAX_EXTRA_YAML + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| FsError::Read {
            path: path.to_owned(),
            source,
        })?;
    String::from_utf8(bytes).map_err(|_| FsError::NotText {
        path: path.to_owned(),
    })
}
