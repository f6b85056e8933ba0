//! `RunOptions::cancel`: a queued prompt is removed from the queue, a running one interrupted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use comfy_local_comfyui::{ComfyClient, ComfyError, Event, RunOptions, SubmitOptions};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use serde_json::json;

use crate::{client, workflow};

fn slow_fake() -> FakeComfy {
    FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_secs(20))),
    )
}

#[test]
fn a_cancelled_prompt_still_queued_is_removed_from_the_queue() {
    let fake = slow_fake();
    let other = ComfyClient::new(&fake.url()).expect("client");
    let mut blocker = workflow("invert.api.json");
    blocker["1"]["inputs"]["color"] = json!(1);
    other
        .submit(&blocker, &SubmitOptions::default())
        .expect("submit");
    let client = client(&fake);
    let cancel = Arc::new(AtomicBool::new(false));
    let run = client
        .run(
            &workflow("invert.api.json"),
            RunOptions::default().cancel(cancel.clone()),
        )
        .expect("run");
    let id = run.prompt_id().to_owned();
    let queue = client.queue().expect("queue");
    assert!(queue.pending.iter().any(|q| q.prompt_id == id), "{queue:?}");
    cancel.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let mut events = Vec::new();
    let result = run.wait_with(|e| events.push(e.clone()));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&result, Err(ComfyError::Interrupted { prompt_id, node_id: None, .. }) if *prompt_id == id),
        "{result:?}"
    );
    assert!(
        events.contains(&Event::Stopping {
            removed_from_queue: true
        }),
        "{events:?}"
    );
    let queue = client.queue().expect("queue");
    assert!(queue.pending.is_empty(), "{queue:?}");
    assert_eq!(queue.running.len(), 1, "the other prompt runs on");
}

#[test]
fn a_cancelled_prompt_that_runs_is_interrupted_on_the_server() {
    let fake = slow_fake();
    let client = client(&fake);
    let cancel = Arc::new(AtomicBool::new(false));
    let mut run = client
        .run(
            &workflow("invert.api.json"),
            RunOptions::default().cancel(cancel.clone()),
        )
        .expect("run");
    let mut events = Vec::new();
    let mut started = None;
    for event in run.by_ref() {
        if matches!(&event, Event::Executing { node: Some(n), .. } if n == "2") {
            cancel.store(true, Ordering::SeqCst);
            started = Some(Instant::now());
        }
        events.push(event);
    }
    let result = run.finish();
    let took = started.expect("node 2 ran").elapsed();
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(
        matches!(&result, Err(ComfyError::Interrupted { node_id: Some(n), .. }) if n == "2"),
        "{result:?}"
    );
    assert!(
        events.contains(&Event::Stopping {
            removed_from_queue: false
        }),
        "{events:?}"
    );
}
