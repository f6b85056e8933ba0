//! The prompts an instance's ComfyUI holds (its queue and its history, every client's): list
//! them, show one, follow one live to its end, cancel one (interrupted when it runs, removed
//! from the queue when it waits).

use std::time::Duration;

use comfy_local_comfyui::{
    ComfyClient, HistoryEntry, QueueItem, QueueState, RunOptions, RunOutcome,
};
use comfy_local_config::Config;
use serde::Serialize;
use serde_json::Value;

use crate::SdkError;
use crate::run::{QueuePlace, RunStep};
use crate::workflow::{ComfyTarget, client_for};

/// The `client_id` of every prompt comfy-local submits starts with this: `jobs` tells its own
/// prompts from other clients' by it.
pub const CLIENT_ID_PREFIX: &str = "comfy-local-";

/// Where a prompt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// ComfyUI runs it now.
    Running,
    /// It waits in the queue.
    Pending,
    /// It ended well (history `status_str: success`).
    Done,
    /// A node failed (history has an `execution_error`).
    Failed,
    /// It was interrupted (history has an `execution_interrupted`, or an error without one).
    Interrupted,
}

impl JobState {
    /// The word shown for it.
    pub fn word(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Pending => "pending",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Interrupted => "interrupted",
        }
    }

    /// It is in the queue (running or pending), not in history.
    pub fn is_queued(self) -> bool {
        matches!(self, JobState::Running | JobState::Pending)
    }
}

/// One prompt of the queue or history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub prompt_id: String,
    pub state: JobState,
    /// The number ComfyUI gave it when it was queued (it runs in this order).
    pub number: Option<i64>,
    /// Submitted by comfy-local (its `client_id` starts with [`CLIENT_ID_PREFIX`]).
    pub ours: bool,
    /// The `client_id` it was submitted with, when it has one.
    pub client_id: Option<String>,
    /// Nodes in the prompt.
    pub nodes: usize,
    /// Pending: the prompts that run before it (the running one and those queued ahead).
    pub ahead: Option<usize>,
    /// Files history lists as its outputs.
    pub outputs: usize,
    /// Failed or interrupted: where and why.
    pub error: Option<String>,
}

/// What an instance's queue and history hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobList {
    /// Instance id.
    pub instance: String,
    /// Running first, then pending in queue order, then history, newest first.
    pub jobs: Vec<Job>,
}

/// One output file history lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobFile {
    /// The node that produced it.
    pub node: String,
    /// `images`, `gifs`, `audio`, ...
    pub kind: String,
    pub filename: String,
    pub subfolder: String,
    /// `output`, `temp` or `input`.
    #[serde(rename = "type")]
    pub folder: String,
}

/// One node of the prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobNode {
    pub id: String,
    pub class_type: String,
}

/// Everything `jobs show` says about one prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobDetail {
    /// Instance id.
    pub instance: String,
    #[serde(flatten)]
    pub job: Job,
    /// Its nodes, in the prompt's order.
    pub node_list: Vec<JobNode>,
    /// Its output files (history only).
    pub files: Vec<JobFile>,
    /// Nodes ComfyUI took from its cache (history only).
    pub cached: Vec<String>,
    /// From `execution_start` to its end, when history has both.
    pub seconds: Option<f64>,
}

/// How many history entries `jobs` lists by default.
pub const DEFAULT_HISTORY: u32 = 20;

/// The prompts an instance holds: its queue (running, pending) and its last `max_history`
/// history entries (every one when `None`).
pub fn list_jobs(
    config: &Config,
    instance: Option<&str>,
    max_history: Option<u32>,
) -> Result<JobList, SdkError> {
    let target = client_for(config, instance)?;
    let queue = target.client.queue()?;
    let mut jobs = queued_jobs(&queue);
    // No history wanted: none is asked for.
    let mut history = match max_history {
        Some(0) => Vec::new(),
        n => target.client.history_list(n)?,
    };
    history.sort_by_key(|h| std::cmp::Reverse(h.number));
    jobs.extend(
        history
            .iter()
            .filter(|h| !jobs.iter().any(|j| j.prompt_id == h.prompt_id))
            .map(history_job)
            .collect::<Vec<_>>(),
    );
    Ok(JobList {
        instance: target.instance,
        jobs,
    })
}

