//! Running a workflow on an instance end to end: load (UI or API) -> object_info -> convert ->
//! dependency check (everything missing at once) -> upload inputs -> submit -> follow progress
//! -> download every output into a folder (never replacing a file, never a partial file under
//! its name; see [`crate::save`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_comfyui::{ComfyClient, ComfyError, Event, RunOptions, RunOutcome, UploadOptions};
use comfy_local_config::Config;
use comfy_local_workflow::{ApiPrompt, ObjectInfo, Workflow};
use serde::Serialize;
use serde_json::json;

use crate::SdkError;
use crate::outputs::{WsImages, save_all};
use crate::overrides::{Override, SeedSpec, SetSpec};
use crate::save::OutDir;
use crate::workflow::{
    check, client_for_resolved, inventory, load_workflow, object_info_from, to_api,
};

/// What to run, where, with which inputs, and where outputs go.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The workflow file (UI or API format).
    pub workflow: Utf8PathBuf,
    /// Instance id; the first local instance when `None`.
    pub instance: Option<String>,
    /// `NAME=FILE` inputs: FILE is uploaded to ComfyUI's input/. NAME is either a file name
    /// the workflow loads (uploaded under that name) or the id of a loader node (uploaded under
    /// FILE's name); NAME that is neither is refused. A file of that name with other content
    /// already in input/ is kept: ComfyUI stores the upload as `name (1).png`, and the nodes
    /// that load it are pointed at that name.
    pub inputs: Vec<InputSpec>,
    /// Where outputs are saved.
    pub out_dir: Utf8PathBuf,
    /// Also save previews (`PreviewImage`, history type `temp`), under `temp/` of `out_dir`.
    pub previews: bool,
    /// A prompt still running or queued after this long is interrupted (or removed from the
    /// queue) and the run fails with [`SdkError::TimedOut`]; `None` waits for ever.
    pub timeout: Option<Duration>,
    /// Follow the prompt to its end and save its outputs; `false` returns once ComfyUI has
    /// queued it (the summary then has its id and no outputs).
    pub wait: bool,
    /// `--set NODE_ID.input=VALUE` values, applied after conversion (after `seed`).
    pub sets: Vec<SetSpec>,
    /// `--seed`: every seed-like input of the prompt gets it.
    pub seed: Option<SeedSpec>,
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
    /// A `--set` or `--seed` changed a value of the prompt.
    Overridden(&'a Override),
    /// An input file was uploaded.
    Uploaded {
        /// The name ComfyUI stored it under (with subfolder).
        name: &'a str,
        /// Its size.
        bytes: u64,
    },
    /// `jobs watch` follows this prompt (submitted before).
    Watching {
        /// The prompt id.
        prompt_id: &'a str,
        /// Its execution events come live (a prompt comfy-local submitted); otherwise only its
        /// place in the queue and its end are seen.
        live_events: bool,
    },
    /// ComfyUI accepted the prompt.
    Submitted {
        /// The prompt id.
        prompt_id: &'a str,
    },
    /// The prompt waits in ComfyUI's queue (sent when its place changes, until it starts).
    Queued {
        /// Prompts that run before it: the running one and those pending ahead of it.
        ahead: usize,
    },
    /// A ComfyUI event of this prompt.
    Event(&'a Event),
    /// An output was saved.
    Saved {
        /// Where.
        path: &'a Utf8Path,
        /// Its size.
        bytes: u64,
        /// The node that produced it.
        node: &'a str,
        /// Output kind as history lists it (see [`SavedOutput::kind`]).
        kind: &'a str,
    },
}

impl RunStep<'_> {
    /// The step as one JSON object (`{"event": "saved", ...}`; ComfyUI events reduced to what a
    /// script needs), as `run --json` prints it and the Python bindings pass it to `on_event`;
    /// `None` for events that carry nothing for a script.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        Some(match self {
            RunStep::Prepared {
                instance,
                nodes,
                converted,
            } => {
                json!({"event": "prepared", "instance": instance, "nodes": nodes, "converted": converted})
            }
            RunStep::Overridden(o) => {
                json!({"event": "set", "node": o.node, "input": o.input, "value": o.value})
            }
            RunStep::Uploaded { name, bytes } => {
                json!({"event": "uploaded", "name": name, "bytes": bytes})
            }
            RunStep::Watching {
                prompt_id,
                live_events,
            } => json!({"event": "watching", "prompt_id": prompt_id, "live_events": live_events}),
            RunStep::Submitted { prompt_id } => {
                json!({"event": "submitted", "prompt_id": prompt_id})
            }
            RunStep::Queued { ahead } => json!({"event": "queued", "ahead": ahead}),
            RunStep::Saved { path, bytes, .. } => {
                json!({"event": "saved", "path": path, "bytes": bytes})
            }
            RunStep::Event(event) => match event {
                Event::ExecutionStart { .. } => json!({"event": "execution_start"}),
                Event::ExecutionCached { nodes, .. } => json!({"event": "cached", "nodes": nodes}),
                Event::Executing {
                    node: Some(node), ..
                } => json!({"event": "executing", "node": node}),
                Event::Progress {
                    node, value, max, ..
                } => {
                    json!({"event": "progress", "node": node, "value": value, "max": max})
                }
                Event::Executed { node, .. } => json!({"event": "executed", "node": node}),
                Event::ExecutionSuccess { .. } => json!({"event": "execution_success"}),
                Event::ExecutionError(e) => json!({
                    "event": "execution_error", "node": e.node_id, "node_type": e.node_type,
                    "exception_type": e.exception_type, "message": e.exception_message,
                }),
                Event::ExecutionInterrupted { .. } => json!({"event": "interrupted"}),
                Event::Stopping { removed_from_queue } => {
                    json!({"event": "stopping", "removed_from_queue": removed_from_queue})
                }
                _ => return None,
            },
        })
    }
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

