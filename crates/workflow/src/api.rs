//! The API format (`POST /prompt`'s `prompt`): node id -> `{inputs, class_type, _meta}`, kept in the
//! order the frontend writes it.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::WorkflowError;

/// An API-format prompt, keys in the frontend's order (JavaScript object order: integer-like ids
/// ascending first, then the others in insertion order).
pub type ApiPrompt = IndexMap<String, ApiNode>;

/// One node of an API-format prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiNode {
    /// Widget values and links (`[node_id, output_slot]`).
    #[serde(default)]
    pub inputs: IndexMap<String, Value>,
    /// The node class.
    pub class_type: String,
    /// Display metadata (ignored by the server).
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<ApiMeta>,
}

/// `_meta` of an API node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiMeta {
    /// The node's title.
    pub title: String,
}

impl ApiNode {
    /// The link of input `name`, if it is one: `(origin node id, output slot)`.
    pub fn link(&self, name: &str) -> Option<(&str, u64)> {
        as_link(self.inputs.get(name)?)
    }
}

/// Reads a value as a link (`["id", slot]`).
pub(crate) fn as_link(v: &Value) -> Option<(&str, u64)> {
    let a = v.as_array()?;
    if a.len() != 2 {
        return None;
    }
    Some((a[0].as_str()?, a[1].as_u64()?))
}

/// Whether a parsed document has the API shape: a non-empty object whose values are all objects
/// with a string `class_type`.
pub(crate) fn looks_like_api(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        !o.is_empty()
            && o.values()
                .all(|n| n.get("class_type").is_some_and(Value::is_string))
    })
}

/// Reads an API-format prompt from a parsed document already known to have the API shape.
pub(crate) fn from_value(v: Value) -> Result<ApiPrompt, WorkflowError> {
    let Value::Object(o) = v else {
        return Err(WorkflowError::NotAWorkflow {
            reason: "not a JSON object".to_owned(),
        });
    };
    let mut out = ApiPrompt::with_capacity(o.len());
    for (id, node) in o {
        let n: ApiNode = serde_json::from_value(node).map_err(|e| WorkflowError::BadApiNode {
            node_id: id.clone(),
            reason: e.to_string(),
        })?;
        out.insert(id, n);
    }
    Ok(out)
}

/// Reorders keys as a JavaScript object would hold them: canonical array-index keys ascending,
/// then the rest in insertion order.
pub(crate) fn js_key_order<V>(map: &mut IndexMap<String, V>) {
    fn index(k: &str) -> Option<u32> {
        let n: u32 = k.parse().ok()?;
        (n != u32::MAX && n.to_string() == k).then_some(n)
    }
    if map.keys().all(|k| index(k).is_none()) {
        return;
    }
    let old = std::mem::take(map);
    let mut ints: Vec<(u32, String, V)> = Vec::new();
    let mut rest = Vec::new();
    for (k, v) in old {
        match index(&k) {
            Some(n) => ints.push((n, k, v)),
            None => rest.push((k, v)),
        }
    }
    ints.sort_by_key(|(n, _, _)| *n);
    map.extend(ints.into_iter().map(|(_, k, v)| (k, v)));
    map.extend(rest);
}