/// One prompt by id, from the queue or history.
pub fn show_job(
    config: &Config,
    instance: Option<&str>,
    prompt_id: &str,
) -> Result<JobDetail, SdkError> {
    let target = client_for(config, instance)?;
    match find(&target, prompt_id)? {
        Found::Queued(job, item) => Ok(JobDetail {
            instance: target.instance,
            job,
            node_list: node_list(&item.prompt),
            files: Vec::new(),
            cached: Vec::new(),
            seconds: None,
        }),
        Found::History(entry) => Ok(JobDetail {
            instance: target.instance,
            job: history_job(&entry),
            node_list: node_list(&entry.prompt),
            files: files(&entry),
            cached: message(&entry, "execution_cached")
                .and_then(|d| d.get("nodes"))
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            seconds: seconds(&entry),
        }),
    }
}

/// What `jobs cancel` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelAction {
    /// It ran: ComfyUI was asked to interrupt it (it stops at its next node boundary or
    /// progress check).
    Interrupted,
    /// It waited: it was removed from the queue.
    RemovedFromQueue,
}

/// The outcome of `jobs cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CancelOutcome {
    pub instance: String,
    pub prompt_id: String,
    pub action: CancelAction,
}

/// Stops a prompt: `POST /interrupt {"prompt_id"}` when it runs, `POST /queue {"delete": [id]}`
/// when it waits (and the interrupt when it started in between). A prompt in history only is
/// [`SdkError::JobState`]; one the instance does not know is [`SdkError::UnknownJob`].
pub fn cancel_job(
    config: &Config,
    instance: Option<&str>,
    prompt_id: &str,
) -> Result<CancelOutcome, SdkError> {
    let target = client_for(config, instance)?;
    let client = &target.client;
    let done = |action| CancelOutcome {
        instance: target.instance.clone(),
        prompt_id: prompt_id.to_owned(),
        action,
    };
    let state = match find(&target, prompt_id)? {
        Found::Queued(job, _) => job.state,
        Found::History(entry) => {
            return Err(SdkError::JobState {
                prompt_id: prompt_id.to_owned(),
                state: history_state(&entry).word().to_owned(),
                what: "it has ended: there is nothing to cancel".to_owned(),
            });
        }
    };
    if state == JobState::Pending {
        client.delete_from_queue(&[prompt_id])?;
        let queue = client.queue()?;
        if !listed(&queue.running, prompt_id) {
            return Ok(done(CancelAction::RemovedFromQueue));
        }
    }
    client.interrupt(Some(prompt_id))?;
    Ok(done(CancelAction::Interrupted))
}

/// How `jobs watch` ended well.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchSummary {
    pub instance: String,
    pub prompt_id: String,
    pub state: JobState,
    /// Files history lists as its outputs (`download` saves them).
    pub outputs: usize,
    /// The end was seen by polling history (no live events: another client's prompt, or the
    /// WebSocket was lost).
    pub used_polling: bool,
    /// Seconds from the start of watching to the end.
    pub seconds: f64,
}

