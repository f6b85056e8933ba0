//! Legacy group nodes (`extra.groupNodes`, node type `workflow>NAME`): how the frontend's
//! `GroupNodeConfig` turns a group definition into one combined node, i.e. which group widget
//! feeds which inner widget, which group input feeds which inner input slot, and which inner
//! output each group output is.
//!
//! Rules (frontend 1.27 `groupNode.ts`): inner nodes are visited in definition order. For each,
//! its declared inputs (required then optional, in the key order of `object_info`'s JSON objects,
//! with the inputs frontend extensions add after the required ones) are split into widgets (by
//! type, `forceInput` or not) and sockets. A widget whose input slot on the saved
//! inner node is a converted widget (`input.widget.name == name`) becomes a group input later;
//! otherwise it is a group widget. Each socket not linked inside the group becomes a group input,
//! numbered in visiting order; converted widgets not linked inside follow after every node's
//! sockets. An output is a group output unless it is only used inside the group. Names collide
//! the frontend's way (`"<title or type> name"`), and a later entry with the same name replaces an
//! earlier one in place.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use serde_json::Value;

use super::object_info::{InputSpec, InputType, ObjectInfo};
use super::ui::{GroupNodeDef, UiNode};

/// The classes the audio extension gives an `audioUI` widget (`Comfy.AudioWidget`, frontend
/// 1.27: its node definition's required inputs, so a group node has it too).
const AUDIO_UI_CLASSES: [&str; 5] = [
    "LoadAudio",
    "SaveAudio",
    "PreviewAudio",
    "SaveAudioMP3",
    "SaveAudioOpus",
];

/// A widget of the combined group node.
#[derive(Debug, Clone)]
pub(crate) struct GroupWidget {
    /// Saved in the group node's `widgets_values`.
    pub saved: bool,
    /// The inner node (index) and widget name this widget's value is copied to.
    pub target: Option<(usize, String)>,
}

/// The combined node of one group definition.
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupConfig {
    pub widgets: Vec<GroupWidget>,
    /// `(inner index, inner input slot)` -> group input index.
    pub input_map: HashMap<(usize, usize), usize>,
    /// `(inner index, inner input slot)` -> `(origin inner index, origin slot)`.
    pub links_to: HashMap<(usize, i64), (usize, i64)>,
    /// Group output index -> `(inner index, inner output slot)`.
    pub outputs: Vec<(usize, i64)>,
    /// Group widget name -> the inner node (index) and widget name it is copied to.
    pub widget_targets: HashMap<String, (usize, String)>,
    /// The group node's input names in its slot order: every socket, then every widget's
    /// input, each in the combined definition's order (`#addInputs`); a loaded group node's
    /// inputs take this order whatever order the file saved them in.
    pub input_names: Vec<String>,
}

type Deferred = (usize, usize, Vec<(String, WidgetShape)>);

/// A slot index as the `i64` links carry.
fn slot(i: usize) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX)
}

enum Entry {
    Widget {
        target: (usize, String),
        shape: WidgetShape,
    },
    Socket,
    /// A widget-type input with `forceInput`: the group takes it for a widget (so it is not
    /// numbered among the sockets), its node makes a socket of it and no widget.
    Forced,
}

/// A group widget's own saving and the companion widgets (all saved) that follow it; `forced`
/// for a widget type with `forceInput` (see `Entry::Forced`).
#[derive(Debug, Clone, Copy)]
struct WidgetShape {
    companions: usize,
    saved: bool,
    forced: bool,
}

impl WidgetShape {
    const PLAIN: Self = Self {
        companions: 0,
        saved: true,
        forced: false,
    };
}

struct Names {
    seen: HashMap<String, usize>,
}

impl Names {
    /// `GroupNodeConfig.getInputConfig` naming.
    fn name(&mut self, node: &UiNode, input: &str) -> String {
        let mut name = input.to_owned();
        let mut key = name.clone();
        if (node.class == "PrimitiveNode" && node.title.is_some()) || self.seen.contains_key(&name)
        {
            let prefix = format!("{} ", node.title.as_deref().unwrap_or(&node.class));
            name = format!("{prefix}{input}");
            key.clone_from(&name);
            if let Some(n) = self.seen.get(&name) {
                name = format!("{prefix}{n} {input}");
            }
        }
        let count = self.seen.get(&key).copied().unwrap_or(1) + 1;
        self.seen.insert(key, count);
        name
    }
}

/// A declared input of an inner node: its name and, for a widget, how many companion widgets
/// (`control_after_generate`, ...) follow it; `None` for a socket.
type DeclaredInput = (String, Option<WidgetShape>);

/// The state of one `GroupConfig::build`.
struct Builder<'d> {
    def: &'d GroupNodeDef,
    links_to: HashMap<(usize, i64), (usize, i64)>,
    links_from: HashSet<(usize, i64)>,
    external: HashSet<(usize, i64)>,
    names: Names,
    required: IndexMap<String, Entry>,
    input_map: HashMap<(usize, usize), usize>,
    input_count: usize,
    outputs: Vec<(usize, i64)>,
    /// (inner index, number of socket slots, converted widgets with their companion counts)
    deferred: Vec<Deferred>,
}

