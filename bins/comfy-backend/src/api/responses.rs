//! The OpenAPI answers routes share, each declared once (utoipa [`IntoResponses`]): the 401 of
//! every route under `/api/` but the document, the 404 of the job routes, the refusals of the
//! routes that start a job, and the install routes' whole list. A route names these types in
//! its `responses(...)` next to its own answers.

use std::collections::BTreeMap;

use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};

use super::jobs::JobCreated;
use crate::error::ErrorDocument;

/// The answers of one kind, by status.
type Answers = BTreeMap<String, RefOr<Response>>;

/// An answer with a JSON body of schema `T` (a reference to its component).
fn answer<T: ToSchema>(status: u16, description: &str) -> (String, RefOr<Response>) {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(T::name())))
        .build();
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build();
    (status.to_string(), RefOr::T(response))
}

/// An error answer (an [`ErrorDocument`]).
fn error(status: u16, description: &str) -> (String, RefOr<Response>) {
    answer::<ErrorDocument>(status, description)
}

/// 401: every route under `/api/` but `/api/openapi.json`, when the backend has a token.
pub struct Unauthorized;

impl IntoResponses for Unauthorized {
    fn responses() -> Answers {
        [error(401, "Missing or wrong token")].into()
    }
}

/// 404 of the routes under `/api/jobs/{id}` (the output file's own 404 also names the output).
pub struct NoSuchJob;

impl IntoResponses for NoSuchJob {
    fn responses() -> Answers {
        [error(404, "No such job")].into()
    }
}

/// 404 of the routes under `/api/instances/{id}`.
pub struct NoSuchInstance;

impl IntoResponses for NoSuchInstance {
    fn responses() -> Answers {
        [error(404, "No such instance")].into()
    }
}

/// 503 of every route that starts a job.
pub struct ShuttingDown;

impl IntoResponses for ShuttingDown {
    fn responses() -> Answers {
        [error(503, "The backend is shutting down")].into()
    }
}

/// 413 and 415 of the routes that take a small JSON body.
pub struct JsonBodyRefused;

impl IntoResponses for JsonBodyRefused {
    fn responses() -> Answers {
        [
            error(413, "The body is too large"),
            error(415, "The body is not JSON"),
        ]
        .into()
    }
}

/// Every answer of the install routes (`POST /api/instances/{id}/models` and `/nodes`).
pub struct InstallResponses;

impl IntoResponses for InstallResponses {
    fn responses() -> Answers {
        let mut answers: Answers = [
            answer::<JobCreated>(202, "The install job was started"),
            error(
                400,
                "A bad body: not JSON of the request's shape, or a URL, folder, file name, \
                 sha256 or ref refused before any job is started",
            ),
        ]
        .into();
        answers.append(&mut NoSuchInstance::responses());
        answers.append(&mut JsonBodyRefused::responses());
        answers.append(&mut ShuttingDown::responses());
        answers.append(&mut Unauthorized::responses());
        answers
    }
}
