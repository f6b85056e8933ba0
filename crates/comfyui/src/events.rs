//! Typed WebSocket events of ComfyUI (`/ws?clientId=...`), parsed from text and binary frames.
//!
//! Parsing never fails: unknown message types and known types with unexpected fields become
//! [`Event::Other`], short or odd binary frames become [`Event::Binary`].

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{ExecutionError, lenient_string};
use crate::types::NodeOutput;

/// Progress of one node in a `progress_state` message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NodeProgress {
    #[serde(default)]
    pub value: f64,
    #[serde(default)]
    pub max: f64,
    /// `pending`, `running`, `finished`, `error`.
    #[serde(default)]
    pub state: String,
    #[serde(default, deserialize_with = "opt_string")]
    pub display_node_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub parent_node_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    pub real_node_id: Option<String>,
}

/// Image format of a binary preview frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreviewFormat {
    Jpeg,
    Png,
    /// A format code this client does not know.
    Code(u32),
    /// From a metadata frame's `image_type` (e.g. `image/webp`).
    Mime(String),
}

/// A preview image pushed as a binary frame (event 1, or event 4 with metadata).
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub format: PreviewFormat,
    /// Metadata of event 4 (`node_id`, `prompt_id`, `display_node_id`, ...).
    pub metadata: Option<Value>,
    pub data: Vec<u8>,
}

/// One event of a ComfyUI WebSocket, or of this client's connection handling.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Queue size (broadcast); the first one after connecting carries our `sid`.
    Status {
        queue_remaining: Option<u64>,
        sid: Option<String>,
    },
    ExecutionStart {
        prompt_id: String,
        timestamp: Option<u64>,
    },
    /// Nodes whose results came from cache (all of them for an identical resubmission).
    ExecutionCached {
        prompt_id: String,
        nodes: Vec<String>,
        timestamp: Option<u64>,
    },
    /// A node starts; `node: None` means the prompt is finished (sent last, after history is written).
    Executing {
        prompt_id: Option<String>,
        node: Option<String>,
        display_node: Option<String>,
    },
    /// Step progress of a node that reports it (samplers, `SaveImageWebsocket`).
    Progress {
        prompt_id: Option<String>,
        node: Option<String>,
        value: f64,
        max: f64,
    },
    ProgressState {
        prompt_id: String,
        nodes: BTreeMap<String, NodeProgress>,
    },
    /// An output node finished with these outputs.
    Executed {
        prompt_id: String,
        node: String,
        display_node: Option<String>,
        output: NodeOutput,
    },
    ExecutionSuccess {
        prompt_id: String,
        timestamp: Option<u64>,
    },
    ExecutionError(Box<ExecutionError>),
    ExecutionInterrupted {
        prompt_id: String,
        node_id: Option<String>,
        node_type: Option<String>,
        executed: Vec<String>,
        timestamp: Option<u64>,
    },
    /// The server's answer to our `feature_flags` message.
    FeatureFlags(Value),
    Preview(Preview),
    /// A binary frame of another (or unreadable) event type.
    Binary {
        event_type: Option<u32>,
        len: usize,
    },
    /// A message type this client does not model, or a known type with unexpected fields.
    Other {
        kind: String,
        data: Value,
    },
    /// Client side: the WebSocket broke.
    SocketLost {
        reason: String,
    },
    /// Client side: the WebSocket was re-opened with the same client id.
    Reconnected,
    /// Client side: the WebSocket is gone for good; completion is detected by polling history.
    PollingFallback,
    /// Client side: the run was cancelled (see [`crate::RunOptions::cancel`]) and acted on it:
    /// the prompt was removed from the queue before it started (`removed_from_queue`), or it is
    /// running and ComfyUI was asked to interrupt it (its `execution_interrupted` follows).
    Stopping {
        removed_from_queue: bool,
    },
}

impl Event {
    /// The prompt this event belongs to, when it says.
    pub fn prompt_id(&self) -> Option<&str> {
        match self {
            Self::ExecutionStart { prompt_id, .. }
            | Self::ExecutionCached { prompt_id, .. }
            | Self::ProgressState { prompt_id, .. }
            | Self::Executed { prompt_id, .. }
            | Self::ExecutionSuccess { prompt_id, .. }
            | Self::ExecutionInterrupted { prompt_id, .. } => Some(prompt_id),
            Self::ExecutionError(e) => Some(&e.prompt_id),
            Self::Executing { prompt_id, .. } | Self::Progress { prompt_id, .. } => {
                prompt_id.as_deref()
            }
            Self::Preview(p) => p
                .metadata
                .as_ref()
                .and_then(|m| m.get("prompt_id"))
                .and_then(Value::as_str),
            Self::Other { data, .. } => data.get("prompt_id").and_then(Value::as_str),
            _ => None,
        }
    }
}

fn opt_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

fn ids<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::Array(a) => a
            .into_iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
            .collect(),
        _ => Vec::new(),
    })
}

#[derive(Deserialize)]
struct PromptTime {
    prompt_id: String,
    #[serde(default)]
    timestamp: Option<u64>,
}

#[derive(Deserialize)]
struct Cached {
    prompt_id: String,
    #[serde(default, deserialize_with = "ids")]
    nodes: Vec<String>,
    #[serde(default)]
    timestamp: Option<u64>,
}

#[derive(Deserialize)]
struct Executing {
    #[serde(default, deserialize_with = "opt_string")]
    node: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    display_node: Option<String>,
    #[serde(default)]
    prompt_id: Option<String>,
}

#[derive(Deserialize)]
struct Progress {
    #[serde(default)]
    value: f64,
    #[serde(default)]
    max: f64,
    #[serde(default)]
    prompt_id: Option<String>,
    #[serde(default, deserialize_with = "opt_string")]
    node: Option<String>,
}

