//! `comfy-local jobs [show|watch|cancel ID]`: the prompts of an instance's queue and history.

use std::io::Write;

use anyhow::Context as _;
use comfy_local_config::Config;
use comfy_local_sdk::terminal::{indented, one_line};
use comfy_local_sdk::{
    CancelAction, Job, JobDetail, JobList, cancel_job, list_jobs, show_job, watch_job,
};
use serde_json::json;

use super::run::Display;
use crate::cli::{GlobalArgs, JobsArgs, JobsCommand};

/// Dispatch `jobs` and its subcommands.
pub fn run(
    global: &GlobalArgs,
    args: &JobsArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    let loaded = Config::load(global.config.as_deref()).context("cannot load the configuration")?;
    let config = &loaded.config;
    let instance = args.instance.as_deref();
    match &args.command {
        None => {
            let list = list_jobs(config, instance, Some(args.history))
                .context("cannot list the prompts")?;
            print_list(global.json, &list, args.history, stdout)
        }
        Some(JobsCommand::Show(id)) => {
            let detail = show_job(config, instance, &id.prompt_id)
                .with_context(|| format!("cannot show prompt {}", one_line(&id.prompt_id)))?;
            print_detail(global.json, &detail, stdout)
        }
        Some(JobsCommand::Watch(id)) => {
            watch(global, config, instance, &id.prompt_id, stdout, stderr)
        }
        Some(JobsCommand::Cancel(id)) => {
            let outcome = cancel_job(config, instance, &id.prompt_id)
                .with_context(|| format!("cannot cancel prompt {}", one_line(&id.prompt_id)))?;
            if global.json {
                let mut body = json!(outcome);
                body["ok"] = json!(true);
                writeln!(stdout, "{body}")?;
            } else {
                let what = match outcome.action {
                    CancelAction::Interrupted => {
                        "it was running: ComfyUI was asked to interrupt it (it stops at its next node or progress check)"
                    }
                    CancelAction::RemovedFromQueue => {
                        "it was waiting: it was removed from the queue"
                    }
                };
                writeln!(
                    stdout,
                    "cancelled prompt {}: {what}",
                    one_line(&outcome.prompt_id)
                )?;
            }
            Ok(())
        }
    }
}

fn watch(
    global: &GlobalArgs,
    config: &Config,
    instance: Option<&str>,
    prompt_id: &str,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    // Watching changes nothing on the server: Ctrl-C just stops (exit 130).
    let _ = ctrlc::set_handler(|| std::process::exit(130));
    let mut display = Display::new(global.json);
    let result = watch_job(config, instance, prompt_id, &mut |step| {
        display.step(&step, stdout, stderr);
    });
    display.finish(result.is_ok());
    let summary = result.with_context(|| format!("watching prompt {}", one_line(prompt_id)))?;
    if global.json {
        writeln!(stdout, "{}", json!({"event": "done", "summary": summary}))?;
    } else {
        writeln!(
            stdout,
            "done: prompt {} on {}, {} output file(s) (comfy-local download {} --out DIR saves them)",
            one_line(&summary.prompt_id),
            one_line(&summary.instance),
            summary.outputs,
            one_line(&summary.prompt_id),
        )?;
    }
    Ok(())
}

fn print_list(
    json: bool,
    list: &JobList,
    history: u32,
    stdout: &mut dyn Write,
) -> anyhow::Result<()> {
    if json {
        let mut body = json!(list);
        body["ok"] = json!(true);
        writeln!(stdout, "{body}")?;
        return Ok(());
    }
    let count = |queued: bool| {
        list.jobs
            .iter()
            .filter(|j| j.state.is_queued() == queued)
            .count()
    };
    writeln!(
        stdout,
        "instance {}: {} in the queue, {} in history (the last {history} at most)",
        one_line(&list.instance),
        count(true),
        count(false)
    )?;
    if list.jobs.is_empty() {
        return Ok(());
    }
    writeln!(
        stdout,
        "{:<11}  {:<36}  {:>5}  {:>5}  {:>7}  {:<6}  note",
        "STATE", "PROMPT", "#", "NODES", "OUTPUTS", "CLIENT"
    )?;
    for job in &list.jobs {
        writeln!(stdout, "{}", job_line(job))?;
    }
    Ok(())
}

fn job_line(job: &Job) -> String {
    let note = match (&job.ahead, &job.error) {
        (Some(0), _) => "next to run".to_owned(),
        (Some(n), _) => format!("{n} ahead"),
        (None, Some(e)) => one_line(e).chars().take(100).collect(),
        (None, None) => String::new(),
    };
    format!(
        "{:<11}  {:<36}  {:>5}  {:>5}  {:>7}  {:<6}  {note}",
        job.state.word(),
        one_line(&job.prompt_id),
        job.number.map_or_else(|| "-".to_owned(), |n| n.to_string()),
        job.nodes,
        if job.state.is_queued() {
            "-".to_owned()
        } else {
            job.outputs.to_string()
        },
        if job.ours { "ours" } else { "other" },
    )
    .trim_end()
    .to_owned()
}

fn print_detail(json: bool, d: &JobDetail, stdout: &mut dyn Write) -> anyhow::Result<()> {
    if json {
        let mut body = json!(d);
        body["ok"] = json!(true);
        writeln!(stdout, "{body}")?;
        return Ok(());
    }
    let job = &d.job;
    writeln!(stdout, "prompt   {}", one_line(&job.prompt_id))?;
    writeln!(stdout, "instance {}", one_line(&d.instance))?;
    let place = match job.ahead {
        Some(0) => " (next to run)".to_owned(),
        Some(n) => format!(" ({n} ahead)"),
        None => String::new(),
    };
    writeln!(stdout, "state    {}{place}", job.state.word())?;
    if let Some(n) = job.number {
        writeln!(stdout, "number   {n}")?;
    }
    writeln!(
        stdout,
        "client   {} ({})",
        job.client_id.as_deref().map_or("none".into(), one_line),
        if job.ours {
            "comfy-local"
        } else {
            "another client"
        }
    )?;
    if let Some(s) = d.seconds {
        writeln!(stdout, "ran      {s:.3} s")?;
    }
    if let Some(e) = &job.error {
        writeln!(stdout, "error    {}", indented(e))?;
    }
    let nodes: Vec<String> = d
        .node_list
        .iter()
        .map(|n| format!("{} {}", one_line(&n.id), one_line(&n.class_type)))
        .collect();
    writeln!(stdout, "nodes    {}: {}", nodes.len(), nodes.join(", "))?;
    if !d.cached.is_empty() {
        writeln!(stdout, "cached   {}", one_line(&d.cached.join(", ")))?;
    }
    for f in &d.files {
        let path = if f.subfolder.is_empty() {
            f.filename.clone()
        } else {
            format!("{}/{}", f.subfolder, f.filename)
        };
        writeln!(
            stdout,
            "output   node {}: {} [{}]",
            one_line(&f.node),
            one_line(&path),
            one_line(&f.folder)
        )?;
    }
    Ok(())
}
