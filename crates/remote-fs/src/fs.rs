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

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::ops::ControlFlow;

use camino::{Utf8Path, Utf8PathBuf};
use sha2::{Digest, Sha256};

use crate::extra_paths::{Expansion, ExtraPaths, ExtraPathsError, parse_extra_model_paths};
use crate::folders::{Extensions, FolderName, FolderNameError, SpecialDir};
use crate::host::{Host, HostError, HostErrorKind, Kind, Meta};
use crate::layout::{Area, Layout, LayoutError, RemotePath, RootId, is_within};
use crate::path::{HostOs, Name, PathError, RelPath};

/// Write buffer: a multiple of libssh2's 30000-byte SFTP packet, as large as crates/ssh uses so
/// that libssh2 keeps many packets in flight.
const BUF: usize = 30_000 * 34;
/// `extra_model_paths.yaml` larger than this is refused.
const MAX_EXTRA_YAML: u64 = 1024 * 1024;
/// Suffix of the temporary file a put writes before the atomic rename.
pub const PART_SUFFIX: &str = ".part";
/// Directory depth and entry count limits of the recursive model listing.
const MAX_DEPTH: usize = 64;
const MAX_ENTRIES: usize = 200_000;

/// A refused or failed operation. Every variant names the input it was about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FsError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    ExtraPaths(#[from] ExtraPathsError),
    #[error(transparent)]
    FolderName(#[from] FolderNameError),
    #[error("{op} {path} on the host failed")]
    Host {
        op: &'static str,
        path: Utf8PathBuf,
        #[source]
        source: HostError,
    },
    #[error("the ComfyUI install {path} does not exist on the host")]
    InstallMissing { path: Utf8PathBuf },
    #[error("the ComfyUI install {path} is {kind}, not a directory")]
    InstallNotADirectory { path: Utf8PathBuf, kind: Kind },
    #[error("the root {root} ({path}) is {kind}, not a directory")]
    RootNotADirectory {
        root: RootId,
        path: Utf8PathBuf,
        kind: Kind,
    },
    #[error("there is no root {root} in this ComfyUI layout")]
    UnknownRoot { root: RootId },
    #[error("the root {root} ({path}) does not exist on the host")]
    RootMissing { root: RootId, path: Utf8PathBuf },
    #[error(
        "the root {root} ({path}) is not a folder of the ComfyUI install {install}; not creating it"
    )]
    RootOutsideInstall {
        root: RootId,
        path: Utf8PathBuf,
        install: Utf8PathBuf,
    },
    #[error("{requested} resolves to {resolved}, outside the allowed root {root}")]
    PathEscape {
        root: Utf8PathBuf,
        requested: String,
        resolved: Utf8PathBuf,
    },
    #[error("{requested} is a symlink ({path}); refusing to write or delete through it")]
    SymlinkTarget {
        requested: String,
        path: Utf8PathBuf,
    },
    #[error(
        "{requested} is a symlink ({path}) to {resolved}, outside the allowed root; refusing to delete it"
    )]
    SymlinkOutsideRoot {
        requested: String,
        path: Utf8PathBuf,
        resolved: Utf8PathBuf,
    },
    #[error("{requested} does not exist ({path})")]
    NotFound {
        requested: String,
        path: Utf8PathBuf,
    },
    #[error("the folder {path} for {requested} does not exist; create it or pass create_parents")]
    ParentNotFound {
        requested: String,
        path: Utf8PathBuf,
    },
    #[error("{requested} is {kind} ({path}), not a file")]
    NotAFile {
        requested: String,
        path: Utf8PathBuf,
        kind: Kind,
    },
    #[error("{requested} is {kind} ({path}), not a directory")]
    NotADirectory {
        requested: String,
        path: Utf8PathBuf,
        kind: Kind,
    },
    #[error("{requested} names the root itself; this operation needs a name below it")]
    NeedsName { requested: String },
    #[error("{requested} already exists ({path}); pass overwrite to replace it")]
    AlreadyExists {
        requested: String,
        path: Utf8PathBuf,
    },
    #[error("sha256 of {requested} is {actual}, expected {expected}; the upload was discarded")]
    ChecksumMismatch {
        requested: String,
        expected: String,
        actual: String,
    },
    #[error("upload to {requested} was cancelled after {written} bytes; {part} is kept for resume")]
    Cancelled {
        requested: String,
        written: u64,
        part: Utf8PathBuf,
    },
    #[error("reading the source for {requested} failed")]
    Source {
        requested: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reading {path} on the host failed")]
    Read {
        path: Utf8PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path} on the host failed")]
    Write {
        path: Utf8PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the local copy of {requested} failed")]
    Sink {
        requested: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is {size} bytes; at most {max} are read")]
    TooLarge {
        path: Utf8PathBuf,
        size: u64,
        max: u64,
    },
    #[error("{path} is not UTF-8 text")]
    NotText { path: Utf8PathBuf },
    #[error("the name {name} of {requested} with {PART_SUFFIX} appended is longer than 255 bytes")]
    NameTooLongForPart { requested: String, name: String },
    #[error("unknown folder {folder}")]
    UnknownFolder { folder: FolderName },
}

fn host_err<'a>(op: &'static str, path: &'a Utf8Path) -> impl FnOnce(HostError) -> FsError + 'a {
    move |source| FsError::Host {
        op,
        path: path.to_owned(),
        source,
    }
}

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

/// One entry of a directory listing, with a validated name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Name,
    pub kind: Kind,
    pub size: u64,
    pub mtime: Option<u64>,
}

/// A name the host returned that failed validation and was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedName {
    /// The directory it was listed in.
    pub dir: Utf8PathBuf,
    pub error: PathError,
}

