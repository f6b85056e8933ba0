//! Every kind of bad config, with the message pinned. Each input is complete and inline.

use insta::assert_snapshot;

use crate::rejected;

#[test]
fn malformed_yaml() {
    assert_snapshot!(rejected(
        r"
enabled: true
local:
  - id: local
    ssh: { host: h, key_file: /k
    comfyui:
      path: /c
"
    ));
}

#[test]
fn tab_indentation() {
    assert_snapshot!(rejected("local:\n\t- id: local\n"));
}

#[test]
fn empty_file() {
    assert_snapshot!(rejected("# only a comment\n"));
}

#[test]
fn top_level_is_a_list() {
    assert_snapshot!(rejected("- enabled\n- local\n"));
}

#[test]
fn wrong_type_port_string() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh:
      host: host.docker.internal
      port: twenty-two
      key_file: /root/.ssh/k
      known_hosts_file: /app/kh
    comfyui:
      path: /home/comfy/ComfyUI
"
    ));
}

#[test]
fn wrong_type_enabled() {
    assert_snapshot!(rejected(
        r"
enabled: sometimes
local: []
"
    ));
}

#[test]
fn wrong_type_features_list() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
    features: [workflow_execution]
"
    ));
}

#[test]
fn missing_required_key() {
    assert_snapshot!(rejected(
        r"
local:
  - id: local
    ssh:
      port: 22022
      key_file: /root/.ssh/k
      known_hosts_file: /app/kh
    comfyui:
      path: /home/comfy/ComfyUI
"
    ));
}

#[test]
fn unknown_key_typo() {
    assert_snapshot!(rejected(
        r"
local:
  - id: local
    ssh:
      host: host.docker.internal
      prot: 22022
      key_file: /root/.ssh/k
      known_hosts_file: /app/kh
    comfyui:
      path: /home/comfy/ComfyUI
"
    ));
}

#[test]
fn unknown_key_in_wrong_section() {
    assert_snapshot!(rejected(
        r"
local:
  - id: local
    port: 22022
    ssh:
      host: host.docker.internal
      key_file: /root/.ssh/k
      known_hosts_file: /app/kh
    comfyui:
      path: /home/comfy/ComfyUI
"
    ));
}

#[test]
fn unknown_key_no_close_match() {
    assert_snapshot!(rejected(
        r"
enabled: true
colour: blue
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
"
    ));
}

#[test]
fn several_unknown_keys_reported_together() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh:
      hots: h
      key-file: /k
      known_hosts_file: /kh
    comfyui:
      path: /c
      apiurl: http://127.0.0.1:8188
vastai:
  apikey_env: VAST
"
    ));
}

#[test]
fn port_zero() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh:
      host: host.docker.internal
      port: 0
      key_file: /root/.ssh/k
      known_hosts_file: /app/kh
    comfyui:
      path: /home/comfy/ComfyUI
"
    ));
}

#[test]
fn port_too_large() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh:
      host: host.docker.internal
      port: 70000
      key_file: /root/.ssh/k
      known_hosts_file: /app/kh
    comfyui:
      path: /home/comfy/ComfyUI
"
    ));
}

#[test]
fn port_negative() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, port: -22, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
"
    ));
}

#[test]
fn empty_host() {
    assert_snapshot!(rejected(
        r#"
local:
  - ssh:
      host: ""
      key_file: /root/.ssh/k
      known_hosts_file: /app/kh
    comfyui:
      path: /home/comfy/ComfyUI
"#
    ));
}

#[test]
fn host_starting_with_dash() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh:
      host: -oProxyCommand=touch /tmp/pwned
      key_file: /root/.ssh/k
      known_hosts_file: /app/kh
    comfyui:
      path: /home/comfy/ComfyUI
"
    ));
}

#[test]
fn user_starting_with_dash() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh:
      host: host.docker.internal
      user: -lroot
      key_file: /root/.ssh/k
      known_hosts_file: /app/kh
    comfyui:
      path: /home/comfy/ComfyUI
"
    ));
}

#[test]
fn user_with_space() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, user: comfy ui, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
"
    ));
}

