//! `GET /api/jobs`, `GET /api/jobs/{id}`, `POST /api/jobs/{id}/cancel`, and the install routes
//! (`POST /api/instances/{id}/models` and `/nodes`), which start jobs.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use comfy_local_sdk::install::{check_model_request, check_node_request};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::responses::{InstallResponses, NoSuchJob, Unauthorized};
use super::{ApiJson, ApiPath, blocking};
use crate::AppState;
use crate::error::{ApiError, ErrorDocument, install_error, node_error};
use crate::jobs::{CancelRefused, Jobs, ModelInstall, NodeInstall, StartRefused};
use crate::store::{ErrorBody, JobRecord};

/// `GET /api/jobs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobList {
    /// Newest first.
    pub jobs: Vec<JobRecord>,
}

/// The answer of the routes that start a job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobCreated {
    /// The new job's id (`GET /api/jobs/{id}`, `/events`, `/outputs`).
    pub job_id: String,
}

/// The answer of `POST /api/jobs/{id}/cancel`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelAccepted {
    /// The job.
    pub job_id: String,
    /// Always true: the job was asked to stop; it ends with an `error` event of state
    /// `cancelled` (or `done`, when it finished first).
    pub cancelling: bool,
}

/// Query of `GET /api/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// How many jobs (newest first); default 100, at most 1000.
    pub limit: Option<u32>,
}

/// Jobs, newest first.
#[utoipa::path(get, path = "/api/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, description = "The jobs", body = JobList),
              (status = 400, description = "A bad query", body = ErrorDocument),
              Unauthorized))]
pub async fn list(
    State(app): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<JobList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(100).min(1000) as usize;
    let jobs = blocking(move || Ok(app.jobs.store().list_jobs(limit)?)).await?;
    Ok(Json(JobList { jobs }))
}

/// One job.
#[utoipa::path(get, path = "/api/jobs/{id}", tag = "jobs",
    params(("id" = String, Path, description = "A job id")),
    responses((status = 200, description = "The job", body = JobRecord), NoSuchJob, Unauthorized))]
pub async fn get(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<JobRecord>, ApiError> {
    let job = blocking(move || {
        app.jobs
            .store()
            .job(&id)?
            .ok_or_else(|| ApiError::unknown_job(&id))
    })
    .await?;
    Ok(Json(job))
}

/// Asks a running job to stop: a run's prompt is interrupted on the server (or removed from
/// its queue), a model download stops (its `.part` is kept for a later resume).
#[utoipa::path(post, path = "/api/jobs/{id}/cancel", tag = "jobs",
    params(("id" = String, Path, description = "A job id")),
    responses((status = 202, description = "The job was asked to stop", body = CancelAccepted),
              NoSuchJob,
              (status = 409, description = "The job has ended, or is a node install (which cannot be stopped half-way)", body = ErrorDocument),
              Unauthorized))]
pub async fn cancel(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<CancelAccepted>), ApiError> {
    let job_id = id.clone();
    blocking(move || match app.jobs.cancel(&id)? {
        Ok(()) => Ok(()),
        Err(CancelRefused::Unknown) => Err(ApiError::unknown_job(&id)),
        Err(CancelRefused::Finished) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "job_finished",
            format!("job {id} has ended already"),
        )),
        Err(CancelRefused::NotCancellable) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_cancellable",
            format!("job {id} installs a custom node, which is not stopped half-way"),
        )
        .hint("wait for its done or error event")),
    })
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(CancelAccepted {
            job_id,
            cancelling: true,
        }),
    ))
}

/// The API error for a job that could not be started.
pub fn start_refused(e: StartRefused) -> ApiError {
    match e {
        StartRefused::ShuttingDown => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the backend is shutting down",
        )
        .hint("try again once it has restarted"),
        StartRefused::Store(e) => e.into(),
        StartRefused::Thread(message) | StartRefused::Files(message) => ApiError::internal(message),
    }
}

/// Installs a model file on an instance (local, or a VastAI one from the list), as a job (`progress` events carry the download's
/// position and total).
#[utoipa::path(post, path = "/api/instances/{id}/models", tag = "installs",
    params(("id" = String, Path, description = "An instance id (local, or a VastAI one from the list)")),
    request_body = ModelInstall,
    responses(InstallResponses))]
pub async fn install_model(
    State(app): State<AppState>,
    ApiPath(instance): ApiPath<String>,
    ApiJson(req): ApiJson<ModelInstall>,
) -> Result<(StatusCode, Json<JobCreated>), ApiError> {
    super::instances::known_instance(&app, &instance)?;
    let request = req.into_request(&instance);
    check_model_request(&app.config, &request).map_err(|e| {
        refused_request(
            install_error(&e),
            "give an http(s) URL, a model folder name (checkpoints, loras, ...), a relative file name and a sha256 of 64 hex digits",
        )
    })?;
    start_install(app, instance, move |jobs, id, instance| {
        jobs.start_model_install(id, instance, request)
    })
    .await
}

/// Installs a custom node on an instance (local, or a VastAI one from the list), as a job (`progress` events name each step).
#[utoipa::path(post, path = "/api/instances/{id}/nodes", tag = "installs",
    params(("id" = String, Path, description = "An instance id (local, or a VastAI one from the list)")),
    request_body = NodeInstall,
    responses(InstallResponses))]
pub async fn install_node(
    State(app): State<AppState>,
    ApiPath(instance): ApiPath<String>,
    ApiJson(req): ApiJson<NodeInstall>,
) -> Result<(StatusCode, Json<JobCreated>), ApiError> {
    super::instances::known_instance(&app, &instance)?;
    let request = req.into_request(&instance);
    check_node_request(&app.config, &request).map_err(|e| {
        refused_request(
            node_error(&e),
            "give an https://, ssh:// or git:// repository URL on an allowed host, and a branch, tag or commit as ref",
        )
    })?;
    start_install(app, instance, move |jobs, id, instance| {
        jobs.start_node_install(id, instance, request)
    })
    .await
}

/// `400 bad_request` for an install request refused before any job: the sdk's message, its
/// hint or else `hint`.
fn refused_request(refusal: ErrorBody, hint: &str) -> ApiError {
    ApiError::bad_request(refusal.message).hint(refusal.hint.unwrap_or_else(|| hint.to_owned()))
}

/// Starts an install job on a known instance (off the async runtime): 202 with its id.
async fn start_install(
    app: AppState,
    instance: String,
    start: impl FnOnce(&std::sync::Arc<Jobs>, &str, &str) -> Result<(), StartRefused> + Send + 'static,
) -> Result<(StatusCode, Json<JobCreated>), ApiError> {
    let job_id = Jobs::new_id();
    let id = job_id.clone();
    blocking(move || start(&app.jobs, &id, &instance).map_err(start_refused)).await?;
    Ok((StatusCode::ACCEPTED, Json(JobCreated { job_id })))
}
