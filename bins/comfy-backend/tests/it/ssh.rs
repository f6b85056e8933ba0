//! Routes that need SSH, against the real sshd harness: the connection test, and a model
//! install as a job. The backend runs in-process (the library), because the config file form
//! refuses `user: root`, which the test sshd logs in as when the tests run as root.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use comfy_backend::{Backend, Settings};
use comfy_local_config::{Config, UserName};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions};
use comfy_local_test_support::Sshd;
use serde_json::json;

use crate::{events, job, post, post_json, temp_dir};

/// A ComfyUI install folder (main.py + the folders) in the sshd's scratch space.
pub fn fake_install(name: &str) -> Utf8PathBuf {
    let dir = Sshd::shared().scratch(name).join("ComfyUI");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.py"), "# ComfyUI\n").unwrap();
    for folder in ["models/checkpoints", "custom_nodes", "input", "output"] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
    }
    dir
}

/// A config for the shared sshd; the user is set after validation (see the module doc).
fn config(install: &Utf8Path, api_url: &str) -> Config {
    config_with(install, api_url, "")
}

/// [`config`] plus `extra` YAML (top-level sections such as `vastai:`).
pub fn config_with(install: &Utf8Path, api_url: &str, extra: &str) -> Config {
    let sshd = Sshd::shared();
    let yaml = format!(
        "enabled: true
local:
  - id: local
    name: Test host
    ssh:
      host: {host}
      port: {port}
      user: comfyui
      key_file: {key}
      known_hosts_file: {kh}
      connect_timeout_secs: 5
      command_timeout_secs: 30
    comfyui:
      path: {install}
      api_url: {api_url}
{extra}",
        host = sshd.host(),
        port = sshd.port(),
        key = sshd.user_key(),
        kh = sshd.known_hosts(),
    );
    let mut config = Config::from_str_named(&yaml, "test-config.yml").unwrap();
    config.local[0].ssh.user = UserName::try_from(sshd.user()).unwrap();
    config
}

/// The backend served in-process on a loopback port until dropped.
pub struct InProc {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InProc {
    pub fn start(config: Config, state_dir: &Utf8Path) -> InProc {
        InProc::start_with_token(config, state_dir, None)
    }

    /// [`InProc::start`] with a bearer token the API requires.
    pub fn start_with_token(config: Config, state_dir: &Utf8Path, token: Option<&str>) -> InProc {
        let settings = Settings {
            token: token.map(str::to_owned),
            cors_origins: Vec::new(),
            state_dir: state_dir.to_owned(),
            max_request_bytes: 16 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(1),
            refresh_every: Duration::from_secs(1),
        };
        let backend = Backend::open(config, Some("test-config.yml".to_owned()), settings).unwrap();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                backend
                    .serve(listener, async move {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let addr = addr_rx.recv().unwrap();
        InProc {
            url: format!("http://{addr}"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for InProc {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn the_connection_test_passes_every_stage_and_reports_a_failing_one() {
    let install = fake_install("backend_test_connection");
    let comfy = FakeComfy::start(FakeOptions::default().base_path(&install));
    let (_g, dir) = temp_dir();
    let backend = InProc::start(config(&install, &comfy.url()), &dir);
    let a = post(
        &format!("{}/api/instances/local/test", backend.url),
        "application/json",
        b"",
    );
    assert_eq!(a.status, 200, "{a:?}");
    let report = a.json();
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["instance"], "local");
    let stages: Vec<&str> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "config",
            "key-file",
            "tcp",
            "handshake",
            "auth",
            "remote",
            "write-access",
            "comfy-api",
            "web-socket"
        ]
    );
    drop(backend);

    // ComfyUI down: the report says so at its stage, still a 200 with `ok: false`.
    let down = InProc::start(config(&install, "http://127.0.0.1:9"), &dir.join("down"));
    let report = post(
        &format!("{}/api/instances/local/test", down.url),
        "application/json",
        b"",
    )
    .json();
    assert_eq!(report["ok"], false, "{report:#}");
    let failed: Vec<&str> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "fail")
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["comfy-api"], "{report:#}");
}

/// Serves `body` to every GET on a loopback port (HTTP/1.1, one request per connection).
pub fn serve_bytes(body: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(body);
        }
    });
    port
}

#[test]
fn a_model_install_runs_as_a_job_with_progress_and_a_node_clone_that_fails_fails_its_job() {
    static MODEL: &[u8] = b"not really a model, but bytes all the same\n";
    let install = fake_install("backend_install_model");
    let (_g, dir) = temp_dir();
    let extra = "resources:\n  allowed_git_hosts: [127.0.0.1]\n";
    let backend = InProc::start(config_with(&install, "http://127.0.0.1:9", extra), &dir);
    let base = &backend.url;
    let port = serve_bytes(MODEL);
    let a = post_json(
        &format!("{base}/api/instances/local/models"),
        &json!({"url": format!("http://127.0.0.1:{port}/tiny.safetensors"), "folder": "checkpoints", "name": "tiny.safetensors"}),
    );
    assert_eq!(a.status, 202, "{a:?}");
    let id = a.json()["job_id"].as_str().unwrap().to_owned();
    let all = events(base, &id, None);
    let last = all.last().unwrap();
    assert_eq!(last.event, "done", "{all:?}");
    assert_eq!(last.data["result"]["status"], "installed", "{last:?}");
    assert!(
        all.iter()
            .any(|e| e.event == "progress" && e.data["event"] == "started"),
        "{all:?}"
    );
    let record = job(base, &id);
    assert_eq!(
        (record["kind"].as_str(), record["state"].as_str()),
        (Some("install_model"), Some("succeeded"))
    );
    assert_eq!(
        std::fs::read(install.join("models/checkpoints/tiny.safetensors")).unwrap(),
        MODEL
    );

    // A host the config does not allow is refused before any job; a repository on an allowed
    // host that the host cannot clone is a job that fails.
    let nodes = format!("{base}/api/instances/local/nodes");
    let a = post_json(
        &nodes,
        &json!({"url": "https://git.invalid/someone/some-node"}),
    );
    a.assert_error(400, "bad_request");
    assert!(
        a.json()["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("allowed_git_hosts"),
        "{a:?}"
    );
    let a = post_json(&nodes, &json!({"url": "git://127.0.0.1:9/some-node.git"}));
    assert_eq!(a.status, 202, "{a:?}");
    let id = a.json()["job_id"].as_str().unwrap().to_owned();
    let last = events(base, &id, None).pop().unwrap();
    assert_eq!(last.event, "error", "{last:?}");
    assert_eq!(last.data["code"], "install_failed", "{last:?}");
    assert_eq!(job(base, &id)["kind"], "install_node");
}
