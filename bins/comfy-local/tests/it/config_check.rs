//! `comfy-local config check`: the example, a temp copy with real key files, bad and missing
//! files, path resolution, JSON, redaction, `--deny-warnings`, `-v`.

use camino::{Utf8Path, Utf8PathBuf};
use insta::assert_snapshot;

use crate::{example_path, repo_root, run, temp_dir};

const PRIVATE: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";

/// The example, copied to `dir` with its key and `known_hosts` files pointing into `dir`; the key
/// is written with `key_mode` and the `known_hosts` file exists.
fn example_in(dir: &Utf8Path, key_mode: u32) -> Utf8PathBuf {
    let text = std::fs::read_to_string(example_path()).unwrap_or_else(|e| panic!("{e}"));
    let key = dir.join("local_host_key");
    let known_hosts = dir.join("local_known_hosts");
    let text = text
        .replace("/app/comfy-local/id_ed25519", key.as_str())
        .replace("/app/comfy-local/known_hosts", known_hosts.as_str());
    std::fs::write(&key, PRIVATE).unwrap_or_else(|e| panic!("{e}"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(key_mode))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    #[cfg(not(unix))]
    let _ = key_mode;
    std::fs::write(&known_hosts, "[127.0.0.1]:22022 ssh-ed25519 AAAA\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("local-support-config.yml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

#[test]
fn example_file_is_valid() {
    let (_g, dir) = temp_dir();
    let example = example_path();
    let result = run(
        &["config", "check", example.as_str()],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 0, "{result:?}");
    // The example's key and known_hosts files do not exist on a test machine: warnings only.
    assert!(
        result.stderr.lines().all(|l| l.starts_with("warning: ")),
        "{}",
        result.stderr
    );
    assert_snapshot!(result.stdout.replace(repo_root().as_str(), "[REPO]"));
}

#[test]
fn example_copy_with_good_key() {
    let (_g, dir) = temp_dir();
    let config = example_in(&dir, 0o600);
    let result = run(
        &["config", "check", config.as_str()],
        dir.as_std_path(),
        &[],
    );
    assert_snapshot!(result.snapshot(&[(dir.as_str(), "[TMP]")]));
}

#[cfg(unix)]
#[test]
fn world_readable_key_is_a_warning() {
    let (_g, dir) = temp_dir();
    let config = example_in(&dir, 0o644);
    let result = run(
        &["config", "check", config.as_str()],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 0, "{result:?}");
    assert_snapshot!(result.stderr.replace(dir.as_str(), "[TMP]"));
}

#[cfg(unix)]
#[test]
fn deny_warnings_fails_with_code_1() {
    let (_g, dir) = temp_dir();
    let config = example_in(&dir, 0o644);
    let result = run(
        &["config", "check", "--deny-warnings", config.as_str()],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 1, "{result:?}");
    assert_snapshot!(result.stderr.replace(dir.as_str(), "[TMP]"));
}

#[test]
fn json_output() {
    let (_g, dir) = temp_dir();
    let config = example_in(&dir, 0o600);
    let result = run(
        &["--json", "config", "check", config.as_str()],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 0, "{result:?}");
    let parsed: serde_json::Value =
        serde_json::from_str(&result.stdout).unwrap_or_else(|e| panic!("{e}: {}", result.stdout));
    assert_eq!(parsed["config"]["local"][0]["ssh"]["port"], 22022);
    assert_snapshot!(result.snapshot(&[(dir.as_str(), "[TMP]")]));
}

#[test]
fn bad_file() {
    let (_g, dir) = temp_dir();
    let path = dir.join("bad.yml");
    std::fs::write(
        &path,
        "local:\n  - ssh:\n      host: host.docker.internal\n      port: 70000\n      keyfile: /k\n    comfyui:\n      path: ComfyUI\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let result = run(&["config", "check", path.as_str()], dir.as_std_path(), &[]);
    assert_snapshot!(result.snapshot(&[(dir.as_str(), "[TMP]")]));
}

#[test]
fn bad_file_json() {
    let (_g, dir) = temp_dir();
    let path = dir.join("bad.yml");
    std::fs::write(&path, "local:\n  - ssh: { host: -x, key_file: /k, known_hosts_file: /kh }\n    comfyui: { path: /c }\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let result = run(
        &["config", "check", "--json", path.as_str()],
        dir.as_std_path(),
        &[],
    );
    assert_snapshot!(result.snapshot(&[(dir.as_str(), "[TMP]")]));
}

#[test]
fn missing_file() {
    let (_g, dir) = temp_dir();
    let missing = dir.join("absent.yml");
    let result = run(
        &["config", "check", missing.as_str()],
        dir.as_std_path(),
        &[],
    );
    assert_snapshot!(result.snapshot(&[(dir.as_str(), "[TMP]")]));
}

#[test]
fn missing_file_from_environment() {
    let (_g, dir) = temp_dir();
    let missing = dir.join("absent.yml");
    let result = run(
        &["config", "check"],
        dir.as_std_path(),
        &[("COMFY_LOCAL_CONFIG", missing.as_str())],
    );
    assert_snapshot!(result.snapshot(&[(dir.as_str(), "[TMP]")]));
}

#[test]
fn no_config_anywhere() {
    if Utf8Path::new("/app/local-support-config.yml").exists() {
        // This machine has the app's config; the fallback would find it.
        return;
    }
    let (_g, dir) = temp_dir();
    let result = run(&["config", "check"], dir.as_std_path(), &[]);
    assert_snapshot!(result.snapshot(&[(dir.as_str(), "[TMP]")]));
}

#[test]
fn path_sources_in_order() {
    let (_g, dir) = temp_dir();
    let in_cwd = example_in(&dir, 0o600);
    let other_dir = dir.join("other");
    std::fs::create_dir(&other_dir).unwrap_or_else(|e| panic!("{e}"));
    let other = example_in(&other_dir, 0o600);
    let header = |args: &[&str], env: &[(&str, &str)]| {
        let result = run(args, dir.as_std_path(), env);
        assert_eq!(result.code, 0, "{result:?}");
        result
            .stdout
            .lines()
            .next()
            .unwrap_or_default()
            .replace(dir.as_str(), "[TMP]")
    };
    let env = [("COMFY_LOCAL_CONFIG", other.as_str())];
    assert_eq!(
        header(&["config", "check"], &[]),
        "# config: local-support-config.yml (from the working directory)"
    );
    assert_eq!(
        header(&["config", "check"], &env),
        "# config: [TMP]/other/local-support-config.yml (from $COMFY_LOCAL_CONFIG)"
    );
    assert_eq!(
        header(&["--config", in_cwd.as_str(), "config", "check"], &env),
        "# config: [TMP]/local-support-config.yml (from the command line)"
    );
    assert_eq!(
        header(
            &["--config", "ignored.yml", "config", "check", other.as_str()],
            &env
        ),
        "# config: [TMP]/other/local-support-config.yml (from the command line)"
    );
}

#[test]
fn secrets_are_redacted() {
    let (_g, dir) = temp_dir();
    let path = dir.join("secret.yml");
    std::fs::write(
        &path,
        "enabled: false\nvastai:\n  enabled: true\n  api_key: sk-very-secret\n  allow_inline_api_key: true\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for json in [false, true] {
        let mut args = vec!["config", "check", path.as_str()];
        if json {
            args.push("--json");
        }
        let result = run(&args, dir.as_std_path(), &[]);
        assert_eq!(result.code, 0, "{result:?}");
        assert!(
            !result.stdout.contains("sk-very-secret"),
            "{}",
            result.stdout
        );
        assert!(
            !result.stderr.contains("sk-very-secret"),
            "{}",
            result.stderr
        );
        assert!(result.stdout.contains("<redacted>"), "{}", result.stdout);
    }
}

#[test]
fn verbose_logs_to_stderr() {
    let (_g, dir) = temp_dir();
    let config = example_in(&dir, 0o600);
    let quiet = run(
        &["config", "check", config.as_str()],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(quiet.stderr, "", "{quiet:?}");
    let loud = run(
        &["-vv", "config", "check", config.as_str()],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(loud.code, 0, "{loud:?}");
    assert_eq!(loud.stdout, quiet.stdout);
    assert!(
        loud.stderr.contains("DEBUG") && loud.stderr.contains("config loaded"),
        "{}",
        loud.stderr
    );
}

/// `error: {:#}` prints each cause of a chain once: the command's context, the config error
/// (which names the file) and the operating system's error.
#[test]
fn unreadable_config_prints_each_cause_once() {
    let (_g, dir) = temp_dir();
    let config = dir.join("local-support-config.yml");
    std::fs::create_dir(&config).unwrap_or_else(|e| panic!("{e}"));
    let os_error = std::fs::read_to_string(&config)
        .map(drop)
        .expect_err("reading a directory fails")
        .to_string();
    let result = run(
        &["config", "check", config.as_str()],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 2, "{}", result.stderr);
    let line = result
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in {}", result.stderr));
    let causes: Vec<&str> = line["error: ".len()..].split(": ").collect();
    assert_eq!(
        causes,
        [
            "cannot load the configuration",
            &format!("cannot read config file {config} (from the command line)"),
            &os_error,
        ],
        "{line}"
    );
    assert_eq!(
        result.stderr.matches(&os_error).count(),
        1,
        "{}",
        result.stderr
    );
}