#[test]
fn relative_install_path() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh:
      host: host.docker.internal
      key_file: /root/.ssh/k
      known_hosts_file: /app/kh
    comfyui:
      path: ComfyUI
"
    ));
}

#[test]
fn tilde_install_path() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: ~/ComfyUI }
"
    ));
}

#[test]
fn install_path_with_parent_component() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /home/comfy/../root/ComfyUI }
"
    ));
}

/// `comfyui.python` must be absolute: it is run on the host, not looked up on a PATH.
#[test]
fn relative_python_path() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c, python: venv/bin/python }
"
    ));
}

/// An `allowed_git_hosts` entry with a scheme (or a port, a path, upper case) is refused.
#[test]
fn bad_git_host() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
resources:
  allowed_git_hosts: [github.com, https://gitlab.com]
"
    ));
}

#[test]
fn root_user_refused() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, user: root, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
"
    ));
}

#[test]
fn fingerprint_without_prefix() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh:
      host: host.docker.internal
      key_file: /root/.ssh/k
      host_key_fingerprint: nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8
    comfyui:
      path: /home/comfy/ComfyUI
"
    ));
}

#[test]
fn fingerprint_md5() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh:
      host: h
      key_file: /k
      host_key_fingerprint: MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48
    comfyui: { path: /c }
"
    ));
}

#[test]
fn fingerprint_too_short() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, host_key_fingerprint: 'SHA256:nThbg6kXUpJWGl7E1IGOCspRomTx' }
    comfyui: { path: /c }
"
    ));
}

#[test]
fn fingerprint_not_base64() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, host_key_fingerprint: 'SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5S!!' }
    comfyui: { path: /c }
"
    ));
}

#[test]
fn no_host_key_source() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh:
      host: host.docker.internal
      key_file: /root/.ssh/k
    comfyui:
      path: /home/comfy/ComfyUI
"
    ));
}

#[test]
fn both_host_key_sources() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh:
      host: host.docker.internal
      key_file: /root/.ssh/k
      known_hosts_file: /app/kh
      host_key_fingerprint: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8
    comfyui:
      path: /home/comfy/ComfyUI
"
    ));
}

#[test]
fn accept_new_with_fingerprint() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh:
      host: host.docker.internal
      key_file: /root/.ssh/k
      host_key_fingerprint: SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8
      host_key_policy: accept-new
    comfyui:
      path: /home/comfy/ComfyUI
"
    ));
}

#[test]
fn unknown_host_key_policy() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh, host_key_policy: yolo }
    comfyui: { path: /c }
"
    ));
}

#[test]
fn zero_connect_timeout() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh, connect_timeout_secs: 0 }
    comfyui: { path: /c }
"
    ));
}

#[test]
fn empty_key_file() {
    assert_snapshot!(rejected(
        r#"
local:
  - ssh: { host: h, key_file: "", known_hosts_file: /kh }
    comfyui: { path: /c }
"#
    ));
}

#[test]
fn duplicate_instance_ids() {
    assert_snapshot!(rejected(
        r"
local:
  - id: gpu-box
    ssh: { host: 127.0.0.1, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
  - id: gpu-box
    ssh: { host: 127.0.0.2, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
"
    ));
}

#[test]
fn duplicate_default_ids() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: 127.0.0.1, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
  - ssh: { host: 127.0.0.2, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
"
    ));
}

#[test]
fn bad_instance_id() {
    assert_snapshot!(rejected(
        r"
local:
  - id: my box
    ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
"
    ));
}

#[test]
fn no_local_instance() {
    assert_snapshot!(rejected(
        r"
enabled: true
local: []
"
    ));
}

#[test]
fn no_local_key_at_all() {
    assert_snapshot!(rejected("enabled: true\nvastai: { enabled: false }\n"));
}

#[test]
fn bad_api_url_scheme() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui:
      path: /home/comfy/ComfyUI
      api_url: ftp://host.docker.internal:8188
"
    ));
}

#[test]
fn bad_api_url_no_scheme() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui:
      path: /home/comfy/ComfyUI
      api_url: host.docker.internal:8188
"
    ));
}

