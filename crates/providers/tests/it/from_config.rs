//! Building both providers from the parsed YAML config.

use comfy_local_config::Config;
use comfy_local_fake_vastai::FakeVastAi;
use comfy_local_providers::{
    ApiKey, InstanceProvider, InstanceStatus, LocalProvider, ProviderError, ProviderKind,
    VastAiOptions, VastAiProvider,
};

use crate::support::{KEY, chain, snapshot};

fn parse(yaml: &str, env: &[(&str, &str)]) -> Config {
    let lookup = |name: &str| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    };
    Config::from_str_with_env(yaml, "test.yml", &lookup).expect("valid config")
}

#[test]
fn the_example_config_gives_one_free_local_instance() {
    let example = include_str!("../../../../local-support-config.yml.example");
    let config = parse(example, &[]);

    let provider = LocalProvider::from_config(&config).expect("provider");
    let instances = provider.list().expect("list");

    assert_eq!(instances.len(), 1);
    let local = &instances[0];
    assert_eq!(local.id, "local");
    assert_eq!(local.display_name, "Local ComfyUI");
    assert_eq!(local.provider, ProviderKind::Local);
    assert_eq!(local.status, InstanceStatus::Configured);
    assert_eq!(local.cost_text(), "FREE  $0.00/hr");
    assert_eq!(
        local.ssh.as_ref().map(ToString::to_string).as_deref(),
        Some("comfyui@host.docker.internal:22022")
    );
    assert_eq!(
        local.comfyui_url.as_deref(),
        Some("http://host.docker.internal:8188")
    );
}

const TWO_HOSTS: &str = "
local:
  - id: local
    ssh: { host: host.docker.internal, key_file: /root/.ssh/k, known_hosts_file: /app/kh }
    comfyui: { path: /home/u/ComfyUI }
  - id: studio
    name: Studio PC
    ssh: { host: 192.168.1.20, port: 2222, user: render, key_file: /root/.ssh/k, known_hosts_file: /app/kh }
    comfyui: { path: /srv/ComfyUI, api_url: 'http://192.168.1.20:8189' }
";

#[test]
fn several_local_hosts_keep_their_order_and_defaults() {
    let config = parse(TWO_HOSTS, &[]);

    let instances = LocalProvider::from_config(&config)
        .expect("provider")
        .list()
        .expect("list");

    insta::assert_json_snapshot!("two_local_hosts_from_config", instances);
}

fn vastai_yaml(fake: &FakeVastAi, extra: &str) -> String {
    format!(
        "enabled: false\nvastai:\n  enabled: true\n  api_key_env: TEST_VAST_KEY\n  api_url: {}\n{extra}",
        fake.base_url()
    )
}

#[test]
fn the_vastai_section_gives_url_and_key_variable() {
    let fake = FakeVastAi::start(KEY).expect("fake starts");
    let config = parse(&vastai_yaml(&fake, ""), &[]);
    let env = |name: &str| (name == "TEST_VAST_KEY").then(|| KEY.to_owned());

    let key = ApiKey::from_config(&config.vastai, env).expect("key from the named variable");
    let options = VastAiOptions::from_config(&config.vastai);
    assert_eq!(options.base_url, fake.base_url());
    let provider = VastAiProvider::new(key, options).expect("provider");

    assert_eq!(provider.list().expect("list").len(), 6);
}

#[test]
fn an_allowed_inline_key_is_used_without_the_environment() {
    let fake = FakeVastAi::start(KEY).expect("fake starts");
    let config = parse(
        &vastai_yaml(
            &fake,
            &format!("  allow_inline_api_key: true\n  api_key: {KEY}\n"),
        ),
        &[],
    );

    let provider = VastAiProvider::from_config(&config.vastai).expect("provider");

    assert_eq!(
        provider.get("21394001").expect("get").display_name,
        "comfy-4090"
    );
}

#[test]
fn no_key_for_the_vastai_section_names_its_variable() {
    let fake = FakeVastAi::start(KEY).expect("fake starts");
    let config = parse(&vastai_yaml(&fake, ""), &[]);

    let err = ApiKey::from_config(&config.vastai, |_| None).expect_err("no key");

    assert!(
        matches!(err, ProviderError::MissingApiKey { .. }),
        "{err:?}"
    );
    snapshot!("from_config_missing_key", chain(&err));
}
