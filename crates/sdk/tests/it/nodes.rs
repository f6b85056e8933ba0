//! `install node` and `nodes` against the real sshd and a bare git repository served by
//! `git daemon` on 127.0.0.1 (`git://`): a pinned commit installed, refusals before anything
//! runs, and failing steps (real pip with `PIP_NO_INDEX`, a failing `install.py`) that leave
//! nothing under `custom_nodes/`.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_config::{ApiUrl, Config, GitHost, InstallPath};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions};
use comfy_local_sdk::install::{InstallNodeRequest, NodeError, install_node, list_nodes};

use crate::common::{Setup, fake_install};

/// Runs git in `dir` and returns its trimmed stdout; panics when it fails.
fn git(dir: &Utf8Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(["-c", "init.defaultBranch=main", "-c", "safe.directory=*"])
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A `git daemon` serving the bare repositories under `base` on a free loopback port.
pub struct GitDaemon {
    child: Child,
    port: u16,
    base: Utf8PathBuf,
}

impl GitDaemon {
    pub fn start(base: &Utf8Path) -> Self {
        std::fs::create_dir_all(base).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // `git daemon` runs `git-daemon` as its child: the daemon gets a process group of its
        // own, ended whole on drop (and with this test process).
        let mut cmd = Command::new("git");
        cmd.args([
            "daemon",
            "--export-all",
            "--reuseaddr",
            "--listen=127.0.0.1",
            &format!("--port={port}"),
            &format!("--base-path={base}"),
            base.as_str(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let child = comfy_local_test_support::spawn_group_leader(cmd).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git daemon did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        GitDaemon {
            child,
            port,
            base: base.to_owned(),
        }
    }

    /// A repository `name` (bare, served as `git://127.0.0.1:PORT/name.git`) with one commit
    /// per entry of `commits` (file name, content); returns the commit ids.
    pub fn repo(&self, name: &str, commits: &[&[(&str, &str)]]) -> Vec<String> {
        let work = self.base.join(format!("{name}-work"));
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "--quiet"]);
        let mut ids = Vec::new();
        for files in commits {
            for (file, content) in *files {
                std::fs::write(work.join(file), content).unwrap();
            }
            git(&work, &["add", "-A"]);
            git(&work, &["commit", "--quiet", "-m", "c"]);
            ids.push(git(&work, &["rev-parse", "HEAD"]));
        }
        git(&work, &["tag", "first", &ids[0]]);
        let bare = self.base.join(format!("{name}.git"));
        git(
            &self.base,
            &["clone", "--quiet", "--bare", work.as_str(), bare.as_str()],
        );
        ids
    }

    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}.git", self.port)
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        comfy_local_test_support::kill_group(&mut self.child);
    }
}

/// A scratch install, a config for the test sshd that allows 127.0.0.1, and a fake Python
/// that logs its arguments and hands everything but `-m pip` to the real `python3`.
pub struct NodeTest {
    pub install: Utf8PathBuf,
    pub config: Config,
    log: Utf8PathBuf,
}

