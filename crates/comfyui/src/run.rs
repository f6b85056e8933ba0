//! Following one prompt to its end: submit -> typed events -> final outputs.
//!
//! Events come from the client's WebSocket (same `clientId` as the prompt). A broken socket is
//! re-opened with the same id; when that fails for good, completion is detected by polling
//! `/history/{id}` (and `/queue`, to notice a prompt the server forgot). History is also checked
//! after a reconnect and whenever the socket stays silent, so missed events never hang a run.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::{ComfyClient, SubmitOptions};
use crate::error::{ComfyError, chain};
use crate::events::Event;
use crate::types::{HistoryEntry, Outputs, PromptAccepted};
use crate::ws::EventSocket;

/// Options of [`ComfyClient::run`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunOptions {
    pub submit: SubmitOptions,
    /// Give up (with [`ComfyError::RunTimeout`]) after this long; `None` waits for ever.
    pub timeout: Option<Duration>,
    /// History poll interval once the WebSocket is gone.
    pub poll_interval: Duration,
    /// Reconnect attempts after the socket breaks, before falling back to polling.
    pub reconnect_attempts: u32,
    /// Delay before the first reconnect attempt (doubles each attempt).
    pub reconnect_delay: Duration,
    /// Check history when the socket has been silent this long; also how often a missing
    /// prompt is looked up in the queue (to notice a server that forgot it).
    pub idle_history_check: Duration,
    /// Surface binary preview frames as [`Event::Preview`] (otherwise they are skipped).
    pub previews: bool,
    /// While polling, give up (with the last transport error) after the server has not answered
    /// for this long.
    pub unreachable_timeout: Duration,
    /// While polling, try to re-open the WebSocket this often.
    pub ws_retry_interval: Duration,
    /// Set from any thread (a Ctrl-C handler) to stop the prompt: within about
    /// [`CANCEL_LATENCY`] it is removed from the queue when it has not started (the run then ends
    /// with [`ComfyError::Interrupted`] at once), or interrupted on the server when it runs (the
    /// run ends when ComfyUI reports the interruption). [`Event::Stopping`] says which.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// How long a run may take to notice its [`RunOptions::cancel`] flag.
pub const CANCEL_LATENCY: Duration = Duration::from_millis(100);

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            submit: SubmitOptions::default(),
            timeout: None,
            poll_interval: Duration::from_millis(250),
            reconnect_attempts: 3,
            reconnect_delay: Duration::from_millis(100),
            idle_history_check: Duration::from_secs(2),
            previews: true,
            unreachable_timeout: Duration::from_secs(120),
            ws_retry_interval: Duration::from_secs(10),
            cancel: None,
        }
    }
}

impl RunOptions {
    pub fn submit(mut self, v: SubmitOptions) -> Self {
        self.submit = v;
        self
    }
    pub fn timeout(mut self, v: Duration) -> Self {
        self.timeout = Some(v);
        self
    }
    pub fn poll_interval(mut self, v: Duration) -> Self {
        self.poll_interval = v;
        self
    }
    pub fn reconnect_attempts(mut self, v: u32) -> Self {
        self.reconnect_attempts = v;
        self
    }
    pub fn reconnect_delay(mut self, v: Duration) -> Self {
        self.reconnect_delay = v;
        self
    }
    pub fn idle_history_check(mut self, v: Duration) -> Self {
        self.idle_history_check = v;
        self
    }
    pub fn previews(mut self, v: bool) -> Self {
        self.previews = v;
        self
    }
    pub fn unreachable_timeout(mut self, v: Duration) -> Self {
        self.unreachable_timeout = v;
        self
    }
    pub fn ws_retry_interval(mut self, v: Duration) -> Self {
        self.ws_retry_interval = v;
        self
    }
    pub fn cancel(mut self, v: Arc<AtomicBool>) -> Self {
        self.cancel = Some(v);
        self
    }
}

/// How a finished run ended well.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub prompt_id: String,
    /// Outputs per node: what `executed` events reported when the WebSocket saw the whole run,
    /// otherwise history's outputs (completed with any `executed` outputs seen).
    pub outputs: Outputs,
    /// Errors of output nodes the server dropped at submit time (usually empty).
    pub node_errors: Vec<crate::NodeError>,
    /// Completion was detected by polling history, not by the WebSocket.
    pub used_polling: bool,
    /// From submit to completion detected.
    pub elapsed: Duration,
}

