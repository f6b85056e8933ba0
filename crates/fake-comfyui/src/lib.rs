//! Dev-only fake ComfyUI server (HTTP + WebSocket on loopback) that matches recorded real traffic.
//!
//! Never linked into a release binary. [`FakeComfy::start`] serves every route at `/` and `/api/`:
//! the recorded `object_info`, prompt validation with ComfyUI's error shapes, a queue and history,
//! real execution of model-free image nodes (PNG files in a temp output folder that `/view`
//! serves), uploads into its input folder, a configurable model list, and the recorded WebSocket
//! message sequence. [`Knobs`] inject failures: rejection, `execution_error` at a node, dropped
//! sockets, slow nodes, nodes that ignore interrupts; [`FakeComfy::restart`] stops and starts on the same port.

// "ComfyUI" is a product name in prose, not code to put in backticks.
#![expect(clippy::doc_markdown, reason = "product names in prose")]

mod exec;
pub mod fixtures;
mod multipart;
mod server;
mod state;
mod validate;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use serde_json::Value;

pub use state::Knobs;
use state::{Dirs, Inner, Shared, lock};

/// Start-up settings of a [`FakeComfy`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FakeOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Model files per folder for `/models/<folder>` (and loader combos in object_info).
    /// Default: the recorded folder names, all empty.
    pub models: Vec<(String, Vec<String>)>,
    pub embeddings: Vec<String>,
    pub knobs: Knobs,
    /// The folder `/internal/folder_paths` says ComfyUI runs from; `None`: the fake's own
    /// temp root.
    pub base_path: Option<PathBuf>,
    /// List each model folder's files from `<base_path>/models/<folder>` on every request (with
    /// ComfyUI's model file extensions), as a real ComfyUI does, instead of `models`' lists.
    pub models_on_disk: bool,
    /// Node packages: `(folder, classes)`; the classes are in `object_info` when
    /// `<base_path>/custom_nodes/<folder>` exists when the server starts or restarts
    /// ([`FakeComfy::restart`]), as ComfyUI loads nodes at start only.
    pub node_packs: Vec<(String, Vec<String>)>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        Self {
            port: 0,
            models: exec::default_models(),
            embeddings: Vec::new(),
            knobs: Knobs::default(),
            base_path: None,
            models_on_disk: false,
            node_packs: Vec::new(),
        }
    }
}

impl FakeOptions {
    pub fn port(mut self, v: u16) -> Self {
        self.port = v;
        self
    }
    /// Sets the files of one model folder (adding the folder if new).
    pub fn model_folder(mut self, folder: impl Into<String>, files: &[&str]) -> Self {
        let folder = folder.into();
        let files: Vec<String> = files.iter().map(|f| (*f).to_owned()).collect();
        match self.models.iter_mut().find(|(f, _)| *f == folder) {
            Some(entry) => entry.1 = files,
            None => self.models.push((folder, files)),
        }
        self
    }
    pub fn embeddings(mut self, v: &[&str]) -> Self {
        self.embeddings = v.iter().map(|f| (*f).to_owned()).collect();
        self
    }
    pub fn knobs(mut self, v: Knobs) -> Self {
        self.knobs = v;
        self
    }
    pub fn base_path(mut self, v: impl Into<PathBuf>) -> Self {
        self.base_path = Some(v.into());
        self
    }
    /// See [`FakeOptions::models_on_disk`].
    pub fn models_on_disk(mut self) -> Self {
        self.models_on_disk = true;
        self
    }
    /// Adds a node package (see [`FakeOptions::node_packs`]).
    pub fn node_pack(mut self, folder: impl Into<String>, classes: &[&str]) -> Self {
        let classes = classes.iter().map(|c| (*c).to_owned()).collect();
        self.node_packs.push((folder.into(), classes));
        self
    }
}

#[derive(Debug)]
struct Running {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// A running fake ComfyUI server on 127.0.0.1. Stops on drop.
#[derive(Debug)]
pub struct FakeComfy {
    opts: FakeOptions,
    root: tempfile::TempDir,
    dirs: Dirs,
    port: u16,
    knobs: Arc<Mutex<Knobs>>,
    submitted: Arc<Mutex<Vec<Value>>>,
    freed: Arc<Mutex<Vec<Value>>>,
    object_info_gets: Arc<std::sync::atomic::AtomicUsize>,
    system_stats_gets: Arc<std::sync::atomic::AtomicUsize>,
    requests: Arc<std::sync::atomic::AtomicUsize>,
    running: Option<Running>,
}

impl FakeComfy {
    /// Starts the server.
    ///
    /// # Panics
    /// When no loopback port or temp directory is available (a broken test machine).
    pub fn start(opts: FakeOptions) -> Self {
        Self::try_start(opts).unwrap_or_else(|e| panic!("fake ComfyUI failed to start: {e}"))
    }

    pub fn try_start(opts: FakeOptions) -> std::io::Result<Self> {
        let root = tempfile::Builder::new().prefix("fake-comfyui-").tempdir()?;
        let dirs = Dirs {
            output: root.path().join("output"),
            input: root.path().join("input"),
            temp: root.path().join("temp"),
        };
        for d in [&dirs.output, &dirs.input, &dirs.temp] {
            std::fs::create_dir_all(d)?;
        }
        let mut fake = Self {
            knobs: Arc::new(Mutex::new(opts.knobs.clone())),
            port: opts.port,
            opts,
            root,
            dirs,
            submitted: Arc::new(Mutex::new(Vec::new())),
            freed: Arc::new(Mutex::new(Vec::new())),
            object_info_gets: Arc::default(),
            system_stats_gets: Arc::default(),
            requests: Arc::default(),
            running: None,
        };
        fake.launch()?;
        Ok(fake)
    }