impl GroupConfig {
    pub(crate) fn build(def: &GroupNodeDef, oi: &ObjectInfo) -> Self {
        let mut b = Builder::new(def);
        for (i, node) in def.nodes.iter().enumerate() {
            if let Some((inputs, output_count)) = b.declared_inputs(i, node, oi) {
                b.add_node(i, node, inputs, output_count);
            }
        }
        b.add_converted_widgets();
        b.finish()
    }

    /// Values the group node's saved `widgets_values` give to inner widgets:
    /// `(inner index, widget name) -> value`.
    pub(crate) fn inner_values(&self, saved: Option<&Value>) -> HashMap<(usize, String), Value> {
        let mut out = HashMap::new();
        let Some(Value::Array(values)) = saved else {
            return out;
        };
        let mut it = values.iter();
        for w in &self.widgets {
            if !w.saved {
                continue;
            }
            let Some(v) = it.next() else { break };
            if let Some(t) = &w.target {
                out.insert(t.clone(), v.clone());
            }
        }
        out
    }
}

impl<'d> Builder<'d> {
    fn new(def: &'d GroupNodeDef) -> Self {
        let mut links_to = HashMap::new();
        let mut links_from: HashSet<(usize, i64)> = HashSet::new();
        for &(src, sslot, tgt, tslot) in &def.links {
            links_to.insert((tgt, tslot), (src, sslot));
            links_from.insert((src, sslot));
        }
        Self {
            def,
            links_to,
            links_from,
            external: def.external.iter().copied().collect(),
            names: Names {
                seen: HashMap::new(),
            },
            required: IndexMap::new(),
            input_map: HashMap::new(),
            input_count: 0,
            outputs: Vec::new(),
            deferred: Vec::new(),
        }
    }

