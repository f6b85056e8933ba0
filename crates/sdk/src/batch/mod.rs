//! Batches over a pool of instances (`run --batch`, `POST /api/batches`): every job goes to the
//! instance that finishes it cheapest, then soonest, and survives failures, as
//! [`comfy_local_pool`] schedules it; each instance is used by id, as `run` uses it. Outputs of
//! a job are written once, to `<out>/<job name>/`, however often it was tried.

mod jobs;
mod place;
mod worker;

use std::time::Duration;

use camino::Utf8PathBuf;
use comfy_local_config::Config;
use comfy_local_pool::{Event, PoolOptions, Report, Stop};
use serde_json::{Value, json};

pub use comfy_local_pool::{
    Event as PoolEvent, InstanceSummary, JobResult, Reason, Report as PoolReport, Stop as BatchStop,
};
pub use jobs::{BatchJob, batch_jobs};
pub use place::JobOutputs;

use crate::SdkError;
use crate::connection::ResolvedInstance;
use worker::SdkWorker;

/// Which instances make up the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceChoice {
    /// Every configured local instance (none while the master switch `enabled` is off) and
    /// every rented one running; those whose ComfyUI does not answer at the start are left out.
    All,
    /// These ids, each of which must be listed ([`crate::list_instances`]).
    Ids(Vec<String>),
}

/// A batch to run.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    /// The jobs ([`batch_jobs`]).
    pub jobs: Vec<BatchJob>,
    /// The pool.
    pub instances: InstanceChoice,
    /// Each job's outputs go to `<out_dir>/<job name>/`, which must not exist yet.
    pub out_dir: Utf8PathBuf,
    /// Install a job's missing models and nodes on an instance (from the sources the workflow
    /// names) instead of skipping the instance for that job.
    pub sync: bool,
    /// Save previews too (under each job folder's `temp/`).
    pub previews: bool,
    /// An attempt still running after this long is interrupted and counts as failed.
    pub timeout: Option<Duration>,
}

/// A step of a batch.
#[derive(Debug, Clone, Copy)]
pub enum BatchEvent<'a> {
    /// An instance chosen did not answer at the start and is left out of the pool.
    LeftOut {
        /// Instance id.
        instance: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// A step of the pool (jobs by index into the request's jobs).
    Pool(Event<'a>),
}

impl BatchEvent<'_> {
    /// The step as one JSON object (`{"type": "started", "job": NAME, ...}`), as
    /// `run --batch --json` prints it and the backend streams it.
    pub fn to_json(&self, jobs: &[BatchJob]) -> Value {
        let name = |i: &usize| jobs.get(*i).map_or("", |j| j.name.as_str());
        match self {
            BatchEvent::LeftOut { instance, reason } => {
                json!({"type": "left_out", "instance": instance, "reason": reason})
            }
            BatchEvent::Pool(e) => match e {
                Event::Started {
                    job,
                    instance,
                    attempt,
                } => {
                    json!({"type": "started", "job": name(job), "instance": instance, "attempt": attempt})
                }
                Event::Done {
                    job,
                    instance,
                    seconds,
                } => {
                    json!({"type": "done", "job": name(job), "instance": instance, "seconds": seconds})
                }
                Event::AttemptFailed {
                    job,
                    instance,
                    reason,
                } => {
                    json!({"type": "attempt_failed", "job": name(job), "instance": instance, "reason": reason})
                }
                Event::Skipped {
                    job,
                    instance,
                    reason,
                } => {
                    json!({"type": "skipped", "job": name(job), "instance": instance, "reason": reason})
                }
                Event::JobFailed { job, reasons } => json!({
                    "type": "failed", "job": name(job),
                    "reasons": reasons.iter().map(|r| json!({"instance": r.instance, "reason": r.reason})).collect::<Vec<_>>(),
                }),
                Event::Quarantined { instance, failures } => {
                    json!({"type": "quarantined", "instance": instance, "failures": failures})
                }
                Event::Restored { instance } => json!({"type": "restored", "instance": instance}),
            },
        }
    }
}

