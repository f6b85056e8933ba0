//! `comfy-local run --batch`: many workflows over a pool of instances, with progress (a bar of
//! jobs and a line per instance on a terminal, plain lines otherwise, JSON lines with
//! `--json`, the summary last), Ctrl-C stopping the batch and its running prompts.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context as _;
use comfy_local_config::Config;
use comfy_local_sdk::SeedSpec;
use comfy_local_sdk::batch::{
    BatchEvent, BatchJob, BatchReport, BatchRequest, BatchStop, InstanceChoice, JobOutputs,
    JobResult, PoolEvent, batch_jobs, run_batch,
};
use comfy_local_sdk::terminal::one_line;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{GlobalArgs, RunArgs};
use crate::exit::{Code, Failure};

/// Runs the batch and prints its progress and summary.
pub fn run(
    global: &GlobalArgs,
    args: &RunArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    super::out_dir::check(&args.out)?;
    let loaded = Config::load(global.config.as_deref()).context("cannot load the configuration")?;
    let seed = args.seed.as_deref().map(SeedSpec::parse).transpose()?;
    let jobs = batch_jobs(&args.batch, args.repeat, seed)?;
    let instances = if args.instances.iter().any(|i| i == "all") {
        if args.instances.len() > 1 {
            return Err(usage("--instances takes ids or `all`, not both"));
        }
        InstanceChoice::All
    } else {
        InstanceChoice::Ids(args.instances.clone())
    };
    let req = BatchRequest {
        jobs,
        instances,
        out_dir: args.out.clone(),
        sync: args.sync,
        previews: !args.no_previews,
        timeout: args.timeout,
    };
    let stop = BatchStop::new();
    {
        let stop = stop.clone();
        let presses = AtomicUsize::new(0);
        // The first Ctrl-C stops the batch (running prompts are interrupted, the summary is
        // printed, exit 130); a second one exits at once.
        let _ = ctrlc::set_handler(move || {
            if presses.fetch_add(1, Ordering::SeqCst) == 0 {
                stop.stop();
                return;
            }
            std::process::exit(130);
        });
    }
    let mut display = Progress::new(global.json, &req.jobs);
    let result = run_batch(&loaded.config, &req, &stop, &mut |e| {
        display.event(&e, stdout, stderr);
    });
    display.finish();
    let report = result?;
    if global.json {
        writeln!(stdout, "{}", report.summary_json())?;
    } else {
        print_summary(&report, &args.out, stdout)?;
    }
    if report.report.stopped {
        return Err(Failure {
            code: Code::Interrupted,
            message: "interrupted: the batch was stopped".to_owned(),
            hint: None,
            json_printed: true,
        }
        .into());
    }
    if report.report.failed() > 0 {
        return Err(Failure {
            code: Code::Failed,
            message: format!(
                "{} of {} job(s) failed",
                report.report.failed(),
                report.jobs.len()
            ),
            hint: Some("each failed job lists every attempt's reason above".to_owned()),
            json_printed: true,
        }
        .into());
    }
    Ok(())
}

fn usage(message: &str) -> anyhow::Error {
    Failure {
        code: Code::Usage,
        message: message.to_owned(),
        hint: None,
        json_printed: false,
    }
    .into()
}

/// Each job's result and each instance's share, for a person.
fn print_summary(
    report: &BatchReport,
    out: &camino::Utf8Path,
    stdout: &mut dyn Write,
) -> std::io::Result<()> {
    for (job, result) in report.results() {
        writeln!(stdout, "{}", describe(job, result))?;
    }
    for i in &report.report.instances {
        writeln!(
            stdout,
            "instance {}: {} done, {} failed, {:.1} s, ${:.4}",
            one_line(&i.id),
            i.done,
            i.failed,
            i.seconds,
            i.cost_usd
        )?;
    }
    writeln!(
        stdout,
        "{} of {} job(s) done, {} failed; outputs in {out}",
        report.report.done(),
        report.jobs.len(),
        report.report.failed()
    )
}

/// The line of one job's result.
fn describe(job: &BatchJob, result: &JobResult<JobOutputs>) -> String {
    match result {
        JobResult::Done {
            instance,
            tries,
            seconds,
            output,
        } => format!(
            "done: {} on {} in {seconds:.1} s ({} output(s) in {}{})",
            one_line(&job.name),
            one_line(instance),
            output.files().len(),
            output.dir,
            if *tries > 1 {
                format!(", attempt {tries}")
            } else {
                String::new()
            }
        ),
        JobResult::Failed { reasons } => format!(
            "failed: {}: {}",
            one_line(&job.name),
            reasons
                .iter()
                .map(|r| format!("{}: {}", one_line(&r.instance), one_line(&r.reason)))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        JobResult::Cancelled => format!("cancelled: {}", one_line(&job.name)),
    }
}

/// Progress: JSON lines, or a bar of jobs and one line per instance on a terminal, or plain
/// lines on stderr.
struct Progress<'j> {
    json: bool,
    jobs: &'j [BatchJob],
    multi: Option<MultiProgress>,
    total: Option<ProgressBar>,
    /// Per instance: its line, and (in flight, done, failed).
    instances: BTreeMap<String, (Option<ProgressBar>, [usize; 3])>,
    done: usize,
    failed: usize,
}

