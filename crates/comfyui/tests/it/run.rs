//! Following prompts: events, outputs, lost sockets, polling, interrupts, restarts, previews.

use std::time::Duration;

use comfy_local_comfyui::{ComfyError, Event, PreviewFormat, RunOptions, SubmitOptions};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use serde_json::json;

use crate::{client, workflow};

fn prompt(prefix: &str) -> serde_json::Value {
    let mut p = workflow("invert.api.json");
    p["3"]["inputs"]["filename_prefix"] = json!(prefix);
    p
}

#[test]
fn a_run_yields_typed_events_then_outputs_and_reuses_the_socket() {
    let fake = FakeComfy::start(FakeOptions::default());
    let client = client(&fake);
    let hs = client.ws_handshake().expect("handshake");
    assert_eq!(hs.sid.as_deref(), Some("test-client"));
    assert_eq!(hs.queue_remaining, Some(0));

    let mut run = client
        .run(&prompt("ev"), RunOptions::default())
        .expect("run");
    let id = run.prompt_id().to_owned();
    let events: Vec<Event> = run.by_ref().collect();
    let outcome = run.finish().expect("outcome");
    assert!(!outcome.used_polling);
    let names: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::ExecutionStart { .. } => Some("start"),
            Event::ExecutionCached { .. } => Some("cached"),
            Event::Executing { node: Some(_), .. } => Some("executing"),
            Event::Executed { .. } => Some("executed"),
            Event::ExecutionSuccess { .. } => Some("success"),
            Event::Executing { node: None, .. } => Some("done"),
            _ => None,
        })
        .collect();
    assert_eq!(
        names,
        [
            "start",
            "cached",
            "executing",
            "executing",
            "executing",
            "executed",
            "success",
            "done",
        ]
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::ProgressState { nodes, .. } if nodes.len() == 3))
    );
    assert!(events.iter().all(|e| e.prompt_id().is_none_or(|p| p == id)));
    assert_eq!(
        outcome.outputs["3"].files["images"][0].filename,
        "ev_00001_.png"
    );

    // The next run reuses the socket: one socket for this client on the server.
    let again = client
        .run(&prompt("ev2"), RunOptions::default())
        .expect("run")
        .finish()
        .expect("outcome");
    assert_eq!(
        again.outputs["3"].files["images"][0].filename,
        "ev2_00001_.png"
    );
    assert_eq!(fake.socket_count(), 1);
    // An identical resubmission is cached and reports the old file.
    let cached = client
        .run(&prompt("ev2"), RunOptions::default())
        .expect("run")
        .finish()
        .expect("outcome");
    assert_eq!(cached.outputs, again.outputs);
}

#[test]
fn a_socket_dropped_mid_run_reconnects_and_still_yields_the_outputs() {
    let fake = FakeComfy::start(
        FakeOptions::default().knobs(
            Knobs::default()
                .drop_sockets_at_node("2")
                .slow_node("2", Duration::from_millis(200)),
        ),
    );
    let client = client(&fake);
    let mut run = client
        .run(&prompt("drop"), RunOptions::default())
        .expect("run");
    let events: Vec<Event> = run.by_ref().collect();
    let outcome = run.finish().expect("outputs despite the drop");
    assert!(
        events.iter().any(|e| matches!(e, Event::SocketLost { .. })),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(e, Event::Reconnected)));
    assert!(!outcome.used_polling);
    assert_eq!(
        outcome.outputs["3"].files["images"][0].filename,
        "drop_00001_.png"
    );
}

