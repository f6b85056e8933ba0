//! Benchmark: `GET /api/instances` under load while a job runs, and 200 Server-Sent Events
//! subscribers to one job, against the release binary and the in-process fake ComfyUI, all on
//! loopback.
//!
//! `cargo bench -p comfy-backend --bench api_load` (the load phase needs `wrk` on PATH, Debian's
//! `wrk` package, and is skipped with a note without it;
//! env `DURATION_SECS`, default 10; `CONNECTIONS`, default 32; `SUBSCRIBERS`, default 200).
//! Prints requests/s and latency percentiles from wrk, and for the subscribers how many saw every
//! event of the job (the same ids, names and data as the stored replay) and how long after the
//! job's last event the slowest one had it. Goal on a 2-core machine: >= 5,000 req/s, p99 < 20 ms.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use serde_json::{Value, json};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Backend {
    child: Child,
    url: String,
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_backend(config: &std::path::Path) -> Backend {
    let mut child = Command::new(env!("CARGO_BIN_EXE_comfy-backend"))
        .args([
            "--config",
            &config.to_string_lossy(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn")
        .env_remove("COMFY_BACKEND_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start comfy-backend");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    let url = line
        .trim()
        .strip_prefix("comfy-backend listening on ")
        .expect("listening line")
        .to_owned();
    Backend { child, url }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn submit(base: &str, workflow: &Value) -> String {
    let mut response = agent()
        .post(&format!("{base}/api/instances/local/workflows"))
        .header("content-type", "application/json")
        .send(json!({ "workflow": workflow }).to_string())
        .expect("submit");
    let body: Value = response.body_mut().read_json().expect("JSON");
    body["job_id"].as_str().expect("job_id").to_owned()
}

/// (id, event, data) of every event of a job's stream, to its end; and when the last arrived.
fn read_stream(base: &str, job: &str) -> (Vec<(u64, String, String)>, Instant) {
    let response = agent()
        .get(&format!("{base}/api/jobs/{job}/events"))
        .call()
        .expect("events");
    let reader = BufReader::new(response.into_body().into_reader());
    let mut out = Vec::new();
    let (mut id, mut event, mut data) = (0, String::new(), String::new());
    for line in reader.lines() {
        let Ok(line) = line else { break };
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("event: ") {
            v.clone_into(&mut event);
        } else if let Some(v) = line.strip_prefix("data: ") {
            v.clone_into(&mut data);
        } else if line.is_empty() && !event.is_empty() {
            out.push((id, std::mem::take(&mut event), std::mem::take(&mut data)));
        }
    }
    (out, Instant::now())
}

fn wait_state(base: &str, job: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut r = agent()
            .get(&format!("{base}/api/jobs/{job}"))
            .call()
            .expect("job");
        let v: Value = r.body_mut().read_json().expect("JSON");
        if v["state"] == state {
            return;
        }
        assert!(Instant::now() < deadline, "job {job} never {state}: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn load_instances(base: &str, secs: u64, connections: u64) {
    let Ok(out) = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            "--latency",
            &format!("{base}/api/instances"),
        ])
        .output()
    else {
        println!(
            "GET /api/instances load: skipped, wrk is not on PATH (Debian: apt-get install wrk)"
        );
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    println!("GET /api/instances while a job runs ({connections} connections, {secs} s, wrk):");
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("Requests/sec")
            || t.starts_with("Latency")
            || t.starts_with("50%")
            || t.starts_with("90%")
            || t.starts_with("99%")
            || t.contains("requests in")
            || t.starts_with("Non-2xx")
            || t.starts_with("Socket errors")
        {
            println!("  {t}");
        }
    }
}

fn main() {
    let secs = env_num("DURATION_SECS", 10);
    let connections = env_num("CONNECTIONS", 32);
    let subscribers = env_num("SUBSCRIBERS", 200) as usize;
    let comfy = FakeComfy::start(
        FakeOptions::default()
            .knobs(Knobs::default().slow_node("2", Duration::from_secs(secs + 20))),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "local:\n  - id: local\n    ssh: {{ host: 127.0.0.1, key_file: {d}/key, known_hosts_file: {d}/kh }}\n    comfyui: {{ path: /opt/ComfyUI, api_url: '{url}' }}\n",
            d = dir.path().display(),
            url = comfy.url()
        ),
    )
    .expect("config");
    let backend = start_backend(&config);
    let base = backend.url.clone();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let invert: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("fixtures/comfyui/workflows/invert.api.json"))
            .expect("workflow"),
    )
    .expect("JSON");
    let blur: Value = serde_json::from_str(
        &std::fs::read_to_string(
            root.join("fixtures/comfyui/workflows/blur_scale_two_outputs.api.json"),
        )
        .expect("workflow"),
    )
    .expect("JSON");

    // Phase 1: a job runs (node 2 is slow) while wrk loads the instance list.
    let running = submit(&base, &invert);
    wait_state(&base, &running, "running");
    load_instances(&base, secs, connections);
    let _ = agent()
        .post(&format!("{base}/api/jobs/{running}/cancel"))
        .send_empty();

    // Phase 2: subscribers attach to one job before it runs its nodes; each must see every event.
    comfy.set_knobs(Knobs::default().node_delay(Duration::from_millis(300)));
    let job = submit(&base, &blur);
    let started = Instant::now();
    let handles: Vec<_> = (0..subscribers)
        .map(|_| {
            let (base, job) = (base.clone(), job.clone());
            std::thread::spawn(move || read_stream(&base, &job))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
    let (replay, _) = read_stream(&base, &job);
    let complete = results
        .iter()
        .filter(|(events, _)| *events == replay)
        .count();
    let last = results
        .iter()
        .map(|(_, at)| *at)
        .max()
        .unwrap_or_else(Instant::now);
    let first = results
        .iter()
        .map(|(_, at)| *at)
        .min()
        .unwrap_or_else(Instant::now);
    println!(
        "{subscribers} SSE subscribers to one job ({} events, ends with {:?}):",
        replay.len(),
        replay.last().map_or("-", |e| e.1.as_str())
    );
    println!("  saw every event, in order: {complete}/{}", results.len());
    println!(
        "  last event reached the first subscriber after {:.0} ms, the last one {:.1} ms later",
        first.duration_since(started).as_secs_f64() * 1000.0,
        last.duration_since(first).as_secs_f64() * 1000.0
    );
}
