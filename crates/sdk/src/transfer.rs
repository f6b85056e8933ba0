//! Files in and out of an instance outside a run: `download` saves the outputs of an earlier
//! prompt (from its history entry, by the same rules as `run`: see [`crate::save`]), `upload`
//! puts local files into ComfyUI's `input/` without replacing any file there.

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_comfyui::UploadOptions;
use comfy_local_config::Config;
use serde::Serialize;

use crate::SdkError;
use crate::jobs::{Found, JobState, find};
use crate::outputs::{WsImages, save_all};
use crate::run::{RunStep, SavedOutput};
use crate::save::{OutDir, check_component};
use crate::workflow::client_for_resolved;

/// Which prompt's outputs to save, and where.
#[derive(Debug, Clone)]
pub struct DownloadRequest {
    /// The prompt id.
    pub prompt_id: String,
    /// Instance id; the first local instance when `None`.
    pub instance: Option<String>,
    /// Where outputs are saved.
    pub out_dir: Utf8PathBuf,
    /// Also save previews (history type `temp`), under `temp/` of `out_dir`.
    pub previews: bool,
}

/// What `download` saved.
#[derive(Debug, Clone, Serialize)]
pub struct DownloadSummary {
    pub instance: String,
    pub prompt_id: String,
    /// How the prompt ended (a failed one's outputs are those its nodes made before).
    pub state: JobState,
    pub outputs: Vec<SavedOutput>,
}

/// Saves every file the history of a prompt lists (previews under `temp/` unless
/// `previews` is false, type `input` under `input/`) into `out_dir`, as `run` does: never
/// replacing or following anything, within `limits.max_output_mb`. Images output nodes sent
/// only over the WebSocket (`SaveImageWebsocket`) are not in history and cannot be downloaded
/// afterwards. A prompt still queued is [`SdkError::JobState`].
pub fn download_outputs(
    config: &Config,
    req: &DownloadRequest,
    on_step: &mut dyn FnMut(RunStep<'_>),
) -> Result<DownloadSummary, SdkError> {
    let resolved = crate::connection::resolve_env(config, req.instance.as_deref())?;
    let target = client_for_resolved(&resolved)?;
    let entry = match find(&target, &req.prompt_id)? {
        Found::History(entry) => entry,
        Found::Queued(job, _) => {
            return Err(SdkError::JobState {
                prompt_id: req.prompt_id.clone(),
                state: job.state.word().to_owned(),
                what:
                    "its outputs can be downloaded once it has ended (`jobs watch ID` waits for it)"
                        .to_owned(),
            });
        }
    };
    let state = crate::jobs::history_state(&entry);
    let out = OutDir::create(&req.out_dir)?;
    let budget = crate::switches::output_budget(&resolved);
    let saved = save_all(
        &target.client,
        &entry.outputs,
        WsImages::default(),
        &out,
        req.previews,
        &budget,
        on_step,
    );
    let outputs = saved.into_outputs(&req.prompt_id, &budget)?;
    Ok(DownloadSummary {
        instance: target.instance,
        prompt_id: req.prompt_id.clone(),
        state,
        outputs,
    })
}

/// Which files to upload, where.
#[derive(Debug, Clone)]
pub struct UploadRequest {
    /// Instance id; the first local instance when `None`.
    pub instance: Option<String>,
    /// Local files; each is stored under its own file name.
    pub files: Vec<Utf8PathBuf>,
    /// A folder inside `input/` (`masks`, `people/2025`); `None` for `input/` itself.
    pub subfolder: Option<String>,
}

/// One uploaded file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadedInput {
    /// The local file.
    pub file: Utf8PathBuf,
    /// The name ComfyUI stored it under, relative to `input/` (what a loader node takes).
    pub stored_as: String,
    /// ComfyUI stored it under another name than the file's, as a file of that name with other
    /// content was there.
    pub renamed: bool,
    pub bytes: u64,
}

/// What `upload` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadSummary {
    pub instance: String,
    pub uploaded: Vec<UploadedInput>,
}