impl NodeTest {
    pub fn new(test: &str) -> Self {
        let install = fake_install(test);
        let mut config = Setup::new(&install, "http://127.0.0.1:9").config();
        config.resources.allowed_git_hosts = vec![GitHost::try_from("127.0.0.1").unwrap()];
        let dir = install.parent().unwrap();
        let log = dir.join("python.log");
        let python = dir.join("python");
        std::fs::write(
            &python,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{log}'\nif [ \"$1\" = -m ]; then exit 0; fi\nexec python3 \"$@\"\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
        config.local[0].comfyui.python = Some(InstallPath::try_from(python.as_str()).unwrap());
        NodeTest {
            install,
            config,
            log,
        }
    }

    fn install(
        &self,
        url: &str,
        git_ref: Option<&str>,
        force: bool,
    ) -> Result<comfy_local_sdk::NodeOutcome, NodeError> {
        let req = InstallNodeRequest {
            url: url.to_owned(),
            git_ref: git_ref.map(str::to_owned),
            force,
            instance: None,
        };
        install_node(&self.config, &req, &mut |_| {})
    }

    /// Everything in `custom_nodes/`, hidden entries included.
    pub fn custom_nodes(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.install.join("custom_nodes"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn python_calls(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A config whose SSH port accepts no connection: a refusal proves it came before any.
    fn unreachable(&self) -> Config {
        let mut c = self.config.clone();
        c.local[0].ssh.port = comfy_local_config::Port::try_from(9).unwrap();
        c
    }
}

#[test]
fn a_node_installs_at_a_pinned_commit_and_nodes_lists_it() {
    let t = NodeTest::new("nodes-pinned");
    let daemon = GitDaemon::start(&t.install.parent().unwrap().join("git"));
    let ids = daemon.repo(
        "Node-One",
        &[
            &[
                ("__init__.py", "VERSION = 1\n"),
                ("requirements.txt", "six\n"),
                (
                    "install.py",
                    "import pathlib\npathlib.Path('install-ran').write_text('yes')\n",
                ),
            ],
            &[("__init__.py", "VERSION = 2\n")],
        ],
    );
    let out = t
        .install(&daemon.url("Node-One"), Some(&ids[0]), false)
        .unwrap();
    let dest = t.install.join("custom_nodes/Node-One");
    assert_eq!(out.name, "Node-One");
    assert_eq!(out.commit, ids[0]);
    assert!(out.requirements_installed && out.install_py_ran && out.restart_required);
    assert_eq!(
        std::fs::read_to_string(dest.join("__init__.py")).unwrap(),
        "VERSION = 1\n"
    );
    // install.py ran inside the node's folder, before the rename.
    assert_eq!(
        std::fs::read_to_string(dest.join("install-ran")).unwrap(),
        "yes"
    );
    assert_eq!(git(&dest, &["rev-parse", "HEAD"]), ids[0]);
    let calls = t.python_calls();
    assert!(
        calls.contains("-m pip install --dry-run -r requirements.txt\n")
            && calls.contains("-m pip install -r requirements.txt\n"),
        "{calls}"
    );
    assert_eq!(
        t.custom_nodes(),
        ["Node-One"],
        "no temporary folder is left"
    );

    let listed = list_nodes(&t.config, None).unwrap();
    let node = listed.nodes.iter().find(|n| n.name == "Node-One").unwrap();
    assert_eq!(node.commit.as_deref(), Some(ids[0].as_str()));

    // Already there: refused without --force; --force with no ref takes the remote's HEAD,
    // and a tag resolves too.
    let err = t.install(&daemon.url("Node-One"), None, false).unwrap_err();
    assert!(matches!(err, NodeError::Exists { .. }), "{err:#?}");
    let out = t.install(&daemon.url("Node-One"), None, true).unwrap();
    assert!(out.replaced);
    assert_eq!(out.commit, ids[1]);
    assert_eq!(
        std::fs::read_to_string(dest.join("__init__.py")).unwrap(),
        "VERSION = 2\n"
    );
    let out = t
        .install(&daemon.url("Node-One"), Some("first"), true)
        .unwrap();
    assert_eq!(out.commit, ids[0]);
    assert_eq!(t.custom_nodes(), ["Node-One"]);
    let err = t
        .install(&daemon.url("Node-One"), Some("no-such-branch"), true)
        .unwrap_err();
    assert!(matches!(err, NodeError::UnknownRef { .. }), "{err:#?}");
    assert_eq!(t.custom_nodes(), ["Node-One"]);
}

#[test]
fn a_disallowed_host_is_refused_before_anything_runs() {
    let t = NodeTest::new("nodes-host");
    let mut config = t.unreachable();
    config.resources.allowed_git_hosts = vec![GitHost::try_from("github.com").unwrap()];
    for url in [
        "git://127.0.0.1:9418/a/node.git",
        "https://github.com.127.0.0.1.nip.io/a/node",
        "file:///tmp/node",
        "https://localhost/a/node",
    ] {
        let req = InstallNodeRequest {
            url: url.to_owned(),
            ..InstallNodeRequest::default()
        };
        let err = install_node(&config, &req, &mut |_| {}).unwrap_err();
        assert!(
            matches!(
                err,
                NodeError::HostNotAllowed { .. } | NodeError::BadUrl { .. }
            ),
            "{url}: {err:#?}"
        );
    }
    assert!(t.custom_nodes().is_empty());
    assert_eq!(t.python_calls(), "");
}

#[test]
fn hostile_repository_names_are_refused() {
    let t = NodeTest::new("nodes-names");
    let config = t.unreachable();
    for url in [
        "git://127.0.0.1/.git",
        "git://127.0.0.1/a/../",
        "git://127.0.0.1/a/%2e%2e",
        "git://127.0.0.1/a/.comfy-local-tmp-x",
        "git://127.0.0.1/a/-x.git",
        "git://127.0.0.1/a/b%2Fc",
    ] {
        let req = InstallNodeRequest {
            url: url.to_owned(),
            ..InstallNodeRequest::default()
        };
        let err = install_node(&config, &req, &mut |_| {}).unwrap_err();
        assert!(matches!(err, NodeError::BadName { .. }), "{url}: {err:#?}");
    }
    let req = InstallNodeRequest {
        url: "git://127.0.0.1/a/b".to_owned(),
        git_ref: Some("--upload-pack=touch /tmp/x".to_owned()),
        ..InstallNodeRequest::default()
    };
    let err = install_node(&config, &req, &mut |_| {}).unwrap_err();
    assert!(matches!(err, NodeError::BadRef { .. }), "{err:#?}");
    assert!(t.custom_nodes().is_empty());
}

#[test]
fn custom_nodes_false_refuses_naming_the_key() {
    let t = NodeTest::new("nodes-off");
    let mut config = t.unreachable();
    config.local[0].features.custom_nodes = false;
    let req = InstallNodeRequest {
        url: "git://127.0.0.1/a/b".to_owned(),
        ..InstallNodeRequest::default()
    };
    let err = install_node(&config, &req, &mut |_| {}).unwrap_err();
    assert!(
        err.to_string()
            .contains("local[0].features.custom_nodes: false"),
        "{err}"
    );
    // The master switch too.
    config.local[0].features.custom_nodes = true;
    config.enabled = false;
    let err = install_node(&config, &req, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("(enabled: false)"), "{err}");
    assert!(t.custom_nodes().is_empty());
}

/// The real `python -m pip` (in a fresh venv, so no system Python is touched) with
/// `PIP_NO_INDEX=1`: a requirement that does not exist fails the dry run, and nothing is left.
#[test]
fn failing_requirements_leave_no_folder_behind() {
    let mut t = NodeTest::new("nodes-pip");
    let dir = t.install.parent().unwrap().to_owned();
    let venv = dir.join("venv");
    let made = Command::new("python3")
        .args(["-m", "venv", venv.as_str()])
        .status()
        .unwrap();
    assert!(made.success(), "python3 -m venv failed");
    let python = dir.join("python-no-index");
    std::fs::write(
        &python,
        format!("#!/bin/sh\nPIP_NO_INDEX=1 exec '{venv}/bin/python' \"$@\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    t.config.local[0].comfyui.python = Some(InstallPath::try_from(python.as_str()).unwrap());
    let daemon = GitDaemon::start(&dir.join("git"));
    daemon.repo(
        "bad-reqs",
        &[&[
            ("__init__.py", ""),
            (
                "requirements.txt",
                "comfy-local-no-such-package-4711==1.0\n",
            ),
        ]],
    );
    let err = t.install(&daemon.url("bad-reqs"), None, false).unwrap_err();
    let NodeError::Step { step, output, .. } = &err else {
        panic!("{err:#?}");
    };
    assert_eq!(*step, "pip install --dry-run");
    assert!(
        output.contains("comfy-local-no-such-package-4711"),
        "pip's error is shown: {output}"
    );
    assert!(t.custom_nodes().is_empty(), "{:?}", t.custom_nodes());
}

#[test]
fn a_failing_install_py_leaves_no_folder_behind() {
    let t = NodeTest::new("nodes-install-py");
    let daemon = GitDaemon::start(&t.install.parent().unwrap().join("git"));
    daemon.repo(
        "bad-install",
        &[&[
            ("__init__.py", ""),
            (
                "install.py",
                "import sys\nprint('cannot build the thing', file=sys.stderr)\nsys.exit(3)\n",
            ),
        ]],
    );
    let err = t
        .install(&daemon.url("bad-install"), None, false)
        .unwrap_err();
    let NodeError::Step {
        step,
        output,
        status,
    } = &err
    else {
        panic!("{err:#?}");
    };
    assert_eq!((*step, status.as_str()), ("install.py", "exit status 3"));
    assert!(output.contains("cannot build the thing"), "{output}");
    assert!(t.custom_nodes().is_empty(), "{:?}", t.custom_nodes());
}

/// Without `comfyui.python`, the Python found on the host (here `venv/bin/python` in the
/// install) must report the version the running server's `/system_stats` does (the fake
/// ComfyUI's recording says 3.11.7).
#[test]
fn a_detected_python_must_match_the_servers_version() {
    let t = NodeTest::new("nodes-detect");
    let comfy = FakeComfy::start(FakeOptions::default());
    let mut config = t.config.clone();
    config.local[0].comfyui.python = None;
    config.local[0].comfyui.api_url = ApiUrl::try_from(comfy.url().as_str()).unwrap();
    let venv_python = t.install.join("venv/bin/python");
    std::fs::create_dir_all(venv_python.parent().unwrap()).unwrap();
    let daemon = GitDaemon::start(&t.install.parent().unwrap().join("git"));
    daemon.repo("plain", &[&[("__init__.py", "")]]);
    let req = InstallNodeRequest {
        url: daemon.url("plain"),
        ..InstallNodeRequest::default()
    };
    for (version, ok) in [("3.9.1", false), ("3.11.7", true)] {
        std::fs::write(
            &venv_python,
            format!(
                "#!/bin/sh\nif [ \"$1\" = -c ] && [ \"$2\" = 'import sys; print(sys.version)' ]; then echo '{version} (main) [fake]'; exit 0; fi\nexec python3 \"$@\"\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&venv_python, std::fs::Permissions::from_mode(0o755)).unwrap();
        let result = install_node(&config, &req, &mut |_| {});
        if ok {
            let out = result.unwrap();
            assert_eq!(out.python, venv_python.as_str());
            assert_eq!(t.custom_nodes(), ["plain"]);
        } else {
            let err = result.unwrap_err();
            assert!(
                matches!(&err, NodeError::PythonMismatch { found, server, .. } if found == "3.9.1" && server == "3.11.7"),
                "{err:#?}"
            );
            assert!(t.custom_nodes().is_empty());
        }
    }
}
