//! A real instance as the pool sees it ([`comfy_local_pool::Worker`]): each attempt is a
//! [`run_workflow`] on the instance into a staging folder (reached as the batch's listing
//! resolved it, resolved again by id after a failure; its object_info fetched by the first
//! job and reused until something is installed there or an attempt fails), the
//! queue depth is ComfyUI's `/queue` (running + pending), the probe `GET /system_stats`, and a
//! stop interrupts the attempt's prompt through its [`Interrupter`]. A job whose models or
//! nodes the instance lacks is skipped there, or with `sync` installed first (`install
//! missing`) and run again.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_comfyui::ComfyClient;
use comfy_local_config::Config;
use comfy_local_pool::{Outcome, Stop, Worker};
use comfy_local_workflow::{DependencyReport, Sources};

use super::jobs::BatchJob;
use super::place::{JobOutputs, discard, publish, staging_dir};
use crate::SdkError;
use crate::connection::{ResolvedInstance, resolve_env};
use crate::install::missing::{MissingEvent, execute_resolved, plan_resolved};
use crate::run::{Interrupter, ObjectInfoCache, RunRequest, RunSummary, run_workflow_cached};
use crate::workflow::client_for_resolved;

/// One instance of the batch's pool.
#[derive(Debug)]
pub(crate) struct SdkWorker<'c> {
    pub(crate) config: &'c Config,
    pub(crate) id: String,
    pub(crate) cost_per_hour: f64,
    pub(crate) out_dir: Utf8PathBuf,
    pub(crate) sync: bool,
    pub(crate) previews: bool,
    pub(crate) timeout: Option<Duration>,
    /// How to reach it: from the batch's listing at first, resolved again by id after a
    /// failure (it may have restarted elsewhere).
    resolved: Mutex<Option<ResolvedInstance>>,
    /// For the queue depth; dropped when it fails (a new one is made next time).
    client: Mutex<Option<Arc<ComfyClient>>>,
    /// One `--sync` install at a time on this instance.
    syncing: Mutex<()>,
    /// Its object_info, fetched by the first job (cleared after a `--sync` install).
    object_info: ObjectInfoCache,
}

impl<'c> SdkWorker<'c> {
    pub(crate) fn new(
        config: &'c Config,
        id: String,
        cost_per_hour: f64,
        resolved: ResolvedInstance,
        req: &super::BatchRequest,
    ) -> Self {
        SdkWorker {
            config,
            id,
            cost_per_hour,
            out_dir: req.out_dir.clone(),
            sync: req.sync,
            previews: req.previews,
            timeout: req.timeout,
            resolved: Mutex::new(Some(resolved)),
            client: Mutex::new(None),
            syncing: Mutex::new(()),
            object_info: ObjectInfoCache::default(),
        }
    }

    fn client(&self) -> Result<Arc<ComfyClient>, SdkError> {
        let mut slot = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = &*slot {
            return Ok(client.clone());
        }
        let client = Arc::new(client_for_resolved(&self.resolved()?)?.client);
        *slot = Some(client.clone());
        Ok(client)
    }

    /// How to reach it: the record kept, else resolved by id now (and kept).
    fn resolved(&self) -> Result<ResolvedInstance, SdkError> {
        let mut slot = self.resolved.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(resolved) = &*slot {
            return Ok(resolved.clone());
        }
        let resolved = resolve_env(self.config, Some(&self.id))?;
        *slot = Some(resolved.clone());
        Ok(resolved)
    }

    /// Whether its ComfyUI answers `GET /system_stats` now (with a fresh client); if not, why.
    pub(crate) fn answers(&self) -> Result<(), String> {
        *self.client.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.client()
            .and_then(|c| Ok(c.system_stats()?))
            .map(|_| ())
            .map_err(|e| crate::error_chain(&e))
    }

    /// Why `workflow` takes no seed here (converted with its object_info, which the jobs then
    /// reuse), as `--seed` finds seed inputs; `None` when it has one. An error: it cannot tell
    /// (no object_info, the workflow does not convert with it, or uses a node class it lacks,
    /// whose inputs it does not know).
    pub(crate) fn seedless(&self, workflow: &Utf8Path) -> Result<Option<String>, String> {
        let chain = |e: SdkError| crate::error_chain(&e);
        let info = self
            .client()
            .and_then(|client| self.object_info.get_or_fetch(&client))
            .map_err(chain)?;
        let wf = crate::workflow::load_workflow(workflow).map_err(chain)?;
        let prompt = crate::workflow::to_api(workflow, &wf, &info).map_err(chain)?;
        if let Some((id, node)) = prompt
            .iter()
            .find(|(_, n)| info.class(&n.class_type).is_none())
        {
            return Err(format!(
                "node {id}: it has no node class {:?}",
                node.class_type
            ));
        }
        Ok(crate::overrides::seedless(&prompt, &info))
    }

