//! `comfy-local install missing`: the plan (dry run) or its execution and the re-check, as lines
//! for a person or JSON Lines (one object per plan item and event, a final summary).

use std::io::Write;

use anyhow::Context as _;
use comfy_local_config::Config;
use comfy_local_sdk::connection::{ResolvedInstance, resolve_env};
use comfy_local_sdk::install::ProgressPacer;
use comfy_local_sdk::install::missing::{
    MissingEvent, NodeMap, NodeVia, Plan, Unresolved, check_missing_resolved, execute_resolved,
    read_node_map,
};
use comfy_local_sdk::terminal::one_line;
use comfy_local_sdk::workflow::DependencyReport;
use comfy_local_sdk::{SdkError, error_chain};
use serde_json::{Value, json};

use super::install::{Human, cancel_on_ctrl_c, json_pacer};
use crate::cli::{GlobalArgs, InstallMissingArgs};
use crate::exit::{Code, Failure};

/// Plan, and with `--yes` install and check again.
pub fn run(
    global: &GlobalArgs,
    args: &InstallMissingArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    let loaded = Config::load(global.config.as_deref()).context("cannot load the configuration")?;
    let config = &loaded.config;
    let node_map = match &args.node_map {
        Some(path) => read_node_map(path)?,
        None => NodeMap::new(),
    };
    // Resolved once for the check, the installs and the re-check (a rented instance: one
    // request to its provider).
    let resolved = resolve_env(config, args.instance.as_deref()).map_err(SdkError::from)?;
    let checked = check_missing_resolved(config, &resolved, &args.file, &node_map)?;
    let plan = checked.plan;
    if global.json {
        print_plan_json(&plan, stdout)?;
    } else {
        print_plan(&plan, stdout)?;
    }
    if args.yes {
        let target = Target {
            config,
            resolved: &resolved,
        };
        install(global, &target, args, &node_map, &plan, stdout, stderr)
    } else {
        dry_run_end(global.json, &plan, stdout)
    }
}

/// A check failed (exit 1).
fn failed(json: bool, message: String, hint: Option<String>) -> anyhow::Error {
    Failure {
        code: Code::Failed,
        message,
        hint,
        json_printed: json,
    }
    .into()
}

fn dry_run_end(json: bool, plan: &Plan, stdout: &mut dyn Write) -> anyhow::Result<()> {
    if json {
        writeln!(
            stdout,
            "{}",
            json!({"event": "summary", "ok": plan.is_complete(), "dry_run": true,
                   "instance": plan.instance, "models": plan.models.len(),
                   "nodes": plan.nodes.len(), "unresolved": plan.unresolved.len()})
        )?;
    } else if plan.is_empty() && plan.is_complete() {
        writeln!(stdout, "nothing to install")?;
    } else {
        writeln!(
            stdout,
            "dry run: nothing installed; add --yes to install the plan"
        )?;
    }
    if plan.is_complete() {
        return Ok(());
    }
    Err(failed(
        json,
        format!(
            "{} missing item(s) cannot be resolved",
            plan.unresolved.len()
        ),
        Some("name the nodes' repositories in --node-map; models need a URL in the workflow's models metadata (or use install model)".to_owned()),
    ))
}

/// The instance the plan is for, as resolved once.
struct Target<'a> {
    config: &'a Config,
    resolved: &'a ResolvedInstance,
}

/// Runs the plan, checks again and reports.
fn install(
    global: &GlobalArgs,
    target: &Target<'_>,
    args: &InstallMissingArgs,
    node_map: &NodeMap,
    plan: &Plan,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    let cancel = cancel_on_ctrl_c();
    let mut human = Human::new();
    let mut pacer = json_pacer();
    let executed = execute_resolved(
        target.config,
        target.resolved,
        plan,
        &|name| std::env::var(name).ok(),
        &cancel,
        &mut |event| {
            if global.json {
                if let Some(line) = json_line(event, &mut pacer) {
                    let _ = writeln!(stdout, "{line}");
                }
            } else {
                human_event(event, &mut human, stdout, stderr);
            }
        },
    );
    human.finish();
    let failures = executed.failures();
    let again = check_missing_resolved(target.config, target.resolved, &args.file, node_map)?;
    let (still, restart) = executed.after(&again.report);
    // Input files are reported, not installed: they do not make the run fail (`run --input`).
    let remaining = !still.missing_nodes.is_empty()
        || !still.missing_models.is_empty()
        || still.conversion_error.is_some();
    let clean = failures == 0 && !remaining;
    if global.json {
        writeln!(
            stdout,
            "{}",
            json!({"event": "summary", "ok": clean, "dry_run": false, "instance": plan.instance,
                   "installed": executed.models.len() + executed.nodes.len() - failures,
                   "failed": failures, "restart_required_for": restart, "still_missing": still})
        )?;
    } else {
        print_recheck(&still, &restart, stdout)?;
    }
    if clean {
        return Ok(());
    }
    Err(failed(
        global.json,
        format!(
            "{failures} install(s) failed; {} missing after the installs",
            if remaining {
                "some dependencies are still"
            } else {
                "nothing else is"
            }
        ),
        None,
    ))
}

