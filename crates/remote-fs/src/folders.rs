//! ComfyUI's own folder layout, as `folder_paths.py` defines it: the model folder names, where
//! each one lives below the install, which file extensions ComfyUI lists in it, and the legacy
//! aliases (`clip` → `text_encoders`, `unet` → `diffusion_models`).
//!
//! Checked against upstream `folder_paths.py` (2025–2026): `supported_pt_extensions` is
//! `{.ckpt, .pt, .pt2, .bin, .pth, .safetensors, .pkl, .sft}`; `configs` lists `.yaml` only;
//! `classifiers` lists only files without an extension (`{""}`); `diffusers` uses the marker
//! `["folder"]`, which matches no file name; `custom_nodes` and every folder that only
//! `extra_model_paths.yaml` introduces use the empty set, which matches every file.

use std::fmt;

use crate::path::Quoted;

/// The model file extensions ComfyUI recognises (`folder_paths.supported_pt_extensions`).
pub const SUPPORTED_PT_EXTENSIONS: &[&str] = &[
    ".ckpt",
    ".pt",
    ".pt2",
    ".bin",
    ".pth",
    ".safetensors",
    ".pkl",
    ".sft",
];

/// How ComfyUI filters the files of a folder (`folder_paths.filter_files_extensions`): a file
/// is listed when its lower-cased `os.path.splitext` extension is in the set, or when the set
/// is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extensions {
    /// The empty set: every file is listed.
    Any,
    /// Only these extensions (with the dot, lower case; `""` means "no extension").
    Only(Vec<String>),
}

impl Extensions {
    fn only(list: &[&str]) -> Self {
        Extensions::Only(list.iter().map(|s| (*s).to_owned()).collect())
    }

    /// Whether ComfyUI lists a file with this relative name (`/`-separated) in the folder.
    pub fn matches(&self, relative_name: &str) -> bool {
        match self {
            Extensions::Any => true,
            Extensions::Only(set) => {
                let ext = python_splitext_ext(relative_name).to_lowercase();
                set.contains(&ext)
            }
        }
    }
}

/// The extension as Python's `os.path.splitext` returns it: from the last `.` of the last
/// component, unless every character before that dot in the component is a dot too
/// (`.hidden` and `..x` have no extension).
pub fn python_splitext_ext(path: &str) -> &str {
    let base_start = path.rfind('/').map_or(0, |i| i + 1);
    let base = &path[base_start..];
    match base.rfind('.') {
        Some(dot) if base[..dot].bytes().any(|b| b != b'.') => &base[dot..],
        _ => "",
    }
}

/// A folder kind name as ComfyUI's `folder_names_and_paths` keys it (`checkpoints`, `loras`,
/// `custom_nodes`, or one that `extra_model_paths.yaml` or a custom node adds), with the legacy
/// names mapped (`clip` → `text_encoders`, `unet` → `diffusion_models`), as `map_legacy` does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FolderName(String);

/// A folder name that cannot be a ComfyUI folder key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "folder name {input} is not valid: use 1 to 64 ASCII letters, digits, '_', '-' or '.', starting with a letter, digit or '_'"
)]
pub struct FolderNameError {
    pub input: Quoted,
}

impl FolderName {
    pub fn parse(input: &str) -> Result<Self, FolderNameError> {
        let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        let first_ok = input
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !first_ok || input.len() > 64 || !input.chars().all(valid_char) {
            return Err(FolderNameError {
                input: Quoted::new(input),
            });
        }
        Ok(FolderName(map_legacy(input).to_owned()))
    }

    /// A name from [`DEFAULT_FOLDERS`] (valid by construction; checked by a unit test).
    pub(crate) fn builtin(name: &'static str) -> Self {
        FolderName(name.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// ComfyUI's default extension filter for this folder.
    pub fn extensions(&self) -> Extensions {
        DEFAULT_FOLDERS
            .iter()
            .find(|f| f.name == self.0)
            .map_or(Extensions::Any, FolderSpec::extensions)
    }

    /// Whether ComfyUI itself defines this folder (as opposed to `extra_model_paths.yaml` or a
    /// custom node).
    pub fn is_builtin(&self) -> bool {
        DEFAULT_FOLDERS.iter().any(|f| f.name == self.0)
    }
}

impl fmt::Display for FolderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `folder_paths.map_legacy`.
pub fn map_legacy(name: &str) -> &str {
    match name {
        "unet" => "diffusion_models",
        "clip" => "text_encoders",
        other => other,
    }
}

/// The filter a built-in folder uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtKind {
    /// `supported_pt_extensions`.
    Models,
    /// `[".yaml"]` (configs).
    Yaml,
    /// `{""}`: files without an extension (classifiers).
    NoExtension,
    /// `["folder"]`: the diffusers marker, which matches no file.
    DiffusersFolder,
    /// `set()`: every file (custom_nodes).
    Any,
}

/// Where a built-in folder lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// Below `<install>/models`.
    Models,
    /// Below `<install>` itself.
    Install,
}

/// One entry of ComfyUI's default `folder_names_and_paths`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderSpec {
    pub name: &'static str,
    pub base: Base,
    /// The directories, in ComfyUI's order (the first is where ComfyUI-style downloads go).
    pub dirs: &'static [&'static str],
    pub ext: ExtKind,
}

