//! The shell session of the README, command by command, against a real sshd and the fake
//! ComfyUI: `config init` -> `test-connection` -> `run --no-wait` -> `jobs watch` ->
//! `download` -> `jobs`. The transcript is printed (`cargo nextest run -p comfy-local session
//! --no-capture` shows it).

use std::fmt::Write as _;
use std::time::Duration;

use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use comfy_local_test_support::{Sshd, is_root};
use serde_json::{Value, json};

use crate::run::{files_under, is_png};
use crate::{repo_root, run, temp_dir};

/// One command of the session, added to the transcript as a terminal would show it: its
/// stderr (progress), then its stdout, unless the shell captures that (`id=$(...)`).
fn step(transcript: &mut String, shown: &str, args: &[&str], cwd: &camino::Utf8Path) -> crate::Run {
    let result = run(args, cwd.as_std_path(), &[]);
    let captured = shown.contains("$(");
    let stdout = if captured { "" } else { &result.stdout };
    let _ = write!(transcript, "$ {shown}\n{}{stdout}", result.stderr);
    if result.code != 0 {
        let _ = writeln!(transcript, "(exit {})", result.code);
    }
    result
}

/// A ComfyUI install folder on the sshd's host and the fake ComfyUI running from it (node 2
/// slow enough for `jobs watch` to see it run).
fn install_and_fake(sshd: &Sshd) -> (camino::Utf8PathBuf, FakeComfy) {
    let install = sshd.scratch("session").join("ComfyUI");
    std::fs::create_dir_all(&install).unwrap();
    std::fs::write(install.join("main.py"), "# ComfyUI\n").unwrap();
    for folder in ["models/checkpoints", "custom_nodes", "input", "output"] {
        std::fs::create_dir_all(install.join(folder)).unwrap();
    }
    let comfy = FakeComfy::start(
        FakeOptions::default()
            .base_path(&install)
            .knobs(Knobs::default().slow_node("2", Duration::from_millis(600))),
    );
    (install, comfy)
}

#[test]
#[expect(
    clippy::print_stdout,
    reason = "the transcript is what the test shows (with --no-capture)"
)]
fn session_from_the_readme() {
    let sshd = Sshd::shared();
    let (install, comfy) = install_and_fake(sshd);
    let (_g, dir) = temp_dir();
    let mut wf: Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("fixtures/comfyui/workflows/invert.api.json")).unwrap(),
    )
    .unwrap();
    wf["9"] = json!({"class_type": "RandomNoise", "inputs": {"noise_seed": 1}});
    std::fs::write(dir.join("workflow.json"), wf.to_string()).unwrap();

    // The config refuses `user: root` (the setup script makes a dedicated user); the test sshd
    // logs in only whoever runs the tests, so as root the login fails (exit 3).
    let user = if is_root() { "comfyui" } else { sshd.user() };
    let port = sshd.port().to_string();
    let url = comfy.url();
    let mut t = String::new();
    let init = step(
        &mut t,
        &format!(
            "comfy-local config init --host 127.0.0.1 --port {port} --user {user} --key-file {} --known-hosts-file {} --comfyui-path {install} --api-url {url}",
            sshd.user_key(),
            sshd.known_hosts()
        ),
        &[
            "config",
            "init",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--user",
            user,
            "--key-file",
            sshd.user_key().as_str(),
            "--known-hosts-file",
            sshd.known_hosts().as_str(),
            "--comfyui-path",
            install.as_str(),
            "--api-url",
            &url,
        ],
        &dir,
    );
    assert_eq!(init.code, 0, "{t}");
    let tc = step(
        &mut t,
        "comfy-local test-connection",
        &["test-connection"],
        &dir,
    );
    if is_root() {
        assert_eq!(tc.code, 3, "{t}");
        assert!(tc.stdout.contains("FAIL  authentication"), "{t}");
    } else {
        assert_eq!(tc.code, 0, "{t}");
        assert!(!tc.stdout.contains("FAIL"), "{t}");
        assert!(tc.stdout.contains("all checks passed"), "{t}");
    }
    let submitted = step(
        &mut t,
        "id=$(comfy-local run workflow.json --no-wait --seed random)",
        &["run", "workflow.json", "--no-wait", "--seed", "random"],
        &dir,
    );
    assert_eq!(submitted.code, 0, "{t}");
    let id = submitted.stdout.trim().to_owned();
    assert!(submitted.stderr.contains("set 9.noise_seed = "), "{t}");
    let watch = step(
        &mut t,
        "comfy-local jobs watch \"$id\"",
        &["jobs", "watch", &id],
        &dir,
    );
    assert_eq!(watch.code, 0, "{t}");
    assert!(
        watch.stderr.contains("node 2: running") && watch.stderr.contains("node 3: done"),
        "{t}"
    );
    let download = step(
        &mut t,
        "comfy-local download \"$id\" --out results",
        &["download", &id, "--out", "results"],
        &dir,
    );
    assert_eq!(download.code, 0, "{t}");
    let jobs = step(&mut t, "comfy-local jobs", &["jobs"], &dir);
    assert_eq!(jobs.code, 0, "{t}");
    assert!(
        jobs.stdout
            .lines()
            .any(|l| l.starts_with("done ") && l.contains(&id) && l.contains(" ours")),
        "{t}"
    );
    let saved = files_under(dir.join("results").as_std_path());
    assert_eq!(saved.len(), 1, "{t}");
    assert!(is_png(&saved[0]), "{t}");
    let t = t
        .replace(dir.as_str(), "[TMP]")
        .replace(sshd.temp_dir().as_str(), "[SSHD_DIR]");
    println!("{t}");
}
