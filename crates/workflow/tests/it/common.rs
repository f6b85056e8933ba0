//! Shared helpers of the workflow tests: fixture paths, the recorded object_info, and builders for
//! small UI workflows.

use std::path::PathBuf;
use std::sync::OnceLock;

use comfy_local_workflow::{
    ApiPrompt, ConvertError, ObjectInfo, Titles, Workflow, convert_ui_to_api, load,
};
use serde_json::{Value, json};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/comfyui")
}

pub fn object_info() -> &'static ObjectInfo {
    static OI: OnceLock<ObjectInfo> = OnceLock::new();
    OI.get_or_init(|| {
        let bytes =
            std::fs::read(fixtures().join("object_info.json")).expect("object_info fixture");
        ObjectInfo::parse(&bytes).expect("object_info parses")
    })
}

pub fn titles() -> &'static Titles {
    static T: OnceLock<Titles> = OnceLock::new();
    T.get_or_init(Titles::embedded)
}

/// Converts a UI workflow given as JSON.
pub fn convert(ui: &Value) -> Result<ApiPrompt, ConvertError> {
    let bytes = serde_json::to_vec(ui).expect("serialise");
    match load(&bytes).expect("loads") {
        Workflow::Ui(u) => convert_ui_to_api(&u, object_info(), titles()),
        Workflow::Api(_) => panic!("expected a UI workflow"),
    }
}

/// The prompt as plain JSON (for comparisons).
pub fn as_json(p: &ApiPrompt) -> Value {
    serde_json::to_value(p).expect("serialise prompt")
}

/// A UI node: `inputs` are `(name, type, link)`, `outputs` are `(type, links)`.
pub fn node(
    id: i64,
    class: &str,
    mode: i64,
    inputs: &[(&str, &str, Option<i64>)],
    outputs: &[(&str, &[i64])],
    widgets_values: Value,
) -> Value {
    json!({
        "id": id,
        "type": class,
        "mode": mode,
        "inputs": inputs.iter().map(|(n, t, l)| json!({"name": n, "type": t, "link": l})).collect::<Vec<_>>(),
        "outputs": outputs.iter().map(|(t, l)| json!({"name": t, "type": t, "links": l})).collect::<Vec<_>>(),
        "widgets_values": widgets_values,
    })
}

/// A UI workflow in the Save shape: links are `(id, origin, origin_slot, target, target_slot, type)`.
pub fn workflow(nodes: Vec<Value>, links: &[(i64, i64, i64, i64, i64, &str)]) -> Value {
    json!({
        "last_node_id": 0,
        "last_link_id": 0,
        "nodes": nodes,
        "links": links.iter().map(|(a, b, c, d, e, t)| json!([a, b, c, d, e, t])).collect::<Vec<_>>(),
        "version": 0.4,
    })
}

/// JSON equality as `check.py` defines it: key order ignored, numbers by value, bools strict.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// An error and its causes, `: `-separated, as the CLI prints them (`anyhow`'s `{:#}`).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
