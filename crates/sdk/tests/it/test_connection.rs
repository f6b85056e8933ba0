//! The staged connection test: all stages pass against a real sshd + fake ComfyUI, and each
//! stage's typical failure fails exactly that stage (snapshots of the whole report).

use std::net::TcpListener;

use comfy_local_fake_comfyui::{FakeComfy, FakeOptions};
use comfy_local_sdk::{Stage, StageStatus, TestConnectionOptions, test_connection_with_config};
use comfy_local_test_support::{ReadOnlyDir, Sshd, keygen};

use crate::common::{Setup, fake_install, settings};

/// Runs the test, checks that `$stage` is the first failure, and snapshots the whole report
/// (a macro so the snapshot is named after the test).
macro_rules! assert_fails_at {
    ($setup:expr, $stage:expr) => {{
        let report = run($setup);
        assert_eq!(
            report.first_failure().map(|f| f.stage),
            Some($stage),
            "{}",
            report.to_table()
        );
        settings().bind(|| insta::assert_snapshot!(report.to_table()));
        report
    }};
}

fn run(setup: &Setup) -> comfy_local_sdk::ConnectionReport {
    test_connection_with_config(
        &setup.config(),
        Some("test-config.yml"),
        &TestConnectionOptions::default(),
    )
}

fn statuses(report: &comfy_local_sdk::ConnectionReport) -> Vec<StageStatus> {
    report.stages.iter().map(|s| s.status).collect()
}

/// A port on 127.0.0.1 with nothing listening.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn all_stages_pass() {
    let install = fake_install("all_pass");
    let comfy = FakeComfy::start(FakeOptions::default().base_path(&install));
    let setup = Setup::new(&install, &comfy.url());
    let report = run(&setup);
    assert!(report.ok, "{}", report.to_table());
    assert!(statuses(&report).iter().all(|s| *s == StageStatus::Pass));
    settings().bind(|| insta::assert_snapshot!(report.to_table()));
    // No probe file is left behind.
    for folder in ["models", "custom_nodes", "input", "output"] {
        let left: Vec<_> = std::fs::read_dir(setup.install.join(folder))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains("probe"))
            .collect();
        assert!(left.is_empty(), "probe left in {folder}: {left:?}");
    }
}

#[test]
fn wrong_port_fails_tcp() {
    let mut setup = Setup::new(&fake_install("wrong_port"), "http://127.0.0.1:9");
    setup.port = closed_port();
    assert_fails_at!(&setup, Stage::Tcp);
}

#[test]
fn wrong_host_key_fails_handshake() {
    let mut setup = Setup::new(&fake_install("wrong_host_key"), "http://127.0.0.1:9");
    let dir = Sshd::shared().scratch("wrong_host_key_keys");
    keygen(&dir.join("other_host_key"), "");
    let other = std::fs::read_to_string(dir.join("other_host_key.pub")).unwrap();
    let mut parts = other.split_whitespace();
    let (kind, key) = (parts.next().unwrap(), parts.next().unwrap());
    let kh = dir.join("known_hosts");
    std::fs::write(&kh, format!("[127.0.0.1]:{} {kind} {key}\n", setup.port)).unwrap();
    setup.known_hosts = kh;
    assert_fails_at!(&setup, Stage::Handshake);
}

#[test]
fn wrong_user_key_fails_auth() {
    let mut setup = Setup::new(&fake_install("wrong_user_key"), "http://127.0.0.1:9");
    let dir = Sshd::shared().scratch("wrong_user_key_keys");
    keygen(&dir.join("stranger"), "");
    setup.key_file = dir.join("stranger");
    assert_fails_at!(&setup, Stage::Auth);
}

#[test]
fn missing_key_file_fails_key_stage() {
    let mut setup = Setup::new(&fake_install("missing_key"), "http://127.0.0.1:9");
    setup.key_file = Sshd::shared()
        .scratch("missing_key_keys")
        .join("no_such_key");
    assert_fails_at!(&setup, Stage::KeyFile);
}

#[test]
fn missing_comfyui_folder_fails_remote_stage() {
    let install = fake_install("missing_folder");
    std::fs::remove_dir_all(install.join("input")).unwrap();
    let setup = Setup::new(&install, "http://127.0.0.1:9");
    assert_fails_at!(&setup, Stage::Remote);
}

#[test]
fn not_a_comfyui_install_fails_remote_stage() {
    let install = fake_install("no_main_py");
    std::fs::remove_file(install.join("main.py")).unwrap();
    let setup = Setup::new(&install, "http://127.0.0.1:9");
    assert_fails_at!(&setup, Stage::Remote);
}

#[test]
fn read_only_models_folder_fails_write_stage() {
    let install = fake_install("read_only_models");
    let _guard = ReadOnlyDir::new(install.join("models"));
    let setup = Setup::new(&install, "http://127.0.0.1:9");
    assert_fails_at!(&setup, Stage::WriteAccess);
}

