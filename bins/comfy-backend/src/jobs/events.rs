//! From the sdk's run steps and ComfyUI events to the job events the API streams (`queued`,
//! `node`, `progress`, `output`), and the content type of a saved output.

use comfy_local_comfyui::Event;
use comfy_local_sdk::RunStep;
use serde_json::{Value, json};

/// The job event (SSE name and data) for a run step, when the API shows it.
pub fn run_step(step: &RunStep<'_>) -> Option<(&'static str, Value)> {
    Some(match step {
        RunStep::Prepared {
            nodes, converted, ..
        } => (
            "queued",
            json!({"stage": "prepared", "nodes": nodes, "converted": converted}),
        ),
        RunStep::Uploaded { name, bytes } => (
            "queued",
            json!({"stage": "uploaded", "name": name, "bytes": bytes}),
        ),
        RunStep::Submitted { prompt_id } => (
            "queued",
            json!({"stage": "submitted", "prompt_id": prompt_id}),
        ),
        RunStep::Queued { ahead } => ("queued", json!({"stage": "waiting", "ahead": ahead})),
        RunStep::Event(event) => return comfy_event(event),
        // Outputs are announced by the job once their record is stored; the API sets no
        // overrides and follows only the prompts it submits.
        RunStep::Saved { .. } | RunStep::Overridden(_) | RunStep::Watching { .. } => return None,
    })
}

fn comfy_event(event: &Event) -> Option<(&'static str, Value)> {
    Some(match event {
        Event::ExecutionStart { .. } => ("progress", json!({"stage": "started"})),
        Event::ExecutionCached { nodes, .. } if !nodes.is_empty() => {
            ("node", json!({"state": "cached", "nodes": nodes}))
        }
        Event::Executing {
            node: Some(node), ..
        } => ("node", json!({"state": "running", "node": node})),
        Event::Executed { node, .. } => ("node", json!({"state": "executed", "node": node})),
        Event::Progress {
            node, value, max, ..
        } => (
            "progress",
            json!({"stage": "node", "node": node, "value": value, "max": max}),
        ),
        Event::PollingFallback => (
            "progress",
            json!({"stage": "polling", "message": "the WebSocket was lost: completion is detected by polling"}),
        ),
        Event::Stopping { removed_from_queue } => (
            "progress",
            json!({"stage": "stopping", "removed_from_queue": removed_from_queue}),
        ),
        _ => return None,
    })
}

/// The content type of a saved output, from its extension. Types a browser would run as a
/// page (HTML, SVG) are served as `application/octet-stream`.
pub fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "flac" => "audio/flac",
        "ogg" => "audio/ogg",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "glb" => "model/gltf-binary",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_never_let_a_page_run() {
        assert_eq!(content_type("a/b.PNG"), "image/png");
        assert_eq!(content_type("x.html"), "application/octet-stream");
        assert_eq!(content_type("x.svg"), "application/octet-stream");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn comfy_events_map_to_api_events() {
        let running = Event::Executing {
            prompt_id: Some("p".to_owned()),
            node: Some("2".to_owned()),
            display_node: None,
        };
        assert_eq!(
            run_step(&RunStep::Event(&running)),
            Some(("node", json!({"state": "running", "node": "2"})))
        );
        let finished = Event::Executing {
            prompt_id: Some("p".to_owned()),
            node: None,
            display_node: None,
        };
        assert_eq!(run_step(&RunStep::Event(&finished)), None);
        assert_eq!(
            run_step(&RunStep::Queued { ahead: 2 }),
            Some(("queued", json!({"stage": "waiting", "ahead": 2})))
        );
    }
}