/// The JSON line of an event; model progress paced by `pacer`.
fn json_line(event: &MissingEvent<'_>, pacer: &mut ProgressPacer) -> Option<Value> {
    if let MissingEvent::Model(e) = event
        && !pacer.lets_through(e)
    {
        return None;
    }
    Some(event.to_json())
}

/// Progress on stderr, each item's result on stdout.
fn human_event(
    event: &MissingEvent<'_>,
    human: &mut Human,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) {
    let _ = match event {
        MissingEvent::Model(e) => {
            human.event(e, stderr);
            Ok(())
        }
        MissingEvent::Node(e) => {
            let comfy_local_sdk::NodeEvent::Step { step, detail } = e;
            writeln!(stderr, "{step}: {}", one_line(detail))
        }
        MissingEvent::ModelStarted(_) | MissingEvent::NodeStarted(_) => Ok(()),
        MissingEvent::ModelDone(m, r) => {
            human.finish();
            match r {
                Ok(o) => writeln!(stdout, "installed model {} ({} bytes)", o.path, o.size),
                Err(e) => writeln!(
                    stdout,
                    "FAILED model {}/{}: {}",
                    one_line(&m.folder),
                    one_line(&m.name),
                    one_line(&error_chain(e))
                ),
            }
        }
        MissingEvent::NodeDone(n, r) => match r {
            Ok(o) => writeln!(stdout, "installed node {} at commit {}", o.path, o.commit),
            Err(e) => writeln!(
                stdout,
                "FAILED node {}: {}",
                one_line(&n.url),
                one_line(&error_chain(e))
            ),
        },
    };
}

fn ids(ids: &[String]) -> String {
    let label = if ids.len() == 1 { "node" } else { "nodes" };
    format!("{label} {}", ids.join(", "))
}

fn print_plan_json(plan: &Plan, out: &mut dyn Write) -> anyhow::Result<()> {
    for m in &plan.models {
        writeln!(
            out,
            "{}",
            json!({"event": "plan", "kind": "model", "item": m})
        )?;
    }
    for n in &plan.nodes {
        writeln!(
            out,
            "{}",
            json!({"event": "plan", "kind": "node", "item": n})
        )?;
    }
    for u in &plan.unresolved {
        writeln!(out, "{}", json!({"event": "unresolved", "item": u}))?;
    }
    for i in &plan.missing_inputs {
        writeln!(out, "{}", json!({"event": "missing_input", "name": i}))?;
    }
    Ok(())
}

fn print_plan(plan: &Plan, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(out, "instance: {}", one_line(&plan.instance))?;
    if !plan.models.is_empty() {
        writeln!(out, "Models to install ({}):", plan.models.len())?;
        for m in &plan.models {
            writeln!(
                out,
                "  {}/{} ({})\n      from {}",
                one_line(&m.folder),
                one_line(&m.name),
                ids(&m.node_ids),
                one_line(&m.url)
            )?;
        }
    }
    if !plan.nodes.is_empty() {
        writeln!(out, "Custom nodes to install ({}):", plan.nodes.len())?;
        for n in &plan.nodes {
            let via = match n.via {
                NodeVia::NodeMap => "--node-map",
                NodeVia::AuxId => "properties.aux_id",
            };
            let at = n
                .git_ref
                .as_deref()
                .map(|r| format!(" at {}", one_line(r)))
                .unwrap_or_default();
            writeln!(
                out,
                "  custom_nodes/{} (for {})\n      from {}{at} ({via})",
                one_line(&n.folder),
                one_line(&n.classes.join(", ")),
                one_line(&n.url)
            )?;
        }
    }
    print_unresolved(&plan.unresolved, out)?;
    if !plan.missing_inputs.is_empty() {
        writeln!(
            out,
            "Input files missing (not installed by this command; give them to run --input): {}",
            one_line(&plan.missing_inputs.join(", "))
        )?;
    }
    Ok(())
}

fn print_unresolved(unresolved: &[Unresolved], out: &mut dyn Write) -> anyhow::Result<()> {
    if !unresolved.is_empty() {
        writeln!(out, "Cannot be resolved ({}):", unresolved.len())?;
        for u in unresolved {
            match u {
                Unresolved::Model {
                    folder,
                    name,
                    node_ids,
                    reason,
                } => writeln!(
                    out,
                    "  model {}/{} ({}): {}",
                    one_line(folder),
                    one_line(name),
                    ids(node_ids),
                    one_line(reason)
                )?,
                Unresolved::Node {
                    class_type,
                    node_ids,
                    reason,
                } => writeln!(
                    out,
                    "  node class {} ({}): {}",
                    one_line(class_type),
                    ids(node_ids),
                    one_line(reason)
                )?,
                Unresolved::Conversion { reason } => writeln!(
                    out,
                    "  the workflow could not be converted, so its models were not checked: {}",
                    one_line(reason)
                )?,
            }
        }
    }
    Ok(())
}

fn print_recheck(
    still: &DependencyReport,
    restart: &[String],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    writeln!(out, "Checked again:")?;
    if !restart.is_empty() {
        let names: Vec<&str> = restart.iter().map(String::as_str).collect();
        writeln!(
            out,
            "  installed, loaded when ComfyUI restarts: {}",
            one_line(&names.join(", "))
        )?;
    }
    if still.is_complete() {
        writeln!(out, "  nothing else is missing")?;
    } else {
        write!(out, "{still}")?;
    }
    Ok(())
}