#[derive(Deserialize)]
struct ProgressState {
    prompt_id: String,
    #[serde(default)]
    nodes: BTreeMap<String, NodeProgress>,
}

#[derive(Deserialize)]
struct Executed {
    prompt_id: String,
    #[serde(deserialize_with = "lenient_string")]
    node: String,
    #[serde(default, deserialize_with = "opt_string")]
    display_node: Option<String>,
    #[serde(default)]
    output: Value,
}

#[derive(Deserialize)]
struct Interrupted {
    prompt_id: String,
    #[serde(default, deserialize_with = "opt_string")]
    node_id: Option<String>,
    #[serde(default)]
    node_type: Option<String>,
    #[serde(default, deserialize_with = "ids")]
    executed: Vec<String>,
    #[serde(default)]
    timestamp: Option<u64>,
}

/// Parses one text frame.
pub fn parse_text(text: &str) -> Event {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return Event::Other {
            kind: String::new(),
            data: Value::String(text.chars().take(300).collect()),
        };
    };
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let data = v.get("data").cloned().unwrap_or(Value::Null);
    parse_typed(&kind, &data).unwrap_or(Event::Other { kind, data })
}

fn parse_typed(kind: &str, data: &Value) -> Option<Event> {
    Some(match kind {
        "status" => Event::Status {
            queue_remaining: data
                .pointer("/status/exec_info/queue_remaining")
                .and_then(Value::as_u64),
            sid: data.get("sid").and_then(Value::as_str).map(str::to_owned),
        },
        "execution_start" => {
            let p = PromptTime::deserialize(data).ok()?;
            Event::ExecutionStart {
                prompt_id: p.prompt_id,
                timestamp: p.timestamp,
            }
        }
        "execution_cached" => {
            let c = Cached::deserialize(data).ok()?;
            Event::ExecutionCached {
                prompt_id: c.prompt_id,
                nodes: c.nodes,
                timestamp: c.timestamp,
            }
        }
        "executing" => {
            let e = Executing::deserialize(data).ok()?;
            Event::Executing {
                prompt_id: e.prompt_id,
                node: e.node,
                display_node: e.display_node,
            }
        }
        "progress" => {
            let p = Progress::deserialize(data).ok()?;
            Event::Progress {
                prompt_id: p.prompt_id,
                node: p.node,
                value: p.value,
                max: p.max,
            }
        }
        "progress_state" => {
            let p = ProgressState::deserialize(data).ok()?;
            Event::ProgressState {
                prompt_id: p.prompt_id,
                nodes: p.nodes,
            }
        }
        "executed" => {
            let e = Executed::deserialize(data).ok()?;
            Event::Executed {
                prompt_id: e.prompt_id,
                node: e.node,
                display_node: e.display_node,
                output: NodeOutput::from_value(&e.output),
            }
        }
        "execution_success" => {
            let p = PromptTime::deserialize(data).ok()?;
            Event::ExecutionSuccess {
                prompt_id: p.prompt_id,
                timestamp: p.timestamp,
            }
        }
        "execution_error" => {
            let e = ExecutionError::deserialize(data).ok()?;
            if e.prompt_id.is_empty() {
                return None;
            }
            Event::ExecutionError(Box::new(e))
        }
        "execution_interrupted" => {
            let i = Interrupted::deserialize(data).ok()?;
            Event::ExecutionInterrupted {
                prompt_id: i.prompt_id,
                node_id: i.node_id,
                node_type: i.node_type,
                executed: i.executed,
                timestamp: i.timestamp,
            }
        }
        "feature_flags" => Event::FeatureFlags(data.clone()),
        _ => return None,
    })
}

/// Parses one binary frame: 4-byte big-endian event type, then the payload.
pub fn parse_binary(frame: &[u8]) -> Event {
    let word = |at: usize| -> Option<u32> {
        let b = frame.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let Some(event_type) = word(0) else {
        return Event::Binary {
            event_type: None,
            len: frame.len(),
        };
    };
    match event_type {
        // PREVIEW_IMAGE: 4-byte format (1 = JPEG, 2 = PNG), then the image.
        1 => match word(4) {
            Some(code) => Event::Preview(Preview {
                format: match code {
                    1 => PreviewFormat::Jpeg,
                    2 => PreviewFormat::Png,
                    c => PreviewFormat::Code(c),
                },
                metadata: None,
                data: frame.get(8..).unwrap_or_default().to_vec(),
            }),
            None => Event::Binary {
                event_type: Some(1),
                len: frame.len(),
            },
        },
        // PREVIEW_IMAGE_WITH_METADATA: 4-byte JSON length, JSON, then the image.
        4 => {
            let parsed = word(4).and_then(|len| {
                let end = 8usize.checked_add(len as usize)?;
                let meta: Value = serde_json::from_slice(frame.get(8..end)?).ok()?;
                Some((meta, end))
            });
            match parsed {
                Some((meta, end)) => {
                    let format = match meta.get("image_type").and_then(Value::as_str) {
                        Some("image/png") => PreviewFormat::Png,
                        Some("image/jpeg") => PreviewFormat::Jpeg,
                        Some(other) => PreviewFormat::Mime(other.to_owned()),
                        None => PreviewFormat::Code(0),
                    };
                    Event::Preview(Preview {
                        format,
                        metadata: Some(meta),
                        data: frame.get(end..).unwrap_or_default().to_vec(),
                    })
                }
                None => Event::Binary {
                    event_type: Some(4),
                    len: frame.len(),
                },
            }
        }
        other => Event::Binary {
            event_type: Some(other),
            len: frame.len(),
        },
    }
}
