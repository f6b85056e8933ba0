//! Facade errors as the exceptions of `comfy_local.errors`, chosen as the CLI chooses its exit
//! codes (`bins/comfy-local/src/exit.rs`): each carries the error's cause chain as its message,
//! a hint when there is one, and the structured data a caller acts on.

use comfy_local_sdk::comfyui::ComfyError;
use comfy_local_sdk::config::ConfigError;
use comfy_local_sdk::{
    InstallError, InstallErrorKind, NodeError, ResolveError, SdkError, error_chain,
};
use pyo3::IntoPyObjectExt as _;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Which exception class of `comfy_local.errors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `ComfyLocalError`: a check or operation failed (CLI exit code 1).
    Base,
    /// `ConfigError` (2).
    Config,
    /// `InvalidArgument` (2): a workflow file, input, URL or hash that cannot be used.
    InvalidArgument,
    /// `ConnectionFailed` (3).
    Connection,
    /// `RemoteError` (4).
    Remote,
    /// `MissingDependencies` (1).
    Missing,
    /// `Interrupted` (130).
    Interrupted,
    /// `TimedOut` (5).
    TimedOut,
}

impl Kind {
    fn class_name(self) -> &'static str {
        match self {
            Kind::Base => "ComfyLocalError",
            Kind::Config => "ConfigError",
            Kind::InvalidArgument => "InvalidArgument",
            Kind::Connection => "ConnectionFailed",
            Kind::Remote => "RemoteError",
            Kind::Missing => "MissingDependencies",
            Kind::Interrupted => "Interrupted",
            Kind::TimedOut => "TimedOut",
        }
    }
}

/// An exception of `kind` with `message` and `hint`.
pub(crate) fn new_error(
    py: Python<'_>,
    kind: Kind,
    message: String,
    hint: Option<String>,
) -> PyErr {
    build(py, kind, message, hint, &[])
}

/// An exception of `kind`; `extra` are keyword arguments of its constructor.
fn build(
    py: Python<'_>,
    kind: Kind,
    message: String,
    hint: Option<String>,
    extra: &[(&str, Bound<'_, PyAny>)],
) -> PyErr {
    let made = (|| -> PyResult<PyErr> {
        let class = py
            .import("comfy_local.errors")?
            .getattr(kind.class_name())?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("hint", hint)?;
        for (key, value) in extra {
            kwargs.set_item(key, value)?;
        }
        Ok(PyErr::from_value(class.call((message,), Some(&kwargs))?))
    })();
    // Failing to build the exception (the Python package is broken) raises that failure.
    made.unwrap_or_else(|e| e)
}

/// The exception for a facade error.
pub(crate) fn sdk_error(py: Python<'_>, error: &SdkError) -> PyErr {
    let message = error_chain(error);
    let hint = |text: &str| Some(text.to_owned());
    match error {
        SdkError::UnknownInstance(_) => new_error(
            py,
            Kind::Config,
            message,
            hint("Client.instances() lists the instance ids"),
        ),
        SdkError::TurnedOff { key, .. } => new_error(
            py,
            Kind::Config,
            message,
            Some(format!("set `{key}: true` in the config to allow it")),
        ),
        SdkError::InputTooLarge { key, .. } => new_error(
            py,
            Kind::Config,
            message,
            Some(format!(
                "raise `{key}` in the config, or give a smaller file"
            )),
        ),
        SdkError::OutputLimit { key, .. } => new_error(
            py,
            Kind::Config,
            message,
            Some(format!(
                "raise `{key}` in the config if these outputs are expected"
            )),
        ),
        SdkError::BadInput { .. }
        | SdkError::BadOverride { .. }
        | SdkError::Workflow { .. }
        | SdkError::ObjectInfo { .. }
        | SdkError::NodeMap { .. } => new_error(py, Kind::InvalidArgument, message, None),
        SdkError::Convert { .. } => new_error(
            py,
            Kind::InvalidArgument,
            message,
            hint("the ComfyUI editor would refuse this workflow too; open and re-save it there"),
        ),
        SdkError::Io { .. } | SdkError::Save(_) => new_error(py, Kind::Base, message, None),
        SdkError::OutputsNotSaved { .. } => new_error(
            py,
            Kind::Base,
            message,
            hint("the outputs listed were not written; every other output is in out_dir"),
        ),
        SdkError::MissingDependencies { report } => missing(py, message, report),
        SdkError::Provider(_) => new_error(py, Kind::Connection, message, None),
        SdkError::Resolve(r) => resolve_error(py, r, message),
        SdkError::ComfyUnreachable { hint, .. } => {
            new_error(py, Kind::Connection, message, Some(hint.clone()))
        }
        SdkError::Interrupted {
            prompt_id,
            removed_from_queue,
        } => interrupted(py, message, Some(prompt_id), *removed_from_queue),
        SdkError::TimedOut { .. } => new_error(
            py,
            Kind::TimedOut,
            message,
            hint("give the prompt more time with a larger timeout"),
        ),
        SdkError::Comfy(ComfyError::PromptRejected { .. }) => new_error(
            py,
            Kind::Remote,
            message,
            hint(
                "ComfyUI refused the workflow: fix the inputs named (the ComfyUI editor shows the same errors)",
            ),
        ),
        SdkError::Comfy(ComfyError::ExecutionFailed { .. }) => new_error(
            py,
            Kind::Remote,
            message,
            hint(
                "a node failed while running: the message is ComfyUI's; its log on the host has the traceback",
            ),
        ),
        _ => new_error(
            py,
            Kind::Remote,
            message,
            hint("Client.test_connection() checks the instance stage by stage"),
        ),
    }
}

/// `MissingDependencies` with its report.
fn missing(
    py: Python<'_>,
    message: String,
    report: &comfy_local_sdk::workflow::DependencyReport,
) -> PyErr {
    match crate::json::to_py(py, report) {
        Ok(report) => build(
            py,
            Kind::Missing,
            message,
            Some("install the missing nodes and models on the instance (Client.install_missing), or put the input files in ComfyUI's input/".to_owned()),
            &[("report", report)],
        ),
        Err(e) => e,
    }
}

/// `Interrupted`, with the prompt that was stopped when there was one.
pub(crate) fn interrupted(
    py: Python<'_>,
    message: String,
    prompt_id: Option<&str>,
    removed_from_queue: bool,
) -> PyErr {
    let values = (
        prompt_id.into_bound_py_any(py),
        removed_from_queue.into_bound_py_any(py),
    );
    let args = match values {
        (Ok(prompt_id), Ok(removed)) => [("prompt_id", prompt_id), ("removed_from_queue", removed)],
        (Err(e), _) | (_, Err(e)) => return e,
    };
    build(py, Kind::Interrupted, message, None, &args)
}

/// The exception for a config that cannot be loaded.
pub(crate) fn config_error(py: Python<'_>, error: &ConfigError) -> PyErr {
    let hint = match error {
        ConfigError::NotFound { .. } | ConfigError::Missing { .. } => {
            "copy local-support-config.yml.example to local-support-config.yml and edit it, or pass config_path"
        }
        ConfigError::Read { .. } => "check the path and that this user may read the file",
        _ => "see local-support-config.yml.example for every key, with comments",
    };
    new_error(py, Kind::Config, error_chain(error), Some(hint.to_owned()))
}

/// The exception for a failed model install.
pub(crate) fn install_error(py: Python<'_>, error: &InstallError) -> PyErr {
    match error {
        InstallError::UnknownInstance(_) => new_error(
            py,
            Kind::Config,
            error_chain(error),
            Some("Client.instances() lists the instance ids".to_owned()),
        ),
        InstallError::Resolve(r) => resolve_error(py, r, error_chain(error)),
        InstallError::FeatureDisabled { .. } => new_error(
            py,
            Kind::Config,
            error_chain(error),
            Some("set `features.resource_installation: true` for the instance in the config to allow it".to_owned()),
        ),
        _ => by_install_kind(py, error.kind(), error_chain(error)),
    }
}

/// The exception for a failed node install.
pub(crate) fn node_error(py: Python<'_>, error: &NodeError) -> PyErr {
    match error {
        NodeError::UnknownInstance(_) => new_error(
            py,
            Kind::Config,
            error_chain(error),
            Some("Client.instances() lists the instance ids".to_owned()),
        ),
        NodeError::Open(InstallError::Resolve(r)) => resolve_error(py, r, error_chain(error)),
        NodeError::FeatureDisabled { key, .. } => new_error(
            py,
            Kind::Config,
            error_chain(error),
            Some(format!("set `{key}: true` in the config to allow it")),
        ),
        NodeError::HostNotAllowed { host, .. } => new_error(
            py,
            Kind::Config,
            error_chain(error),
            Some(format!(
                "add {host} to resources.allowed_git_hosts in the config if you trust it"
            )),
        ),
        _ => by_install_kind(py, error.kind(), error_chain(error)),
    }
}

/// The exception for an instance id that resolves to no usable instance: a config error
/// (`vastai.ssh` incomplete, an unknown VastAI id) or a connection error (not running, no SSH).
fn resolve_error(py: Python<'_>, error: &ResolveError, message: String) -> PyErr {
    let kind = if error.is_usage() {
        Kind::Config
    } else {
        Kind::Connection
    };
    new_error(py, kind, message, error.hint())
}

fn by_install_kind(py: Python<'_>, kind: InstallErrorKind, message: String) -> PyErr {
    match kind {
        InstallErrorKind::Usage => new_error(py, Kind::InvalidArgument, message, None),
        InstallErrorKind::Connection => new_error(
            py,
            Kind::Connection,
            message,
            Some("Client.test_connection() checks the instance stage by stage".to_owned()),
        ),
        InstallErrorKind::Remote => new_error(py, Kind::Remote, message, None),
        InstallErrorKind::Interrupted => interrupted(py, message, None, false),
        InstallErrorKind::Refused => new_error(py, Kind::Base, message, None),
    }
}
