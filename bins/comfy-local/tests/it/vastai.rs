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

/// The requests to VastAI's instance routes (the list and one instance).
fn instance_requests(vast: &FakeVastAi) -> Vec<String> {
    vast.requests()
        .into_iter()
        .filter(|r| r.path.contains("/instances"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// The cells of the table row of instance `id`.
fn row_of<'a>(r: &'a crate::Run, id: &str) -> Vec<&'a str> {
    r.stdout
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("no row {id}: {r:?}"))
        .split_whitespace()
        .collect()
}

/// A fake VastAI with two running instances: 5150 (the test sshd as its endpoint) and 5151
/// (no SSH endpoint), and a config whose `vastai.ssh` is `ssh` (`None`: the test sshd's key).
fn two_running(sshd: &Sshd, dir: &Utf8Path, ssh: Option<&str>) -> FakeVastAi {
    let install = install_in(dir);
    let mut no_endpoint = row(sshd, "running");
    no_endpoint["id"] = json!(5151);
    no_endpoint["label"] = json!("no-ssh");
    let fields = no_endpoint.as_object_mut().unwrap();
    fields.remove("ssh_host");
    fields.remove("ssh_port");
    let vast = FakeVastAi::with_instances(KEY, vec![row(sshd, "running"), no_endpoint]).unwrap();
    let ssh = ssh.map_or_else(
        || {
            format!(
                "{{ key_file: {}, known_hosts_dir: vast_hosts }}",
                sshd.user_key()
            )
        },
        str::to_owned,
    );
    write_config(dir, &vast, &ssh, &install, 18188);
    vast.clear_requests();
    vast
}

