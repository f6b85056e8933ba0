//! `install node`: a custom node cloned on the host from an allowed git host at a pinned
//! commit, its `requirements.txt` installed with ComfyUI's Python and its `install.py` run, all
//! in a temporary folder under `custom_nodes/` that is renamed into place only when every step
//! succeeded (and removed when one failed).
//!
//! Every command is an argv sent through `comfy_local_ssh::Command` (each argument quoted for
//! the remote POSIX shell); the only shell scripts are the constants below, which take their
//! paths as positional parameters. pip's changes to the Python environment are not undone: a
//! `pip install --dry-run` first catches requirements that cannot be resolved before anything
//! is installed, but a package that fails to build half-way, or an `install.py` that fails,
//! leaves what was installed before it.

mod error;
pub mod git_url;
pub mod list;

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_config::Config;
use comfy_local_remote_fs::host::SftpHost;
use comfy_local_remote_fs::{Area, FolderName, Host as _, RemoteFs, RootId};
use comfy_local_ssh::{Command, ExecOutput, Session};
use serde::Serialize;

pub use error::NodeError;
pub use git_url::{GitRef, GitSource, TEMP_PREFIX, check_ref, node_name};

use crate::connection::{ResolvedInstance, resolve_env};
use crate::install::open_fs_resolved;

/// Runs the rest of its arguments in the folder given as `$1`.
const IN_DIR: &str = r#"cd -- "$1" || exit 127; shift; exec "$@""#;
/// Renames `argv[1]` to `argv[2]` with rename(2): atomic, and refused when `argv[2]` is a
/// non-empty folder or not a folder (`mv` would move the source inside an existing folder).
const RENAME_PY: &str = "import os, sys; os.rename(sys.argv[1], sys.argv[2])";
/// Environment of every git command: never prompt for credentials or host keys.
const GIT_ENV: [&str; 2] = [
    "GIT_TERMINAL_PROMPT=0",
    "GIT_SSH_COMMAND=ssh -o BatchMode=yes",
];
/// Environment of every pip command.
const PIP_ENV: [&str; 2] = ["PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1"];
/// Lines of a failed command's output kept in the error.
const TAIL_LINES: usize = 25;

/// What to install, as the user gave it.
#[derive(Debug, Clone, Default)]
pub struct InstallNodeRequest {
    /// `https://`, `ssh://` or `git://` URL of the repository.
    pub url: String,
    /// Branch, tag or commit; `None`: the remote's HEAD (its default branch).
    pub git_ref: Option<String>,
    /// Replace an existing `custom_nodes/<name>`.
    pub force: bool,
    /// Instance id; `None`: the default instance.
    pub instance: Option<String>,
}

/// A step of a node install, for progress lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum NodeEvent {
    /// A step starts on the host.
    Step { step: &'static str, detail: String },
}

/// The result of a node install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeOutcome {
    /// The folder under `custom_nodes/`.
    pub name: String,
    pub url: String,
    /// The `--ref` given, if any.
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// The commit checked out (40 hex digits).
    pub commit: String,
    /// Canonical path on the host.
    pub path: Utf8PathBuf,
    /// The Python that ran pip and `install.py`.
    pub python: String,
    /// Whether a `requirements.txt` was installed.
    pub requirements_installed: bool,
    /// Whether an `install.py` was run.
    pub install_py_ran: bool,
    /// Whether an existing folder was replaced (`--force`).
    pub replaced: bool,
    /// ComfyUI loads custom nodes at start only.
    pub restart_required: bool,
}

/// Installs a custom node on a configured instance: checks the switches, the URL and the ref
/// before connecting, then clones, installs and renames into place on the host.
pub fn install_node(
    config: &Config,
    req: &InstallNodeRequest,
    on_event: &mut dyn FnMut(&NodeEvent),
) -> Result<NodeOutcome, NodeError> {
    let resolved = resolve_env(config, req.instance.as_deref())?;
    install_node_resolved(config, &resolved, req, on_event)
}

