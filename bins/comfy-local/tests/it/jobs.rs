//! `run --set/--seed`, `jobs` (list, show, watch, cancel), `download` and `upload` against
//! the fake ComfyUI: each verb's success and its main failure.

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use serde_json::{Value, json};

use crate::run::{files_under, is_png};
use crate::{config_for, repo_root, run, run_workflow, temp_dir};

fn workflow(name: &str) -> Utf8PathBuf {
    repo_root().join("fixtures/comfyui/workflows").join(name)
}

/// `comfy-local --config CONFIG ARGS...` in `dir`.
fn cli(config: &Utf8Path, dir: &Utf8Path, args: &[&str]) -> crate::Run {
    let mut all = vec!["--config", config.as_str()];
    all.extend_from_slice(args);
    run(&all, dir.as_std_path(), &[])
}

/// Every stdout line as JSON (each must be one object).
fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?} in {stdout}")))
        .collect()
}

/// `run WF --no-wait`: the prompt id it printed.
fn submit(config: &Utf8Path, dir: &Utf8Path, wf: &Utf8Path) -> String {
    let r = cli(config, dir, &["run", wf.as_str(), "--no-wait"]);
    assert_eq!(r.code, 0, "{r:?}");
    r.stdout.trim().to_owned()
}

/// Submits `prompt` as another client (a browser tab) would: `POST /prompt` with its own id.
fn submit_as_other_client(comfy: &FakeComfy, prompt: &Value) -> String {
    let body = json!({"prompt": prompt, "client_id": "browser-tab-1"}).to_string();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", comfy.port())).unwrap();
    write!(
        s,
        "POST /prompt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let json_start = answer.find("\r\n\r\n").unwrap() + 4;
    let v: Value =
        serde_json::from_str(&answer[json_start..]).unwrap_or_else(|e| panic!("{e}: {answer}"));
    v["prompt_id"].as_str().unwrap().to_owned()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The states `jobs --json` lists, by prompt id.
fn states(config: &Utf8Path, dir: &Utf8Path) -> Vec<(String, String, bool)> {
    let r = cli(config, dir, &["--json", "jobs"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v = &json_lines(&r.stdout)[0];
    v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["prompt_id"].as_str().unwrap().to_owned(),
                j["state"].as_str().unwrap().to_owned(),
                j["ours"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn set_changes_typed_values_of_the_submitted_prompt() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let out = dir.join("out");
    let wf = workflow("blur_scale_two_outputs.api.json");
    let r = run_workflow(
        &config,
        &wf,
        &out,
        &[
            "--set",
            "3.upscale_method=bicubic",
            "--set",
            "2.sigma=2.5",
            "--set",
            "4.filename_prefix=mine/x",
        ],
        &dir,
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("set 3.upscale_method = \"bicubic\"\nset 2.sigma = 2.5\n"),
        "{r:?}"
    );
    let inputs = |node: &str| comfy.submitted()[0]["prompt"][node]["inputs"].clone();
    assert_eq!(inputs("3")["upscale_method"], json!("bicubic"));
    assert_eq!(inputs("2")["sigma"], json!(2.5));
    assert_eq!(inputs("4")["filename_prefix"], json!("mine/x"));
    assert_eq!(
        files_under(out.join("mine").as_std_path()).len(),
        2,
        "the new prefix names the saved files: {r:?}"
    );
}

#[test]
fn set_with_a_wrong_choice_or_range_is_refused_before_anything_is_queued() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = workflow("blur_scale_two_outputs.api.json");
    let r = run_workflow(
        &config,
        &wf,
        &dir.join("out"),
        &["--set", "3.upscale_method=cubic"],
        &dir,
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("--set 3.upscale_method=cubic: \"cubic\" is not a choice of input upscale_method (5 choices): \"nearest-exact\", \"bilinear\", \"area\", \"bicubic\", \"lanczos\""),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("hint: give values as --set NODE_ID.input=VALUE"),
        "{r:?}"
    );
    let r = run_workflow(
        &config,
        &wf,
        &dir.join("out"),
        &["--json", "--set", "2.blur_radius=99"],
        &dir,
    );
    assert_eq!(r.code, 2, "{r:?}");
    let last = json_lines(&r.stdout).pop().unwrap();
    assert_eq!(last["exit_code"], json!(2));
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("99 is outside input blur_radius's range 1 to 31"),
        "{last}"
    );
    let r = run_workflow(
        &config,
        &wf,
        &dir.join("out"),
        &["--set", "8.width=1"],
        &dir,
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("no node \"8\"; its nodes: \"1 (EmptyImage)\""),
        "{r:?}"
    );
    assert!(comfy.submitted().is_empty(), "nothing was queued");
}

/// invert.api.json with a `RandomNoise` node (a seed with `control_after_generate`) beside it:
/// no output needs it, so ComfyUI does not run it.
fn seeded_workflow(dir: &Utf8Path) -> Utf8PathBuf {
    let mut wf: Value =
        serde_json::from_slice(&std::fs::read(workflow("invert.api.json")).unwrap()).unwrap();
    wf["9"] = json!({"class_type": "RandomNoise", "inputs": {"noise_seed": 1}});
    let path = dir.join("seeded.api.json");
    std::fs::write(&path, wf.to_string()).unwrap();
    path
}

#[test]
fn seed_sets_every_seed_input_and_random_stays_in_range() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = seeded_workflow(&dir);
    let r = cli(
        &config,
        &dir,
        &["run", wf.as_str(), "--no-wait", "--seed", "1234"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("set 9.noise_seed = 1234"), "{r:?}");
    let r = cli(
        &config,
        &dir,
        &[
            "--json",
            "run",
            wf.as_str(),
            "--no-wait",
            "--seed",
            "random",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let set = json_lines(&r.stdout)
        .into_iter()
        .find(|l| l["event"] == "set")
        .unwrap();
    let submitted = comfy.submitted();
    assert_eq!(
        submitted[0]["prompt"]["9"]["inputs"]["noise_seed"],
        json!(1234)
    );
    let random = &submitted[1]["prompt"]["9"]["inputs"]["noise_seed"];
    assert_eq!(&set["value"], random);
    assert!(random.as_u64().is_some_and(|n| n <= 1 << 50), "{random}");
}

#[test]
fn seed_on_a_workflow_without_seeds_is_refused() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = workflow("invert.api.json");
    let r = cli(
        &config,
        &dir,
        &["run", wf.as_str(), "--no-wait", "--seed", "7"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("--seed 7: the workflow has no seed input"),
        "{r:?}"
    );
    let r = cli(&config, &dir, &["run", wf.as_str(), "--seed", "-3"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(comfy.submitted().is_empty());
}

#[test]
fn jobs_lists_running_pending_done_and_failed_ours_and_others() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let invert = workflow("invert.api.json");
    let done = submit(&config, &dir, &invert);
    comfy.set_knobs(Knobs::default().fail_at_node("2"));
    let blur = workflow("blur_scale_two_outputs.api.json");
    let failed = submit(&config, &dir, &blur);
    wait_until("both ended", || {
        states(&config, &dir)
            .iter()
            .all(|(_, s, _)| s != "running" && s != "pending")
    });
    comfy.set_knobs(Knobs::default().slow_node("2", Duration::from_secs(30)));
    let running = submit(&config, &dir, &blur);
    let prompt: Value = serde_json::from_slice(&std::fs::read(&invert).unwrap()).unwrap();
    let other = submit_as_other_client(&comfy, &prompt);
    let listed = states(&config, &dir);
    let expect = |id: &str, state: &str, ours: bool| (id.to_owned(), state.to_owned(), ours);
    assert_eq!(
        listed,
        [
            expect(&running, "running", true),
            expect(&other, "pending", false),
            expect(&failed, "failed", true),
            expect(&done, "done", true),
        ]
    );
    let r = cli(&config, &dir, &["jobs"]);
    assert_eq!(r.code, 0, "{r:?}");
    let line = |id: &str| {
        r.stdout
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("{id} not listed: {r:?}"))
            .to_owned()
    };
    assert!(
        r.stdout
            .starts_with("instance local: 2 in the queue, 2 in history"),
        "{r:?}"
    );
    assert!(line(&other).ends_with("other   1 ahead"), "{r:?}");
    assert!(line(&failed).contains("node 2 (ImageBlur): "), "{r:?}");
    assert!(line(&done).starts_with("done "), "{r:?}");
    let r = cli(
        &config,
        &dir,
        &["--json", "jobs", "--instance", "elsewhere"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(json_lines(&r.stdout)[0]["ok"], json!(false));
}

#[test]
fn jobs_show_lists_nodes_and_outputs_and_an_unknown_id_is_a_usage_error() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let id = submit(&config, &dir, &workflow("invert.api.json"));
    wait_until("done", || states(&config, &dir)[0].1 == "done");
    let r = cli(&config, &dir, &["jobs", "show", &id]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("state    done\n"), "{r:?}");
    assert!(
        r.stdout
            .contains("nodes    3: 1 EmptyImage, 2 ImageInvert, 3 SaveImage\n"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("output   node 3: acc_invert_00001_.png [output]\n"),
        "{r:?}"
    );
    let r = cli(&config, &dir, &["--json", "jobs", "show", &id]);
    let v = &json_lines(&r.stdout)[0];
    assert_eq!(
        (v["state"].clone(), v["ours"].clone()),
        (json!("done"), json!(true))
    );
    assert_eq!(v["files"][0]["filename"], json!("acc_invert_00001_.png"));
    let r = cli(&config, &dir, &["jobs", "show", "no-such-prompt"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("no prompt \"no-such-prompt\" in the queue or history of instance local"),
        "{r:?}"
    );
}

#[test]
fn jobs_watch_follows_our_prompt_live_to_its_end() {
    let comfy = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_millis(800))),
    );
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let id = submit(&config, &dir, &workflow("blur_scale_two_outputs.api.json"));
    let r = cli(&config, &dir, &["jobs", "watch", &id]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.starts_with(&format!("watching prompt {id}\n")),
        "{r:?}"
    );
    for node in ["node 2: running", "node 2: done", "node 4: done"] {
        assert!(r.stderr.contains(node), "{node} missing: {r:?}");
    }
    assert!(
        r.stdout
            .contains(&format!("done: prompt {id} on local, 4 output file(s)")),
        "{r:?}"
    );
    // An ended prompt: watch returns at once.
    let r = cli(&config, &dir, &["--json", "jobs", "watch", &id]);
    assert_eq!(r.code, 0, "{r:?}");
    let last = json_lines(&r.stdout).pop().unwrap();
    assert_eq!(last["summary"]["outputs"], json!(4));
}

#[test]
fn jobs_watch_of_another_clients_prompt_sees_its_end_and_a_failure_exits_4() {
    let comfy = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_millis(500))),
    );
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let prompt: Value =
        serde_json::from_slice(&std::fs::read(workflow("invert.api.json")).unwrap()).unwrap();
    let other = submit_as_other_client(&comfy, &prompt);
    let r = cli(&config, &dir, &["jobs", "watch", &other]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr
            .contains("(another client's: its queue place and its end only)"),
        "{r:?}"
    );
    assert!(
        !r.stderr.contains("node 2: running"),
        "no events of other clients: {r:?}"
    );
    comfy.set_knobs(
        Knobs::default()
            .fail_at_node("2")
            .slow_node("1", Duration::from_millis(500)),
    );
    let id = submit(&config, &dir, &workflow("blur_scale_two_outputs.api.json"));
    let r = cli(&config, &dir, &["jobs", "watch", &id]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("node 2 (ImageBlur) failed"), "{r:?}");
    assert!(
        r.stderr.contains("node 1: running"),
        "ours: live events {r:?}"
    );
}

#[test]
fn jobs_cancel_removes_a_pending_prompt_and_interrupts_a_running_one() {
    let comfy = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_secs(30))),
    );
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = workflow("blur_scale_two_outputs.api.json");
    let running = submit(&config, &dir, &wf);
    let pending = submit(&config, &dir, &wf);
    wait_until("running", || states(&config, &dir)[0].1 == "running");
    let r = cli(&config, &dir, &["jobs", "cancel", &pending]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("it was waiting: it was removed from the queue"),
        "{r:?}"
    );
    let r = cli(&config, &dir, &["--json", "jobs", "cancel", &running]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(json_lines(&r.stdout)[0]["action"], json!("interrupted"));
    wait_until("interrupted", || {
        states(&config, &dir) == [(running.clone(), "interrupted".to_owned(), true)]
    });
    let r = cli(&config, &dir, &["jobs", "cancel", &running]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("is interrupted: it has ended: there is nothing to cancel"),
        "{r:?}"
    );
}