#[test]
fn bad_api_url_port() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui:
      path: /home/comfy/ComfyUI
      api_url: http://host.docker.internal:99999
"
    ));
}

#[test]
fn bad_api_url_hides_its_password() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui:
      path: /home/comfy/ComfyUI
      api_url: http://alice:s3cret-pw@host.docker.internal:99999
"
    ));
}

#[test]
fn bad_api_url_with_query() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c, api_url: 'http://127.0.0.1:8188/?token=x' }
"
    ));
}

#[test]
fn bad_vastai_api_url() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
vastai:
  api_url: console.vast.ai
"
    ));
}

#[test]
fn unset_variable() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh:
      host: host.docker.internal
      key_file: ${KEY_DIR}/local_host_key
      known_hosts_file: /app/kh
    comfyui:
      path: /home/comfy/ComfyUI
"
    ));
}

#[test]
fn unterminated_variable() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: '${COMFY_HOME/k', known_hosts_file: /kh }
    comfyui: { path: /c }
"
    ));
}

#[test]
fn bad_variable_name() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: '${COMFY HOME}/ComfyUI' }
"
    ));
}

#[test]
fn inline_api_key_refused() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
vastai:
  enabled: true
  api_key: 0123456789abcdef
"
    ));
}

#[test]
fn inline_api_key_not_in_message() {
    let message = rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
vastai:
  api_key: 0123456789abcdef
",
    );
    assert!(!message.contains("0123456789abcdef"), "{message}");
}

#[test]
fn bad_api_key_env_name() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
vastai:
  api_key_env: VAST-API-KEY
"
    ));
}

/// `limits.max_concurrent_transfers` was a documented key nothing used (transfers are
/// sequential); it is gone until something does.
#[test]
fn max_concurrent_transfers_is_unknown() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
    limits: { max_concurrent_transfers: 2 }
"
    ));
}

#[test]
fn zero_max_upload_mb() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
    limits: { max_upload_mb: 0 }
"
    ));
}

#[test]
fn several_semantic_problems_reported_together() {
    assert_snapshot!(rejected(
        r"
local:
  - id: a
    ssh: { host: h, key_file: /k }
    comfyui: { path: /c }
  - id: a
    ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
vastai:
  api_key: abc
"
    ));
}

#[test]
fn duplicate_yaml_key() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh:
      host: a
      host: b
      key_file: /k
      known_hosts_file: /kh
    comfyui: { path: /c }
"
    ));
}

#[test]
fn two_documents() {
    assert_snapshot!(rejected("enabled: false\n---\nenabled: true\n"));
}

#[test]
fn required_key_without_value() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh:
      host:
      key_file: /k
      known_hosts_file: /kh
    comfyui: { path: /c }
"
    ));
}

#[test]
fn unknown_key_and_bad_value_reported_together() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh:
      host: host.docker.internal
      port: 0
      keyfile: /root/.ssh/k
      known_hosts_file: /app/kh
    comfyui:
      path: /home/comfy/ComfyUI
"
    ));
}

#[test]
fn bad_resources_token_env_names() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
resources:
  huggingface_token_env: HF-TOKEN
  civitai_token_env: 9CIVITAI
"
    ));
}

/// `vastai.ssh` needs the key and the `known_hosts` folder together; empty paths are refused;
/// each problem names its key and line.
#[test]
fn vastai_ssh_needs_key_and_known_hosts_dir_together() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
vastai:
  ssh:
    key_file: /keys/vast
"
    ));
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
vastai:
  ssh: { key_file: '', known_hosts_dir: /kh.d }
"
    ));
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
vastai:
  comfyui: { path: relative/ComfyUI }
"
    ));
}

/// A pool that could run no job (or try none) is refused, naming the key.
#[test]
fn zero_pool_max_in_flight() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
pool:
  queue_threshold: 0
  max_in_flight: 0
"
    ));
}

#[test]
fn unknown_pool_key() {
    assert_snapshot!(rejected(
        r"
local:
  - ssh: { host: h, key_file: /k, known_hosts_file: /kh }
    comfyui: { path: /c }
pool: { max_try: 2 }
"
    ));
}
