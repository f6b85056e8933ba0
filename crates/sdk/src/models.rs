//! `models`: what is installed in the model folders of an instance, as ComfyUI lists it
//! (read-only, through remote-fs).

use comfy_local_config::Config;
use comfy_local_remote_fs::{FolderName, FsError};
use serde::Serialize;

use crate::install::{InstallError, open_fs};

/// One model file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledModel {
    pub folder: String,
    /// As ComfyUI shows it (relative to the folder).
    pub name: String,
    pub size: u64,
}

/// Every model file of the folders asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ModelList {
    pub models: Vec<InstalledModel>,
    /// Names the host returned that failed validation (never used), as messages.
    pub rejected: Vec<String>,
    /// A folder walk stopped at its depth or entry limit.
    pub truncated: bool,
}

/// Lists the model files of `folder` (or of every folder ComfyUI knows) on an instance.
pub fn list_models(
    config: &Config,
    instance: Option<&str>,
    folder: Option<&str>,
) -> Result<ModelList, InstallError> {
    let folder = folder
        .map(|f| {
            FolderName::parse(f).map_err(|e| InstallError::BadDestination {
                folder: f.to_owned(),
                name: String::new(),
                source: Box::new(FsError::FolderName(e)),
            })
        })
        .transpose()?;
    let fs = open_fs(config, instance)?;
    let folders: Vec<FolderName> = match folder {
        Some(f) => {
            if fs.layout().folder(&f).is_none() {
                return Err(InstallError::BadDestination {
                    folder: f.as_str().to_owned(),
                    name: String::new(),
                    source: Box::new(FsError::UnknownFolder { folder: f }),
                });
            }
            vec![f]
        }
        None => fs
            .layout()
            .folders()
            .iter()
            .map(|e| e.name.clone())
            .collect(),
    };
    let mut out = ModelList::default();
    for f in folders {
        let files = fs.model_files(&f).map_err(InstallError::remote)?;
        out.truncated |= files.truncated;
        out.rejected.extend(
            files
                .rejected
                .iter()
                .map(|r| format!("{}: {}", r.dir, r.error)),
        );
        out.models
            .extend(files.files.into_iter().map(|m| InstalledModel {
                folder: f.as_str().to_owned(),
                name: m.name,
                size: m.size,
            }));
    }
    Ok(out)
}
