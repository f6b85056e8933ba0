//! `ComfyClient`: one blocking client per ComfyUI server, with a method per HTTP endpoint.
//!
//! Every answer is read with a size limit and decoded into typed values; every failure names the URL.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::auth::{BasicAuth, redact};
use crate::dial::{DialConnector, Dialer, NoLookup};
use crate::error::{ComfyError, parse_node_errors, parse_rejection};
use crate::multipart::{Form, content_type_for};
use crate::pace::{Paced, Stalled};
use crate::types::{
    Features, HistoryEntry, OutputFile, PromptAccepted, QueueItem, QueueState, SystemStats,
    UploadedFile,
};
use crate::ws::EventSocket;
use crate::{NodeClass, ObjectInfo};

/// Where the server's routes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiPrefix {
    /// Probe `/api/system_stats` once, fall back to `/` (ComfyUI before the `/api` alias).
    #[default]
    Auto,
    /// Routes at `/` (`/prompt`, `/history`, ...).
    Root,
    /// Routes at `/api/` (what the ComfyUI frontend uses).
    Api,
}

/// Settings of a [`ComfyClient`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// TCP connect timeout (HTTP and WebSocket).
    pub connect_timeout: Duration,
    /// Whole-call timeout of an ordinary API call (not downloads).
    pub request_timeout: Duration,
    /// Whole-call timeout of a download (`/view`) or upload.
    pub transfer_timeout: Duration,
    /// A read that waits this long for any byte fails, and so does an answer body that brings
    /// fewer than [`Self::stall_min_bytes`] in this long ([`ComfyError::Stalled`]): a server
    /// that trickles cannot hold a call open until its whole-call timeout. The wait for an
    /// upload's answer (ComfyUI stores the file first) is bounded by `transfer_timeout` only.
    pub stall_timeout: Duration,
    /// The fewest bytes an answer body must bring in each [`Self::stall_timeout`].
    pub stall_min_bytes: u64,
    pub api_prefix: ApiPrefix,
    /// The `clientId` used for the WebSocket and every prompt; a random UUID when `None`.
    pub client_id: Option<String>,
    /// Largest JSON answer read (object_info of a big install is tens of MB).
    pub max_response_bytes: u64,
    /// Largest file downloaded by [`ComfyClient::view`].
    pub max_download_bytes: u64,
    /// Largest WebSocket message accepted (preview frames included).
    pub max_ws_message_bytes: usize,
    /// Ask the server for preview frames with metadata (`feature_flags` handshake).
    pub preview_metadata: bool,
    /// Honour `HTTP_PROXY`/`ALL_PROXY`; off by default because ComfyUI is usually local.
    pub use_env_proxy: bool,
    /// Opens the connections (HTTP and WebSocket) instead of TCP to the URL's host, e.g.
    /// through an SSH tunnel; `connect_timeout` and the proxy setting then do not apply.
    pub dialer: Option<Dialer>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            transfer_timeout: Duration::from_secs(600),
            stall_timeout: Duration::from_secs(30),
            stall_min_bytes: 16 * 1024,
            api_prefix: ApiPrefix::Auto,
            client_id: None,
            max_response_bytes: 64 * 1024 * 1024,
            max_download_bytes: 16 * 1024 * 1024 * 1024,
            max_ws_message_bytes: 64 * 1024 * 1024,
            preview_metadata: false,
            use_env_proxy: false,
            dialer: None,
        }
    }
}

impl ClientOptions {
    pub fn connect_timeout(mut self, v: Duration) -> Self {
        self.connect_timeout = v;
        self
    }
    pub fn request_timeout(mut self, v: Duration) -> Self {
        self.request_timeout = v;
        self
    }
    pub fn transfer_timeout(mut self, v: Duration) -> Self {
        self.transfer_timeout = v;
        self
    }
    pub fn stall_timeout(mut self, v: Duration) -> Self {
        self.stall_timeout = v;
        self
    }
    pub fn stall_min_bytes(mut self, v: u64) -> Self {
        self.stall_min_bytes = v;
        self
    }
    pub fn api_prefix(mut self, v: ApiPrefix) -> Self {
        self.api_prefix = v;
        self
    }
    pub fn client_id(mut self, v: impl Into<String>) -> Self {
        self.client_id = Some(v.into());
        self
    }
    pub fn max_response_bytes(mut self, v: u64) -> Self {
        self.max_response_bytes = v;
        self
    }
    pub fn max_download_bytes(mut self, v: u64) -> Self {
        self.max_download_bytes = v;
        self
    }
    pub fn max_ws_message_bytes(mut self, v: usize) -> Self {
        self.max_ws_message_bytes = v;
        self
    }
    pub fn preview_metadata(mut self, v: bool) -> Self {
        self.preview_metadata = v;
        self
    }
    pub fn use_env_proxy(mut self, v: bool) -> Self {
        self.use_env_proxy = v;
        self
    }
    pub fn dialer(mut self, v: Dialer) -> Self {
        self.dialer = Some(v);
        self
    }
}

