//! `comfy-local instances`: every instance of every provider, as a table or JSON.

use std::io::Write;

use anyhow::Context as _;
use comfy_local_config::Config;
use comfy_local_sdk::list_instances;

use crate::cli::GlobalArgs;
use crate::exit::{Code, Failure};

/// List instances; a provider failure is reported after the list and ends with exit code 1.
pub fn run(global: &GlobalArgs, stdout: &mut dyn Write) -> anyhow::Result<()> {
    let loaded = Config::load(global.config.as_deref()).context("cannot load the configuration")?;
    let list = list_instances(&loaded.config);
    if global.json {
        writeln!(stdout, "{}", serde_json::to_string(&list)?)?;
    } else {
        write!(stdout, "{}", list.to_table())?;
    }
    if list.errors.is_empty() {
        return Ok(());
    }
    Err(Failure {
        code: Code::Failed,
        message: format!("{} provider(s) could not be listed", list.errors.len()),
        hint: Some("see the error lines above; the other instances are listed".to_owned()),
        json_printed: global.json,
    }
    .into())
}
