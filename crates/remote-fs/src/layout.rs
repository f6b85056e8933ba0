//! The allowed roots of one ComfyUI install, before they are checked on the host: ComfyUI's
//! default `folder_names_and_paths` below the install, the input/output/temp/user directories,
//! and what `extra_model_paths.yaml` adds (merged the way `add_model_folder_path` merges).
//! Also the typed [`RemotePath`] that names a place below one of these roots.

use std::fmt;

use camino::{Utf8Path, Utf8PathBuf};

use crate::extra_paths::{ExtraPaths, normpath};
use crate::folders::{Base, DEFAULT_FOLDERS, Extensions, FolderName, SpecialDir};
use crate::path::{HostOs, PathError, RelPath};

/// What a root is for: a ComfyUI folder kind (`checkpoints`, `custom_nodes`…) or one of the
/// input/output/temp/user directories.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Area {
    Folder(FolderName),
    Dir(SpecialDir),
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Area::Folder(name) => write!(f, "{name}"),
            Area::Dir(d) => write!(f, "{d}"),
        }
    }
}

/// One root: the `index`-th path of `area`, in ComfyUI's order (0 is where ComfyUI-style
/// downloads go: `folder_paths.get_folder_paths(x)[0]`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RootId {
    pub area: Area,
    pub index: usize,
}

impl RootId {
    /// The first root of a folder kind.
    pub fn primary(area: Area) -> Self {
        RootId { area, index: 0 }
    }
}

impl fmt::Display for RootId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.area, self.index)
    }
}

/// A place below one allowed root. Built only from a validated [`RelPath`]; the host-side
/// checks (realpath, lstat) happen when an operation uses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemotePath {
    root: RootId,
    relative: RelPath,
}

impl RemotePath {
    /// Validates `relative` with the rules of `os`.
    pub fn new(root: RootId, relative: &str, os: HostOs) -> Result<Self, PathError> {
        Ok(RemotePath {
            root,
            relative: RelPath::parse(relative, os)?,
        })
    }
    pub fn from_parts(root: RootId, relative: RelPath) -> Self {
        RemotePath { root, relative }
    }
    pub fn root(&self) -> &RootId {
        &self.root
    }
    pub fn relative(&self) -> &RelPath {
        &self.relative
    }
}

impl fmt::Display for RemotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.root, self.relative)
    }
}

/// One folder kind with its paths in ComfyUI's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderEntry {
    pub name: FolderName,
    pub paths: Vec<Utf8PathBuf>,
    pub extensions: Extensions,
}

/// A layout that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    #[error("the ComfyUI install path {path} must be absolute on the host")]
    InstallNotAbsolute { path: Utf8PathBuf },
    #[error("the {dir} directory {path} must be absolute on the host")]
    DirNotAbsolute { dir: SpecialDir, path: Utf8PathBuf },
}

/// All roots of one install, not yet checked on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    install: Utf8PathBuf,
    folders: Vec<FolderEntry>,
    dirs: Vec<(SpecialDir, Utf8PathBuf)>,
}

impl Layout {
    /// ComfyUI's defaults for the install at `install` (an absolute host path, SFTP form).
    pub fn comfyui_default(install: &Utf8Path) -> Result<Self, LayoutError> {
        if !install.as_str().starts_with('/') {
            return Err(LayoutError::InstallNotAbsolute {
                path: install.to_owned(),
            });
        }
        let install = Utf8PathBuf::from(normpath(install.as_str()));
        let models = install.join("models");
        let folders = DEFAULT_FOLDERS
            .iter()
            .map(|spec| {
                let base = match spec.base {
                    Base::Models => &models,
                    Base::Install => &install,
                };
                FolderEntry {
                    name: FolderName::builtin(spec.name),
                    paths: spec.dirs.iter().map(|d| base.join(d)).collect(),
                    extensions: spec.extensions(),
                }
            })
            .collect();
        let dirs = SpecialDir::ALL
            .iter()
            .map(|d| (*d, install.join(d.dir_name())))
            .collect();
        Ok(Layout {
            install,
            folders,
            dirs,
        })
    }

