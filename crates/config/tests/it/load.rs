//! Loading good configs: defaults, expansion, accessors, path resolution, file-level errors.

use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_config::{
    Config, ConfigError, ConfigSource, HostKeyCheck, HostKeyPolicy, KeyPath,
    resolve_config_path_with,
};
use insta::assert_snapshot;

use crate::{accepted, test_env};

fn temp_dir() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let path = Utf8PathBuf::from_path_buf(dir.path().to_path_buf())
        .unwrap_or_else(|p| panic!("non-UTF-8 temp dir {}", p.display()));
    (dir, path)
}

const MINIMAL: &str = r"
local:
  - ssh:
      host: host.docker.internal
      key_file: /root/.ssh/local_host_key
      known_hosts_file: /app/local_known_hosts
    comfyui:
      path: /home/comfy/ComfyUI
";

#[test]
fn minimal_config_gets_defaults() {
    let config = accepted(MINIMAL);
    assert!(config.enabled);
    let instance = config
        .default_instance()
        .unwrap_or_else(|| panic!("no instance"));
    assert_eq!(instance.id.as_str(), "local");
    assert_eq!(instance.name, "Local ComfyUI");
    assert_eq!(instance.ssh.port.get(), 22022);
    assert_eq!(instance.ssh.user.as_str(), "comfyui");
    assert_eq!(instance.ssh.host_key_policy, HostKeyPolicy::Strict);
    assert_eq!(instance.ssh.connect_timeout(), Duration::from_secs(10));
    assert_eq!(instance.ssh.command_timeout(), Duration::from_secs(600));
    assert_eq!(instance.ssh.keepalive(), Some(Duration::from_secs(30)));
    assert_eq!(
        instance.comfyui.api_url.as_str(),
        "http://host.docker.internal:8188"
    );
    assert_eq!(instance.comfyui.api_url.host(), "host.docker.internal");
    assert_eq!(instance.comfyui.api_url.port(), 8188);
    assert!(instance.features.workflow_execution);
    assert!(instance.features.resource_installation);
    assert!(instance.features.custom_nodes);
    assert_eq!(instance.limits.max_upload_mb.get(), 20480);
    assert_eq!(instance.limits.max_upload_bytes(), 20480 * 1024 * 1024);
    assert_eq!(instance.limits.max_output_bytes(), 20480 * 1024 * 1024);
    assert!(!config.vastai.enabled);
    assert_eq!(config.vastai.api_key_env, "VAST_API_KEY");
    assert_eq!(config.vastai.api_url.as_str(), "https://console.vast.ai");
    assert_eq!(
        instance.ssh.host_key_check(),
        Some(HostKeyCheck::KnownHosts {
            file: Utf8Path::new("/app/local_known_hosts"),
            policy: HostKeyPolicy::Strict
        })
    );
}

#[test]
fn resolved_minimal_config_yaml() {
    assert_snapshot!(accepted(MINIMAL).to_redacted_yaml());
}

#[test]
fn disabled_without_instances_is_fine() {
    let config = accepted("enabled: false\n");
    assert!(config.local.is_empty());
    assert!(config.default_instance().is_none());
}

#[test]
fn windows_install_paths_are_absolute() {
    let config = accepted(
        r"
local:
  - id: win
    ssh: { host: 127.0.0.1, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: 'C:\ComfyUI' }
",
    );
    let comfy = &config.local[0].comfyui;
    assert!(comfy.path.is_windows());
    assert_eq!(comfy.path.as_str(), r"C:\ComfyUI");
}

#[test]
fn expansion_and_escape() {
    let config = accepted(
        r"
local:
  - name: price is $5 and $${NOT_EXPANDED}
    ssh:
      host: host.docker.internal
      key_file: ${COMFY_HOME}/.ssh/id_ed25519
      known_hosts_file: ${MISSING_DIR:-/app}/known_hosts
    comfyui:
      path: ${COMFY_HOME}/ComfyUI
",
    );
    let instance = &config.local[0];
    assert_eq!(instance.name, "price is $5 and ${NOT_EXPANDED}");
    assert_eq!(instance.ssh.key_file, "/home/comfy/.ssh/id_ed25519");
    assert_eq!(
        instance.ssh.known_hosts_file.as_deref(),
        Some(Utf8Path::new("/app/known_hosts"))
    );
    assert_eq!(instance.comfyui.path.as_str(), "/home/comfy/ComfyUI");
}

