//! Jobs: each runs on a dedicated thread (the sdk's calls block), writes every event to the
//! store before it announces it to subscribers, and ends with one `done` or `error` event.

mod batch;
mod events;
mod install;
mod run;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_config::Config;
use comfy_local_sdk::Interrupter;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::store::{
    ErrorBody, JobKind, JobRecord, JobState, Store, StoreError, StoredEvent, now_ms,
};

pub use batch::{BatchSubmit, BatchWorkflow, check as check_batch};
pub use install::{ModelInstall, NodeInstall};
pub use run::RunJob;

/// How a running job is stopped.
#[derive(Debug, Clone)]
enum Control {
    /// A workflow run: its prompt is interrupted (or removed from the queue) on the server.
    Run(Interrupter),
    /// A model install: the download stops at the next chunk (the `.part` is kept for a resume).
    Flag(Arc<AtomicBool>),
    /// A batch: no job starts any more, and every running prompt is interrupted.
    Batch(comfy_local_sdk::batch::BatchStop),
    /// A node install runs to its end (git and pip are not stopped half-way).
    None,
}

/// A job that runs in this process: its events so far, and a signal for each new one.
#[derive(Debug)]
pub struct Live {
    events: Mutex<Vec<StoredEvent>>,
    count: watch::Sender<u64>,
    control: Control,
    cancel_requested: AtomicBool,
}

impl Live {
    fn lock(&self) -> MutexGuard<'_, Vec<StoredEvent>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The events after sequence number `after`.
    pub fn since(&self, after: u64) -> Vec<StoredEvent> {
        let events = self.lock();
        let start = usize::try_from(after)
            .unwrap_or(usize::MAX)
            .min(events.len());
        events[start..].to_vec()
    }

    /// A receiver that changes with every new event.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.count.subscribe()
    }
}

/// Where a subscriber reads a job's events from.
#[derive(Debug)]
pub enum Subscription {
    /// The job runs here: events so far, then each new one.
    Live(Arc<Live>),
    /// The job has ended: every event after the one asked for, from the store.
    Finished(Vec<StoredEvent>),
}

/// Why a job could not be cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelRefused {
    /// No such job.
    Unknown,
    /// It has ended already.
    Finished,
    /// A node install cannot be stopped half-way.
    NotCancellable,
}

/// Every job of this backend.
#[derive(Debug)]
pub struct Jobs {
    store: Arc<Store>,
    config: Arc<Config>,
    root: Utf8PathBuf,
    live: Mutex<HashMap<String, Arc<Live>>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    accepting: AtomicBool,
}

/// What a job's body returns: its result (for `done` and the job record), or its error.
pub type Outcome = Result<Value, (JobState, ErrorBody)>;

