//! `comfy-local-test-host`: the Rust tests' harness (a real OpenSSH sshd on loopback, fake
//! ComfyUI servers) started for a test suite in another language. It writes a config file,
//! prints one JSON line with what the tests need, and serves until its standard input closes.
//!
//! The config has four local instances on one sshd and one ComfyUI install folder:
//! `local` (the default; every stage passes; its ComfyUI lists the model files of the install
//! folder, as a real one does), `slow` (its ComfyUI's node `2` takes 20 s and stops early when
//! interrupted), `no-ssh` (the sshd port is closed) and `no-comfyui` (nothing
//! listens at its `api_url`). When run as root the login name is `comfy-local-test-root` (see
//! `SshdConfig::root_alias`), because configs refuse `user: root`.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use comfy_local_test_support::{Sshd, SshdConfig};

/// The login name of root when run as root (a name no real account is likely to have).
const ROOT_ALIAS: &str = "comfy-local-test-root";

/// How long node `2` of the `slow` instance's ComfyUI runs.
const SLOW_NODE: Duration = Duration::from_secs(20);

fn main() {
    let sshd = Sshd::start(SshdConfig {
        root_alias: Some(ROOT_ALIAS.to_owned()),
        ..SshdConfig::default()
    });
    let install = fake_install(&sshd);
    let fast = FakeComfy::start(FakeOptions::default().base_path(&install).models_on_disk());
    let slow = FakeComfy::start(
        FakeOptions::default()
            .base_path(&install)
            .knobs(Knobs::default().slow_node("2", SLOW_NODE)),
    );
    let closed = closed_port();
    let config = sshd.temp_dir().join("config.yml");
    let instances = [
        instance("local", &sshd, sshd.port(), &install, &fast.url()),
        instance("slow", &sshd, sshd.port(), &install, &slow.url()),
        instance("no-ssh", &sshd, closed, &install, &fast.url()),
        instance(
            "no-comfyui",
            &sshd,
            sshd.port(),
            &install,
            &format!("http://127.0.0.1:{closed}"),
        ),
    ];
    std::fs::write(
        &config,
        format!("enabled: true\nlocal:\n{}", instances.concat()),
    )
    .expect("writing the config");
    let info = serde_json::json!({
        "config": config,
        "install": install,
        "user": sshd.user(),
        "sshd_port": sshd.port(),
        "comfyui_url": fast.url(),
        "slow_comfyui_url": slow.url(),
        "slow_node_secs": SLOW_NODE.as_secs(),
        "comfyui_output": fast.output_dir(),
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{info}").expect("writing to stdout");
    stdout.flush().expect("flushing stdout");
    // Serve until the test suite closes our standard input (or dies: the pipe closes then too).
    let _ = std::io::stdin().lock().read_to_end(&mut Vec::new());
}

/// A ComfyUI install folder (main.py and the folders the product writes to) the SSH user owns.
fn fake_install(sshd: &Sshd) -> Utf8PathBuf {
    let dir = sshd.scratch("install").join("ComfyUI");
    for folder in [
        "models/checkpoints",
        "models/loras",
        "custom_nodes",
        "input",
        "output",
    ] {
        std::fs::create_dir_all(dir.join(folder)).expect("creating the install folders");
    }
    std::fs::write(dir.join("main.py"), "# ComfyUI\n").expect("writing main.py");
    dir
}

/// A port on 127.0.0.1 with nothing listening.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    listener.local_addr().expect("its address").port()
}

/// One entry of the config's `local:` list.
fn instance(id: &str, sshd: &Sshd, port: u16, install: &Utf8Path, api_url: &str) -> String {
    format!(
        "  - id: {id}
    ssh:
      host: {host}
      port: {port}
      user: {user}
      key_file: {key}
      known_hosts_file: {known_hosts}
      connect_timeout_secs: 5
      command_timeout_secs: 30
    comfyui:
      path: {install}
      api_url: '{api_url}'
",
        host = sshd.host(),
        user = sshd.user(),
        key = sshd.user_key(),
        known_hosts = sshd.known_hosts(),
    )
}
