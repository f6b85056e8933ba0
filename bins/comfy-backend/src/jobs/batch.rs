//! The batch job (`POST /api/batches`): the request's workflows run over a pool of instances by
//! the sdk's `batch::run_batch` (cheapest then soonest, retried elsewhere, outputs once per
//! job), each step a `progress` event, each job's outputs recorded under `outputs/<job>/`, the
//! summary the job's result.

use std::sync::Arc;

use camino::Utf8PathBuf;
use comfy_local_sdk::batch::{
    BatchEvent, BatchRequest, BatchStop, InstanceChoice, JobResult, batch_jobs, run_batch,
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Control, JobCtx, Jobs, Outcome, StartRefused, events};
use crate::error::sdk_error;
use crate::store::{ErrorBody, JobKind, JobState, OutputRecord};

/// `POST /api/batches`: workflows to run over a pool of instances.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchSubmit {
    /// The workflows (1 to 100), each a job.
    #[schema(min_items = 1, max_items = 100)]
    pub workflows: Vec<BatchWorkflow>,
    /// Instance ids of the pool; default: every instance up now.
    #[serde(default)]
    #[schema(min_items = 1)]
    pub instances: Option<Vec<String>>,
    /// Run each workflow this many times (1 to 100; jobs `<name>-1` ...), each copy with its
    /// own seed; default 1.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    pub repeat: Option<u32>,
    /// Install a job's missing models and nodes on an instance instead of skipping it there.
    #[serde(default)]
    pub sync: bool,
}

/// One workflow of a batch.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchWorkflow {
    /// The job's name: its outputs are listed as `<name>/<file>` (letters, digits, `-`, `_`,
    /// `.`; not starting with `.`; unique in the batch).
    #[schema(pattern = r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")]
    pub name: String,
    /// The workflow (UI or API format) as ComfyUI saves it.
    #[schema(value_type = Object)]
    pub workflow: serde_json::Value,
}

/// The most workflows, and copies of each, one batch may hold.
const MAX_WORKFLOWS: usize = 100;
const MAX_REPEAT: u32 = 100;
const MAX_NAME: usize = 100;

/// Why a batch request is refused before anything starts (a 400).
pub fn check(req: &BatchSubmit) -> Result<(), String> {
    if req.workflows.is_empty() || req.workflows.len() > MAX_WORKFLOWS {
        return Err(format!("give 1 to {MAX_WORKFLOWS} workflows"));
    }
    if req.repeat.is_some_and(|r| r == 0 || r > MAX_REPEAT) {
        return Err(format!("repeat must be 1 to {MAX_REPEAT}"));
    }
    if req
        .instances
        .as_ref()
        .is_some_and(|i| i.is_empty() || i.iter().any(String::is_empty))
    {
        return Err(
            "instances: give instance ids, or leave it out for every instance up now".to_owned(),
        );
    }
    let mut names = std::collections::BTreeSet::new();
    for w in &req.workflows {
        let plain = !w.name.is_empty()
            && w.name.len() <= MAX_NAME
            && !w.name.starts_with('.')
            && w.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !plain {
            return Err(format!(
                "workflow name {:?}: use 1 to {MAX_NAME} letters, digits, '-', '_' or '.', not starting with '.'",
                w.name
            ));
        }
        if !names.insert(w.name.as_str()) {
            return Err(format!("workflow name {:?} is given twice", w.name));
        }
        if !w.workflow.is_object() {
            return Err(format!("workflow {:?} is not a JSON object", w.name));
        }
    }
    Ok(())
}

impl Jobs {
    /// Writes the batch's workflows into the job's folder and starts it (the request passed
    /// [`check`]). Blocking.
    pub fn start_batch(self: &Arc<Self>, id: &str, req: BatchSubmit) -> Result<(), StartRefused> {
        let dir = self.job_dir(id);
        let wf_dir = dir.join("workflows");
        super::create_job_dir(&dir)?;
        std::fs::create_dir_all(&wf_dir)
            .map_err(|e| StartRefused::Files(format!("creating {wf_dir}: {e}")))?;
        let mut files: Vec<Utf8PathBuf> = Vec::new();
        for w in &req.workflows {
            let path = wf_dir.join(format!("{}.json", w.name));
            std::fs::write(&path, w.workflow.to_string())
                .map_err(|e| StartRefused::Files(format!("writing {path}: {e}")))?;
            files.push(path);
        }
        let jobs = batch_jobs(&files, req.repeat.unwrap_or(1), None)
            .map_err(|e| StartRefused::Files(comfy_local_sdk::error_chain(&e)))?;
        let request = BatchRequest {
            jobs,
            instances: req
                .instances
                .map_or(InstanceChoice::All, InstanceChoice::Ids),
            out_dir: dir.join("outputs"),
            sync: req.sync,
            previews: true,
            timeout: None,
        };
        let stop = BatchStop::new();
        let control = Control::Batch(stop.clone());
        self.start(id, JobKind::Batch, "pool", control, move |ctx| {
            batch(ctx, &request, &stop)
        })
    }
}

fn batch(ctx: &JobCtx, req: &BatchRequest, stop: &BatchStop) -> Outcome {
    let result = run_batch(ctx.config(), req, stop, &mut |e: BatchEvent<'_>| {
        ctx.emit("progress", &e.to_json(&req.jobs));
    });
    let report = result.map_err(|e| (JobState::Failed, sdk_error(&e)))?;
    for (_, result) in report.results() {
        if let JobResult::Done { output, .. } = result {
            for file in output.files() {
                record(ctx, &req.out_dir, file);
            }
        }
    }
    if report.report.stopped {
        return Err((
            JobState::Cancelled,
            ErrorBody {
                code: "cancelled".to_owned(),
                message: format!(
                    "the batch was cancelled: {} of {} job(s) done",
                    report.report.done(),
                    report.jobs.len()
                ),
                hint: None,
            },
        ));
    }
    Ok(report.summary_json())
}

/// Records one saved output of a done job (named `<job>/<file>` below `outputs/`), then
/// announces it.
fn record(ctx: &JobCtx, out_dir: &camino::Utf8Path, file: &comfy_local_sdk::SavedOutput) {
    let Ok(relative) = file.path.strip_prefix(out_dir) else {
        tracing::error!(job = ctx.id(), path = %file.path, "an output outside the job's folder is not served");
        return;
    };
    let name = relative.as_str().replace('\\', "/");
    let record = OutputRecord {
        content_type: events::content_type(&name).to_owned(),
        name,
        size: file.bytes,
        node: file.node.clone(),
        kind: file.kind.clone(),
    };
    if let Err(e) = ctx.store().add_output(ctx.id(), &record) {
        tracing::error!(job = ctx.id(), error = %comfy_local_sdk::error_chain(&e), "output not recorded");
        return;
    }
    ctx.emit("output", &serde_json::to_value(&record).unwrap_or_default());
}
