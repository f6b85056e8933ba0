//! Legacy group nodes (`extra.groupNodes`, node type `workflow>NAME`): how the frontend's
//! `GroupNodeConfig` turns a group definition into one combined node, i.e. which group widget
//! feeds which inner widget, which group input feeds which inner input slot, and which inner
//! output each group output is.
//!
//! Rules (frontend 1.27 `groupNode.ts`): inner nodes are visited in definition order. For each,
//! its declared inputs are split into widgets and sockets. A widget whose input slot on the saved
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
}

type Deferred = (usize, usize, Vec<(String, usize)>);

/// A slot index as the `i64` links carry.
fn slot(i: usize) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX)
}

enum Entry {
    Widget {
        target: (usize, String),
        companions: usize,
    },
    Socket,
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
type DeclaredInput = (String, Option<usize>);

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
            let declared = |spec: &InputSpec| (spec.name.clone(), widget_companions(spec));
            let mut inputs: Vec<DeclaredInput> = class.required.iter().map(declared).collect();
            // Frontend extensions add these to the required inputs of the node definition.
            if matches!(
                class.name.as_str(),
                "Preview3D" | "Preview3DAnimation" | "SaveGLB"
            ) {
                inputs.push(("image".to_owned(), Some(0)));
            }
            if class
                .required
                .iter()
                .any(|s| s.media_upload && s.type_name() == "COMBO")
            {
                inputs.push(("upload".to_owned(), Some(0)));
            }
            inputs.extend(class.optional.iter().map(declared));
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
        let mut converted: Vec<(usize, String, usize)> = Vec::new();
        for (name, companions) in inputs {
            let Some(companions) = companions else {
                slots.push(name);
                continue;
            };
            let idx = node
                .inputs
                .iter()
                .position(|inp| inp.name == name && inp.widget.as_deref() == Some(name.as_str()));
            if let Some(idx) = idx {
                converted.push((idx, name, companions));
            } else {
                let n = self.names.name(node, &name);
                self.required.insert(
                    n,
                    Entry::Widget {
                        target: (i, name),
                        companions,
                    },
                );
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
            for (ci, (name, companions)) in converted.into_iter().enumerate() {
                if self.links_to.contains_key(&(i, slot(base + ci))) {
                    continue;
                }
                let n = self.names.name(node, &name);
                self.required.insert(
                    n,
                    Entry::Widget {
                        target: (i, name),
                        companions,
                    },
                );
                self.input_map.insert((i, base + ci), self.input_count);
                self.input_count += 1;
            }
        }
    }

    fn finish(self) -> GroupConfig {
        let mut widgets = Vec::new();
        for entry in self.required.into_values() {
            if let Entry::Widget { target, companions } = entry {
                widgets.push(GroupWidget {
                    saved: true,
                    target: Some(target),
                });
                widgets.extend((0..companions).map(|_| GroupWidget {
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
        }
    }
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