/// Lets another thread (a Ctrl-C handler) stop the run's prompt on the server: removed from the
/// queue when it has not started, interrupted when it runs. One per run: once interrupted, it
/// stays so.
#[derive(Debug, Clone, Default)]
pub struct Interrupter {
    /// The run's cancel flag (see [`RunOptions::cancel`]).
    cancel: Arc<AtomicBool>,
    /// A prompt is being submitted or followed: the flag is acted on.
    armed: Arc<AtomicBool>,
}

impl Interrupter {
    /// A handle with nothing to interrupt yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop its prompt; it does so within [`comfy_local_comfyui::CANCEL_LATENCY`]
    /// and then fails with [`SdkError::Interrupted`]. Returns false when no prompt was submitted
    /// (yet, or any more): there is nothing on the server to stop, and the caller may just exit.
    pub fn interrupt(&self) -> bool {
        self.cancel.store(true, Ordering::SeqCst);
        self.armed.load(Ordering::SeqCst)
    }
}

/// Arms an [`Interrupter`] while a prompt is submitted and followed.
struct Armed<'a>(&'a Interrupter);

impl<'a> Armed<'a> {
    fn new(interrupter: &'a Interrupter) -> Self {
        interrupter.armed.store(true, Ordering::SeqCst);
        Armed(interrupter)
    }
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.0.armed.store(false, Ordering::SeqCst);
    }
}

