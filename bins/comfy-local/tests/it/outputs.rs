//! `comfy-local run` saves every output the ComfyUI UI would show (previews, WebSocket images),
//! never replaces or follows anything in --out, refuses hidden names, and gives up on a prompt
//! at --timeout: against the fake ComfyUI.

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_comfyui::{ComfyClient, SubmitOptions};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};

use crate::run::{files_under, is_png};
use crate::{config_for, repo_root, run, run_args, run_workflow, temp_dir};

fn fixture(name: &str) -> Utf8PathBuf {
    repo_root().join("fixtures/comfyui/workflows").join(name)
}

/// A workflow: a 2-image batch saved by `SaveImage` with `prefix`.
fn save_with_prefix(dir: &Utf8Path, prefix: &str) -> Utf8PathBuf {
    let wf = dir.join("wf.json");
    let body = serde_json::json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 2, "color": 255}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    });
    std::fs::write(&wf, body.to_string()).unwrap();
    wf
}

fn names(dir: &Utf8Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn save_image_websocket_images_are_saved_as_png() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let out = dir.join("out");
    let result = run_workflow(
        &config,
        &fixture("save_image_websocket.api.json"),
        &out,
        &[],
        &dir,
    );
    assert_eq!(result.code, 0, "{result:?}");
    assert_eq!(
        names(&out),
        ["websocket_3_00001.png", "websocket_3_00002.png"],
        "{result:?}"
    );
    for name in names(&out) {
        assert!(is_png(out.join(&name).as_std_path()), "{name}");
    }
    assert!(
        result.stdout.contains(", 2 output(s) in"),
        "{}",
        result.stdout
    );
}

#[test]
fn previews_go_under_temp_unless_no_previews() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = fixture("blur_scale_two_outputs.api.json");
    let out = dir.join("out");
    let result = run_workflow(&config, &wf, &out, &[], &dir);
    assert_eq!(result.code, 0, "{result:?}");
    let previews = names(&out.join("temp"));
    assert_eq!(previews.len(), 2, "{previews:?}");
    assert!(
        previews.iter().all(|n| n.starts_with("ComfyUI_temp_")),
        "{previews:?}"
    );

    let bare = dir.join("bare");
    let result = run_workflow(&config, &wf, &bare, &["--no-previews"], &dir);
    assert_eq!(result.code, 0, "{result:?}");
    assert_eq!(names(&bare), ["acc_blur"], "{result:?}");
    assert!(
        result.stdout.contains(", 2 output(s) in"),
        "{}",
        result.stdout
    );
}

#[test]
fn an_existing_file_is_never_replaced() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = save_with_prefix(&dir, "same");
    let out = dir.join("out");
    assert_eq!(run_workflow(&config, &wf, &out, &[], &dir).code, 0);
    let first = names(&out);
    assert_eq!(first, ["same_00001_.png", "same_00002_.png"]);
    std::fs::write(out.join("same_00001_.png"), "mine").unwrap();
    // The identical prompt is cached: ComfyUI replays the same file names.
    let again = run_workflow(&config, &wf, &out, &[], &dir);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(
        names(&out),
        [
            "same_00001_ (1).png",
            "same_00001_.png",
            "same_00002_ (1).png",
            "same_00002_.png"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(out.join("same_00001_.png")).unwrap(),
        "mine"
    );
    assert!(
        again.stdout.contains("same_00001_ (1).png"),
        "{}",
        again.stdout
    );
}

#[test]
fn hidden_names_are_refused_and_the_run_fails_naming_them() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    for prefix in [".git/config", ".bashrc", "ok/.ssh/authorized_keys"] {
        let wf = save_with_prefix(&dir, prefix);
        let out = dir.join("out");
        let result = run_workflow(&config, &wf, &out, &[], &dir);
        assert_eq!(result.code, 1, "{prefix}: {result:?}");
        assert!(
            result
                .stderr
                .contains("2 output(s) were not saved (0 saved)")
                && result.stderr.contains("starts with a dot"),
            "{prefix}: {}",
            result.stderr
        );
        assert!(
            files_under(out.as_std_path()).is_empty(),
            "{prefix}: {:?}",
            files_under(out.as_std_path())
        );
    }
}