/// How a batch ended.
#[derive(Debug)]
pub struct BatchReport {
    /// The jobs, as requested.
    pub jobs: Vec<BatchJob>,
    /// Each job's result (same order) and each pool instance's share.
    pub report: Report<JobOutputs>,
}

impl BatchReport {
    /// The summary object: `{"type": "summary", "jobs", "done", "failed", "instances": {ID:
    /// {"done", "failed", "seconds", "cost_usd"}}}` (failed: attempts that failed there).
    pub fn summary_json(&self) -> Value {
        let instances: serde_json::Map<String, Value> = self
            .report
            .instances
            .iter()
            .map(|i| {
                (
                    i.id.clone(),
                    json!({"done": i.done, "failed": i.failed, "seconds": i.seconds, "cost_usd": i.cost_usd}),
                )
            })
            .collect();
        json!({
            "type": "summary",
            "jobs": self.jobs.len(),
            "done": self.report.done(),
            "failed": self.report.failed(),
            "instances": instances,
        })
    }

    /// Each job with its result, for listing (name, result).
    pub fn results(&self) -> impl Iterator<Item = (&BatchJob, &JobResult<JobOutputs>)> {
        self.jobs.iter().zip(&self.report.jobs)
    }
}

/// The pool options from the config's `pool` section.
pub fn pool_options(config: &Config) -> Result<PoolOptions, SdkError> {
    let p = &config.pool;
    PoolOptions::new(
        p.queue_threshold as usize,
        p.max_in_flight.get() as usize,
        p.max_tries.get() as usize,
        p.failures_before_quarantine.get() as usize,
        Duration::from_secs(p.probe_interval_secs.get()),
    )
    .map_err(|e| SdkError::Batch {
        reason: format!("pool: {e}"),
    })
}

/// An instance chosen for the pool: its id, $/hr, and how to reach it (or why it cannot be).
struct Chosen {
    id: String,
    cost_per_hour: f64,
    resolved: Result<ResolvedInstance, String>,
}

/// The pool's instances, from a listing that probes nothing (the workers' first probe is the
/// only one): with `All` every configured local instance (unless the master switch is off)
/// and every running rented one; with `Ids` those named, each of which must be listed.
fn choose(config: &Config, choice: &InstanceChoice) -> Result<Vec<Chosen>, SdkError> {
    use comfy_local_providers::{InstanceStatus, ProviderKind};
    let listed = crate::instances::list_unprobed(config, &|name| std::env::var(name).ok());
    let errors = || {
        listed
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.provider.as_str(), e.message))
            .collect::<Vec<_>>()
    };
    let chosen = |i: &crate::ListedInstance| Chosen {
        id: i.id.clone(),
        cost_per_hour: i.cost_per_hour,
        resolved: crate::connection::resolve_listed(config, &i.instance)
            .map_err(|e| crate::error_chain(&e)),
    };
    match choice {
        InstanceChoice::All => {
            let up: Vec<Chosen> = listed
                .instances
                .iter()
                .filter(|i| match i.provider {
                    ProviderKind::Local => i.status != InstanceStatus::Disabled,
                    _ => i.status == InstanceStatus::Running,
                })
                .map(chosen)
                .collect();
            if up.is_empty() {
                return Err(SdkError::NoInstanceUp {
                    listed: listed
                        .instances
                        .iter()
                        .map(|i| format!("{} ({})", i.id, i.status.as_str()))
                        .chain(errors())
                        .collect(),
                });
            }
            Ok(up)
        }
        InstanceChoice::Ids(ids) => ids
            .iter()
            .map(|id| {
                listed
                    .instances
                    .iter()
                    .find(|i| &i.id == id)
                    .map(chosen)
                    .ok_or_else(|| SdkError::Batch {
                        reason: format!(
                            "no instance {id:?} is listed{}",
                            if listed.errors.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", errors().join("; "))
                            }
                        ),
                    })
            })
            .collect(),
    }
}