/// Uploads each file through ComfyUI's `POST /upload/image` (`type=input`, `overwrite=false`):
/// ComfyUI never replaces a file of another content there but stores the upload as
/// `name (1).png`, and the name it stored is reported. Every file is checked (it exists, has
/// a plain name and fits `limits.max_upload_mb`) and the subfolder too before the first one is
/// sent; `on_uploaded` sees each as it is stored.
pub fn upload_inputs(
    config: &Config,
    req: &UploadRequest,
    on_uploaded: &mut dyn FnMut(&UploadedInput),
) -> Result<UploadSummary, SdkError> {
    let subfolder = req.subfolder.as_deref().map(check_subfolder).transpose()?;
    let mut names = Vec::with_capacity(req.files.len());
    for file in &req.files {
        names.push(upload_name(file)?);
        let io = |source| SdkError::Io {
            op: "reading",
            path: file.clone(),
            source,
        };
        if !std::fs::metadata(file).map_err(io)?.is_file() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
    }
    let resolved = crate::connection::resolve_env(config, req.instance.as_deref())?;
    crate::switches::ensure_upload_fits(&resolved, &req.files)?;
    let target = client_for_resolved(&resolved)?;
    let mut options = UploadOptions::default().overwrite(false);
    if let Some(s) = &subfolder {
        options = options.subfolder(s.clone());
    }
    let mut uploaded = Vec::new();
    for (file, name) in req.files.iter().zip(names) {
        let bytes = std::fs::read(file).map_err(|source| SdkError::Io {
            op: "reading",
            path: file.clone(),
            source,
        })?;
        let stored = target.client.upload_image(name, &bytes, &options)?;
        let one = UploadedInput {
            file: file.clone(),
            stored_as: stored.prompt_value(),
            renamed: stored.name != name
                || stored.subfolder != subfolder.clone().unwrap_or_default(),
            bytes: bytes.len() as u64,
        };
        on_uploaded(&one);
        uploaded.push(one);
    }
    Ok(UploadSummary {
        instance: target.instance,
        uploaded,
    })
}

/// The name a file is uploaded under: its own file name, a plain one.
fn upload_name(file: &Utf8Path) -> Result<&str, SdkError> {
    let bad = |reason: String| SdkError::Io {
        op: "uploading",
        path: file.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, reason),
    };
    let name = file
        .file_name()
        .ok_or_else(|| bad("the path names no file".to_owned()))?;
    check_component(name).map_err(|e| bad(e.to_string()))?;
    if name.contains('"') {
        return Err(bad(format!(
            "{name:?} holds a double quote, which an upload cannot carry"
        )));
    }
    Ok(name)
}

/// A subfolder of `input/`: relative, `/`-separated plain names, none starting with a dot.
fn check_subfolder(subfolder: &str) -> Result<String, SdkError> {
    let bad = |reason: String| SdkError::BadSubfolder {
        subfolder: subfolder.to_owned(),
        reason,
    };
    if subfolder.starts_with('/') {
        return Err(bad("must be relative to input/, not absolute".to_owned()));
    }
    let parts: Vec<&str> = subfolder.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Err(bad("names no folder".to_owned()));
    }
    for part in &parts {
        check_component(part).map_err(|e| bad(e.to_string()))?;
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subfolders_are_relative_plain_names() {
        assert_eq!(check_subfolder("masks").unwrap(), "masks");
        assert_eq!(check_subfolder("a//b/").unwrap(), "a/b");
        for bad in ["/etc", "..", "a/../b", ".git", "a/.ssh", "", "/", "a\\b"] {
            assert!(check_subfolder(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn upload_names_are_plain() {
        assert_eq!(upload_name(Utf8Path::new("/x/cat.png")).unwrap(), "cat.png");
        for bad in ["/x/.bashrc", "/", "/x/a\"b.png", "/x/a\nb.png"] {
            assert!(upload_name(Utf8Path::new(bad)).is_err(), "{bad:?} accepted");
        }
    }
}
