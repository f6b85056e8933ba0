//! Model and custom-node installs as jobs: the sdk's `install_model` and `install_node` with
//! their progress as `progress` events (download progress at most every 250 ms).

use comfy_local_sdk::install::ProgressPacer;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use comfy_local_sdk::{
    InstallError, InstallErrorKind, InstallEvent, InstallModelRequest, InstallNodeRequest,
    install_model, install_node,
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Control, JobCtx, Jobs, Outcome, StartRefused};
use crate::error::{install_error, node_error};
use crate::store::{JobKind, JobState};

/// `POST /api/instances/{id}/models`: a model file to download into a model folder.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelInstall {
    /// http(s) URL of the file.
    pub url: String,
    /// A model folder ComfyUI knows (`checkpoints`, `loras`, ...).
    pub folder: String,
    /// File name below the folder; default from the URL or the server's answer.
    #[serde(default)]
    pub name: Option<String>,
    /// Expected sha256 (hex); the file is put in place only when it matches.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Replace an existing file with other content.
    #[serde(default)]
    pub force: bool,
    /// Further attempts after the source breaks off (each resumes); at most 10.
    #[serde(default)]
    pub retries: u32,
}

/// `POST /api/instances/{id}/nodes`: a custom node to clone and install.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeInstall {
    /// `https://`, `ssh://` or `git://` URL of the repository (its host must be in
    /// `resources.allowed_git_hosts`).
    pub url: String,
    /// Branch, tag or commit; default: the remote's default branch.
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    /// Replace an existing `custom_nodes/<name>`.
    #[serde(default)]
    pub force: bool,
}

/// Download progress is announced at most this often (the last one always).
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// The most retries a request may ask for.
const MAX_RETRIES: u32 = 10;

impl ModelInstall {
    /// The sdk's request for `instance` (retries capped).
    pub fn into_request(self, instance: &str) -> InstallModelRequest {
        InstallModelRequest {
            url: self.url,
            folder: self.folder,
            name: self.name,
            sha256: self.sha256,
            force: self.force,
            instance: Some(instance.to_owned()),
            retries: self.retries.min(MAX_RETRIES),
        }
    }
}

impl NodeInstall {
    /// The sdk's request for `instance`.
    pub fn into_request(self, instance: &str) -> InstallNodeRequest {
        InstallNodeRequest {
            url: self.url,
            git_ref: self.git_ref,
            force: self.force,
            instance: Some(instance.to_owned()),
        }
    }
}

impl Jobs {
    /// Starts a model install (a request already checked by the route). Blocking.
    pub fn start_model_install(
        self: &Arc<Self>,
        id: &str,
        instance: &str,
        request: InstallModelRequest,
    ) -> Result<(), StartRefused> {
        let cancel = Arc::new(AtomicBool::new(false));
        let control = Control::Flag(Arc::clone(&cancel));
        self.start(id, JobKind::InstallModel, instance, control, move |ctx| {
            model(ctx, &request, &cancel)
        })
    }

    /// Starts a node install (a request already checked by the route). Blocking.
    pub fn start_node_install(
        self: &Arc<Self>,
        id: &str,
        instance: &str,
        request: InstallNodeRequest,
    ) -> Result<(), StartRefused> {
        self.start(
            id,
            JobKind::InstallNode,
            instance,
            Control::None,
            move |ctx| node(ctx, &request),
        )
    }
}

fn model(ctx: &JobCtx, req: &InstallModelRequest, cancel: &AtomicBool) -> Outcome {
    let mut pacer = ProgressPacer::new(PROGRESS_EVERY);
    let env = |name: &str| std::env::var(name).ok();
    let result = install_model(ctx.config(), req, &env, cancel, &mut |event| {
        // The last progress (the whole file) always passes.
        let at_end = matches!(event, InstallEvent::Progress { position, total } if Some(*position) == *total);
        if !at_end && !pacer.lets_through(event) {
            return;
        }
        ctx.emit("progress", &serde_json::to_value(event).unwrap_or_default());
    });
    match result {
        Ok(outcome) => Ok(serde_json::to_value(outcome).unwrap_or_default()),
        Err(e) => Err((failed_state(&e), install_error(&e))),
    }
}

fn failed_state(e: &InstallError) -> JobState {
    if e.kind() == InstallErrorKind::Interrupted {
        JobState::Cancelled
    } else {
        JobState::Failed
    }
}

fn node(ctx: &JobCtx, req: &InstallNodeRequest) -> Outcome {
    let result = install_node(ctx.config(), req, &mut |event| {
        ctx.emit("progress", &serde_json::to_value(event).unwrap_or_default());
    });
    match result {
        Ok(outcome) => Ok(serde_json::to_value(outcome).unwrap_or_default()),
        Err(e) => Err((JobState::Failed, node_error(&e))),
    }
}