/// Options of `POST /prompt`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SubmitOptions {
    /// Our own prompt id (ComfyUI accepts `prompt_id` in the body); a random UUID when `None`.
    pub prompt_id: Option<String>,
    /// Put the prompt at the front of the queue.
    pub front: bool,
    /// `extra_data` (e.g. `{"extra_pnginfo": {"workflow": ...}}` to embed the UI workflow in PNGs).
    pub extra_data: Option<Value>,
}

impl SubmitOptions {
    pub fn prompt_id(mut self, v: impl Into<String>) -> Self {
        self.prompt_id = Some(v.into());
        self
    }
    pub fn front(mut self, v: bool) -> Self {
        self.front = v;
        self
    }
    pub fn extra_data(mut self, v: Value) -> Self {
        self.extra_data = Some(v);
        self
    }
}

/// Options of an upload.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UploadOptions {
    pub subfolder: String,
    pub overwrite: bool,
    /// `input` (default), `temp` or `output`.
    pub kind: String,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            subfolder: String::new(),
            overwrite: false,
            kind: "input".to_owned(),
        }
    }
}

impl UploadOptions {
    pub fn subfolder(mut self, v: impl Into<String>) -> Self {
        self.subfolder = v.into();
        self
    }
    pub fn overwrite(mut self, v: bool) -> Self {
        self.overwrite = v;
        self
    }
    pub fn kind(mut self, v: impl Into<String>) -> Self {
        self.kind = v.into();
        self
    }
}

/// Result of [`ComfyClient::ws_handshake`].
#[derive(Debug, Clone, PartialEq)]
pub struct WsHandshake {
    pub url: String,
    /// The session id the server confirmed (equals our client id on ComfyUI).
    pub sid: Option<String>,
    pub queue_remaining: Option<u64>,
    pub elapsed: Duration,
}

/// The client's own WebSocket, kept between runs.
#[derive(Debug, Default)]
pub(crate) struct SocketSlot {
    pub socket: Option<EventSocket>,
    /// A run is using the client's id (and socket) right now.
    pub in_use: bool,
}

/// A blocking client for one ComfyUI server.
///
/// Runs follow their prompt over a WebSocket opened with the client's `clientId`, kept between
/// runs. ComfyUI routes a prompt's events to the newest socket of its `clientId` only, so a run
/// started while another one is in progress uses its own socket and a derived id
/// (`<client_id>-<n>`) for its prompt.
#[derive(Debug)]
pub struct ComfyClient {
    /// Without userinfo: credentials live in `auth` only.
    base: String,
    auth: Option<BasicAuth>,
    host: String,
    port: u16,
    tls: bool,
    opts: ClientOptions,
    client_id: String,
    agent: ureq::Agent,
    prefix: OnceLock<&'static str>,
    pub(crate) socket: Mutex<SocketSlot>,
}

enum Payload<'a> {
    Empty,
    Json(Vec<u8>),
    Form(String, &'a [u8]),
}

