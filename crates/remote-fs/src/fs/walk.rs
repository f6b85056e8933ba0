//! Directory listings with validated names, and the recursive, merged view of a folder kind
//! that ComfyUI's `get_filename_list` gives.

use std::collections::BTreeMap;

use camino::Utf8PathBuf;

use super::{FsError, RemoteFs, RootState};
use crate::folders::{Extensions, FolderName};
use crate::host::{Host, HostErrorKind, Kind};
use crate::layout::{Area, RemotePath, RootId};
use crate::path::{Name, PathError, RelPath};

/// Directory depth and entry count limits of the recursive model listing.
const MAX_DEPTH: usize = 64;
const MAX_ENTRIES: usize = 200_000;

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

impl<H: Host> RemoteFs<H> {
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
        let raw = self.host.read_dir(&real)?;
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
                    Err(e) => return Err(e.into()),
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
