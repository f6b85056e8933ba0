//! `comfy-local run` end to end against the fake ComfyUI: real PNGs saved, UI workflows
//! converted, inputs uploaded, missing dependencies refused before anything is queued.

use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use insta::assert_snapshot;

use crate::{config_for, repo_root, run, run_workflow, spawn_run, temp_dir};

pub(crate) fn is_png(path: &std::path::Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.starts_with(b"\x89PNG\r\n\x1a\n") && b.len() > 60)
}

pub(crate) fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn run_saves_real_pngs() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let out = dir.join("out");
    let wf = repo_root().join("fixtures/comfyui/workflows/blur_scale_two_outputs.api.json");
    let result = run_workflow(&config, &wf, &out, &[], &dir);
    assert_eq!(result.code, 0, "{result:?}");
    let saved = files_under(out.as_std_path());
    // SaveImage's batch (output/acc_blur) and PreviewImage's (temp/, under --out/temp).
    assert_eq!(saved.len(), 4, "{saved:?}\n{result:?}");
    let in_folder = |f: &str| {
        saved
            .iter()
            .filter(|p| p.parent() == Some(out.join(f).as_std_path()))
            .count()
    };
    assert_eq!(
        (in_folder("acc_blur"), in_folder("temp")),
        (2, 2),
        "{saved:?}"
    );
    for path in &saved {
        assert!(is_png(path), "{} is not a PNG: {result:?}", path.display());
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(!name.starts_with(".comfy-local-download-"));
    }
    assert!(result.stdout.contains("saved "), "{}", result.stdout);
}

#[test]
fn run_converts_a_ui_workflow_and_reports_json_lines() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let out = dir.join("out");
    let wf = repo_root().join("fixtures/comfyui/workflows/invert.ui.json");
    let result = run_workflow(&config, &wf, &out, &["--json"], &dir);
    assert_eq!(result.code, 0, "{result:?}");
    let events: Vec<serde_json::Value> = result
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"prepared"));
    assert_eq!(events[0]["converted"], true);
    assert!(
        kinds.contains(&"submitted") && kinds.contains(&"executed") && kinds.contains(&"saved"),
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"done"));
    let saved = events.iter().find(|e| e["event"] == "saved").unwrap();
    assert!(is_png(std::path::Path::new(
        saved["path"].as_str().unwrap()
    )));
}

#[test]
fn run_uploads_an_input_for_a_load_image_node() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let png = repo_root().join("fixtures/comfyui/recorded/view_output.png");
    let photo = dir.join("my photo.png");
    std::fs::copy(&png, &photo).unwrap();
    let wf = dir.join("wf.json");
    std::fs::write(
        &wf,
        r#"{
  "1": {"class_type": "LoadImage", "inputs": {"image": "not-there-yet.png"}},
  "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
  "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "loaded"}}
}"#,
    )
    .unwrap();
    let out = dir.join("out");
    let spec = format!("1={photo}");
    let result = run_workflow(&config, &wf, &out, &["--input", &spec], &dir);
    assert_eq!(result.code, 0, "{result:?}");
    assert!(comfy.input_dir().join("my photo.png").exists());
    let submitted = comfy.submitted();
    let last = submitted.last().unwrap();
    assert_eq!(
        last["prompt"]["1"]["inputs"]["image"], "my photo.png",
        "{last:#}"
    );
}

#[test]
fn run_refuses_missing_dependencies_before_queueing() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = dir.join("wf.json");
    std::fs::write(
        &wf,
        r#"{
  "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
  "2": {"class_type": "NoSuchNode", "inputs": {}},
  "3": {"class_type": "LoadImage", "inputs": {"image": "nowhere.png"}}
}"#,
    )
    .unwrap();
    let png = repo_root().join("fixtures/comfyui/recorded/view_output.png");
    // An input the workflow loads: counted as present, and not uploaded before the check.
    let spec = format!("nowhere.png={png}");
    let result = run(
        &[
            "--config",
            config.as_str(),
            "run",
            wf.as_str(),
            "--input",
            &spec,
        ],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 1, "{result:?}");
    assert!(comfy.submitted().is_empty(), "nothing may be queued");
    assert!(
        !comfy.input_dir().join("nowhere.png").exists(),
        "nothing may be uploaded before the dependency check passes"
    );
    assert_snapshot!(result.snapshot(&[(dir.as_str(), "[TMP]")]));
}

#[test]
fn run_reports_a_runtime_error_with_exit_4() {
    let comfy = FakeComfy::start(FakeOptions::default().knobs(Knobs::default().fail_at_node("2")));
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = repo_root().join("fixtures/comfyui/workflows/invert.api.json");
    let out = dir.join("out");
    let result = run_workflow(&config, &wf, &out, &[], &dir);
    assert_eq!(result.code, 4, "{result:?}");
    assert!(result.stderr.contains("node 2"), "{}", result.stderr);
    assert!(
        files_under(out.as_std_path()).is_empty(),
        "no output may be saved for a failed run"
    );
}

#[test]
fn ctrl_c_interrupts_the_prompt_on_the_server() {
    use std::io::BufRead as _;
    use std::time::{Duration, Instant};

    let comfy = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_secs(20))),
    );
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = repo_root().join("fixtures/comfyui/workflows/invert.api.json");
    let mut child = spawn_run(&config, &wf, &dir.join("out"));
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    // Wait until the prompt is queued and node 2 runs.
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("node 2: running") {
            break;
        }
    }
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
        started.elapsed() < Duration::from_secs(15),
        "interrupt took {:?}",
        started.elapsed()
    );
    assert!(rest.iter().any(|l| l.contains("interrupted")), "{rest:?}");
}

#[test]
fn a_broken_workflow_file_is_named_once() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = dir.join("broken.json");
    std::fs::write(&wf, b"{\"not\": \"a workflow\"}").unwrap();
    let out = dir.join("out");
    let result = run_workflow(&config, &wf, &out, &[], &dir);
    assert_eq!(result.code, 2, "{result:?}");
    assert_eq!(
        result.stderr.matches(wf.as_str()).count(),
        1,
        "{}",
        result.stderr
    );
}

#[test]
fn run_dash_reads_the_workflow_from_stdin() {
    use std::io::Write as _;
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let out = dir.join("out");
    let wf = std::fs::read(repo_root().join("fixtures/comfyui/workflows/invert.api.json")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_comfy-local"))
        .args([
            "--config",
            config.as_str(),
            "run",
            "-",
            "--out",
            out.as_str(),
        ])
        .current_dir(&dir)
        .env_remove("COMFY_LOCAL_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&wf).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!files_under(out.as_std_path()).is_empty(), "{stderr}");
}

#[test]
fn no_wait_prints_the_prompt_id_once_queued_and_saves_nothing() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let out = dir.join("out");
    let wf = repo_root().join("fixtures/comfyui/workflows/invert.api.json");
    let result = run_workflow(&config, &wf, &out, &["--no-wait"], &dir);
    assert_eq!(result.code, 0, "{result:?}");
    let id = result.stdout.trim();
    assert_eq!(result.stdout.lines().count(), 1, "{result:?}");
    assert_eq!(comfy.submitted().len(), 1, "{result:?}");
    assert!(
        result.stderr.contains(&format!("queued prompt {id}")),
        "{result:?}"
    );
    assert!(!out.exists(), "nothing is saved with --no-wait");
    // --timeout needs a prompt to follow.
    let with_timeout = ["--no-wait", "--timeout", "10s"];
    assert_eq!(
        run_workflow(&config, &wf, &out, &with_timeout, &dir).code,
        2
    );
}