    /// Drops the client and the record of how to reach it: the next use resolves it again.
    fn forget_client(&self) {
        *self.client.lock().unwrap_or_else(PoisonError::into_inner) = None;
        *self.resolved.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// One run of the job into `staging`.
    fn run_once(
        &self,
        job: &BatchJob,
        staging: &Utf8PathBuf,
        interrupter: &Interrupter,
    ) -> Result<RunSummary, SdkError> {
        let req = RunRequest {
            workflow: job.workflow.clone(),
            instance: Some(self.id.clone()),
            inputs: Vec::new(),
            out_dir: staging.clone(),
            previews: self.previews,
            timeout: self.timeout,
            wait: true,
            sets: Vec::new(),
            seed: job.seed,
        };
        run_workflow_cached(
            self.config,
            &req,
            interrupter,
            &mut |_| {},
            &self.object_info,
            Some(&self.resolved()?),
        )
    }

    /// Installs what the report lists as missing (the workflow names where from); an error
    /// says why the instance still cannot take the job.
    fn install_missing(
        &self,
        job: &BatchJob,
        report: &DependencyReport,
        stop: &Stop,
    ) -> Result<(), String> {
        let _one = self.syncing.lock().unwrap_or_else(PoisonError::into_inner);
        let bytes =
            std::fs::read(&job.workflow).map_err(|e| format!("reading {}: {e}", job.workflow))?;
        let sources = Sources::from_slice(&bytes).map_err(|e| format!("{}: {e}", job.workflow))?;
        // The worker's record: no new resolve (a rented instance: no provider request).
        let resolved = self.resolved().map_err(|e| crate::error_chain(&e))?;
        let plan = plan_resolved(
            self.config,
            &resolved,
            report,
            &sources,
            &crate::install::missing::NodeMap::new(),
        );
        if !plan.missing_inputs.is_empty() || plan.is_empty() {
            return Err(format!(
                "--sync installs models and nodes only: {}",
                one_line(report)
            ));
        }
        if !plan.is_complete() {
            return Err(format!(
                "--sync cannot install everything it lacks ({} item(s) name no source): {}",
                plan.unresolved.len(),
                one_line(report)
            ));
        }
        let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let cancel = cancel.clone();
            stop.on_stop(move || cancel.store(true, std::sync::atomic::Ordering::SeqCst));
        }
        let done = execute_resolved(
            self.config,
            &resolved,
            &plan,
            &|n| std::env::var(n).ok(),
            &cancel,
            &mut |_: &MissingEvent<'_>| {},
        );
        // What it lists (model files in its combos, node classes) may have changed.
        self.object_info.clear();
        if done.failures() > 0 {
            return Err(format!(
                "--sync: {} install(s) failed on it",
                done.failures()
            ));
        }
        let restart = done.installed_classes();
        if !restart.is_empty() {
            return Err(format!(
                "--sync installed node classes ComfyUI loads when it restarts: {}",
                restart.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(())
    }

    /// What an attempt's result means to the pool.
    fn outcome(
        &self,
        job: &BatchJob,
        staging: &Utf8PathBuf,
        result: Result<RunSummary, SdkError>,
        stop: &Stop,
    ) -> Outcome<JobOutputs> {
        match result {
            Ok(summary) => match publish(staging, &self.out_dir, &job.name, summary) {
                Ok((dir, run)) => Outcome::Done(JobOutputs { dir, run }),
                Err(reason) => Outcome::Failed(reason),
            },
            Err(e) => {
                discard(staging);
                match e {
                    SdkError::Interrupted { .. } => Outcome::Stopped,
                    _ if stop.is_stopped() => Outcome::Stopped,
                    SdkError::MissingDependencies { report } => Outcome::Unsuitable(format!(
                        "it lacks what the workflow needs: {}",
                        one_line(&report)
                    )),
                    // The job's own fault: no instance would do better, none is to blame.
                    SdkError::Workflow { .. }
                    | SdkError::Convert { .. }
                    | SdkError::BadOverride { .. }
                    | SdkError::BadInput { .. }
                    | SdkError::TurnedOff { .. } => Outcome::Unsuitable(crate::error_chain(&e)),
                    other => {
                        // It may have restarted, with other nodes or models.
                        self.forget_client();
                        self.object_info.clear();
                        Outcome::Failed(crate::error_chain(&other))
                    }
                }
            }
        }
    }
}

/// A dependency report on one line.
fn one_line(report: &DependencyReport) -> String {
    report
        .to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Worker for SdkWorker<'_> {
    type Job = BatchJob;
    type Output = JobOutputs;

    fn id(&self) -> &str {
        &self.id
    }

    fn cost_per_hour(&self) -> f64 {
        self.cost_per_hour
    }

    fn queue_depth(&self) -> Result<usize, String> {
        let queue = self.client().and_then(|c| Ok(c.queue()?)).map_err(|e| {
            self.forget_client();
            crate::error_chain(&e)
        })?;
        Ok(queue.running.len() + queue.pending.len())
    }

    fn run(&self, job: &BatchJob, attempt: usize, stop: &Stop) -> Outcome<JobOutputs> {
        let interrupter = Interrupter::new();
        {
            let interrupter = interrupter.clone();
            stop.on_stop(move || {
                interrupter.interrupt();
            });
        }
        if stop.is_stopped() {
            return Outcome::Stopped;
        }
        let staging = staging_dir(&self.out_dir, &job.name, attempt);
        let result = self.run_once(job, &staging, &interrupter);
        if self.sync
            && let Err(SdkError::MissingDependencies { report }) = &result
        {
            discard(&staging);
            if let Err(reason) = self.install_missing(job, report, stop) {
                return Outcome::Unsuitable(reason);
            }
            let again = self.run_once(job, &staging, &interrupter);
            return self.outcome(job, &staging, again, stop);
        }
        self.outcome(job, &staging, result, stop)
    }

    fn probe(&self) -> bool {
        self.answers().is_ok()
    }
}
