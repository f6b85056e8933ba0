//! Prompt validation with the error shapes of ComfyUI 0.3.64 (`execution.validate_prompt`).
//!
//! A port of the Python logic the recorded errors came from: the first node without `class_type`
//! or with an unknown class rejects the whole prompt with empty `node_errors`; otherwise every
//! output node is validated recursively and each failing node gets an entry in `node_errors`.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value, json};

/// Orders node ids numerically when both are integers, otherwise as text.
pub(crate) fn node_order(a: &str, b: &str) -> Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// Node ids of a prompt in execution-friendly order.
pub(crate) fn sorted_ids(prompt: &Map<String, Value>) -> Vec<String> {
    let mut ids: Vec<String> = prompt.keys().cloned().collect();
    ids.sort_by(|a, b| node_order(a, b));
    ids
}

/// Outcome of validation: accepted outputs plus node errors, or the rejection body parts.
pub(crate) enum Verdict {
    Accepted {
        outputs: Vec<String>,
        node_errors: Map<String, Value>,
    },
    Rejected {
        error: Value,
        node_errors: Map<String, Value>,
    },
}

fn top_error(kind: &str, message: &str, details: &str) -> Value {
    json!({"type": kind, "message": message, "details": details, "extra_info": {}})
}

/// Python `str()` of a JSON value.
pub(crate) fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python `repr()` of a JSON value.
pub(crate) fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => py_num(n),
        Value::String(s) => format!("'{s}'"),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => {
            format!(
                "{{{}}}",
                o.iter()
                    .map(|(k, v)| format!("'{k}': {}", py_repr(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

fn py_num(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or_default();
    if f.is_finite() && f.fract() == 0.0 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn to_int(v: &Value) -> Result<Value, String> {
    match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(v.clone()),
        Value::Number(n) => Ok(json!(n.as_f64().unwrap_or_default().trunc() as i64)),
        Value::Bool(b) => Ok(json!(i64::from(*b))),
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map(|i| json!(i))
            .map_err(|_| format!("invalid literal for int() with base 10: '{s}'")),
        other => Err(format!(
            "int() argument must be a string, a bytes-like object or a real number, not '{}'",
            py_type(other)
        )),
    }
}

fn to_float(v: &Value) -> Result<Value, String> {
    match v {
        Value::Number(n) => Ok(json!(n.as_f64().unwrap_or_default())),
        Value::Bool(b) => Ok(json!(if *b { 1.0 } else { 0.0 })),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map(|f| json!(f))
            .map_err(|_| format!("could not convert string to float: '{s}'")),
        other => Err(format!(
            "float() argument must be a string or a real number, not '{}'",
            py_type(other)
        )),
    }
}

/// `comfy_execution.validation.validate_node_input` (non-strict).
fn types_match(received: &Value, input: &Value) -> bool {
    if received == input {
        return true;
    }
    let (Some(r), Some(i)) = (received.as_str(), input.as_str()) else {
        return false;
    };
    if r == "*" || i == "*" {
        return true;
    }
    let rs: Vec<&str> = r.split(',').map(str::trim).collect();
    i.split(',').map(str::trim).any(|t| rs.contains(&t))
}

/// A Python exception raised during validation.
struct Exc {
    kind: &'static str,
    message: String,
}

type Validated = HashMap<String, (bool, Vec<Value>)>;

struct Ctx<'a> {
    prompt: &'a Map<String, Value>,
    info: &'a Value,
    input_dir: &'a Path,
}

/// Whether `LoadImage`'s `VALIDATE_INPUTS` accepts this file name.
pub(crate) fn input_file_exists(input_dir: &Path, name: &str) -> bool {
    let name = name
        .strip_suffix(" [input]")
        .or_else(|| name.strip_suffix(" [output]"))
        .or_else(|| name.strip_suffix(" [temp]"))
        .unwrap_or(name);
    !name.is_empty()
        && !name.split('/').any(|c| c == ".." || c.is_empty())
        && !name.starts_with('/')
        && input_dir.join(name).is_file()
}

fn key_error(v: &Value) -> Exc {
    Exc {
        kind: "KeyError",
        message: py_repr(v),
    }
}

impl Ctx<'_> {
    fn node(&self, id: &Value) -> Result<&Map<String, Value>, Exc> {
        let key = id.as_str().ok_or_else(|| key_error(id))?;
        self.prompt
            .get(key)
            .and_then(Value::as_object)
            .ok_or_else(|| key_error(id))
    }

    /// `execution.validate_inputs`: validates node `id` and, recursively, the nodes linked into
    /// it, memoised in `validated`; `(valid, errors)` of this node.
    fn validate_inputs(
        &self,
        id: &str,
        validated: &mut Validated,
    ) -> Result<(bool, Vec<Value>), Exc> {
        if let Some(r) = validated.get(id) {
            return Ok(r.clone());
        }
        let node = self.node(&Value::String(id.to_owned()))?;
        let class_type = node
            .get("class_type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let empty = Map::new();
        let inputs = node
            .get("inputs")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let class = self
            .info
            .get(class_type)
            .ok_or_else(|| key_error(&json!(class_type)))?;
        let custom_validated = matches!(class_type, "LoadImage" | "LoadImageMask");
        let mut errors = Vec::new();
        let mut valid = true;
        for spec in input_specs(class) {
            let x = &spec.name;
            let Some(val) = inputs.get(x) else {
                if spec.required {
                    errors.push(json!({"type": "required_input_missing", "message": "Required input is missing",
                        "details": x, "extra_info": {"input_name": x}}));
                }
                continue;
            };
            let error = if let Value::Array(link) = val {
                match self.validate_link(&spec, val, link, validated)? {
                    Linked::Valid => None,
                    Linked::InnerInvalid => {
                        valid = false;
                        None
                    }
                    Linked::Error(e) => Some(e),
                }
            } else {
                validate_value(&spec, val, custom_validated)
            };
            errors.extend(error);
        }
        if custom_validated && let Some(name) = inputs.get("image").filter(|v| !v.is_array()) {
            let name = py_str(name);
            if !input_file_exists(self.input_dir, &name) {
                errors.push(json!({"type": "custom_validation_failed", "message": "Custom validation failed for node",
                    "details": format!("image - Invalid image file: {name}"), "extra_info": {"input_name": "image"}}));
            }
        }
        let ret = (errors.is_empty() && valid, errors);
        validated.insert(id.to_owned(), ret.clone());
        Ok(ret)
    }

    /// The linked-input branch of `validate_inputs`: link shape, return type, then the linked
    /// node itself (an exception there marks it invalid with the exception as its reason).
    fn validate_link(
        &self,
        spec: &InputSpec,
        val: &Value,
        link: &[Value],
        validated: &mut Validated,
    ) -> Result<Linked, Exc> {
        let (x, info, input_type) = (&spec.name, &spec.info, &spec.input_type);
        if link.len() != 2 {
            return Ok(Linked::Error(json!({"type": "bad_linked_input",
                "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                "details": x, "extra_info": {"input_name": x, "input_config": info, "received_value": val}})));
        }
        let o_id = &link[0];
        let o_node = self.node(o_id)?;
        let o_class = o_node
            .get("class_type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let outputs = self
            .info
            .pointer(&format!("/{o_class}/output"))
            .and_then(Value::as_array);
        let slot = link[1].as_u64().ok_or_else(|| Exc {
            kind: "TypeError",
            message: "tuple indices must be integers or slices, not str".to_owned(),
        })?;
        let received = outputs
            .and_then(|o| o.get(slot as usize))
            .cloned()
            .ok_or_else(|| Exc {
                kind: "IndexError",
                message: "tuple index out of range".to_owned(),
            })?;
        if !types_match(&received, input_type) {
            return Ok(Linked::Error(json!({"type": "return_type_mismatch",
                "message": "Return type mismatch between linked nodes",
                "details": format!("{x}, received_type({}) mismatch input_type({})", py_str(&received), py_str(input_type)),
                "extra_info": {"input_name": x, "input_config": info, "received_type": received, "linked_node": val}})));
        }
        let o_key = o_id.as_str().unwrap_or_default().to_owned();
        match self.validate_inputs(&o_key, validated) {
            Ok((true, _)) => Ok(Linked::Valid),
            Ok((false, _)) => Ok(Linked::InnerInvalid),
            Err(ex) => {
                let reasons = vec![json!({"type": "exception_during_inner_validation",
                    "message": "Exception when validating inner node", "details": ex.message,
                    "extra_info": {"input_name": x, "input_config": info, "exception_message": ex.message,
                        "exception_type": ex.kind, "traceback": [], "linked_node": val}})];
                validated.insert(o_key, (false, reasons));
                Ok(Linked::InnerInvalid)
            }
        }
    }
}

/// One input a class declares: its name, `[type, extra]` spec, and whether it is required.
struct InputSpec {
    name: String,
    input_type: Value,
    /// The spec's options object (`{}` when it has none).
    extra: Value,
    /// `[input_type, extra]`, the `input_config` of errors.
    info: Value,
    required: bool,
}

/// The required, then the optional inputs of a class from `object_info`.
fn input_specs(class: &Value) -> Vec<InputSpec> {
    let mut specs = Vec::new();
    for (section, required) in [("required", true), ("optional", false)] {
        if let Some(m) = class
            .pointer(&format!("/input/{section}"))
            .and_then(Value::as_object)
        {
            specs.extend(m.iter().map(|(name, spec)| {
                let input_type = spec.get(0).cloned().unwrap_or(Value::Null);
                let extra = spec
                    .get(1)
                    .filter(|e| e.is_object())
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                InputSpec {
                    name: name.clone(),
                    info: json!([input_type, extra]),
                    input_type,
                    extra,
                    required,
                }
            }));
        }
    }
    specs
}

/// What the linked node of an input turned out to be.
enum Linked {
    Valid,
    /// Invalid itself (its reasons are in `validated`): this node is invalid too, with no error
    /// of its own for the input.
    InnerInvalid,
    /// The link itself is wrong: this error goes to this node.
    Error(Value),
}

/// The literal-input branch of `validate_inputs`, in its order: conversion to the input type,
/// then (unless the class validates the input itself) min, max and the list of choices.
fn validate_value(spec: &InputSpec, val: &Value, custom_validated: bool) -> Option<Value> {
    let (x, info, input_type, extra) = (&spec.name, &spec.info, &spec.input_type, &spec.extra);
    let val = match val {
        Value::Object(o) if o.contains_key("__value__") => o["__value__"].clone(),
        other => other.clone(),
    };
    let converted = match input_type.as_str() {
        Some("INT") => to_int(&val),
        Some("FLOAT") => to_float(&val),
        Some("STRING") => Ok(Value::String(py_str(&val))),
        _ => Ok(val.clone()),
    };
    let v = match converted {
        Ok(v) => v,
        Err(msg) => {
            return Some(json!({"type": "invalid_input_type",
                "message": format!("Failed to convert an input value to a {} value", py_str(input_type)),
                "details": format!("{x}, {}, {msg}", py_str(&val)),
                "extra_info": {"input_name": x, "input_config": info, "received_value": val, "exception_message": msg}}));
        }
    };
    if custom_validated && x == "image" {
        return None;
    }
    if let (Some(min), Some(n)) = (extra.get("min").and_then(Value::as_f64), v.as_f64())
        && n < min
    {
        return Some(json!({"type": "value_smaller_than_min",
            "message": format!("Value {} smaller than min of {}", py_str(&v), py_str(&extra["min"])),
            "details": x, "extra_info": {"input_name": x, "input_config": info, "received_value": v}}));
    }
    if let (Some(max), Some(n)) = (extra.get("max").and_then(Value::as_f64), v.as_f64())
        && n > max
    {
        return Some(json!({"type": "value_bigger_than_max",
            "message": format!("Value {} bigger than max of {}", py_str(&v), py_str(&extra["max"])),
            "details": x, "extra_info": {"input_name": x, "input_config": info, "received_value": v}}));
    }
    let options = match input_type {
        Value::Array(o) => Some(o.clone()),
        Value::String(s) if s == "COMBO" => Some(
            extra
                .get("options")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        ),
        _ => None,
    };
    let options = options.filter(|o| !o.contains(&v))?;
    let (list_info, config) = if options.len() > 20 {
        (format!("(list of length {})", options.len()), Value::Null)
    } else {
        (py_repr(&Value::Array(options)), info.clone())
    };
    Some(
        json!({"type": "value_not_in_list", "message": "Value not in list",
        "details": format!("{x}: '{}' not in {list_info}", py_str(&v)),
        "extra_info": {"input_name": x, "input_config": config, "received_value": v}}),
    )
}

/// Validates a prompt against `object_info`, looking for `LoadImage` files in `input_dir`.
pub(crate) fn validate_prompt(prompt: &Value, info: &Value, input_dir: &Path) -> Verdict {
    let reject = |error: Value| Verdict::Rejected {
        error,
        node_errors: Map::new(),
    };
    let Some(prompt) = prompt.as_object() else {
        return reject(top_error(
            "invalid_prompt",
            "Cannot execute because a node is missing the class_type property.",
            "Node ID '#'",
        ));
    };
    let outputs = match output_nodes(prompt, info) {
        Ok(outputs) => outputs,
        Err(error) => return reject(error),
    };
    let ctx = Ctx {
        prompt,
        info,
        input_dir,
    };
    let mut validated = Validated::new();
    let mut good = Vec::new();
    let mut reasons_list: Vec<Value> = Vec::new();
    let mut node_errors = Map::new();
    for o in &outputs {
        let (ok, reasons) = match ctx.validate_inputs(o, &mut validated) {
            Ok(r) => r,
            Err(ex) => {
                let reasons = vec![json!({"type": "exception_during_validation",
                    "message": "Exception when validating node", "details": ex.message,
                    "extra_info": {"exception_type": ex.kind, "traceback": []}})];
                validated.insert(o.clone(), (false, reasons.clone()));
                (false, reasons)
            }
        };
        if ok {
            good.push(o.clone());
            continue;
        }
        reasons_list.extend(reasons);
        add_node_errors(&mut node_errors, prompt, &validated, o);
    }
    if good.is_empty() {
        let details = reasons_list
            .iter()
            .map(|e| format!("{}: {}", py_str(&e["message"]), py_str(&e["details"])))
            .collect::<Vec<_>>()
            .join("\n");
        return Verdict::Rejected {
            error: top_error(
                "prompt_outputs_failed_validation",
                "Prompt outputs failed validation",
                &details,
            ),
            node_errors,
        };
    }
    Verdict::Accepted {
        outputs: good,
        node_errors,
    }
}

/// The output nodes of a prompt, or the top-level error of the first node (in id order) without
/// a `class_type` or with an unknown class, or of a prompt without outputs.
fn output_nodes(prompt: &Map<String, Value>, info: &Value) -> Result<Vec<String>, Value> {
    let mut outputs = Vec::new();
    for id in sorted_ids(prompt) {
        let Some(class_type) = prompt[&id].get("class_type") else {
            return Err(top_error(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.",
                &format!("Node ID '#{id}'"),
            ));
        };
        let class_name = py_str(class_type);
        let Some(class) = info.get(&class_name) else {
            return Err(top_error(
                "invalid_prompt",
                &format!("Cannot execute because node {class_name} does not exist."),
                &format!("Node ID '#{id}'"),
            ));
        };
        if class.get("output_node").and_then(Value::as_bool) == Some(true) {
            outputs.push(id);
        }
    }
    if outputs.is_empty() {
        return Err(top_error("prompt_no_outputs", "Prompt has no outputs", ""));
    }
    Ok(outputs)
}

/// After output `o` failed: every invalid node validated so far, with reasons, gets an entry in
/// `node_errors` (its reasons from the first failure) and lists `o` among its dependent outputs.
fn add_node_errors(
    node_errors: &mut Map<String, Value>,
    prompt: &Map<String, Value>,
    validated: &Validated,
    o: &str,
) {
    let mut ids: Vec<&String> = validated.keys().collect();
    ids.sort_by(|a, b| node_order(a, b));
    for node_id in ids {
        let (valid, reasons) = &validated[node_id];
        if *valid || reasons.is_empty() {
            continue;
        }
        let entry = node_errors.entry(node_id.clone()).or_insert_with(|| {
            let class_type = prompt
                .get(node_id)
                .and_then(|n| n.get("class_type"))
                .cloned()
                .unwrap_or_default();
            json!({"errors": reasons, "dependent_outputs": [], "class_type": class_type})
        });
        if let Some(list) = entry
            .get_mut("dependent_outputs")
            .and_then(Value::as_array_mut)
        {
            list.push(Value::String(o.to_owned()));
        }
    }
}