    /// The declared inputs and the output count of inner node `i`; `None` when the node
    /// contributes nothing to the combined node (a frontend-only node, an internal Reroute).
    fn declared_inputs(
        &self,
        i: usize,
        node: &UiNode,
        oi: &ObjectInfo,
    ) -> Option<(Vec<DeclaredInput>, usize)> {
        if let Some(class) = oi.class(&node.class) {
            let declared = |spec: &InputSpec| {
                let mut shape = widget_companions(spec).map(|companions| WidgetShape {
                    companions,
                    saved: true,
                    forced: false,
                });
                // `inputIsWidget` looks at the type only.
                if spec.force_input && is_widget_type(spec) {
                    shape = Some(WidgetShape {
                        companions: 0,
                        saved: true,
                        forced: true,
                    });
                }
                (spec.name.clone(), shape)
            };
            // `{...required, ...optional}` in the JSON object's key order.
            let in_order = |names: &[String], specs: &'_ [InputSpec]| -> Vec<DeclaredInput> {
                let by_name: HashMap<&str, &InputSpec> =
                    specs.iter().map(|s| (s.name.as_str(), s)).collect();
                names
                    .iter()
                    .filter_map(|n| by_name.get(n.as_str()).copied())
                    .map(declared)
                    .collect()
            };
            let (required_keys, optional_keys) = &class.key_order;
            let mut inputs = in_order(required_keys, &class.required);
            // Frontend extensions add these to the required inputs of the node definition.
            if matches!(
                class.name.as_str(),
                "Preview3D" | "Preview3DAnimation" | "SaveGLB"
            ) {
                inputs.push(("image".to_owned(), Some(WidgetShape::PLAIN)));
            }
            if AUDIO_UI_CLASSES.contains(&class.name.as_str()) {
                // Never saved in the group's `widgets_values`.
                let shape = WidgetShape {
                    companions: 0,
                    saved: false,
                    forced: false,
                };
                inputs.push(("audioUI".to_owned(), Some(shape)));
            }
            let audio_upload = class
                .required
                .iter()
                .any(|s| s.name == "audio" && s.audio_upload);
            if audio_upload
                || class
                    .required
                    .iter()
                    .any(|s| s.media_upload && s.type_name() == "COMBO")
            {
                inputs.push(("upload".to_owned(), Some(WidgetShape::PLAIN)));
            }
            let required_names: HashSet<&str> = required_keys.iter().map(String::as_str).collect();
            inputs.extend(
                in_order(optional_keys, &class.optional)
                    .into_iter()
                    .filter(|(n, _)| !required_names.contains(n.as_str())),
            );
            return Some((inputs, class.outputs.len()));
        }
        if node.class == "Reroute" {
            let internal_in = self.links_to.keys().any(|&(t, _)| t == i);
            let internal_out = self.links_from.iter().any(|&(s, _)| s == i);
            if internal_in && internal_out && !self.external.contains(&(i, 0)) {
                return None;
            }
            return Some((vec![("*".to_owned(), None)], 1));
        }
        // Other frontend-only nodes contribute nothing to the combined node.
        None
    }

    /// Inner node `i`'s widgets, unlinked sockets and outputs; its converted widgets wait until
    /// every node's sockets are numbered.
    fn add_node(
        &mut self,
        i: usize,
        node: &UiNode,
        inputs: Vec<DeclaredInput>,
        output_count: usize,
    ) {
        let mut slots = Vec::new();
        let mut converted: Vec<(usize, String, WidgetShape)> = Vec::new();
        for (name, shape) in inputs {
            let Some(shape) = shape else {
                slots.push(name);
                continue;
            };
            let idx = node
                .inputs
                .iter()
                .position(|inp| inp.name == name && inp.widget.as_deref() == Some(name.as_str()));
            if let Some(idx) = idx {
                converted.push((idx, name, shape));
            } else {
                let n = self.names.name(node, &name);
                self.required.insert(n, widget_entry((i, name), shape));
            }
        }
        for (k, name) in slots.iter().enumerate() {
            if self.links_to.contains_key(&(i, slot(k))) {
                continue;
            }
            let n = self.names.name(node, name);
            self.required.insert(n, Entry::Socket);
            self.input_map.insert((i, k), self.input_count);
            self.input_count += 1;
        }
        for out in 0..slot(output_count) {
            let internal_only =
                self.links_from.contains(&(i, out)) && !self.external.contains(&(i, out));
            if !internal_only {
                self.outputs.push((i, out));
            }
        }
        // JavaScript sorts the converted slot indexes as strings.
        converted.sort_by_key(|(idx, _, _)| idx.to_string());
        self.deferred.push((
            i,
            slots.len(),
            converted.into_iter().map(|(_, n, c)| (n, c)).collect(),
        ));
    }

    /// Converted widgets not linked inside the group become group inputs after all sockets.
    fn add_converted_widgets(&mut self) {
        for (i, base, converted) in std::mem::take(&mut self.deferred) {
            let node = &self.def.nodes[i];
            for (ci, (name, shape)) in converted.into_iter().enumerate() {
                if self.links_to.contains_key(&(i, slot(base + ci))) {
                    continue;
                }
                let n = self.names.name(node, &name);
                self.required.insert(n, widget_entry((i, name), shape));
                self.input_map.insert((i, base + ci), self.input_count);
                self.input_count += 1;
            }
        }
    }

    fn finish(self) -> GroupConfig {
        let mut widgets = Vec::new();
        let mut widget_targets = HashMap::new();
        let mut input_names: Vec<String> = self
            .required
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Socket | Entry::Forced))
            .map(|(n, _)| n.clone())
            .collect();
        for (name, entry) in self.required {
            if let Entry::Widget { target, shape } = entry {
                input_names.push(name.clone());
                widget_targets.insert(name, target.clone());
                widgets.push(GroupWidget {
                    saved: shape.saved,
                    target: Some(target),
                });
                widgets.extend((0..shape.companions).map(|_| GroupWidget {
                    saved: true,
                    target: None,
                }));
            }
        }
        GroupConfig {
            widgets,
            input_map: self.input_map,
            links_to: self.links_to,
            outputs: self.outputs,
            widget_targets,
            input_names,
        }
    }
}

fn widget_entry(target: (usize, String), shape: WidgetShape) -> Entry {
    if shape.forced {
        Entry::Forced
    } else {
        Entry::Widget { target, shape }
    }
}

/// A type the frontend makes a widget for (`useWidgetStore().inputIsWidget`), `forceInput`
/// or not.
fn is_widget_type(spec: &InputSpec) -> bool {
    matches!(
        spec.type_name(),
        "INT" | "FLOAT" | "STRING" | "BOOLEAN" | "COMBO" | "AUDIO_RECORD"
    )
}

/// Whether a declared input is a widget and how many companion widgets follow it: one after a
/// seed-like INT (one named `seed` or `noise_seed` even when it declares
/// `control_after_generate: false`), two after a combo with `control_after_generate`, two more (the hidden toggle
/// and the button) after a remote combo with a refresh button, one after `RecordAudio`'s
/// `AUDIO_RECORD` (two widgets of that name); `None` for a socket.
fn widget_companions(spec: &InputSpec) -> Option<usize> {
    let ty = spec.type_name();
    if ty == "AUDIO_RECORD" && !spec.force_input {
        // The record extension's audio element and its record button.
        return Some(1);
    }
    let widget =
        !spec.force_input && matches!(ty, "INT" | "FLOAT" | "STRING" | "BOOLEAN" | "COMBO");
    if !widget {
        return None;
    }
    let combo = matches!(spec.kind, InputType::Combo(_));
    // The group's own config names a control for any input called `seed` or `noise_seed`
    // (`getInputConfig`), over the declared option.
    let seed_name = spec.name == "seed" || spec.name == "noise_seed";
    let control = if ty == "INT" && (spec.int_control() || seed_name) {
        1
    } else if combo && spec.combo_control() {
        2
    } else {
        0
    };
    let refresh = if combo && spec.refresh_button { 2 } else { 0 };
    Some(control + refresh)
}