/// Follows a prompt to its end, handing every step to `on_step` as [`crate::run_workflow`]
/// does: its place in the queue while it waits, then (for a prompt comfy-local submitted)
/// each node's progress, live. ComfyUI sends a prompt's execution events only to the WebSocket
/// of the client that submitted it, so a prompt of ours is followed on a socket with its
/// `client_id` (a `run` still following it then finishes by reading history); another
/// client's prompt is followed by its queue place and history only, and the socket it is
/// shown on is never taken over. A prompt that ended already returns at once. A failed or
/// interrupted prompt is an error ([`comfy_local_comfyui::ComfyError::ExecutionFailed`],
/// [`comfy_local_comfyui::ComfyError::Interrupted`]).
pub fn watch_job(
    config: &Config,
    instance: Option<&str>,
    prompt_id: &str,
    on_step: &mut dyn FnMut(RunStep<'_>),
) -> Result<WatchSummary, SdkError> {
    let target = client_for(config, instance)?;
    let client = &target.client;
    let (client_id, ours) = match find(&target, prompt_id)? {
        Found::Queued(job, _) => (job.client_id, job.ours),
        Found::History(entry) => {
            let client_id = client_id_of(&entry.extra_data);
            let ours = client_id
                .as_deref()
                .is_some_and(|c| c.starts_with(CLIENT_ID_PREFIX));
            (client_id, ours)
        }
    };
    let live = ours && client_id.is_some();
    on_step(RunStep::Watching {
        prompt_id,
        live_events: live,
    });
    let mut options = RunOptions::default();
    if !live {
        // No events come for it: look at history often.
        options = options.idle_history_check(Duration::from_millis(500));
    }
    let run = client.follow(prompt_id, client_id.as_deref().filter(|_| live), options);
    let mut place = QueuePlace::new(prompt_id);
    if let Some(ahead) = place.look(client) {
        on_step(RunStep::Queued { ahead });
    }
    let outcome: RunOutcome = run.wait_with(|event| {
        if let Some(ahead) = place.update(client, event) {
            on_step(RunStep::Queued { ahead });
        }
        on_step(RunStep::Event(event));
    })?;
    Ok(WatchSummary {
        instance: target.instance,
        prompt_id: prompt_id.to_owned(),
        state: JobState::Done,
        outputs: outcome
            .outputs
            .values()
            .map(|o| o.all_files().count())
            .sum(),
        used_polling: outcome.used_polling || !live,
        seconds: outcome.elapsed.as_secs_f64(),
    })
}

/// A prompt looked up by id.
pub(crate) enum Found {
    /// In the queue: the job and its queue item.
    Queued(Job, QueueItem),
    /// In history.
    History(HistoryEntry),
}

/// Looks `prompt_id` up in the queue, then in history.
pub(crate) fn find(target: &ComfyTarget, prompt_id: &str) -> Result<Found, SdkError> {
    let client: &ComfyClient = &target.client;
    let queue = client.queue()?;
    if let Some(job) = queued_jobs(&queue)
        .into_iter()
        .find(|j| j.prompt_id == prompt_id)
    {
        let item = queue
            .running
            .iter()
            .chain(&queue.pending)
            .find(|q| q.prompt_id == prompt_id)
            .cloned()
            .ok_or_else(|| unknown(target, prompt_id))?;
        return Ok(Found::Queued(job, item));
    }
    match client.history(prompt_id) {
        Ok(Some(entry)) => Ok(Found::History(entry)),
        Ok(None) => Err(unknown(target, prompt_id)),
        Err(e) => Err(e.into()),
    }
}

fn unknown(target: &ComfyTarget, prompt_id: &str) -> SdkError {
    SdkError::UnknownJob {
        prompt_id: prompt_id.to_owned(),
        instance: target.instance.clone(),
    }
}

fn listed(items: &[QueueItem], prompt_id: &str) -> bool {
    items.iter().any(|q| q.prompt_id == prompt_id)
}

fn client_id_of(extra_data: &Value) -> Option<String> {
    extra_data
        .get("client_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn nodes_in(prompt: &Value) -> usize {
    prompt.as_object().map_or(0, serde_json::Map::len)
}

/// The running and pending prompts, in the order they run.
fn queued_jobs(queue: &QueueState) -> Vec<Job> {
    let mut pending: Vec<&QueueItem> = queue.pending.iter().collect();
    pending.sort_by_key(|q| q.number);
    let job = |q: &QueueItem, state, ahead| {
        let client_id = client_id_of(&q.extra_data);
        Job {
            prompt_id: q.prompt_id.clone(),
            state,
            number: Some(q.number),
            ours: client_id
                .as_deref()
                .is_some_and(|c| c.starts_with(CLIENT_ID_PREFIX)),
            client_id,
            nodes: nodes_in(&q.prompt),
            ahead,
            outputs: 0,
            error: None,
        }
    };
    let running = queue.running.len();
    queue
        .running
        .iter()
        .map(|q| job(q, JobState::Running, None))
        .chain(
            pending
                .iter()
                .enumerate()
                .map(|(i, q)| job(q, JobState::Pending, Some(running + i))),
        )
        .collect()
}

fn message<'e>(entry: &'e HistoryEntry, name: &str) -> Option<&'e Value> {
    entry
        .status
        .messages
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, d)| d)
}

pub(crate) fn history_state(entry: &HistoryEntry) -> JobState {
    if entry.execution_error().is_some() {
        JobState::Failed
    } else if entry.interruption().is_some() || entry.status.status_str == "error" {
        JobState::Interrupted
    } else {
        JobState::Done
    }
}

fn history_job(entry: &HistoryEntry) -> Job {
    let client_id = client_id_of(&entry.extra_data);
    let state = history_state(entry);
    let error = match state {
        JobState::Failed => entry.execution_error().map(|e| {
            format!(
                "node {} ({}): {}",
                e.node_id,
                e.node_type,
                e.exception_message.trim()
            )
        }),
        JobState::Interrupted => Some(entry.interruption().map_or_else(
            || "interrupted".to_owned(),
            |d| {
                let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("?");
                format!("interrupted at node {} ({})", s("node_id"), s("node_type"))
            },
        )),
        _ => None,
    };
    Job {
        prompt_id: entry.prompt_id.clone(),
        state,
        number: entry.number,
        ours: client_id
            .as_deref()
            .is_some_and(|c| c.starts_with(CLIENT_ID_PREFIX)),
        client_id,
        nodes: nodes_in(&entry.prompt),
        ahead: None,
        outputs: entry.outputs.values().map(|o| o.all_files().count()).sum(),
        error,
    }
}

