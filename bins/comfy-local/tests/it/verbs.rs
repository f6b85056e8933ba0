//! `status`, `free`, `config init` and `completions` against the fake ComfyUI.

use std::os::unix::fs::PermissionsExt as _;

use comfy_local_fake_comfyui::{FakeComfy, FakeOptions};
use insta::assert_snapshot;
use serde_json::{Value, json};

use crate::{config_for, run, temp_dir};

/// The one JSON line of `stdout`.
fn one_json_line(stdout: &str) -> Value {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "not one line: {stdout}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn status_shows_versions_devices_ram_and_queue() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let result = run(
        &["--config", config.as_str(), "status"],
        dir.as_std_path(),
        &[],
    );
    assert_snapshot!(result.snapshot(&[]));
}

#[test]
fn status_json_is_one_line_with_the_recorded_numbers() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let result = run(
        &[
            "--config",
            config.as_str(),
            "--json",
            "status",
            "--instance",
            "local",
        ],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 0, "{result:?}");
    let v = one_json_line(&result.stdout);
    assert_eq!(v["ok"], json!(true));
    assert_eq!(v["instance"], json!("local"));
    assert_eq!(v["via_ssh"], json!(false));
    assert_eq!(v["comfyui_version"], json!("0.3.64"));
    assert_eq!(v["pytorch_version"], json!("2.15.0+cu132"));
    assert_eq!(v["ram_total"], json!(25_276_063_744_u64));
    assert_eq!(v["devices"][0]["name"], json!("cpu"));
    assert_eq!(v["devices"][0]["vram_free"], json!(23_308_169_216_u64));
    assert_eq!(v["queue_running"], json!(0));
    assert_eq!(v["queue_pending"], json!(0));
}

#[test]
fn status_of_an_unknown_instance_is_a_usage_error() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let result = run(
        &["--config", config.as_str(), "status", "--instance", "nope"],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 2, "{result:?}");
    assert!(
        result.stderr.contains("no local instance \"nope\""),
        "{result:?}"
    );
}

#[test]
fn status_without_comfyui_is_a_connection_error_with_both_reasons() {
    let mut comfy = FakeComfy::start(FakeOptions::default());
    let url = comfy.url();
    comfy.stop();
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &url);
    let result = run(
        &["--config", config.as_str(), "status"],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 3, "{result:?}");
    assert!(
        result.stderr.contains("not reachable from here") && result.stderr.contains("hint: "),
        "{result:?}"
    );
}

#[test]
fn free_with_unload_models_sends_both_flags_and_shows_vram() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let result = run(
        &["--config", config.as_str(), "free", "--unload-models"],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 0, "{result:?}");
    assert_eq!(
        comfy.free_requests(),
        vec![json!({"unload_models": true, "free_memory": true})]
    );
    assert_snapshot!(result.snapshot(&[]));
}

#[test]
fn free_without_unload_models_keeps_models_and_prints_one_json_line() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let result = run(
        &["--config", config.as_str(), "--json", "free"],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 0, "{result:?}");
    assert_eq!(
        comfy.free_requests(),
        vec![json!({"unload_models": false, "free_memory": true})]
    );
    let v = one_json_line(&result.stdout);
    assert_eq!(v["ok"], json!(true));
    assert_eq!(v["unload_models"], json!(false));
    assert_eq!(v["before"][0]["vram_total"], json!(25_276_063_744_u64));
    assert_eq!(v["after"][0]["vram_free"], json!(23_308_169_216_u64));
}

