//! Dev-only fake Vast.ai REST API on loopback for provider tests.
//!
//! Real HTTP (`tiny_http`) on `127.0.0.1:0`, serving the instance rows in `fixtures/instances.json`
//! (or rows a test passes) in the envelopes the real API uses:
//! - `GET /api/v1/instances/` — keyset pages (`limit` ≤ 25, `after_token` from `next_token`),
//! - `GET /api/v0/instances/{id}/` — `{"instances": {...}}`,
//! - `PUT /api/v0/instances/{id}/` with `{"state": "running" | "stopped"}` — `{"success": true}`.
//!
//! Every request must carry `Authorization: Bearer <key>` (401 otherwise). Knobs inject 429s (with
//! `Retry-After`), 5xx, malformed JSON, refusals and slow replies; every request is recorded.
//! Never linked into a release binary.

mod routes;
mod server;

pub use server::{Failure, FakeVastAi, RecordedRequest};

/// The hand-written instance rows in `fixtures/instances.json` (see `fixtures/README.md`).
pub fn fixture_instances() -> Vec<serde_json::Value> {
    const FIXTURE: &str = include_str!("../fixtures/instances.json");
    match serde_json::from_str::<serde_json::Value>(FIXTURE) {
        Ok(serde_json::Value::Array(rows)) => rows,
        // The fixture is part of this crate; a broken one is a bug in the crate itself.
        other => panic!("fixtures/instances.json is not a JSON array: {other:?}"),
    }
}
