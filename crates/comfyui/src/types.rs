//! Typed answers of the ComfyUI HTTP API (system stats, queue, history, outputs, uploads); node
//! info is `comfy-local-workflow`'s [`ObjectInfo`](crate::ObjectInfo).
//!
//! Shapes follow recorded ComfyUI 0.3.64 traffic (fixtures/comfyui/recorded). Unknown fields are
//! ignored and optional fields default, so newer servers still parse.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Orders node ids numerically when both are integers ("2" < "10"), otherwise as text.
pub(crate) fn node_id_order(a: &str, b: &str) -> Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// `GET /system_stats`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SystemStats {
    pub system: SystemInfo,
    #[serde(default)]
    pub devices: Vec<Device>,
}

impl SystemStats {
    pub fn comfyui_version(&self) -> Option<&str> {
        self.system.comfyui_version.as_deref()
    }
}

/// The `system` object of `/system_stats`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SystemInfo {
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub comfyui_version: Option<String>,
    #[serde(default)]
    pub python_version: Option<String>,
    #[serde(default)]
    pub pytorch_version: Option<String>,
    #[serde(default)]
    pub ram_total: Option<u64>,
    #[serde(default)]
    pub ram_free: Option<u64>,
    #[serde(default)]
    pub embedded_python: Option<bool>,
    #[serde(default)]
    pub argv: Vec<String>,
}

/// One compute device of `/system_stats`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Device {
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub index: Option<i64>,
    #[serde(default)]
    pub vram_total: u64,
    #[serde(default)]
    pub vram_free: u64,
    #[serde(default)]
    pub torch_vram_total: Option<u64>,
    #[serde(default)]
    pub torch_vram_free: Option<u64>,
}

/// `POST /prompt` accepted the prompt.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PromptAccepted {
    pub prompt_id: String,
    /// Queue position number assigned by the server.
    #[serde(default)]
    pub number: i64,
    /// Errors of output nodes that were dropped while others were still valid (usually empty).
    #[serde(skip)]
    pub node_errors: Vec<crate::NodeError>,
}

/// `GET /queue`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueState {
    pub running: Vec<QueueItem>,
    pub pending: Vec<QueueItem>,
}

/// One queue entry: `[number, prompt_id, prompt, extra_data, outputs_to_execute]`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    pub number: i64,
    pub prompt_id: String,
    pub prompt: serde_json::Value,
    pub extra_data: serde_json::Value,
    pub outputs_to_execute: Vec<String>,
}

impl QueueItem {
    pub(crate) fn from_value(v: &serde_json::Value) -> Option<Self> {
        let a = v.as_array()?;
        Some(Self {
            number: a.first()?.as_i64()?,
            prompt_id: a.get(1)?.as_str()?.to_owned(),
            prompt: a.get(2).cloned().unwrap_or_default(),
            extra_data: a.get(3).cloned().unwrap_or_default(),
            outputs_to_execute: a
                .get(4)
                .and_then(serde_json::Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// A file ComfyUI lists under a node's outputs (`images`, `gifs`, `audio`, `3d`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OutputFile {
    pub filename: String,
    #[serde(default)]
    pub subfolder: String,
    /// `output`, `temp` or `input`.
    #[serde(rename = "type", default = "default_output_type")]
    pub kind: String,
}

fn default_output_type() -> String {
    "output".to_owned()
}

/// The outputs of one node: every list of files by key, plus any other values (text, numbers).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeOutput {
    /// `images`, `gifs`, `audio`, ...: every key whose value is a list of `{filename, subfolder, type}`.
    pub files: BTreeMap<String, Vec<OutputFile>>,
    /// Everything else the node reported (e.g. `text`, `animated`).
    pub other: BTreeMap<String, serde_json::Value>,
}

impl NodeOutput {
    pub(crate) fn from_value(v: &serde_json::Value) -> Self {
        let mut out = Self::default();
        let Some(map) = v.as_object() else {
            return out;
        };
        for (key, value) in map {
            let files: Option<Vec<OutputFile>> = value.as_array().and_then(|list| {
                if list.is_empty() {
                    return None;
                }
                list.iter()
                    .map(|f| OutputFile::deserialize(f).ok())
                    .collect()
            });
            match files {
                Some(files) => {
                    out.files.insert(key.clone(), files);
                }
                None => {
                    out.other.insert(key.clone(), value.clone());
                }
            }
        }
        out
    }

    /// Every file of this node, in key order.
    pub fn all_files(&self) -> impl Iterator<Item = &OutputFile> {
        self.files.values().flatten()
    }
}

/// Outputs of a prompt by node id.
pub type Outputs = BTreeMap<String, NodeOutput>;

pub(crate) fn outputs_from_value(v: Option<&serde_json::Value>) -> Outputs {
    v.and_then(serde_json::Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), NodeOutput::from_value(v)))
                .collect()
        })
        .unwrap_or_default()
}