/// `config init` flags for a config in `dir` (its key and `known_hosts` files there).
fn init_flags(dir: &camino::Utf8Path) -> Vec<String> {
    [
        "config",
        "init",
        "--output",
        dir.join("out.yml").as_str(),
        "--host",
        "127.0.0.1",
        "--port",
        "2222",
        "--key-file",
        dir.join("id_ed25519").as_str(),
        "--known-hosts-file",
        dir.join("known_hosts").as_str(),
        "--comfyui-path",
        "/opt/ComfyUI",
        "--api-url",
        "http://127.0.0.1:8188",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn config_init_writes_a_private_file_that_config_check_accepts() {
    let (_g, dir) = temp_dir();
    let result = run(&strs(&init_flags(&dir)), dir.as_std_path(), &[]);
    assert_eq!(result.code, 0, "{result:?}");
    let out = dir.join("out.yml");
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("# Login user on the host: dedicated and non-root"),
        "{text}"
    );
    // Nothing but the file itself is left in the folder (no temporary file).
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["out.yml".to_owned()]);
    let check = run(
        &["--json", "config", "check", out.as_str()],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(check.code, 0, "{check:?}");
    let v = one_json_line(&check.stdout);
    let instance = &v["config"]["local"][0];
    assert_eq!(instance["ssh"]["port"], json!(2222));
    assert_eq!(instance["ssh"]["user"], json!("comfyui"));
    assert_eq!(instance["comfyui"]["path"], json!("/opt/ComfyUI"));
}

#[test]
fn config_init_refuses_an_existing_file_without_force() {
    let (_g, dir) = temp_dir();
    let out = dir.join("out.yml");
    std::fs::write(&out, "mine\n").unwrap();
    let result = run(&strs(&init_flags(&dir)), dir.as_std_path(), &[]);
    assert_eq!(result.code, 2, "{result:?}");
    assert!(result.stderr.contains("--force"), "{result:?}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "mine\n");
    let mut forced = init_flags(&dir);
    forced.push("--force".to_owned());
    let result = run(&strs(&forced), dir.as_std_path(), &[]);
    assert_eq!(result.code, 0, "{result:?}");
    assert!(std::fs::read_to_string(&out).unwrap().contains("local:"));
}

#[test]
fn config_init_refuses_invalid_values_and_writes_nothing() {
    for (flag, bad) in [
        ("--user", "root"),
        ("--comfyui-path", "relative/ComfyUI"),
        ("--api-url", "ftp://127.0.0.1:8188"),
    ] {
        let (_g, dir) = temp_dir();
        let mut flags = init_flags(&dir);
        match flags.iter().position(|f| f == flag) {
            Some(i) => bad.clone_into(&mut flags[i + 1]),
            None => flags.extend([flag.to_owned(), bad.to_owned()]),
        }
        let result = run(&strs(&flags), dir.as_std_path(), &[]);
        assert_eq!(result.code, 2, "{flag} {bad}: {result:?}");
        assert!(
            result.stderr.contains("nothing was written") && result.stderr.contains(bad),
            "{flag} {bad}: {result:?}"
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "{flag} {bad}");
    }
}

#[test]
fn config_init_without_a_terminal_names_every_missing_flag() {
    let (_g, dir) = temp_dir();
    let result = run(&["config", "init", "--host", "h"], dir.as_std_path(), &[]);
    assert_eq!(result.code, 2, "{result:?}");
    assert!(
        result
            .stderr
            .contains("missing --key-file, --known-hosts-file, --comfyui-path"),
        "{result:?}"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn completions_for_each_shell_name_the_subcommands() {
    let (_g, dir) = temp_dir();
    for shell in ["bash", "zsh", "fish"] {
        let result = run(&["completions", shell], dir.as_std_path(), &[]);
        assert_eq!(result.code, 0, "{shell}: {result:?}");
        for word in [
            "test-connection",
            "status",
            "free",
            "install",
            "completions",
        ] {
            assert!(result.stdout.contains(word), "{shell} lacks {word}");
        }
    }
    let result = run(&["completions", "tcsh"], dir.as_std_path(), &[]);
    assert_eq!(result.code, 2, "{result:?}");
    let result = run(&["--json", "completions", "bash"], dir.as_std_path(), &[]);
    assert_eq!(result.code, 2, "{result:?}");
    assert_eq!(one_json_line(&result.stdout)["ok"], json!(false));
}

/// On a terminal (util-linux `script` gives the binary one), what no flag gave is asked for on
/// stderr; an empty answer takes the default shown.
#[test]
fn config_init_on_a_terminal_asks_for_what_is_missing() {
    let (_g, dir) = temp_dir();
    // The command text is constant; the binary's path reaches it through the environment.
    let mut child = std::process::Command::new("script")
        .args([
            "-qec",
            "\"$COMFY_LOCAL_BIN\" config init --host h --port 2222",
            "/dev/null",
        ])
        .env("COMFY_LOCAL_BIN", env!("CARGO_BIN_EXE_comfy-local"))
        .current_dir(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("util-linux script is needed for this test: {e}"));
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        // user (default), key file, known_hosts file, ComfyUI folder, API URL (default).
        stdin.write_all(b"\n/k\n/kh\n/opt/ComfyUI\n\n").unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{shown}");
    assert!(
        shown.contains("Private key file (mode 600): ") && !shown.contains("sshd port"),
        "{shown}"
    );
    let text = std::fs::read_to_string(dir.join("local-support-config.yml")).unwrap();
    for line in [
        "host: \"h\"",
        "port: 2222",
        "user: \"comfyui\"",
        "key_file: \"/k\"",
        "path: \"/opt/ComfyUI\"",
        "api_url: \"http://host.docker.internal:8188\"",
    ] {
        assert!(text.contains(line), "{line} not in {text}");
    }
}