/// Runs a workflow; `on_step` sees every step (for progress bars or JSON lines).
pub fn run_workflow(
    config: &Config,
    req: &RunRequest,
    interrupter: &Interrupter,
    on_step: &mut dyn FnMut(RunStep<'_>),
) -> Result<RunSummary, SdkError> {
    run_workflow_cached(
        config,
        req,
        interrupter,
        on_step,
        &ObjectInfoCache::default(),
        None,
    )
}

/// The instance's object_info, fetched once and then reused, for the jobs of a batch on one
/// instance (an instance with many custom nodes takes seconds to build it); cleared when
/// something was installed there.
#[derive(Debug, Default)]
pub(crate) struct ObjectInfoCache(std::sync::Mutex<Option<ObjectInfo>>);

impl ObjectInfoCache {
    pub(crate) fn get_or_fetch(&self, client: &ComfyClient) -> Result<ObjectInfo, SdkError> {
        let mut slot = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(info) = &*slot {
            return Ok(info.clone());
        }
        let info = object_info_from(client)?;
        *slot = Some(info.clone());
        Ok(info)
    }

    /// Forgets what was fetched (the next run fetches it again).
    pub(crate) fn clear(&self) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}

/// [`run_workflow`] taking the instance's object_info from `cache` and, when given, the
/// instance as already resolved (else `req.instance` is resolved now).
pub(crate) fn run_workflow_cached(
    config: &Config,
    req: &RunRequest,
    interrupter: &Interrupter,
    on_step: &mut dyn FnMut(RunStep<'_>),
    cache: &ObjectInfoCache,
    resolved: Option<&crate::connection::ResolvedInstance>,
) -> Result<RunSummary, SdkError> {
    let wf = load_workflow(&req.workflow)?;
    let resolved = match resolved {
        Some(resolved) => resolved.clone(),
        None => crate::connection::resolve_env(config, req.instance.as_deref())?,
    };
    crate::switches::ensure_run_allowed(&resolved, req.inputs.iter().map(|i| &i.file))?;
    let target = client_for_resolved(&resolved)?;
    let (instance, client) = (target.instance.clone(), &target.client);
    let object_info = cache.get_or_fetch(client)?;
    let (mut prompt, object_info) = convert_or_report(client, &req.workflow, &wf, object_info)?;
    on_step(RunStep::Prepared {
        instance: &instance,
        nodes: prompt.len(),
        converted: matches!(wf, Workflow::Ui(_)),
    });
    for applied in crate::overrides::apply(&mut prompt, &object_info, &req.sets, req.seed)? {
        on_step(RunStep::Overridden(&applied));
    }
    let budget = crate::switches::output_budget(&resolved);
    let ws = WsImages::new(&prompt, &object_info, budget.bytes());
    check_with_inputs(client, object_info, &prompt, &req.inputs)?;
    for input in &req.inputs {
        let uploaded = upload_input(client, &mut prompt, input)?;
        on_step(RunStep::Uploaded {
            name: &uploaded.0,
            bytes: uploaded.1,
        });
    }

    if !req.wait {
        let accepted = client.submit(&prompt, &comfy_local_comfyui::SubmitOptions::default())?;
        on_step(RunStep::Submitted {
            prompt_id: &accepted.prompt_id,
        });
        return Ok(RunSummary {
            instance,
            prompt_id: accepted.prompt_id,
            outputs: Vec::new(),
            used_polling: false,
            seconds: 0.0,
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
    let outputs = saved.into_outputs(&prompt_id, &budget)?;
    Ok(RunSummary {
        instance,
        prompt_id,
        outputs,
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

/// The dependency check, before any upload: each --input must name something the workflow loads,
/// and counts as present under the name it is uploaded as (the loader is pointed at the name
/// ComfyUI stores it under, which may differ when that name is taken).
fn check_with_inputs(
    client: &ComfyClient,
    object_info: ObjectInfo,
    prompt: &ApiPrompt,
    inputs: &[InputSpec],
) -> Result<(), SdkError> {
    for input in inputs {
        ensure_used(prompt, input)?;
    }
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

/// Submits the prompt (the interrupter stops it from now on) and follows it to the end,
/// collecting the images output nodes send over the WebSocket and reporting its place in the
/// queue until it starts.
fn submit_and_follow(
    client: &ComfyClient,
    prompt: &ApiPrompt,
    mut ws: WsImages,
    timeout: Option<Duration>,
    interrupter: &Interrupter,
    on_step: &mut dyn FnMut(RunStep<'_>),
) -> Result<(String, RunOutcome, WsImages), SdkError> {
    let mut options = RunOptions::default().cancel(interrupter.cancel.clone());
    if let Some(t) = timeout {
        options = options.timeout(t);
    }
    let _armed = Armed::new(interrupter);
    let run = client.run(prompt, options)?;
    let prompt_id = run.prompt_id().to_owned();
    on_step(RunStep::Submitted {
        prompt_id: &prompt_id,
    });
    let mut place = QueuePlace::new(&prompt_id);
    if let Some(ahead) = place.look(client) {
        on_step(RunStep::Queued { ahead });
    }
    let mut removed_from_queue = false;
    let result = run.wait_with(|event| {
        ws.observe(event);
        if let Event::Stopping {
            removed_from_queue: r,
        } = event
        {
            removed_from_queue = *r;
        }
        if let Some(ahead) = place.update(client, event) {
            on_step(RunStep::Queued { ahead });
        }
        on_step(RunStep::Event(event));
    });
    match result {
        Ok(outcome) => Ok((prompt_id, outcome, ws)),
        // Stopped by our interrupter (Ctrl-C); an interrupt from elsewhere (the editor,
        // `jobs cancel`) stays ComfyUI's error.
        Err(ComfyError::Interrupted { prompt_id, .. })
            if interrupter.cancel.load(Ordering::SeqCst) =>
        {
            Err(SdkError::Interrupted {
                prompt_id,
                removed_from_queue,
            })
        }
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

/// The prompt's place in the queue while it waits, read from `/queue` when the queue changes.
pub(crate) struct QueuePlace<'a> {
    prompt_id: &'a str,
    /// The prompt runs (or ran): its place no longer matters.
    started: bool,
    /// The last `queue_remaining` a `status` message announced.
    remaining: Option<u64>,
    /// The last place reported.
    shown: Option<usize>,
    /// When `/queue` was last read.
    looked: Option<Instant>,
}

/// `/queue` is read at most this often (a server may send `status` messages in a flood).
const QUEUE_LOOK_INTERVAL: Duration = Duration::from_millis(200);

impl<'a> QueuePlace<'a> {
    pub(crate) fn new(prompt_id: &'a str) -> Self {
        QueuePlace {
            prompt_id,
            started: false,
            remaining: None,
            shown: None,
            looked: None,
        }
    }

    /// A new place to report, when the event may have changed it.
    pub(crate) fn update(&mut self, client: &ComfyClient, event: &Event) -> Option<usize> {
        if self.started {
            return None;
        }
        if event.prompt_id() == Some(self.prompt_id) {
            self.started = true;
            return None;
        }
        match event {
            Event::Status {
                queue_remaining: Some(n),
                ..
            } if self.remaining != Some(*n) => {
                self.remaining = Some(*n);
                self.look(client)
            }
            _ => None,
        }
    }

    /// Reads the queue: the number of prompts before ours, when it changed.
    pub(crate) fn look(&mut self, client: &ComfyClient) -> Option<usize> {
        if self
            .looked
            .is_some_and(|t| t.elapsed() < QUEUE_LOOK_INTERVAL)
        {
            return None;
        }
        self.looked = Some(Instant::now());
        let queue = client.queue().ok()?;
        let ours = |q: &&comfy_local_comfyui::QueueItem| q.prompt_id == self.prompt_id;
        if queue.running.iter().any(|q| ours(&q)) {
            self.started = true;
            return None;
        }
        let number = queue.pending.iter().find(ours)?.number;
        let ahead =
            queue.running.len() + queue.pending.iter().filter(|q| q.number < number).count();
        (self.shown != Some(ahead)).then(|| {
            self.shown = Some(ahead);
            ahead
        })
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

/// The file names the workflow's loader nodes load, with the node ids (sorted by node id).
fn loaded_files(prompt: &ApiPrompt) -> Vec<(&str, &str)> {
    let mut loaded: Vec<(&str, &str)> = prompt
        .iter()
        .flat_map(|(id, node)| {
            FILE_INPUTS.iter().filter_map(move |k| {
                node.inputs
                    .get(*k)
                    .and_then(serde_json::Value::as_str)
                    .map(|file| (id.as_str(), file))
            })
        })
        .collect();
    loaded.sort_unstable();
    loaded
}

/// At most this many valid names are listed when an --input names nothing.
const LISTED_NAMES: usize = 20;

/// An --input whose NAME is neither a node id nor a file the workflow loads would be uploaded
/// and never used: refused, with the names that would work.
fn ensure_used(prompt: &ApiPrompt, input: &InputSpec) -> Result<(), SdkError> {
    if !matches!(node_file_input(prompt, input), Target::FileName) {
        return Ok(());
    }
    let loaded = loaded_files(prompt);
    if loaded.iter().any(|(_, file)| *file == input.name) {
        return Ok(());
    }
    let names: Vec<String> = loaded
        .iter()
        .map(|(id, file)| format!("{id} or {file:?}"))
        .collect();
    let valid = match names.len() {
        0 => "the workflow loads no file (no node has an image, audio, video or file input)"
            .to_owned(),
        n if n > LISTED_NAMES => format!(
            "valid NAMEs (a loader node id or the file it loads): {}, and {} more",
            names[..LISTED_NAMES].join(", "),
            n - LISTED_NAMES
        ),
        _ => format!(
            "valid NAMEs (a loader node id or the file it loads): {}",
            names.join(", ")
        ),
    };
    Err(bad_input(
        input,
        format!(
            "no node has id {:?} and the workflow loads no file of that name, so FILE would never be used; {valid}",
            input.name
        ),
    ))
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
    // Never replace a file of the host's input/: ComfyUI stores the upload under a free name
    // (`name (1).png`) when the name is taken by other content, and says which.
    let uploaded = client.upload_image(
        &upload_name,
        &bytes,
        &UploadOptions::default().overwrite(false),
    )?;
    let stored = if uploaded.subfolder.is_empty() {
        uploaded.name.clone()
    } else {
        format!("{}/{}", uploaded.subfolder, uploaded.name)
    };
    point_node_at(prompt, input, &stored)?;
    Ok((stored, bytes.len() as u64))
}