impl FolderSpec {
    pub fn extensions(&self) -> Extensions {
        match self.ext {
            ExtKind::Models => Extensions::only(SUPPORTED_PT_EXTENSIONS),
            ExtKind::Yaml => Extensions::only(&[".yaml"]),
            ExtKind::NoExtension => Extensions::only(&[""]),
            ExtKind::DiffusersFolder => Extensions::only(&["folder"]),
            ExtKind::Any => Extensions::Any,
        }
    }
}

const fn models(name: &'static str, dirs: &'static [&'static str]) -> FolderSpec {
    FolderSpec {
        name,
        base: Base::Models,
        dirs,
        ext: ExtKind::Models,
    }
}

/// ComfyUI's default `folder_names_and_paths`, in its order.
pub const DEFAULT_FOLDERS: &[FolderSpec] = &[
    models("checkpoints", &["checkpoints"]),
    FolderSpec {
        name: "configs",
        base: Base::Models,
        dirs: &["configs"],
        ext: ExtKind::Yaml,
    },
    models("loras", &["loras"]),
    models("vae", &["vae"]),
    models("text_encoders", &["text_encoders", "clip"]),
    models("diffusion_models", &["unet", "diffusion_models"]),
    models("clip_vision", &["clip_vision"]),
    models("style_models", &["style_models"]),
    models("embeddings", &["embeddings"]),
    FolderSpec {
        name: "diffusers",
        base: Base::Models,
        dirs: &["diffusers"],
        ext: ExtKind::DiffusersFolder,
    },
    models("vae_approx", &["vae_approx"]),
    models("controlnet", &["controlnet", "t2i_adapter"]),
    models("gligen", &["gligen"]),
    models("upscale_models", &["upscale_models"]),
    models("latent_upscale_models", &["latent_upscale_models"]),
    FolderSpec {
        name: "custom_nodes",
        base: Base::Install,
        dirs: &["custom_nodes"],
        ext: ExtKind::Any,
    },
    models("hypernetworks", &["hypernetworks"]),
    models("photomaker", &["photomaker"]),
    FolderSpec {
        name: "classifiers",
        base: Base::Models,
        dirs: &["classifiers"],
        ext: ExtKind::NoExtension,
    },
    models("model_patches", &["model_patches"]),
    models("audio_encoders", &["audio_encoders"]),
];

/// The directories ComfyUI keeps outside `folder_names_and_paths`, below the install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpecialDir {
    Input,
    Output,
    Temp,
    User,
}

impl SpecialDir {
    pub const ALL: [SpecialDir; 4] = [
        SpecialDir::Input,
        SpecialDir::Output,
        SpecialDir::Temp,
        SpecialDir::User,
    ];

    pub fn dir_name(self) -> &'static str {
        match self {
            SpecialDir::Input => "input",
            SpecialDir::Output => "output",
            SpecialDir::Temp => "temp",
            SpecialDir::User => "user",
        }
    }
}

impl fmt::Display for SpecialDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dir_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitext_matches_python() {
        // Values from CPython's posixpath.splitext.
        let cases = [
            ("a.safetensors", ".safetensors"),
            ("dir.v1/a", ""),
            ("dir/.hidden", ""),
            ("..x", ""),
            ("a.tar.gz", ".gz"),
            ("noext", ""),
            ("x/.a.b", ".b"),
            ("trailing.", "."),
        ];
        for (input, ext) in cases {
            assert_eq!(python_splitext_ext(input), ext, "{input}");
        }
    }

    #[test]
    fn filters_match_comfyui() {
        let ckpt = FolderName::parse("checkpoints").unwrap().extensions();
        assert!(ckpt.matches("sd/Model.SafeTensors"));
        assert!(ckpt.matches("x.pt2"));
        assert!(!ckpt.matches("model.gguf"));
        assert!(!ckpt.matches("model.safetensors.part"));
        let classifiers = FolderName::parse("classifiers").unwrap().extensions();
        assert!(classifiers.matches("dir.v2/noext"));
        assert!(!classifiers.matches("a.pt"));
        assert!(
            !FolderName::parse("diffusers")
                .unwrap()
                .extensions()
                .matches("model_index.json")
        );
        assert_eq!(
            FolderName::parse("custom_nodes").unwrap().extensions(),
            Extensions::Any
        );
        assert_eq!(
            FolderName::parse("ipadapter").unwrap().extensions(),
            Extensions::Any
        );
    }

    #[test]
    fn builtin_names_are_valid() {
        for spec in DEFAULT_FOLDERS {
            assert_eq!(
                FolderName::parse(spec.name).unwrap(),
                FolderName::builtin(spec.name)
            );
        }
    }

    #[test]
    fn legacy_names_map() {
        assert_eq!(FolderName::parse("clip").unwrap().as_str(), "text_encoders");
        assert_eq!(
            FolderName::parse("unet").unwrap().as_str(),
            "diffusion_models"
        );
        assert_eq!(
            FolderName::parse("t2i_adapter").unwrap().as_str(),
            "t2i_adapter"
        );
    }

    #[test]
    fn folder_name_rules() {
        for bad in ["", "-x", ".x", "a/b", "a b", "../x", "é", &"x".repeat(65)] {
            assert!(FolderName::parse(bad).is_err(), "{bad:?}");
        }
        for ok in ["LLM", "ultralytics_bbox", "sams", "x-1.0", "_private"] {
            FolderName::parse(ok).unwrap();
        }
    }
}
