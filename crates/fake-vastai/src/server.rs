//! The fake server's lifecycle, its knobs and its request log.
//!
//! One worker thread answers requests one at a time from a shared [`State`]; the test thread turns
//! knobs and reads the log through the same mutex. Dropping [`FakeVastAi`] stops the worker.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use crate::routes::{self, Reply};

/// A canned failure the server answers with instead of the real route (one per request, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// `429 Too Many Requests` with Vast.ai's `{"detail": ...}` body and, if given, `Retry-After: N`.
    RateLimited {
        /// Seconds for the `Retry-After` header; `None` sends no header.
        retry_after_secs: Option<u64>,
    },
    /// This status with a small JSON error body (e.g. 500, 502, 503).
    Status(u16),
    /// `200 OK` whose body is not JSON.
    MalformedJson,
    /// `200 OK` with `{"success": false, "msg": <msg>}`, as Vast.ai answers a refused state change.
    Refuse(String),
    /// Any status with this exact body (e.g. `{"instances": null}`, or a 400 with a `msg`).
    Reply {
        /// HTTP status.
        status: u16,
        /// Body text, sent as `application/json`.
        body: String,
    },
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The request body as text.
    pub body: String,
}

impl RecordedRequest {
    /// The first value of query parameter `name`.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Everything the routes read and change.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) api_key: String,
    /// Instance rows, kept sorted by id.
    pub(crate) instances: Vec<Value>,
    /// `ports` of stopped instances, put back when they start again.
    pub(crate) stashed_ports: Vec<(u64, Value)>,
    /// Largest page the server hands out (the real API caps `limit` at 25).
    pub(crate) max_page: usize,
    pub(crate) failures: VecDeque<Failure>,
    pub(crate) delay: Duration,
    pub(crate) log: Vec<RecordedRequest>,
}

/// A running fake Vast.ai API on `127.0.0.1:<free port>`.
pub struct FakeVastAi {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    server: Arc<tiny_http::Server>,
    worker: Option<JoinHandle<()>>,
}

impl FakeVastAi {
    /// Starts a server with the rows of `fixtures/instances.json`, accepting only `api_key`.
    pub fn start(api_key: &str) -> io::Result<Self> {
        Self::with_instances(api_key, crate::fixture_instances())
    }

    /// Starts a server with these instance rows, accepting only `api_key`.
    pub fn with_instances(api_key: &str, mut instances: Vec<Value>) -> io::Result<Self> {
        instances.sort_by_key(routes::row_id);
        let server = tiny_http::Server::from_listener(nodelay_listener()?, None)
            .map_err(io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("tiny_http did not bind an IP address"))?;
        let server = Arc::new(server);
        let state = Arc::new(Mutex::new(State {
            api_key: api_key.to_owned(),
            instances,
            stashed_ports: Vec::new(),
            max_page: 25,
            failures: VecDeque::new(),
            delay: Duration::ZERO,
            log: Vec::new(),
        }));
        let worker = {
            let server = Arc::clone(&server);
            let state = Arc::clone(&state);
            std::thread::Builder::new()
                .name("fake-vastai".into())
                .spawn(move || serve(&server, &state))?
        };
        Ok(Self {
            addr,
            state,
            server,
            worker: Some(worker),
        })
    }

    /// `http://127.0.0.1:<port>`: the base URL to give the client (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Caps the page size below the real API's 25, so a few rows make several pages.
    pub fn set_max_page(&self, rows: usize) {
        self.lock().max_page = rows.max(1);
    }

    /// The next `times` requests get `failure` instead of their real answer.
    pub fn fail_next(&self, times: usize, failure: &Failure) {
        let mut state = self.lock();
        for _ in 0..times {
            state.failures.push_back(failure.clone());
        }
    }

    /// Every reply waits this long before it is sent (a slow server).
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// All requests so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().log.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.lock().log.clear();
    }

    /// The current row of instance `id`.
    pub fn instance(&self, id: u64) -> Option<Value> {
        self.lock()
            .instances
            .iter()
            .find(|row| routes::row_id(row) == id)
            .cloned()
    }

    /// Replaces the row with the same id (or adds it).
    pub fn upsert_instance(&self, row: Value) {
        let id = routes::row_id(&row);
        let mut state = self.lock();
        state.instances.retain(|r| routes::row_id(r) != id);
        state.instances.push(row);
        state.instances.sort_by_key(routes::row_id);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for FakeVastAi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeVastAi")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for FakeVastAi {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// A loopback listener with `TCP_NODELAY`, which Linux passes on to accepted sockets.
///
/// `tiny_http` writes a response's head and body separately; without `TCP_NODELAY`, Nagle holds
/// the body on a kept-alive connection until the client's delayed ACK (~40 ms a request).
fn nodelay_listener() -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

fn serve(server: &tiny_http::Server, state: &Mutex<State>) {
    while let Ok(mut request) = server.recv() {
        let recorded = record(&mut request);
        let (reply, delay) = {
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            state.log.push(recorded.clone());
            let delay = state.delay;
            (routes::handle(&mut state, &recorded), delay)
        };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        // The client may have given up (timeout): a failed write is expected then.
        let _ = request.respond(to_response(reply));
    }
}

fn record(request: &mut tiny_http::Request) -> RecordedRequest {
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((url.as_str(), ""));
    let authorization = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_owned());
    let mut body = String::new();
    // A body that is not UTF-8 is recorded as empty and then fails the route's JSON check.
    let _ = request.as_reader().read_to_string(&mut body);
    RecordedRequest {
        method: request.method().as_str().to_owned(),
        path: path.to_owned(),
        query: form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        authorization,
        body,
    }
}

fn to_response(reply: Reply) -> tiny_http::Response<io::Cursor<Vec<u8>>> {
    let mut response = tiny_http::Response::from_string(reply.body).with_status_code(reply.status);
    let mut headers = vec![("Content-Type", "application/json".to_owned())];
    if let Some(secs) = reply.retry_after_secs {
        headers.push(("Retry-After", secs.to_string()));
    }
    for (name, value) in headers {
        if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    response
}
