//! `comfy-local models`: the model files installed on an instance.

use std::io::Write;

use anyhow::Context as _;
use comfy_local_config::Config;
use comfy_local_sdk::list_models;
use serde_json::json;

use crate::cli::{GlobalArgs, ModelsArgs};

/// List and print.
pub fn run(global: &GlobalArgs, args: &ModelsArgs, stdout: &mut dyn Write) -> anyhow::Result<()> {
    let loaded = Config::load(global.config.as_deref()).context("cannot load the configuration")?;
    let list = list_models(
        &loaded.config,
        args.instance.as_deref(),
        args.folder.as_deref(),
    )
    .context("cannot list the models")?;
    if global.json {
        writeln!(stdout, "{}", json!(list))?;
        return Ok(());
    }
    let width = list
        .models
        .iter()
        .map(|m| m.folder.len())
        .max()
        .unwrap_or(6);
    for m in &list.models {
        writeln!(stdout, "{:<width$}  {:>14}  {}", m.folder, m.size, m.name)?;
    }
    writeln!(stdout, "{} model file(s)", list.models.len())?;
    for r in &list.rejected {
        writeln!(stdout, "skipped an unsafe name the host returned: {r}")?;
    }
    if list.truncated {
        writeln!(stdout, "(listing stopped at its depth or entry limit)")?;
    }
    Ok(())
}
