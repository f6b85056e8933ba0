//! `GET /api/openapi.json`: the OpenAPI document, generated from the handlers' annotations and
//! the response types.

use axum::Json;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The API's OpenAPI document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "comfy-backend", description = "Runs ComfyUI workflows on local and VastAI instances; jobs, their events and outputs."),
    paths(
        super::health,
        super::instances::list,
        super::instances::test,
        super::submit::workflow,
        super::jobs::install_model,
        super::jobs::install_node,
        super::batches::create,
        super::jobs::list,
        super::jobs::get,
        super::jobs::cancel,
        super::events::stream,
        super::outputs::list,
        super::outputs::file,
        document,
    ),
    // The schemas the shared answers (`super::responses`) refer to: utoipa collects only
    // those of the routes' own `(status = ..., body = ...)` answers.
    components(schemas(crate::error::ErrorDocument, super::jobs::JobCreated)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// One stage of a connection report.
#[derive(Debug, Serialize, ToSchema)]
pub struct StageDoc {
    /// `config`, `key-file`, `tcp`, `handshake`, `auth`, `remote`, `write-access`, `comfy-api`,
    /// `web-socket`.
    pub stage: String,
    /// A short title.
    pub title: String,
    /// `pass`, `warn`, `fail` or `skip`.
    pub status: String,
    /// How long it took (null when skipped).
    pub duration_ms: Option<f64>,
    /// What was found, or why it failed.
    pub detail: String,
    /// What to do about a failure or warning (absent otherwise).
    #[schema(required = false)]
    pub hint: Option<String>,
}

/// The staged connection report (the same as `comfy-local test-connection --json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportDoc {
    /// The instance tested.
    pub instance: Option<String>,
    /// The config file.
    pub config_path: Option<String>,
    /// Every stage, in order.
    pub stages: Vec<StageDoc>,
    /// True when every stage passed (warnings included).
    pub ok: bool,
}

/// The name of a job event (the SSE `event:` field).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventName {
    Queued,
    Node,
    Progress,
    Output,
    Done,
    Error,
}

/// One Server-Sent Event of a job's stream, as its fields (`event:`, `id:`, `data:`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SseEventDoc {
    pub event: EventName,
    /// The event's sequence number in its job (1, 2, ...): send it back as `Last-Event-ID`.
    pub id: String,
    /// One JSON object (see docs/BACKEND_API.md for each event's fields).
    pub data: String,
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "backend", security(()),
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
