//! Exit codes and the error report: every failure ends as `error: <cause chain>` plus a hint on
//! stderr (and a JSON object on stdout with `--json`), with an exit code saying what kind of
//! failure it was.

use std::io::Write;
use std::process::ExitCode;

use comfy_local_comfyui::ComfyError;
use comfy_local_config::ConfigError;
use comfy_local_sdk::{InstallError, InstallErrorKind, NodeError, ResolveError, SdkError};

use comfy_local_sdk::terminal;

/// What kind of failure ended the command; the discriminant is the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// Success.
    Ok = 0,
    /// A check or operation ran and failed.
    Failed = 1,
    /// Bad usage or configuration.
    Usage = 2,
    /// Could not connect (TCP, SSH, host key, authentication).
    Connection = 3,
    /// The host or `ComfyUI` reported an error.
    Remote = 4,
    /// A time limit the user set (`run --timeout`) expired.
    TimedOut = 5,
    /// Interrupted by Ctrl-C.
    Interrupted = 130,
}

impl From<Code> for ExitCode {
    fn from(code: Code) -> Self {
        ExitCode::from(code as u8)
    }
}

/// A failure that the command itself classified (a check that found problems, ...).
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: Code,
    /// What failed.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// The command already printed its JSON result on stdout (a report with the failure in
    /// it); with `--json` no second JSON document is printed.
    pub json_printed: bool,
}

impl std::error::Error for Failure {}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The exit code and hint for an error, from the first error in its chain we recognise.
pub fn classify(error: &anyhow::Error) -> (Code, Option<String>) {
    for cause in error.chain() {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return (failure.code, failure.hint.clone());
        }
        if let Some(config) = cause.downcast_ref::<ConfigError>() {
            return (Code::Usage, Some(config_hint(config).to_owned()));
        }
        if let Some(sdk) = cause.downcast_ref::<SdkError>() {
            return sdk_code(sdk);
        }
        if let Some(install) = cause.downcast_ref::<InstallError>() {
            if let InstallError::Resolve(r) = install {
                return resolve_code(r);
            }
            return install_code(install.kind());
        }
        if let Some(node) = cause.downcast_ref::<NodeError>() {
            return node_code(node);
        }
    }
    (Code::Failed, None)
}

