//! Running a workflow on an instance end to end: load (UI or API) -> object_info -> convert ->
//! dependency check (everything missing at once) -> upload inputs -> submit -> follow progress
//! -> download every output into a folder (never replacing a file, never a partial file under
//! its name; see [`crate::save`]).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_comfyui::{ComfyClient, ComfyError, Event, RunOptions, RunOutcome, UploadOptions};
use comfy_local_config::Config;
use comfy_local_workflow::{ApiPrompt, ObjectInfo, Workflow};
use serde::Serialize;

use crate::SdkError;
use crate::outputs::{WsImages, save_all};
use crate::save::OutDir;
use crate::workflow::{check, client_for, inventory, load_workflow, object_info_from, to_api};

/// What to run, where, with which inputs, and where outputs go.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The workflow file (UI or API format).
    pub workflow: Utf8PathBuf,
    /// Instance id; the first local instance when `None`.
    pub instance: Option<String>,
    /// `NAME=FILE` inputs: FILE is uploaded to ComfyUI's input/. NAME is either the file name
    /// the workflow loads (uploaded under that name) or the id of a loader node whose file input
    /// is pointed at the upload.
    pub inputs: Vec<InputSpec>,
    /// Where outputs are saved.
    pub out_dir: Utf8PathBuf,
    /// Also save previews (`PreviewImage`, history type `temp`), under `temp/` of `out_dir`.
    pub previews: bool,
    /// A prompt still running or queued after this long is interrupted (or removed from the
    /// queue) and the run fails with [`SdkError::TimedOut`]; `None` waits for ever.
    pub timeout: Option<Duration>,
}

/// One `--input NAME=FILE`.
#[derive(Debug, Clone)]
pub struct InputSpec {
    /// File name the workflow loads, or a loader node id.
    pub name: String,
    /// The local file.
    pub file: Utf8PathBuf,
}

impl InputSpec {
    /// Parses `NAME=FILE`.
    pub fn parse(spec: &str) -> Result<InputSpec, SdkError> {
        let bad = |reason: &str| SdkError::BadInput {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        let (name, file) = spec
            .split_once('=')
            .ok_or_else(|| bad("expected NAME=FILE"))?;
        if name.is_empty() || file.is_empty() {
            return Err(bad("expected NAME=FILE with both parts"));
        }
        Ok(InputSpec {
            name: name.to_owned(),
            file: file.into(),
        })
    }
}

/// Steps of a run as they happen, for a progress display.
#[derive(Debug)]
pub enum RunStep<'a> {
    /// The workflow is in API form with this many nodes.
    Prepared {
        /// Instance id.
        instance: &'a str,
        /// Node count.
        nodes: usize,
        /// Whether it was converted from the UI format.
        converted: bool,
    },
    /// An input file was uploaded.
    Uploaded {
        /// The name ComfyUI stored it under (with subfolder).
        name: &'a str,
        /// Its size.
        bytes: u64,
    },
    /// ComfyUI accepted the prompt.
    Submitted {
        /// The prompt id.
        prompt_id: &'a str,
    },
    /// A ComfyUI event of this prompt.
    Event(&'a Event),
    /// An output was saved.
    Saved {
        /// Where.
        path: &'a Utf8Path,
        /// Its size.
        bytes: u64,
    },
}

/// What a finished run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Instance id.
    pub instance: String,
    /// The prompt id.
    pub prompt_id: String,
    /// Saved output files.
    pub outputs: Vec<SavedOutput>,
    /// Completion was detected by polling history (the WebSocket was lost).
    pub used_polling: bool,
    /// Seconds from submit to completion.
    pub seconds: f64,
}

/// One saved output.
#[derive(Debug, Clone, Serialize)]
pub struct SavedOutput {
    /// The node that produced it.
    pub node: String,
    /// Output kind as history lists it (`images`, `gifs`, `audio`, ...), or `websocket` for
    /// an image an output node sent over the WebSocket (`SaveImageWebsocket`).
    pub kind: String,
    /// Where it was saved.
    pub path: Utf8PathBuf,
    /// Size in bytes.
    pub bytes: u64,
}

/// Lets another thread (a Ctrl-C handler) interrupt the running prompt on the server.
#[derive(Debug, Clone, Default)]
pub struct Interrupter {
    target: Arc<Mutex<Option<Armed>>>,
}

/// A sibling of the run's client (same credentials and tunnel) and the prompt id.
type Armed = (Arc<ComfyClient>, String);

impl Interrupter {
    /// A handle with nothing to interrupt yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn arm(&self, client: &ComfyClient, prompt_id: &str) {
        if let Ok(mut t) = self.target.lock() {
            *t = Some((Arc::new(client.sibling()), prompt_id.to_owned()));
        }
    }

    /// Asks ComfyUI to interrupt the prompt, if one is running. Returns the prompt id.
    pub fn interrupt(&self) -> Option<String> {
        let (client, prompt_id) = self.target.lock().ok()?.clone()?;
        client.interrupt(Some(&prompt_id)).ok()?;
        // Also drop it from the queue in case it had not started yet.
        let _ = client.delete_from_queue(&[prompt_id.as_str()]);
        Some(prompt_id)
    }
}