impl ComfyClient {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8188`) with default options. No network I/O.
    pub fn new(base_url: &str) -> Result<Self, ComfyError> {
        Self::with_options(base_url, ClientOptions::default())
    }

    /// A client with explicit options. No network I/O. Credentials in the URL
    /// (`http://user:pass@host:8188`) are sent as basic auth and left out of
    /// [`Self::base_url`] and every URL an error names.
    pub fn with_options(base_url: &str, opts: ClientOptions) -> Result<Self, ComfyError> {
        let invalid = |reason: &str| ComfyError::InvalidUrl {
            url: redact(base_url.trim()),
            reason: reason.to_owned(),
        };
        let uri: ureq::http::Uri = base_url
            .trim()
            .parse()
            .map_err(|e| invalid(&format!("{e}")))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => return Err(invalid(&format!("scheme {other} is not http or https"))),
            None => return Err(invalid("no scheme (expected http:// or https://)")),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("no host"))?
            .to_owned();
        if uri.query().is_some() {
            return Err(invalid("a query string is not allowed in the base URL"));
        }
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path = uri.path().trim_end_matches('/');
        let authority = uri.authority().map_or("", |a| a.as_str());
        let (auth, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(BasicAuth::from_userinfo(userinfo)), host_port),
            None => (None, authority),
        };
        let base = format!("{}://{host_port}{path}", if tls { "https" } else { "http" });
        let client_id = opts
            .client_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(opts.connect_timeout))
            .timeout_global(Some(opts.request_timeout))
            .timeout_per_read(Some(opts.stall_timeout))
            .proxy(if opts.use_env_proxy && opts.dialer.is_none() {
                ureq::Proxy::try_from_env()
            } else {
                None
            })
            .user_agent(concat!("comfy-local/", env!("CARGO_PKG_VERSION")))
            .max_redirects(0)
            .build();
        let agent = match &opts.dialer {
            Some(dialer) => {
                ureq::Agent::with_parts(config, DialConnector(dialer.clone()), NoLookup)
            }
            None => ureq::Agent::new_with_config(config),
        };
        let prefix = OnceLock::new();
        match opts.api_prefix {
            ApiPrefix::Root => {
                let _ = prefix.set("");
            }
            ApiPrefix::Api => {
                let _ = prefix.set("/api");
            }
            ApiPrefix::Auto if path.ends_with("/api") => {
                let _ = prefix.set("");
            }
            ApiPrefix::Auto => {}
        }
        Ok(Self {
            base,
            auth,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            tls,
            opts,
            client_id,
            agent,
            prefix,
            socket: Mutex::new(SocketSlot::default()),
        })
    }

    /// The base URL, without a trailing slash and without credentials.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The `Authorization` header value sent with every request, when the URL had credentials.
    pub(crate) fn authorization(&self) -> Option<&str> {
        self.auth.as_ref().map(BasicAuth::header_value)
    }

    /// Another client for the same server, with the same options, credentials and `clientId`
    /// but without this one's WebSocket: for another thread (a Ctrl-C handler interrupting a
    /// run), reaching the server the same way (an SSH tunnel too).
    #[must_use]
    pub fn sibling(&self) -> Self {
        let prefix = OnceLock::new();
        if let Some(p) = self.prefix.get() {
            let _ = prefix.set(*p);
        }
        Self {
            base: self.base.clone(),
            auth: self.auth.clone(),
            host: self.host.clone(),
            port: self.port,
            tls: self.tls,
            opts: self.opts.clone(),
            client_id: self.client_id.clone(),
            agent: self.agent.clone(),
            prefix,
            socket: Mutex::new(SocketSlot::default()),
        }
    }

    /// The `clientId` this client uses for its WebSocket and prompts.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    pub(crate) fn host_port(&self) -> (&str, u16, bool) {
        (&self.host, self.port, self.tls)
    }

    /// The route prefix in use (`""` or `"/api"`), probing once when set to [`ApiPrefix::Auto`].
    pub fn api_prefix(&self) -> Result<&'static str, ComfyError> {
        self.prefix_and_probe().map(|(prefix, _)| prefix)
    }

    /// The route prefix and, when this call probed it and found `/api`, the probe's answer
    /// (the body of `GET /api/system_stats`).
    fn prefix_and_probe(&self) -> Result<(&'static str, Option<Vec<u8>>), ComfyError> {
        if let Some(p) = self.prefix.get() {
            return Ok((p, None));
        }
        let probe = format!("{}/api/system_stats", self.base);
        let (status, body) = self.raw(&ureq::http::Method::GET, &probe, Payload::Empty, None)?;
        let api =
            status == 200 && serde_json::from_slice::<Value>(&body).is_ok_and(|v| v.is_object());
        let prefix = *self.prefix.get_or_init(|| if api { "/api" } else { "" });
        Ok((prefix, (api && prefix == "/api").then_some(body)))
    }

    /// Full URL of an API route (`path` starts with `/`).
    pub fn url(&self, path: &str) -> Result<String, ComfyError> {
        Ok(format!("{}{}{path}", self.base, self.api_prefix()?))
    }

    /// WebSocket URL with our client id.
    pub(crate) fn ws_url(&self, client_id: &str) -> Result<String, ComfyError> {
        let http = self.url(&format!("/ws?clientId={}", encode(client_id)))?;
        Ok(http.replacen("http", "ws", 1))
    }

    fn raw(
        &self,
        method: &ureq::http::Method,
        url: &str,
        payload: Payload<'_>,
        timeout: Option<Duration>,
    ) -> Result<(u16, Vec<u8>), ComfyError> {
        let mut resp = self.send(method, url, payload, timeout)?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        self.paced(
            resp.body_mut()
                .with_config()
                .limit(self.opts.max_response_bytes)
                .reader(),
        )
        .read_to_end(&mut body)
        .map_err(|e| self.map_io_read(url, e, timeout))?;
        Ok((status, body))
    }

    fn send(
        &self,
        method: &ureq::http::Method,
        url: &str,
        payload: Payload<'_>,
        timeout: Option<Duration>,
    ) -> Result<ureq::http::Response<ureq::Body>, ComfyError> {
        let result = if *method == ureq::http::Method::GET {
            let mut req = self.agent.get(url);
            if let Some(t) = timeout {
                req = req.config().timeout_global(Some(t)).build();
            }
            if let Some(auth) = self.authorization() {
                req = req.header("Authorization", auth);
            }
            req.call()
        } else {
            let mut req = self.agent.post(url);
            if let Some(t) = timeout {
                // After a big upload ComfyUI may take a while to store it before it answers:
                // the answer's wait is bounded by the whole-call timeout, not the stall one.
                let per_read = matches!(payload, Payload::Form(..)).then_some(t);
                let config = req.config().timeout_global(Some(t));
                req = match per_read {
                    Some(t) => config.timeout_per_read(Some(t)).build(),
                    None => config.build(),
                };
            }
            if let Some(auth) = self.authorization() {
                req = req.header("Authorization", auth);
            }
            match payload {
                Payload::Empty => req.send_empty(),
                Payload::Json(bytes) => req
                    .header("Content-Type", "application/json")
                    .send(&bytes[..]),
                Payload::Form(ct, bytes) => req.header("Content-Type", ct.as_str()).send(bytes),
            }
        };
        result.map_err(|e| self.map_err(url, e, timeout))
    }

    /// `body` as a reader that fails when it stalls (see [`ClientOptions::stall_timeout`]).
    fn paced<R: Read>(&self, body: R) -> Paced<R> {
        Paced::new(body, self.opts.stall_min_bytes, self.opts.stall_timeout)
    }

    fn map_err(&self, url: &str, e: ureq::Error, timeout: Option<Duration>) -> ComfyError {
        match e {
            ureq::Error::Timeout(ureq::Timeout::PerRead) => ComfyError::Stalled {
                url: url.to_owned(),
                min_bytes: 1,
                window: self.opts.stall_timeout,
            },
            ureq::Error::Timeout(_) => ComfyError::Timeout {
                url: url.to_owned(),
                after: timeout.unwrap_or(self.opts.request_timeout),
            },
            ureq::Error::BodyExceedsLimit(limit) => ComfyError::TooLarge {
                url: url.to_owned(),
                limit,
            },
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                ComfyError::Timeout {
                    url: url.to_owned(),
                    after: timeout.unwrap_or(self.opts.request_timeout),
                }
            }
            other => ComfyError::Transport {
                url: url.to_owned(),
                source: Box::new(other),
            },
        }
    }

    fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ComfyError> {
        let url = self.url(path)?;
        let (status, body) = self.raw(&ureq::http::Method::GET, &url, Payload::Empty, None)?;
        if status != 200 {
            return Err(http_status(&url, status, &body));
        }
        decode(&url, status, &body)
    }

    fn post(
        &self,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<(String, u16, Vec<u8>), ComfyError> {
        let url = self.url(path)?;
        let payload = match body {
            Some(v) => match serde_json::to_vec(v) {
                Ok(bytes) => Payload::Json(bytes),
                Err(source) => return Err(ComfyError::Serialize { url, source }),
            },
            None => Payload::Empty,
        };
        let (status, bytes) = self.raw(&ureq::http::Method::POST, &url, payload, None)?;
        Ok((url, status, bytes))
    }

    fn post_ok(&self, path: &str, body: Option<&Value>) -> Result<(), ComfyError> {
        let (url, status, bytes) = self.post(path, body)?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(http_status(&url, status, &bytes))
        }
    }

    /// `GET /system_stats`: versions and devices.
    /// On a client whose route prefix is still to be found ([`ApiPrefix::Auto`]) the probe is
    /// this request, and its answer is the one returned: one request, not two.
    pub fn system_stats(&self) -> Result<SystemStats, ComfyError> {
        if let (_, Some(body)) = self.prefix_and_probe()? {
            return decode(&format!("{}/api/system_stats", self.base), 200, &body);
        }
        self.get_json("/system_stats")
    }

    /// `GET /internal/folder_paths` (at the server's root, never under `/api`): each folder
    /// name (`checkpoints`, `custom_nodes`, ...) with the absolute paths ComfyUI uses for it
    /// on its host. An internal route of the ComfyUI frontend, so `None` when the server does
    /// not have it (404).
    pub fn folder_paths(&self) -> Result<Option<BTreeMap<String, Vec<String>>>, ComfyError> {
        let url = format!("{}/internal/folder_paths", self.base);
        let (status, body) = self.raw(&ureq::http::Method::GET, &url, Payload::Empty, None)?;
        match status {
            200 => decode(&url, status, &body).map(Some),
            404 => Ok(None),
            _ => Err(http_status(&url, status, &body)),
        }
    }

    /// `GET /object_info`: every node class (a class of an unexpected shape, e.g. an odd custom
    /// node, is left out rather than failing the whole answer).
    pub fn object_info(&self) -> Result<ObjectInfo, ComfyError> {
        let url = self.url("/object_info")?;
        let v: Value = self.get_json("/object_info")?;
        if !v.is_object() {
            return Err(ComfyError::UnexpectedJson {
                url,
                reason: "expected an object of node classes".to_owned(),
            });
        }
        Ok(ObjectInfo::from_value(v))
    }

    /// `GET /object_info/{class}`: one class, `None` when the server does not know it (it answers `{}`).
    pub fn object_info_class(&self, class: &str) -> Result<Option<NodeClass>, ComfyError> {
        let mut v: Value = self.get_json(&format!("/object_info/{}", encode(class)))?;
        Ok(v.get_mut(class)
            .map(Value::take)
            .and_then(|c| NodeClass::from_value(class, c)))
    }

    /// `GET /queue`.
    pub fn queue(&self) -> Result<QueueState, ComfyError> {
        let url = self.url("/queue")?;
        let v: Value = self.get_json("/queue")?;
        let list = |key: &str| -> Result<Vec<QueueItem>, ComfyError> {
            let items =
                v.get(key)
                    .and_then(Value::as_array)
                    .ok_or_else(|| ComfyError::UnexpectedJson {
                        url: url.clone(),
                        reason: format!("missing list {key}"),
                    })?;
            items
                .iter()
                .map(|i| {
                    QueueItem::from_value(i).ok_or_else(|| ComfyError::UnexpectedJson {
                        url: url.clone(),
                        reason: format!(
                            "{key} entry is not [number, prompt_id, prompt, extra_data, outputs]"
                        ),
                    })
                })
                .collect()
        };
        Ok(QueueState {
            running: list("queue_running")?,
            pending: list("queue_pending")?,
        })
    }

    /// `GET /prompt`: number of prompts queued or running.
    pub fn queue_remaining(&self) -> Result<u64, ComfyError> {
        let url = self.url("/prompt")?;
        let v: Value = self.get_json("/prompt")?;
        v.pointer("/exec_info/queue_remaining")
            .and_then(Value::as_u64)
            .ok_or(ComfyError::UnexpectedJson {
                url,
                reason: "missing exec_info.queue_remaining".to_owned(),
            })
    }

    /// `POST /queue {"clear": true}`: removes pending prompts (not the running one).
    pub fn clear_queue(&self) -> Result<(), ComfyError> {
        self.post_ok("/queue", Some(&json!({"clear": true})))
    }

    /// `POST /queue {"delete": [...]}`: removes these pending prompts.
    pub fn delete_from_queue(&self, prompt_ids: &[&str]) -> Result<(), ComfyError> {
        self.post_ok("/queue", Some(&json!({"delete": prompt_ids})))
    }

    /// `POST /prompt` with our client id: `prompt` is an API-format prompt (e.g.
    /// `comfy-local-workflow`'s `ApiPrompt`, or JSON). A prompt that cannot be serialised is
    /// [`ComfyError::Serialize`]; a rejection is [`ComfyError::PromptRejected`] with every node error.
    pub fn submit(
        &self,
        prompt: &impl Serialize,
        opts: &SubmitOptions,
    ) -> Result<PromptAccepted, ComfyError> {
        self.submit_as(prompt, opts, &self.client_id)
    }

    pub(crate) fn submit_as(
        &self,
        prompt: &impl Serialize,
        opts: &SubmitOptions,
        client_id: &str,
    ) -> Result<PromptAccepted, ComfyError> {
        let body = PromptBody {
            prompt,
            client_id,
            prompt_id: opts
                .prompt_id
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            front: opts.front.then_some(true),
            extra_data: opts.extra_data.as_ref(),
        };
        let (url, status, bytes) = self.post("/prompt", Some(&body))?;
        if status == 200 {
            let v: Value = decode(&url, status, &bytes)?;
            let mut accepted: PromptAccepted =
                serde_json::from_value(v.clone()).map_err(|e| ComfyError::UnexpectedJson {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
            accepted.node_errors = parse_node_errors(v.get("node_errors"));
            return Ok(accepted);
        }
        if let Ok(v) = serde_json::from_slice::<Value>(&bytes)
            && let Some(rejected) = parse_rejection(&v)
        {
            return Err(rejected);
        }
        Err(http_status(&url, status, &bytes))
    }

    /// `GET /history/{prompt_id}`: `None` while the prompt is queued or running (ComfyUI answers `{}`).
    pub fn history(&self, prompt_id: &str) -> Result<Option<HistoryEntry>, ComfyError> {
        let url = self.url(&format!("/history/{}", encode(prompt_id)))?;
        let v: Value = self.get_json(&format!("/history/{}", encode(prompt_id)))?;
        match v.get(prompt_id) {
            None => Ok(None),
            Some(entry) => HistoryEntry::from_value(prompt_id, entry).map(Some).ok_or(
                ComfyError::UnexpectedJson {
                    url,
                    reason: format!("history entry {prompt_id} is not an object"),
                },
            ),
        }
    }

    /// `GET /history[?max_items=N]`: finished prompts, oldest first as the server orders them.
    pub fn history_list(&self, max_items: Option<u32>) -> Result<Vec<HistoryEntry>, ComfyError> {
        let path = max_items.map_or_else(
            || "/history".to_owned(),
            |n| format!("/history?max_items={n}"),
        );
        let url = self.url(&path)?;
        let v: Value = self.get_json(&path)?;
        let map = v.as_object().ok_or(ComfyError::UnexpectedJson {
            url: url.clone(),
            reason: "expected an object".to_owned(),
        })?;
        map.iter()
            .map(|(id, e)| {
                HistoryEntry::from_value(id, e).ok_or_else(|| ComfyError::UnexpectedJson {
                    url: url.clone(),
                    reason: format!("history entry {id} is not an object"),
                })
            })
            .collect()
    }

    /// `POST /history {"delete": [...]}`.
    pub fn delete_history(&self, prompt_ids: &[&str]) -> Result<(), ComfyError> {
        self.post_ok("/history", Some(&json!({"delete": prompt_ids})))
    }

    /// `POST /history {"clear": true}`.
    pub fn clear_history(&self) -> Result<(), ComfyError> {
        self.post_ok("/history", Some(&json!({"clear": true})))
    }

    /// URL of `GET /view` for an output file.
    pub fn view_url(&self, file: &OutputFile) -> Result<String, ComfyError> {
        self.url(&format!(
            "/view?filename={}&subfolder={}&type={}",
            encode(&file.filename),
            encode(&file.subfolder),
            encode(&file.kind)
        ))
    }

    /// `GET /view`: streams an output (image, video, audio, any file) into `out`; returns bytes written.
    pub fn view(&self, file: &OutputFile, out: &mut dyn Write) -> Result<u64, ComfyError> {
        let url = self.view_url(file)?;
        let timeout = Some(self.opts.transfer_timeout);
        let mut resp = self.send(&ureq::http::Method::GET, &url, Payload::Empty, timeout)?;
        let status = resp.status().as_u16();
        if status != 200 {
            // The error text is a courtesy: whatever arrives before the limit or a stall.
            let mut body = Vec::new();
            let _ = self
                .paced(resp.body_mut().with_config().limit(4096).reader())
                .read_to_end(&mut body);
            return Err(http_status(&url, status, &body));
        }
        let mut reader = self.paced(
            resp.body_mut()
                .with_config()
                .limit(self.opts.max_download_bytes)
                .reader(),
        );
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.map_io_read(&url, e, timeout)),
            };
            out.write_all(&buf[..n])
                .map_err(|source| ComfyError::Write {
                    url: url.clone(),
                    source,
                })?;
            total += n as u64;
        }
        out.flush().map_err(|source| ComfyError::Write {
            url: url.clone(),
            source,
        })?;
        Ok(total)
    }

    /// `GET /view` into memory.
    pub fn view_bytes(&self, file: &OutputFile) -> Result<Vec<u8>, ComfyError> {
        let mut v = Vec::new();
        self.view(file, &mut v)?;
        Ok(v)
    }

    fn map_io_read(&self, url: &str, e: std::io::Error, timeout: Option<Duration>) -> ComfyError {
        if let Some(stalled) = e.get_ref().and_then(|e| e.downcast_ref::<Stalled>()) {
            return ComfyError::Stalled {
                url: url.to_owned(),
                min_bytes: stalled.min_bytes,
                window: stalled.window,
            };
        }
        match e
            .into_inner()
            .map(<dyn std::error::Error + Send + Sync>::downcast::<ureq::Error>)
        {
            Some(Ok(ureq_err)) => self.map_err(url, *ureq_err, timeout),
            Some(Err(other)) => ComfyError::Transport {
                url: url.to_owned(),
                source: Box::new(ureq::Error::Io(std::io::Error::other(other))),
            },
            None => ComfyError::Transport {
                url: url.to_owned(),
                source: Box::new(ureq::Error::Io(std::io::Error::other("read failed"))),
            },
        }
    }

    /// `POST /upload/image`: stores `bytes` as `name` in the server's input (or temp) folder.
    pub fn upload_image(
        &self,
        name: &str,
        bytes: &[u8],
        opts: &UploadOptions,
    ) -> Result<UploadedFile, ComfyError> {
        self.upload("/upload/image", name, bytes, opts, None)
    }

    /// `POST /upload/mask`: applies `bytes` as the alpha mask of the already uploaded `original`.
    pub fn upload_mask(
        &self,
        name: &str,
        bytes: &[u8],
        original: &UploadedFile,
        opts: &UploadOptions,
    ) -> Result<UploadedFile, ComfyError> {
        let original_ref =
            json!({"filename": original.name, "subfolder": original.subfolder, "type": original.kind}).to_string();
        self.upload("/upload/mask", name, bytes, opts, Some(&original_ref))
    }

    fn upload(
        &self,
        path: &str,
        name: &str,
        bytes: &[u8],
        opts: &UploadOptions,
        original_ref: Option<&str>,
    ) -> Result<UploadedFile, ComfyError> {
        validate_upload_name(name)?;
        let url = self.url(path)?;
        let mut form = Form::new()
            .file("image", name, content_type_for(name), bytes)
            .text("type", &opts.kind)
            .text("subfolder", &opts.subfolder)
            .text("overwrite", if opts.overwrite { "true" } else { "false" });
        if let Some(r) = original_ref {
            form = form.text("original_ref", r);
        }
        let (ct, body) = form.finish();
        let (status, resp) = self.raw(
            &ureq::http::Method::POST,
            &url,
            Payload::Form(ct, &body),
            Some(self.opts.transfer_timeout),
        )?;
        if status != 200 {
            return Err(http_status(&url, status, &resp));
        }
        decode(&url, status, &resp)
    }

    /// `POST /interrupt`: stops the running prompt; with `Some(id)` only if that prompt is the one running.
    pub fn interrupt(&self, prompt_id: Option<&str>) -> Result<(), ComfyError> {
        match prompt_id {
            Some(id) => self.post_ok("/interrupt", Some(&json!({"prompt_id": id}))),
            None => self.post_ok("/interrupt", None),
        }
    }

    /// `POST /free`: unload models and/or free cached memory.
    pub fn free(&self, unload_models: bool, free_memory: bool) -> Result<(), ComfyError> {
        self.post_ok(
            "/free",
            Some(&json!({"unload_models": unload_models, "free_memory": free_memory})),
        )
    }

    /// `GET /models`: model folder names.
    pub fn model_folders(&self) -> Result<Vec<String>, ComfyError> {
        self.get_json("/models")
    }

    /// `GET /models/{folder}`: files in a model folder; `None` when the server does not know the folder (404).
    pub fn models(&self, folder: &str) -> Result<Option<Vec<String>>, ComfyError> {
        let url = self.url(&format!("/models/{}", encode(folder)))?;
        let (status, body) = self.raw(&ureq::http::Method::GET, &url, Payload::Empty, None)?;
        match status {
            200 => decode(&url, status, &body).map(Some),
            404 => Ok(None),
            _ => Err(http_status(&url, status, &body)),
        }
    }

    /// `GET /embeddings`.
    pub fn embeddings(&self) -> Result<Vec<String>, ComfyError> {
        self.get_json("/embeddings")
    }

    /// `GET /features`.
    pub fn features(&self) -> Result<Features, ComfyError> {
        self.get_json("/features")
    }

    /// `GET /extensions`: frontend extension script paths.
    pub fn extensions(&self) -> Result<Vec<String>, ComfyError> {
        self.get_json("/extensions")
    }

    /// Opens the WebSocket with our client id and reads the first `status` message: a connection test.
    pub fn ws_handshake(&self) -> Result<WsHandshake, ComfyError> {
        let started = std::time::Instant::now();
        let mut socket = EventSocket::connect(self, &self.client_id)?;
        let url = socket.url().to_owned();
        let deadline = started + self.opts.request_timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(ComfyError::Timeout {
                    url,
                    after: self.opts.request_timeout,
                });
            }
            if let Some(crate::Event::Status {
                queue_remaining,
                sid,
            }) = socket.read(left)?
            {
                return Ok(WsHandshake {
                    url,
                    sid,
                    queue_remaining,
                    elapsed: started.elapsed(),
                });
            }
        }
    }

    /// Follows a prompt queued before (by any client) to its end, as [`ComfyClient::run`] does
    /// after submitting. `client_id` is the id whose WebSocket gets the prompt's execution
    /// events (the `client_id` of its `extra_data`): a socket of that id already open (the
    /// submitting client's) stops receiving them while this one is open, so pass it only for
    /// a prompt whose submitter is gone or is one of ours. With `None`, a socket of a fresh id
    /// sees only `status` messages and the end is read from history.
    pub fn follow(
        &self,
        prompt_id: &str,
        client_id: Option<&str>,
        opts: crate::RunOptions,
    ) -> crate::Run<'_> {
        crate::Run::follow(self, prompt_id, client_id, opts)
    }

    /// Submits `prompt` (as [`ComfyClient::submit`] does) and follows it to the end: see [`crate::Run`].
    pub fn run(
        &self,
        prompt: &impl Serialize,
        opts: crate::RunOptions,
    ) -> Result<crate::Run<'_>, ComfyError> {
        crate::Run::start(self, prompt, opts)
    }
}

