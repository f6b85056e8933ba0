//! `comfy-local install model` and `install node` refusals that need no host: the feature
//! switches, disallowed git hosts and bad arguments exit 2 before anything connects.

use crate::{run, temp_dir};

fn config(dir: &camino::Utf8Path, features: &str) -> camino::Utf8PathBuf {
    let path = dir.join("config.yml");
    std::fs::write(
        &path,
        format!(
            "local:
  - id: local
    ssh: {{ host: 127.0.0.1, port: 9, key_file: {dir}/key, known_hosts_file: {dir}/kh }}
    comfyui: {{ path: /opt/ComfyUI }}
    features: {{ {features} }}
resources: {{ huggingface_token_env: HF_TOKEN }}
"
        ),
    )
    .unwrap();
    path
}

#[test]
fn resource_installation_off_refuses_with_exit_2_naming_the_key() {
    let (_g, dir) = temp_dir();
    let cfg = config(&dir, "resource_installation: false");
    let r = run(
        &[
            "--config",
            cfg.as_str(),
            "--json",
            "install",
            "model",
            "https://huggingface.co/x/y/resolve/main/m.safetensors",
            "--folder",
            "checkpoints",
        ],
        dir.as_std_path(),
        &[("HF_TOKEN", "hf_SECRET_value")],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("features.resource_installation: false"),
        "{r:?}"
    );
    let last: serde_json::Value =
        serde_json::from_str(r.stdout.lines().last().unwrap_or_default()).expect("a JSON line");
    assert_eq!(last["exit_code"], 2, "{r:?}");
    assert!(!format!("{r:?}").contains("hf_SECRET_value"));
}

#[test]
fn bad_arguments_exit_2_before_connecting() {
    let (_g, dir) = temp_dir();
    let cfg = config(&dir, "resource_installation: true");
    for (args, says) in [
        (
            vec!["ftp://h/x", "--folder", "checkpoints"],
            "not an http(s) URL",
        ),
        (
            vec!["https://h/x", "--folder", "checkpoints", "--sha256", "zz"],
            "not a sha256",
        ),
        (
            vec!["https://h/x", "--folder", "../etc"],
            "refusing to install",
        ),
    ] {
        let mut full = vec!["--config", cfg.as_str(), "install", "model"];
        full.extend(args.iter().copied());
        let r = run(&full, dir.as_std_path(), &[]);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        assert!(r.stderr.contains(says), "{args:?}: {r:?}");
    }
}

#[test]
fn help_shows_an_example() {
    let (_g, dir) = temp_dir();
    let r = run(&["install", "model", "--help"], dir.as_std_path(), &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout.contains("Example:\n  comfy-local install model"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("--sha256 <HEX>"), "{}", r.stdout);
}

#[test]
fn install_node_refusals_exit_2_before_connecting() {
    let (_g, dir) = temp_dir();
    for (features, url, says) in [
        (
            "custom_nodes: false",
            "https://github.com/a/node",
            "local[0].features.custom_nodes: false",
        ),
        (
            "custom_nodes: true",
            "https://evil.example/a/node",
            "git host \"evil.example\" is not allowed",
        ),
        (
            "custom_nodes: true",
            "https://github.com/a/.git",
            "refusing the node folder name",
        ),
        (
            "custom_nodes: true",
            "file:///tmp/node",
            "the scheme is file",
        ),
    ] {
        let cfg = config(&dir, features);
        let r = run(
            &["--config", cfg.as_str(), "--json", "install", "node", url],
            dir.as_std_path(),
            &[],
        );
        assert_eq!(r.code, 2, "{url}: {r:?}");
        assert!(r.stderr.contains(says), "{url}: {r:?}");
        let last: serde_json::Value =
            serde_json::from_str(r.stdout.lines().last().unwrap_or_default()).expect("a JSON line");
        assert_eq!(last["exit_code"], 2, "{r:?}");
    }
}

#[test]
fn install_node_help_shows_an_example() {
    let (_g, dir) = temp_dir();
    let r = run(&["install", "node", "--help"], dir.as_std_path(), &[]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("Example:\n  comfy-local install node https://"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("--ref <REF>"), "{}", r.stdout);
}
