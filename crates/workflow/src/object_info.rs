//! Typed view of `ComfyUI`'s `GET /object_info`: the node classes an instance knows, with their inputs
//! in the server's declared order, input types, widget options and outputs. Only what conversion,
//! the dependency check and the client's callers need is typed; everything else is skipped while
//! parsing. This is the workspace's one `object_info` model: the client returns it too.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use super::error::WorkflowError;

/// All node classes of one `ComfyUI` instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectInfo {
    classes: HashMap<String, NodeClass>,
}

/// One node class (`object_info[class]`).
#[derive(Debug, Clone, PartialEq)]
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
    /// The required, then the optional input names in the order of the JSON object's keys
    /// (which can differ from `input_order`: legacy group nodes follow the keys).
    pub(crate) key_order: (Vec<String>, Vec<String>),
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
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    /// Input name (the API format's `inputs` key).
    pub name: String,
    /// Input type.
    pub kind: InputType,
    /// `default` option.
    pub default: Option<Value>,
    /// `forceInput`: a socket only, never a widget.
    pub force_input: bool,
    /// `control_after_generate` option as declared: `None` when absent (or not a boolean). An
    /// explicit `false` matters: see [`InputSpec::int_control`].
    pub control_after_generate: Option<bool>,
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
    /// `min` option of a number input (INT, FLOAT), when it is a number, exactly (a 64-bit
    /// seed range does not fit an f64: `run --set` checks against these).
    pub min: Option<serde_json::Number>,
    /// `max` option of a number input (INT, FLOAT), when it is a number.
    pub max: Option<serde_json::Number>,
    /// Numeric options of an INT or FLOAT input (`min`, `max`, `step`, `round`), when numbers.
    pub numeric: Numeric,
}

/// The numeric options of an INT or FLOAT input; absent (or non-number) options are `None`
/// (`round: false` included).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Numeric {
    /// `min` option.
    pub min: Option<f64>,
    /// `max` option.
    pub max: Option<f64>,
    /// `step` option.
    pub step: Option<f64>,
    /// `round` option.
    pub round: Option<f64>,
    /// The options the frontend's `mergeInputSpec` compares when one `PrimitiveNode` feeds
    /// several number widgets (`round`, `display`, `precision`, `lazy`, `advanced`, `hidden`), raw
    /// and sorted by name; `round: false` is kept here.
    pub compared: Vec<(String, Value)>,
}

impl InputSpec {
    /// Whether the frontend gives this INT input a `control_after_generate` widget: the declared
    /// option when there is one (`false` included), else the legacy rule that an INT named `seed`
    /// or `noise_seed` gets one (frontend `useIntWidget`: `control_after_generate ?? name in
    /// [seed, noise_seed]`).
    pub fn int_control(&self) -> bool {
        self.control_after_generate
            .unwrap_or(self.name == "seed" || self.name == "noise_seed")
    }

    /// Whether a COMBO input gets `control_after_generate` and `control_filter_list` widgets
    /// (only when declared true).
    pub fn combo_control(&self) -> bool {
        self.control_after_generate == Some(true)
    }

    /// The type name as the frontend sees it (`COMBO` for combos).
    pub fn type_name(&self) -> &str {
        match &self.kind {
            InputType::Combo(_) => "COMBO",
            InputType::Named(n) => n,
        }
    }

