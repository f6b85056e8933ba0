//! Typed errors of the ComfyUI client: what failed, against which URL, with every detail ComfyUI gave.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Deserialize;

/// Everything that can go wrong talking to a ComfyUI server.
///
/// A variant with a cause keeps it as [`std::error::Error::source`] and leaves it out of its own
/// message: print the chain (`{:#}` of an `anyhow::Error`, or walk `source()`) to see it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComfyError {
    /// The base URL could not be parsed or uses an unsupported scheme.
    #[error("invalid ComfyUI URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// The connection could not be made, or broke, before an answer arrived.
    #[error("cannot reach ComfyUI at {url}")]
    Transport {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },

    /// No (complete) answer within the configured time.
    #[error("ComfyUI at {url} did not answer within {after:?}")]
    Timeout { url: String, after: Duration },

    /// The answer stopped coming, or trickled (fewer than `min_bytes` in `window`).
    #[error("ComfyUI at {url} stalled: fewer than {min_bytes} byte(s) arrived in {window:?}")]
    Stalled {
        url: String,
        min_bytes: u64,
        window: Duration,
    },

    /// The server answered with an unexpected HTTP status.
    #[error("ComfyUI at {url} answered HTTP {status}{}", body_suffix(.body))]
    HttpStatus {
        url: String,
        status: u16,
        body: String,
    },

    /// The answer is not JSON (or not UTF-8) where JSON was expected.
    #[error("ComfyUI at {url} answered HTTP {status} with a body that is not JSON ({reason}){}", body_suffix(.snippet))]
    NotJson {
        url: String,
        status: u16,
        reason: String,
        snippet: String,
    },

    /// The answer is JSON but not of the expected shape (wrong types, missing fields).
    #[error("ComfyUI at {url} answered JSON of an unexpected shape: {reason}")]
    UnexpectedJson { url: String, reason: String },

    /// The answer is larger than the configured limit (a hostile or broken server).
    #[error("ComfyUI at {url} sent more than {limit} bytes; refusing to read further")]
    TooLarge { url: String, limit: u64 },

    /// `POST /prompt` rejected the prompt; carries every node error ComfyUI reported.
    #[error("{}", describe_rejection(.error, .node_errors))]
    PromptRejected {
        error: Box<PromptError>,
        node_errors: Vec<NodeError>,
    },

    /// The prompt started but a node raised an exception (`execution_error`).
    #[error("prompt {prompt_id} failed in node {} ({}): {}: {}", .error.node_id, .error.node_type, .error.exception_type, .error.exception_message.trim_end())]
    ExecutionFailed {
        prompt_id: String,
        error: Box<ExecutionError>,
    },

    /// The prompt was interrupted (`execution_interrupted`).
    #[error("prompt {prompt_id} was interrupted{}", interrupted_at(.node_id.as_deref(), .node_type.as_deref()))]
    Interrupted {
        prompt_id: String,
        node_id: Option<String>,
        node_type: Option<String>,
    },

    /// The prompt did not finish within the run's deadline.
    #[error("prompt {prompt_id} did not finish within {after:?}")]
    RunTimeout { prompt_id: String, after: Duration },

    /// The WebSocket handshake or a read failed.
    #[error("WebSocket {url}")]
    WebSocket {
        url: String,
        /// tungstenite's error; an I/O failure is kept as the `io::Error` itself, since
        /// tungstenite's `Io` variant repeats its cause in its own message.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// Writing a downloaded file to the caller's writer failed.
    #[error("writing the download from {url} failed")]
    Write {
        url: String,
        #[source]
        source: std::io::Error,
    },

    /// An upload name that ComfyUI would misread (empty, a path, quotes or control characters).
    #[error("upload name {name:?} is not a plain file name")]
    InvalidUploadName { name: String },

    /// The server no longer knows the prompt (neither queued, running nor in history), e.g. after a restart.
    #[error(
        "prompt {prompt_id} is no longer known to ComfyUI at {url} (server restarted or queue cleared?)"
    )]
    PromptLost { prompt_id: String, url: String },

    /// A request body (the prompt given to `submit`/`run`) could not be serialised to JSON, e.g.
    /// a map with non-string keys or a `Serialize` impl that fails.
    #[error("the request body for {url} cannot be serialised to JSON")]
    Serialize {
        url: String,
        #[source]
        source: serde_json::Error,
    },

    /// Reading an upload from the caller's reader failed.
    #[error("reading the upload {name:?} failed")]
    Read {
        name: String,
        #[source]
        source: std::io::Error,
    },
}

/// An error and its causes on one line, `: `-separated (as `anyhow`'s `{:#}` prints them). A
/// cause whose text already ends the line is not repeated: some dependencies' errors (tungstenite's
/// `IO error: {0}`) print their own cause and return it as `source()` too.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn body_suffix(body: &str) -> String {
    if body.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", body.trim())
    }
}

