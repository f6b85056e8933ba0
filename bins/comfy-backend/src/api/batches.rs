//! `POST /api/batches`: starts a batch job (workflows over a pool of instances); its progress
//! comes from `GET /api/jobs/{id}/events`, its outputs from `/api/jobs/{id}/outputs`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::jobs::{JobCreated, start_refused};
use super::responses::{JsonBodyRefused, ShuttingDown, Unauthorized};
use super::{ApiJson, blocking};
use crate::AppState;
use crate::error::{ApiError, ErrorDocument};
use crate::jobs::{BatchSubmit, Jobs, check_batch};

/// Runs workflows over a pool of instances as one job: each goes to the instance that finishes
/// it cheapest, then soonest, and is re-run elsewhere when an attempt fails. `progress` events
/// carry each step (`{"type": "started" | "done" | "attempt_failed" | "skipped" | "failed" |
/// "quarantined" | "restored" | "left_out", ...}`), `output` events each saved file
/// (`<name>/<file>`), and `done` the summary `{"type": "summary", "jobs", "done", "failed",
/// "instances": {ID: {"done", "failed", "seconds", "cost_usd"}}}`.
#[utoipa::path(post, path = "/api/batches", tag = "jobs",
    request_body = BatchSubmit,
    responses((status = 202, description = "The batch job was started", body = JobCreated),
              (status = 400, description = "A bad body", body = ErrorDocument),
              JsonBodyRefused,
              ShuttingDown,
              Unauthorized))]
pub async fn create(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<BatchSubmit>,
) -> Result<(StatusCode, Json<JobCreated>), ApiError> {
    check_batch(&req).map_err(ApiError::bad_request)?;
    let job_id = Jobs::new_id();
    let id = job_id.clone();
    blocking(move || app.jobs.start_batch(&id, req).map_err(start_refused)).await?;
    Ok((StatusCode::ACCEPTED, Json(JobCreated { job_id })))
}
