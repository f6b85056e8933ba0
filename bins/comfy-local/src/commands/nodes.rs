//! `comfy-local install node` and `comfy-local nodes`: a line per step on stderr (JSON lines
//! with `--json`), the commit installed, and the nodes in `custom_nodes/` with their commits.

use std::io::Write;

use anyhow::Context as _;
use comfy_local_config::Config;
use comfy_local_sdk::terminal::one_line;
use comfy_local_sdk::{InstallNodeRequest, NodeEvent, install_node, list_nodes};
use serde_json::json;

use crate::cli::{GlobalArgs, InstallNodeArgs, NodesArgs};

/// Install the node and report.
pub fn install(
    global: &GlobalArgs,
    args: &InstallNodeArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    let loaded = Config::load(global.config.as_deref()).context("cannot load the configuration")?;
    let req = InstallNodeRequest {
        url: args.url.clone(),
        git_ref: args.git_ref.clone(),
        force: args.force,
        instance: args.instance.clone(),
    };
    let outcome = install_node(&loaded.config, &req, &mut |event| {
        if global.json {
            let _ = writeln!(stdout, "{}", json!(event));
            return;
        }
        let NodeEvent::Step { step, detail } = event;
        let _ = writeln!(stderr, "{step}: {}", one_line(detail));
    })
    .with_context(|| format!("installing the node from {}", one_line(&args.url)))?;
    if global.json {
        writeln!(
            stdout,
            "{}",
            json!({"event": "done", "ok": true, "result": outcome})
        )?;
        return Ok(());
    }
    writeln!(
        stdout,
        "installed {} at commit {} ({}{})",
        outcome.path,
        outcome.commit,
        if outcome.requirements_installed {
            format!(
                "requirements.txt installed with {}",
                one_line(&outcome.python)
            )
        } else {
            "no requirements.txt".to_owned()
        },
        if outcome.install_py_ran {
            ", install.py run"
        } else {
            ""
        }
    )?;
    writeln!(stdout, "restart ComfyUI to load it")?;
    Ok(())
}

/// List and print.
pub fn list(global: &GlobalArgs, args: &NodesArgs, stdout: &mut dyn Write) -> anyhow::Result<()> {
    let loaded = Config::load(global.config.as_deref()).context("cannot load the configuration")?;
    let list =
        list_nodes(&loaded.config, args.instance.as_deref()).context("cannot list the nodes")?;
    if global.json {
        writeln!(stdout, "{}", json!(list))?;
        return Ok(());
    }
    for n in &list.nodes {
        let commit = n.commit.as_deref().unwrap_or("(not a git checkout)");
        writeln!(stdout, "{:<40}  {commit}", one_line(&n.name))?;
    }
    writeln!(stdout, "{} node(s)", list.nodes.len())?;
    for r in &list.rejected {
        writeln!(
            stdout,
            "skipped an unsafe name the host returned: {}",
            one_line(r)
        )?;
    }
    Ok(())
}