fn sdk_code(error: &SdkError) -> (Code, Option<String>) {
    match error {
        SdkError::UnknownInstance(_) => (
            Code::Usage,
            Some("`comfy-local instances` lists the instance ids".to_owned()),
        ),
        SdkError::BadInput { .. } => (
            Code::Usage,
            Some("give inputs as --input NAME=FILE (NAME: a file name the workflow loads, or a LoadImage node id)".to_owned()),
        ),
        SdkError::BadOverride { .. } => (
            Code::Usage,
            Some("give values as --set NODE_ID.input=VALUE (`workflow convert` shows the node ids and inputs) and seeds as --seed random or --seed N".to_owned()),
        ),
        SdkError::UnknownJob { .. } => (
            Code::Usage,
            Some("`comfy-local jobs` lists the prompts the instance holds (history is lost when ComfyUI restarts)".to_owned()),
        ),
        SdkError::JobState { .. } => (
            Code::Failed,
            Some("`comfy-local jobs show ID` shows where the prompt is".to_owned()),
        ),
        SdkError::BadSubfolder { .. } => (
            Code::Usage,
            Some("give --subfolder as a relative folder inside input/, such as masks or people/2025".to_owned()),
        ),
        SdkError::TurnedOff { key, .. } => (
            Code::Usage,
            Some(format!("set `{key}: true` in the config to allow it")),
        ),
        SdkError::InputTooLarge { key, .. } => (
            Code::Usage,
            Some(format!("raise `{key}` in the config, or give a smaller file")),
        ),
        SdkError::OutputLimit { key, .. } => (
            Code::Usage,
            Some(format!("raise `{key}` in the config if these outputs are expected")),
        ),
        SdkError::Workflow { .. }
        | SdkError::ObjectInfo { .. }
        | SdkError::Io { .. }
        | SdkError::NodeMap { .. }
        | SdkError::Batch { .. }
        | SdkError::Save(_) => (Code::Usage, None),
        SdkError::TimedOut { .. } => (
            Code::TimedOut,
            Some("give the prompt more time with a larger --timeout".to_owned()),
        ),
        SdkError::OutputsNotSaved { .. } => (
            Code::Failed,
            Some("the outputs listed were not written; every other output is in --out".to_owned()),
        ),
        SdkError::Convert { .. } => (
            Code::Failed,
            Some("the ComfyUI editor would refuse this workflow too; open and re-save it there".to_owned()),
        ),
        SdkError::MissingDependencies { .. } => (
            Code::Failed,
            Some("install the missing nodes and models on the instance, or put the input files in ComfyUI's input/".to_owned()),
        ),
        SdkError::Resolve(r) => resolve_code(r),
        SdkError::Provider(_) => (Code::Connection, None),
        SdkError::RepeatWithoutSeed { .. } => (
            Code::Usage,
            Some("each copy of --repeat gets its own seed, and these workflows have no seed input: drop --repeat, or use a workflow with one".to_owned()),
        ),
        SdkError::NoInstanceUp { .. } => (
            Code::Connection,
            Some("`comfy-local instances` lists the instances and whether they answer".to_owned()),
        ),
        SdkError::ComfyUnreachable { hint, .. } => (Code::Connection, Some(hint.clone())),
        // The instance answered: the workflow is what failed, not the connection.
        SdkError::Comfy(ComfyError::PromptRejected { .. }) => (
            Code::Remote,
            Some("ComfyUI refused the workflow: fix the inputs named above (the ComfyUI editor shows the same errors)".to_owned()),
        ),
        SdkError::Comfy(ComfyError::ExecutionFailed { .. }) => (
            Code::Remote,
            Some("a node failed while running: the message above is ComfyUI's; its log on the host has the traceback".to_owned()),
        ),
        SdkError::Interrupted { .. } => (Code::Interrupted, None),
        SdkError::Comfy(ComfyError::Interrupted { .. }) => (
            Code::Remote,
            Some("someone interrupted the prompt on the server (the ComfyUI editor, `jobs cancel`, another client)".to_owned()),
        ),
        _ => (
            Code::Remote,
            Some("`comfy-local test-connection` checks the instance stage by stage".to_owned()),
        ),
    }
}

/// An instance id that resolves to no usable instance: exit 2 when the config or the id is
/// wrong, 3 when the instance cannot be reached (not running, no SSH endpoint, VastAI down).
fn resolve_code(error: &ResolveError) -> (Code, Option<String>) {
    let code = if error.is_usage() {
        Code::Usage
    } else {
        Code::Connection
    };
    (code, error.hint())
}

fn node_code(error: &NodeError) -> (Code, Option<String>) {
    match error {
        NodeError::Open(InstallError::Resolve(r)) => resolve_code(r),
        NodeError::FeatureDisabled { key, .. } => (
            Code::Usage,
            Some(format!("set `{key}: true` in the config to allow it")),
        ),
        NodeError::HostNotAllowed { host, .. } => (
            Code::Usage,
            Some(format!(
                "add {host} to resources.allowed_git_hosts in the config if you trust it"
            )),
        ),
        _ => install_code(error.kind()),
    }
}

fn install_code(kind: InstallErrorKind) -> (Code, Option<String>) {
    match kind {
        InstallErrorKind::Usage => (Code::Usage, None),
        InstallErrorKind::Connection => (
            Code::Connection,
            Some("`comfy-local test-connection` checks the instance stage by stage".to_owned()),
        ),
        InstallErrorKind::Remote => (Code::Remote, None),
        InstallErrorKind::Refused => (Code::Failed, None),
        InstallErrorKind::Interrupted => (Code::Interrupted, None),
    }
}