/// A submitted prompt being followed. Iterate for events, then call [`Run::finish`].
///
/// ```no_run
/// # fn demo(client: &comfy_local_comfyui::ComfyClient, prompt: &serde_json::Value) -> Result<(), comfy_local_comfyui::ComfyError> {
/// let mut run = client.run(prompt, Default::default())?;
/// for event in &mut run {
///     let _ = event; // progress display
/// }
/// let outcome = run.finish()?;
/// # let _ = outcome; Ok(()) }
/// ```
#[derive(Debug)]
pub struct Run<'c> {
    client: &'c ComfyClient,
    /// The `clientId` of this run's socket and prompt.
    ws_client_id: String,
    /// This run uses the client's own id and socket slot.
    owns_slot: bool,
    accepted: PromptAccepted,
    opts: RunOptions,
    socket: Option<EventSocket>,
    polling: bool,
    started: Instant,
    last_activity: Instant,
    /// Last time the server answered an HTTP call of this run.
    last_http_ok: Instant,
    /// Last attempt to re-open the WebSocket while polling.
    last_ws_retry: Instant,
    /// Last time the queue was asked whether the prompt still exists.
    last_lost_check: Instant,
    pending: VecDeque<Event>,
    ws_outputs: Outputs,
    success_seen: bool,
    /// The socket was open from before submit without a break: `executed` events are complete.
    ws_saw_everything: bool,
    /// The cancel flag was seen and acted on.
    cancelled: bool,
    result: Option<Result<RunOutcome, ComfyError>>,
}

