//! Typed view of `ComfyUI`'s `GET /object_info`: the node classes an instance knows, with their inputs
//! in the server's declared order, input types, widget options and outputs. Only what conversion
//! and the dependency check need is typed; everything else is skipped while parsing.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use super::error::WorkflowError;

/// All node classes of one `ComfyUI` instance.
#[derive(Debug, Clone, Default)]
pub struct ObjectInfo {
    classes: HashMap<String, NodeClass>,
}

/// One node class (`object_info[class]`).
#[derive(Debug, Clone)]
pub struct NodeClass {
    /// The class name (`class_type` in the API format).
    pub name: String,
    /// `display_name`, when the server sends one.
    pub display_name: Option<String>,
    /// Required inputs, in `input_order.required` order.
    pub required: Vec<InputSpec>,
    /// Optional inputs, in `input_order.optional` order.
    pub optional: Vec<InputSpec>,
    /// Output types (`output`).
    pub outputs: Vec<String>,
    /// Output names (`output_name`).
    pub output_names: Vec<String>,
    /// Whether the node is an output node (`output_node`).
    pub output_node: bool,
}

/// The type of an input.
#[derive(Debug, Clone, PartialEq)]
pub enum InputType {
    /// A combo box: `[[options...], {...}]` or `["COMBO", {"options": [...]}]`.
    Combo(Vec<Value>),
    /// Any other type name (`INT`, `FLOAT`, `STRING`, `BOOLEAN`, `IMAGE`, ...).
    Named(String),
}

/// One declared input of a node class.
#[derive(Debug, Clone)]
pub struct InputSpec {
    /// Input name (the API format's `inputs` key).
    pub name: String,
    /// Input type.
    pub kind: InputType,
    /// `default` option.
    pub default: Option<Value>,
    /// `forceInput`: a socket only, never a widget.
    pub force_input: bool,
    /// `control_after_generate` option.
    pub control_after_generate: bool,
    /// `image_upload` / `video_upload` / `animated_image_upload` option (a media upload combo).
    pub media_upload: bool,
    /// `audio_upload` option.
    pub audio_upload: bool,
    /// `image_folder` option (`input` unless the server says otherwise).
    pub image_folder: Option<String>,
    /// `dynamicPrompts` option of a STRING input.
    pub dynamic_prompts: bool,
    /// `remote.refresh_button` option of a remote combo.
    pub refresh_button: bool,
}

impl InputSpec {
    /// The type name as the frontend sees it (`COMBO` for combos).
    pub fn type_name(&self) -> &str {
        match &self.kind {
            InputType::Combo(_) => "COMBO",
            InputType::Named(n) => n,
        }
    }

    /// Combo options, if this input is a combo.
    pub fn combo_options(&self) -> Option<&[Value]> {
        match &self.kind {
            InputType::Combo(o) => Some(o),
            InputType::Named(_) => None,
        }
    }
}

#[derive(Deserialize)]
struct RawClass {
    #[serde(default)]
    display_name: Option<Value>,
    #[serde(default)]
    input: RawInputs,
    #[serde(default)]
    input_order: Option<RawOrder>,
    #[serde(default)]
    output: Option<Vec<Value>>,
    #[serde(default)]
    output_name: Option<Vec<Value>>,
    #[serde(default)]
    output_node: Option<Value>,
}

#[derive(Deserialize, Default)]
struct RawInputs {
    #[serde(default)]
    required: Option<IndexMap<String, Value>>,
    #[serde(default)]
    optional: Option<IndexMap<String, Value>>,
}

#[derive(Deserialize, Default)]
struct RawOrder {
    #[serde(default)]
    required: Option<Vec<String>>,
    #[serde(default)]
    optional: Option<Vec<String>>,
}