fn config_hint(error: &ConfigError) -> &'static str {
    match error {
        ConfigError::NotFound { .. } | ConfigError::Missing { .. } => {
            "copy local-support-config.yml.example to local-support-config.yml and edit it, or pass --config PATH"
        }
        ConfigError::Read { .. } => "check the path and that this user may read the file",
        _ => "see local-support-config.yml.example for every key, with comments",
    }
}

/// An error and each of its sources (see [`comfy_local_sdk::error_chain`]).
pub use comfy_local_sdk::error_chain as chain;

/// Print `error` (and its hint) and return the exit code.
pub fn report(
    error: &anyhow::Error,
    json: bool,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> ExitCode {
    let (code, hint) = classify(error);
    let json_printed = error
        .chain()
        .any(|c| c.downcast_ref::<Failure>().is_some_and(|f| f.json_printed));
    // Nothing sensible is left to do when stderr or stdout cannot be written. Server text in
    // the error may hold newlines: lines after the first are indented, so none passes for ours.
    let _ = writeln!(
        stderr,
        "error: {}",
        terminal::indented(format!("{error:#}").trim_end())
    );
    if let Some(hint) = &hint {
        let _ = writeln!(stderr, "hint: {}", terminal::indented(hint));
    }
    if json && !json_printed {
        let mut body = serde_json::json!({
            "ok": false,
            "exit_code": code as u8,
            "error": format!("{error:#}"),
            "hint": hint,
        });
        if let Some(node_errors) = node_errors_json(error) {
            body["node_errors"] = node_errors;
        }
        // One line: `--json` output is JSON Lines, the final error included.
        let _ = writeln!(stdout, "{body}");
    }
    code.into()
}

/// The node validation errors of a prompt ComfyUI rejected, as structured data.
fn node_errors_json(error: &anyhow::Error) -> Option<serde_json::Value> {
    // `SdkError::Comfy` is transparent: the ComfyError is inside it, not next in the chain.
    let rejected = error.chain().find_map(|c| {
        let comfy = c
            .downcast_ref::<ComfyError>()
            .or_else(|| match c.downcast_ref::<SdkError>() {
                Some(SdkError::Comfy(e)) => Some(e),
                _ => None,
            });
        match comfy {
            Some(ComfyError::PromptRejected { node_errors, .. }) => Some(node_errors),
            _ => None,
        }
    })?;
    Some(
        rejected
            .iter()
            .map(|n| {
                serde_json::json!({
                    "node_id": n.node_id,
                    "class_type": n.class_type,
                    "dependent_outputs": n.dependent_outputs,
                    "errors": n.errors.iter().map(|d| serde_json::json!({
                        "type": d.kind,
                        "message": d.message,
                        "details": d.details,
                        "input_name": d.input_name,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// Whether the command failed only because stdout's reader closed the pipe.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use comfy_local_sdk::ssh::SshError;

    use super::*;

    #[test]
    fn a_changed_host_key_on_the_forward_path_is_a_connection_error_with_its_hint() {
        let error = anyhow::Error::new(SdkError::ComfyUnreachable {
            url: "http://127.0.0.1:8188".to_owned(),
            direct: "connecting to 127.0.0.1:8188: Connection refused".to_owned(),
            port: 8188,
            tunnel: Box::new(SshError::HostKeyMismatch {
                host: "127.0.0.1".to_owned(),
                port: 22022,
                known_hosts: "/kh".into(),
                fingerprint: "SHA256:x".to_owned(),
            }),
            hint: "the host key CHANGED".to_owned(),
        });
        let (code, hint) = classify(&error);
        assert_eq!(code, Code::Connection);
        assert_eq!(hint.as_deref(), Some("the host key CHANGED"));
        let shown = format!("{error:#}");
        assert!(
            shown.contains("Connection refused") && shown.contains("man-in-the-middle"),
            "{shown}"
        );
    }
}
