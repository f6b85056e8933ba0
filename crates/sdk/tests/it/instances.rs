//! `list_instances` merges the local provider (from the config) and VastAI (fake server), and
//! says whether each local instance's ComfyUI answers right now and whether commands accept
//! each instance.

use comfy_local_config::Config;
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions};
use comfy_local_fake_vastai::FakeVastAi;
use comfy_local_providers::{InstanceStatus, ProviderKind};
use comfy_local_sdk::list_instances_with;

const KEY: &str = "test-key-0123456789";

fn config(vast_url: &str, enabled: bool) -> Config {
    config_with_comfy(
        vast_url,
        enabled,
        &format!("http://127.0.0.1:{}", closed_port()),
    )
}

/// A port on 127.0.0.1 with nothing listening.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn config_with_comfy(vast_url: &str, enabled: bool, comfy_url: &str) -> Config {
    let yaml = format!(
        "local:
  - id: local
    name: My workstation
    ssh: {{ host: 127.0.0.1, port: 22022, user: comfyui, key_file: /nonexistent/key, known_hosts_file: /nonexistent/kh }}
    comfyui: {{ path: /opt/ComfyUI, api_url: '{comfy_url}' }}
vastai:
  enabled: {enabled}
  api_key_env: TEST_VAST_KEY
  api_url: {vast_url}
  ssh: {{ key_file: /nonexistent/key, known_hosts_dir: /nonexistent/kh.d }}
"
    );
    Config::from_str_named(&yaml, "instances.yml").unwrap()
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    s
}

#[test]
fn merges_local_and_vastai() {
    let vast = FakeVastAi::start(KEY).unwrap();
    let cfg = config(&vast.base_url(), true);
    let list = list_instances_with(&cfg, &|name| {
        (name == "TEST_VAST_KEY").then(|| KEY.to_owned())
    });
    assert!(list.errors.is_empty(), "{:?}", list.errors);
    assert_eq!(list.instances[0].provider, ProviderKind::Local);
    assert_eq!(list.instances[0].cost_text(), "FREE  $0.00/hr");
    assert!(
        list.instances
            .iter()
            .any(|i| i.provider == ProviderKind::VastAi)
    );
    settings().bind(|| insta::assert_snapshot!(list.to_table()));
}

#[test]
fn vastai_failure_still_lists_local() {
    let vast = FakeVastAi::start(KEY).unwrap();
    let cfg = config(&vast.base_url(), true);
    let list = list_instances_with(&cfg, &|name| {
        (name == "TEST_VAST_KEY").then(|| "wrong-key-000000".to_owned())
    });
    assert_eq!(list.instances.len(), 1);
    assert_eq!(list.errors.len(), 1);
    assert!(
        !list.errors[0].message.contains("wrong-key"),
        "key leaked: {}",
        list.errors[0].message
    );
    settings().bind(|| insta::assert_snapshot!(list.to_table()));
}

#[test]
fn vastai_disabled_is_not_asked() {
    let vast = FakeVastAi::start(KEY).unwrap();
    let cfg = config(&vast.base_url(), false);
    let list = list_instances_with(&cfg, &|_| None);
    assert_eq!(list.instances.len(), 1);
    assert!(list.errors.is_empty());
    assert!(vast.requests().is_empty());
}

#[test]
fn local_instances_are_probed_online_or_offline_in_parallel_and_quickly() {
    let comfy = FakeComfy::start(FakeOptions::default());
    // One answers, one refuses, two accept TCP and never answer (their probes time out
    // together, not one after the other).
    let silent_a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let entry = |id: &str, url: String| {
        format!(
            "  - id: {id}
    ssh: {{ host: 127.0.0.1, port: {port}, user: comfyui, key_file: /nonexistent/key, known_hosts_file: /nonexistent/kh }}
    comfyui: {{ path: /opt/ComfyUI, api_url: '{url}' }}
",
            port = closed_port()
        )
    };
    let yaml = format!(
        "local:\n{}{}{}{}",
        entry("up", comfy.url()),
        entry("down", format!("http://127.0.0.1:{}", closed_port())),
        entry(
            "silent-a",
            format!("http://{}", silent_a.local_addr().unwrap())
        ),
        entry(
            "silent-b",
            format!("http://{}", silent_b.local_addr().unwrap())
        ),
    );
    let cfg = Config::from_str_named(&yaml, "probe.yml").unwrap();
    let started = std::time::Instant::now();
    let list = list_instances_with(&cfg, &|_| None);
    let took = started.elapsed();
    let statuses: Vec<(&str, InstanceStatus)> = list
        .instances
        .iter()
        .map(|i| (i.id.as_str(), i.status.clone()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("up", InstanceStatus::Online),
            ("down", InstanceStatus::Offline),
            ("silent-a", InstanceStatus::Offline),
            ("silent-b", InstanceStatus::Offline),
        ]
    );
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
    let json = serde_json::to_value(&list).unwrap();
    assert_eq!(json["instances"][0]["status"], "online");
    assert!(list.to_table().contains("offline"), "{}", list.to_table());
}

#[test]
fn a_disabled_config_is_not_probed() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let mut cfg = config_with_comfy("http://127.0.0.1:9", false, &comfy.url());
    cfg.enabled = false;
    let list = list_instances_with(&cfg, &|_| None);
    assert_eq!(list.instances[0].status, InstanceStatus::Disabled);
}
