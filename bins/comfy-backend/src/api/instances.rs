//! `GET /api/instances` (the list the background task keeps) and `POST /api/instances/{id}/test`
//! (the sdk's staged connection test).

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use comfy_local_sdk::{ConnectionReport, TestConnectionOptions, test_connection_with_config};

use super::responses::{NoSuchInstance, Unauthorized};
use super::{ApiPath, blocking};
use crate::AppState;
use crate::error::ApiError;
use crate::instances::InstanceList;

/// Every instance, as the last background refresh saw it (never waits for a probe).
#[utoipa::path(get, path = "/api/instances", tag = "instances",
    responses((status = 200, description = "The instances", body = InstanceList),
              Unauthorized))]
pub async fn list(State(app): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        app.instances.json(),
    )
}

/// `id` names a local instance of the config or an instance the list knows (a VastAI one);
/// else a 404 naming the local ones.
pub fn known_instance(app: &AppState, id: &str) -> Result<(), ApiError> {
    if app.config.instance(id).is_some() || app.instances.knows(id) {
        return Ok(());
    }
    let known: Vec<String> = app.config.local.iter().map(|i| i.id.to_string()).collect();
    Err(ApiError::unknown_instance(id).hint(format!(
        "GET /api/instances lists the instance ids (local instances: {})",
        if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        }
    )))
}

/// Tests the connection to an instance (local, or a VastAI one from the list) stage by stage
/// (config, key file, TCP, SSH handshake and host key, authentication, remote install, write
/// access, ComfyUI's HTTP API and WebSocket). Answers 200 whether or not the test passed: `ok`
/// says.
#[utoipa::path(post, path = "/api/instances/{id}/test", tag = "instances",
    params(("id" = String, Path, description = "An instance id (local, or a VastAI one from the list)")),
    responses((status = 200, description = "The staged report", body = crate::api::openapi::ReportDoc),
              NoSuchInstance,
              Unauthorized))]
pub async fn test(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ConnectionReport>, ApiError> {
    known_instance(&app, &id)?;
    let report = blocking(move || {
        let opts = TestConnectionOptions { instance: Some(id) };
        Ok(test_connection_with_config(
            &app.config,
            app.config_path.as_deref(),
            &opts,
        ))
    })
    .await?;
    Ok(Json(report))
}
