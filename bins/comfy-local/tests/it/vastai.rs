//! A rented VastAI instance through the binary: the fake VastAI reports the test sshd as its
//! SSH endpoint and does not publish ComfyUI's port, so ComfyUI (a fake one on loopback) is
//! reached through the SSH forward. Exit codes: 0 when it works, 3 for a stopped instance, 2 for
//! a `vastai:` section without the SSH key.

use camino::Utf8Path;
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions};
use comfy_local_fake_vastai::FakeVastAi;
use comfy_local_test_support::{Sshd, SshdConfig};
use serde_json::json;

use crate::{repo_root, run, temp_dir};

const KEY: &str = "vast-cli-key-0123456789";
const ID: &str = "5150";

fn row(sshd: &Sshd, status: &str) -> serde_json::Value {
    json!({
        "id": 5150,
        "actual_status": status,
        "intended_status": status,
        "label": "rented",
        "dph_total": 0.25,
        "ssh_host": sshd.host(),
        "ssh_port": sshd.port(),
    })
}

/// The config: VastAI only, its key in `TEST_VAST_KEY`; `ssh` is the `vastai.ssh` mapping.
fn write_config(dir: &Utf8Path, vast: &FakeVastAi, ssh: &str, install: &Utf8Path, port: u16) {
    std::fs::write(
        dir.join("config.yml"),
        format!(
            "enabled: false
vastai:
  enabled: true
  api_key_env: TEST_VAST_KEY
  api_url: {url}
  ssh: {ssh}
  comfyui: {{ path: {install}, port: {port} }}
",
            url = vast.base_url(),
        ),
    )
    .unwrap();
}

fn install_in(dir: &Utf8Path) -> camino::Utf8PathBuf {
    let install = dir.join("ComfyUI");
    for folder in ["models/checkpoints", "custom_nodes", "input", "output"] {
        std::fs::create_dir_all(install.join(folder)).unwrap();
    }
    std::fs::write(install.join("main.py"), "# ComfyUI\n").unwrap();
    install
}

fn comfy_local(dir: &Utf8Path, args: &[&str]) -> crate::Run {
    let config = dir.join("config.yml");
    let mut full = vec!["--config", config.as_str()];
    full.extend_from_slice(args);
    run(&full, dir.as_std_path(), &[("TEST_VAST_KEY", KEY)])
}

#[test]
fn test_connection_run_and_models_work_on_a_rented_instance() {
    let sshd = Sshd::start(SshdConfig {
        allow_tcp_forwarding: true,
        ..SshdConfig::default()
    });
    let (_g, dir) = temp_dir();
    let install = install_in(&dir);
    std::fs::write(
        install.join("models/checkpoints/rented.safetensors"),
        b"weights",
    )
    .unwrap();
    let comfy = FakeComfy::start(FakeOptions::default().base_path(&install));
    let vast = FakeVastAi::with_instances(KEY, vec![row(&sshd, "running")]).unwrap();
    let ssh = format!(
        "{{ key_file: {}, known_hosts_dir: vast_hosts, user: {}, connect_timeout_secs: 5 }}",
        sshd.user_key(),
        sshd.user()
    );
    write_config(&dir, &vast, &ssh, &install, comfy.port());

    let r = comfy_local(&dir, &["test-connection", "--instance", ID]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("port is not published"), "{r:?}");
    // Relative to the config file's folder, recorded on first contact.
    let recorded =
        std::fs::read_to_string(dir.join("vast_hosts").join(format!("vastai-{ID}"))).unwrap();
    assert!(recorded.contains(sshd.host_key_line()), "{recorded}");

    let out = dir.join("out");
    let wf = repo_root().join("fixtures/comfyui/workflows/blur_scale_two_outputs.api.json");
    let r = comfy_local(
        &dir,
        &[
            "run",
            wf.as_str(),
            "--out",
            out.as_str(),
            "--no-previews",
            "--instance",
            ID,
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        crate::run::files_under(out.join("acc_blur").as_std_path()).len(),
        2
    );

    let r = comfy_local(&dir, &["--json", "models", "--instance", ID]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("rented.safetensors"), "{r:?}");
}

#[test]
fn a_stopped_instance_exits_3_and_a_missing_key_exits_2() {
    let sshd = Sshd::shared();
    let (_g, dir) = temp_dir();
    let install = install_in(&dir);
    let vast = FakeVastAi::with_instances(KEY, vec![row(sshd, "stopped")]).unwrap();
    let ssh = format!(
        "{{ key_file: {}, known_hosts_dir: vast_hosts }}",
        sshd.user_key()
    );
    write_config(&dir, &vast, &ssh, &install, 18188);
    for args in [
        &["status", "--instance", ID][..],
        &["models", "--instance", ID],
        &["test-connection", "--instance", ID],
    ] {
        let r = comfy_local(&dir, args);
        assert_eq!(r.code, 3, "{args:?}: {r:?}");
        assert!(
            r.stderr.contains("is stopped, not running"),
            "{args:?}: {r:?}"
        );
        assert!(
            r.stderr.contains("vastai start instance"),
            "{args:?}: {r:?}"
        );
    }
    assert!(!dir.join("vast_hosts").exists(), "nothing was contacted");

    write_config(&dir, &vast, "{ user: root }", &install, 18188);
    vast.clear_requests();
    let r = comfy_local(&dir, &["status", "--instance", ID]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("`vastai.ssh.key_file` is not set"),
        "{r:?}"
    );
    assert!(
        vast.requests().is_empty(),
        "VastAI is not asked without the key"
    );
}
