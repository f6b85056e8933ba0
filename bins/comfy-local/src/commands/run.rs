//! `comfy-local run`: run a workflow with live progress (bars on a terminal, JSON lines with
//! `--json`), Ctrl-C interrupting the prompt on the server.

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal as _, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context as _;
use comfy_local_comfyui::Event;
use comfy_local_config::Config;
use comfy_local_sdk::{
    InputSpec, Interrupter, RunRequest, RunStep, SdkError, SeedSpec, SetSpec, run_workflow,
};
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
    if !args.batch.is_empty() {
        return super::batch::run(global, args, stdout, stderr);
    }
    let file = args
        .file
        .as_ref()
        .context("give a workflow file (or --batch FILE_OR_DIR...)")?;
    super::out_dir::check(&args.out)?;
    let loaded = Config::load(global.config.as_deref()).context("cannot load the configuration")?;
    let inputs = args
        .inputs
        .iter()
        .map(|s| InputSpec::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let sets = args
        .sets
        .iter()
        .map(|s| SetSpec::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let seed = args.seed.as_deref().map(SeedSpec::parse).transpose()?;
    let req = RunRequest {
        workflow: file.clone(),
        instance: args.instance.clone(),
        inputs,
        out_dir: args.out.clone(),
        previews: !args.no_previews,
        timeout: args.timeout,
        wait: !args.no_wait,
        sets,
        seed,
    };
    let interrupter = Interrupter::new();
    {
        let interrupter = interrupter.clone();
        let presses = AtomicUsize::new(0);
        // The first Ctrl-C stops the prompt on the server (the run then says so and exits 130).
        // A second one, or one before anything was submitted, exits at once. The handler prints
        // nothing: the main thread holds stdout and stderr.
        let _ = ctrlc::set_handler(move || {
            if presses.fetch_add(1, Ordering::SeqCst) == 0 && interrupter.interrupt() {
                return;
            }
            std::process::exit(130);
        });
    }
    let mut display = Display::new(global.json);
    let result = run_workflow(&loaded.config, &req, &interrupter, &mut |step| {
        display.step(&step, stdout, stderr);
    });
    display.finish(result.is_ok());
    // Errors about the workflow file already name it; the others get the file for context.
    let summary = result.map_err(|e| match e {
        SdkError::Workflow { .. } | SdkError::Io { .. } => anyhow::Error::new(e),
        other => anyhow::Error::new(other).context(format!("running {file}")),
    })?;
    if args.no_wait {
        if global.json {
            writeln!(
                stdout,
                "{}",
                json!({"event": "queued", "prompt_id": summary.prompt_id, "instance": summary.instance})
            )?;
        } else {
            writeln!(stdout, "{}", one_line(&summary.prompt_id))?;
        }
    } else if global.json {
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

/// At most this many nodes get a progress bar (or a remembered state) of their own: a server can
/// name any number of nodes. The others share one summary bar.
const MAX_BARS: usize = 64;
/// Nodes beyond [`MAX_BARS`] are counted up to this many.
const MAX_COUNTED: usize = 10_000;
/// Node ids listed in one `cached:` line.
const LISTED_CACHED: usize = 20;

/// What a node is doing, as the display shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeState {
    Running,
    Done,
    Cached,
    Failed,
    Interrupted,
}

impl NodeState {
    fn word(self) -> &'static str {
        match self {
            NodeState::Running => "running",
            NodeState::Done => "done",
            NodeState::Cached => "cached",
            NodeState::Failed => "failed",
            NodeState::Interrupted => "interrupted",
        }
    }
}

/// One node the display tracks.
struct Node {
    state: NodeState,
    /// Its bar, on a terminal.
    bar: Option<ProgressBar>,
}

/// Progress output: a bar per node on a terminal, JSON lines with --json, plain lines otherwise.
/// A node is shown finished when the next one starts (ComfyUI sends `executed` only for output
/// nodes). `jobs watch` and `download` show their steps with it too.
pub(super) struct Display {
    json: bool,
    multi: Option<MultiProgress>,
    /// The first [`MAX_BARS`] nodes seen.
    nodes: BTreeMap<String, Node>,
    /// Nodes seen beyond those (at most [`MAX_COUNTED`]).
    more: HashSet<String>,
    /// The summary bar of those, on a terminal.
    more_bar: Option<ProgressBar>,
    /// The node running now, and whether it was shown finished already.
    current: Option<(String, bool)>,
    /// The queue-position line, on a terminal.
    queue_bar: Option<ProgressBar>,
}

impl Display {
    pub(super) fn new(json: bool) -> Self {
        let multi = (!json && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Self::with(json, multi)
    }

    fn with(json: bool, multi: Option<MultiProgress>) -> Self {
        Display {
            json,
            multi,
            nodes: BTreeMap::new(),
            more: HashSet::new(),
            more_bar: None,
            current: None,
            queue_bar: None,
        }
    }

    /// Prints a line without tearing the bars (they are redrawn below it).
    fn line(&self, out: &mut dyn Write, text: &str) {
        match &self.multi {
            Some(multi) => multi.suspend(|| {
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }),
            None => {
                let _ = writeln!(out, "{text}");
            }
        }
    }

    fn new_bar(&self, node: &str) -> Option<ProgressBar> {
        let multi = self.multi.as_ref()?;
        let bar = multi.add(ProgressBar::new(1));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("node {}", one_line(node)));
        Some(bar)
    }

    /// Shows `node` in `state`. Plain output prints `node N: state` for every change but
    /// `cached` (which the caller summarises in one line).
    fn set_state(&mut self, node: &str, state: NodeState, stderr: &mut dyn Write) {
        if let Some(known) = self.nodes.get_mut(node) {
            // A cached node's outputs are announced again: it stays cached.
            if known.state == state
                || (known.state == NodeState::Cached && state == NodeState::Done)
            {
                return;
            }
            known.state = state;
            if let Some(bar) = &known.bar {
                show(bar, state);
            }
        } else if self.nodes.len() < MAX_BARS {
            let bar = self.new_bar(node);
            if let Some(bar) = &bar {
                show(bar, state);
            }
            self.nodes.insert(node.to_owned(), Node { state, bar });
        } else {
            if self.more.len() < MAX_COUNTED {
                self.more.insert(node.to_owned());
            }
            self.show_more(node, state);
        }
        if state != NodeState::Cached && self.multi.is_none() {
            self.line(
                stderr,
                &format!("node {}: {}", one_line(node), state.word()),
            );
        }
    }

    /// The summary bar of the nodes beyond [`MAX_BARS`].
    fn show_more(&mut self, node: &str, state: NodeState) {
        if self.more_bar.is_none()
            && let Some(multi) = &self.multi
        {
            let bar = multi.add(ProgressBar::new(1));
            bar.set_style(
                ProgressStyle::with_template("{prefix:>10} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix("more");
            self.more_bar = Some(bar);
        }
        if let Some(bar) = &self.more_bar {
            let counted = self.more.len();
            let plus = if counted >= MAX_COUNTED { "+" } else { "" };
            bar.set_message(format!(
                "{counted}{plus} more node(s); node {}: {}",
                one_line(node),
                state.word()
            ));
        }
    }

    /// The running node is finished: the next one started, or the prompt ended.
    fn finish_current(&mut self, stderr: &mut dyn Write) {
        if let Some((node, false)) = self.current.take() {
            self.set_state(&node, NodeState::Done, stderr);
        }
    }

    pub(super) fn step(
        &mut self,
        step: &RunStep<'_>,
        stdout: &mut dyn Write,
        stderr: &mut dyn Write,
    ) {
        if self.json {
            if let Some(line) = step.to_json() {
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
            RunStep::Overridden(o) => {
                let _ = writeln!(
                    stderr,
                    "set {}.{} = {}",
                    one_line(&o.node),
                    one_line(&o.input),
                    one_line(&o.value.to_string())
                );
            }
            RunStep::Uploaded { name, bytes } => {
                let _ = writeln!(stderr, "uploaded input/{} ({bytes} bytes)", one_line(name));
            }
            RunStep::Watching {
                prompt_id,
                live_events,
            } => {
                let _ = writeln!(
                    stderr,
                    "watching prompt {}{}",
                    one_line(prompt_id),
                    if *live_events {
                        ""
                    } else {
                        " (another client's: its queue place and its end only)"
                    }
                );
            }
            RunStep::Submitted { prompt_id } => {
                let _ = writeln!(stderr, "queued prompt {}", one_line(prompt_id));
            }
            RunStep::Queued { ahead } => self.queued(*ahead, stderr),
            RunStep::Saved { path, bytes, .. } => self.line(
                stdout,
                &format!("saved {} ({bytes} bytes)", one_line(path.as_str())),
            ),
            RunStep::Event(event) => self.event(event, stderr),
        }
    }

    /// The prompt's place in the queue while it waits.
    fn queued(&mut self, ahead: usize, stderr: &mut dyn Write) {
        let text = match ahead {
            0 => "waiting in the queue: next to run".to_owned(),
            n => format!("waiting in the queue: {n} prompt(s) ahead"),
        };
        if self.queue_bar.is_none()
            && let Some(multi) = &self.multi
        {
            let bar = multi.add(ProgressBar::new_spinner());
            self.queue_bar = Some(bar);
        }
        match &self.queue_bar {
            Some(bar) => bar.set_message(text),
            None => self.line(stderr, &text),
        }
    }

    fn event(&mut self, event: &Event, stderr: &mut dyn Write) {
        match event {
            Event::ExecutionStart { .. } => {
                if let Some(bar) = self.queue_bar.take() {
                    bar.finish_and_clear();
                }
            }
            Event::ExecutionCached { nodes, .. } if !nodes.is_empty() => {
                for node in nodes {
                    self.set_state(node, NodeState::Cached, stderr);
                }
                if self.multi.is_none() {
                    let listed: Vec<&str> = nodes
                        .iter()
                        .take(LISTED_CACHED)
                        .map(String::as_str)
                        .collect();
                    let more = match nodes.len().saturating_sub(LISTED_CACHED) {
                        0 => String::new(),
                        n => format!(" and {n} more"),
                    };
                    self.line(
                        stderr,
                        &format!("cached: node(s) {}{more}", one_line(&listed.join(", "))),
                    );
                }
            }
            Event::Executing {
                node: Some(node), ..
            } => {
                if self.current.as_ref().is_some_and(|(n, _)| n == node) {
                    return;
                }
                self.finish_current(stderr);
                self.current = Some((node.clone(), false));
                self.set_state(node, NodeState::Running, stderr);
            }
            Event::Executing { node: None, .. } | Event::ExecutionSuccess { .. } => {
                self.finish_current(stderr);
            }
            Event::Progress {
                node: Some(node),
                value,
                max,
                ..
            } => {
                if let Some(bar) = self.nodes.get(node).and_then(|n| n.bar.as_ref()) {
                    bar.set_length(*max as u64);
                    bar.set_position(*value as u64);
                }
            }
            Event::Executed { node, .. } => {
                if let Some((current, finished)) = &mut self.current
                    && current == node
                {
                    *finished = true;
                }
                self.set_state(node, NodeState::Done, stderr);
            }
            Event::ExecutionError(e) => {
                self.current = None;
                self.set_state(&e.node_id, NodeState::Failed, stderr);
                self.line(
                    stderr,
                    &format!(
                        "node {} ({}) failed: {}",
                        one_line(&e.node_id),
                        one_line(&e.node_type),
                        indented(e.exception_message.trim())
                    ),
                );
            }
            Event::ExecutionInterrupted { .. } => {
                if let Some((node, _)) = self.current.take() {
                    self.set_state(&node, NodeState::Interrupted, stderr);
                }
                self.line(stderr, "interrupted on the server");
            }
            Event::Stopping { removed_from_queue } => {
                let text = if *removed_from_queue {
                    "interrupted: the prompt was removed from the queue before it started"
                } else {
                    "interrupting the prompt on the server (Ctrl-C again to quit at once)"
                };
                self.line(stderr, text);
            }
            _ => {}
        }
    }

    /// Leaves no bar drawing: each finished (`done` when the run succeeded, `stopped` when
    /// not), so the final message prints below a still display.
    pub(super) fn finish(&mut self, ok: bool) {
        if let Some(bar) = self.queue_bar.take() {
            bar.finish_and_clear();
        }
        let bars = self
            .nodes
            .values()
            .filter_map(|n| n.bar.as_ref())
            .chain(&self.more_bar);
        for bar in bars {
            if bar.is_finished() {
                continue;
            }
            if ok {
                bar.finish_with_message("done");
            } else {
                bar.abandon_with_message("stopped");
            }
        }
    }
}

/// Shows `state` on a node's bar.
fn show(bar: &ProgressBar, state: NodeState) {
    match state {
        NodeState::Running => {
            if bar.is_finished() {
                bar.reset();
            }
            bar.set_message("running");
        }
        NodeState::Done | NodeState::Cached => bar.finish_with_message(state.word()),
        NodeState::Failed | NodeState::Interrupted => bar.abandon_with_message(state.word()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executing(node: &str) -> Event {
        Event::Executing {
            prompt_id: Some("p".to_owned()),
            node: Some(node.to_owned()),
            display_node: None,
        }
    }

    #[test]
    fn a_server_inventing_node_ids_gets_at_most_max_bars_bars() {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let mut display = Display::with(false, Some(multi));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        for i in 0..1000 {
            let event = executing(&format!("n{i}"));
            display.step(&RunStep::Event(&event), &mut out, &mut err);
        }
        let cached = Event::ExecutionCached {
            prompt_id: "p".to_owned(),
            nodes: (0..20_000).map(|i| format!("c{i}")).collect(),
            timestamp: None,
        };
        display.step(&RunStep::Event(&cached), &mut out, &mut err);
        let bars = display.nodes.values().filter(|n| n.bar.is_some()).count();
        assert_eq!((display.nodes.len(), bars), (MAX_BARS, MAX_BARS));
        assert_eq!(display.more.len(), MAX_COUNTED);
        assert!(display.more_bar.is_some());
        // Every node but the last one running was finished when the next started.
        let running = display
            .nodes
            .values()
            .filter(|n| n.state == NodeState::Running)
            .count();
        assert_eq!(
            running, 0,
            "the 64 tracked nodes were all followed by another"
        );
        display.finish(false);
        assert!(
            display
                .nodes
                .values()
                .filter_map(|n| n.bar.as_ref())
                .chain(&display.more_bar)
                .all(ProgressBar::is_finished),
            "no bar is left drawing after the run"
        );
    }

    #[test]
    fn plain_lines_list_at_most_listed_cached_ids() {
        let mut display = Display::with(false, None);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let cached = Event::ExecutionCached {
            prompt_id: "p".to_owned(),
            nodes: (0..500).map(|i| i.to_string()).collect(),
            timestamp: None,
        };
        display.step(&RunStep::Event(&cached), &mut out, &mut err);
        let text = String::from_utf8(err).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.ends_with(", 19 and 480 more\n"), "{text}");
    }
}
