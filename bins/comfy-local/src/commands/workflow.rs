//! `comfy-local workflow convert|deps`: headless UI -> API conversion and the dependency check.

use std::io::Write;

use anyhow::Context as _;
use comfy_local_config::Config;
use comfy_local_sdk::workflow::{
    check, client_for, inventory, load_workflow, object_info_from, object_info_from_file, to_api,
};

use crate::cli::{ConvertArgs, DepsArgs, GlobalArgs};
use crate::exit::{Code, Failure};

/// Print the API-format prompt.
pub fn convert(
    global: &GlobalArgs,
    args: &ConvertArgs,
    stdout: &mut dyn Write,
) -> anyhow::Result<()> {
    let wf = load_workflow(&args.file)?;
    let object_info = if let Some(path) = &args.object_info {
        object_info_from_file(path)?
    } else {
        let loaded =
            Config::load(global.config.as_deref()).context("cannot load the configuration")?;
        let target = client_for(&loaded.config, args.instance.as_deref())?;
        object_info_from(&target.client)?
    };
    let prompt = to_api(&args.file, &wf, &object_info)?;
    // The prompt is the product: pretty for a file, one line (JSON Lines) with --json.
    if global.json {
        writeln!(stdout, "{}", serde_json::to_string(&prompt)?)?;
    } else {
        writeln!(stdout, "{}", serde_json::to_string_pretty(&prompt)?)?;
    }
    Ok(())
}

/// Print what the workflow needs that the instance lacks.
pub fn deps(global: &GlobalArgs, args: &DepsArgs, stdout: &mut dyn Write) -> anyhow::Result<()> {
    let wf = load_workflow(&args.file)?;
    let loaded = Config::load(global.config.as_deref()).context("cannot load the configuration")?;
    let target = client_for(&loaded.config, args.instance.as_deref())?;
    let id = &target.instance;
    let object_info = object_info_from(&target.client)?;
    let inventory = inventory(&target.client, object_info)?;
    let report = check(&wf, &inventory);
    if global.json {
        writeln!(stdout, "{}", serde_json::to_string(&report)?)?;
    } else {
        writeln!(stdout, "instance: {id}")?;
        write!(stdout, "{report}")?;
    }
    if report.is_complete() {
        return Ok(());
    }
    Err(Failure {
        code: Code::Failed,
        message: format!("instance {id} lacks what {} needs", args.file),
        hint: Some(
            "install the missing nodes and models, or put the input files in ComfyUI's input/"
                .to_owned(),
        ),
        json_printed: global.json,
    }
    .into())
}
