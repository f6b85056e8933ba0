//! `GET /api/jobs/{id}/outputs` (the job's output records) and `/outputs/{name}` (one saved
//! file). The file is found by its record: the name in the URL is looked up in the store and
//! only a recorded name is opened, below the job's `outputs/` folder.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use camino::Utf8Component;
use serde::Serialize;
use utoipa::ToSchema;

use super::responses::{NoSuchJob, Unauthorized};
use super::{ApiPath, blocking};
use crate::AppState;
use crate::error::{ApiError, ErrorDocument};
use crate::store::OutputRecord;

/// `GET /api/jobs/{id}/outputs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutputList {
    /// In the order they were saved.
    pub outputs: Vec<OutputRecord>,
}

/// A job's saved outputs.
#[utoipa::path(get, path = "/api/jobs/{id}/outputs", tag = "jobs",
    params(("id" = String, Path, description = "A job id")),
    responses((status = 200, description = "The outputs", body = OutputList),
              NoSuchJob,
              Unauthorized))]
pub async fn list(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OutputList>, ApiError> {
    let outputs = blocking(move || {
        let store = app.jobs.store();
        if store.job(&id)?.is_none() {
            return Err(ApiError::unknown_job(&id));
        }
        Ok(store.outputs(&id)?)
    })
    .await?;
    Ok(Json(OutputList { outputs }))
}

/// One saved output file, with its content type.
#[utoipa::path(get, path = "/api/jobs/{id}/outputs/{name}", tag = "jobs",
    params(("id" = String, Path, description = "A job id"),
           ("name" = String, Path, description = "An output's `name` (it may hold `/`)")),
    responses((status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>),
              (status = 404, description = "No such job or output", body = ErrorDocument),
              Unauthorized))]
pub async fn file(
    State(app): State<AppState>,
    ApiPath((id, name)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let jobs = std::sync::Arc::clone(&app.jobs);
    let (record, path) = blocking(move || {
        let record = jobs
            .store()
            .outputs(&id)?
            .into_iter()
            .find(|o| o.name == name)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "unknown_output",
                    format!("job {id:?} has no output {name:?}"),
                )
                .hint("GET /api/jobs/{id}/outputs lists the names")
            })?;
        let relative = camino::Utf8Path::new(&record.name);
        // Names come from the store (written from paths the sdk saved); refuse anything but
        // plain components all the same.
        if !relative
            .components()
            .all(|c| matches!(c, Utf8Component::Normal(_)))
        {
            return Err(ApiError::internal(format!(
                "stored output name {:?} is not a relative path",
                record.name
            )));
        }
        let path = jobs.job_dir(&id).join("outputs").join(relative);
        Ok((record, path))
    })
    .await?;
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "output_missing",
            format!(
                "output {:?} was recorded but cannot be read: {e}",
                record.name
            ),
        )
        .hint("the file was removed from the state directory")
    })?;
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&record.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    Ok(response)
}
