//! What a custom-node install or listing can fail with.

use camino::Utf8PathBuf;
use comfy_local_remote_fs::FsError;
use comfy_local_ssh::SshError;

use crate::connection::UnknownInstance;
use crate::install::{InstallError, InstallErrorKind};

/// A refused or failed node install.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    #[error(transparent)]
    UnknownInstance(#[from] UnknownInstance),
    /// `features.custom_nodes` is false for the instance.
    #[error("installing custom nodes is turned off for instance {instance} ({key}: false)")]
    FeatureDisabled { instance: String, key: String },
    #[error("{input:?} is not a git URL comfy-local installs nodes from: {reason}")]
    BadUrl { input: String, reason: String },
    /// The URL's host is not in `resources.allowed_git_hosts`.
    #[error(
        "git host {host:?} is not allowed (resources.allowed_git_hosts: {})",
        if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") }
    )]
    HostNotAllowed { host: String, allowed: Vec<String> },
    #[error("--ref {input:?} is refused: {reason}")]
    BadRef { input: String, reason: String },
    /// The folder name the URL gives is refused.
    #[error("refusing the node folder name {name:?}: {reason}")]
    BadName { name: String, reason: String },
    /// The host is Windows: the commands are POSIX shell argv.
    #[error(
        "install node runs git and Python through a POSIX shell; the instance's ComfyUI path {path} is a Windows path (not supported yet)"
    )]
    WindowsHost { path: String },
    /// `custom_nodes/<name>` is already there.
    #[error("{path} already exists; --force replaces it")]
    Exists { path: Utf8PathBuf },
    /// Connecting or opening the ComfyUI folders failed.
    #[error(transparent)]
    Open(#[from] InstallError),
    /// The host's file system refused or failed.
    #[error("on the host")]
    Remote(#[source] Box<FsError>),
    /// A command could not be run over SSH.
    #[error("running {step} on the host")]
    Exec {
        step: &'static str,
        #[source]
        source: Box<SshError>,
    },
    /// A step failed on the host; nothing was left under `custom_nodes/`.
    #[error(
        "{step} failed ({status}); nothing was installed (the temporary folder was removed){}: {output}",
        python_note(step)
    )]
    Step {
        step: &'static str,
        /// `exit status N` or `signal S`.
        status: String,
        /// The tail of the command's stderr (else stdout).
        output: String,
    },
    /// The Python found on the host is not the one the running ComfyUI reports.
    #[error(
        "{python} is Python {found}, but the running ComfyUI reports Python {server}: set comfyui.python to ComfyUI's interpreter"
    )]
    PythonMismatch {
        python: String,
        found: String,
        server: String,
    },
    /// The ref names no commit of the repository.
    #[error("{reference:?} is no branch, tag or commit of {url}; nothing was installed")]
    UnknownRef { reference: String, url: String },
}

fn python_note(step: &str) -> &'static str {
    if step == "pip install" || step == "install.py" {
        "; packages pip installed before the failure stay in the Python environment"
    } else {
        ""
    }
}

impl From<crate::connection::ResolveError> for NodeError {
    /// An unknown id stays [`NodeError::UnknownInstance`]; the rest is an [`InstallError`].
    fn from(e: crate::connection::ResolveError) -> Self {
        match e {
            crate::connection::ResolveError::Unknown(u) => NodeError::UnknownInstance(u),
            other => NodeError::Open(InstallError::Resolve(other)),
        }
    }
}

impl NodeError {
    pub(crate) fn remote(e: FsError) -> Self {
        NodeError::Remote(Box::new(e))
    }

    /// The kind of failure, as the CLI maps it to exit codes.
    pub fn kind(&self) -> InstallErrorKind {
        match self {
            NodeError::UnknownInstance(_)
            | NodeError::FeatureDisabled { .. }
            | NodeError::BadUrl { .. }
            | NodeError::HostNotAllowed { .. }
            | NodeError::BadRef { .. }
            | NodeError::BadName { .. }
            | NodeError::WindowsHost { .. }
            | NodeError::UnknownRef { .. }
            | NodeError::PythonMismatch { .. } => InstallErrorKind::Usage,
            NodeError::Open(e) => e.kind(),
            NodeError::Exec { .. } | NodeError::Remote(_) | NodeError::Step { .. } => {
                InstallErrorKind::Remote
            }
            NodeError::Exists { .. } => InstallErrorKind::Refused,
        }
    }
}
