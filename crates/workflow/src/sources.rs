//! Where a workflow says its models and custom nodes come from: the `models` metadata (name, url,
//! directory) of the workflow and of its nodes, and each node's `properties` (`cnr_id`, `aux_id`,
//! `ver`), as the ComfyUI frontend writes them into a UI workflow.
//!
//! Read from a UI workflow, or from the UI workflow a `/prompt` body carries in
//! `extra_data.extra_pnginfo.workflow` (the frontend sends one with every prompt). A bare API
//! prompt has room for neither: its top-level keys are all node ids.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::error::WorkflowError;
use super::ui::{ModelRef, collect_models, looks_like_ui};

/// What a node's `properties` say about the package its class comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeOrigin {
    /// Comfy Registry id (`comfy-core` for ComfyUI's own nodes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnr_id: Option<String>,
    /// GitHub `owner/repo` of a node package not from the registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux_id: Option<String>,
    /// The package's version (a registry version, or a git commit for `aux_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ver: Option<String>,
}

/// The sources a workflow names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// `models` metadata of the workflow and of every node.
    pub models: Vec<ModelRef>,
    /// Node class -> origin (the first node of that class that names one).
    pub nodes: BTreeMap<String, NodeOrigin>,
}

impl Sources {
    /// Reads the sources of a workflow file (see the module docs for the shapes read).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, WorkflowError> {
        let v: Value =
            serde_json::from_slice(bytes).map_err(|source| WorkflowError::Json { source })?;
        Ok(Self::from_value(&v))
    }

    /// Reads the sources of a parsed workflow document; anything else has none.
    pub fn from_value(v: &Value) -> Self {
        let ui = if looks_like_ui(v) {
            Some(v)
        } else {
            v.pointer("/extra_data/extra_pnginfo/workflow")
                .filter(|w| looks_like_ui(w))
        };
        let mut out = Sources::default();
        let Some(ui) = ui else {
            return out;
        };
        collect_models(ui.get("models"), &mut out.models);
        let subgraph_nodes = ui
            .pointer("/definitions/subgraphs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| d.get("nodes").and_then(Value::as_array))
            .flatten();
        let nodes = ui
            .get("nodes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(subgraph_nodes);
        for n in nodes {
            let props = n.get("properties");
            collect_models(props.and_then(|p| p.get("models")), &mut out.models);
            let Some(class) = n.get("type").and_then(Value::as_str) else {
                continue;
            };
            let text = |key: &str| {
                props
                    .and_then(|p| p.get(key))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            let origin = NodeOrigin {
                cnr_id: text("cnr_id"),
                aux_id: text("aux_id"),
                ver: text("ver"),
            };
            if origin.cnr_id.is_some() || origin.aux_id.is_some() {
                out.nodes.entry(class.to_owned()).or_insert(origin);
            }
        }
        out
    }

    /// The download URL the metadata gives for a model file: the entry with the same name, else
    /// one with the same base name (`\` and `/` alike).
    pub fn model_url(&self, name: &str) -> Option<&str> {
        let norm = |s: &str| s.replace('\\', "/");
        let n = norm(name);
        let base = n.rsplit('/').next().unwrap_or(&n).to_owned();
        let with_url = || self.models.iter().filter(|m| m.url.is_some());
        with_url()
            .find(|m| norm(&m.name) == n)
            .or_else(|| with_url().find(|m| norm(&m.name).rsplit('/').next() == Some(&base)))
            .and_then(|m| m.url.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ui() -> Value {
        json!({
            "nodes": [
                {"id": 1, "type": "CheckpointLoaderSimple",
                 "properties": {"cnr_id": "comfy-core", "ver": "0.3.64",
                   "models": [{"name": "a.safetensors", "url": "https://h/a", "directory": "checkpoints"}]}},
                {"id": 2, "type": "Fancy", "properties": {"aux_id": "o/r", "ver": "abc"}},
                {"id": 3, "type": "Plain", "properties": {}}
            ],
            "models": [{"name": "sub/b.safetensors", "url": "https://h/b", "directory": "loras"}]
        })
    }

    #[test]
    fn reads_models_and_origins_from_a_ui_workflow() {
        let s = Sources::from_value(&ui());
        assert_eq!(s.models.len(), 2);
        assert_eq!(s.model_url("a.safetensors"), Some("https://h/a"));
        assert_eq!(s.model_url("other\\b.safetensors"), Some("https://h/b"));
        assert_eq!(s.model_url("c.safetensors"), None);
        assert_eq!(s.nodes["Fancy"].aux_id.as_deref(), Some("o/r"));
        assert_eq!(s.nodes["Fancy"].ver.as_deref(), Some("abc"));
        assert_eq!(
            s.nodes["CheckpointLoaderSimple"].cnr_id.as_deref(),
            Some("comfy-core")
        );
        assert!(!s.nodes.contains_key("Plain"));
    }

    #[test]
    fn reads_the_ui_workflow_a_prompt_body_carries_and_nothing_from_a_bare_prompt() {
        let body = json!({
            "prompt": {"1": {"class_type": "Fancy", "inputs": {}}},
            "extra_data": {"extra_pnginfo": {"workflow": ui()}}
        });
        assert_eq!(Sources::from_value(&body), Sources::from_value(&ui()));
        let bare = json!({"1": {"class_type": "Fancy", "inputs": {}}});
        assert_eq!(Sources::from_value(&bare), Sources::default());
    }
}