#[test]
fn a_socket_lost_for_good_falls_back_to_polling_history() {
    let fake = FakeComfy::start(
        FakeOptions::default().knobs(
            Knobs::default()
                .slow_node("1", Duration::from_millis(150))
                .drop_sockets_at_node("2"),
        ),
    );
    let client = client(&fake);
    // Refuse new sockets once the run started, so reconnects fail.
    let mut run = client
        .run(
            &prompt("poll"),
            RunOptions::default()
                .reconnect_attempts(2)
                .reconnect_delay(Duration::from_millis(10))
                .poll_interval(Duration::from_millis(20)),
        )
        .expect("run");
    fake.set_knobs(fake.knobs().refuse_websocket(true));
    let events: Vec<Event> = run.by_ref().collect();
    let outcome = run.finish().expect("outputs by polling");
    assert!(
        events.iter().any(|e| matches!(e, Event::PollingFallback)),
        "{events:?}"
    );
    assert!(outcome.used_polling);
    assert_eq!(
        outcome.outputs["3"].files["images"][0].filename,
        "poll_00001_.png"
    );

    // No socket at all from the start: polling from the start.
    let outcome = client
        .run(
            &prompt("poll2"),
            RunOptions::default().poll_interval(Duration::from_millis(20)),
        )
        .expect("run")
        .finish()
        .expect("ok");
    assert!(outcome.used_polling);
    assert_eq!(
        outcome.outputs["3"].files["images"][0].filename,
        "poll2_00001_.png"
    );
}

#[test]
fn execution_error_interrupt_restart_and_timeout_end_the_run_with_typed_errors() {
    let mut fake =
        FakeComfy::start(FakeOptions::default().knobs(Knobs::default().fail_at_node("2")));
    let client = client(&fake);
    let err = client
        .run(&prompt("fail"), RunOptions::default())
        .expect("run")
        .finish()
        .expect_err("fails");
    assert!(
        matches!(&err, ComfyError::ExecutionFailed { error, .. } if error.node_id == "2" && error.node_type == "ImageInvert"),
        "{err:?}"
    );

    fake.set_knobs(Knobs::default().slow_node("2", Duration::from_secs(5)));
    let run = client
        .run(&prompt("int"), RunOptions::default())
        .expect("run");
    std::thread::sleep(Duration::from_millis(100));
    client.interrupt(Some(run.prompt_id())).expect("interrupt");
    let err = run.finish().expect_err("interrupted");
    assert!(
        matches!(&err, ComfyError::Interrupted { node_id: Some(n), .. } if n == "2"),
        "{err:?}"
    );

    let err = client
        .run(
            &prompt("slow"),
            RunOptions::default().timeout(Duration::from_millis(300)),
        )
        .expect("run")
        .finish()
        .expect_err("timeout");
    assert!(matches!(err, ComfyError::RunTimeout { .. }), "{err:?}");
    client.interrupt(None).expect("interrupt");

    // The server restarts mid-run: the prompt is gone from queue and history.
    let run = client
        .run(
            &prompt("lost"),
            RunOptions::default()
                .reconnect_delay(Duration::from_millis(20))
                .poll_interval(Duration::from_millis(20)),
        )
        .expect("run");
    std::thread::sleep(Duration::from_millis(100));
    fake.restart().expect("restart");
    let err = run.finish().expect_err("lost");
    assert!(matches!(err, ComfyError::PromptLost { .. }), "{err:?}");
}