/// Status of a finished (or failed) prompt in history.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HistoryStatus {
    /// `success` or `error`.
    pub status_str: String,
    pub completed: bool,
    /// `[event name, data]` pairs ComfyUI kept (execution_start, execution_error, ...).
    pub messages: Vec<(String, serde_json::Value)>,
}

/// One entry of `GET /history`.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub prompt_id: String,
    pub number: Option<i64>,
    pub prompt: serde_json::Value,
    pub extra_data: serde_json::Value,
    pub outputs: Outputs,
    pub status: HistoryStatus,
}

impl HistoryEntry {
    pub(crate) fn from_value(prompt_id: &str, v: &serde_json::Value) -> Option<Self> {
        let obj = v.as_object()?;
        let prompt = obj.get("prompt").and_then(serde_json::Value::as_array);
        let status = obj.get("status").map(|s| HistoryStatus {
            status_str: s
                .get("status_str")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            completed: s
                .get("completed")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            messages: s
                .get("messages")
                .and_then(serde_json::Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(|m| {
                            let pair = m.as_array()?;
                            Some((
                                pair.first()?.as_str()?.to_owned(),
                                pair.get(1).cloned().unwrap_or_default(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        });
        Some(Self {
            prompt_id: prompt_id.to_owned(),
            number: prompt
                .and_then(|p| p.first())
                .and_then(serde_json::Value::as_i64),
            prompt: prompt.and_then(|p| p.get(2)).cloned().unwrap_or_default(),
            extra_data: prompt.and_then(|p| p.get(3)).cloned().unwrap_or_default(),
            outputs: outputs_from_value(obj.get("outputs")),
            status: status.unwrap_or_default(),
        })
    }

    /// The `execution_error` ComfyUI recorded for this prompt, if any.
    pub fn execution_error(&self) -> Option<crate::ExecutionError> {
        self.status
            .messages
            .iter()
            .find(|(name, _)| name == "execution_error")
            .and_then(|(_, data)| crate::ExecutionError::deserialize(data).ok())
    }

    /// The `execution_interrupted` message ComfyUI recorded for this prompt, if any.
    pub fn interruption(&self) -> Option<&serde_json::Value> {
        self.status
            .messages
            .iter()
            .find(|(name, _)| name == "execution_interrupted")
            .map(|(_, d)| d)
    }
}

/// `GET /features`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Features {
    #[serde(default)]
    pub supports_preview_metadata: bool,
    #[serde(default)]
    pub max_upload_size: Option<u64>,
    /// Every flag as sent.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// Answer of `POST /upload/image` and `/upload/mask`: how to reference the file in a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UploadedFile {
    pub name: String,
    #[serde(default)]
    pub subfolder: String,
    #[serde(rename = "type", default)]
    pub kind: String,
}

impl UploadedFile {
    /// The value a `LoadImage` node's `image` input takes: `subfolder/name` or `name`.
    pub fn prompt_value(&self) -> String {
        if self.subfolder.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.subfolder, self.name)
        }
    }
}