/// A directory listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub entries: Vec<Entry>,
    pub rejected: Vec<RejectedName>,
}

/// A model file that ComfyUI lists for a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFile {
    /// The name as ComfyUI shows it (`sub\x.safetensors` on Windows hosts).
    pub name: String,
    pub relative: RelPath,
    /// The root it was found in (the first one in ComfyUI's order, when several have it).
    pub root: RootId,
    pub size: u64,
    pub mtime: Option<u64>,
}

/// What ComfyUI sees in one folder kind, all roots merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelFiles {
    pub files: Vec<ModelFile>,
    pub rejected: Vec<RejectedName>,
    /// Roots that do not exist on the host.
    pub missing_roots: Vec<RootId>,
    /// The walk stopped at the depth or entry limit.
    pub truncated: bool,
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
                Err(e) => return Err(host_err("lstat", &default)(e)),
            }
        }
        files.extend(opts.extra_configs.iter().cloned());
        let mut extra = Vec::new();
        if !files.is_empty() {
            let expansion = if let Some(e) = &opts.expansion {
                e.clone()
            } else {
                let home = host
                    .home()
                    .map_err(host_err("realpath", Utf8Path::new(".")))?;
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
            Err(e) => return Err(host_err("realpath", parent)(e)),
        };
        let in_install = is_within(&self.install, &parent_real)
            && self.layout.install().as_str() != configured.as_str();
        if !in_install || !configured.starts_with(self.layout.install()) {
            return Err(outside());
        }
        let meta = self
            .host
            .stat(&parent_real)
            .map_err(host_err("stat", &parent_real))?;
        if meta.kind != Kind::Dir {
            return Err(outside());
        }
        let target = parent_real.join(name);
        match self.host.lstat(&target) {
            Err(e) if e.is_not_found() => {
                self.host
                    .mkdir(&target, 0o755)
                    .map_err(host_err("mkdir", &target))?;
            }
            Err(e) => return Err(host_err("lstat", &target)(e)),
            Ok(m) => {
                return Err(FsError::RootNotADirectory {
                    root: root.clone(),
                    path: target,
                    kind: m.kind,
                });
            }
        }
        let real = self
            .host
            .realpath(&target)
            .map_err(host_err("realpath", &target))?;
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
            Err(e) => return Err(host_err("realpath", &full)(e)),
        };
        if !is_within(root, &real) {
            return Err(Self::escape(root, p, real));
        }
        match self.host.stat(&real) {
            Ok(meta) => Ok(Some((real, meta))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(host_err("stat", &real)(e)),
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
            Err(e) => return Err(host_err("lstat", &target)(e)),
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
                Err(e) => return Err(host_err("lstat", &next)(e)),
            };
            cur = match meta.map(|m| m.kind) {
                None => {
                    match self.host.mkdir(&next, 0o755) {
                        Ok(()) => {}
                        Err(e) if e.kind == HostErrorKind::AlreadyExists => {}
                        Err(e) => return Err(host_err("mkdir", &next)(e)),
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
        let real = self.host.realpath(dir).map_err(host_err("realpath", dir))?;
        if !is_within(root, &real) {
            return Err(Self::escape(root, p, real));
        }
        let meta = self.host.stat(&real).map_err(host_err("stat", &real))?;
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
            Some(Kind::Dir) => self.host.rmdir(&target).map_err(host_err("rmdir", &target)),
            Some(Kind::Symlink) => {
                // The link itself is inside the root; refuse one that points outside, so that
                // nothing here even looks like an operation on a place outside the roots.
                let real = self
                    .host
                    .realpath(&target)
                    .map_err(host_err("realpath", &target))?;
                if !is_within(root, &real) {
                    return Err(FsError::SymlinkOutsideRoot {
                        requested: p.to_string(),
                        path: target,
                        resolved: real,
                    });
                }
                self.host
                    .unlink(&target)
                    .map_err(host_err("unlink", &target))
            }
            Some(_) => self
                .host
                .unlink(&target)
                .map_err(host_err("unlink", &target)),
        }
    }

    /// Lists one directory (not recursive), with validated names and `lstat` attributes.
    pub fn list(&self, p: &RemotePath) -> Result<Listing, FsError> {
        let (real, meta) = self.resolve_existing(p)?.ok_or_else(|| self.not_found(p))?;
        if meta.kind != Kind::Dir {
            return Err(FsError::NotADirectory {
                requested: p.to_string(),
                path: real,
                kind: meta.kind,
            });
        }
        let raw = self
            .host
            .read_dir(&real)
            .map_err(host_err("read_dir", &real))?;
        let mut out = Listing::default();
        for e in raw {
            if e.name == "." || e.name == ".." {
                continue;
            }
            match Name::parse(&e.name, self.os) {
                Ok(name) => out.entries.push(Entry {
                    name,
                    kind: e.meta.kind,
                    size: e.meta.size,
                    mtime: e.meta.mtime,
                }),
                Err(error) => out.rejected.push(RejectedName {
                    dir: real.clone(),
                    error,
                }),
            }
        }
        out.entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

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
        let mut f = self
            .host
            .open_read(&real, 0)
            .map_err(host_err("open", &real))?;
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
        self.host.close(f).map_err(host_err("close", &real))?;
        Ok(done)
    }

    /// Uploads `source` to `dest` via `<name>.part` and an atomic rename. With `resume`, an
    /// existing `.part` is continued: its bytes are kept and the same number of bytes of
    /// `source` are skipped. The sha256 covers the whole final file (the kept prefix is read
    /// back from the host). `progress` may return `Break` to stop; the `.part` is kept.
    pub fn put(
        &self,
        dest: &RemotePath,
        source: &mut dyn Read,
        opts: &PutOptions,
        progress: &mut dyn FnMut(Progress) -> ControlFlow<()>,
    ) -> Result<PutReport, FsError> {
        let requested = dest.to_string();
        let (parent, target, meta) = self.resolve_new(dest, opts.create_parents)?;
        let name = dest.relative().file_name().unwrap_or_default();
        check_final(&requested, &target, meta, opts.overwrite)?;
        let part_name = format!("{name}{PART_SUFFIX}");
        if part_name.len() > crate::path::MAX_NAME_BYTES {
            return Err(FsError::NameTooLongForPart {
                requested,
                name: name.to_owned(),
            });
        }
        let part = parent.join(&part_name);
        let mut hasher = Sha256::new();
        let (mut file, offset) = self.open_part(&requested, &part, opts.resume, &mut hasher)?;
        if offset > 0 {
            skip_source(source, offset).map_err(|s| FsError::Source {
                requested: requested.clone(),
                source: s,
            })?;
        }
        let mut position = offset;
        let mut buf = vec![0u8; BUF];
        loop {
            let n = read_full(source, &mut buf).map_err(|s| FsError::Source {
                requested: requested.clone(),
                source: s,
            })?;
            if n == 0 {
                break;
            }
            file.write_all(&buf[..n]).map_err(|s| FsError::Write {
                path: part.clone(),
                source: s,
            })?;
            hasher.update(&buf[..n]);
            position += n as u64;
            if progress(Progress {
                position,
                total: opts.total,
            })
            .is_break()
            {
                let _ = self.host.close(file);
                return Err(FsError::Cancelled {
                    requested,
                    written: position,
                    part,
                });
            }
        }
        file.flush().map_err(|s| FsError::Write {
            path: part.clone(),
            source: s,
        })?;
        let fsynced = self
            .host
            .fsync(&mut file)
            .map_err(host_err("fsync", &part))?;
        self.host.close(file).map_err(host_err("close", &part))?;
        let sha256: [u8; 32] = hasher.finalize().into();
        if let Some(expected) = opts.expected_sha256 {
            if expected != sha256 {
                // The .part is ours (created or lstat-checked above): discard it.
                let _ = self.host.unlink(&part);
                return Err(FsError::ChecksumMismatch {
                    requested,
                    expected: hex::encode(expected),
                    actual: hex::encode(sha256),
                });
            }
        }
        // Re-check the final name right before the rename (see the module doc on the race).
        let meta = match self.host.lstat(&target) {
            Ok(m) => Some(m),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(host_err("lstat", &target)(e)),
        };
        check_final(&requested, &target, meta, opts.overwrite)?;
        self.host
            .rename_atomic(&part, &target)
            .map_err(host_err("rename", &part))?;
        Ok(PutReport {
            path: target,
            size: position,
            resumed_from: offset,
            sha256,
            fsynced,
        })
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
            Err(e) => return Err(host_err("lstat", part)(e)),
        };
        match meta {
            Some(m) if resume && m.kind == Kind::File => {
                let mut r = self
                    .host
                    .open_read(part, 0)
                    .map_err(host_err("open", part))?;
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
                self.host.close(r).map_err(host_err("close", part))?;
                let f = self
                    .host
                    .open_append_at(part, have)
                    .map_err(host_err("open", part))?;
                return Ok((f, have));
            }
            Some(m) if m.kind == Kind::Dir => {
                return Err(FsError::NotAFile {
                    requested: requested.to_owned(),
                    path: part.to_owned(),
                    kind: m.kind,
                });
            }
            Some(_) => self.host.unlink(part).map_err(host_err("unlink", part))?,
            None => {}
        }
        let f = self
            .host
            .create_new(part, 0o644)
            .map_err(host_err("create", part))?;
        Ok((f, 0))
    }

    /// The model files ComfyUI lists for `folder`: every existing root of it in ComfyUI's
    /// order, walked recursively (following symlinks, skipping `.git`), filtered by the
    /// folder's extensions; a name found in several roots is reported for the first.
    pub fn model_files(&self, folder: &FolderName) -> Result<ModelFiles, FsError> {
        let entry = self
            .layout
            .folder(folder)
            .ok_or_else(|| FsError::UnknownFolder {
                folder: folder.clone(),
            })?;
        let mut out = ModelFiles::default();
        let mut seen: BTreeMap<String, ModelFile> = BTreeMap::new();
        let mut count = 0usize;
        for index in 0..entry.paths.len() {
            let root = RootId {
                area: Area::Folder(folder.clone()),
                index,
            };
            let Some(RootState::Ready(dir)) = self.roots.get(&root) else {
                out.missing_roots.push(root);
                continue;
            };
            let dir = dir.clone();
            // Each directory carries its ancestors (canonical) to stop symlink cycles; the same
            // directory reached through two links is listed under both names, as ComfyUI does.
            let mut stack = vec![(dir.clone(), RelPath::root(), vec![dir])];
            while let Some((dir, rel, ancestors)) = stack.pop() {
                let raw = match self.host.read_dir(&dir) {
                    Ok(r) => r,
                    Err(e) if e.is_not_found() || e.kind == HostErrorKind::PermissionDenied => {
                        continue;
                    }
                    Err(e) => return Err(host_err("read_dir", &dir)(e)),
                };
                for e in raw {
                    if e.name == "." || e.name == ".." {
                        continue;
                    }
                    count += 1;
                    if count > MAX_ENTRIES {
                        out.truncated = true;
                        break;
                    }
                    let name = match Name::parse(&e.name, self.os) {
                        Ok(n) => n,
                        Err(error) => {
                            out.rejected.push(RejectedName {
                                dir: dir.clone(),
                                error,
                            });
                            continue;
                        }
                    };
                    let child = dir.join(name.as_str());
                    let child_rel = rel.join(&name);
                    let meta = if e.meta.kind == Kind::Symlink {
                        match self.host.stat(&child) {
                            Ok(m) => m,
                            Err(_) => continue, // dangling: ComfyUI lists it, but cannot load it
                        }
                    } else {
                        e.meta
                    };
                    match meta.kind {
                        Kind::Dir => {
                            if name.as_str() == ".git" {
                                continue;
                            }
                            if ancestors.len() >= MAX_DEPTH {
                                out.truncated = true;
                                continue;
                            }
                            let real = if e.meta.kind == Kind::Symlink {
                                match self.host.realpath(&child) {
                                    Ok(r) => r,
                                    Err(_) => continue,
                                }
                            } else {
                                child.clone()
                            };
                            if !ancestors.contains(&real) {
                                let mut chain = ancestors.clone();
                                chain.push(real.clone());
                                stack.push((real, child_rel, chain));
                            }
                        }
                        Kind::File => {
                            if !entry.extensions.matches(child_rel.as_str()) {
                                continue;
                            }
                            let shown = child_rel.to_os_string(self.os);
                            seen.entry(shown.clone()).or_insert(ModelFile {
                                name: shown,
                                relative: child_rel,
                                root: root.clone(),
                                size: meta.size,
                                mtime: meta.mtime,
                            });
                        }
                        _ => {}
                    }
                }
            }
        }
        out.files = seen.into_values().collect();
        Ok(out)
    }

    /// The extension filter ComfyUI applies to `folder`.
    pub fn extensions(&self, folder: &FolderName) -> Option<&Extensions> {
        self.layout.folder(folder).map(|f| &f.extensions)
    }
}

fn check_final(
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
        Err(e) => return Err(host_err("realpath", path)(e)),
    };
    match host.stat(&real) {
        Ok(m) if m.kind == Kind::Dir => Ok(DirState::Ready(real)),
        Ok(m) => Ok(DirState::NotADir(m.kind)),
        Err(e) if e.is_not_found() => Ok(DirState::Missing),
        Err(e) => Err(host_err("stat", &real)(e)),
    }
}

fn read_small_text<H: Host>(host: &H, path: &Utf8Path) -> Result<String, FsError> {
    let meta = host.stat(path).map_err(host_err("stat", path))?;
    if meta.size > MAX_EXTRA_YAML {
        return Err(FsError::TooLarge {
            path: path.to_owned(),
            size: meta.size,
            max: MAX_EXTRA_YAML,
        });
    }
    let f = host.open_read(path, 0).map_err(host_err("open", path))?;
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

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
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
