//! `comfy-local run`: run a workflow with live progress (bars on a terminal, JSON lines with
//! `--json`), Ctrl-C interrupting the prompt on the server.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write};

use anyhow::Context as _;
use comfy_local_comfyui::Event;
use comfy_local_config::Config;
use comfy_local_sdk::{InputSpec, Interrupter, RunRequest, RunStep, run_workflow};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::cli::{GlobalArgs, RunArgs};
use comfy_local_sdk::terminal::{indented, one_line};

/// Run the workflow and print what happens.
pub fn run(
    global: &GlobalArgs,
    args: &RunArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    super::out_dir::check(&args.out)?;
    let loaded = Config::load(global.config.as_deref()).context("cannot load the configuration")?;
    let inputs = args
        .inputs
        .iter()
        .map(|s| InputSpec::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let req = RunRequest {
        workflow: args.file.clone(),
        instance: args.instance.clone(),
        inputs,
        out_dir: args.out.clone(),
        previews: !args.no_previews,
        timeout: args.timeout,
    };
    let interrupter = Interrupter::new();
    {
        let interrupter = interrupter.clone();
        // A second Ctrl-C while interrupting ends the process the usual way.
        let _ = ctrlc::set_handler(move || {
            if interrupter.interrupt().is_none() {
                std::process::exit(130);
            }
        });
    }
    let mut display = Display::new(global.json);
    let result = run_workflow(&loaded.config, &req, &interrupter, &mut |step| {
        display.step(&step, stdout, stderr);
    });
    display.finish();
    let summary = result.with_context(|| format!("running {}", args.file))?;
    if global.json {
        writeln!(stdout, "{}", json!({"event": "done", "summary": summary}))?;
    } else {
        writeln!(
            stdout,
            "done: prompt {} on {} in {:.1} s, {} output(s) in {}{}",
            one_line(&summary.prompt_id),
            one_line(&summary.instance),
            summary.seconds,
            summary.outputs.len(),
            args.out,
            if summary.used_polling {
                " (WebSocket lost: completion seen by polling)"
            } else {
                ""
            }
        )?;
    }
    Ok(())
}

/// Progress output: a bar per node on a terminal, JSON lines with --json, plain lines otherwise.
struct Display {
    json: bool,
    multi: Option<MultiProgress>,
    bars: BTreeMap<String, ProgressBar>,
}

impl Display {
    fn new(json: bool) -> Self {
        let multi = (!json && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Display {
            json,
            multi,
            bars: BTreeMap::new(),
        }
    }

    fn bar(&mut self, node: &str) -> Option<&ProgressBar> {
        let multi = self.multi.as_ref()?;
        Some(self.bars.entry(node.to_owned()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new(1));
            bar.set_style(
                ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(format!("node {}", one_line(node)));
            bar
        }))
    }

    fn step(&mut self, step: &RunStep<'_>, stdout: &mut dyn Write, stderr: &mut dyn Write) {
        if self.json {
            if let Some(line) = json_line(step) {
                let _ = writeln!(stdout, "{line}");
                let _ = stdout.flush();
            }
            return;
        }
        match step {
            RunStep::Prepared {
                instance,
                nodes,
                converted,
            } => {
                let _ = writeln!(
                    stderr,
                    "instance {}: {nodes} node(s){}, dependencies being checked",
                    one_line(instance),
                    if *converted {
                        " (converted from UI format)"
                    } else {
                        ""
                    }
                );
            }
            RunStep::Uploaded { name, bytes } => {
                let _ = writeln!(stderr, "uploaded input/{} ({bytes} bytes)", one_line(name));
            }
            RunStep::Submitted { prompt_id } => {
                let _ = writeln!(stderr, "queued prompt {}", one_line(prompt_id));
            }
            RunStep::Saved { path, bytes } => {
                let _ = writeln!(stdout, "saved {} ({bytes} bytes)", one_line(path.as_str()));
            }
            RunStep::Event(event) => self.event(event, stderr),
        }
    }

    fn event(&mut self, event: &Event, stderr: &mut dyn Write) {
        match event {
            Event::ExecutionCached { nodes, .. } if !nodes.is_empty() => {
                let _ = writeln!(stderr, "cached: node(s) {}", one_line(&nodes.join(", ")));
            }
            Event::Executing {
                node: Some(node), ..
            } => {
                if let Some(bar) = self.bar(node) {
                    bar.set_message("running");
                } else {
                    let _ = writeln!(stderr, "node {}: running", one_line(node));
                }
            }
            Event::Progress {
                node: Some(node),
                value,
                max,
                ..
            } => {
                if let Some(bar) = self.bar(node) {
                    bar.set_length(*max as u64);
                    bar.set_position(*value as u64);
                }
            }
            Event::Executed { node, .. } => {
                if let Some(bar) = self.bar(node) {
                    bar.finish_with_message("done");
                } else {
                    let _ = writeln!(stderr, "node {}: done", one_line(node));
                }
            }
            Event::ExecutionError(e) => {
                let _ = writeln!(
                    stderr,
                    "node {} ({}) failed: {}",
                    one_line(&e.node_id),
                    one_line(&e.node_type),
                    indented(e.exception_message.trim())
                );
            }
            Event::ExecutionInterrupted { .. } => {
                let _ = writeln!(stderr, "interrupted on the server");
            }
            _ => {}
        }
    }

    fn finish(&mut self) {
        for bar in self.bars.values() {
            if !bar.is_finished() {
                bar.finish();
            }
        }
    }
}

/// One JSON line per step (events reduced to what a script needs).
fn json_line(step: &RunStep<'_>) -> Option<serde_json::Value> {
    Some(match step {
        RunStep::Prepared {
            instance,
            nodes,
            converted,
        } => {
            json!({"event": "prepared", "instance": instance, "nodes": nodes, "converted": converted})
        }
        RunStep::Uploaded { name, bytes } => {
            json!({"event": "uploaded", "name": name, "bytes": bytes})
        }
        RunStep::Submitted { prompt_id } => json!({"event": "submitted", "prompt_id": prompt_id}),
        RunStep::Saved { path, bytes } => json!({"event": "saved", "path": path, "bytes": bytes}),
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
            _ => return None,
        },
    })
}