impl<'c> Run<'c> {
    pub(crate) fn start(
        client: &'c ComfyClient,
        prompt: &impl serde::Serialize,
        opts: RunOptions,
    ) -> Result<Self, ComfyError> {
        let mut pending = VecDeque::new();
        // The client's socket and id, unless another run uses them: then a socket of our own.
        let (owns_slot, cached) = match client.socket.lock() {
            Ok(mut slot) if !slot.in_use => {
                slot.in_use = true;
                (true, slot.socket.take())
            }
            _ => (false, None),
        };
        let ws_client_id = if owns_slot {
            client.client_id().to_owned()
        } else {
            format!("{}-{}", client.client_id(), uuid::Uuid::new_v4().simple())
        };
        // The socket is opened before submitting so no event of this prompt can be missed.
        let socket = match cached {
            Some(s) => Some(s),
            None => match EventSocket::connect(client, &ws_client_id) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::debug!(error = %chain(&e), "WebSocket unavailable, following the prompt by polling history");
                    pending.push_back(Event::SocketLost { reason: chain(&e) });
                    pending.push_back(Event::PollingFallback);
                    None
                }
            },
        };
        let started = Instant::now();
        let accepted = match client.submit_as(prompt, &opts.submit, &ws_client_id) {
            Ok(a) => a,
            Err(e) => {
                release(client, owns_slot, socket);
                return Err(e);
            }
        };
        let have_socket = socket.is_some();
        Ok(Self {
            client,
            ws_client_id,
            owns_slot,
            accepted,
            polling: !have_socket,
            socket,
            opts,
            started,
            last_activity: started,
            last_http_ok: started,
            last_ws_retry: started,
            last_lost_check: started,
            pending,
            ws_outputs: Outputs::new(),
            success_seen: false,
            ws_saw_everything: have_socket,
            cancelled: false,
            result: None,
        })
    }

    /// Follows a prompt submitted before (by this process or another): events come from a
    /// WebSocket opened with `client_id` (the prompt's own `client_id`, which ComfyUI sends its
    /// execution events to; a socket with that id already open stops receiving them), or with
    /// a fresh id when `None` (then only `status` messages come, and the end is seen in
    /// history). History is read at once, so a prompt that already ended ends the run at once.
    pub(crate) fn follow(
        client: &'c ComfyClient,
        prompt_id: &str,
        client_id: Option<&str>,
        opts: RunOptions,
    ) -> Self {
        let ws_client_id = client_id.map_or_else(
            || format!("{}-{}", client.client_id(), uuid::Uuid::new_v4().simple()),
            str::to_owned,
        );
        let mut pending = VecDeque::new();
        let socket = match EventSocket::connect(client, &ws_client_id) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::debug!(error = %chain(&e), "WebSocket unavailable, following the prompt by polling history");
                pending.push_back(Event::SocketLost { reason: chain(&e) });
                pending.push_back(Event::PollingFallback);
                None
            }
        };
        let started = Instant::now();
        let have_socket = socket.is_some();
        let mut run = Self {
            client,
            ws_client_id,
            owns_slot: false,
            accepted: PromptAccepted {
                prompt_id: prompt_id.to_owned(),
                number: 0,
                node_errors: Vec::new(),
            },
            polling: !have_socket,
            socket,
            opts,
            started,
            last_activity: started,
            last_http_ok: started,
            last_ws_retry: started,
            last_lost_check: started,
            pending,
            ws_outputs: Outputs::new(),
            success_seen: false,
            // Joined late: the outputs come from history.
            ws_saw_everything: false,
            cancelled: false,
            result: None,
        };
        // A prompt the queue and history do not know ends the run at once too.
        if let Some(t) = started.checked_sub(run.opts.idle_history_check) {
            run.last_lost_check = t;
        }
        run.check_history(true);
        run
    }

    pub fn prompt_id(&self) -> &str {
        &self.accepted.prompt_id
    }

    /// What `POST /prompt` answered.
    pub fn accepted(&self) -> &PromptAccepted {
        &self.accepted
    }

    /// Waits for the end (discarding events) and returns the outcome.
    pub fn finish(mut self) -> Result<RunOutcome, ComfyError> {
        while self.next().is_some() {}
        self.take_result()
    }

    /// Waits for the end, handing every event to `on_event`.
    pub fn wait_with(mut self, mut on_event: impl FnMut(&Event)) -> Result<RunOutcome, ComfyError> {
        for ev in self.by_ref() {
            on_event(&ev);
        }
        self.take_result()
    }

    fn take_result(&mut self) -> Result<RunOutcome, ComfyError> {
        self.result.take().unwrap_or_else(|| {
            Err(ComfyError::PromptLost {
                prompt_id: self.accepted.prompt_id.clone(),
                url: self.client.base_url().to_owned(),
            })
        })
    }

    fn ours(&self, ev: &Event) -> bool {
        ev.prompt_id() == Some(self.accepted.prompt_id.as_str())
    }

    fn deadline_left(&self) -> Option<Duration> {
        self.opts
            .timeout
            .map(|t| t.saturating_sub(self.started.elapsed()))
    }

    fn finish_ok(&mut self, entry: Option<HistoryEntry>) {
        let mut outputs = entry.map(|e| e.outputs).unwrap_or_default();
        for (node, out) in std::mem::take(&mut self.ws_outputs) {
            outputs.entry(node).or_insert(out);
        }
        self.result = Some(Ok(RunOutcome {
            prompt_id: self.accepted.prompt_id.clone(),
            outputs,
            node_errors: self.accepted.node_errors.clone(),
            used_polling: self.polling,
            elapsed: self.started.elapsed(),
        }));
    }

    /// Applies a history entry; returns true when the run is decided.
    fn apply_history(&mut self, entry: HistoryEntry) -> bool {
        let prompt_id = self.accepted.prompt_id.clone();
        if let Some(error) = entry.execution_error() {
            self.result = Some(Err(ComfyError::ExecutionFailed {
                prompt_id,
                error: Box::new(error),
            }));
            return true;
        }
        if let Some(data) = entry.interruption() {
            let s = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_owned);
            self.result = Some(Err(ComfyError::Interrupted {
                prompt_id,
                node_id: s("node_id"),
                node_type: s("node_type"),
            }));
            return true;
        }
        if entry.status.status_str == "error" {
            self.result = Some(Err(ComfyError::Interrupted {
                prompt_id,
                node_id: None,
                node_type: None,
            }));
            return true;
        }
        self.finish_ok(Some(entry));
        true
    }

    /// One history look-up; true when the run is decided. `strict` turns errors into the result.
    fn check_history(&mut self, strict: bool) -> bool {
        match self.client.history(&self.accepted.prompt_id) {
            Ok(Some(entry)) => {
                self.last_http_ok = Instant::now();
                self.apply_history(entry)
            }
            Ok(None) => {
                self.last_http_ok = Instant::now();
                // The queue is consulted now and then, not on every poll.
                if strict && self.last_lost_check.elapsed() >= self.opts.idle_history_check {
                    self.last_lost_check = Instant::now();
                    return self.check_lost();
                }
                false
            }
            Err(e) => {
                let transient =
                    matches!(e, ComfyError::Transport { .. } | ComfyError::Timeout { .. });
                if strict
                    && (!transient || self.last_http_ok.elapsed() >= self.opts.unreachable_timeout)
                {
                    self.result = Some(Err(e));
                    return true;
                }
                tracing::debug!(error = %chain(&e), "history check failed; will retry");
                false
            }
        }
    }

    /// When history has nothing, a prompt that is neither running nor pending is lost (or just finished).
    fn check_lost(&mut self) -> bool {
        let Ok(queue) = self.client.queue() else {
            return false;
        };
        let id = &self.accepted.prompt_id;
        if queue
            .running
            .iter()
            .chain(&queue.pending)
            .any(|q| &q.prompt_id == id)
        {
            return false;
        }
        match self.client.history(id) {
            Ok(Some(entry)) => self.apply_history(entry),
            Ok(None) if self.cancelled => {
                self.result = Some(Err(self.interrupted()));
                true
            }
            Ok(None) => {
                self.result = Some(Err(ComfyError::PromptLost {
                    prompt_id: id.clone(),
                    url: self.client.base_url().to_owned(),
                }));
                true
            }
            Err(_) => false,
        }
    }

    /// The error of a prompt stopped before it ran a node.
    fn interrupted(&self) -> ComfyError {
        ComfyError::Interrupted {
            prompt_id: self.accepted.prompt_id.clone(),
            node_id: None,
            node_type: None,
        }
    }

    /// Whether the cancel flag is set and not acted on yet.
    fn cancel_requested(&self) -> bool {
        !self.cancelled
            && self
                .opts
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(Ordering::SeqCst))
    }

    /// Acts on the cancel flag: removes the prompt from the queue (it may not have started) and
    /// asks ComfyUI to interrupt it (it may be running); each request does nothing otherwise,
    /// and making both closes the race of a prompt that starts in between. Then the queue says
    /// which it was.
    fn stop(&mut self) {
        self.cancelled = true;
        let id = self.accepted.prompt_id.clone();
        if let Err(e) = self.client.delete_from_queue(&[id.as_str()]) {
            tracing::debug!(error = %chain(&e), "removing the prompt from the queue failed");
        }
        if let Err(e) = self.client.interrupt(Some(&id)) {
            tracing::debug!(error = %chain(&e), "interrupting the prompt failed");
        }
        let listed = |items: &[crate::QueueItem]| items.iter().any(|q| q.prompt_id == id);
        match self.client.queue() {
            Ok(queue) if listed(&queue.running) || listed(&queue.pending) => {
                self.pending.push_back(Event::Stopping {
                    removed_from_queue: false,
                });
            }
            Ok(_) => {
                // It ended in the meantime (the interrupt may have landed already): that outcome
                // stands.
                if let Ok(Some(entry)) = self.client.history(&id) {
                    if entry.status.status_str != "success" {
                        self.pending.push_back(Event::Stopping {
                            removed_from_queue: false,
                        });
                    }
                    self.apply_history(entry);
                } else {
                    self.pending.push_back(Event::Stopping {
                        removed_from_queue: true,
                    });
                    self.result = Some(Err(self.interrupted()));
                }
            }
            // Unknown: keep following; a prompt the queue no longer lists ends as interrupted.
            Err(e) => {
                tracing::debug!(error = %chain(&e), "reading the queue after a cancel failed");
                self.pending.push_back(Event::Stopping {
                    removed_from_queue: false,
                });
            }
        }
    }

    /// Handles one event of our socket; returns it if it should be surfaced.
    fn handle(&mut self, ev: Event) -> Option<Event> {
        let ours = self.ours(&ev);
        match &ev {
            Event::Status { .. } | Event::FeatureFlags(_) => return Some(ev),
            Event::Preview(p) => {
                let other_prompt = p.metadata.is_some() && !ours;
                return (self.opts.previews && !other_prompt).then_some(ev);
            }
            Event::Binary { .. } => return self.opts.previews.then_some(ev),
            _ if !ours => return None,
            Event::Executed { node, output, .. } => {
                self.ws_outputs.insert(node.clone(), output.clone());
            }
            Event::ExecutionSuccess { .. } => self.success_seen = true,
            Event::ExecutionError(e) => {
                self.result = Some(Err(ComfyError::ExecutionFailed {
                    prompt_id: self.accepted.prompt_id.clone(),
                    error: e.clone(),
                }));
            }
            Event::ExecutionInterrupted {
                node_id, node_type, ..
            } => {
                self.result = Some(Err(ComfyError::Interrupted {
                    prompt_id: self.accepted.prompt_id.clone(),
                    node_id: node_id.clone(),
                    node_type: node_type.clone(),
                }));
            }
            // Sent after history is written. When the socket saw the whole run, the outputs came
            // with `executed` events; otherwise history is authoritative.
            Event::Executing { node: None, .. }
                if self.success_seen && self.ws_saw_everything && !self.ws_outputs.is_empty() =>
            {
                self.finish_ok(None);
            }
            Event::Executing { node: None, .. }
                if !self.check_history(false) && self.success_seen =>
            {
                self.finish_ok(None);
            }
            _ => {}
        }
        Some(ev)
    }

    fn reconnect(&mut self) -> bool {
        let mut delay = self.opts.reconnect_delay;
        for _ in 0..self.opts.reconnect_attempts {
            if let Some(left) = self.deadline_left() {
                if left.is_zero() {
                    return false;
                }
                delay = delay.min(left);
            }
            std::thread::sleep(delay);
            delay = delay.saturating_mul(2);
            if let Ok(s) = EventSocket::connect(self.client, &self.ws_client_id) {
                self.socket = Some(s);
                return true;
            }
        }
        false
    }

    fn step(&mut self) -> Option<Event> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(ev);
            }
            if self.result.is_some() {
                return None;
            }
            if self.cancel_requested() {
                self.stop();
                continue;
            }
            let left = self.deadline_left();
            if left.is_some_and(|l| l.is_zero()) {
                // One last look: the prompt may have finished while we waited.
                if !self.check_history(false) {
                    self.result = Some(Err(ComfyError::RunTimeout {
                        prompt_id: self.accepted.prompt_id.clone(),
                        after: self.opts.timeout.unwrap_or_default(),
                    }));
                }
                continue;
            }
            if self.socket.is_none() && self.last_ws_retry.elapsed() >= self.opts.ws_retry_interval
            {
                self.last_ws_retry = Instant::now();
                if let Ok(s) = EventSocket::connect(self.client, &self.ws_client_id) {
                    self.socket = Some(s);
                    self.polling = false;
                    self.last_activity = Instant::now();
                    self.pending.push_back(Event::Reconnected);
                }
            }
            // A run that can be cancelled wakes up often enough to notice.
            let cancellable = self.opts.cancel.is_some() && !self.cancelled;
            let cap = |wait: Duration| {
                if cancellable {
                    wait.min(CANCEL_LATENCY)
                } else {
                    wait
                }
            };
            let Some(socket) = self.socket.as_mut() else {
                if !self.check_history(true) {
                    let wait =
                        left.map_or(self.opts.poll_interval, |l| l.min(self.opts.poll_interval));
                    std::thread::sleep(cap(wait));
                }
                continue;
            };
            let idle_left = self
                .opts
                .idle_history_check
                .saturating_sub(self.last_activity.elapsed());
            let wait = cap(left.map_or(idle_left, |l| l.min(idle_left)));
            match socket.read(wait) {
                Ok(Some(ev)) => {
                    self.last_activity = Instant::now();
                    if let Some(ev) = self.handle(ev) {
                        return Some(ev);
                    }
                }
                Ok(None) => {
                    if self.last_activity.elapsed() >= self.opts.idle_history_check {
                        self.last_activity = Instant::now();
                        self.check_history(true);
                    }
                }
                Err(e) => {
                    self.socket = None;
                    self.ws_saw_everything = false;
                    self.pending
                        .push_back(Event::SocketLost { reason: chain(&e) });
                    if self.reconnect() {
                        self.pending.push_back(Event::Reconnected);
                        // Events sent while we were away are gone: ask history (and the queue,
                        // in case the server restarted and forgot the prompt: ask the queue now).
                        if let Some(t) = Instant::now().checked_sub(self.opts.idle_history_check) {
                            self.last_lost_check = t;
                        }
                        self.check_history(true);
                    } else {
                        self.polling = true;
                        self.pending.push_back(Event::PollingFallback);
                    }
                }
            }
        }
    }
}

impl Iterator for Run<'_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.step()
    }
}

/// Gives the client's socket slot back (keeping a healthy socket for the next run; other
/// prompts' events on it are filtered by prompt id).
fn release(client: &ComfyClient, owns_slot: bool, socket: Option<EventSocket>) {
    if owns_slot && let Ok(mut slot) = client.socket.lock() {
        slot.socket = socket;
        slot.in_use = false;
    }
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        release(self.client, self.owns_slot, self.socket.take());
    }
}