#[test]
fn empty_variable_takes_the_colon_dash_default_only() {
    let config = accepted(
        r"
local:
  - name: box
    ssh:
      host: host.docker.internal
      key_file: ${EMPTY_DIR:-/keys}/id_ed25519
      known_hosts_file: /known${EMPTY_DIR-/unused}/hosts
    comfyui:
      path: ${MISSING_DIR-/srv}/ComfyUI
",
    );
    let instance = &config.local[0];
    assert_eq!(instance.ssh.key_file, "/keys/id_ed25519");
    assert_eq!(
        instance.ssh.known_hosts_file.as_deref(),
        Some(Utf8Path::new("/known/hosts"))
    );
    assert_eq!(instance.comfyui.path.as_str(), "/srv/ComfyUI");
}

#[test]
fn api_key_from_variable_reference_is_not_inline() {
    let config = accepted(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
vastai:
  enabled: true
  api_key: ${VAST_KEY_FROM_ENV}
",
    );
    let key = config
        .vastai
        .api_key_with(&test_env)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(key.expose(), "vast-secret-123");
    assert_eq!(format!("{key:?} {key}"), "<redacted> <redacted>");
    let yaml = config.to_redacted_yaml();
    assert!(!yaml.contains("vast-secret-123"), "{yaml}");
    assert!(yaml.contains("api_key: <redacted>"), "{yaml}");
}

#[test]
fn api_key_from_env_var() {
    let config = accepted(
        r"
enabled: false
vastai: { enabled: true, api_key_env: VAST_KEY_FROM_ENV }
",
    );
    let key = config
        .vastai
        .api_key_with(&test_env)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(key.expose(), "vast-secret-123");
    let missing = config.vastai.api_key_with(&|_| None);
    assert_snapshot!(missing.map(|_| ()).unwrap_err().to_string(), @"the VastAI API key variable `VAST_KEY_FROM_ENV` (vastai.api_key_env) is not set");
}

#[test]
fn inline_api_key_with_opt_in() {
    let config = accepted(
        r"
enabled: false
vastai: { api_key: abc123, allow_inline_api_key: true }
",
    );
    assert_eq!(
        config
            .vastai
            .api_key
            .as_ref()
            .map(comfy_local_config::Secret::expose),
        Some("abc123")
    );
    let warnings: Vec<String> = config
        .check_with(&test_env)
        .iter()
        .map(|w| crate::chain(w))
        .collect();
    assert_eq!(
        warnings,
        ["vastai.api_key: the VastAI API key is written in the config file; prefer `api_key_env`"]
    );
}

#[test]
fn url_password_redacted() {
    let config = accepted(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c, api_url: 'http://admin:hunter2@127.0.0.1:8188/comfy/' }
",
    );
    assert_eq!(
        config.local[0].comfyui.api_url.as_str(),
        "http://admin:hunter2@127.0.0.1:8188/comfy"
    );
    let yaml = config.to_redacted_yaml();
    assert!(!yaml.contains("hunter2"), "{yaml}");
    assert!(
        yaml.contains("http://admin:<redacted>@127.0.0.1:8188/comfy"),
        "{yaml}"
    );
}

#[test]
fn fingerprint_is_decoded() {
    let config = accepted(
        r"
local:
  - ssh:
      host: h
      key_file: /k
      host_key_fingerprint: SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU
    comfyui: { path: /c }
",
    );
    let Some(HostKeyCheck::Fingerprint(fp)) = config.local[0].ssh.host_key_check() else {
        panic!("expected a fingerprint check");
    };
    // SHA-256 of the empty string.
    assert_eq!(fp.sha256()[..4], [0xe3, 0xb0, 0xc4, 0x42]);
}

#[test]
fn instance_lookup_and_merge_keys() {
    let config = accepted(
        r"
local:
  - &base
    id: first
    ssh: { host: 127.0.0.1, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
  - <<: *base
    id: second
    name: Second box
",
    );
    assert_eq!(
        config.instance("second").map(|i| i.name.as_str()),
        Some("Second box")
    );
    assert_eq!(
        config.instance("first").map(|i| i.ssh.host.as_str()),
        Some("127.0.0.1")
    );
    assert!(config.instance("third").is_none());
    assert_eq!(
        config.default_instance().map(|i| i.id.as_str()),
        Some("first")
    );
}

#[test]
fn problems_are_structured() {
    let error = Config::from_str_with_env(
        "local:\n  - ssh: { host: h, port: 0, key_file: /k, known_hosts_file: /kh }\n    comfyui: { path: /c }\n",
        "x.yml",
        &test_env,
    )
    .map(|_| ())
    .unwrap_err();
    let ConfigError::Invalid { problems, .. } = error else {
        panic!("expected Invalid, got {error:?}");
    };
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, KeyPath::parse("local[0].ssh.port"));
    assert_eq!(problems[0].path.to_string(), "local[0].ssh.port");
    let location = problems[0]
        .location
        .unwrap_or_else(|| panic!("no location"));
    assert_eq!((location.line, location.column), (2, 27));
}

