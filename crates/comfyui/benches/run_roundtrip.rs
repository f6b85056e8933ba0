//! Benchmark: submit -> done -> PNG downloaded, this client vs a plain Python urllib + polling
//! client (`polling_client.py`), against the same in-process fake ComfyUI, in one run.
//!
//! `cargo bench -p comfy-local-comfyui --bench run_roundtrip` (env `RUNS`, default 50;
//! `POLL_MS`, default 50, the polling interval of both polling clients).
//! Prints median wall times per run, the ratio to the Python peer, and the completion-detection
//! latency (detection time minus the server's `execution_success` timestamp, ms resolution), for
//! an instant run and for one whose node 2 takes 30 ms (so polling intervals show).

// A benchmark binary reports on stdout; "ComfyUI" is a product name in prose.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use comfy_local_comfyui::{ClientOptions, ComfyClient, Event, RunOptions};
use comfy_local_fake_comfyui::fixtures::{fixtures_dir, load};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use serde_json::{Value, json};

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        f64::NAN
    } else {
        s[s.len() / 2]
    }
}

fn p90(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        f64::NAN
    } else {
        s[(s.len() * 9 / 10).min(s.len() - 1)]
    }
}

struct Series {
    walls_s: Vec<f64>,
    latencies_ms: Vec<f64>,
}

/// Runs the workflow `runs` times with this client; `poll` forces history polling.
fn rust_runs(
    fake: &FakeComfy,
    workflow: &Value,
    runs: usize,
    poll: Option<Duration>,
    tag: &str,
) -> Series {
    let client = ComfyClient::with_options(&fake.url(), ClientOptions::default()).expect("client");
    let mut series = Series {
        walls_s: Vec::new(),
        latencies_ms: Vec::new(),
    };
    for i in 0..runs {
        let mut prompt = workflow.clone();
        prompt["3"]["inputs"]["filename_prefix"] = json!(format!("rs_{tag}_{i}"));
        prompt["1"]["inputs"]["color"] = json!(i);
        let mut opts = RunOptions::default();
        if let Some(p) = poll {
            opts = opts.poll_interval(p);
        }
        let start = Instant::now();
        let run = client.run(&prompt, opts).expect("submit");
        let mut success_ts = None;
        let outcome = run
            .wait_with(|e| {
                if let Event::ExecutionSuccess { timestamp, .. } = e {
                    success_ts = *timestamp;
                }
            })
            .expect("run");
        let detected = now_ms();
        let file = outcome.outputs["3"].files["images"][0].clone();
        let bytes = client.view_bytes(&file).expect("view");
        assert!(bytes.starts_with(b"\x89PNG"));
        series.walls_s.push(start.elapsed().as_secs_f64());
        let success_ts = success_ts.or_else(|| {
            let entry = client.history(&outcome.prompt_id).ok()??;
            entry
                .status
                .messages
                .iter()
                .find(|(n, _)| n == "execution_success")
                .and_then(|(_, d)| d["timestamp"].as_u64())
        });
        if let Some(ts) = success_ts {
            series.latencies_ms.push(detected - ts as f64);
        }
        assert_eq!(outcome.used_polling, poll.is_some());
    }
    series
}

fn python_runs(fake: &FakeComfy, runs: usize, poll: Duration) -> Option<Series> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/polling_client.py");
    let workflow = fixtures_dir().join("workflows/invert.api.json");
    let out = Command::new("python3")
        .arg(script)
        .arg(fake.url())
        .arg(runs.to_string())
        .arg(poll.as_secs_f64().to_string())
        .arg(&workflow)
        .output()
        .ok()?;
    if !out.status.success() {
        println!(
            "python peer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let list = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    Some(Series {
        walls_s: list("walls"),
        latencies_ms: list("latencies_ms"),
    })
}

fn report(name: &str, s: &Series) {
    println!(
        "{name:<34} median {:>7.2} ms  p90 {:>7.2} ms  detection latency median {:>6.1} ms  ({} runs)",
        median(&s.walls_s) * 1000.0,
        p90(&s.walls_s) * 1000.0,
        median(&s.latencies_ms),
        s.walls_s.len()
    );
}

fn extend(into: &mut Series, from: Series) {
    into.walls_s.extend(from.walls_s);
    into.latencies_ms.extend(from.latencies_ms);
}

fn scenario(fake: &FakeComfy, workflow: &Value, runs: usize, poll: Duration, work: Duration) {
    // Interleaved blocks, so load from other processes hits every client alike.
    let blocks = 5;
    let per_block = runs.div_ceil(blocks);
    let base = Knobs::default().slow_node("2", work);
    let empty = || Series {
        walls_s: Vec::new(),
        latencies_ms: Vec::new(),
    };
    let (mut ws, mut polled, mut py) = (empty(), empty(), Some(empty()));
    for b in 0..blocks {
        fake.set_knobs(base.clone());
        extend(
            &mut ws,
            rust_runs(
                fake,
                workflow,
                per_block,
                None,
                &format!("ws{}_{b}", work.as_millis()),
            ),
        );
        fake.set_knobs(base.clone().refuse_websocket(true));
        extend(
            &mut polled,
            rust_runs(
                fake,
                workflow,
                per_block,
                Some(poll),
                &format!("poll{}_{b}", work.as_millis()),
            ),
        );
        fake.set_knobs(base.clone());
        py = match (py, python_runs(fake, per_block, poll)) {
            (Some(mut acc), Some(block)) => {
                extend(&mut acc, block);
                Some(acc)
            }
            _ => None,
        };
    }
    let python = py;

    println!(
        "\nsubmit -> done -> PNG downloaded: invert.api.json (64x64) with node 2 taking {} ms, fake ComfyUI on loopback",
        work.as_millis()
    );
    report("this client (WebSocket)", &ws);
    report(
        &format!("this client (polling {} ms)", poll.as_millis()),
        &polled,
    );
    match python {
        Some(py) => {
            report(
                &format!("python urllib (polling {} ms)", poll.as_millis()),
                &py,
            );
            println!(
                "median ratio this client (WebSocket) / python: {:.3}  (goal <= 1.0)",
                median(&ws.walls_s) / median(&py.walls_s)
            );
            println!(
                "median ratio this client (polling) / python:   {:.3}",
                median(&polled.walls_s) / median(&py.walls_s)
            );
        }
        None => println!("python3 peer unavailable: no ratio"),
    }
    println!(
        "completion detection after execution_success (median): WebSocket {:.1} ms vs polling {:.1} ms",
        median(&ws.latencies_ms),
        median(&polled.latencies_ms)
    );
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(50);
    let poll = Duration::from_millis(
        std::env::var("POLL_MS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(50),
    );
    let workflow = load("workflows/invert.api.json");
    let fake = FakeComfy::start(FakeOptions::default());
    // Warm-up (connections, page cache, object_info parse).
    rust_runs(&fake, &workflow, 3, None, "warm");
    // Instant execution (finished before the first poll), then a node doing 30 ms of "work".
    scenario(&fake, &workflow, runs, poll, Duration::ZERO);
    scenario(&fake, &workflow, runs, poll, Duration::from_millis(30));
}
