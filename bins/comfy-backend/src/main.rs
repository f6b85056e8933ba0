//! `comfy-backend`: the container backend's command line. Thin: parse arguments, load the
//! config, refuse unsafe settings (a non-loopback address without a token), then serve until
//! SIGTERM or Ctrl-C (see the `comfy_backend` library).

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use axum::http::HeaderValue;
use camino::Utf8PathBuf;
use clap::Parser;
use comfy_backend::{Backend, Settings};
use comfy_local_config::Config;

/// The HTTP API of comfy-local for the Media Sync Tool: instances, connection tests, workflow
/// runs and model/node installs as jobs with live events, and their outputs.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Examples:
  comfy-backend --config /app/local-support-config.yml
  COMFY_BACKEND_TOKEN=$(openssl rand -hex 32) comfy-backend --listen 0.0.0.0:8290
  comfy-backend --cors-origin http://localhost:3000 --state-dir /var/lib/comfy-backend

Exit codes: 0 stopped by SIGTERM or Ctrl-C, 2 bad arguments, config or state directory,
or the address cannot be bound."
)]
struct Cli {
    /// The config file (default: `$COMFY_LOCAL_CONFIG`, `./local-support-config.yml`,
    /// `/app/local-support-config.yml`).
    #[arg(long, value_name = "PATH")]
    config: Option<Utf8PathBuf>,
    /// Address to listen on. Any address but loopback needs a token (see --token-env).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8290")]
    listen: SocketAddr,
    /// Environment variable holding the bearer token; when it is set (and not empty), every
    /// route under /api/ but /api/openapi.json needs `Authorization: Bearer <token>`.
    #[arg(long, value_name = "VAR", default_value = "COMFY_BACKEND_TOKEN")]
    token_env: String,
    /// Where the job store (jobs.sqlite3) and the jobs' files go (default: a `comfy-backend`
    /// folder next to the config file).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<Utf8PathBuf>,
    /// An origin (`scheme://host[:port]`) whose pages may call the API (CORS); repeatable.
    /// Without it, CORS is off: browsers let only same-origin pages read the answers.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// The largest workflow upload (the workflow and its input files together), in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    max_request_mb: usize,
    /// At SIGTERM, how long running jobs get to finish before they are stopped (prompts
    /// interrupted on the server) and marked interrupted.
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    shutdown_grace_secs: u64,
    /// How often the instance list (status, GPU, VRAM, queue) is refreshed.
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    refresh_secs: u64,
    /// More log output on stderr (-v: debug); `RUST_LOG` wins when set.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    init_logging(cli.verbose);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            #[expect(
                clippy::print_stderr,
                reason = "the binary reports why it cannot serve"
            )]
            {
                eprintln!("error: {error:#}");
                if let Some(hint) = hint(&error) {
                    eprintln!("hint: {hint}");
                }
            }
            ExitCode::from(2)
        }
    }
}

/// A usage error with its hint.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Refused {
    message: String,
    hint: String,
}

fn hint(error: &anyhow::Error) -> Option<String> {
    error.chain().find_map(|c| {
        if let Some(refused) = c.downcast_ref::<Refused>() {
            return Some(refused.hint.clone());
        }
        c.downcast_ref::<comfy_local_config::ConfigError>()
            .map(|_| {
                "`comfy-local config check` lists every problem with its key and line".to_owned()
            })
    })
}

fn settings(cli: &Cli, config_path: &camino::Utf8Path) -> anyhow::Result<Settings> {
    let token = std::env::var(&cli.token_env)
        .ok()
        .filter(|t| !t.trim().is_empty());
    if token.is_none() && !cli.listen.ip().is_loopback() {
        bail!(Refused {
            message: format!(
                "refusing to listen on {} without a token: anyone who reaches that address could run workflows and install nodes",
                cli.listen
            ),
            hint: format!(
                "set ${} to a long random secret (clients send `Authorization: Bearer <it>`), or listen on 127.0.0.1",
                cli.token_env
            ),
        });
    }
    let cors_origins = cli
        .cors_origins
        .iter()
        .map(|o| {
            let ok = (o.starts_with("http://") || o.starts_with("https://"))
                && !o.trim_end_matches('/').contains(['*', ' '])
                && o.trim_end_matches('/').matches('/').count() == 2;
            match HeaderValue::from_str(o.trim_end_matches('/')) {
                Ok(v) if ok => Ok(v),
                _ => Err(Refused {
                    message: format!("--cors-origin {o:?} is not an origin"),
                    hint: "give scheme://host[:port], e.g. http://localhost:3000".to_owned(),
                }),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let state_dir = match &cli.state_dir {
        Some(dir) => dir.clone(),
        None => config_path
            .parent()
            .filter(|p| !p.as_str().is_empty())
            .unwrap_or(camino::Utf8Path::new("."))
            .join("comfy-backend"),
    };
    Ok(Settings {
        token,
        cors_origins,
        state_dir,
        max_request_bytes: cli.max_request_mb.saturating_mul(1024 * 1024),
        shutdown_grace: Duration::from_secs(cli.shutdown_grace_secs),
        refresh_every: Duration::from_secs(cli.refresh_secs),
    })
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let loaded = Config::load(cli.config.as_deref()).context("cannot load the configuration")?;
    for warning in &loaded.warnings {
        tracing::warn!("config: {}", comfy_local_sdk::error_chain(warning));
    }
    let settings = settings(cli, &loaded.path)?;
    let state_dir = settings.state_dir.clone();
    let backend =
        Backend::open(loaded.config, Some(loaded.path.to_string()), settings).map_err(|e| {
            anyhow::Error::new(Refused {
                message: comfy_local_sdk::error_chain(&e),
                hint: format!("pass --state-dir with a writable folder ({state_dir} was tried)"),
            })
        })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cli.listen)
            .await
            .map_err(|e| Refused {
                message: format!("cannot listen on {}: {e}", cli.listen),
                hint: "pick a free port with --listen".to_owned(),
            })?;
        let addr = listener.local_addr().context("the bound address")?;
        #[expect(
            clippy::print_stdout,
            reason = "the one line that says where to connect"
        )]
        {
            println!("comfy-backend listening on http://{addr}");
        }
        backend
            .serve(listener, stop_signal())
            .await
            .context("serving")
    })
}

/// Completes at SIGTERM or SIGINT (Ctrl-C).
async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = ctrl_c => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("stop signal received");
}

/// Crates whose trace level dumps raw protocol bytes (request heads with their `Authorization`
/// header): never shown, whatever `RUST_LOG` says.
const WIRE_DUMPERS: [&str; 2] = ["ureq_proto", "tungstenite"];

/// Log to stderr: info by default, debug with -v; `RUST_LOG` wins when set (but never shows
/// the trace events of [`WIRE_DUMPERS`]).
fn init_logging(verbose: u8) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let level = if verbose == 0 { "info" } else { "debug" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let no_wire_dumps = tracing_subscriber::filter::filter_fn(|meta| {
        *meta.level() != tracing::Level::TRACE
            || !WIRE_DUMPERS.iter().any(|c| {
                meta.target()
                    .strip_prefix(c)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
            })
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