/// [`install_node`] on an already resolved instance (`req.instance` is not looked at).
pub fn install_node_resolved(
    config: &Config,
    resolved: &ResolvedInstance,
    req: &InstallNodeRequest,
    on_event: &mut dyn FnMut(&NodeEvent),
) -> Result<NodeOutcome, NodeError> {
    let instance = &resolved.instance;
    let key = match &resolved.turned_off_by {
        Some(key) => Some(key.clone()),
        None => (!instance.features.custom_nodes)
            .then(|| format!("{}.features.custom_nodes", resolved.key)),
    };
    if let Some(key) = key {
        return Err(NodeError::FeatureDisabled {
            instance: instance.id.to_string(),
            key,
        });
    }
    if instance.comfyui.path.is_windows() {
        return Err(NodeError::WindowsHost {
            path: instance.comfyui.path.to_string(),
        });
    }
    let (source, git_ref) = check_node_request(config, req)?;
    let mut fs = open_fs_resolved(resolved)?;
    let python = instance.comfyui.python.as_ref().map(ToString::to_string);
    // Only a detected Python is compared with the server's; a configured one is trusted.
    let server_python = if python.is_none() {
        server_python(resolved)
    } else {
        None
    };
    install_node_into(
        &mut fs,
        &source,
        &NodeOptions {
            git_ref,
            force: req.force,
            python,
            server_python,
        },
        on_event,
    )
}

/// Checks a node install request against `config` without the host: the ref ([`GitRef`]) and
/// the repository URL ([`GitSource`]: scheme, `resources.allowed_git_hosts`, folder name).
pub fn check_node_request(
    config: &Config,
    req: &InstallNodeRequest,
) -> Result<(GitSource, Option<GitRef>), NodeError> {
    let git_ref = req.git_ref.as_deref().map(GitRef::parse).transpose()?;
    let source = GitSource::parse(
        &req.url,
        &config.resources.allowed_git_hosts,
        comfy_local_remote_fs::HostOs::Posix,
    )?;
    Ok((source, git_ref))
}

/// The `python_version` ComfyUI's `/system_stats` reports, when the server answers.
fn server_python(instance: &ResolvedInstance) -> Option<String> {
    let target = crate::workflow::client_for_resolved(instance).ok()?;
    let stats = target
        .client
        .system_stats()
        .inspect_err(|e| tracing::info!(error = %e, "ComfyUI did not answer /system_stats"))
        .ok()?;
    stats.system.python_version
}

/// How to install, once the source is checked.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    pub git_ref: Option<GitRef>,
    pub force: bool,
    /// `comfyui.python`; `None`: detected on the host.
    pub python: Option<String>,
    /// The running server's `python_version` (`/system_stats`): a detected Python whose
    /// version differs is refused. `None`: not compared.
    pub server_python: Option<String>,
}

/// The root id of the first `custom_nodes` folder (`<install>/custom_nodes`).
pub(crate) fn custom_nodes_root() -> RootId {
    let name = FolderName::parse("custom_nodes")
        .unwrap_or_else(|_| unreachable!("a constant, valid folder name"));
    RootId::primary(Area::Folder(name))
}

/// The install itself, on an open remote-fs whose host runs the commands.
pub fn install_node_into(
    fs: &mut RemoteFs<SftpHost>,
    source: &GitSource,
    opts: &NodeOptions,
    on_event: &mut dyn FnMut(&NodeEvent),
) -> Result<NodeOutcome, NodeError> {
    let root = custom_nodes_root();
    if fs.root_dir(&root).is_err() {
        fs.create_root(&root).map_err(NodeError::remote)?;
    }
    let name = source.name.as_str();
    let dest = fs.path(root.clone(), name).map_err(NodeError::remote)?;
    let dir = fs.root_dir(&root).map_err(NodeError::remote)?.to_owned();
    let dest_path = dir.join(name);
    let replaced = fs.exists(&dest).map_err(NodeError::remote)?;
    if replaced && !opts.force {
        return Err(NodeError::Exists { path: dest_path });
    }
    let python = match &opts.python {
        Some(p) => p.clone(),
        None => detect_python(fs),
    };
    let run = Runner {
        session: fs.host().session(),
        tmp: dir.join(format!("{TEMP_PREFIX}{name}")),
        old: dir.join(format!(".comfy-local-old-{name}")),
        python: &python,
    };
    if let (None, Some(server)) = (&opts.python, &opts.server_python) {
        run.same_python_as(server)?;
    }
    run.remove_tmp()?;
    let prepared = match run.prepare(fs, &root, source, opts, on_event) {
        Ok(p) => p,
        Err(e) => {
            // Best effort: the original failure is what the user needs to see.
            let _ = run.remove_tmp();
            return Err(e);
        }
    };
    on_event(&NodeEvent::Step {
        step: "rename",
        detail: dest_path.to_string(),
    });
    if let Err(e) = run.put_in_place(&dest_path, replaced) {
        let _ = run.remove_tmp();
        return Err(e);
    }
    Ok(NodeOutcome {
        name: name.to_owned(),
        url: source.url.to_string(),
        git_ref: opts.git_ref.as_ref().map(|r| r.as_str().to_owned()),
        commit: prepared.commit,
        path: dest_path,
        python,
        requirements_installed: prepared.requirements,
        install_py_ran: prepared.install_py,
        replaced,
        restart_required: true,
    })
}