/// `instances` says which running instances commands accept and why not, from the one list
/// request: a usable one, and one VastAI reports no SSH endpoint for.
#[test]
fn instances_says_which_instances_are_usable_and_why_not() {
    let (_g, dir) = temp_dir();
    let vast = two_running(Sshd::shared(), &dir, None);
    vast.clear_requests();
    let r = comfy_local(&dir, &["--json", "instances"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(instance_requests(&vast).len(), 1, "{:?}", vast.requests());
    let list: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("one JSON line");
    let rows = list["instances"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{list}");
    assert_eq!(
        (&rows[0]["id"], &rows[0]["status"], &rows[0]["usable"]),
        (&json!("5150"), &json!("running"), &json!(true)),
        "{list}"
    );
    assert!(rows[0]["unusable"].is_null(), "{list}");
    assert_eq!(
        (&rows[1]["id"], &rows[1]["status"], &rows[1]["usable"]),
        (&json!("5151"), &json!("running"), &json!(false)),
        "{list}"
    );
    let why = &rows[1]["unusable"];
    assert!(
        why["reason"]
            .as_str()
            .unwrap()
            .contains("VastAI instance 5151 has no SSH endpoint"),
        "{list}"
    );
    assert!(
        why["hint"].as_str().unwrap().contains("launch mode"),
        "{list}"
    );

    let r = comfy_local(&dir, &["instances"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        row_of(&r, "5150")[..4],
        ["5150", "vastai", "running", "yes"],
        "{r:?}"
    );
    assert_eq!(
        row_of(&r, "5151")[..4],
        ["5151", "vastai", "running", "NO"],
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("\nunusable: 5151: VastAI instance 5151 has no SSH endpoint"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("\n  hint: rent instances with SSH access"),
        "{r:?}"
    );
    assert!(!r.stdout.contains("unusable: 5150"), "{r:?}");
}

/// Without `vastai.ssh`'s key no rented instance can be reached: `instances` says so for each
/// (the hint once), and a command refuses it as the listing said.
#[test]
fn instances_says_none_is_usable_without_the_vastai_ssh_key() {
    let (_g, dir) = temp_dir();
    let vast = two_running(Sshd::shared(), &dir, Some("{ user: root }"));
    let r = comfy_local(&dir, &["--json", "instances"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(instance_requests(&vast).len(), 1, "{:?}", vast.requests());
    let list: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("one JSON line");
    for row in list["instances"].as_array().unwrap() {
        assert_eq!(row["usable"], false, "{list}");
        assert!(
            row["unusable"]["reason"]
                .as_str()
                .unwrap()
                .contains("`vastai.ssh.key_file` is not set"),
            "{list}"
        );
        assert!(
            row["unusable"]["hint"]
                .as_str()
                .unwrap()
                .contains("set vastai.ssh.key_file"),
            "{list}"
        );
    }
    let r = comfy_local(&dir, &["instances"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(row_of(&r, "5150")[3], "NO", "{r:?}");
    for id in ["5150", "5151"] {
        assert!(
            r.stdout.contains(&format!(
                "\nunusable: {id}: VastAI instance {id} is reached over SSH, but `vastai.ssh.key_file` is not set"
            )),
            "{r:?}"
        );
    }
    assert_eq!(
        r.stdout.matches("hint: set vastai.ssh.key_file").count(),
        1,
        "{r:?}"
    );
    // And a command refuses it as the listing said.
    let r2 = comfy_local(&dir, &["status", "--instance", ID]);
    assert_eq!(r2.code, 2, "{r2:?}");
}

/// `install node` on a VastAI id asks VastAI about the instance once. The clone itself fails
/// (nothing listens at the git URL): the count is what is checked.
#[test]
fn install_node_asks_vastai_once() {
    let sshd = Sshd::shared();
    let (_g, dir) = temp_dir();
    let install = install_in(&dir);
    let vast = FakeVastAi::with_instances(KEY, vec![row(sshd, "running")]).unwrap();
    let ssh = format!(
        "{{ key_file: {}, known_hosts_dir: vast_hosts, user: {}, connect_timeout_secs: 5 }}",
        sshd.user_key(),
        sshd.user()
    );
    write_config(&dir, &vast, &ssh, &install, closed_port());
    let config = dir.join("config.yml");
    let mut yaml = std::fs::read_to_string(&config).unwrap();
    yaml.push_str("resources: { allowed_git_hosts: [127.0.0.1] }\n");
    std::fs::write(&config, yaml).unwrap();
    let url = format!("git://127.0.0.1:{}/owner/node-x.git", closed_port());

    vast.clear_requests();
    let r = comfy_local(&dir, &["install", "node", &url, "--instance", ID]);
    assert_eq!(r.code, 4, "{r:?}");
    assert!(r.stderr.contains("git clone failed"), "{r:?}");
    assert!(
        dir.join("vast_hosts").join(format!("vastai-{ID}")).exists(),
        "the host was reached: {r:?}"
    );
    assert_eq!(
        instance_requests(&vast),
        [format!("GET /api/v0/instances/{ID}/")],
        "{r:?}"
    );
}

/// A port on 127.0.0.1 with nothing listening.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Serves `body` to every GET on a loopback port (as many connections as come, until the
/// process exits): a model source for the host and this process.
fn serve_file(body: &'static [u8]) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in l.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let mut stream = reader.into_inner();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    port
}

/// A rented instance whose ComfyUI (a fake, its model lists read from the scratch install) is
/// reached through the SSH forward of a private sshd, and a model source.
struct Rented {
    dir: camino::Utf8PathBuf,
    install: camino::Utf8PathBuf,
    comfy: FakeComfy,
    vast: FakeVastAi,
    model_url: String,
    /// Dropped last: the sshd, then the scratch folder.
    _sshd: Sshd,
    _guard: tempfile::TempDir,
}

impl Rented {
    fn start(weights: &'static [u8]) -> Self {
        let sshd = Sshd::start(SshdConfig {
            allow_tcp_forwarding: true,
            ..SshdConfig::default()
        });
        let (guard, dir) = temp_dir();
        let install = install_in(&dir);
        let comfy = FakeComfy::start(FakeOptions::default().base_path(&install).models_on_disk());
        let vast = FakeVastAi::with_instances(KEY, vec![row(&sshd, "running")]).unwrap();
        let ssh = format!(
            "{{ key_file: {}, known_hosts_dir: vast_hosts, user: {}, connect_timeout_secs: 5 }}",
            sshd.user_key(),
            sshd.user()
        );
        write_config(&dir, &vast, &ssh, &install, comfy.port());
        let model_url = format!("http://127.0.0.1:{}/one", serve_file(weights));
        Rented {
            dir,
            install,
            comfy,
            vast,
            model_url,
            _sshd: sshd,
            _guard: guard,
        }
    }

    /// A `/prompt` body file: `prompt`'s nodes and a `CheckpointLoaderSimple` of
    /// `one.safetensors`, whose URL the models metadata gives.
    fn workflow(&self, mut prompt: serde_json::Value) -> camino::Utf8PathBuf {
        prompt["9"] = json!({"class_type": "CheckpointLoaderSimple",
                             "inputs": {"ckpt_name": "one.safetensors"}});
        let body = json!({
            "prompt": prompt,
            "extra_data": {"extra_pnginfo": {"workflow": {
                "nodes": [],
                "models": [{"name": "one.safetensors", "url": self.model_url,
                            "directory": "checkpoints"}]
            }}}
        });
        let wf = self.dir.join("wf.json");
        std::fs::write(&wf, serde_json::to_vec(&body).unwrap()).unwrap();
        wf
    }

    /// The installed model's bytes.
    fn model(&self) -> Vec<u8> {
        std::fs::read(self.install.join("models/checkpoints/one.safetensors")).unwrap()
    }
}

/// `install missing` on a VastAI id asks VastAI about the instance once: the dry run, and
/// with `--yes`, which installs a model and a node, for the check, the plan, both installs and
/// the re-check. The model is installed; the node's clone fails (nothing listens at its git
/// URL), which is reported.
#[test]
fn install_missing_asks_vastai_once() {
    let t = Rented::start(b"rented weights");
    let config = t.dir.join("config.yml");
    // ComfyUI's Python named, so that it is not compared with the fake's `/system_stats`.
    let python = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("python3"))
        .find(|p| p.is_file())
        .expect("python3 on PATH");
    let yaml = std::fs::read_to_string(&config).unwrap().replace(
        &format!("port: {} }}", t.comfy.port()),
        &format!("port: {}, python: {} }}", t.comfy.port(), python.display()),
    );
    assert!(yaml.contains("python: /"), "{yaml}");
    std::fs::write(
        &config,
        yaml + "resources: { allowed_git_hosts: [127.0.0.1] }\n",
    )
    .unwrap();
    let wf = t.workflow(json!({"2": {"class_type": "FancyNode", "inputs": {}}}));
    let map = t.dir.join("map.json");
    let git = format!("git://127.0.0.1:{}/owner/node-x.git", closed_port());
    std::fs::write(&map, json!({"FancyNode": git}).to_string()).unwrap();
    let args = [
        "install",
        "missing",
        wf.as_str(),
        "--node-map",
        map.as_str(),
        "--instance",
        ID,
    ];
    let one = [format!("GET /api/v0/instances/{ID}/")];

    t.vast.clear_requests();
    let dry = comfy_local(&t.dir, &args);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(dry.stdout.contains("Models to install (1):"), "{dry:?}");
    assert_eq!(instance_requests(&t.vast), one, "the dry run: {dry:?}");

    t.vast.clear_requests();
    let r = comfy_local(&t.dir, &[&["--json"][..], &args, &["--yes"]].concat());
    assert_eq!(r.code, 1, "the node install fails: {r:?}");
    let events: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ends: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| matches!(e["event"].as_str(), Some("installed" | "failed")))
        .map(|e| (e["event"].as_str().unwrap(), e["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(ends, [("installed", "model"), ("failed", "node")], "{r:?}");
    let failed = events.iter().find(|e| e["event"] == "failed").unwrap();
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("git clone failed"),
        "{r:?}"
    );
    assert_eq!(t.model(), b"rented weights");
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary", "{r:?}");
    assert_eq!(
        summary["still_missing"]["missing_models"],
        json!([]),
        "{r:?}"
    );
    assert_eq!(instance_requests(&t.vast), one, "{r:?}");
}

/// `run --batch --sync` on a rented instance installs a job's missing model there with the
/// record the batch's VastAI listing gave: VastAI is asked for its list, not about the
/// instance again, and the job runs.
#[test]
fn batch_sync_installs_on_a_rented_instance_without_asking_vastai_again() {
    let t = Rented::start(b"synced weights");
    let wf = t.workflow(json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "inv"}}
    }));
    let out = t.dir.join("out");

    t.vast.clear_requests();
    let r = comfy_local(
        &t.dir,
        &[
            "run",
            "--batch",
            wf.as_str(),
            "--instances",
            ID,
            "--sync",
            "--no-previews",
            "--out",
            out.as_str(),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(t.model(), b"synced weights");
    assert_eq!(t.comfy.submitted().len(), 1, "{r:?}");
    let asked = instance_requests(&t.vast);
    assert!(
        !asked
            .iter()
            .any(|r| r.contains(&format!("/instances/{ID}"))),
        "{asked:?}"
    );
    assert_eq!(asked.len(), 1, "the list only: {asked:?}");
}
