//! A rented VastAI instance used like a local one: the fake VastAI lists it with the test
//! sshd as its SSH endpoint and without ComfyUI's port published, so ComfyUI (a fake one on
//! loopback) is reached through the SSH forward. Its host key is recorded on first contact in
//! its own `known_hosts` file and a changed key is refused; a stopped instance is refused.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_config::{Config, Secret};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions};
use comfy_local_fake_vastai::FakeVastAi;
use comfy_local_sdk::install::{
    Credential, Credentials, HOST_PYTHON, InstallSpec, Placement, Source, install_via, open_fs,
};
use comfy_local_sdk::ssh::SshError;
use comfy_local_sdk::{
    DataPath, InstallError, InstallModelRequest, InstallStatus, Interrupter, ResolveError,
    RunRequest, SdkError, StageStatus, TestConnectionOptions, install_model, list_models, resolve,
    run_workflow, test_connection_with_config,
};
use comfy_local_test_support::{Sshd, SshdConfig, keygen};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::http_source::{FileServer, Knobs, generated};

const KEY: &str = "vast-test-key-0123456789";
const ID: &str = "4242";

/// The test sshd (forwarding allowed, as VastAI's images allow it) and a ComfyUI install in
/// its scratch space.
struct Rented {
    sshd: Sshd,
    comfy: FakeComfy,
    vast: FakeVastAi,
    dir: Utf8PathBuf,
    install: Utf8PathBuf,
}

/// A VastAI row for instance `ID` in `status`, reachable at `sshd` through its ssh proxy
/// fields, publishing only 22/tcp (ComfyUI's port is not published).
fn row(sshd: &Sshd, status: &str) -> serde_json::Value {
    json!({
        "id": ID.parse::<u64>().unwrap(),
        "actual_status": status,
        "intended_status": status,
        "label": "rented-4090",
        "gpu_name": "RTX 4090",
        "num_gpus": 1,
        "gpu_ram": 24564,
        "dph_total": 0.412,
        "ssh_host": sshd.host(),
        "ssh_port": sshd.port(),
        "public_ipaddr": "127.0.0.1",
        "ports": {"22/tcp": [{"HostIp": "0.0.0.0", "HostPort": sshd.port().to_string()}]},
    })
}

impl Rented {
    fn start(name: &str, status: &str) -> Self {
        let sshd = Sshd::start(SshdConfig {
            allow_tcp_forwarding: true,
            ..SshdConfig::default()
        });
        let vast = FakeVastAi::with_instances(KEY, vec![row(&sshd, status)]).unwrap();
        let dir = sshd.scratch(name);
        let install = dir.join("ComfyUI");
        std::fs::create_dir_all(&install).unwrap();
        std::fs::write(install.join("main.py"), "# ComfyUI\n").unwrap();
        for folder in ["models/checkpoints", "custom_nodes", "input", "output"] {
            std::fs::create_dir_all(install.join(folder)).unwrap();
        }
        let comfy = FakeComfy::start(FakeOptions::default().base_path(&install));
        Rented {
            sshd,
            comfy,
            vast,
            dir,
            install,
        }
    }

    fn known_hosts_dir(&self) -> Utf8PathBuf {
        self.dir.join("vast_known_hosts")
    }

    fn known_hosts_file(&self) -> Utf8PathBuf {
        self.known_hosts_dir().join(format!("vastai-{ID}"))
    }