#[test]
fn binary_preview_frames_are_surfaced_as_png_previews() {
    let fake = FakeComfy::start(FakeOptions::default());
    let client = client(&fake);
    let mut run = client
        .run(
            &workflow("save_image_websocket.api.json"),
            RunOptions::default(),
        )
        .expect("run");
    let events: Vec<Event> = run.by_ref().collect();
    run.finish().expect("ok");
    let previews: Vec<_> = events
        .iter()
        .filter_map(|e| {
            if let Event::Preview(p) = e {
                Some(p)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(previews.len(), 2, "batch of two");
    assert!(
        previews
            .iter()
            .all(|p| p.format == PreviewFormat::Png && p.data.starts_with(b"\x89PNG\r\n\x1a\n"))
    );
    let progress: Vec<(f64, f64)> = events
        .iter()
        .filter_map(|e| {
            if let Event::Progress { value, max, .. } = e {
                Some((*value, *max))
            } else {
                None
            }
        })
        .collect();
    assert_eq!(progress, [(0.0, 2.0), (1.0, 2.0)]);
    // Skipped when not wanted.
    let mut run = client
        .run(
            &workflow("save_image_websocket.api.json"),
            RunOptions::default().previews(false),
        )
        .expect("run");
    assert!(!run.by_ref().any(|e| matches!(e, Event::Preview(_))));
}

#[test]
fn event_parsing_covers_every_recorded_message() {
    for file in [
        "ws_messages_run.json",
        "ws_messages_execution_error.json",
        "ws_messages_interrupted.json",
        "ws_messages_cached_rerun.json",
        "ws_messages_loadimage.json",
    ] {
        let rec = comfy_local_fake_comfyui::fixtures::load(&format!("recorded/{file}"));
        for m in rec["messages"].as_array().expect("messages") {
            let ev = comfy_local_comfyui::parse_text(&m.to_string());
            assert!(
                !matches!(ev, Event::Other { .. }),
                "{file}: {m} parsed as {ev:?}"
            );
        }
    }
    let flags = comfy_local_fake_comfyui::fixtures::load("recorded/ws_feature_flags.json");
    let ev = comfy_local_comfyui::parse_text(&flags["exchange"][2]["msg"].to_string());
    assert!(matches!(ev, Event::FeatureFlags(_)));
    // Event 4: 4-byte JSON length + metadata + PNG.
    let meta = br#"{"node_id":"3","prompt_id":"p","image_type":"image/png"}"#;
    let mut frame = vec![0, 0, 0, 4];
    frame.extend((meta.len() as u32).to_be_bytes());
    frame.extend(meta);
    frame.extend(b"\x89PNG\r\n\x1a\nrest");
    let Event::Preview(p) = comfy_local_comfyui::parse_binary(&frame) else {
        panic!("preview")
    };
    assert_eq!((p.format, p.data.len()), (PreviewFormat::Png, 12));
    assert_eq!(p.metadata.expect("meta")["node_id"], "3");
}

#[test]
fn polling_returns_to_the_websocket_and_gives_up_on_a_dead_server() {
    let mut fake = FakeComfy::start(
        FakeOptions::default().knobs(
            Knobs::default()
                .refuse_websocket(true)
                .slow_node("2", Duration::from_millis(400)),
        ),
    );
    let client = client(&fake);
    let opts = RunOptions::default()
        .poll_interval(Duration::from_millis(20))
        .ws_retry_interval(Duration::from_millis(50));
    let mut run = client.run(&prompt("back"), opts).expect("run");
    std::thread::sleep(Duration::from_millis(100));
    fake.set_knobs(fake.knobs().refuse_websocket(false));
    let events: Vec<Event> = run.by_ref().collect();
    let outcome = run.finish().expect("ok");
    assert!(events.iter().any(|e| matches!(e, Event::PollingFallback)));
    assert!(
        events.iter().any(|e| matches!(e, Event::Reconnected)),
        "{events:?}"
    );
    assert!(
        !outcome.used_polling,
        "completion came over the WebSocket again"
    );

    // The server goes away for good while we poll: the run ends with the transport error.
    fake.set_knobs(
        Knobs::default()
            .refuse_websocket(true)
            .slow_node("2", Duration::from_secs(5)),
    );
    let quick = comfy_local_comfyui::ComfyClient::with_options(
        &fake.url(),
        comfy_local_comfyui::ClientOptions::default().request_timeout(Duration::from_millis(300)),
    )
    .expect("client");
    let run = quick
        .run(
            &prompt("dead"),
            RunOptions::default()
                .poll_interval(Duration::from_millis(20))
                .unreachable_timeout(Duration::from_millis(300)),
        )
        .expect("run");
    std::thread::sleep(Duration::from_millis(50));
    fake.stop();
    let err = run.finish().expect_err("server gone");
    assert!(
        matches!(
            err,
            ComfyError::Transport { .. } | ComfyError::Timeout { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn outputs_sent_while_the_socket_was_away_come_from_history() {
    // Order 1,2,3,4,5: the socket drops when node 4 (SaveImage) starts, so its `executed` goes
    // nowhere; the client is back while node 5 (PreviewImage) runs and sees only node 5 report.
    let fake = FakeComfy::start(
        FakeOptions::default().knobs(
            Knobs::default()
                .drop_sockets_at_node("4")
                .slow_node("5", Duration::from_millis(300)),
        ),
    );
    let client = client(&fake);
    let mut run = client
        .run(
            &workflow("blur_scale_two_outputs.api.json"),
            RunOptions::default(),
        )
        .expect("run");
    let events: Vec<Event> = run.by_ref().collect();
    let outcome = run.finish().expect("ok");
    assert!(
        events.iter().any(|e| matches!(e, Event::Reconnected)),
        "{events:?}"
    );
    let mut nodes: Vec<&str> = outcome.outputs.keys().map(String::as_str).collect();
    nodes.sort_unstable();
    assert_eq!(nodes, ["4", "5"]);
    let saved = &outcome.outputs["4"].files["images"];
    assert_eq!(saved.len(), 2, "batch of two");
    assert_eq!(saved[0].subfolder, "acc_blur");
    assert_eq!(outcome.outputs["5"].files["images"][0].kind, "temp");
    let png = client
        .view_bytes(&outcome.outputs["5"].files["images"][0])
        .expect("temp file");
    assert!(png.starts_with(b"\x89PNG"));
}

#[test]
fn concurrent_runs_on_one_client_each_get_their_events() {
    let fake = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_millis(150))),
    );
    let client = client(&fake);
    // Idle checks far away: completion must come over each run's own socket.
    let opts = || RunOptions::default().idle_history_check(Duration::from_secs(30));
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| client.run(&prompt("conc_a"), opts()).expect("a").finish());
        std::thread::sleep(Duration::from_millis(30));
        let b = s.spawn(|| client.run(&prompt("conc_b"), opts()).expect("b").finish());
        (a.join().expect("a"), b.join().expect("b"))
    });
    let (a, b) = (a.expect("a ok"), b.expect("b ok"));
    assert!(!a.used_polling && !b.used_polling);
    assert!(a.elapsed < Duration::from_secs(5) && b.elapsed < Duration::from_secs(5));
    // Whichever reached the server first (the 30 ms head start is no guarantee under load)
    // used the client's own id and socket; the other, running meanwhile, a derived one.
    let mut ids: Vec<String> = fake
        .submitted()
        .iter()
        .map(|s| s["client_id"].as_str().unwrap_or("").to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0], "test-client");
    assert!(
        ids[1].starts_with("test-client-"),
        "the concurrent run uses a derived id: {ids:?}"
    );
    // The client's own socket is kept; the derived one is closed.
    let again = client
        .run(&prompt("conc_c"), opts())
        .expect("c")
        .finish()
        .expect("c ok");
    assert_eq!(
        again.outputs["3"].files["images"][0].filename,
        "conc_c_00001_.png"
    );
}