fn interrupted_at(node_id: Option<&str>, node_type: Option<&str>) -> String {
    match (node_id, node_type) {
        (Some(id), Some(ty)) => format!(" at node {id} ({ty})"),
        (Some(id), None) => format!(" at node {id}"),
        _ => String::new(),
    }
}

fn describe_rejection(error: &PromptError, node_errors: &[NodeError]) -> String {
    let mut out = format!(
        "ComfyUI rejected the prompt: {} [{}]",
        error.message, error.kind
    );
    if !error.details.is_empty() {
        let _ = write!(out, ": {}", error.details);
    }
    for node in node_errors {
        for e in &node.errors {
            let _ = write!(out, "\n  node {} ({})", node.node_id, node.class_type);
            if let Some(input) = &e.input_name {
                let _ = write!(out, " input {input}");
            }
            let _ = write!(out, ": {} [{}]", e.message, e.kind);
            if !e.details.is_empty() {
                let _ = write!(out, ": {}", e.details);
            }
        }
    }
    out
}

/// The top-level `error` object of a rejected prompt.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PromptError {
    /// `invalid_prompt`, `prompt_outputs_failed_validation`, `prompt_no_outputs`, `no_prompt`, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub details: String,
    #[serde(default)]
    pub extra_info: serde_json::Value,
}

/// All validation errors of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeError {
    pub node_id: String,
    pub class_type: String,
    /// Output nodes that depend on this node.
    pub dependent_outputs: Vec<String>,
    pub errors: Vec<NodeErrorDetail>,
}

/// One validation error of one node input.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NodeErrorDetail {
    /// `required_input_missing`, `invalid_input_type`, `value_smaller_than_min`, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub details: String,
    /// `extra_info.input_name`, when ComfyUI named the input.
    #[serde(skip)]
    pub input_name: Option<String>,
    /// The whole `extra_info` object (input_config, received_value, traceback, ...).
    #[serde(default)]
    pub extra_info: serde_json::Value,
}

/// The `execution_error` message (WebSocket) or history entry, all fields.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ExecutionError {
    #[serde(default)]
    pub prompt_id: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub node_id: String,
    #[serde(default)]
    pub node_type: String,
    #[serde(default)]
    pub executed: Vec<String>,
    #[serde(default)]
    pub exception_message: String,
    #[serde(default)]
    pub exception_type: String,
    #[serde(default)]
    pub traceback: Vec<String>,
    #[serde(default)]
    pub current_inputs: serde_json::Value,
    #[serde(default)]
    pub current_outputs: serde_json::Value,
    #[serde(default)]
    pub timestamp: Option<u64>,
}

/// Accepts a string, null or any other JSON value (rendered as JSON) for free-text fields.
pub(crate) fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// Parses ComfyUI's `{error, node_errors}` rejection body into the typed error.
///
/// Returns `None` when the body does not have that shape.
pub(crate) fn parse_rejection(body: &serde_json::Value) -> Option<ComfyError> {
    let obj = body.as_object()?;
    let error = match obj.get("error")? {
        serde_json::Value::String(s) => PromptError {
            kind: String::new(),
            message: s.clone(),
            details: String::new(),
            extra_info: serde_json::Value::Null,
        },
        v => PromptError::deserialize(v).ok()?,
    };
    let node_errors = parse_node_errors(obj.get("node_errors"));
    Some(ComfyError::PromptRejected {
        error: Box::new(error),
        node_errors,
    })
}

/// Parses a `node_errors` object (`{node_id: {errors, dependent_outputs, class_type}}`), tolerantly.
pub(crate) fn parse_node_errors(v: Option<&serde_json::Value>) -> Vec<NodeError> {
    let Some(map) = v.and_then(serde_json::Value::as_object) else {
        return Vec::new();
    };
    let mut out: Vec<NodeError> = map
        .iter()
        .map(|(node_id, entry)| {
            let errors = entry
                .get("errors")
                .and_then(serde_json::Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|e| {
                            let mut d = NodeErrorDetail::deserialize(e).unwrap_or_else(|_| {
                                NodeErrorDetail {
                                    kind: String::new(),
                                    message: e.to_string(),
                                    details: String::new(),
                                    input_name: None,
                                    extra_info: serde_json::Value::Null,
                                }
                            });
                            d.input_name = d
                                .extra_info
                                .get("input_name")
                                .and_then(serde_json::Value::as_str)
                                .map(str::to_owned);
                            d
                        })
                        .collect()
                })
                .unwrap_or_default();
            NodeError {
                node_id: node_id.clone(),
                class_type: entry
                    .get("class_type")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                dependent_outputs: entry
                    .get("dependent_outputs")
                    .and_then(serde_json::Value::as_array)
                    .map(|a| {
                        a.iter()
                            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                errors,
            }
        })
        .collect();
    out.sort_by(|a, b| crate::types::node_id_order(&a.node_id, &b.node_id));
    out
}