fn node_list(prompt: &Value) -> Vec<JobNode> {
    let Some(map) = prompt.as_object() else {
        return Vec::new();
    };
    let mut nodes: Vec<JobNode> = map
        .iter()
        .map(|(id, node)| JobNode {
            id: id.clone(),
            class_type: node
                .get("class_type")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned(),
        })
        .collect();
    nodes.sort_by(|a, b| match (a.id.parse::<u64>(), b.id.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.id.cmp(&b.id),
    });
    nodes
}

fn files(entry: &HistoryEntry) -> Vec<JobFile> {
    entry
        .outputs
        .iter()
        .flat_map(|(node, out)| {
            out.files.iter().flat_map(move |(kind, files)| {
                files.iter().map(move |f| JobFile {
                    node: node.clone(),
                    kind: kind.clone(),
                    filename: f.filename.clone(),
                    subfolder: f.subfolder.clone(),
                    folder: f.kind.clone(),
                })
            })
        })
        .collect()
}

/// From `execution_start` to the message that ended it, in seconds (timestamps are ms).
fn seconds(entry: &HistoryEntry) -> Option<f64> {
    let at = |name: &str| message(entry, name)?.get("timestamp")?.as_u64();
    let start = at("execution_start")?;
    let end = [
        "execution_success",
        "execution_error",
        "execution_interrupted",
    ]
    .iter()
    .find_map(|n| at(n))?;
    #[expect(clippy::cast_precision_loss, reason = "milliseconds of one prompt")]
    Some(end.saturating_sub(start) as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(name: &str) -> Value {
        let path = format!(
            "{}/../../fixtures/comfyui/recorded/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        v["response"]["body"].clone()
    }

    fn entry(name: &str) -> HistoryEntry {
        let body = recorded(name);
        let (id, v) = body.as_object().unwrap().iter().next().unwrap();
        parse_entry(id, v)
    }

    fn parse_entry(id: &str, v: &Value) -> HistoryEntry {
        // The client parses history answers: serve the recorded body to it once.
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let body = serde_json::json!({ id: v }).to_string();
        let t = std::thread::spawn(move || {
            let req = server.recv().unwrap();
            let _ = req.respond(tiny_http::Response::from_string(body));
        });
        let client = ComfyClient::with_options(
            &format!("http://127.0.0.1:{port}"),
            comfy_local_comfyui::ClientOptions::default()
                .api_prefix(comfy_local_comfyui::ApiPrefix::Root),
        )
        .unwrap();
        let e = client.history(id).unwrap().unwrap();
        t.join().unwrap();
        e
    }

    #[test]
    fn recorded_history_entries_get_their_state_and_error() {
        let done = history_job(&entry("get_history_prompt_id.json"));
        assert_eq!(
            (done.state, done.outputs, done.error),
            (JobState::Done, 1, None)
        );
        assert!(!done.ours, "the recording's client id is a plain UUID");
        let failed = history_job(&entry("get_history_execution_error.json"));
        assert_eq!(failed.state, JobState::Failed);
        assert!(
            failed
                .error
                .as_deref()
                .unwrap()
                .starts_with("node 3 (SaveImage): **** ERROR: Saving image outside"),
            "{:?}",
            failed.error
        );
        let stopped = history_job(&entry("get_history_interrupted.json"));
        assert_eq!(stopped.state, JobState::Interrupted);
        assert_eq!(
            stopped.error.as_deref(),
            Some("interrupted at node 4 (ImageBlur)")
        );
        let e = entry("get_history_prompt_id.json");
        assert!(seconds(&e).is_some_and(|s| (s - 0.006).abs() < 1e-9));
    }

    #[test]
    fn the_recorded_busy_queue_lists_running_then_pending_with_their_place() {
        let body = recorded("get_queue_busy.json");
        let item = |v: &Value| {
            let a = v.as_array().unwrap();
            QueueItem {
                number: a[0].as_i64().unwrap(),
                prompt_id: a[1].as_str().unwrap().to_owned(),
                prompt: a[2].clone(),
                extra_data: a[3].clone(),
                outputs_to_execute: Vec::new(),
            }
        };
        let list = |k: &str| body[k].as_array().unwrap().iter().map(item).collect();
        let queue = QueueState {
            running: list("queue_running"),
            pending: list("queue_pending"),
        };
        let jobs = queued_jobs(&queue);
        let seen: Vec<(JobState, Option<usize>, Option<i64>)> =
            jobs.iter().map(|j| (j.state, j.ahead, j.number)).collect();
        assert_eq!(
            seen,
            [
                (JobState::Running, None, Some(5)),
                (JobState::Pending, Some(1), Some(6)),
                (JobState::Pending, Some(2), Some(7)),
            ]
        );
        assert!(jobs.iter().all(|j| j.nodes > 1 && !j.ours));
    }
}