#[test]
fn broken_extra_model_paths_fails_remote_stage() {
    let install = fake_install("broken_extra_paths");
    std::fs::write(
        install.join("extra_model_paths.yaml"),
        "comfyui: [unclosed\n",
    )
    .unwrap();
    let setup = Setup::new(&install, "http://127.0.0.1:9");
    assert_fails_at!(&setup, Stage::Remote);
}

#[test]
fn comfyui_down_fails_api_stage() {
    let setup = Setup::new(
        &fake_install("comfy_down"),
        &format!("http://127.0.0.1:{}", closed_port()),
    );
    assert_fails_at!(&setup, Stage::ComfyApi);
}

#[test]
fn unresponsive_port_fails_within_connect_timeout() {
    // A listener that accepts TCP (kernel backlog) but never speaks SSH.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut setup = Setup::new(&fake_install("unresponsive"), "http://127.0.0.1:9");
    setup.port = listener.local_addr().unwrap().port();
    setup.connect_timeout_secs = 1;
    let started = std::time::Instant::now();
    assert_fails_at!(&setup, Stage::Handshake);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    drop(listener);
}

#[test]
fn report_serialises_every_stage_as_json() {
    let mut setup = Setup::new(&fake_install("json"), "http://127.0.0.1:9");
    setup.port = closed_port();
    let report = run(&setup);
    let json = serde_json::to_value(&report).unwrap();
    let stages = json["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 9);
    assert_eq!(json["ok"], false);
    assert_eq!(stages[2]["status"], "fail");
    assert_eq!(stages[3]["status"], "skip");
    assert!(stages[3]["duration_ms"].is_null());
    assert!(stages[2]["hint"].as_str().unwrap().contains("sshd"));
}

#[test]
fn comfyui_only_on_host_loopback_passes_through_an_ssh_forward() {
    let sshd = Sshd::start(comfy_local_test_support::SshdConfig {
        allow_tcp_forwarding: true,
        ..Default::default()
    });
    let comfy = FakeComfy::start(FakeOptions::default());
    // The URL the container would use does not answer; ComfyUI listens on the host's loopback
    // at the same port.
    let mut setup = Setup::new(
        &fake_install("via_forward"),
        &format!("http://127.0.0.2:{}", comfy.port()),
    );
    setup.port = sshd.port();
    setup.key_file = sshd.user_key().to_owned();
    setup.known_hosts = sshd.known_hosts().to_owned();
    let report = run(&setup);
    assert!(report.ok, "{}", report.to_table());
    let api = report
        .stages
        .iter()
        .find(|s| s.stage == Stage::ComfyApi)
        .unwrap();
    assert!(
        api.detail.contains("through an SSH forward"),
        "{}",
        api.detail
    );
}

#[test]
fn custom_nodes_write_access_is_checked_only_when_the_feature_is_on() {
    let install = fake_install("read_only_custom_nodes");
    let _guard = ReadOnlyDir::new(install.join("custom_nodes"));
    let setup = Setup::new(&install, "http://127.0.0.1:9");
    // On (the default): custom_nodes/ must be writable.
    let report = run(&setup);
    assert_eq!(
        report.first_failure().map(|f| f.stage),
        Some(Stage::WriteAccess),
        "{}",
        report.to_table()
    );
    // Off: the product never writes there, so a read-only custom_nodes/ is fine.
    let mut config = setup.config();
    config.local[0].features.custom_nodes = false;
    let report = test_connection_with_config(
        &config,
        Some("test-config.yml"),
        &TestConnectionOptions::default(),
    );
    let write = report
        .stages
        .iter()
        .find(|s| s.stage == Stage::WriteAccess)
        .expect("a write stage");
    assert_eq!(write.status, StageStatus::Pass, "{}", report.to_table());
    assert!(
        write.detail.contains("custom_nodes/ not checked"),
        "{}",
        write.detail
    );
}

#[test]
fn a_comfyui_running_from_another_folder_is_a_warning_not_a_failure() {
    // The ComfyUI answering at api_url says it runs from its own folder, not comfyui.path.
    let comfy = FakeComfy::start(FakeOptions::default());
    let setup = Setup::new(&fake_install("other_folder"), &comfy.url());
    let report = run(&setup);
    assert!(report.ok, "{}", report.to_table());
    let api = report
        .stages
        .iter()
        .find(|s| s.stage == Stage::ComfyApi)
        .unwrap();
    assert_eq!(api.status, StageStatus::Warn, "{}", report.to_table());
    let hint = api.hint.as_deref().unwrap_or_default();
    let fake_root = comfy.root();
    assert!(
        hint.contains(&*fake_root.to_string_lossy()) && hint.contains(setup.install.as_str()),
        "{hint}"
    );
    // The WebSocket stage still ran.
    assert_eq!(report.stages.last().unwrap().status, StageStatus::Pass);
    assert!(
        report.to_table().contains("WARN  ComfyUI HTTP API"),
        "{}",
        report.to_table()
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["stages"][7]["status"], "warn");
}