    /// Like ComfyUI's `--output-directory` and friends.
    pub fn set_dir(&mut self, dir: SpecialDir, path: &Utf8Path) -> Result<(), LayoutError> {
        if !path.as_str().starts_with('/') {
            return Err(LayoutError::DirNotAbsolute {
                dir,
                path: path.to_owned(),
            });
        }
        let path = Utf8PathBuf::from(normpath(path.as_str()));
        for (d, p) in &mut self.dirs {
            if *d == dir {
                *p = path.clone();
            }
        }
        Ok(())
    }

    /// `folder_paths.add_model_folder_path`: a new path goes last (first when `is_default`);
    /// a path already present is not added twice, but `is_default` moves it to the front.
    pub fn add_folder_path(&mut self, folder: &FolderName, path: &Utf8Path, is_default: bool) {
        let path = Utf8PathBuf::from(normpath(path.as_str()));
        if let Some(entry) = self.folders.iter_mut().find(|f| f.name == *folder) {
            if let Some(pos) = entry.paths.iter().position(|p| *p == path) {
                if is_default && pos != 0 {
                    let p = entry.paths.remove(pos);
                    entry.paths.insert(0, p);
                }
            } else if is_default {
                entry.paths.insert(0, path);
            } else {
                entry.paths.push(path);
            }
        } else {
            self.folders.push(FolderEntry {
                name: folder.clone(),
                paths: vec![path],
                extensions: Extensions::Any,
            });
        }
    }

    /// Adds everything an `extra_model_paths.yaml` names, in file order.
    pub fn add_extra(&mut self, extra: &ExtraPaths) {
        for p in &extra.paths {
            self.add_folder_path(&p.folder, &p.path, p.is_default);
        }
    }

    pub fn install(&self) -> &Utf8Path {
        &self.install
    }
    pub fn folders(&self) -> &[FolderEntry] {
        &self.folders
    }
    pub fn folder(&self, name: &FolderName) -> Option<&FolderEntry> {
        self.folders.iter().find(|f| f.name == *name)
    }
    pub fn dir(&self, dir: SpecialDir) -> &Utf8Path {
        self.dirs
            .iter()
            .find(|(d, _)| *d == dir)
            .map_or(self.install.as_path(), |(_, p)| p.as_path())
    }

    /// The configured (not yet canonical) path of one root.
    pub fn root_path(&self, id: &RootId) -> Option<&Utf8Path> {
        match &id.area {
            Area::Folder(name) => self
                .folder(name)?
                .paths
                .get(id.index)
                .map(Utf8PathBuf::as_path),
            Area::Dir(d) => (id.index == 0).then(|| self.dir(*d)),
        }
    }

    /// Every root with its configured path.
    pub fn roots(&self) -> Vec<(RootId, Utf8PathBuf)> {
        let mut out = Vec::new();
        for f in &self.folders {
            for (index, p) in f.paths.iter().enumerate() {
                out.push((
                    RootId {
                        area: Area::Folder(f.name.clone()),
                        index,
                    },
                    p.clone(),
                ));
            }
        }
        for (d, p) in &self.dirs {
            out.push((
                RootId {
                    area: Area::Dir(*d),
                    index: 0,
                },
                p.clone(),
            ));
        }
        out
    }
}