impl ObjectInfo {
    /// Parses the body of `GET /object_info`.
    pub fn parse(bytes: &[u8]) -> Result<Self, WorkflowError> {
        // Fast path: straight into the typed shape, skipping fields conversion does not use.
        if let Ok(raw) = serde_json::from_slice::<HashMap<String, RawClass>>(bytes) {
            let classes = raw
                .into_iter()
                .map(|(name, class)| (name.clone(), NodeClass::from_raw(name, class)))
                .collect();
            return Ok(Self { classes });
        }
        // Slow path: one class with an unexpected shape (an odd custom node) is skipped instead of
        // making the whole instance unusable.
        let raw: HashMap<String, Value> = serde_json::from_slice(bytes)
            .map_err(|source| WorkflowError::ObjectInfoJson { source })?;
        let mut classes = HashMap::with_capacity(raw.len());
        for (name, value) in raw {
            let Ok(class) = serde_json::from_value::<RawClass>(value) else {
                continue;
            };
            classes.insert(name.clone(), NodeClass::from_raw(name, class));
        }
        Ok(Self { classes })
    }

    /// The class named `name`, if the instance has it.
    pub fn class(&self, name: &str) -> Option<&NodeClass> {
        self.classes.get(name)
    }

    /// Whether the instance has the class `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.classes.contains_key(name)
    }

    /// Number of node classes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether there are no node classes.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Iterates over all classes (unordered).
    pub fn classes(&self) -> impl Iterator<Item = &NodeClass> {
        self.classes.values()
    }
}

impl NodeClass {
    fn from_raw(name: String, raw: RawClass) -> Self {
        let order = raw.input_order.unwrap_or_default();
        let required = ordered(raw.input.required, order.required);
        let optional = ordered(raw.input.optional, order.optional);
        let strings = |v: Option<Vec<Value>>| -> Vec<String> {
            v.unwrap_or_default()
                .into_iter()
                .map(|x| match x {
                    Value::String(s) => s,
                    // A list-typed output (combo output) is shown as COMBO by the frontend.
                    Value::Array(_) => "COMBO".to_owned(),
                    other => other.to_string(),
                })
                .collect()
        };
        Self {
            display_name: match raw.display_name {
                Some(Value::String(s)) if !s.is_empty() => Some(s),
                _ => None,
            },
            required,
            optional,
            outputs: strings(raw.output),
            output_names: strings(raw.output_name),
            output_node: matches!(raw.output_node, Some(Value::Bool(true))),
            name,
        }
    }

    /// Looks up a declared (required or optional) input.
    pub fn input(&self, name: &str) -> Option<&InputSpec> {
        self.required
            .iter()
            .chain(&self.optional)
            .find(|i| i.name == name)
    }

    /// All declared inputs, required first.
    pub fn inputs(&self) -> impl Iterator<Item = &InputSpec> {
        self.required.iter().chain(&self.optional)
    }
}

/// Orders a section of inputs by `input_order` (the server's declaration order); inputs missing
/// from the order list follow in map order.
fn ordered(map: Option<IndexMap<String, Value>>, order: Option<Vec<String>>) -> Vec<InputSpec> {
    let Some(mut map) = map else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(map.len());
    for name in order.unwrap_or_default() {
        if let Some(spec) = map.shift_remove(&name) {
            out.push(parse_spec(name, &spec));
        }
    }
    for (name, spec) in map {
        out.push(parse_spec(name, &spec));
    }
    out
}

fn parse_spec(name: String, spec: &Value) -> InputSpec {
    let (head, opts) = match spec {
        Value::Array(a) => (a.first(), a.get(1).and_then(Value::as_object)),
        Value::String(_) => (Some(spec), None),
        _ => (None, None),
    };
    let flag = |k: &str| {
        opts.and_then(|o| o.get(k))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let kind = match head {
        Some(Value::Array(options)) => InputType::Combo(options.clone()),
        Some(Value::String(t)) if t == "COMBO" => InputType::Combo(
            opts.and_then(|o| o.get("options"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        ),
        Some(Value::String(t)) => InputType::Named(t.clone()),
        _ => InputType::Named(String::new()),
    };
    InputSpec {
        default: opts.and_then(|o| o.get("default")).cloned(),
        force_input: flag("forceInput"),
        control_after_generate: flag("control_after_generate"),
        media_upload: flag("image_upload") || flag("video_upload") || flag("animated_image_upload"),
        audio_upload: flag("audio_upload"),
        image_folder: opts
            .and_then(|o| o.get("image_folder"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        dynamic_prompts: flag("dynamicPrompts"),
        refresh_button: opts
            .and_then(|o| o.get("remote"))
            .and_then(|r| r.get("refresh_button"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        kind,
        name,
    }
}
