//! `comfy-local`: the command-line front end. Thin: parse arguments, set up logging, run the
//! command, map the outcome to an exit code (see `exit`).

mod cli;
mod commands;
mod exit;

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version are "errors" with exit code 0; usage errors exit 2.
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    init_logging(cli.global.verbose);
    // Everything printed passes the terminal-safety filter (see `terminal`).
    let mut stdout = comfy_local_sdk::terminal::Escaping::new(std::io::stdout().lock());
    let mut stderr = comfy_local_sdk::terminal::Escaping::new(std::io::stderr().lock());
    let outcome = commands::run(&cli, &mut stdout, &mut stderr);
    let code = match outcome {
        Ok(()) => exit::Code::Ok.into(),
        // The reader went away (`comfy-local ... | head -1`): it has what it wanted.
        Err(error) if exit::is_broken_pipe(&error) => exit::Code::Ok.into(),
        Err(error) => exit::report(&error, cli.global.json, &mut stdout, &mut stderr),
    };
    let _ = stdout.flush();
    code
}

/// Crates whose trace level dumps raw protocol bytes (request heads with their `Authorization`
/// header): `ureq_proto` hex-dumps every request, `tungstenite` prints the upgrade request.
const WIRE_DUMPERS: [&str; 2] = ["ureq_proto", "tungstenite"];

/// Whether `target` is `krate` or one of its modules.
fn in_crate(target: &str, krate: &str) -> bool {
    target
        .strip_prefix(krate)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// Log to stderr: warnings by default, more with each `-v`; `RUST_LOG` wins when set. Trace
/// events of [`WIRE_DUMPERS`] are never shown, whatever `RUST_LOG` says: they would print
/// credentials.
fn init_logging(verbose: u8) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let no_wire_dumps = tracing_subscriber::filter::filter_fn(|meta| {
        *meta.level() != tracing::Level::TRACE
            || !WIRE_DUMPERS.iter().any(|c| in_crate(meta.target(), c))
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(no_wire_dumps)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .init();
}
