//! Install events as the JSON objects `on_progress` receives (the shapes `install ... --json`
//! prints), with download progress paced so a fast download does not call Python per chunk.

use std::time::{Duration, Instant};

use comfy_local_sdk::InstallEvent;
use comfy_local_sdk::error_chain;
use comfy_local_sdk::install::missing::MissingEvent;
use serde_json::{Value, json};

/// Download progress reaches the callback at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Lets every install event through but progress, which passes at most every
/// [`PROGRESS_EVERY`].
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    last_progress: Option<Instant>,
}

impl Pacer {
    pub(crate) fn lets_through(&mut self, event: &InstallEvent) -> bool {
        if !matches!(event, InstallEvent::Progress { .. }) {
            return true;
        }
        if self
            .last_progress
            .is_some_and(|t| t.elapsed() < PROGRESS_EVERY)
        {
            return false;
        }
        self.last_progress = Some(Instant::now());
        true
    }
}

/// One event of `install_missing`: each item's start and end, and the installs' own events.
pub(crate) fn missing_event(event: &MissingEvent<'_>, pacer: &mut Pacer) -> Option<Value> {
    let done = |kind: &str, item: Value, result: Result<Value, String>| match result {
        Ok(o) => json!({"event": "installed", "kind": kind, "item": item, "result": o}),
        Err(e) => json!({"event": "failed", "kind": kind, "item": item, "error": e}),
    };
    Some(match event {
        MissingEvent::Model(e) => {
            if !pacer.lets_through(e) {
                return None;
            }
            json!(e)
        }
        MissingEvent::Node(e) => json!(e),
        MissingEvent::ModelStarted(m) => json!({"event": "installing", "kind": "model", "item": m}),
        MissingEvent::NodeStarted(n) => json!({"event": "installing", "kind": "node", "item": n}),
        MissingEvent::ModelDone(m, r) => done(
            "model",
            json!(m),
            r.as_ref().map(|o| json!(o)).map_err(|e| error_chain(e)),
        ),
        MissingEvent::NodeDone(n, r) => done(
            "node",
            json!(n),
            r.as_ref().map(|o| json!(o)).map_err(|e| error_chain(e)),
        ),
    })
}
