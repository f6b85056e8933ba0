//! The HTTP routes: the router, bearer-token check, CORS, body limits, and JSON answers for
//! unknown routes, wrong methods and unreadable bodies.

mod batches;
mod events;
mod instances;
mod jobs;
pub mod openapi;
mod outputs;
mod responses;
mod submit;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use tower_http::cors::CorsLayer;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;

/// Bodies of every route but the workflow upload are at most this large.
const SMALL_BODY: usize = 64 * 1024;

/// The API router over `app`.
pub fn router(app: AppState) -> Router {
    let max_request = app.settings.max_request_bytes;
    let mut router = Router::new()
        .route("/healthz", get(health))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/instances", get(instances::list))
        .route("/api/instances/{id}/test", post(instances::test))
        .route(
            "/api/instances/{id}/workflows",
            post(submit::workflow).layer(DefaultBodyLimit::max(max_request)),
        )
        .route("/api/instances/{id}/models", post(jobs::install_model))
        .route("/api/instances/{id}/nodes", post(jobs::install_node))
        .route(
            "/api/batches",
            post(batches::create).layer(DefaultBodyLimit::max(max_request)),
        )
        .route("/api/jobs", get(jobs::list))
        .route("/api/jobs/{id}", get(jobs::get))
        .route("/api/jobs/{id}/cancel", post(jobs::cancel))
        .route("/api/jobs/{id}/events", get(events::stream))
        .route("/api/jobs/{id}/outputs", get(outputs::list))
        .route("/api/jobs/{id}/outputs/{*name}", get(outputs::file))
        .merge(crate::page::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(SMALL_BODY))
        .layer(from_fn_with_state(app.clone(), auth));
    if !app.settings.cors_origins.is_empty() {
        router = router.layer(
            CorsLayer::new()
                .allow_origin(app.settings.cors_origins.clone())
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::HeaderName::from_static("last-event-id"),
                ]),
        );
    }
    router.with_state(app)
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` (the process answers).
    pub status: &'static str,
    /// The backend's version.
    pub version: &'static str,
    /// Jobs running now.
    pub jobs_running: usize,
}

/// Whether the process answers (no token needed).
#[utoipa::path(get, path = "/healthz", tag = "backend",
    responses((status = 200, description = "The backend answers", body = Health)))]
async fn health(State(app): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        jobs_running: app.jobs.running(),
    })
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
        .hint("GET /api/openapi.json lists the routes")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
    .hint("GET /api/openapi.json lists the routes and their methods")
}

/// Routes that need the token when one is set: everything under `/api/` but the OpenAPI
/// document.
fn needs_token(path: &str) -> bool {
    path.starts_with("/api/") && path != "/api/openapi.json"
}

/// Compares without stopping at the first difference (the time taken says nothing about how
/// much of the token matched).
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn bearer_ok(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same_secret(given.trim().as_bytes(), token.as_bytes()))
}

async fn auth(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(token) = &app.settings.token
        && req.method() != Method::OPTIONS
        && needs_token(req.uri().path())
        && !bearer_ok(req.headers(), token)
    {
        let mut response = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        )
        .hint("send `Authorization: Bearer <token>` with the token the backend was started with")
        .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    next.run(req).await
}

/// A JSON body whose rejections answer in the API's error shape.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// Path parameters whose rejections (a segment that is not UTF-8 once decoded) answer in the
/// API's error shape.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request(rejection.body_text())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        // axum answers 422 for JSON of the wrong shape; the API says 400 for every bad body.
        let (status, code) = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            _ => (StatusCode::BAD_REQUEST, "bad_request"),
        };
        ApiError::new(status, code, rejection.body_text())
    }
}

/// Runs blocking work (the store, the sdk) off the async runtime.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await?
}

#[cfg(test)]
mod tests {
    use super::{needs_token, same_secret};

    #[test]
    fn token_rules() {
        assert!(needs_token("/api/jobs"));
        assert!(!needs_token("/api/openapi.json"));
        assert!(!needs_token("/healthz"));
        assert!(!needs_token("/"));
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
    }
}
