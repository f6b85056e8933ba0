//! The facade's error: which layer failed, with that layer's typed error as the source.

use std::fmt::Write as _;

use camino::Utf8PathBuf;
use comfy_local_comfyui::ComfyError;
use comfy_local_providers::ProviderError;
use comfy_local_ssh::SshError;
use comfy_local_workflow::{ConvertError, DependencyReport, WorkflowError};

use crate::connection::{ResolveError, UnknownInstance};
use crate::outputs::UnsavedOutput;
use crate::save::SaveError;

/// What a facade operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SdkError {
    /// The instance named is not configured.
    #[error(transparent)]
    UnknownInstance(#[from] UnknownInstance),
    /// A provider (VastAI) could not be asked.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The instance id resolves to no usable instance: a VastAI instance that is not
    /// running, has no SSH endpoint, or that the config cannot reach (an unknown id is
    /// [`SdkError::UnknownInstance`]).
    #[error(transparent)]
    Resolve(ResolveError),
    /// A batch that cannot start as given (its jobs, output folder, instances or pool
    /// settings).
    #[error("batch: {reason}")]
    Batch {
        /// Why.
        reason: String,
    },
    /// `--repeat` on workflows without a seed input for its copies: each (file, why) as
    /// `--seed` would refuse it, by the object_info of the pool's instances.
    #[error("batch: --repeat gives each copy its own seed, but these workflows have no seed input: {}", workflows.iter().map(|(file, why)| format!("{file} ({why})")).collect::<Vec<_>>().join("; "))]
    RepeatWithoutSeed {
        /// Each workflow file and why it takes no seed.
        workflows: Vec<(camino::Utf8PathBuf, String)>,
    },
    /// No instance of a batch's pool is up.
    #[error("no instance of the pool answers{}", if listed.is_empty() { String::new() } else { format!(" (tried: {})", listed.join(", ")) })]
    NoInstanceUp {
        /// The instances (and provider errors) seen.
        listed: Vec<String>,
    },
    /// ComfyUI failed or refused.
    #[error(transparent)]
    Comfy(#[from] ComfyError),
    /// ComfyUI's `api_url` does not accept connections from here, and reaching it through the
    /// host's sshd failed too (the forward refused, or the SSH connection itself: a changed host
    /// key included). Both reasons are in the message.
    #[error(
        "ComfyUI at {url} is not reachable from here ({direct}), and neither through an SSH forward to the host's 127.0.0.1:{port}"
    )]
    ComfyUnreachable {
        /// `api_url`, its password redacted.
        url: String,
        /// Why the direct connection failed.
        direct: String,
        /// ComfyUI's port on the host.
        port: u16,
        /// Why the SSH forward failed.
        #[source]
        tunnel: Box<SshError>,
        /// What to do about it.
        hint: String,
    },
    /// The workflow file is not a workflow.
    #[error("{path}")]
    Workflow {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: WorkflowError,
    },
    /// UI -> API conversion failed.
    #[error("{path}: cannot convert to API format")]
    Convert {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: ConvertError,
    },
    /// A saved object_info file is not usable.
    #[error("{path}: not a ComfyUI object_info")]
    ObjectInfo {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: WorkflowError,
    },
    /// The instance lacks what the workflow needs; the report lists all of it.
    #[error("the instance lacks what the workflow needs:\n{report}")]
    MissingDependencies {
        /// Everything missing.
        report: Box<DependencyReport>,
    },
    /// A bad `--input NAME=FILE`.
    #[error("input {spec:?}: {reason}")]
    BadInput {
        /// As given.
        spec: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A `--set NODE_ID.input=VALUE` or `--seed` that does not fit the workflow or the
    /// instance's object_info.
    #[error("{spec}: {reason}")]
    BadOverride {
        /// As given (`--set 3.steps=abc`).
        spec: String,
        /// Why, with what would be valid.
        reason: String,
    },
    /// No prompt of that id is in the instance's queue or history.
    #[error("no prompt {prompt_id:?} in the queue or history of instance {instance}")]
    UnknownJob {
        /// The id asked for.
        prompt_id: String,
        /// The instance.
        instance: String,
    },
    /// The prompt is not in the state the operation needs (downloading a running prompt's
    /// outputs, cancelling a finished one).
    #[error("prompt {prompt_id} is {state}: {what}")]
    JobState {
        /// The prompt.
        prompt_id: String,
        /// Its state (`running`, `done`, ...).
        state: String,
        /// What cannot be done.
        what: String,
    },
    /// An `upload --subfolder` that is not a plain relative folder.
    #[error("subfolder {subfolder:?}: {reason}")]
    BadSubfolder {
        /// As given.
        subfolder: String,
        /// Why.
        reason: String,
    },
    /// A `--node-map` file is not a JSON object of class name -> repository URL.
    #[error("node map {path}: {reason}")]
    NodeMap {
        /// The file.
        path: Utf8PathBuf,
        /// Why.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: Utf8PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config turns off what was asked for.
    #[error("{what} is turned off: `{key}` is false in the config")]
    TurnedOff {
        /// What was refused (`running a workflow on "local"`).
        what: String,
        /// The config key that turns it off (`local[0].features.workflow_execution`).
        key: String,
    },
    /// An `--input` file is larger than the instance's upload limit.
    #[error("input file {file} is {bytes} bytes, more than `{key}` allows ({limit_mb} MiB)")]
    InputTooLarge {
        /// The file.
        file: Utf8PathBuf,
        /// Its size.
        bytes: u64,
        /// The limit's config key (`local[0].limits.max_upload_mb`).
        key: String,
        /// The limit.
        limit_mb: u64,
    },
    /// The run was interrupted (Ctrl-C); the prompt was stopped on the server too.
    #[error("interrupted; prompt {prompt_id} was {}", if *removed_from_queue { "removed from the queue before it started" } else { "interrupted on the server" })]
    Interrupted {
        /// The prompt.
        prompt_id: String,
        /// It had not started: it was removed from the queue.
        removed_from_queue: bool,
    },
    /// The prompt was still running or queued when the run's time was up.
    #[error("prompt {prompt_id} did not finish within {}: {cleanup}", seconds(*after))]
    TimedOut {
        /// The prompt.
        prompt_id: String,
        /// The time allowed.
        after: std::time::Duration,
        /// What was done about it (interrupted, removed from the queue, or why neither).
        cleanup: String,
    },
    /// The prompt finished, but outputs ComfyUI reported could not be saved.
    #[error("{}", unsaved_message(prompt_id, *saved, unsaved))]
    OutputsNotSaved {
        /// The prompt.
        prompt_id: String,
        /// How many outputs were saved.
        saved: usize,
        /// Each output not saved, with the reason.
        unsaved: Vec<UnsavedOutput>,
    },
    /// The run's outputs together grew past the output limit: saving stopped at the file that
    /// crossed it, which was not kept.
    #[error(
        "prompt {prompt_id}'s outputs are larger than `{key}` allows ({limit_mb} MiB): saving stopped; {saved} complete output(s) were saved, the one that crossed the limit was not kept"
    )]
    OutputLimit {
        /// The prompt.
        prompt_id: String,
        /// The limit's config key (`local[0].limits.max_output_mb`).
        key: String,
        /// The limit.
        limit_mb: u64,
        /// How many outputs were saved before it.
        saved: usize,
    },
    /// The output folder could not be created or opened.
    #[error(transparent)]
    Save(#[from] SaveError),
}

impl From<ResolveError> for SdkError {
    /// An unknown id stays [`SdkError::UnknownInstance`]; the rest is [`SdkError::Resolve`].
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Unknown(u) => SdkError::UnknownInstance(u),
            other => SdkError::Resolve(other),
        }
    }
}

fn seconds(d: std::time::Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

fn unsaved_message(prompt_id: &str, saved: usize, unsaved: &[UnsavedOutput]) -> String {
    let mut out = format!(
        "prompt {prompt_id} finished, but {} output(s) were not saved ({saved} saved):",
        unsaved.len()
    );
    for u in unsaved {
        let _ = write!(out, "\n  node {}: {}: {}", u.node, u.name, u.reason);
    }
    out
}

/// An error and each of its sources, once, on one line, joined by `: ` (what anyhow's `{:#}`
/// prints), for errors shown without being returned (report details, warnings, events).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
