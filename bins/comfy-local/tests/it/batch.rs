//! `comfy-local run --batch` over several fake `ComfyUI` servers (a fast one, a slow one, one that
//! rejects every prompt, one that dies mid-job) and a rented instance behind a fake VastAI:
//! every job done exactly once with its outputs once, the dead instance's job re-run elsewhere,
//! the local instance preferred while its queue is short, Ctrl-C interrupting running prompts,
//! and the summary line exact.

use std::fmt::Write as _;
use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use comfy_local_fake_vastai::FakeVastAi;
use serde_json::{Value, json};

use crate::run::{files_under, is_png};
use crate::{repo_root, run, temp_dir};

const VAST_KEY: &str = "test-key-0123456789";

/// `--config CONFIG --json run --batch WORKFLOWS --out OUT`, then `extra`: the batch command
/// the tests run.
fn batch_args<'a>(
    config: &'a Utf8Path,
    workflows: &'a Utf8Path,
    out: &'a Utf8Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "--config",
        config.as_str(),
        "--json",
        "run",
        "--batch",
        workflows.as_str(),
        "--out",
        out.as_str(),
    ];
    args.extend_from_slice(extra);
    args
}

/// A config with one local instance per `(id, url)` and, when given, VastAI at `vast`.
fn config(
    dir: &Utf8Path,
    locals: &[(&str, String)],
    vast: Option<&str>,
    pool: &str,
) -> Utf8PathBuf {
    let mut yaml = String::from("local:\n");
    for (id, url) in locals {
        let _ = write!(
            yaml,
            "  - id: {id}
    ssh: {{ host: 127.0.0.1, key_file: {dir}/key, known_hosts_file: {dir}/kh }}
    comfyui: {{ path: /opt/ComfyUI, api_url: '{url}' }}
"
        );
    }
    if let Some(vast) = vast {
        let _ = writeln!(
            yaml,
            "vastai: {{ enabled: true, api_key_env: TEST_VAST_KEY, api_url: '{vast}', ssh: {{ key_file: {dir}/key, known_hosts_dir: {dir}/vast_kh }}, comfyui: {{ port: 8188 }} }}"
        );
    }
    let _ = writeln!(yaml, "pool: {pool}");
    let path = dir.join("config.yml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// `n` copies of a workflow with two `SaveImage` and two `PreviewImage` outputs, `wf-<i>.json`.
fn workflows(dir: &Utf8Path, n: usize) -> Utf8PathBuf {
    let wfs = dir.join("wfs");
    std::fs::create_dir_all(&wfs).unwrap();
    let src = repo_root().join("fixtures/comfyui/workflows/blur_scale_two_outputs.api.json");
    for i in 0..n {
        std::fs::copy(&src, wfs.join(format!("wf-{i}.json"))).unwrap();
    }
    wfs
}

/// A VastAI row for a running rented instance whose ComfyUI port is published at `port`
/// (reached directly; its SSH endpoint, a closed loopback port, is never needed).
fn rented_row(id: u64, port: u16, dph: f64) -> Value {
    json!({
        "id": id, "label": "rented", "actual_status": "running", "intended_status": "running",
        "dph_total": dph, "public_ipaddr": "127.0.0.1", "ssh_host": "127.0.0.1", "ssh_port": 1,
        "ports": {"8188/tcp": [{"HostIp": "0.0.0.0", "HostPort": port.to_string()}]},
    })
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// Each job folder holds the job's four PNGs and nothing else is in `out` (no staging left).
fn assert_outputs_once(out: &Utf8Path, jobs: usize) {
    let mut names: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let expected: Vec<String> = (0..jobs).map(|i| format!("wf-{i}")).collect();
    assert_eq!(names, expected, "job folders (and nothing else) in {out}");
    for name in &names {
        let files = files_under(out.join(name).as_std_path());
        assert_eq!(files.len(), 4, "{name}: {files:?}");
        assert!(files.iter().all(|f| is_png(f)), "{files:?}");
    }
}

#[test]
fn every_job_is_done_once_though_one_instance_rejects_and_one_dies() {
    let fast = FakeComfy::start(FakeOptions::default());
    let slow = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().node_delay(Duration::from_millis(150))),
    );
    let rejects = FakeComfy::start(FakeOptions::default().knobs(Knobs::default().reject(
        400,
        json!({"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}}, "node_errors": {}}),
    )));
    let mut dying = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_secs(20))),
    );
    let (_g, dir) = temp_dir();
    let config = config(
        &dir,
        &[
            ("dying", dying.url()),
            ("rejects", rejects.url()),
            ("fast", fast.url()),
            ("slow", slow.url()),
        ],
        None,
        "{ queue_threshold: 5, max_in_flight: 1, max_tries: 4, failures_before_quarantine: 2, probe_interval_secs: 60 }",
    );
    let wfs = workflows(&dir, 6);
    let out = dir.join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_comfy-local"))
        .args(batch_args(&config, &wfs, &out, &["--instances", "all"]))
        .env_remove("COMFY_LOCAL_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        let line = line.unwrap();
        let event: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        // The dying instance dies while its first job runs (node 2 takes 20 s there).
        if event["type"] == "started" && event["instance"] == "dying" && dying.port() != 0 {
            std::thread::sleep(Duration::from_millis(300));
            dying.stop();
        }
        seen.push(event);
    }
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{seen:#?}\n{stderr}");

    // The dead instance's job was re-run elsewhere and done there.
    let dead_job = seen
        .iter()
        .find(|e| e["type"] == "attempt_failed" && e["instance"] == "dying")
        .unwrap_or_else(|| panic!("no failed attempt on the dying instance: {seen:#?}"))["job"]
        .clone();
    let done_of = |job: &Value| {
        seen.iter()
            .filter(|e| e["type"] == "done" && &e["job"] == job)
            .count()
    };
    assert_eq!(done_of(&dead_job), 1, "{seen:#?}");
    for i in 0..6 {
        assert_eq!(done_of(&json!(format!("wf-{i}"))), 1, "wf-{i}: {seen:#?}");
    }
    assert!(
        seen.iter()
            .any(|e| e["type"] == "attempt_failed" && e["instance"] == "rejects"),
        "{seen:#?}"
    );
    assert_outputs_once(&out, 6);

    check_summary(seen.last().unwrap());
    // Every prompt the working instances ran is one job: nothing was run twice.
    assert_eq!(fast.submitted().len() + slow.submitted().len(), 6);
}

/// The last line of the dying/rejecting batch: the summary, with exactly its keys.
fn check_summary(summary: &Value) {
    // The summary is the last line, exactly these keys.
    let instances = &summary["instances"];
    assert_eq!(
        (
            summary["type"].clone(),
            summary["jobs"].clone(),
            summary["done"].clone(),
            summary["failed"].clone()
        ),
        (json!("summary"), json!(6), json!(6), json!(0))
    );
    let keys: Vec<&String> = summary.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["done", "failed", "instances", "jobs", "type"]);
    let ids: Vec<&String> = instances.as_object().unwrap().keys().collect();
    assert_eq!(ids, ["dying", "fast", "rejects", "slow"]);
    for id in ids {
        let i = &instances[id];
        let keys: Vec<&String> = i.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["cost_usd", "done", "failed", "seconds"], "{id}");
        assert_eq!(i["cost_usd"], json!(0.0), "{id}: local instances are free");
    }
    assert_eq!(instances["rejects"]["done"], json!(0));
    assert!(instances["rejects"]["failed"].as_u64() >= Some(1));
    assert_eq!(instances["dying"]["done"], json!(0));
    assert_eq!(instances["dying"]["failed"], json!(1));
    let done: u64 = ["fast", "slow"]
        .iter()
        .map(|i| instances[i]["done"].as_u64().unwrap())
        .sum();
    assert_eq!(done, 6);
}

