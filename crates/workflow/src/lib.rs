//! ComfyUI workflow formats, offline: loading API- and UI-format workflows, converting UI to API
//! headlessly with an instance's `object_info` (the frontend's `graphToPrompt()` rules), the one
//! `object_info` model ([`ObjectInfo`], [`NodeClass`]) the client also returns, and checking a
//! workflow's dependencies (node classes, model files, input files) against an instance.
//!
//! No network code: `comfy-local-comfyui` fetches `object_info` and submits the [`ApiPrompt`]
//! this crate produces.
//!
//! Conversion reproduces frontend 1.27's `graphToPrompt()` (rules in `convert`, `widgets`,
//! `group` and `primitive`) and
//! is checked against the 65 frontend-produced pairs in `fixtures/comfyui/conversion` and the
//! pairs of the differential oracle in `fixtures/comfyui/oracle` (`docs/ORACLE.md`: templates and
//! seeded random graphs, legacy group nodes included, run through the real frontend 1.27.10). A
//! group node inside a subgraph is an error, as in the frontend.
//!
//! Not supported: widgets that custom node packs add from their own frontend JavaScript (not
//! described by `object_info`, so such a node's `widgets_values` may map differently); primitive
//! nodes inside group nodes (inside a subgraph they push their value, which the oracle does not
//! check: its graphs have none there); the frontend's random choice in `{a|b}` dynamic prompts
//! (the first option is taken, so a conversion is reproducible); the frontend's text replacement
//! (`%date:...%`, `%Node.widget%`) in a save node's `filename_prefix`, which is sent as written
//! (one that is not text is refused, as the frontend throws on it).

mod api;
mod convert;
mod deps;
mod error;
mod group;
mod object_info;
mod primitive;
mod sources;
mod titles;
mod ui;
mod widgets;

pub use api::{ApiMeta, ApiNode, ApiPrompt};
pub use convert::{MAX_EXPANDED_NODES, MAX_SUBGRAPH_DEPTH, convert_ui_to_api};
pub use deps::{
    DependencyReport, Inventory, MissingInput, MissingModel, MissingNode, check_dependencies,
};
pub use error::{ConvertError, WorkflowError};
pub use object_info::{InputSpec, InputType, NodeClass, Numeric, ObjectInfo};
pub use sources::{NodeOrigin, Sources};
pub use titles::Titles;
pub use ui::{ModelRef, UiWorkflow};

use serde_json::Value;

/// A loaded workflow in either format.
#[derive(Debug, Clone)]
pub enum Workflow {
    /// API format: node id -> `{class_type, inputs}`, ready for `POST /prompt`.
    Api(ApiPrompt),
    /// UI format as the editor saves or exports it; needs conversion before submission.
    Ui(UiWorkflow),
}

impl Workflow {
    /// The API-format prompt to submit: an API workflow as it is, a UI workflow converted.
    pub fn to_api(
        &self,
        object_info: &ObjectInfo,
        titles: &Titles,
    ) -> Result<ApiPrompt, ConvertError> {
        match self {
            Workflow::Api(p) => Ok(p.clone()),
            Workflow::Ui(u) => convert_ui_to_api(u, object_info, titles),
        }
    }
}

/// Loads a workflow, detecting its format: a UI workflow has a `nodes` array; an API workflow maps
/// node ids to objects with a `class_type`; `{"prompt": {...}}` (a `/prompt` body) is accepted as
/// API. Anything else is an error saying what was found.
pub fn load(bytes: &[u8]) -> Result<Workflow, WorkflowError> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|source| WorkflowError::Json { source })?;
    from_value(v)
}

/// Loads an API-format workflow; a UI workflow is an error that says to convert it first.
pub fn load_api(bytes: &[u8]) -> Result<ApiPrompt, WorkflowError> {
    match load(bytes)? {
        Workflow::Api(p) => Ok(p),
        Workflow::Ui(u) => Err(WorkflowError::UiWhereApiExpected {
            nodes: u.node_count(),
        }),
    }
}

fn from_value(v: Value) -> Result<Workflow, WorkflowError> {
    if ui::looks_like_ui(&v) {
        return UiWorkflow::from_value(&v).map(Workflow::Ui);
    }
    if api::looks_like_api(&v) {
        return api::from_value(v).map(Workflow::Api);
    }
    if let Some(inner) = v.get("prompt").filter(|p| api::looks_like_api(p)) {
        return api::from_value(inner.clone()).map(Workflow::Api);
    }
    Err(WorkflowError::NotAWorkflow {
        reason: describe(&v),
    })
}

fn describe(v: &Value) -> String {
    match v {
        Value::Object(o) if o.is_empty() => "an empty JSON object has no nodes".to_owned(),
        Value::Object(o) => {
            let bad = o
                .iter()
                .find(|(_, n)| !n.get("class_type").is_some_and(Value::is_string));
            match bad {
                Some((k, _)) => format!(
                    "neither a UI workflow (no `nodes` array) nor an API workflow (entry {:?} has no string `class_type`)",
                    truncate(k)
                ),
                None => "unrecognised JSON object".to_owned(),
            }
        }
        Value::Array(_) => "a JSON array, expected an object".to_owned(),
        other => format!("a JSON {}, expected an object", kind(other)),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_owned()
    }
}
