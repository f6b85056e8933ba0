//! The recorded real ComfyUI traffic the fake serves (fixtures/comfyui of the repository).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

/// Directory of the recorded fixtures.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/comfyui"
    ))
}

/// Reads one JSON fixture file (relative to [`fixtures_dir`]).
///
/// # Panics
/// When the file is missing or not JSON: the fixtures are part of the repository.
pub fn load(rel: &str) -> Value {
    let path = fixtures_dir().join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("fixture {} is not JSON: {e}", path.display()))
}

/// The `response.body` of a recorded request/response pair.
pub fn recorded_body(name: &str) -> Value {
    load(&format!("recorded/{name}"))
        .pointer("/response/body")
        .cloned()
        .unwrap_or(Value::Null)
}

/// The full recorded `/object_info` (496 classes), parsed once per process.
pub fn object_info() -> Arc<Value> {
    static CELL: OnceLock<Arc<Value>> = OnceLock::new();
    CELL.get_or_init(|| Arc::new(load("object_info.json")))
        .clone()
}

/// The object_info entry of a class from a node package: no inputs, no outputs.
pub fn pack_class(class: &str, folder: &str) -> Value {
    serde_json::json!({
        "input": {"required": {}},
        "input_order": {"required": []},
        "output": [],
        "output_is_list": [],
        "output_name": [],
        "name": class,
        "display_name": class,
        "description": "",
        "python_module": format!("custom_nodes.{folder}"),
        "category": "fake",
        "output_node": false
    })
}