/// Whether `path` is `root` or below it, compared component by component (so `/data/models2`
/// is not inside `/data/models`). Both must be absolute and normalised.
pub fn is_within(root: &Utf8Path, path: &Utf8Path) -> bool {
    let mut r = root.as_str().split('/').filter(|c| !c.is_empty());
    let mut p = path.as_str().split('/').filter(|c| !c.is_empty());
    loop {
        match (r.next(), p.next()) {
            (None, _) => return root.as_str().starts_with('/') && path.as_str().starts_with('/'),
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extra_paths::{Expansion, parse_extra_model_paths};

    fn f(name: &str) -> FolderName {
        FolderName::parse(name).unwrap()
    }

    #[test]
    fn default_layout_matches_folder_paths() {
        let l = Layout::comfyui_default(Utf8Path::new("/opt/ComfyUI/")).unwrap();
        assert_eq!(
            l.folder(&f("clip")).unwrap().paths,
            [
                "/opt/ComfyUI/models/text_encoders",
                "/opt/ComfyUI/models/clip"
            ]
        );
        assert_eq!(
            l.folder(&f("unet")).unwrap().paths,
            [
                "/opt/ComfyUI/models/unet",
                "/opt/ComfyUI/models/diffusion_models"
            ]
        );
        assert_eq!(
            l.folder(&f("custom_nodes")).unwrap().paths,
            ["/opt/ComfyUI/custom_nodes"]
        );
        assert_eq!(l.dir(SpecialDir::Output), "/opt/ComfyUI/output");
        assert!(Layout::comfyui_default(Utf8Path::new("ComfyUI")).is_err());
    }

    #[test]
    fn add_folder_path_merges_like_comfyui() {
        let mut l = Layout::comfyui_default(Utf8Path::new("/c")).unwrap();
        l.add_folder_path(&f("loras"), Utf8Path::new("/m/loras"), false);
        l.add_folder_path(&f("loras"), Utf8Path::new("/m/loras/"), false);
        l.add_folder_path(&f("loras"), Utf8Path::new("/first/loras"), true);
        l.add_folder_path(&f("loras"), Utf8Path::new("/m/loras"), true);
        assert_eq!(
            l.folder(&f("loras")).unwrap().paths,
            ["/m/loras", "/first/loras", "/c/models/loras"]
        );
        l.add_folder_path(&f("ipadapter"), Utf8Path::new("/m/ipadapter"), false);
        assert_eq!(
            l.folder(&f("ipadapter")).unwrap().extensions,
            Extensions::Any
        );
    }

    #[test]
    fn extra_yaml_example_from_comfyui() {
        let text = "\
comfyui:
    base_path: ~/shared/
    is_default: true
    checkpoints: models/checkpoints/
    clip: models/clip/
    text_encoders: |
        models/text_encoders/
        /abs/encoders
    custom_nodes: custom_nodes/
a111:
    base_path: ../webui
    controlnet: models/ControlNet
    embeddings: embeddings
no_base:
    loras: rel/loras
empty:
";
        let extra = parse_extra_model_paths(
            text,
            Utf8Path::new("/opt/ComfyUI/extra_model_paths.yaml"),
            &Expansion::with_home("/home/comfy"),
            HostOs::Posix,
        )
        .unwrap();
        let got: Vec<String> = extra
            .paths
            .iter()
            .map(|p| format!("{} {} {}", p.folder, p.path, p.is_default))
            .collect();
        assert_eq!(
            got,
            [
                "checkpoints /home/comfy/shared/models/checkpoints true",
                "text_encoders /home/comfy/shared/models/clip true",
                "text_encoders /home/comfy/shared/models/text_encoders true",
                "text_encoders /abs/encoders true",
                "custom_nodes /home/comfy/shared/custom_nodes true",
                "controlnet /opt/webui/models/ControlNet false",
                "embeddings /opt/webui/embeddings false",
                "loras /opt/ComfyUI/rel/loras false",
            ]
        );
        let mut l = Layout::comfyui_default(Utf8Path::new("/opt/ComfyUI")).unwrap();
        l.add_extra(&extra);
        assert_eq!(
            l.folder(&f("text_encoders")).unwrap().paths,
            [
                "/abs/encoders",
                "/home/comfy/shared/models/text_encoders",
                "/home/comfy/shared/models/clip",
                "/opt/ComfyUI/models/text_encoders",
                "/opt/ComfyUI/models/clip"
            ]
        );
    }

    #[test]
    fn containment_is_component_wise() {
        let within = |r: &str, p: &str| is_within(Utf8Path::new(r), Utf8Path::new(p));
        assert!(within("/data/models", "/data/models"));
        assert!(within("/data/models", "/data/models/a/b"));
        assert!(!within("/data/models", "/data/models2"));
        assert!(!within("/data/models", "/data/model"));
        assert!(!within("/data/models", "/data"));
        assert!(within("/", "/etc"));
        assert!(!within("relative", "relative/x"));
    }
}