#[test]
fn download_saves_an_earlier_prompts_outputs_by_runs_rules() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let id = submit(&config, &dir, &workflow("blur_scale_two_outputs.api.json"));
    wait_until("done", || states(&config, &dir)[0].1 == "done");
    let out = dir.join("results");
    let r = cli(&config, &dir, &["download", &id, "--out", out.as_str()]);
    assert_eq!(r.code, 0, "{r:?}");
    let saved = files_under(out.as_std_path());
    assert_eq!(saved.len(), 4, "{saved:?} {r:?}");
    assert!(saved.iter().all(|p| is_png(p)), "{saved:?}");
    // Again: nothing is replaced, the names taken get free ones.
    let r = cli(
        &config,
        &dir,
        &[
            "--json",
            "download",
            &id,
            "--out",
            out.as_str(),
            "--no-previews",
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let lines = json_lines(&r.stdout);
    assert!(
        lines[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("scaled_00001_ (1).png"),
        "{lines:?}"
    );
    assert_eq!(
        lines.last().unwrap()["summary"]["outputs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(files_under(out.as_std_path()).len(), 6);
}

#[test]
fn download_of_an_unknown_or_unfinished_prompt_saves_nothing() {
    let comfy = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_secs(30))),
    );
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let out = dir.join("results");
    let r = cli(&config, &dir, &["download", "nope", "--out", out.as_str()]);
    assert_eq!(r.code, 2, "{r:?}");
    let id = submit(&config, &dir, &workflow("blur_scale_two_outputs.api.json"));
    let r = cli(&config, &dir, &["download", &id, "--out", out.as_str()]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains("its outputs can be downloaded once it has ended"),
        "{r:?}"
    );
    assert!(!out.exists(), "nothing was created");
}

#[test]
fn upload_never_replaces_a_file_and_reports_the_stored_name() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let png = std::fs::read(repo_root().join("fixtures/comfyui/recorded/view_output.png")).unwrap();
    let file = dir.join("cat.png");
    std::fs::write(&file, &png).unwrap();
    let r = cli(&config, &dir, &["upload", file.as_str()]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("uploaded "), "{r:?}");
    assert!(r.stdout.contains(" as input/cat.png ("), "{r:?}");
    assert_eq!(
        std::fs::read(comfy.input_dir().join("cat.png")).unwrap(),
        png
    );
    // Other content under the same name: kept, the upload gets a free name.
    let mut other = png.clone();
    other.extend_from_slice(b"other");
    std::fs::write(&file, &other).unwrap();
    let r = cli(
        &config,
        &dir,
        &["--json", "upload", file.as_str(), "--subfolder", "people"],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        json_lines(&r.stdout)[0]["stored_as"],
        json!("people/cat.png")
    );
    let r = cli(&config, &dir, &["--json", "upload", file.as_str()]);
    let first = &json_lines(&r.stdout)[0];
    assert_eq!(
        (first["stored_as"].clone(), first["renamed"].clone()),
        (json!("cat (1).png"), json!(true))
    );
    assert_eq!(
        std::fs::read(comfy.input_dir().join("cat.png")).unwrap(),
        png,
        "kept"
    );
    assert_eq!(
        std::fs::read(comfy.input_dir().join("cat (1).png")).unwrap(),
        other
    );
}

