//! State shared by the fake's HTTP thread, execution worker and WebSocket writers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Failure and timing knobs, changeable while the server runs.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Knobs {
    /// Answer every `POST /prompt` with this status and JSON body instead of validating.
    pub reject: Option<(u16, Value)>,
    /// Raise an `execution_error` when this node id starts.
    pub fail_at_node: Option<String>,
    /// Close every WebSocket when this node id starts (the run itself continues).
    pub drop_sockets_at_node: Option<String>,
    /// Refuse WebSocket upgrades (HTTP 503), so a lost socket stays lost.
    pub refuse_websocket: bool,
    /// Every node takes at least this long.
    pub node_delay: Duration,
    /// These node ids take this long.
    pub slow_nodes: BTreeMap<String, Duration>,
    /// Node delays are not cut short by `/interrupt`, like a node that never checks for it
    /// (ComfyUI interrupts cooperatively): the interrupt lands when the next node starts.
    pub ignore_interrupts: bool,
    /// `GET /view` of an existing file answers this many bytes (of zeros) instead of the
    /// file, as a hostile server filling the client's disk would.
    pub view_bytes: Option<usize>,
}

impl Knobs {
    pub fn reject(mut self, status: u16, body: Value) -> Self {
        self.reject = Some((status, body));
        self
    }
    pub fn fail_at_node(mut self, node: impl Into<String>) -> Self {
        self.fail_at_node = Some(node.into());
        self
    }
    pub fn drop_sockets_at_node(mut self, node: impl Into<String>) -> Self {
        self.drop_sockets_at_node = Some(node.into());
        self
    }
    pub fn refuse_websocket(mut self, v: bool) -> Self {
        self.refuse_websocket = v;
        self
    }
    pub fn node_delay(mut self, v: Duration) -> Self {
        self.node_delay = v;
        self
    }
    pub fn slow_node(mut self, node: impl Into<String>, delay: Duration) -> Self {
        self.slow_nodes.insert(node.into(), delay);
        self
    }
    pub fn ignore_interrupts(mut self, v: bool) -> Self {
        self.ignore_interrupts = v;
        self
    }
    pub fn view_bytes(mut self, v: usize) -> Self {
        self.view_bytes = Some(v);
        self
    }
}

/// One queued prompt, as ComfyUI keeps it: `[number, prompt_id, prompt, extra_data, outputs]`.
#[derive(Debug, Clone)]
pub(crate) struct QueueEntry {
    pub number: i64,
    pub prompt_id: String,
    pub prompt: Value,
    pub extra_data: Value,
    pub outputs: Vec<String>,
}

impl QueueEntry {
    pub(crate) fn to_json(&self) -> Value {
        json!([
            self.number,
            self.prompt_id,
            self.prompt,
            self.extra_data,
            self.outputs
        ])
    }

    pub(crate) fn client_id(&self) -> Option<String> {
        self.extra_data
            .get("client_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub number: i64,
    pub pending: VecDeque<QueueEntry>,
    pub running: Option<QueueEntry>,
    /// Finished prompts in completion order.
    pub history: Vec<(String, Value)>,
    /// Whole-prompt cache: serialized prompt -> (outputs, history entry outputs).
    pub cache: HashMap<String, Value>,
    /// The node currently executing (for a reconnecting client), with its prompt id and client id.
    pub last_node: Option<(String, String, Option<String>)>,
}

/// A message for one WebSocket writer.
#[derive(Debug)]
pub(crate) enum WsOut {
    Text(String),
    Binary(Vec<u8>),
    Drop,
}

#[derive(Debug)]
pub(crate) struct WsClient {
    pub sid: String,
    pub tx: Sender<WsOut>,
}

/// Folders the fake serves files from.
#[derive(Debug, Clone)]
pub(crate) struct Dirs {
    pub output: PathBuf,
    pub input: PathBuf,
    pub temp: PathBuf,
}

#[derive(Debug)]
pub(crate) struct Shared {
    /// The recorded object_info plus the classes of the node packages loaded at the last
    /// (re)start.
    pub object_info: Mutex<Arc<Value>>,
    pub models: Vec<(String, Vec<String>)>,
    /// List model files from `<base_path>/models/<folder>`.
    pub models_on_disk: bool,
    pub embeddings: Vec<String>,
    /// The folder ComfyUI claims to run from (`/internal/folder_paths`).
    pub base_path: PathBuf,
    pub dirs: Dirs,
    pub knobs: Arc<Mutex<Knobs>>,
    pub inner: Mutex<Inner>,
    pub wake: Condvar,
    pub ws: Mutex<Vec<WsClient>>,
    /// Sockets replaced by a newer one with the same client id: open, but sent nothing.
    pub orphans: Mutex<Vec<WsClient>>,
    pub interrupt: AtomicBool,
    pub stop: AtomicBool,
    /// Bumped by a restart: the running prompt is abandoned without a trace.
    pub epoch: AtomicU64,
    pub submitted: Arc<Mutex<Vec<Value>>>,
    /// Every JSON body of `POST /free`, in order.
    pub freed: Arc<Mutex<Vec<Value>>>,
    /// Requests of the whole `GET /object_info`.
    pub object_info_gets: Arc<std::sync::atomic::AtomicUsize>,
    /// Requests of `GET /system_stats`.
    pub system_stats_gets: Arc<std::sync::atomic::AtomicUsize>,
    /// Every HTTP request received.
    pub requests: Arc<std::sync::atomic::AtomicUsize>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl Shared {
    pub(crate) fn object_info(&self) -> Arc<Value> {
        lock(&self.object_info).clone()
    }

    pub(crate) fn knobs(&self) -> Knobs {
        lock(&self.knobs).clone()
    }

    pub(crate) fn queue_remaining(&self) -> usize {
        let inner = lock(&self.inner);
        inner.pending.len() + usize::from(inner.running.is_some())
    }

    /// Sends a `{type, data}` message to `sid`, or to every socket when `sid` is `None`.
    pub(crate) fn send(&self, sid: Option<&str>, kind: &str, data: &Value) {
        let text = json!({"type": kind, "data": data}).to_string();
        self.dispatch(sid, |_| WsOut::Text(text.clone()));
    }

    pub(crate) fn send_binary(&self, sid: Option<&str>, bytes: &[u8]) {
        self.dispatch(sid, |_| WsOut::Binary(bytes.to_vec()));
    }

    fn dispatch(&self, sid: Option<&str>, make: impl Fn(&WsClient) -> WsOut) {
        let mut clients = lock(&self.ws);
        clients.retain(|c| sid.is_some_and(|s| s != c.sid) || c.tx.send(make(c)).is_ok());
    }

    /// Broadcasts the queue size, as ComfyUI does whenever the queue changes.
    pub(crate) fn send_status(&self) {
        let remaining = self.queue_remaining();
        self.send(
            None,
            "status",
            &json!({"status": {"exec_info": {"queue_remaining": remaining}}}),
        );
    }

    /// Closes every WebSocket.
    pub(crate) fn drop_sockets(&self) {
        let orphans: Vec<WsClient> = lock(&self.orphans).drain(..).collect();
        for c in lock(&self.ws).drain(..).chain(orphans) {
            let _ = c.tx.send(WsOut::Drop);
        }
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}