/// The workers of the chosen instances that answer `GET /system_stats` now (each probed once,
/// all at the same time), and why each other one is left out.
fn probe<'c>(
    config: &'c Config,
    chosen: Vec<Chosen>,
    req: &BatchRequest,
) -> (Vec<SdkWorker<'c>>, Vec<(String, String)>) {
    let probed: Vec<(String, Result<SdkWorker<'c>, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = chosen
            .into_iter()
            .map(|c| {
                s.spawn(move || {
                    let worker = c.resolved.and_then(|resolved| {
                        let w =
                            SdkWorker::new(config, c.id.clone(), c.cost_per_hour, resolved, req);
                        w.answers().map(|()| w).map_err(|e| {
                            format!("its ComfyUI does not answer GET /system_stats: {e}")
                        })
                    });
                    (c.id, worker)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut workers = Vec::new();
    let mut left_out = Vec::new();
    for (id, worker) in probed {
        match worker {
            Ok(w) => workers.push(w),
            Err(reason) => left_out.push((id, reason)),
        }
    }
    (workers, left_out)
}

/// Refuses `--repeat` (several jobs of one workflow, each with its seed) on a workflow that has
/// no seed input, before any job runs: decided as `--seed` decides it, with the object_info of
/// each instance in turn until one finds a seed input (the first usually does; the jobs reuse
/// what was fetched). An instance that cannot tell (the workflow does not convert there) does
/// not count; a workflow none can tell about is left to its jobs.
fn refuse_seedless(workers: &[SdkWorker<'_>], jobs: &[BatchJob]) -> Result<(), SdkError> {
    let mut copies = std::collections::BTreeMap::<&camino::Utf8Path, usize>::new();
    for job in jobs.iter().filter(|j| j.seed.is_some()) {
        *copies.entry(&job.workflow).or_default() += 1;
    }
    let mut refused = Vec::new();
    'files: for (file, _) in copies.into_iter().filter(|(_, n)| *n > 1) {
        let mut why = None;
        for w in workers {
            match w.seedless(file) {
                Ok(None) => continue 'files,
                Ok(Some(reason)) => why = Some(reason),
                Err(e) => {
                    tracing::debug!(instance = w.id.as_str(), workflow = %file, error = %e, "cannot tell whether it has a seed input");
                }
            }
        }
        if let Some(why) = why {
            refused.push((file.to_owned(), why));
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(SdkError::RepeatWithoutSeed { workflows: refused })
    }
}

/// Runs the batch: checks the jobs' output folders are free, builds the pool (an instance that
/// does not answer `GET /system_stats` now is left out), and schedules every job on it.
/// Fails before any job runs when no instance of the pool answers, or when `--repeat` copies a
/// workflow that has no seed input ([`SdkError::RepeatWithoutSeed`]).
pub fn run_batch(
    config: &Config,
    req: &BatchRequest,
    stop: &Stop,
    on_event: &mut dyn FnMut(BatchEvent<'_>),
) -> Result<BatchReport, SdkError> {
    let options = pool_options(config)?;
    for job in &req.jobs {
        crate::workflow::load_workflow(&job.workflow)?;
    }
    let names: Vec<&str> = req.jobs.iter().map(|j| j.name.as_str()).collect();
    place::ensure_free(&req.out_dir, &names)?;
    std::fs::create_dir_all(&req.out_dir).map_err(|source| SdkError::Io {
        op: "creating",
        path: req.out_dir.clone(),
        source,
    })?;
    let chosen = choose(config, &req.instances)?;
    let (workers, left_out) = probe(config, chosen, req);
    for (id, reason) in &left_out {
        on_event(BatchEvent::LeftOut {
            instance: id,
            reason,
        });
    }
    if workers.is_empty() {
        return Err(SdkError::NoInstanceUp {
            listed: left_out
                .into_iter()
                .map(|(id, reason)| format!("{id} ({reason})"))
                .collect(),
        });
    }
    refuse_seedless(&workers, &req.jobs)?;
    let report = comfy_local_pool::run_batch(&workers, &req.jobs, &options, stop, &mut |e| {
        on_event(BatchEvent::Pool(e));
    });
    Ok(BatchReport {
        jobs: req.jobs.clone(),
        report,
    })
}
