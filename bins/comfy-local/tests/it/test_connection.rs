//! `comfy-local test-connection` exit codes and output forms (the stages themselves are tested
//! against a real sshd in crates/sdk).

use insta::assert_snapshot;

use crate::{config_for, repo_root, run, temp_dir};

#[test]
fn missing_key_exits_3_with_the_table_and_a_hint() {
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, "http://127.0.0.1:9");
    let result = run(
        &["--config", config.as_str(), "test-connection"],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 3, "{result:?}");
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r" +\d+\.\d ms", " [T] ms");
    settings.bind(|| assert_snapshot!(result.snapshot(&[(dir.as_str(), "[TMP]")])));
}

#[test]
fn json_is_one_document_even_on_failure() {
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, "http://127.0.0.1:9");
    let result = run(
        &["--json", "--config", config.as_str(), "test-connection"],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 3, "{result:?}");
    let v: serde_json::Value =
        serde_json::from_str(&result.stdout).unwrap_or_else(|e| panic!("{e}: {}", result.stdout));
    assert_eq!(v["ok"], false);
    assert_eq!(v["stages"][1]["stage"], "key-file");
    assert_eq!(v["stages"][1]["status"], "fail");
}

#[test]
fn invalid_config_exits_2() {
    let (_g, dir) = temp_dir();
    let bad = dir.join("bad.yml");
    std::fs::write(&bad, "local:\n  - ssh: { host: '', port: 70000 }\n").unwrap();
    let result = run(
        &["--config", bad.as_str(), "test-connection"],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 2, "{result:?}");
    assert!(
        result.stdout.contains("FAIL  config valid"),
        "{}",
        result.stdout
    );
}

#[test]
fn unknown_instance_exits_2() {
    let (_g, dir) = temp_dir();
    let example = repo_root().join("local-support-config.yml.example");
    let result = run(
        &[
            "--config",
            example.as_str(),
            "test-connection",
            "--instance",
            "nope",
        ],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 2, "{result:?}");
    assert!(
        result.stdout.contains("no local instance \"nope\""),
        "{}",
        result.stdout
    );
}
