//! `comfy-backend` as a library: the HTTP API over the sdk (instances, connection tests,
//! workflow runs and installs as jobs), the toolbar page at `/`, the SQLite job store, and the
//! server's start and graceful stop. `main.rs` parses the command line and calls [`Backend`].

// "ComfyUI", "VastAI" and "OpenSSH" are product names in prose, not code.
#![expect(clippy::doc_markdown, reason = "product names in prose")]

pub mod api;
pub mod error;
pub mod instances;
pub mod jobs;
pub mod page;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;
use camino::Utf8PathBuf;
use comfy_local_config::Config;
use tokio::sync::watch;

use crate::instances::Instances;
use crate::jobs::Jobs;
use crate::store::{Store, StoreError};

/// How the server runs (from the command line).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Requests must carry `Authorization: Bearer <token>` (every route under `/api/` but
    /// `/api/openapi.json`); `None`: no token (allowed on loopback only, see `main`).
    pub token: Option<String>,
    /// Origins allowed to call the API from a browser (CORS); empty: CORS off.
    pub cors_origins: Vec<HeaderValue>,
    /// Where the job store and the jobs' files live.
    pub state_dir: Utf8PathBuf,
    /// The largest `POST /api/instances/{id}/workflows` body (workflow and input files).
    pub max_request_bytes: usize,
    /// How long running jobs get to finish at shutdown before they are stopped.
    pub shutdown_grace: Duration,
    /// How often the instance list is refreshed.
    pub refresh_every: Duration,
}

/// Everything a request handler uses.
#[derive(Debug)]
pub struct App {
    /// The loaded config.
    pub config: Arc<Config>,
    /// The config file, for connection reports.
    pub config_path: Option<String>,
    /// The settings.
    pub settings: Settings,
    /// The jobs.
    pub jobs: Arc<Jobs>,
    /// The instance list.
    pub instances: Arc<Instances>,
    /// Turns true when the server is stopping (ends event streams).
    pub stopping: watch::Receiver<bool>,
}

/// A handle of [`App`] shared by the handlers.
pub type AppState = Arc<App>;

/// Why the backend cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The state directory cannot be created.
    #[error("cannot create the state directory {path}: {source}")]
    StateDir {
        /// The directory.
        path: Utf8PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The job store cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A backend ready to serve: store opened, jobs left running by an earlier process marked
/// interrupted.
#[derive(Debug)]
pub struct Backend {
    app: AppState,
    stop: watch::Sender<bool>,
}

impl Backend {
    /// Opens the store under `settings.state_dir` (created when missing).
    pub fn open(
        config: Config,
        config_path: Option<String>,
        settings: Settings,
    ) -> Result<Backend, StartError> {
        let state_err = |source| StartError::StateDir {
            path: settings.state_dir.clone(),
            source,
        };
        std::fs::create_dir_all(settings.state_dir.join("jobs")).map_err(state_err)?;
        let store = Arc::new(Store::open(
            settings.state_dir.join("jobs.sqlite3").as_std_path(),
        )?);
        let interrupted =
            store.interrupt_unfinished("the backend stopped (or was killed) while the job ran")?;
        if !interrupted.is_empty() {
            tracing::warn!(
                jobs = interrupted.len(),
                "jobs left running by an earlier backend were marked interrupted"
            );
        }
        let config = Arc::new(config);
        let jobs = Jobs::new(store, Arc::clone(&config), settings.state_dir.join("jobs"));
        let instances = Instances::new(&config);
        let (stop, stopping) = watch::channel(false);
        Ok(Backend {
            app: Arc::new(App {
                config,
                config_path,
                settings,
                jobs,
                instances,
                stopping,
            }),
            stop,
        })
    }

    /// The shared state (for tests that call the router directly).
    pub fn app(&self) -> &AppState {
        &self.app
    }

    /// Serves on `listener` until `shutdown` completes; then stops taking requests, ends the
    /// event streams, and gives running jobs `shutdown_grace` to finish before they are stopped
    /// and marked interrupted.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = Arc::clone(&self.app);
        let refresher = tokio::spawn(Arc::clone(&app.instances).refresh_loop(
            Arc::clone(&app.config),
            app.settings.refresh_every,
            app.stopping.clone(),
        ));
        let stop = self.stop;
        let router = api::router(Arc::clone(&app));
        let served = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("stopping: no new requests; event streams end");
            let _ = stop.send(true);
        })
        .await;
        refresher.abort();
        let jobs = Arc::clone(&app.jobs);
        let grace = app.settings.shutdown_grace;
        if let Err(e) = tokio::task::spawn_blocking(move || jobs.shutdown(grace)).await {
            tracing::error!(error = %e, "stopping the jobs failed");
        }
        served
    }
}
