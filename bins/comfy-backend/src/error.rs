//! API errors: every failure answers `{"error": {"code", "message", "hint"}}` with a stable
//! `code` and a fitting HTTP status; job failures carry the same shape (see [`job_error`]).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use comfy_local_comfyui::ComfyError;
use comfy_local_sdk::{InstallError, InstallErrorKind, NodeError, SdkError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::{ErrorBody, StoreError};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
}

/// The error document (the OpenAPI schema of every error answer).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDocument {
    pub error: ErrorBody,
}

impl ApiError {
    /// An error with a status, code, message and optional hint.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                code: code.to_owned(),
                message: message.into(),
                hint: None,
            },
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.body.hint = Some(hint.into());
        self
    }

    /// `400 bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// `404 unknown_job`.
    pub fn unknown_job(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_job",
            format!("no job {id:?}"),
        )
        .hint("GET /api/jobs lists the jobs")
    }

    /// `404 unknown_instance`.
    pub fn unknown_instance(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_instance",
            format!("no instance {id:?}"),
        )
        .hint("GET /api/instances lists the instance ids")
    }

    /// `500 internal`: a bug or a broken store; the message says which.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store_failed",
            comfy_local_sdk::error_chain(&e),
        )
        .hint("check that the state directory is writable and its disk not full")
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::internal(format!("a worker task failed: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorDocument { error: self.body })).into_response()
    }
}

/// The code and hint of a failed run.
pub fn sdk_error(e: &SdkError) -> ErrorBody {
    let (code, hint): (&str, Option<String>) = match e {
        SdkError::UnknownInstance(_) => ("unknown_instance", Some("GET /api/instances lists the instance ids".to_owned())),
        SdkError::BadInput { .. } => ("bad_input", Some("name each input part after a file name the workflow loads, or a LoadImage node id".to_owned())),
        SdkError::TurnedOff { key, .. } => ("turned_off", Some(format!("set `{key}: true` in the config to allow it"))),
        SdkError::InputTooLarge { key, .. } => ("input_too_large", Some(format!("raise `{key}` in the config, or send a smaller file"))),
        SdkError::OutputLimit { key, .. } => ("output_limit", Some(format!("raise `{key}` in the config if these outputs are expected"))),
        SdkError::Workflow { .. } | SdkError::ObjectInfo { .. } => ("bad_workflow", Some("send a workflow saved by ComfyUI (UI or API format)".to_owned())),
        SdkError::Convert { .. } => ("convert_failed", Some("the ComfyUI editor would refuse this workflow too; open and re-save it there".to_owned())),
        SdkError::MissingDependencies { .. } => ("missing_dependencies", Some("install the missing nodes and models on the instance, or send the input files with the workflow".to_owned())),
        SdkError::Provider(_) => ("provider_failed", None),
        SdkError::ComfyUnreachable { hint, .. } => ("comfyui_unreachable", Some(hint.clone())),
        SdkError::Resolve(r) if r.is_usage() => ("instance_not_usable", r.hint()),
        SdkError::Resolve(r) => ("instance_unreachable", r.hint()),
        SdkError::Comfy(ComfyError::PromptRejected { .. }) => ("prompt_rejected", Some("ComfyUI refused the workflow: fix the inputs named in the message".to_owned())),
        SdkError::Comfy(ComfyError::ExecutionFailed { .. }) => ("execution_failed", Some("a node failed while running: the message is ComfyUI's; its log on the host has the traceback".to_owned())),
        SdkError::Interrupted { .. } => ("cancelled", None),
        SdkError::TimedOut { .. } => ("timed_out", None),
        SdkError::OutputsNotSaved { .. } => ("outputs_not_saved", Some("the outputs listed were not written; every other output is listed".to_owned())),
        SdkError::Save(_) | SdkError::Io { .. } | SdkError::NodeMap { .. } => ("save_failed", Some("check that the state directory is writable and its disk not full".to_owned())),
        SdkError::BadOverride { .. } => ("bad_override", Some("a value must fit its input as the instance's node definitions declare it".to_owned())),
        SdkError::Batch { .. } => ("bad_batch", Some("GET /api/instances lists the instance ids a batch may name".to_owned())),
        SdkError::RepeatWithoutSeed { .. } => ("repeat_without_seed", Some("each copy of a repeat gets its own seed, and these workflows have no seed input: send repeat 1, or a workflow with one".to_owned())),
        SdkError::NoInstanceUp { .. } => ("no_instance_up", Some("GET /api/instances lists the instances and whether they answer".to_owned())),
        _ => ("comfyui_failed", Some("POST /api/instances/{id}/test checks the instance stage by stage".to_owned())),
    };
    ErrorBody {
        code: code.to_owned(),
        message: comfy_local_sdk::error_chain(e),
        hint,
    }
}

fn install_code(kind: InstallErrorKind) -> &'static str {
    match kind {
        InstallErrorKind::Usage => "install_refused_by_config",
        InstallErrorKind::Connection => "connection_failed",
        InstallErrorKind::Remote => "install_failed",
        InstallErrorKind::Refused => "install_refused",
        InstallErrorKind::Interrupted => "cancelled",
    }
}

/// The code and hint of a failed model install.
pub fn install_error(e: &InstallError) -> ErrorBody {
    let kind = e.kind();
    let hint = match e {
        InstallError::Resolve(r) => r.hint(),
        _ => (kind == InstallErrorKind::Connection)
            .then(|| "POST /api/instances/{id}/test checks the instance stage by stage".to_owned()),
    };
    ErrorBody {
        code: install_code(kind).to_owned(),
        message: comfy_local_sdk::error_chain(e),
        hint,
    }
}

/// The code and hint of a failed node install.
pub fn node_error(e: &NodeError) -> ErrorBody {
    let hint = match e {
        NodeError::FeatureDisabled { key, .. } => {
            Some(format!("set `{key}: true` in the config to allow it"))
        }
        NodeError::HostNotAllowed { host, .. } => Some(format!(
            "add {host} to resources.allowed_git_hosts in the config if you trust it"
        )),
        NodeError::Open(InstallError::Resolve(r)) => r.hint(),
        _ => None,
    };
    ErrorBody {
        code: install_code(e.kind()).to_owned(),
        message: comfy_local_sdk::error_chain(e),
        hint,
    }
}

/// A job error body for a job that was stopped by the backend's shutdown.
pub fn job_error(code: &str, message: impl Into<String>, hint: Option<&str>) -> ErrorBody {
    ErrorBody {
        code: code.to_owned(),
        message: message.into(),
        hint: hint.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_refusals_have_codes_of_their_own() {
        let cases = [
            (
                SdkError::RepeatWithoutSeed {
                    workflows: vec![("a.json".into(), "no seed input".to_owned())],
                },
                "repeat_without_seed",
            ),
            (
                SdkError::NoInstanceUp {
                    listed: vec!["local (offline)".to_owned()],
                },
                "no_instance_up",
            ),
            (
                SdkError::Batch {
                    reason: "no instance \"x\" is listed".to_owned(),
                },
                "bad_batch",
            ),
            (
                SdkError::BadOverride {
                    spec: "--set 3.steps=abc".to_owned(),
                    reason: "not a number".to_owned(),
                },
                "bad_override",
            ),
        ];
        for (error, code) in cases {
            let body = sdk_error(&error);
            assert_eq!(body.code, code, "{error}");
            assert!(body.hint.is_some(), "{error}");
            assert_eq!(body.message, comfy_local_sdk::error_chain(&error));
        }
    }
}
