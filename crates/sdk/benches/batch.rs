//! Benchmark (not a test): `batch::run_batch` over N real fake ComfyUI servers on loopback
//! (N = 1, 2, 4, 8, 16, 32; each node of the 3-node workflow takes a fixed delay, so a job
//! takes a fixed time plus the client's own work: object_info, the dependency check, submit,
//! the WebSocket, the output download), against naive round-robin (job i on instance i mod N,
//! each instance's share run one after another with plain `run_workflow`, which fetches
//! object_info for every job where the pool's workers fetch it once per instance), in one run.
//! Prints jobs/s and p99 job latency (batch start to job done) of both, and the pool's jobs/s
//! as a share of N x its one-instance rate. Run with
//! `cargo bench -p comfy-local-sdk --bench batch`.

#![expect(clippy::print_stdout, reason = "a benchmark prints its numbers")]

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_config::Config;
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use comfy_local_sdk::batch::{
    BatchEvent, BatchJob, BatchRequest, BatchStop, InstanceChoice, PoolEvent, batch_jobs, run_batch,
};
use comfy_local_sdk::{Interrupter, RunRequest, run_workflow};

const NODE_DELAY: Duration = Duration::from_millis(100);
const JOBS_PER_INSTANCE: usize = 4;

fn config(urls: &[String], dir: &Utf8Path) -> Config {
    let mut yaml = String::from("local:\n");
    for (i, url) in urls.iter().enumerate() {
        let _ = write!(
            yaml,
            "  - id: i{i}\n    ssh: {{ host: 127.0.0.1, key_file: {dir}/key, known_hosts_file: {dir}/kh }}\n    comfyui: {{ path: /opt/ComfyUI, api_url: '{url}' }}\n"
        );
    }
    yaml.push_str("pool: { max_in_flight: 1 }\n");
    Config::from_str_named(&yaml, "bench.yml").expect("bench config")
}

struct Figures {
    jobs_per_s: f64,
    p99: Duration,
}

fn figures(mut latencies: Vec<Duration>) -> Figures {
    latencies.sort_unstable();
    let last = latencies.last().copied().unwrap_or_default();
    let p99 = latencies[(latencies.len() * 99).div_ceil(100).saturating_sub(1)];
    Figures {
        jobs_per_s: latencies.len() as f64 / last.as_secs_f64(),
        p99,
    }
}

fn pool(config: &Config, jobs: &[BatchJob], out: Utf8PathBuf) -> Figures {
    let req = BatchRequest {
        jobs: jobs.to_vec(),
        instances: InstanceChoice::Ids(config.local.iter().map(|l| l.id.to_string()).collect()),
        out_dir: out,
        sync: false,
        previews: false,
        timeout: None,
    };
    let mut started = None;
    let mut latencies = Vec::new();
    let report = run_batch(config, &req, &BatchStop::new(), &mut |e| match e {
        BatchEvent::Pool(PoolEvent::Started { .. }) if started.is_none() => {
            started = Some(Instant::now());
        }
        BatchEvent::Pool(PoolEvent::Done { .. }) => {
            latencies.push(started.map_or_else(Duration::default, |s| s.elapsed()));
        }
        _ => {}
    })
    .expect("batch");
    assert_eq!(report.report.done(), jobs.len(), "{:?}", report.report.jobs);
    figures(latencies)
}

/// The same jobs (the same seeds: nothing is cached by ComfyUI for one and not the other).
fn round_robin(config: &Config, jobs: &[BatchJob], out: &Utf8Path) -> Figures {
    let n = config.local.len();
    let latencies = Mutex::new(Vec::new());
    let start = Instant::now();
    std::thread::scope(|s| {
        for (i, local) in config.local.iter().enumerate() {
            let latencies = &latencies;
            s.spawn(move || {
                for job in jobs.iter().skip(i).step_by(n) {
                    let req = RunRequest {
                        workflow: job.workflow.clone(),
                        instance: Some(local.id.to_string()),
                        inputs: Vec::new(),
                        out_dir: out.join(&job.name),
                        previews: false,
                        timeout: None,
                        wait: true,
                        sets: Vec::new(),
                        seed: job.seed,
                    };
                    run_workflow(config, &req, &Interrupter::new(), &mut |_| {}).expect("run");
                    latencies
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(start.elapsed());
                }
            });
        }
    });
    figures(latencies.into_inner().unwrap_or_default())
}

fn main() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = Utf8PathBuf::from_path_buf(tmp.path().to_path_buf()).expect("UTF-8 temp dir");
    let src = Utf8Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/comfyui/workflows/invert.api.json");
    let mut prompt: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&src).expect("fixture")).expect("fixture JSON");
    prompt["9"] = serde_json::json!({"class_type": "RandomNoise", "inputs": {"noise_seed": 1}});
    let wf = dir.join("invert.json");
    std::fs::write(&wf, prompt.to_string()).expect("workflow");
    println!(
        "batch over N fake ComfyUI servers: 3-node workflow, {NODE_DELAY:?} per node, {JOBS_PER_INSTANCE} jobs per instance, 1 in flight each"
    );
    println!(
        "{:>3} {:>12} {:>12} {:>8} {:>11} {:>11} {:>12}",
        "N", "pool jobs/s", "rr jobs/s", "pool/rr", "pool p99", "rr p99", "pool/(N*one)"
    );
    let mut one = None;
    for n in [1, 2, 4, 8, 16, 32] {
        let servers: Vec<FakeComfy> = (0..n)
            .map(|_| {
                FakeComfy::start(
                    FakeOptions::default().knobs(Knobs::default().node_delay(NODE_DELAY)),
                )
            })
            .collect();
        let urls: Vec<String> = servers.iter().map(FakeComfy::url).collect();
        let config = config(&urls, &dir);
        let jobs = batch_jobs(
            std::slice::from_ref(&wf),
            (n * JOBS_PER_INSTANCE) as u32,
            None,
        )
        .expect("jobs");
        let p = pool(&config, &jobs, dir.join(format!("pool-{n}")));
        // Fresh servers: nothing cached from the pool's run.
        drop(servers);
        let servers: Vec<FakeComfy> = (0..n)
            .map(|_| {
                FakeComfy::start(
                    FakeOptions::default().knobs(Knobs::default().node_delay(NODE_DELAY)),
                )
            })
            .collect();
        let urls: Vec<String> = servers.iter().map(FakeComfy::url).collect();
        let config = self::config(&urls, &dir);
        let r = round_robin(&config, &jobs, &dir.join(format!("rr-{n}")));
        let one_rate = *one.get_or_insert(p.jobs_per_s);
        println!(
            "{n:>3} {:>12.2} {:>12.2} {:>8.2} {:>11.1?} {:>11.1?} {:>12.2}",
            p.jobs_per_s,
            r.jobs_per_s,
            p.jobs_per_s / r.jobs_per_s,
            p.p99,
            r.p99,
            p.jobs_per_s / (n as f64 * one_rate)
        );
    }
}