/// ComfyUI's Python when the config names none: a `venv/` or `.venv/` in the install folder,
/// else `python3` on the PATH.
fn detect_python(fs: &RemoteFs<SftpHost>) -> String {
    for venv in ["venv", ".venv"] {
        let candidate = fs.install().join(venv).join("bin/python");
        if fs.host().stat(&candidate).is_ok() {
            return candidate.into_string();
        }
    }
    "python3".to_owned()
}

/// What the steps in the temporary folder found.
struct Prepared {
    commit: String,
    requirements: bool,
    install_py: bool,
}

/// Runs the steps of one install on the host.
struct Runner<'a> {
    session: &'a Session,
    /// `custom_nodes/.comfy-local-tmp-<name>`.
    tmp: Utf8PathBuf,
    /// Where an existing node waits while `--force` replaces it.
    old: Utf8PathBuf,
    python: &'a str,
}

impl Runner<'_> {
    /// Refuses a Python whose version (`sys.version`'s first word) is not the server's.
    fn same_python_as(&self, server: &str) -> Result<(), NodeError> {
        let out = self.exec(
            "python version",
            &Command::from_argv([self.python, "-c", "import sys; print(sys.version)"]),
        )?;
        let ours = out.stdout_lossy();
        let version = |text: &str| {
            text.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        if out.success() && version(&ours) == version(server) {
            return Ok(());
        }
        Err(NodeError::PythonMismatch {
            python: self.python.to_owned(),
            found: if out.success() {
                version(&ours)
            } else {
                let err = out.stderr_lossy();
                format!(
                    "unknown (it failed: {})",
                    err.lines().last().unwrap_or_default()
                )
            },
            server: version(server),
        })
    }

    fn prepare(
        &self,
        fs: &RemoteFs<SftpHost>,
        root: &RootId,
        source: &GitSource,
        opts: &NodeOptions,
        on_event: &mut dyn FnMut(&NodeEvent),
    ) -> Result<Prepared, NodeError> {
        let tmp = self.tmp.as_str();
        let url = source.url.as_str();
        on_event(&NodeEvent::Step {
            step: "clone",
            detail: url.to_owned(),
        });
        let scheme_allow = format!("protocol.{}.allow=always", source.url.scheme());
        self.check(
            "git clone",
            &Command::new("env").args(GIT_ENV).args([
                "git",
                "-c",
                "protocol.allow=never",
                "-c",
                &scheme_allow,
                "-c",
                "http.followRedirects=false",
                "clone",
                "--no-checkout",
                "--quiet",
                "--",
                url,
                tmp,
            ]),
        )?;
        let commit = self.resolve(opts.git_ref.as_ref(), url)?;
        on_event(&NodeEvent::Step {
            step: "checkout",
            detail: commit.clone(),
        });
        self.check(
            "git checkout",
            &git_in(tmp).args(["checkout", "--quiet", "--detach", &commit]),
        )?;
        let tmp_name = self.tmp.file_name().unwrap_or_default();
        let has = |file: &str| -> Result<bool, NodeError> {
            let p = fs
                .path(root.clone(), &format!("{tmp_name}/{file}"))
                .map_err(NodeError::remote)?;
            fs.exists(&p).map_err(NodeError::remote)
        };
        let requirements = has("requirements.txt")?;
        if requirements {
            on_event(&NodeEvent::Step {
                step: "requirements",
                detail: format!("{} -m pip install -r requirements.txt", self.python),
            });
            self.pip_install()?;
        }
        let install_py = has("install.py")?;
        if install_py {
            on_event(&NodeEvent::Step {
                step: "install.py",
                detail: format!("{} install.py", self.python),
            });
            self.check("install.py", &self.in_tmp([self.python, "install.py"]))?;
        }
        Ok(Prepared {
            commit,
            requirements,
            install_py,
        })
    }

    /// The commit `git_ref` names (a tag, a branch of the remote, a commit), or the remote's HEAD.
    fn resolve(&self, git_ref: Option<&GitRef>, url: &str) -> Result<String, NodeError> {
        let candidates: Vec<String> = match git_ref.map(GitRef::as_str) {
            None => vec!["HEAD".to_owned()],
            Some(r) => vec![
                format!("refs/tags/{r}"),
                format!("refs/remotes/origin/{r}"),
                r.to_owned(),
            ],
        };
        for c in candidates {
            let out = self.exec(
                "git rev-parse",
                &git_in(self.tmp.as_str()).args([
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    &format!("{c}^{{commit}}"),
                ]),
            )?;
            let commit = out.stdout_lossy().trim().to_owned();
            if out.success() && commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return Ok(commit);
            }
        }
        Err(NodeError::UnknownRef {
            reference: git_ref.map_or("HEAD", GitRef::as_str).to_owned(),
            url: url.to_owned(),
        })
    }

    /// A dry run first (nothing installed when a requirement cannot be resolved), then the
    /// install. A pip without `--dry-run` (before 22.2) goes straight to the install.
    fn pip_install(&self) -> Result<(), NodeError> {
        let pip = |dry: bool| {
            let mut argv = vec!["env"];
            argv.extend(PIP_ENV);
            argv.extend([self.python, "-m", "pip", "install"]);
            if dry {
                argv.push("--dry-run");
            }
            argv.extend(["-r", "requirements.txt"]);
            self.in_tmp(argv)
        };
        let dry = self.exec("pip install --dry-run", &pip(true))?;
        if !dry.success() && !dry.stderr_lossy().contains("no such option: --dry-run") {
            return Err(step_failed("pip install --dry-run", &dry));
        }
        self.check("pip install", &pip(false))
    }

    /// Moves the prepared folder to `dest`; an existing node is moved aside first and removed
    /// only after the new one is in place (moved back if that fails).
    fn put_in_place(&self, dest: &Utf8Path, replace: bool) -> Result<(), NodeError> {
        if replace {
            self.check(
                "remove",
                &Command::from_argv(["rm", "-rf", "--", self.old.as_str()]),
            )?;
            self.rename(dest.as_str(), self.old.as_str())?;
        }
        if let Err(e) = self.rename(self.tmp.as_str(), dest.as_str()) {
            if replace {
                let _ = self.rename(self.old.as_str(), dest.as_str());
            }
            return Err(e);
        }
        if replace {
            self.check(
                "remove",
                &Command::from_argv(["rm", "-rf", "--", self.old.as_str()]),
            )?;
        }
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), NodeError> {
        self.check(
            "rename",
            &Command::from_argv([self.python, "-c", RENAME_PY, from, to]),
        )
    }

    fn remove_tmp(&self) -> Result<(), NodeError> {
        self.check(
            "remove",
            &Command::from_argv(["rm", "-rf", "--", self.tmp.as_str()]),
        )
    }

    /// `argv` run inside the temporary folder.
    fn in_tmp<'s>(&self, argv: impl IntoIterator<Item = &'s str>) -> Command {
        Command::from_argv(["sh", "-c", IN_DIR, "sh", self.tmp.as_str()]).args(argv)
    }

    fn exec(&self, step: &'static str, cmd: &Command) -> Result<ExecOutput, NodeError> {
        tracing::debug!(step, argv = ?cmd.argv(), "running on the host");
        self.session.exec(cmd).map_err(|e| NodeError::Exec {
            step,
            source: Box::new(e),
        })
    }

    fn check(&self, step: &'static str, cmd: &Command) -> Result<(), NodeError> {
        let out = self.exec(step, cmd)?;
        if out.success() {
            Ok(())
        } else {
            Err(step_failed(step, &out))
        }
    }
}

/// `git` in the repository at `dir`, trusted with `safe.directory` (the SSH user may not own
/// a node ComfyUI's owner installed).
fn git_in(dir: &str) -> Command {
    Command::new("env").args(GIT_ENV).args([
        "git",
        "-c",
        &format!("safe.directory={dir}"),
        "-C",
        dir,
    ])
}

fn step_failed(step: &'static str, out: &ExecOutput) -> NodeError {
    let text = if out.stderr.iter().any(|b| !b.is_ascii_whitespace()) {
        out.stderr_lossy()
    } else {
        out.stdout_lossy()
    };
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let output = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    let status = match &out.exit_signal {
        Some(sig) => format!("signal {sig}"),
        None => format!("exit status {}", out.exit_status),
    };
    NodeError::Step {
        step,
        status,
        output,
    }
}