/// Runs a workflow; `on_step` sees every step (for progress bars or JSON lines).
pub fn run_workflow(
    config: &Config,
    req: &RunRequest,
    interrupter: &Interrupter,
    on_step: &mut dyn FnMut(RunStep<'_>),
) -> Result<RunSummary, SdkError> {
    let wf = load_workflow(&req.workflow)?;
    if let Ok(local) = crate::connection::instance_or_default(config, req.instance.as_deref()) {
        crate::switches::ensure_run_allowed(config, local, req.inputs.iter().map(|i| &i.file))?;
    }
    let target = client_for(config, req.instance.as_deref())?;
    let (instance, client) = (target.instance.clone(), &target.client);
    let object_info = object_info_from(client)?;
    let (mut prompt, object_info) = convert_or_report(client, &req.workflow, &wf, object_info)?;
    on_step(RunStep::Prepared {
        instance: &instance,
        nodes: prompt.len(),
        converted: matches!(wf, Workflow::Ui(_)),
    });
    let budget = crate::switches::output_budget(config, req.instance.as_deref());
    let ws = WsImages::new(&prompt, &object_info, budget.bytes());
    check_with_inputs(client, object_info, &prompt, &req.inputs)?;
    for input in &req.inputs {
        let uploaded = upload_input(client, &mut prompt, input)?;
        on_step(RunStep::Uploaded {
            name: &uploaded.0,
            bytes: uploaded.1,
        });
    }

    let out = OutDir::create(&req.out_dir)?;
    let (prompt_id, outcome, ws) =
        submit_and_follow(client, &prompt, ws, req.timeout, interrupter, on_step)?;
    let saved = save_all(
        client,
        &outcome.outputs,
        ws,
        &out,
        req.previews,
        &budget,
        on_step,
    );
    if saved.over_limit {
        return Err(SdkError::OutputLimit {
            prompt_id,
            key: budget.key,
            limit_mb: budget.limit_mb,
            saved: saved.saved.len(),
        });
    }
    if !saved.unsaved.is_empty() {
        return Err(SdkError::OutputsNotSaved {
            prompt_id,
            saved: saved.saved.len(),
            unsaved: saved.unsaved,
        });
    }
    Ok(RunSummary {
        instance,
        prompt_id,
        outputs: saved.saved,
        used_polling: outcome.used_polling,
        seconds: outcome.elapsed.as_secs_f64(),
    })
}

/// The API form of the workflow; when it cannot be converted (a UI workflow with node classes
/// the instance lacks), everything missing (models and inputs too) rather than only the classes.
fn convert_or_report(
    client: &ComfyClient,
    path: &Utf8Path,
    wf: &Workflow,
    object_info: ObjectInfo,
) -> Result<(ApiPrompt, ObjectInfo), SdkError> {
    match to_api(path, wf, &object_info) {
        Ok(prompt) => Ok((prompt, object_info)),
        Err(convert_error) => {
            let inventory = inventory(client, object_info)?;
            let report = check(wf, &inventory);
            if report.is_complete() {
                return Err(convert_error);
            }
            Err(SdkError::MissingDependencies {
                report: Box::new(report),
            })
        }
    }
}

/// The dependency check, before any upload: files given with --input count as present under the
/// name they will be uploaded as (uploads overwrite, so ComfyUI keeps that name).
fn check_with_inputs(
    client: &ComfyClient,
    object_info: ObjectInfo,
    prompt: &ApiPrompt,
    inputs: &[InputSpec],
) -> Result<(), SdkError> {
    let mut inventory = inventory(client, object_info)?;
    let mut checked = prompt.clone();
    for input in inputs {
        let name = planned_name(prompt, input)?;
        point_node_at(&mut checked, input, &name)?;
        inventory.input_files.push(name);
    }
    let report = check(&Workflow::Api(checked), &inventory);
    if !report.is_complete() {
        return Err(SdkError::MissingDependencies {
            report: Box::new(report),
        });
    }
    Ok(())
}

/// Submits the prompt (Ctrl-C from now on interrupts it on the server) and follows it to the
/// end, collecting the images output nodes send over the WebSocket.
fn submit_and_follow(
    client: &ComfyClient,
    prompt: &ApiPrompt,
    mut ws: WsImages,
    timeout: Option<Duration>,
    interrupter: &Interrupter,
    on_step: &mut dyn FnMut(RunStep<'_>),
) -> Result<(String, RunOutcome, WsImages), SdkError> {
    let mut options = RunOptions::default();
    if let Some(t) = timeout {
        options = options.timeout(t);
    }
    let run = client.run(prompt, options)?;
    let prompt_id = run.prompt_id().to_owned();
    interrupter.arm(client, &prompt_id);
    on_step(RunStep::Submitted {
        prompt_id: &prompt_id,
    });
    let result = run.wait_with(|event| {
        ws.observe(event);
        on_step(RunStep::Event(event));
    });
    match result {
        Ok(outcome) => Ok((prompt_id, outcome, ws)),
        Err(ComfyError::Interrupted { prompt_id, .. }) => Err(SdkError::Interrupted { prompt_id }),
        Err(ComfyError::RunTimeout { prompt_id, after }) => {
            let cleanup = stop_timed_out(client, &prompt_id);
            Err(SdkError::TimedOut {
                prompt_id,
                after,
                cleanup,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Stops a prompt that ran out of time: interrupted when running, removed when still queued.
/// Says what was done.
fn stop_timed_out(client: &ComfyClient, prompt_id: &str) -> String {
    let queue = match client.queue() {
        Ok(q) => q,
        Err(e) => return format!("the queue could not be read to stop it ({e})"),
    };
    let listed =
        |items: &[comfy_local_comfyui::QueueItem]| items.iter().any(|q| q.prompt_id == prompt_id);
    if listed(&queue.running) {
        match client.interrupt(Some(prompt_id)) {
            Ok(()) => "it was interrupted on the server".to_owned(),
            Err(e) => format!("interrupting it failed ({e})"),
        }
    } else if listed(&queue.pending) {
        match client.delete_from_queue(&[prompt_id]) {
            Ok(()) => "it was removed from the queue".to_owned(),
            Err(e) => format!("removing it from the queue failed ({e})"),
        }
    } else {
        "it is no longer queued or running".to_owned()
    }
}

/// Input names a loader node takes a file from.
const FILE_INPUTS: [&str; 4] = ["image", "audio", "video", "file"];

/// What NAME of `--input NAME=FILE` refers to in the prompt.
enum Target {
    /// A loader node id; its file input has this key.
    Node(String),
    /// A node id, but the node has no file input.
    NodeWithoutFileInput,
    /// Not a node id: a file name the workflow loads.
    FileName,
}

fn node_file_input(prompt: &ApiPrompt, input: &InputSpec) -> Target {
    let Some(node) = prompt.get(&input.name) else {
        return Target::FileName;
    };
    FILE_INPUTS
        .iter()
        .find(|k| {
            node.inputs
                .get(**k)
                .is_some_and(serde_json::Value::is_string)
        })
        .map_or(Target::NodeWithoutFileInput, |k| {
            Target::Node((*k).to_owned())
        })
}

fn bad_input(input: &InputSpec, reason: String) -> SdkError {
    SdkError::BadInput {
        spec: format!("{}={}", input.name, input.file),
        reason,
    }
}

/// The name in input/ the upload will have.
fn planned_name(prompt: &ApiPrompt, input: &InputSpec) -> Result<String, SdkError> {
    match node_file_input(prompt, input) {
        Target::Node(_) | Target::NodeWithoutFileInput => Ok(input
            .file
            .file_name()
            .ok_or_else(|| bad_input(input, "FILE has no file name".to_owned()))?
            .to_owned()),
        Target::FileName => Ok(input.name.clone()),
    }
}

/// When NAME is a loader node id, points its file input at `stored`; when NAME is a file name
/// and ComfyUI stored it under another name, points every use of NAME at `stored`.
fn point_node_at(prompt: &mut ApiPrompt, input: &InputSpec, stored: &str) -> Result<(), SdkError> {
    match node_file_input(prompt, input) {
        Target::Node(key) => {
            if let Some(node) = prompt.get_mut(&input.name) {
                node.inputs
                    .insert(key, serde_json::Value::String(stored.to_owned()));
            }
        }
        Target::NodeWithoutFileInput => {
            return Err(bad_input(
                input,
                format!(
                    "node {} has no file input ({})",
                    input.name,
                    FILE_INPUTS.join(", ")
                ),
            ));
        }
        Target::FileName if stored != input.name => {
            for node in prompt.values_mut() {
                for key in FILE_INPUTS {
                    if node.inputs.get(key).and_then(serde_json::Value::as_str)
                        == Some(input.name.as_str())
                    {
                        node.inputs
                            .insert(key.to_owned(), serde_json::Value::String(stored.to_owned()));
                    }
                }
            }
        }
        Target::FileName => {}
    }
    Ok(())
}

fn upload_input(
    client: &ComfyClient,
    prompt: &mut ApiPrompt,
    input: &InputSpec,
) -> Result<(String, u64), SdkError> {
    let upload_name = planned_name(prompt, input)?;
    let bytes = std::fs::read(&input.file).map_err(|source| SdkError::Io {
        op: "reading",
        path: input.file.clone(),
        source,
    })?;
    let uploaded = client.upload_image(
        &upload_name,
        &bytes,
        &UploadOptions::default().overwrite(true),
    )?;
    let stored = if uploaded.subfolder.is_empty() {
        uploaded.name.clone()
    } else {
        format!("{}/{}", uploaded.subfolder, uploaded.name)
    };
    point_node_at(prompt, input, &stored)?;
    Ok((stored, bytes.len() as u64))
}