    /// A seed the frontend re-rolls after each run: an INT widget with a control widget (see
    /// [`InputSpec::int_control`]: declared `control_after_generate`, else named `seed` /
    /// `noise_seed`).
    pub fn is_seed_like(&self) -> bool {
        self.type_name() == "INT" && !self.force_input && self.int_control()
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
    required: Option<IndexMap<String, RawSpec>>,
    #[serde(default)]
    optional: Option<IndexMap<String, RawSpec>>,
}

/// An input spec `[type or options, {options}?]`, reading only the options conversion uses
/// (tooltips and the like are skipped without being stored).
struct RawSpec {
    head: Option<Value>,
    opts: RawOpts,
}

#[derive(Deserialize, Default)]
struct RawOpts {
    #[serde(default)]
    default: Option<Value>,
    #[serde(default, rename = "forceInput")]
    force_input: Option<Value>,
    #[serde(default)]
    control_after_generate: Option<Value>,
    #[serde(default)]
    min: Option<Value>,
    #[serde(default)]
    max: Option<Value>,
    #[serde(default)]
    step: Option<Value>,
    #[serde(default)]
    round: Option<Value>,
    #[serde(default)]
    display: Option<Value>,
    #[serde(default)]
    precision: Option<Value>,
    #[serde(default)]
    lazy: Option<Value>,
    #[serde(default)]
    advanced: Option<Value>,
    #[serde(default)]
    hidden: Option<Value>,
    #[serde(default)]
    image_upload: Option<Value>,
    #[serde(default)]
    video_upload: Option<Value>,
    #[serde(default)]
    animated_image_upload: Option<Value>,
    #[serde(default)]
    audio_upload: Option<Value>,
    #[serde(default)]
    image_folder: Option<Value>,
    #[serde(default, rename = "dynamicPrompts")]
    dynamic_prompts: Option<Value>,
    #[serde(default)]
    remote: Option<Value>,
    #[serde(default)]
    options: Option<Value>,
}

impl<'de> Deserialize<'de> for RawSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an input spec [type, {options}]")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawSpec, E> {
                Ok(RawSpec {
                    head: Some(Value::from(v)),
                    opts: RawOpts::default(),
                })
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawSpec, A::Error> {
                let head = seq.next_element::<Value>()?;
                let opts = seq
                    .next_element::<Option<RawOpts>>()?
                    .flatten()
                    .unwrap_or_default();
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(RawSpec { head, opts })
            }
        }
        d.deserialize_any(V)
    }
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
        Ok(Self::from_classes(raw))
    }

    /// From an already parsed `GET /object_info` answer (e.g. the client's); a class with an
    /// unexpected shape is skipped, as in [`ObjectInfo::parse`]. Anything but an object holds
    /// no classes.
    pub fn from_value(value: Value) -> Self {
        match value {
            Value::Object(map) => Self::from_classes(map),
            _ => Self {
                classes: HashMap::new(),
            },
        }
    }

    fn from_classes(raw: impl IntoIterator<Item = (String, Value)>) -> Self {
        let classes = raw
            .into_iter()
            .filter_map(|(name, value)| Some((name.clone(), NodeClass::from_value(name, value)?)))
            .collect();
        Self { classes }
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

    /// All class names, sorted.
    pub fn class_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.classes.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

impl NodeClass {
    /// One class from its already parsed `object_info` entry (e.g. the answer of
    /// `GET /object_info/{class}`); `None` when the entry does not have a class's shape.
    pub fn from_value(name: impl Into<String>, value: Value) -> Option<Self> {
        let class = serde_json::from_value::<RawClass>(value).ok()?;
        Some(Self::from_raw(name.into(), class))
    }

    fn from_raw(name: String, raw: RawClass) -> Self {
        let order = raw.input_order.unwrap_or_default();
        let keys = |m: &Option<IndexMap<String, RawSpec>>| -> Vec<String> {
            m.as_ref()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let key_order = (keys(&raw.input.required), keys(&raw.input.optional));
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
            key_order,
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
fn ordered(map: Option<IndexMap<String, RawSpec>>, order: Option<Vec<String>>) -> Vec<InputSpec> {
    let Some(mut map) = map else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(map.len());
    for name in order.unwrap_or_default() {
        if let Some(spec) = map.shift_remove(&name) {
            out.push(parse_spec(name, spec));
        }
    }
    for (name, spec) in map {
        out.push(parse_spec(name, spec));
    }
    out
}

fn number(v: Option<Value>) -> Option<serde_json::Number> {
    match v {
        Some(Value::Number(n)) => Some(n),
        _ => None,
    }
}

fn parse_spec(name: String, spec: RawSpec) -> InputSpec {
    let o = spec.opts;
    let flag = |v: &Option<Value>| matches!(v, Some(Value::Bool(true)));
    let kind = match spec.head {
        Some(Value::Array(options)) => InputType::Combo(options),
        Some(Value::String(t)) if t == "COMBO" => InputType::Combo(match o.options {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        }),
        Some(Value::String(t)) => InputType::Named(t),
        _ => InputType::Named(String::new()),
    };
    InputSpec {
        force_input: flag(&o.force_input),
        control_after_generate: o.control_after_generate.as_ref().and_then(Value::as_bool),
        media_upload: flag(&o.image_upload)
            || flag(&o.video_upload)
            || flag(&o.animated_image_upload),
        audio_upload: flag(&o.audio_upload),
        image_folder: match o.image_folder {
            Some(Value::String(s)) => Some(s),
            _ => None,
        },
        dynamic_prompts: flag(&o.dynamic_prompts),
        refresh_button: o
            .remote
            .as_ref()
            .and_then(|r| r.get("refresh_button"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        min: number(o.min.clone()),
        max: number(o.max.clone()),
        numeric: Numeric {
            min: o.min.as_ref().and_then(Value::as_f64),
            max: o.max.as_ref().and_then(Value::as_f64),
            step: o.step.as_ref().and_then(Value::as_f64),
            round: o.round.as_ref().and_then(Value::as_f64),
            compared: [
                ("advanced", &o.advanced),
                ("display", &o.display),
                ("hidden", &o.hidden),
                ("lazy", &o.lazy),
                ("precision", &o.precision),
                ("round", &o.round),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_owned(), v.clone()?)))
            .collect(),
        },
        default: o.default,
        kind,
        name,
    }
}
