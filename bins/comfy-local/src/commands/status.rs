//! `comfy-local status` and `comfy-local free`: an instance's devices, memory, queue and
//! versions, and asking its ComfyUI to free memory.

use std::io::Write;
use std::time::Duration;

use anyhow::Context as _;
use comfy_local_config::Config;
use comfy_local_sdk::terminal::one_line;
use comfy_local_sdk::{DeviceStatus, free_memory, instance_status};
use serde_json::json;

use crate::cli::{FreeArgs, GlobalArgs, StatusArgs};

/// How long after ComfyUI's answer to `POST /free` the devices are read again.
const FREE_SETTLE: Duration = Duration::from_secs(1);

/// Ask and print.
pub fn status(
    global: &GlobalArgs,
    args: &StatusArgs,
    stdout: &mut dyn Write,
) -> anyhow::Result<()> {
    let loaded = Config::load(global.config.as_deref()).context("cannot load the configuration")?;
    let status = instance_status(&loaded.config, args.instance.as_deref())
        .context("cannot get the instance's status")?;
    if global.json {
        let mut body = json!(status);
        body["ok"] = json!(true);
        writeln!(stdout, "{body}")?;
        return Ok(());
    }
    let shown = |v: &Option<String>| {
        v.as_deref()
            .map_or_else(|| "unknown".to_owned(), |s| one_line(s).into_owned())
    };
    writeln!(
        stdout,
        "instance {}{}",
        one_line(&status.instance),
        if status.via_ssh { " (through SSH)" } else { "" }
    )?;
    writeln!(stdout, "ComfyUI  {}", shown(&status.comfyui_version))?;
    writeln!(stdout, "Python   {}", shown(&status.python_version))?;
    writeln!(stdout, "PyTorch  {}", shown(&status.pytorch_version))?;
    match (status.ram_total, status.ram_free) {
        (Some(total), Some(free)) => {
            writeln!(stdout, "RAM      {} free of {}", bytes(free), bytes(total))?;
        }
        _ => writeln!(stdout, "RAM      unknown")?,
    }
    writeln!(
        stdout,
        "queue    {} running, {} pending",
        status.queue_running, status.queue_pending
    )?;
    if status.devices.is_empty() {
        writeln!(stdout, "no devices reported")?;
    }
    for d in &status.devices {
        writeln!(stdout, "device   {}", device_line(d))?;
    }
    Ok(())
}

/// Free and print before/after.
pub fn free(global: &GlobalArgs, args: &FreeArgs, stdout: &mut dyn Write) -> anyhow::Result<()> {
    let loaded = Config::load(global.config.as_deref()).context("cannot load the configuration")?;
    let outcome = free_memory(
        &loaded.config,
        args.instance.as_deref(),
        args.unload_models,
        FREE_SETTLE,
    )
    .context("cannot free memory on the instance")?;
    if global.json {
        let mut body = json!(outcome);
        body["ok"] = json!(true);
        writeln!(stdout, "{body}")?;
        return Ok(());
    }
    writeln!(
        stdout,
        "asked instance {} to free {}",
        one_line(&outcome.instance),
        if outcome.unload_models {
            "cached node outputs and unload every model"
        } else {
            "cached node outputs (models stay loaded; --unload-models unloads them)"
        }
    )?;
    for (i, after) in outcome.after.iter().enumerate() {
        let before = outcome
            .before
            .iter()
            .find(|b| b.name == after.name)
            .or(outcome.before.get(i));
        let was = before.map_or_else(|| "unknown".to_owned(), |b| bytes(b.vram_free));
        writeln!(
            stdout,
            "{}: VRAM free {} -> {} (of {})",
            one_line(&after.name),
            was,
            bytes(after.vram_free),
            bytes(after.vram_total)
        )?;
    }
    Ok(())
}

fn device_line(d: &DeviceStatus) -> String {
    format!(
        "{}: VRAM {} free of {}",
        one_line(&d.name),
        bytes(d.vram_free),
        bytes(d.vram_total)
    )
}

/// Bytes in GiB (MiB below one GiB), one decimal.
fn bytes(n: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let n = n as f64;
    if n >= 1024.0 * MIB {
        format!("{:.1} GiB", n / (1024.0 * MIB))
    } else {
        format!("{:.1} MiB", n / MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn bytes_are_shown_in_gib_or_mib() {
        assert_eq!(bytes(25_276_063_744), "23.5 GiB");
        assert_eq!(bytes(512 * 1024 * 1024), "512.0 MiB");
        assert_eq!(bytes(0), "0.0 MiB");
    }
}
