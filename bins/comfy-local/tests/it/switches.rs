//! Config switches and secrets, end to end: `enabled: false`, `features.workflow_execution:
//! false` and `limits.max_upload_mb` refuse with exit 2 naming their key before anything reaches
//! ComfyUI; a password in `api_url` is never printed, at any log level.

use comfy_local_fake_comfyui::{FakeComfy, FakeOptions};

use crate::{Run, repo_root, run, run_workflow, temp_dir};

/// A config with one instance at `url`, `extra` appended to the instance, `top` before `local:`.
fn config(dir: &camino::Utf8Path, url: &str, top: &str, extra: &str) -> camino::Utf8PathBuf {
    let path = dir.join("config.yml");
    std::fs::write(
        &path,
        format!(
            "{top}local:
  - id: local
    ssh: {{ host: 127.0.0.1, key_file: {dir}/key, known_hosts_file: {dir}/kh }}
    comfyui: {{ path: /opt/ComfyUI, api_url: '{url}' }}
{extra}"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    path
}

fn workflow() -> camino::Utf8PathBuf {
    repo_root().join("fixtures/comfyui/workflows/blur_scale_two_outputs.api.json")
}

fn run_wf(config: &camino::Utf8Path, dir: &camino::Utf8Path, more: &[&str]) -> Run {
    run_workflow(config, &workflow(), &dir.join("out"), more, dir)
}

#[test]
fn disabled_instances_are_listed_as_disabled_and_refuse_run_and_test_connection() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config(&dir, &comfy.url(), "enabled: false\n", "");

    let listed = run(
        &["--config", config.as_str(), "instances"],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(listed.code, 0, "{listed:?}");
    assert!(listed.stdout.contains("disabled"), "{listed:?}");

    let ran = run_wf(&config, &dir, &[]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr.contains(
            "running a workflow on local instance \"local\" is turned off: `enabled` is false"
        ),
        "{ran:?}"
    );
    assert!(ran.stderr.contains("hint: set `enabled: true`"), "{ran:?}");
    assert!(comfy.submitted().is_empty());

    let tested = run(
        &["--config", config.as_str(), "test-connection"],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(tested.code, 2, "{tested:?}");
    assert!(tested.stderr.contains("`enabled` is false"), "{tested:?}");
}

#[test]
fn workflow_execution_false_refuses_run() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config(
        &dir,
        &comfy.url(),
        "",
        "    features: { workflow_execution: false }\n",
    );
    let ran = run_wf(&config, &dir, &[]);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr
            .contains("`local[0].features.workflow_execution` is false in the config"),
        "{ran:?}"
    );
    assert!(comfy.submitted().is_empty());
}

#[test]
fn input_larger_than_max_upload_mb_is_refused_before_upload() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config(&dir, &comfy.url(), "", "    limits: { max_upload_mb: 1 }\n");
    let big = dir.join("big.png");
    std::fs::write(&big, vec![0u8; 1024 * 1024 + 1]).unwrap();
    let wf = dir.join("wf.json");
    std::fs::write(
        &wf,
        r#"{
  "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
  "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "l"}}
}"#,
    )
    .unwrap();
    let spec = format!("1={big}");
    let out = dir.join("out");
    let ran = run_workflow(&config, &wf, &out, &["--input", &spec], &dir);
    assert_eq!(ran.code, 2, "{ran:?}");
    assert!(
        ran.stderr
            .contains("1048577 bytes, more than `local[0].limits.max_upload_mb` allows (1 MiB)"),
        "{ran:?}"
    );
    assert!(!comfy.input_dir().join("big.png").exists());
    assert!(comfy.submitted().is_empty());
}

const PASSWORD: &str = "s3cret-pw";
/// base64 of `alice:s3cret-pw`, as an `Authorization: Basic` header carries it.
const PASSWORD_B64: &str = "YWxpY2U6czNjcmV0LXB3";

fn assert_no_secret(r: &Run) {
    for text in [&r.stdout, &r.stderr] {
        assert!(!text.contains(PASSWORD), "password printed: {r:?}");
        assert!(!text.contains(PASSWORD_B64), "Authorization printed: {r:?}");
    }
    for line in r.stderr.lines() {
        let wire = line.contains("ureq_proto") || line.contains("tungstenite");
        assert!(
            !(wire && line.contains("TRACE")),
            "wire dump logged: {line}"
        );
    }
}

#[test]
fn a_password_in_api_url_is_never_printed() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let url = comfy
        .url()
        .replacen("http://", &format!("http://alice:{PASSWORD}@"), 1);
    let config = config(&dir, &url, "", "");

    for (flags, env) in [
        (vec!["-vvv", "--json"], vec![]),
        (vec![], vec![("RUST_LOG", "trace")]),
    ] {
        let mut args = vec!["--config", config.as_str()];
        args.extend_from_slice(&flags);
        let wf = workflow();
        let out = dir.join("out");
        args.extend_from_slice(&["run", wf.as_str(), "--out", out.as_str()]);
        let ran = run(&args, dir.as_std_path(), &env);
        assert_eq!(ran.code, 0, "{ran:?}");
        assert!(ran.stderr.contains("TRACE"), "not at trace level: {ran:?}");
        assert_no_secret(&ran);
    }

    for command in [
        &["instances", "--json"][..],
        &["config", "check"],
        &["config", "check", "--json"],
    ] {
        let mut args = vec!["--config", config.as_str()];
        args.extend_from_slice(command);
        let r = run(&args, dir.as_std_path(), &[]);
        assert_no_secret(&r);
        assert!(
            r.stdout.contains("alice:<redacted>@"),
            "{command:?} does not show the redacted URL: {r:?}"
        );
    }

    // Errors and hints: ComfyUI gone (nothing listens on its port any more).
    let port = comfy.port();
    drop(comfy);
    let closed = config_with_port(&dir, port);
    let ran = run_wf(&closed, &dir, &["--json"]);
    assert_ne!(ran.code, 0, "{ran:?}");
    assert!(
        ran.stderr.contains("alice:<redacted>@") || ran.stderr.contains("127.0.0.1"),
        "{ran:?}"
    );
    assert_no_secret(&ran);
    let tested = run(
        &["--config", closed.as_str(), "--json", "test-connection"],
        dir.as_std_path(),
        &[],
    );
    assert_no_secret(&tested);
}

fn config_with_port(dir: &camino::Utf8Path, port: u16) -> camino::Utf8PathBuf {
    config(
        dir,
        &format!("http://alice:{PASSWORD}@127.0.0.1:{port}"),
        "",
        "",
    )
}