#[test]
fn a_symlinked_folder_inside_out_is_not_followed() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let out = dir.join("out");
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("sub")).unwrap();
    let wf = save_with_prefix(&dir, "sub/img");
    let result = run_workflow(&config, &wf, &out, &[], &dir);
    assert_eq!(result.code, 1, "{result:?}");
    assert!(
        result.stderr.contains("is a symlink or not a folder"),
        "{}",
        result.stderr
    );
    assert!(names(&elsewhere).is_empty(), "{:?}", names(&elsewhere));
}

#[test]
fn saved_files_get_the_users_umask() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = save_with_prefix(&dir, "perm");
    let out = dir.join("out");
    let status = std::process::Command::new("sh")
        .args(["-c", "umask 027 && exec \"$@\"", "sh"])
        .arg(env!("CARGO_BIN_EXE_comfy-local"))
        .args(run_args(&config, &wf, &out))
        .env_remove("COMFY_LOCAL_CONFIG")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    for name in names(&out) {
        let mode = std::fs::metadata(out.join(&name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640, "{name}: {mode:o}");
    }
}

#[test]
fn timeout_interrupts_a_running_prompt_with_exit_5() {
    let comfy = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_secs(30))),
    );
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let started = Instant::now();
    let result = run_workflow(
        &config,
        &fixture("invert.api.json"),
        &dir.join("out"),
        &["--timeout", "1s"],
        &dir,
    );
    assert_eq!(result.code, 5, "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(
        result
            .stderr
            .contains("did not finish within 1 s: it was interrupted on the server"),
        "{}",
        result.stderr
    );
    let client = ComfyClient::new(&comfy.url()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !client.queue().unwrap().running.is_empty() {
        assert!(Instant::now() < deadline, "the prompt still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn timeout_removes_a_queued_prompt_from_the_queue() {
    let comfy = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_secs(30))),
    );
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    // Another client's prompt holds the queue.
    let client = ComfyClient::new(&comfy.url()).unwrap();
    let blocker: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("invert.api.json")).unwrap())
            .unwrap();
    let blocker = client.submit(&blocker, &SubmitOptions::default()).unwrap();
    let result = run_workflow(
        &config,
        &save_with_prefix(&dir, "queued"),
        &dir.join("out"),
        &["--timeout", "1s"],
        &dir,
    );
    assert_eq!(result.code, 5, "{result:?}");
    assert!(
        result.stderr.contains("it was removed from the queue"),
        "{}",
        result.stderr
    );
    let queue = client.queue().unwrap();
    assert!(queue.pending.is_empty(), "{queue:?}");
    assert_eq!(queue.running.len(), 1);
    assert_eq!(queue.running[0].prompt_id, blocker.prompt_id);
    client.interrupt(None).unwrap();
}

#[test]
fn websocket_images_lost_with_the_socket_fail_the_run() {
    let comfy =
        FakeComfy::start(FakeOptions::default().knobs(Knobs::default().refuse_websocket(true)));
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let out = dir.join("out");
    let result = run_workflow(
        &config,
        &fixture("save_image_websocket.api.json"),
        &out,
        &[],
        &dir,
    );
    assert_eq!(result.code, 1, "{result:?}");
    assert!(
        result.stderr.contains("node 3: its WebSocket images:")
            && result
                .stderr
                .contains("the WebSocket was down during the run"),
        "{}",
        result.stderr
    );
    // Outputs history lists are still saved when the socket is down.
    let listed = run_workflow(
        &config,
        &fixture("blur_scale_two_outputs.api.json"),
        &dir.join("listed"),
        &[],
        &dir,
    );
    assert_eq!(listed.code, 0, "{listed:?}");
    assert_eq!(files_under(dir.join("listed").as_std_path()).len(), 4);
}

#[test]
fn a_bad_timeout_is_a_usage_error() {
    let (_g, dir) = temp_dir();
    for bad in ["0s", "soon"] {
        let result = run(
            &["run", "wf.json", "--timeout", bad],
            dir.as_std_path(),
            &[],
        );
        assert_eq!(result.code, 2, "{bad}: {result:?}");
        assert!(result.stderr.contains("--timeout"), "{}", result.stderr);
    }
}