impl Jobs {
    /// Jobs stored in `store`, with their files under `root/<id>/`.
    pub fn new(store: Arc<Store>, config: Arc<Config>, root: Utf8PathBuf) -> Arc<Jobs> {
        Arc::new(Jobs {
            store,
            config,
            root,
            live: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
            accepting: AtomicBool::new(true),
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The folder of a job's files (workflow, inputs, outputs).
    pub fn job_dir(&self, id: &str) -> Utf8PathBuf {
        self.root.join(id)
    }

    /// A new job id (and its folder name).
    pub fn new_id() -> String {
        uuid::Uuid::new_v4().to_string()
    }

    fn live_map(&self) -> MutexGuard<'_, HashMap<String, Arc<Live>>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the job, announces `queued` and starts `body` on its own thread. Blocking.
    fn start(
        self: &Arc<Self>,
        id: &str,
        kind: JobKind,
        instance: &str,
        control: Control,
        body: impl FnOnce(&JobCtx) -> Outcome + Send + 'static,
    ) -> Result<(), StartRefused> {
        if !self.accepting.load(Ordering::SeqCst) {
            return Err(StartRefused::ShuttingDown);
        }
        let now = now_ms();
        self.store.insert_job(&JobRecord {
            id: id.to_owned(),
            kind,
            instance: instance.to_owned(),
            state: JobState::Queued,
            created_at: now,
            updated_at: now,
            prompt_id: None,
            error: None,
            result: None,
        })?;
        let live = Arc::new(Live {
            events: Mutex::new(Vec::new()),
            count: watch::channel(0).0,
            control,
            cancel_requested: AtomicBool::new(false),
        });
        let ctx = JobCtx {
            jobs: Arc::clone(self),
            id: id.to_owned(),
            live: Arc::clone(&live),
        };
        ctx.emit(
            "queued",
            &json!({"stage": "accepted", "job_id": id, "kind": kind, "instance": instance}),
        );
        self.live_map().insert(id.to_owned(), live);
        let thread = std::thread::Builder::new()
            .name(format!("job-{id}"))
            .spawn(move || {
                let _ = ctx.jobs.store.set_state(&ctx.id, JobState::Running, None);
                let outcome = body(&ctx);
                ctx.finish(outcome);
            })
            .map_err(|e| StartRefused::Thread(e.to_string()))?;
        let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
        threads.retain(|t| !t.is_finished());
        threads.push(thread);
        Ok(())
    }

    /// Where to read a job's events after `after`; `None` for an unknown job. Blocking.
    pub fn subscribe(&self, id: &str, after: u64) -> Result<Option<Subscription>, StoreError> {
        if let Some(live) = self.live_map().get(id) {
            return Ok(Some(Subscription::Live(Arc::clone(live))));
        }
        if self.store.job(id)?.is_none() {
            return Ok(None);
        }
        Ok(Some(Subscription::Finished(self.store.events(id, after)?)))
    }

    /// Asks a running job to stop. Blocking.
    pub fn cancel(&self, id: &str) -> Result<Result<(), CancelRefused>, StoreError> {
        let live = self.live_map().get(id).cloned();
        let Some(live) = live else {
            return Ok(Err(if self.store.job(id)?.is_some() {
                CancelRefused::Finished
            } else {
                CancelRefused::Unknown
            }));
        };
        match &live.control {
            Control::Run(interrupter) => {
                live.cancel_requested.store(true, Ordering::SeqCst);
                interrupter.interrupt();
            }
            Control::Flag(flag) => {
                live.cancel_requested.store(true, Ordering::SeqCst);
                flag.store(true, Ordering::SeqCst);
            }
            Control::Batch(stop) => {
                live.cancel_requested.store(true, Ordering::SeqCst);
                stop.stop();
            }
            Control::None => return Ok(Err(CancelRefused::NotCancellable)),
        }
        Ok(Ok(()))
    }

    /// How many jobs run now.
    pub fn running(&self) -> usize {
        self.live_map().len()
    }

    /// Stops taking jobs, lets running ones finish within `grace`, then stops those still
    /// running (prompts interrupted on the server, downloads stopped) and, after a short wait,
    /// marks whatever is left as interrupted in the store. Blocking.
    pub fn shutdown(&self, grace: Duration) {
        self.accepting.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + grace;
        while self.running() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let left: Vec<Arc<Live>> = self.live_map().values().cloned().collect();
        if left.is_empty() {
            return;
        }
        tracing::warn!(jobs = left.len(), "stopping jobs still running at shutdown");
        for live in &left {
            match &live.control {
                Control::Run(interrupter) => {
                    interrupter.interrupt();
                }
                Control::Flag(flag) => flag.store(true, Ordering::SeqCst),
                Control::Batch(stop) => stop.stop(),
                Control::None => {}
            }
        }
        let deadline = Instant::now() + STOP_WAIT;
        while self.running() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Jobs stopped here end as `interrupted` (see `JobCtx::finish`); any still running are
        // marked so in the store, as a restart would.
        if let Err(e) = self
            .store
            .interrupt_unfinished("the backend stopped before the job finished")
        {
            tracing::error!(error = %comfy_local_sdk::error_chain(&e), "cannot mark unfinished jobs");
        }
    }

    fn shutting_down(&self) -> bool {
        !self.accepting.load(Ordering::SeqCst)
    }

    /// The loaded config.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }
}

/// How long stopped jobs get to end after the grace period, before they are marked interrupted.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Why a job was not started.
#[derive(Debug, thiserror::Error)]
pub enum StartRefused {
    /// The backend is shutting down.
    #[error("the backend is shutting down")]
    ShuttingDown,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No thread could be started.
    #[error("cannot start a job thread: {0}")]
    Thread(String),
    /// The job's files could not be written.
    #[error("{0}")]
    Files(String),
}

/// What a job's body uses to report.
#[derive(Debug)]
pub struct JobCtx {
    jobs: Arc<Jobs>,
    id: String,
    live: Arc<Live>,
}

impl JobCtx {
    /// Commits an event to the store, then announces it. An event the store refused is logged
    /// and not announced.
    pub fn emit(&self, name: &str, data: &Value) {
        let mut events = self.live.lock();
        let event = StoredEvent {
            seq: events.len() as u64 + 1,
            name: name.to_owned(),
            data: data.to_string(),
        };
        if let Err(e) = self.jobs.store.append_event(&self.id, &event) {
            tracing::error!(job = self.id, error = %comfy_local_sdk::error_chain(&e), "event not stored");
            return;
        }
        let seq = event.seq;
        events.push(event);
        drop(events);
        self.live.count.send_replace(seq);
    }

    /// Records the prompt id.
    pub fn set_prompt(&self, prompt_id: &str) {
        if let Err(e) = self
            .jobs
            .store
            .set_state(&self.id, JobState::Running, Some(prompt_id))
        {
            tracing::error!(job = self.id, error = %comfy_local_sdk::error_chain(&e), "prompt id not stored");
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.jobs.store
    }

    /// The job id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The config.
    pub fn config(&self) -> &Config {
        &self.jobs.config
    }

    /// The job's folder.
    pub fn dir(&self) -> Utf8PathBuf {
        self.jobs.job_dir(&self.id)
    }

    /// Ends the job: the final event and state in one commit, then announced; the job stops
    /// being live.
    fn finish(&self, outcome: Outcome) {
        let cancelled = self.live.cancel_requested.load(Ordering::SeqCst);
        let (name, state, error, result) = match outcome {
            Ok(result) => ("done", JobState::Succeeded, None, Some(result)),
            Err((JobState::Cancelled, e)) if !cancelled && self.jobs.shutting_down() => {
                let e = ErrorBody {
                    code: "interrupted".to_owned(),
                    message: format!("the backend stopped before the job finished: {}", e.message),
                    hint: Some("submit the job again".to_owned()),
                };
                ("error", JobState::Interrupted, Some(e), None)
            }
            Err((state, e)) => ("error", state, Some(e), None),
        };
        let data = match (&error, &result) {
            (Some(e), _) => {
                json!({"state": state, "code": e.code, "message": e.message, "hint": e.hint})
            }
            (None, result) => json!({"state": state, "result": result}),
        };
        let mut events = self.live.lock();
        let event = StoredEvent {
            seq: events.len() as u64 + 1,
            name: name.to_owned(),
            data: data.to_string(),
        };
        match self
            .jobs
            .store
            .finish(&self.id, &event, state, error.as_ref(), result.as_ref())
        {
            Ok(()) => {
                let seq = event.seq;
                events.push(event);
                drop(events);
                self.live.count.send_replace(seq);
            }
            Err(e) => {
                drop(events);
                tracing::error!(job = self.id, error = %comfy_local_sdk::error_chain(&e), "final state not stored");
            }
        }
        self.jobs.live_map().remove(&self.id);
    }
}

/// Whether an event ends its job's stream.
pub fn is_final(event: &StoredEvent) -> bool {
    event.name == "done" || event.name == "error"
}

/// A job's folder made ready for its files.
pub fn create_job_dir(dir: &Utf8Path) -> Result<(), StartRefused> {
    std::fs::create_dir_all(dir.join("inputs"))
        .map_err(|e| StartRefused::Files(format!("creating {dir}: {e}")))
}