    /// VastAI enabled (key inline, allowed), no local instance; the SSH key and user of the
    /// test sshd, ComfyUI's port that of the fake ComfyUI (on the sshd host's loopback).
    fn config(&self) -> Config {
        let yaml = format!(
            "enabled: false
vastai:
  enabled: true
  allow_inline_api_key: true
  api_key: {KEY}
  api_url: {url}
  ssh:
    key_file: {key}
    known_hosts_dir: {kh}
    user: {user}
    connect_timeout_secs: 5
    command_timeout_secs: 30
  comfyui:
    path: {install}
    port: {port}
",
            url = self.vast.base_url(),
            key = self.sshd.user_key(),
            kh = self.known_hosts_dir(),
            user = self.sshd.user(),
            install = self.install,
            port = self.comfy.port(),
        );
        Config::from_str_named(&yaml, "vast.yml").unwrap()
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn repo_root() -> Utf8PathBuf {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn resolves_into_ssh_endpoint_key_accept_new_known_hosts_and_the_forward() {
    let rented = Rented::start("resolve", "running");
    let config = rented.config();
    let r = resolve(&config, Some(ID), &no_env).unwrap();
    assert_eq!(r.id(), ID);
    assert_eq!(r.key, "vastai");
    assert!(!r.try_direct, "ComfyUI's port is not published");
    assert_eq!(r.forward_port, rented.comfy.port());
    assert!((r.cost_per_hour - 0.412).abs() < 1e-9);
    assert!(!r.tokens_to_host);
    let o = r.connect_options();
    assert_eq!(
        (o.host.as_str(), o.port, o.user.as_str()),
        ("127.0.0.1", rented.sshd.port(), rented.sshd.user())
    );
    assert_eq!(o.key_file, rented.sshd.user_key());
    assert_eq!(
        o.host_key,
        comfy_local_sdk::ssh::HostKeyCheck::KnownHosts {
            file: rented.known_hosts_file(),
            policy: comfy_local_sdk::ssh::HostKeyPolicy::AcceptNew,
        }
    );
    assert_eq!(r.instance.comfyui.path.as_str(), rented.install.as_str());
}

/// test-connection passes every stage; the host key is recorded on first contact; run saves
/// the outputs; install model installs a verified file; models lists it.
#[test]
fn a_rented_instance_passes_every_stage_runs_installs_and_lists_models() {
    let rented = Rented::start("all", "running");
    let config = rented.config();
    assert!(!rented.known_hosts_file().exists());

    let report = test_connection_with_config(
        &config,
        None,
        &TestConnectionOptions {
            instance: Some(ID.to_owned()),
        },
    );
    assert!(report.ok, "{}", report.to_table());
    assert!(
        report.stages.iter().all(|s| s.status == StageStatus::Pass),
        "{}",
        report.to_table()
    );
    assert!(
        report.to_table().contains("port is not published"),
        "{}",
        report.to_table()
    );
    let recorded = std::fs::read_to_string(rented.known_hosts_file()).unwrap();
    assert!(
        recorded.contains(rented.sshd.host_key_line()),
        "the sshd's key is recorded: {recorded}"
    );

    let target = comfy_local_sdk::workflow::client_for(&config, Some(ID)).unwrap();
    assert!(target.via_ssh, "ComfyUI is reached through the SSH forward");
    drop(target);

    let out = rented.dir.join("out");
    let summary = run_workflow(
        &config,
        &RunRequest {
            workflow: repo_root()
                .join("fixtures/comfyui/workflows/blur_scale_two_outputs.api.json"),
            instance: Some(ID.to_owned()),
            inputs: Vec::new(),
            out_dir: out.clone(),
            previews: false,
            timeout: Some(Duration::from_secs(60)),
            wait: true,
            sets: Vec::new(),
            seed: None,
        },
        &Interrupter::new(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(summary.instance, ID);
    assert_eq!(summary.outputs.len(), 2, "{summary:?}");
    for saved in &summary.outputs {
        let bytes = std::fs::read(&saved.path).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{saved:?}");
    }

    let data = Arc::new(generated(3 * 1024 * 1024, 17));
    let server = FileServer::start(data.clone(), Knobs::default());
    let outcome = install_model(
        &config,
        &InstallModelRequest {
            url: server.url("/m/rented.safetensors"),
            folder: "checkpoints".to_owned(),
            name: None,
            sha256: Some(hex::encode(Sha256::digest(&*data))),
            force: false,
            instance: Some(ID.to_owned()),
            retries: 0,
        },
        &no_env,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(outcome.status, InstallStatus::Installed);
    assert!(outcome.verified);
    let installed = rented.install.join("models/checkpoints/rented.safetensors");
    assert!(std::fs::read(installed).unwrap() == *data);

    let models = list_models(&config, Some(ID), Some("checkpoints")).unwrap();
    let names: Vec<(&str, u64)> = models
        .models
        .iter()
        .map(|m| (m.name.as_str(), m.size))
        .collect();
    assert_eq!(names, [("rented.safetensors", data.len() as u64)]);
}

/// A `known_hosts` file that holds another key for the endpoint: every path refuses, and the
/// file is left as it was.
#[test]
fn a_changed_host_key_is_refused() {
    let rented = Rented::start("changed", "running");
    let config = rented.config();
    let other = rented.dir.join("other-host-key");
    keygen(&other, "");
    let other_pub = std::fs::read_to_string(format!("{other}.pub")).unwrap();
    let key: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    std::fs::create_dir_all(rented.known_hosts_dir()).unwrap();
    let written = format!("[127.0.0.1]:{} {}\n", rented.sshd.port(), key.join(" "));
    std::fs::write(rented.known_hosts_file(), &written).unwrap();

    let report = test_connection_with_config(
        &config,
        None,
        &TestConnectionOptions {
            instance: Some(ID.to_owned()),
        },
    );
    let failed = report.first_failure().expect("the handshake fails");
    assert_eq!(
        failed.stage,
        comfy_local_sdk::Stage::Handshake,
        "{}",
        report.to_table()
    );
    assert!(
        failed.detail.contains("man-in-the-middle"),
        "{}",
        failed.detail
    );
    let hint = failed.hint.as_deref().unwrap_or_default();
    assert!(
        hint.contains("CHANGED since it was recorded") && hint.contains(ID),
        "{hint}"
    );

    let err = comfy_local_sdk::workflow::client_for(&config, Some(ID)).expect_err("changed key");
    let SdkError::ComfyUnreachable { tunnel, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(
        matches!(**tunnel, SshError::HostKeyMismatch { .. }),
        "{tunnel:?}"
    );
    let err = open_fs(&config, Some(ID)).expect_err("changed key");
    assert!(
        matches!(&err, InstallError::Connect { source, .. } if matches!(**source, SshError::HostKeyMismatch { .. })),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read_to_string(rented.known_hosts_file()).unwrap(),
        written
    );
}

#[test]
fn a_stopped_instance_is_refused_with_a_clear_error() {
    let rented = Rented::start("stopped", "stopped");
    let config = rented.config();
    let err = comfy_local_sdk::workflow::client_for(&config, Some(ID)).expect_err("stopped");
    let SdkError::Resolve(resolve_err) = &err else {
        panic!("{err:?}");
    };
    assert!(
        matches!(resolve_err, ResolveError::NotRunning { .. }),
        "{resolve_err:?}"
    );
    assert!(!resolve_err.is_usage(), "a connection failure (exit 3)");
    assert_eq!(
        err.to_string(),
        format!("VastAI instance {ID} is stopped, not running: it cannot be reached")
    );
    assert!(
        resolve_err
            .hint()
            .unwrap()
            .contains("vastai start instance")
    );
    let report = test_connection_with_config(
        &config,
        None,
        &TestConnectionOptions {
            instance: Some(ID.to_owned()),
        },
    );
    let failed = report.first_failure().unwrap();
    assert_eq!(
        failed.stage,
        comfy_local_sdk::Stage::Tcp,
        "{}",
        report.to_table()
    );
    assert!(failed.detail.contains("stopped"), "{}", failed.detail);
    assert!(!rented.known_hosts_file().exists(), "nothing was contacted");
    // An id VastAI does not know, and VastAI turned off: usage errors (exit 2).
    let unknown = resolve(&config, Some("999"), &no_env).unwrap_err();
    assert!(unknown.is_usage(), "{unknown:?}");
    let mut off = config.clone();
    off.vastai.enabled = false;
    let err = resolve(&off, Some(ID), &no_env).unwrap_err();
    assert!(err.is_usage());
    assert!(err.to_string().contains("vastai.enabled: true"), "{err}");
}

/// `vastai.send_download_tokens: false` (the default): a download that needs a token is not
/// fetched by the rented host; `auto` streams it through this process instead.
#[test]
fn tokens_stay_off_a_rented_host() {
    const TOKEN: &str = "tok-RENTED-0042";
    let rented = Rented::start("tokens", "running");
    let config = rented.config();
    let data = Arc::new(generated(1024 * 1024, 5));
    let server = FileServer::start(
        data.clone(),
        Knobs {
            bearer: Some(TOKEN.to_owned()),
            ..Knobs::default()
        },
    );
    let resolved = resolve(&config, Some(ID), &no_env).unwrap();
    let creds = || {
        Credentials::none().with(Credential {
            domain: "127.0.0.1".to_owned(),
            https_only: false,
            placement: Placement::Bearer,
            secret: Secret::new(TOKEN),
        })
    };
    let install = |via: DataPath, name: &str| {
        let mut fs = open_fs(&config, Some(ID))?;
        let req = InstallModelRequest {
            url: server.url(&format!("/m/{name}")),
            folder: "checkpoints".to_owned(),
            name: None,
            sha256: None,
            force: false,
            instance: Some(ID.to_owned()),
            retries: 0,
        };
        let mut spec = InstallSpec::parse(&req, u64::MAX)?;
        spec.tokens_to_host = resolved.tokens_to_host;
        let source = Source::new(creds(), Duration::from_secs(10));
        install_via(
            &mut fs,
            &source,
            &spec,
            via,
            HOST_PYTHON,
            &AtomicBool::new(false),
            &mut |_| {},
        )
    };
    let err = install(DataPath::Host, "host.bin").expect_err("the host may not get the token");
    assert!(
        matches!(err, InstallError::TokenStaysHere { .. }),
        "{err:?}"
    );
    let out = install(DataPath::Auto, "auto.bin").unwrap();
    assert_eq!(out.via, Some(DataPath::Stream));
    assert!(
        out.fallback
            .as_deref()
            .unwrap_or_default()
            .contains("send_download_tokens"),
        "{out:?}"
    );
    let by_python = server
        .seen()
        .iter()
        .filter(|s| {
            s.header("user-agent")
                .is_some_and(|u| u.starts_with("Python-urllib/"))
        })
        .count();
    assert_eq!(by_python, 0, "the rented host fetched nothing itself");
}

/// A rented host is set up by VastAI's image and configured under `vastai:`: the hints of
/// failed stages name `vastai.*` keys and VastAI's side, never the setup script.
#[test]
fn a_rented_instances_hints_name_the_vastai_keys_not_the_setup_script() {
    let rented = Rented::start("hints", "running");
    let test = |config: &Config| {
        let report = test_connection_with_config(
            config,
            None,
            &TestConnectionOptions {
                instance: Some(ID.to_owned()),
            },
        );
        let failed = report.first_failure().expect("a stage fails").clone();
        let hint = failed.hint.clone().unwrap_or_default();
        assert!(!hint.contains("setup script"), "{hint}");
        (failed.stage, hint)
    };

    let mut no_key = rented.config();
    no_key.vastai.ssh.key_file = Some(rented.dir.join("no-such-key"));
    let (stage, hint) = test(&no_key);
    assert_eq!(stage, comfy_local_sdk::Stage::KeyFile);
    assert!(hint.contains("vastai.ssh.key_file"), "{hint}");
    assert!(hint.contains("VastAI account's SSH keys"), "{hint}");

    let mut wrong_path = rented.config();
    wrong_path.vastai.comfyui.path = rented.dir.as_str().try_into().unwrap();
    let (stage, hint) = test(&wrong_path);
    assert_eq!(stage, comfy_local_sdk::Stage::Remote);
    assert!(hint.contains("vastai.comfyui.path must be"), "{hint}");
}

/// A batch over `all` finds the rented instance in VastAI's listing and runs every job on it
/// through the SSH forward (its ComfyUI port is not published): each job done once, its
/// outputs in `<out>/<job>/`, and its cost in the summary at the listed $/hr.
#[test]
fn a_batch_runs_on_a_rented_instance_through_the_ssh_forward() {
    use comfy_local_sdk::batch::{BatchRequest, BatchStop, InstanceChoice, JobResult, run_batch};

    let rented = Rented::start("batch", "running");
    let config = rented.config();
    let wfs = rented.dir.join("wfs");
    std::fs::create_dir_all(&wfs).unwrap();
    let src = repo_root().join("fixtures/comfyui/workflows/blur_scale_two_outputs.api.json");
    for name in ["first", "second"] {
        std::fs::copy(&src, wfs.join(format!("{name}.json"))).unwrap();
    }
    let out = rented.dir.join("batch-out");
    let req = BatchRequest {
        jobs: comfy_local_sdk::batch::batch_jobs(&[wfs], 1, None).unwrap(),
        instances: InstanceChoice::All,
        out_dir: out.clone(),
        sync: false,
        previews: false,
        timeout: Some(Duration::from_secs(60)),
    };
    let report = run_batch(&config, &req, &BatchStop::new(), &mut |_| {}).unwrap();
    assert_eq!(report.report.done(), 2, "{:?}", report.report);
    assert_eq!(rented.comfy.submitted().len(), 2, "each job submitted once");
    // One list request at the start; the probe and the jobs reached the instance as listed.
    let asked: Vec<String> = rented
        .vast
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(asked, ["GET /api/v1/instances/"]);
    for (job, result) in report.results() {
        let JobResult::Done { output, .. } = result else {
            panic!("{}: {result:?}", job.name);
        };
        assert_eq!(output.dir, out.join(&job.name));
        assert_eq!(output.files().len(), 2, "{}", job.name);
    }
    let summary = report.summary_json();
    let mine = &summary["instances"][ID];
    assert_eq!(mine["done"], 2, "{summary}");
    let seconds = mine["seconds"].as_f64().unwrap();
    let cost = mine["cost_usd"].as_f64().unwrap();
    assert!(seconds > 0.0, "{summary}");
    assert!(
        (cost - 0.412 * seconds / 3600.0).abs() < 1e-9,
        "cost is $/hr x time: {summary}"
    );
    assert!(rented.known_hosts_file().exists(), "reached over SSH");
}
