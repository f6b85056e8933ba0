//! `comfy-local install model`: a progress bar with speed and ETA on a terminal, JSON lines
//! with `--json`, Ctrl-C keeping the `.part` for the next run.

use std::io::{IsTerminal as _, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use comfy_local_config::Config;
use comfy_local_sdk::{
    DataPath, InstallEvent, InstallModelRequest, InstallStatus, install_model_via,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use comfy_local_sdk::install::ProgressPacer;
use comfy_local_sdk::terminal::one_line;

use crate::cli::{GlobalArgs, InstallModelArgs, ViaArg};

/// JSON progress lines at most this often.
const JSON_EVERY: Duration = Duration::from_millis(250);

/// Ctrl-C sets the returned flag (the install stops after the chunk in flight and keeps what it
/// has); a second Ctrl-C ends the process the usual way.
pub(crate) fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    cancel
}

/// The pacer of `--json` install output: progress at most every [`JSON_EVERY`].
pub(crate) fn json_pacer() -> ProgressPacer {
    ProgressPacer::new(JSON_EVERY)
}

/// Install the model and report.
pub fn model(
    global: &GlobalArgs,
    args: &InstallModelArgs,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> anyhow::Result<()> {
    let loaded = Config::load(global.config.as_deref()).context("cannot load the configuration")?;
    let req = InstallModelRequest {
        url: args.url.clone(),
        folder: args.folder.clone(),
        name: args.name.clone(),
        sha256: args.sha256.clone(),
        force: args.force,
        instance: args.instance.clone(),
        retries: args.retries,
    };
    let cancel = cancel_on_ctrl_c();
    let mut human = Human::new();
    let mut pacer = json_pacer();
    let via = match args.via {
        ViaArg::Auto => DataPath::Auto,
        ViaArg::Host => DataPath::Host,
        ViaArg::Stream => DataPath::Stream,
    };
    let result = install_model_via(
        &loaded.config,
        &req,
        via,
        &|name| std::env::var(name).ok(),
        &cancel,
        &mut |event| {
            if global.json {
                if pacer.lets_through(event) {
                    let _ = writeln!(stdout, "{}", json!(event));
                }
                return;
            }
            human.event(event, stderr);
        },
    );
    if let Some(b) = human.bar.take() {
        b.finish_and_clear();
    }
    let outcome = result.with_context(|| format!("installing into {}", args.folder))?;
    if global.json {
        writeln!(
            stdout,
            "{}",
            json!({"event": "done", "ok": true, "result": outcome})
        )?;
    } else {
        let verified = if outcome.verified {
            "sha256 verified"
        } else {
            "sha256 not checked (no --sha256)"
        };
        match outcome.status {
            InstallStatus::AlreadyPresent => writeln!(
                stdout,
                "already installed: {} ({} bytes, sha256 {} matches); nothing to do",
                outcome.path, outcome.size, outcome.sha256
            )?,
            InstallStatus::Installed => writeln!(
                stdout,
                "installed {} ({} bytes, sha256 {}, {verified}; {})",
                outcome.path,
                outcome.size,
                outcome.sha256,
                match outcome.via {
                    Some(DataPath::Host) => "downloaded by the host",
                    _ => "streamed through this machine",
                }
            )?,
        }
        if let Some(why) = &outcome.fallback {
            writeln!(
                stderr,
                "note: the host could not download it itself, so it was streamed: {}",
                one_line(why)
            )?;
        }
    }
    Ok(())
}

/// The terminal display of an install: a line per step, a bar with speed and ETA on a terminal.
pub(crate) struct Human {
    bar: Option<ProgressBar>,
    tty: bool,
}

impl Human {
    pub(crate) fn new() -> Self {
        Human {
            bar: None,
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// Clears the bar, if any.
    pub(crate) fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    pub(crate) fn event(&mut self, event: &InstallEvent, stderr: &mut dyn Write) {
        match event {
            InstallEvent::Started {
                folder,
                name,
                url,
                total,
                resumed_from,
            } => {
                let resumed = if *resumed_from > 0 {
                    format!(" (resuming at {resumed_from} bytes)")
                } else {
                    String::new()
                };
                let _ = writeln!(
                    stderr,
                    "downloading {} -> {}/{}{resumed}",
                    one_line(url),
                    one_line(folder),
                    one_line(name)
                );
                let b = ProgressBar::with_draw_target(
                    *total,
                    if self.tty {
                        ProgressDrawTarget::stderr()
                    } else {
                        ProgressDrawTarget::hidden()
                    },
                );
                b.set_style(
                    ProgressStyle::with_template(
                        "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                b.set_position(*resumed_from);
                b.reset_eta();
                self.bar = Some(b);
            }
            InstallEvent::Progress { position, .. } => {
                if let Some(b) = &self.bar {
                    b.set_position(*position);
                }
            }
            InstallEvent::Restarted { discarded } => {
                let _ = writeln!(
                    stderr,
                    "the source cannot resume: starting over ({discarded} bytes discarded)"
                );
            }
            InstallEvent::Retrying {
                attempt,
                written,
                error,
            } => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                let _ = writeln!(
                    stderr,
                    "retry {attempt}: resuming at {written} bytes after: {}",
                    one_line(error)
                );
            }
        }
    }
}
