//! `comfy-local config check`: load, validate and print the resolved config.

use std::io::Write;

use anyhow::Context as _;
use comfy_local_config::{Config, LoadedConfig};

use crate::cli::{CheckArgs, GlobalArgs};
use crate::exit::{Code, Failure, chain};

/// Load the config (the positional path, else `--config`, else the default places), print it
/// with secrets redacted, and print warnings on stderr.
pub fn check(
    global: &GlobalArgs,
    args: &CheckArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    let explicit = args.path.as_deref().or(global.config.as_deref());
    let loaded = Config::load(explicit).context("cannot load the configuration")?;
    tracing::debug!(path = %loaded.path, source = %loaded.source, "config loaded");

    for warning in &loaded.warnings {
        writeln!(stderr, "warning: {}", chain(warning))?;
    }
    if global.json {
        print_json(&loaded, stdout)?;
    } else {
        print_human(&loaded, stdout)?;
    }
    if args.deny_warnings && !loaded.warnings.is_empty() {
        return Err(Failure {
            code: Code::Failed,
            message: format!(
                "{} warning(s) and --deny-warnings was given",
                loaded.warnings.len()
            ),
            hint: Some(String::from(
                "fix the warnings above, or drop --deny-warnings",
            )),
            json_printed: false,
        }
        .into());
    }
    Ok(())
}

fn print_human(loaded: &LoadedConfig, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = &loaded.config;
    writeln!(out, "# config: {} (from {})", loaded.path, loaded.source)?;
    let instances: Vec<&str> = config.local.iter().map(|i| i.id.as_str()).collect();
    writeln!(
        out,
        "# valid: local support {}, {} local instance(s) [{}], VastAI {}, {} warning(s)",
        if config.enabled {
            "enabled"
        } else {
            "disabled"
        },
        instances.len(),
        instances.join(", "),
        if config.vastai.enabled {
            "enabled"
        } else {
            "disabled"
        },
        loaded.warnings.len()
    )?;
    write!(out, "{}", config.to_redacted_yaml())?;
    Ok(())
}

fn print_json(loaded: &LoadedConfig, out: &mut dyn Write) -> anyhow::Result<()> {
    let warnings: Vec<serde_json::Value> = loaded
        .warnings
        .iter()
        .map(|w| serde_json::json!({ "key": w.path.to_string(), "message": chain(&w.kind) }))
        .collect();
    let body = serde_json::json!({
        "ok": true,
        "path": loaded.path,
        "source": loaded.source,
        "warnings": warnings,
        "config": loaded.config.redacted(),
    });
    writeln!(out, "{body}")?;
    Ok(())
}
