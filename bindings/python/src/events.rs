//! Install events as the JSON objects `on_progress` receives (the shapes `install ... --json`
//! prints), with download progress paced so a fast download does not call Python per chunk.

use std::time::Duration;

use comfy_local_sdk::install::ProgressPacer;
use comfy_local_sdk::install::missing::MissingEvent;
use serde_json::Value;

/// Download progress reaches the callback at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// The pacer of the progress callbacks: progress at most every [`PROGRESS_EVERY`].
pub(crate) fn pacer() -> ProgressPacer {
    ProgressPacer::new(PROGRESS_EVERY)
}

/// One event of `install_missing`: each item's start and end, and the installs' own events.
pub(crate) fn missing_event(event: &MissingEvent<'_>, pacer: &mut ProgressPacer) -> Option<Value> {
    if let MissingEvent::Model(e) = event
        && !pacer.lets_through(e)
    {
        return None;
    }
    Some(event.to_json())
}