impl<'j> Progress<'j> {
    fn new(json: bool, jobs: &'j [BatchJob]) -> Self {
        let multi = (!json && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let total = multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(jobs.len() as u64));
            bar.set_style(
                ProgressStyle::with_template("jobs [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        });
        Progress {
            json,
            jobs,
            multi,
            total,
            instances: BTreeMap::new(),
            done: 0,
            failed: 0,
        }
    }

    fn name(&self, job: usize) -> String {
        self.jobs
            .get(job)
            .map_or_else(String::new, |j| one_line(&j.name).into_owned())
    }

    fn line(&self, out: &mut dyn Write, text: &str) {
        match &self.multi {
            Some(m) => m.suspend(|| {
                let _ = writeln!(out, "{text}");
            }),
            None => {
                let _ = writeln!(out, "{text}");
            }
        }
    }

    /// Counts a change of an instance (in flight, done, failed) and redraws its line.
    fn count(&mut self, instance: &str, slot: usize, delta: isize) {
        let multi = self.multi.clone();
        let entry = self
            .instances
            .entry(instance.to_owned())
            .or_insert_with(|| {
                let bar = multi.map(|m| {
                    let bar = m.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("  {prefix}: {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_prefix(one_line(instance).into_owned());
                    bar
                });
                (bar, [0; 3])
            });
        entry.1[slot] = entry.1[slot].saturating_add_signed(delta);
        if let Some(bar) = &entry.0 {
            let [running, done, failed] = entry.1;
            bar.set_message(format!("{running} running, {done} done, {failed} failed"));
        }
    }

    fn event(&mut self, e: &BatchEvent<'_>, stdout: &mut dyn Write, stderr: &mut dyn Write) {
        if self.json {
            let _ = writeln!(stdout, "{}", e.to_json(self.jobs));
            return;
        }
        let text = match e {
            BatchEvent::LeftOut { instance, reason } => {
                format!("left out {}: {}", one_line(instance), one_line(reason))
            }
            BatchEvent::Pool(p) => match *p {
                PoolEvent::Started {
                    job,
                    instance,
                    attempt,
                } => {
                    self.count(instance, 0, 1);
                    format!(
                        "started {} on {} (attempt {attempt})",
                        self.name(job),
                        one_line(instance)
                    )
                }
                PoolEvent::Done {
                    job,
                    instance,
                    seconds,
                } => {
                    self.count(instance, 0, -1);
                    self.count(instance, 1, 1);
                    self.done += 1;
                    format!(
                        "done {} on {} in {seconds:.1} s",
                        self.name(job),
                        one_line(instance)
                    )
                }
                PoolEvent::AttemptFailed {
                    job,
                    instance,
                    reason,
                } => {
                    self.count(instance, 0, -1);
                    self.count(instance, 2, 1);
                    format!(
                        "attempt of {} on {} failed: {}",
                        self.name(job),
                        one_line(instance),
                        one_line(reason)
                    )
                }
                PoolEvent::Skipped {
                    job,
                    instance,
                    reason,
                } => {
                    self.count(instance, 0, -1);
                    format!(
                        "skipped {} on {}: {}",
                        self.name(job),
                        one_line(instance),
                        one_line(reason)
                    )
                }
                PoolEvent::JobFailed { job, .. } => {
                    self.failed += 1;
                    format!("job {} failed", self.name(job))
                }
                PoolEvent::Quarantined { instance, failures } => {
                    format!(
                        "instance {} left out after {failures} failures in a row",
                        one_line(instance)
                    )
                }
                PoolEvent::Restored { instance } => {
                    format!(
                        "instance {} answers again: back in the pool",
                        one_line(instance)
                    )
                }
            },
        };
        if let Some(total) = &self.total {
            total.set_position((self.done + self.failed) as u64);
            total.set_message(format!("{} done, {} failed", self.done, self.failed));
        }
        self.line(stderr, &text);
    }

    fn finish(&self) {
        if let Some(total) = &self.total {
            total.finish_and_clear();
        }
        for (bar, _) in self.instances.values() {
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
        }
    }
}
