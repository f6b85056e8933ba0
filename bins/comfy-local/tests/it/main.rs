//! Integration tests of the `comfy-local` binary: exit code, stdout and stderr pinned with
//! insta, temp paths and versions filtered.

mod batch;
mod config_check;
mod help;
mod inputs;
mod install;
mod jobs;
mod limits;
mod missing;
mod outputs;
mod progress;
mod run;
mod session;
mod switches;
mod terminal;
mod test_connection;
mod vastai;
mod verbs;
mod workflow;

use std::path::Path;
use std::process::Command;

use camino::{Utf8Path, Utf8PathBuf};

/// The repository root (two levels above this crate).
pub fn repo_root() -> Utf8PathBuf {
    Utf8Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The documented example config.
pub fn example_path() -> Utf8PathBuf {
    repo_root().join("local-support-config.yml.example")
}

/// A fresh temp dir with a UTF-8 path.
pub fn temp_dir() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let path = Utf8PathBuf::from_path_buf(dir.path().to_path_buf())
        .unwrap_or_else(|p| panic!("non-UTF-8 temp dir {}", p.display()));
    (dir, path)
}

/// Result of one run of the binary.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// The run as one text for a snapshot, with `replace` pairs applied.
    pub fn snapshot(&self, replace: &[(&str, &str)]) -> String {
        let mut text = format!(
            "exit_code: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.code, self.stdout, self.stderr
        );
        for (from, to) in replace {
            text = text.replace(from, to);
        }
        text.replace(env!("CARGO_PKG_VERSION"), "[VERSION]")
    }
}

/// Run `comfy-local` with `args` in `cwd`, without `$COMFY_LOCAL_CONFIG` or `$RUST_LOG` from
/// the test's environment, plus `env`.
pub fn run(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_comfy-local"))
        .args(args)
        .current_dir(cwd)
        .env_remove("COMFY_LOCAL_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("VAST_API_KEY")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run comfy-local: {e}"));
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `comfy-local --config CONFIG run WF --out OUT EXTRA...` in `cwd` (see [`run`]).
pub fn run_workflow(
    config: &Utf8Path,
    wf: &Utf8Path,
    out: &Utf8Path,
    extra: &[&str],
    cwd: &Utf8Path,
) -> Run {
    let mut args = run_args(config, wf, out).to_vec();
    args.extend_from_slice(extra);
    run(&args, cwd.as_std_path(), &[])
}

/// `--config CONFIG run WF --out OUT`.
pub fn run_args<'a>(config: &'a Utf8Path, wf: &'a Utf8Path, out: &'a Utf8Path) -> [&'a str; 6] {
    [
        "--config",
        config.as_str(),
        "run",
        wf.as_str(),
        "--out",
        out.as_str(),
    ]
}

/// `comfy-local --config CONFIG run WF --out OUT` started in the background, stderr piped (for
/// tests that watch its progress and send it signals), stdout discarded.
pub fn spawn_run(config: &Utf8Path, wf: &Utf8Path, out: &Utf8Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_comfy-local"))
        .args(run_args(config, wf, out))
        .env_remove("COMFY_LOCAL_CONFIG")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run comfy-local: {e}"))
}

/// A config whose only instance's ComfyUI is at `url` (the SSH part points at files that do not
/// exist: the workflow commands talk HTTP only).
pub fn config_for(dir: &Utf8Path, url: &str) -> Utf8PathBuf {
    let path = dir.join("config.yml");
    std::fs::write(
        &path,
        format!(
            "local:
  - id: local
    ssh: {{ host: 127.0.0.1, key_file: {dir}/key, known_hosts_file: {dir}/kh }}
    comfyui: {{ path: /opt/ComfyUI, api_url: '{url}' }}
"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    path
}