#[test]
fn follow_joins_a_submitted_prompt_with_its_client_id_or_by_history_without() {
    let fake = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_millis(400))),
    );
    let submitter = client(&fake);
    let accepted = submitter
        .submit(&prompt("follow"), &SubmitOptions::default())
        .expect("submit");
    // Another process (a fresh client) joins with the submitter's id: it sees the nodes run.
    let watcher = comfy_local_comfyui::ComfyClient::new(&fake.url()).expect("client");
    let mut run = watcher.follow(
        &accepted.prompt_id,
        Some(submitter.client_id()),
        RunOptions::default(),
    );
    let events: Vec<Event> = run.by_ref().collect();
    let outcome = run.finish().expect("outcome");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Executing { node: Some(n), .. } if n == "2")),
        "{events:?}"
    );
    assert_eq!(
        outcome.outputs["3"].files["images"][0].filename,
        "follow_00001_.png"
    );
    // Without the id: no events of the prompt, the end comes from history.
    let accepted = submitter
        .submit(&prompt("follow2"), &SubmitOptions::default())
        .expect("submit");
    let mut run = watcher.follow(
        &accepted.prompt_id,
        None,
        RunOptions::default().idle_history_check(Duration::from_millis(100)),
    );
    let events: Vec<Event> = run.by_ref().collect();
    let outcome = run.finish().expect("outcome");
    assert!(events.iter().all(|e| e.prompt_id().is_none()), "{events:?}");
    assert_eq!(
        outcome.outputs["3"].files["images"][0].filename,
        "follow2_00001_.png"
    );
    // An ended prompt ends at once; an unknown one is lost.
    let again = watcher.follow(&accepted.prompt_id, None, RunOptions::default());
    assert_eq!(again.finish().expect("outcome").outputs, outcome.outputs);
    let lost = watcher.follow("no-such-prompt", None, RunOptions::default());
    assert!(
        matches!(lost.finish(), Err(ComfyError::PromptLost { .. })),
        "an unknown prompt is lost"
    );
}