#[test]
fn the_local_instance_is_preferred_while_its_queue_is_short_and_rented_used_when_deep() {
    let local = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().node_delay(Duration::from_millis(100))),
    );
    let rented = FakeComfy::start(FakeOptions::default());
    let vast =
        FakeVastAi::with_instances(VAST_KEY, vec![rented_row(4242, rented.port(), 0.5)]).unwrap();
    let (_g, dir) = temp_dir();
    let config = config(
        &dir,
        &[("local", local.url())],
        Some(&vast.base_url()),
        "{ queue_threshold: 1, max_in_flight: 2 }",
    );
    let env = [("TEST_VAST_KEY", VAST_KEY)];
    let wfs = workflows(&dir, 2);
    let short = run(
        &batch_args(&config, &wfs, &dir.join("short"), &[]),
        dir.as_std_path(),
        &env,
    );
    assert_eq!(short.code, 0, "{short:?}");
    let summary = lines(&short.stdout).pop().unwrap();
    assert_eq!(summary["instances"]["local"]["done"], json!(2), "{summary}");
    assert_eq!(summary["instances"]["4242"]["done"], json!(0), "{summary}");
    assert_eq!(
        summary["instances"]["4242"]["cost_usd"],
        json!(0.0),
        "{summary}"
    );
    assert!(rented.submitted().is_empty());

    let wfs = workflows(&dir, 8);
    let deep = run(
        &batch_args(
            &config,
            &wfs,
            &dir.join("deep"),
            &["--instances", "local,4242"],
        ),
        dir.as_std_path(),
        &env,
    );
    assert_eq!(deep.code, 0, "{deep:?}");
    let summary = lines(&deep.stdout).pop().unwrap();
    let on_rented = summary["instances"]["4242"]["done"].as_u64().unwrap();
    assert!(on_rented >= 1, "{summary}");
    assert_eq!(summary["done"], json!(8));
    let seconds = summary["instances"]["4242"]["seconds"].as_f64().unwrap();
    let cost = summary["instances"]["4242"]["cost_usd"].as_f64().unwrap();
    assert!((cost - 0.5 * seconds / 3600.0).abs() < 1e-12, "{summary}");
    assert_outputs_once(&dir.join("deep"), 8);
}

