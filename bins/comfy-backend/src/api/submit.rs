//! `POST /api/instances/{id}/workflows`: a workflow (UI or API JSON) and its input files, as
//! multipart (a `workflow` part, then one part per input file, named after the file name the
//! workflow loads or the loader node's id) or as JSON `{"workflow": {...}}`; saved in the job's
//! folder, then run as a job.

use axum::Json;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{FromRequest as _, Multipart, Request, State};
use axum::http::{StatusCode, header};
use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_sdk::InputSpec;
use serde::Deserialize;
use serde_json::Value;
use tokio::io::AsyncWriteExt as _;
use utoipa::ToSchema;

use super::jobs::{JobCreated, start_refused};
use super::responses::{NoSuchInstance, ShuttingDown, Unauthorized};
use super::{ApiJson, ApiPath, blocking};
use crate::AppState;
use crate::error::{ApiError, ErrorDocument};
use crate::jobs::{Jobs, RunJob, create_job_dir};

/// The JSON form of a workflow submission.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowBody {
    /// The workflow as ComfyUI saves it: UI format (`nodes`, `links`) or API format (node id ->
    /// `class_type`, `inputs`).
    #[schema(value_type = Object)]
    pub workflow: Value,
}

/// The multipart form of a workflow submission (documentation only: the parts are read one by
/// one).
#[derive(Debug, ToSchema)]
#[expect(
    dead_code,
    reason = "describes the multipart body in the OpenAPI document"
)]
pub struct WorkflowForm {
    /// The workflow JSON file (UI or API format).
    #[schema(value_type = String, format = Binary)]
    workflow: Vec<u8>,
    /// Any further part is an input file: its part name is the file name the workflow loads or
    /// a loader node's id, its file name the name it is uploaded under.
    #[schema(value_type = Option<String>, format = Binary)]
    input: Option<Vec<u8>>,
}

/// Runs a workflow on an instance, as a job; its inputs are uploaded to ComfyUI's `input/`
/// first and every output is saved in the job's folder.
#[utoipa::path(post, path = "/api/instances/{id}/workflows", tag = "jobs",
    params(("id" = String, Path, description = "An instance id (local, or a running VastAI one)")),
    request_body(content(
        (WorkflowBody = "application/json"),
        (WorkflowForm = "multipart/form-data"),
    )),
    responses((status = 202, description = "The run job was started", body = JobCreated),
              (status = 400, description = "A bad body, part or workflow", body = ErrorDocument),
              NoSuchInstance,
              (status = 413, description = "The body is larger than --max-request-mb", body = ErrorDocument),
              (status = 415, description = "Neither JSON nor multipart", body = ErrorDocument),
              ShuttingDown,
              Unauthorized))]
pub async fn workflow(
    State(app): State<AppState>,
    ApiPath(instance): ApiPath<String>,
    req: Request,
) -> Result<(StatusCode, Json<JobCreated>), ApiError> {
    if app.config.instance(&instance).is_none() && !app.instances.knows(&instance) {
        return Err(ApiError::unknown_instance(&instance));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let job_id = Jobs::new_id();
    let dir = app.jobs.job_dir(&job_id);
    {
        let dir = dir.clone();
        blocking(move || create_job_dir(&dir).map_err(start_refused)).await?;
    }
    let saved = if content_type.starts_with("multipart/form-data") {
        let multipart = Multipart::from_request(req, &())
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        save_multipart(multipart, &dir).await
    } else if content_type.starts_with("application/json") {
        match ApiJson::<WorkflowBody>::from_request(req, &()).await {
            Ok(ApiJson(body)) => save_json(&body.workflow, &dir).await,
            Err(e) => Err(e),
        }
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the workflow as application/json or multipart/form-data",
        ))
    };
    let inputs = match saved {
        Ok(inputs) => inputs,
        Err(e) => {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            return Err(e);
        }
    };
    let job = RunJob {
        instance,
        workflow: dir.join(WORKFLOW_FILE),
        inputs,
    };
    let id = job_id.clone();
    blocking(move || app.jobs.start_run(&id, job).map_err(start_refused)).await?;
    Ok((StatusCode::ACCEPTED, Json(JobCreated { job_id })))
}

/// The workflow's file in the job's folder.
const WORKFLOW_FILE: &str = "workflow.json";

fn bad_workflow(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_workflow", message)
        .hint("send a workflow saved by ComfyUI (UI or API format): a JSON object")
}

async fn write(path: &Utf8Path, bytes: &[u8]) -> Result<(), ApiError> {
    tokio::fs::write(path, bytes)
        .await
        .map_err(|e| ApiError::internal(format!("writing {path}: {e}")))
}

async fn save_json(workflow: &Value, dir: &Utf8Path) -> Result<Vec<InputSpec>, ApiError> {
    if !workflow.is_object() {
        return Err(bad_workflow("`workflow` is not a JSON object"));
    }
    write(&dir.join(WORKFLOW_FILE), workflow.to_string().as_bytes()).await?;
    Ok(Vec::new())
}

fn multipart_error(e: &MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            e.body_text(),
        )
        .hint("the backend's --max-request-mb limits the whole upload")
    } else {
        ApiError::bad_request(e.body_text())
    }
}

async fn save_multipart(mut form: Multipart, dir: &Utf8Path) -> Result<Vec<InputSpec>, ApiError> {
    let mut workflow = false;
    let mut inputs: Vec<InputSpec> = Vec::new();
    while let Some(mut field) = form.next_field().await.map_err(|e| multipart_error(&e))? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "workflow" {
            if workflow {
                return Err(ApiError::bad_request("more than one `workflow` part"));
            }
            let bytes = field.bytes().await.map_err(|e| multipart_error(&e))?;
            let value: Value = serde_json::from_slice(&bytes)
                .map_err(|e| bad_workflow(format!("the `workflow` part is not JSON: {e}")))?;
            save_json(&value, dir).await?;
            workflow = true;
            continue;
        }
        if name.is_empty() {
            return Err(ApiError::bad_request("a part without a name").hint(
                "name the workflow part `workflow` and each input part after what the workflow loads",
            ));
        }
        let file_name = field.file_name().map(str::to_owned).ok_or_else(|| {
            ApiError::bad_request(format!("part {name:?} is not a file")).hint(
                "send each input as a file part (with a file name); the workflow part is named `workflow`",
            )
        })?;
        comfy_local_sdk::save::check_component(&file_name).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_input",
                format!("input {name:?}: {e}"),
            )
        })?;
        if inputs
            .iter()
            .any(|i| i.file.file_name() == Some(file_name.as_str()))
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_input",
                format!("two input parts have the file name {file_name:?}"),
            ));
        }
        let path = dir.join("inputs").join(&file_name);
        save_field(&mut field, &path).await?;
        inputs.push(InputSpec { name, file: path });
    }
    if !workflow {
        return Err(bad_workflow("no `workflow` part"));
    }
    Ok(inputs)
}

async fn save_field(field: &mut Field<'_>, path: &Utf8PathBuf) -> Result<(), ApiError> {
    let io = |e: std::io::Error| ApiError::internal(format!("writing {path}: {e}"));
    let mut file = tokio::fs::File::create_new(path).await.map_err(io)?;
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e))? {
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_document_is_the_documented_shape() {
        let doc = super::ErrorDocument {
            error: crate::store::ErrorBody {
                code: "x".to_owned(),
                message: "y".to_owned(),
                hint: None,
            },
        };
        assert_eq!(
            serde_json::to_value(doc).unwrap(),
            serde_json::json!({"error": {"code": "x", "message": "y", "hint": null}})
        );
    }
}