    fn launch(&mut self) -> std::io::Result<()> {
        // Like aiohttp (ComfyUI's server), answer without Nagle delays: accepted sockets inherit
        // TCP_NODELAY from the listener (tiny_http cannot set it on them).
        let listener = std::net::TcpListener::bind(("127.0.0.1", self.port))?;
        let socket = socket2::Socket::from(listener);
        socket.set_tcp_nodelay(true)?;
        let listener: std::net::TcpListener = socket.into();
        let server =
            tiny_http::Server::from_listener(listener, None).map_err(std::io::Error::other)?;
        self.port = server.server_addr().to_ip().map_or(self.port, |a| a.port());
        let base_path = self
            .opts
            .base_path
            .clone()
            .unwrap_or_else(|| self.root.path().to_path_buf());
        let object_info = Mutex::new(self.loaded_object_info(&base_path));
        let shared = Arc::new(Shared {
            object_info,
            models: self.opts.models.clone(),
            models_on_disk: self.opts.models_on_disk,
            embeddings: self.opts.embeddings.clone(),
            base_path,
            dirs: self.dirs.clone(),
            knobs: self.knobs.clone(),
            inner: Mutex::new(Inner::default()),
            wake: Condvar::new(),
            ws: Mutex::new(Vec::new()),
            orphans: Mutex::new(Vec::new()),
            interrupt: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            epoch: std::sync::atomic::AtomicU64::new(0),
            submitted: self.submitted.clone(),
            freed: self.freed.clone(),
            object_info_gets: self.object_info_gets.clone(),
            system_stats_gets: self.system_stats_gets.clone(),
            requests: self.requests.clone(),
        });
        let http_shared = shared.clone();
        let http = std::thread::spawn(move || server::serve(&server, &http_shared));
        let worker_shared = shared.clone();
        let worker = std::thread::spawn(move || exec::worker(&worker_shared));
        self.running = Some(Running {
            shared,
            threads: vec![http, worker],
        });
        Ok(())
    }

    /// The recorded object_info plus the classes of every node package whose folder exists.
    fn loaded_object_info(&self, base_path: &Path) -> Arc<Value> {
        let mut object_info = fixtures::object_info();
        for (folder, classes) in &self.opts.node_packs {
            if base_path.join("custom_nodes").join(folder).is_dir() {
                let info = Arc::make_mut(&mut object_info);
                for class in classes {
                    info[class.as_str()] = fixtures::pack_class(class, folder);
                }
            }
        }
        object_info
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where SaveImage writes (served by `/view?type=output`).
    pub fn output_dir(&self) -> &Path {
        &self.dirs.output
    }

    /// Where uploads go and LoadImage reads.
    pub fn input_dir(&self) -> &Path {
        &self.dirs.input
    }

    pub fn temp_dir(&self) -> &Path {
        &self.dirs.temp
    }

    /// Root of the fake's folders.
    pub fn root(&self) -> PathBuf {
        self.root.path().to_owned()
    }

    /// Replaces the knobs (takes effect for the next request / node).
    pub fn set_knobs(&self, knobs: Knobs) {
        *lock(&self.knobs) = knobs;
    }

    pub fn knobs(&self) -> Knobs {
        lock(&self.knobs).clone()
    }

    /// Every JSON body received by `POST /prompt`, in order.
    pub fn submitted(&self) -> Vec<Value> {
        lock(&self.submitted).clone()
    }

    /// Every JSON body received by `POST /free`, in order.
    pub fn free_requests(&self) -> Vec<Value> {
        lock(&self.freed).clone()
    }

    /// How many times the whole `GET /object_info` was asked for (restarts included).
    pub fn object_info_requests(&self) -> usize {
        self.object_info_gets
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many times `GET /system_stats` was asked for (restarts included).
    pub fn system_stats_requests(&self) -> usize {
        self.system_stats_gets
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many HTTP requests of any kind it received (WebSocket upgrades included; restarts
    /// included).
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Closes every open WebSocket now.
    pub fn drop_sockets(&self) {
        if let Some(r) = &self.running {
            r.shared.drop_sockets();
        }
    }

    /// Number of open WebSockets.
    pub fn socket_count(&self) -> usize {
        self.running
            .as_ref()
            .map_or(0, |r| lock(&r.shared.ws).len())
    }

    /// Stops serving: closes sockets, stops the worker (a running prompt is abandoned), frees the
    /// port. HTTP keep-alive connections opened before stay open without answers (tiny_http).
    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shared.stop.store(true, Ordering::SeqCst);
            r.shared.wake.notify_all();
            r.shared.drop_sockets();
            for t in r.threads {
                let _ = t.join();
            }
        }
    }

    /// A ComfyUI restart on the same port: every WebSocket drops, the running prompt is abandoned
    /// without any message, queue, history and cache are empty afterwards; files on disk stay,
    /// and the node packages whose folder exists now are loaded.
    ///
    /// The listener itself stays open, so HTTP keep-alive connections keep working (tiny_http
    /// cannot close them; a stopped server would leave them hanging, unlike a real restart).
    /// If the server was stopped, it is started again on its port.
    pub fn restart(&mut self) -> std::io::Result<()> {
        let Some(r) = &self.running else {
            return self.launch();
        };
        let shared = &r.shared;
        shared.epoch.fetch_add(1, Ordering::SeqCst);
        shared.drop_sockets();
        *lock(&shared.inner) = Inner::default();
        shared.interrupt.store(false, Ordering::SeqCst);
        *lock(&shared.object_info) = self.loaded_object_info(&shared.base_path);
        Ok(())
    }
}

impl Drop for FakeComfy {
    fn drop(&mut self) {
        self.stop();
    }
}
