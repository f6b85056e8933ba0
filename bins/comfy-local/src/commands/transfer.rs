//! `comfy-local download` and `comfy-local upload`: an earlier prompt's outputs into a folder,
//! local files into the instance's `input/`.

use std::io::Write;

use anyhow::Context as _;
use comfy_local_config::Config;
use comfy_local_sdk::terminal::one_line;
use comfy_local_sdk::{DownloadRequest, UploadRequest, download_outputs, upload_inputs};
use serde_json::json;

use super::run::Display;
use crate::cli::{DownloadArgs, GlobalArgs, UploadArgs};

/// Save and print each saved file (as `run` does).
pub fn download(
    global: &GlobalArgs,
    args: &DownloadArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    super::out_dir::check(&args.out)?;
    let loaded = Config::load(global.config.as_deref()).context("cannot load the configuration")?;
    let req = DownloadRequest {
        prompt_id: args.prompt_id.clone(),
        instance: args.instance.clone(),
        out_dir: args.out.clone(),
        previews: !args.no_previews,
    };
    let mut display = Display::new(global.json);
    let result = download_outputs(&loaded.config, &req, &mut |step| {
        display.step(&step, stdout, stderr);
    });
    display.finish(result.is_ok());
    let summary = result.with_context(|| {
        format!(
            "downloading the outputs of prompt {}",
            one_line(&args.prompt_id)
        )
    })?;
    if global.json {
        writeln!(stdout, "{}", json!({"event": "done", "summary": summary}))?;
    } else {
        writeln!(
            stdout,
            "done: prompt {} ({}) on {}, {} output(s) in {}",
            one_line(&summary.prompt_id),
            summary.state.word(),
            one_line(&summary.instance),
            summary.outputs.len(),
            one_line(args.out.as_str())
        )?;
    }
    Ok(())
}

/// Upload and print the name each file was stored under.
pub fn upload(
    global: &GlobalArgs,
    args: &UploadArgs,
    stdout: &mut dyn Write,
) -> anyhow::Result<()> {
    let loaded = Config::load(global.config.as_deref()).context("cannot load the configuration")?;
    let req = UploadRequest {
        instance: args.instance.clone(),
        files: args.files.clone(),
        subfolder: args.subfolder.clone(),
    };
    let mut failed_write = None;
    let result = upload_inputs(&loaded.config, &req, &mut |one| {
        let line = if global.json {
            json!({"event": "uploaded", "file": one.file, "stored_as": one.stored_as,
                   "renamed": one.renamed, "bytes": one.bytes})
            .to_string()
        } else if one.renamed {
            format!(
                "uploaded {} as input/{} ({} bytes; that name was taken by another file, which was kept)",
                one_line(one.file.as_str()),
                one_line(&one.stored_as),
                one.bytes
            )
        } else {
            format!(
                "uploaded {} as input/{} ({} bytes)",
                one_line(one.file.as_str()),
                one_line(&one.stored_as),
                one.bytes
            )
        };
        if let Err(e) = writeln!(stdout, "{line}") {
            failed_write.get_or_insert(e);
        }
    });
    if let Some(e) = failed_write {
        return Err(e.into());
    }
    let summary = result.context("cannot upload")?;
    if global.json {
        writeln!(
            stdout,
            "{}",
            json!({"event": "done", "ok": true, "instance": summary.instance, "uploaded": summary.uploaded.len()})
        )?;
    } else {
        writeln!(
            stdout,
            "done: {} file(s) uploaded to {}",
            summary.uploaded.len(),
            one_line(&summary.instance)
        )?;
    }
    Ok(())
}