#[test]
fn ctrl_c_stops_the_batch_and_interrupts_running_prompts() {
    let a = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_secs(30))),
    );
    let b = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_secs(30))),
    );
    let (_g, dir) = temp_dir();
    let config = config(
        &dir,
        &[("a", a.url()), ("b", b.url())],
        None,
        "{ max_in_flight: 1 }",
    );
    let wfs = workflows(&dir, 4);
    let out = dir.join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_comfy-local"))
        .args(batch_args(&config, &wfs, &out, &[]))
        .env_remove("COMFY_LOCAL_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut started = 0;
    for line in lines.by_ref() {
        if line.unwrap().contains("\"started\"") {
            started += 1;
            if started == 2 {
                break;
            }
        }
    }
    // Both prompts are queued on the servers once their sockets show up.
    let deadline = Instant::now() + Duration::from_secs(10);
    while (a.socket_count() == 0 || b.socket_count() == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let rest: Vec<Value> = lines
        .map_while(Result::ok)
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest:#?}");
    assert!(
        sent.elapsed() < Duration::from_secs(15),
        "stopping took {:?}",
        sent.elapsed()
    );
    let summary = rest.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(
        (summary["done"].clone(), summary["failed"].clone()),
        (json!(0), json!(0))
    );
    // The prompts were interrupted on both servers (node 2 would run for 30 s more).
    for (name, comfy) in [("a", &a), ("b", &b)] {
        let client = comfy_local_comfyui::ComfyClient::new(&comfy.url()).unwrap();
        let queue = client.queue().unwrap();
        assert!(
            queue.running.is_empty() && queue.pending.is_empty(),
            "{name} still runs the batch's prompt: {queue:?}"
        );
        assert_eq!(comfy.submitted().len(), 1, "{name}");
    }
    // Nothing was saved, no staging folder is left.
    assert!(files_under(out.as_std_path()).is_empty());
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
}

#[test]
fn usage_errors_exit_2_and_an_unreachable_pool_exits_3() {
    let (_g, dir) = temp_dir();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = config(
        &dir,
        &[("gone", format!("http://127.0.0.1:{closed}"))],
        None,
        "{}",
    );
    let wfs = workflows(&dir, 1);
    let out = dir.join("out");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "--config",
            config.as_str(),
            "run",
            "--batch",
            wfs.as_str(),
            "--out",
            out.as_str(),
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let go = |extra: &[&str]| {
        let a = args(extra);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        run(&refs, dir.as_std_path(), &[])
    };
    let unreachable = go(&["--instances", "gone"]);
    assert_eq!(unreachable.code, 3, "{unreachable:?}");
    assert!(
        unreachable
            .stderr
            .contains("no instance of the pool answers"),
        "{unreachable:?}"
    );
    let unknown = go(&["--instances", "nope"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown.stderr.contains("no instance \"nope\" is listed"),
        "{unknown:?}"
    );
    std::fs::create_dir_all(out.join("wf-0")).unwrap();
    let taken = go(&["--instances", "gone"]);
    assert_eq!(taken.code, 2, "{taken:?}");
    assert!(taken.stderr.contains("already holds wf-0"), "{taken:?}");
    let conflict = go(&["--input", "a=b"]);
    assert_eq!(conflict.code, 2, "{conflict:?}");
}

#[test]
fn an_instance_lacking_the_jobs_model_is_skipped_for_it() {
    let lacks = FakeComfy::start(FakeOptions::default());
    let has =
        FakeComfy::start(FakeOptions::default().model_folder("checkpoints", &["m.safetensors"]));
    let (_g, dir) = temp_dir();
    let config = config(
        &dir,
        &[("lacks", lacks.url()), ("has", has.url())],
        None,
        "{ max_in_flight: 1 }",
    );
    let mut prompt: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("fixtures/comfyui/workflows/invert.api.json"))
            .unwrap(),
    )
    .unwrap();
    // Not linked to an output (ComfyUI does not run it), but the dependency check needs its model.
    prompt["8"] =
        json!({"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "m.safetensors"}});
    let wf = dir.join("needs-model.json");
    std::fs::write(&wf, prompt.to_string()).unwrap();
    let out = dir.join("out");
    let result = run(&batch_args(&config, &wf, &out, &[]), dir.as_std_path(), &[]);
    assert_eq!(result.code, 0, "{result:?}");
    let seen = lines(&result.stdout);
    let steps: Vec<(String, String)> = seen
        .iter()
        .filter(|e| e["type"] != "summary")
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["instance"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("started", "lacks"),
        ("skipped", "lacks"),
        ("started", "has"),
        ("done", "has"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(steps, expected, "{seen:#?}");
    let skipped = seen.iter().find(|e| e["type"] == "skipped").unwrap();
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap()
            .contains("m.safetensors"),
        "{skipped}"
    );
    let summary = seen.last().unwrap();
    assert_eq!(
        summary["instances"]["lacks"]["failed"],
        json!(0),
        "{summary}"
    );
    assert_eq!(summary["instances"]["has"]["done"], json!(1), "{summary}");
    assert!(lacks.submitted().is_empty());
}

/// The VastAI requests so far, as `METHOD PATH`.
fn vast_requests(vast: &FakeVastAi) -> Vec<String> {
    vast.requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

#[test]
fn the_start_probes_each_chosen_instance_once_and_no_other() {
    let [a, b, c, rented] = [(); 4].map(|()| FakeComfy::start(FakeOptions::default()));
    let vast =
        FakeVastAi::with_instances(VAST_KEY, vec![rented_row(4242, rented.port(), 0.5)]).unwrap();
    let (_g, dir) = temp_dir();
    let config = config(
        &dir,
        &[("a", a.url()), ("b", b.url()), ("c", c.url())],
        Some(&vast.base_url()),
        "{}",
    );
    let env = [("TEST_VAST_KEY", VAST_KEY)];
    let wfs = workflows(&dir, 2);
    let batch = |instances: &str, out: &str| {
        let out = dir.join(out);
        run(
            &batch_args(&config, &wfs, &out, &["--instances", instances]),
            dir.as_std_path(),
            &env,
        )
    };

    // GET /system_stats on each: the start probe, and one per attempt there (each attempt's
    // own client finds ComfyUI's route prefix with it).
    let stats = || {
        [&a, &b, &c, &rented]
            .iter()
            .map(|f| f.system_stats_requests())
            .collect::<Vec<_>>()
    };
    let attempts = |stdout: &str| {
        let events = lines(stdout);
        ["a", "b", "c", "4242"]
            .iter()
            .map(|id| {
                events
                    .iter()
                    .filter(|e| e["type"] == "started" && e["instance"] == *id)
                    .count()
            })
            .collect::<Vec<_>>()
    };

    let named = batch("a,b", "named");
    assert_eq!(named.code, 0, "{named:?}");
    assert_eq!(lines(&named.stdout).last().unwrap()["done"], json!(2));
    let tried = attempts(&named.stdout);
    assert_eq!(stats(), [1 + tried[0], 1 + tried[1], 0, 0], "{named:?}");
    // Neither the instance left out of --instances nor the rented one was contacted.
    assert_eq!((c.requests(), rented.requests()), (0, 0));
    assert_eq!(vast_requests(&vast), ["GET /api/v1/instances/"]);

    vast.clear_requests();
    let before = stats();
    let all = batch("all", "all");
    assert_eq!(all.code, 0, "{all:?}");
    let tried = attempts(&all.stdout);
    let probed: Vec<usize> = stats().iter().zip(&before).map(|(n, b)| n - b).collect();
    let expected: Vec<usize> = tried.iter().map(|t| 1 + t).collect();
    assert_eq!(probed, expected, "{all:?}");
    // One list request; the rented instance's jobs reach it as that listing had it.
    assert_eq!(vast_requests(&vast), ["GET /api/v1/instances/"]);
}

/// A UI workflow (`invert.ui.json`) with a `RandomNoise` node, whose seed widget is the one
/// `--seed` and `--repeat` set once it is converted.
fn ui_with_seed() -> Value {
    let src = repo_root().join("fixtures/comfyui/workflows/invert.ui.json");
    let mut ui: Value = serde_json::from_slice(&std::fs::read(src).unwrap()).unwrap();
    ui["nodes"].as_array_mut().unwrap().push(json!({
        "id": 4, "type": "RandomNoise", "pos": [100, 330], "size": [270, 82], "flags": {},
        "order": 3, "mode": 0, "inputs": [],
        "outputs": [{"name": "NOISE", "type": "NOISE", "links": []}],
        "properties": {}, "widgets_values": [5, "randomize"],
    }));
    ui["last_node_id"] = json!(4);
    ui
}

#[test]
fn repeat_on_workflows_without_a_seed_input_is_a_usage_error_before_any_prompt() {
    let fake = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config(&dir, &[("a", fake.url())], None, "{}");
    let wfs = dir.join("wfs");
    std::fs::create_dir_all(&wfs).unwrap();
    let fixtures = repo_root().join("fixtures/comfyui/workflows");
    std::fs::copy(fixtures.join("invert.api.json"), wfs.join("api-none.json")).unwrap();
    std::fs::copy(fixtures.join("invert.ui.json"), wfs.join("ui-none.json")).unwrap();
    let mut seeded: Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("invert.api.json")).unwrap()).unwrap();
    seeded["9"] = json!({"class_type": "RandomNoise", "inputs": {"noise_seed": 1}});
    std::fs::write(wfs.join("api-seed.json"), seeded.to_string()).unwrap();
    std::fs::write(wfs.join("ui-seed.json"), ui_with_seed().to_string()).unwrap();
    // A node class the instance lacks: whether it takes a seed is not known there.
    seeded["9"] = json!({"class_type": "NoSuchNoise", "inputs": {"seed": 1}});
    std::fs::write(wfs.join("unknown-class.json"), seeded.to_string()).unwrap();
    let batch = |paths: &[&Utf8Path], out: &Utf8Path| {
        let mut args = vec!["--config", config.as_str(), "run", "--batch"];
        args.extend(paths.iter().map(|p| p.as_str()));
        args.extend(["--repeat", "2", "--instances", "a", "--out", out.as_str()]);
        run(&args, dir.as_std_path(), &[])
    };

    let out = dir.join("out");
    let refused = batch(&[&wfs], &out);
    assert_eq!(refused.code, 2, "{refused:?}");
    let first = refused.stderr.lines().next().unwrap_or_default();
    for name in ["api-none.json", "ui-none.json"] {
        assert!(
            first.contains(wfs.join(name).as_str()),
            "{name}: {refused:?}"
        );
    }
    for name in ["api-seed.json", "ui-seed.json", "unknown-class.json"] {
        assert!(!refused.stderr.contains(name), "{name}: {refused:?}");
    }
    assert!(first.contains("no seed input"), "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("each copy of --repeat gets its own seed, and these workflows have no seed input: drop --repeat, or use a workflow with one"),
        "{refused:?}"
    );
    // The instance was asked only whether it answers and for its object_info: no prompt.
    assert!(fake.submitted().is_empty());
    assert_eq!(
        (
            fake.system_stats_requests(),
            fake.object_info_requests(),
            fake.requests()
        ),
        (1, 1, 2)
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "no job folder");

    // The workflows with a seed input run, each copy with its own seed.
    let done = batch(
        &[&wfs.join("api-seed.json"), &wfs.join("ui-seed.json")],
        &dir.join("done"),
    );
    assert_eq!(done.code, 0, "{done:?}");
    // (node id, seed) of each prompt's RandomNoise: 9 in the API file, 4 in the UI one.
    let mut seeds: Vec<(String, u64)> = fake
        .submitted()
        .iter()
        .map(|p| {
            let prompt = p["prompt"].as_object().unwrap();
            let (id, noise) = prompt
                .iter()
                .find(|(_, n)| n["class_type"] == "RandomNoise")
                .unwrap();
            (id.clone(), noise["inputs"]["noise_seed"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(seeds.len(), 4);
    seeds.sort_unstable();
    seeds.dedup();
    let ids: Vec<&str> = seeds.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        ["4", "4", "9", "9"],
        "each copy of each file its own seed"
    );
}
