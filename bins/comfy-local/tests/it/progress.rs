//! `comfy-local run` progress and Ctrl-C against the fake ComfyUI: nodes shown finished when the
//! next starts, cached nodes marked cached, the queue position while waiting behind another
//! client's prompt, and Ctrl-C while queued removing the prompt from the queue.

use std::io::BufRead as _;
use std::time::{Duration, Instant};

use comfy_local_comfyui::{ComfyClient, SubmitOptions};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};

use crate::{config_for, repo_root, run_workflow, spawn_run, temp_dir};

fn invert_workflow() -> camino::Utf8PathBuf {
    repo_root().join("fixtures/comfyui/workflows/invert.api.json")
}

#[test]
fn plain_progress_shows_each_node_done_when_the_next_starts_and_cached_nodes_cached() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = invert_workflow();
    let out = dir.join("out");
    let first = run_workflow(&config, &wf, &out, &[], &dir);
    assert_eq!(first.code, 0, "{first:?}");
    let lines: Vec<&str> = first
        .stderr
        .lines()
        .filter(|l| l.starts_with("node "))
        .collect();
    assert_eq!(
        lines,
        [
            "node 1: running",
            "node 1: done",
            "node 2: running",
            "node 2: done",
            "node 3: running",
            "node 3: done",
        ],
        "{}",
        first.stderr
    );

    // The same prompt again: ComfyUI answers every node from its cache.
    let second = run_workflow(&config, &wf, &out, &[], &dir);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(
        second.stderr.contains("cached: node(s) 1, 2, 3"),
        "{}",
        second.stderr
    );
    assert!(
        !second.stderr.lines().any(|l| l.starts_with("node ")),
        "cached nodes are not shown running or done: {}",
        second.stderr
    );
}

/// Submits a slow prompt as another client and waits until it runs.
fn occupy_the_queue(comfy: &FakeComfy) -> ComfyClient {
    let other = ComfyClient::new(&comfy.url()).unwrap();
    let mut prompt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(invert_workflow()).unwrap()).unwrap();
    // Another colour: not the prompt under test.
    prompt["1"]["inputs"]["color"] = 0x0012_3456.into();
    other.submit(&prompt, &SubmitOptions::default()).unwrap();
    let started = Instant::now();
    while other.queue().unwrap().running.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(10), "never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    other
}

#[test]
fn ctrl_c_while_queued_removes_the_prompt_from_the_queue_and_exits_130() {
    let comfy = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_secs(30))),
    );
    let other = occupy_the_queue(&comfy);
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = invert_workflow();
    let mut child = spawn_run(&config, &wf, &dir.join("out"));
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    // The queue position is shown while the prompt waits behind the other client's.
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("waiting in the queue") {
            break;
        }
    }
    assert_eq!(
        seen.last().map(String::as_str),
        Some("waiting in the queue: 1 prompt(s) ahead"),
        "{seen:?}"
    );
    let queue = other.queue().unwrap();
    assert_eq!(queue.pending.len(), 1, "ours waits: {queue:?}");
    let started = Instant::now();
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopping took {:?}",
        started.elapsed()
    );
    assert!(
        rest.iter().any(|l| l.starts_with("error: ")
            && l.contains("interrupted")
            && l.contains("removed from the queue")),
        "{rest:?}"
    );
    let queue = other.queue().unwrap();
    assert!(queue.pending.is_empty(), "still queued: {queue:?}");
    assert_eq!(queue.running.len(), 1, "the other client's prompt runs on");
}

#[test]
fn a_second_ctrl_c_exits_at_once() {
    // A node that never checks for interrupts: the first Ctrl-C cannot end the run soon.
    let comfy = FakeComfy::start(
        FakeOptions::default().knobs(
            Knobs::default()
                .slow_node("2", Duration::from_secs(30))
                .ignore_interrupts(true),
        ),
    );
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = invert_workflow();
    let mut child = spawn_run(&config, &wf, &dir.join("out"));
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("node 2: running") {
            break;
        }
    }
    let pid = child.id().to_string();
    let interrupt = || {
        let st = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        assert!(st.success());
    };
    interrupt();
    let mut said = false;
    for line in lines.by_ref() {
        if line.unwrap().contains("Ctrl-C again to quit at once") {
            said = true;
            break;
        }
    }
    assert!(said, "the first Ctrl-C says what a second one does");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first Ctrl-C waits for the server"
    );
    let started = Instant::now();
    interrupt();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the second Ctrl-C took {:?}",
        started.elapsed()
    );
}
