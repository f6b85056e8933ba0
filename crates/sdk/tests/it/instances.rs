//! `list_instances` merges the local provider (from the config) and VastAI (fake server).

use comfy_local_config::Config;
use comfy_local_fake_vastai::FakeVastAi;
use comfy_local_providers::ProviderKind;
use comfy_local_sdk::list_instances_with;

const KEY: &str = "test-key-0123456789";

fn config(vast_url: &str, enabled: bool) -> Config {
    let yaml = format!(
        "local:
  - id: local
    name: My workstation
    ssh: {{ host: 127.0.0.1, port: 22022, user: comfyui, key_file: /nonexistent/key, known_hosts_file: /nonexistent/kh }}
    comfyui: {{ path: /opt/ComfyUI, api_url: 'http://127.0.0.1:8188' }}
vastai:
  enabled: {enabled}
  api_key_env: TEST_VAST_KEY
  api_url: {vast_url}
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