/// The body of `POST /prompt`.
#[derive(Serialize)]
struct PromptBody<'a, P> {
    prompt: &'a P,
    client_id: &'a str,
    prompt_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    front: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra_data: Option<&'a Value>,
}

fn validate_upload_name(name: &str) -> Result<(), ComfyError> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| matches!(c, '"' | '/' | '\\' | '\r' | '\n' | '\0'));
    if bad {
        return Err(ComfyError::InvalidUploadName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Percent-encodes a query or path component.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect()
}

fn http_status(url: &str, status: u16, body: &[u8]) -> ComfyError {
    ComfyError::HttpStatus {
        url: url.to_owned(),
        status,
        body: snippet(body),
    }
}

fn decode<T: DeserializeOwned>(url: &str, status: u16, body: &[u8]) -> Result<T, ComfyError> {
    if let Err(e) = std::str::from_utf8(body) {
        return Err(ComfyError::NotJson {
            url: url.to_owned(),
            status,
            reason: format!("not UTF-8: {e}"),
            snippet: snippet(body),
        });
    }
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ComfyError::UnexpectedJson {
            url: url.to_owned(),
            reason: e.to_string(),
        },
        _ => ComfyError::NotJson {
            url: url.to_owned(),
            status,
            reason: e.to_string(),
            snippet: snippet(body),
        },
    })
}