#[test]
fn upload_with_a_bad_subfolder_or_a_missing_file_uploads_nothing() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let file = dir.join("a.png");
    std::fs::write(&file, b"png").unwrap();
    let r = cli(
        &config,
        &dir,
        &["upload", file.as_str(), "--subfolder", "../../etc"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("subfolder \"../../etc\""), "{r:?}");
    let folder = dir.join("photos");
    std::fs::create_dir(&folder).unwrap();
    let r = cli(&config, &dir, &["upload", file.as_str(), folder.as_str()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("not a regular file"), "{r:?}");
    let missing = dir.join("missing.png");
    let r = cli(&config, &dir, &["upload", file.as_str(), missing.as_str()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("missing.png"), "{r:?}");
    assert_eq!(
        files_under(comfy.input_dir()).len(),
        0,
        "nothing was uploaded"
    );
}

#[test]
fn jobs_watch_shows_the_place_in_the_queue_then_the_nodes() {
    let comfy = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_millis(1500))),
    );
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let _first = submit(&config, &dir, &workflow("blur_scale_two_outputs.api.json"));
    let second = submit(&config, &dir, &workflow("invert.api.json"));
    let r = cli(&config, &dir, &["jobs", "watch", &second]);
    assert_eq!(r.code, 0, "{r:?}");
    let queued = r
        .stderr
        .find("waiting in the queue: 1 prompt(s) ahead")
        .unwrap_or_else(|| panic!("no queue place: {r:?}"));
    let node = r
        .stderr
        .find("node 3: done")
        .unwrap_or_else(|| panic!("{r:?}"));
    assert!(queued < node, "{r:?}");
}

#[test]
fn a_run_whose_prompt_another_terminal_cancels_fails_with_exit_4_not_130() {
    let comfy = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_secs(30))),
    );
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = workflow("blur_scale_two_outputs.api.json");
    let child = crate::spawn_run(&config, &wf, &dir.join("out"));
    wait_until("running", || {
        states(&config, &dir)
            .first()
            .is_some_and(|j| j.1 == "running")
    });
    let id = states(&config, &dir)[0].0.clone();
    let r = cli(&config, &dir, &["jobs", "cancel", &id]);
    assert_eq!(r.code, 0, "{r:?}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("hint: someone interrupted the prompt on the server"),
        "{stderr}"
    );
}