#[test]
fn path_resolution_order() {
    let nothing = |_: &Utf8Path| false;
    let everything = |_: &Utf8Path| true;
    let only_app = |p: &Utf8Path| p.as_str().starts_with("/app/");
    let flag = Utf8Path::new("/etc/flag.yml");
    let pick = |explicit, env, exists: &dyn Fn(&Utf8Path) -> bool| {
        resolve_config_path_with(explicit, env, exists).map(|(p, s)| (p.to_string(), s))
    };
    assert_eq!(
        pick(Some(flag), Some("/env.yml"), &everything).ok(),
        Some(("/etc/flag.yml".into(), ConfigSource::CommandLine))
    );
    assert_eq!(
        pick(None, Some("/env.yml"), &everything).ok(),
        Some(("/env.yml".into(), ConfigSource::Environment))
    );
    assert_eq!(
        pick(None, Some(""), &everything).ok(),
        Some((
            "local-support-config.yml".into(),
            ConfigSource::WorkingDirectory
        ))
    );
    assert_eq!(
        pick(None, None, &only_app).ok(),
        Some((
            "/app/local-support-config.yml".into(),
            ConfigSource::AppDirectory
        ))
    );
    let error = pick(None, None, &nothing).unwrap_err();
    assert_snapshot!(error.to_string(), @"no config file found: no --config given, $COMFY_LOCAL_CONFIG is not set, and none of local-support-config.yml, /app/local-support-config.yml exists");
}

#[test]
fn missing_file() {
    let (_guard, dir) = temp_dir();
    let error = Config::load_file(&dir.join("nope.yml"), ConfigSource::Environment)
        .map(|_| ())
        .unwrap_err();
    assert_snapshot!(error.to_string().replace(dir.as_str(), "[TMP]"));
}

#[test]
fn unreadable_file() {
    let (_guard, dir) = temp_dir();
    let error = Config::load_file(&dir, ConfigSource::CommandLine)
        .map(|_| ())
        .unwrap_err();
    let source = std::error::Error::source(&error).map(ToString::to_string);
    assert_snapshot!(error.to_string().replace(dir.as_str(), "[TMP]"));
    assert!(source.is_some(), "the I/O error is kept as the source");
}

#[test]
fn load_file_resolves_relative_paths_and_warns() {
    let (_guard, dir) = temp_dir();
    let config_path = dir.join("conf.yml");
    std::fs::write(
        &config_path,
        "local:\n  - ssh: { host: h, key_file: keys/id, known_hosts_file: kh }\n    comfyui: { path: /c }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let loaded = Config::load_file(&config_path, ConfigSource::CommandLine)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.path, config_path);
    assert_eq!(loaded.source, ConfigSource::CommandLine);
    let ssh = &loaded.config.local[0].ssh;
    assert_eq!(ssh.key_file, dir.join("keys/id"));
    assert_eq!(
        ssh.known_hosts_file.as_deref(),
        Some(dir.join("kh").as_path())
    );
    let warnings: Vec<String> = loaded
        .warnings
        .iter()
        .map(|w| crate::chain(w).replace(dir.as_str(), "[TMP]"))
        .collect();
    assert_snapshot!(warnings.join("\n"));
}

/// `vastai.ssh.key_file` and `known_hosts_dir` are taken relative to the config file's folder
/// like `local:`'s paths; each instance gets its own `known_hosts` file there; the defaults
/// are those of VastAI's ComfyUI template.
#[test]
fn vastai_ssh_paths_resolve_relative_to_the_file() {
    let (_guard, dir) = temp_dir();
    let config_path = dir.join("conf.yml");
    std::fs::write(
        &config_path,
        "enabled: false\nvastai:\n  ssh: { key_file: keys/vast, known_hosts_dir: vast_hosts }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let loaded = Config::load_file(&config_path, ConfigSource::CommandLine)
        .unwrap_or_else(|e| panic!("{e}"));
    let vast = &loaded.config.vastai;
    assert_eq!(vast.ssh.key_file, Some(dir.join("keys/vast")));
    assert_eq!(
        vast.ssh.known_hosts_file("42"),
        Some(dir.join("vast_hosts/vastai-42"))
    );
    assert_eq!(vast.ssh.user.as_str(), "root");
    assert_eq!(vast.comfyui.path.as_str(), "/workspace/ComfyUI");
    assert_eq!(vast.comfyui.port.get(), 18188);
    assert!(!vast.send_download_tokens);
    let warnings: Vec<String> = loaded
        .warnings
        .iter()
        .map(|w| crate::chain(w).replace(dir.as_str(), "[TMP]"))
        .collect();
    assert_eq!(
        warnings,
        ["vastai.ssh.key_file: private key file [TMP]/keys/vast does not exist"]
    );
}
