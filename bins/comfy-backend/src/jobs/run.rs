//! The workflow-run job: the sdk's `run_workflow` with the job's saved workflow and inputs,
//! outputs saved under the job's `outputs/` folder and recorded in the store one by one.

use std::sync::Arc;

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_sdk::{InputSpec, Interrupter, RunRequest, RunStep, SdkError, run_workflow};
use serde_json::json;

use super::{Control, JobCtx, Jobs, Outcome, StartRefused, events};
use crate::error::sdk_error;
use crate::store::{JobKind, JobState, OutputRecord};

/// A workflow run whose files are in the job's folder already.
#[derive(Debug, Clone)]
pub struct RunJob {
    /// The instance id.
    pub instance: String,
    /// `workflow.json` in the job's folder.
    pub workflow: Utf8PathBuf,
    /// Inputs saved under the job's `inputs/`.
    pub inputs: Vec<InputSpec>,
}

impl Jobs {
    /// Starts a workflow run. Blocking.
    pub fn start_run(self: &Arc<Self>, id: &str, job: RunJob) -> Result<(), StartRefused> {
        let interrupter = Interrupter::new();
        let instance = job.instance.clone();
        let control = Control::Run(interrupter.clone());
        self.start(id, JobKind::Run, &instance, control, move |ctx| {
            run(ctx, &job, &interrupter)
        })
    }
}

fn run(ctx: &JobCtx, job: &RunJob, interrupter: &Interrupter) -> Outcome {
    let out_dir = ctx.dir().join("outputs");
    let req = RunRequest {
        workflow: job.workflow.clone(),
        instance: Some(job.instance.clone()),
        inputs: job.inputs.clone(),
        out_dir: out_dir.clone(),
        previews: true,
        timeout: None,
        wait: true,
        sets: Vec::new(),
        seed: None,
    };
    let result = run_workflow(ctx.config(), &req, interrupter, &mut |step| {
        on_step(ctx, &out_dir, &step);
    });
    match result {
        Ok(summary) => Ok(json!({
            "prompt_id": summary.prompt_id,
            "instance": summary.instance,
            "outputs": summary.outputs.len(),
            "used_polling": summary.used_polling,
            "seconds": summary.seconds,
        })),
        Err(e) => {
            let state = if matches!(e, SdkError::Interrupted { .. }) {
                JobState::Cancelled
            } else {
                JobState::Failed
            };
            Err((state, sdk_error(&e)))
        }
    }
}

fn on_step(ctx: &JobCtx, out_dir: &Utf8Path, step: &RunStep<'_>) {
    if let RunStep::Submitted { prompt_id } = step {
        ctx.set_prompt(prompt_id);
    }
    if let RunStep::Saved {
        path,
        bytes,
        node,
        kind,
    } = step
    {
        saved(ctx, out_dir, path, *bytes, node, kind);
        return;
    }
    if let Some((name, data)) = events::run_step(step) {
        ctx.emit(name, &data);
    }
}

/// Records a saved output, then announces it.
fn saved(ctx: &JobCtx, out_dir: &Utf8Path, path: &Utf8Path, bytes: u64, node: &str, kind: &str) {
    let Ok(relative) = path.strip_prefix(out_dir) else {
        tracing::error!(job = ctx.id(), %path, "an output outside the job's folder is not served");
        return;
    };
    let name = relative.as_str().replace('\\', "/");
    let record = OutputRecord {
        content_type: events::content_type(&name).to_owned(),
        name,
        size: bytes,
        node: node.to_owned(),
        kind: kind.to_owned(),
    };
    if let Err(e) = ctx.store().add_output(ctx.id(), &record) {
        tracing::error!(job = ctx.id(), error = %comfy_local_sdk::error_chain(&e), "output not recorded");
        return;
    }
    ctx.emit("output", &serde_json::to_value(&record).unwrap_or_default());
}
