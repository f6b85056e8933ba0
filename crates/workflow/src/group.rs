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

use super::object_info::{InputType, ObjectInfo};
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

impl GroupConfig {
    pub(crate) fn build(def: &GroupNodeDef, oi: &ObjectInfo) -> Self {
        let mut links_to = HashMap::new();
        let mut links_from: HashSet<(usize, i64)> = HashSet::new();
        for &(src, sslot, tgt, tslot) in &def.links {
            links_to.insert((tgt, tslot), (src, sslot));
            links_from.insert((src, sslot));
        }
        let external: HashSet<(usize, i64)> = def.external.iter().copied().collect();
        let mut names = Names {
            seen: HashMap::new(),
        };
        let mut required: IndexMap<String, Entry> = IndexMap::new();
        let mut input_map = HashMap::new();
        let mut input_count = 0usize;
        let mut outputs = Vec::new();
        // (inner index, number of socket slots, converted widgets with their companion counts)
        let mut deferred: Vec<Deferred> = Vec::new();

        for (i, node) in def.nodes.iter().enumerate() {
            // (name, widget companions or None for a socket)
            let mut inputs: Vec<(String, Option<usize>)> = Vec::new();
            let output_count;
            if let Some(class) = oi.class(&node.class) {
                for spec in class.inputs() {
                    let ty = spec.type_name();
                    let widget = !spec.force_input
                        && matches!(ty, "INT" | "FLOAT" | "STRING" | "BOOLEAN" | "COMBO");
                    let companions = if !widget {
                        None
                    } else if ty == "INT"
                        && (spec.control_after_generate
                            || spec.name == "seed"
                            || spec.name == "noise_seed")
                    {
                        Some(1)
                    } else if matches!(spec.kind, InputType::Combo(_))
                        && spec.control_after_generate
                    {
                        Some(2)
                    } else {
                        Some(0)
                    };
                    inputs.push((spec.name.clone(), companions));
                }
                if class
                    .required
                    .iter()
                    .any(|s| s.media_upload && s.type_name() == "COMBO")
                {
                    inputs.push(("upload".to_owned(), Some(0)));
                }
                output_count = class.outputs.len();
            } else if node.class == "Reroute" {
                let internal_in = links_to.keys().any(|&(t, _)| t == i);
                let internal_out = links_from.iter().any(|&(s, _)| s == i);
                if internal_in && internal_out && !external.contains(&(i, 0)) {
                    continue;
                }
                inputs.push(("*".to_owned(), None));
                output_count = 1;
            } else {
                // Other frontend-only nodes contribute nothing to the combined node.
                continue;
            }
            let mut slots = Vec::new();
            let mut converted: Vec<(usize, String, usize)> = Vec::new();
            for (name, companions) in inputs {
                match companions {
                    Some(companions) => {
                        let idx = node.inputs.iter().position(|inp| {
                            inp.name == name && inp.widget.as_deref() == Some(name.as_str())
                        });
                        if let Some(idx) = idx {
                            converted.push((idx, name, companions));
                        } else {
                            let n = names.name(node, &name);
                            required.insert(
                                n,
                                Entry::Widget {
                                    target: (i, name),
                                    companions,
                                },
                            );
                        }
                    }
                    None => slots.push(name),
                }
            }
            for (k, name) in slots.iter().enumerate() {
                if links_to.contains_key(&(i, slot(k))) {
                    continue;
                }
                let n = names.name(node, name);
                required.insert(n, Entry::Socket);
                input_map.insert((i, k), input_count);
                input_count += 1;
            }
            for out in 0..slot(output_count) {
                let internal_only = links_from.contains(&(i, out)) && !external.contains(&(i, out));
                if !internal_only {
                    outputs.push((i, out));
                }
            }
            // JavaScript sorts the converted slot indexes as strings.
            converted.sort_by_key(|(idx, _, _)| idx.to_string());
            deferred.push((
                i,
                slots.len(),
                converted.into_iter().map(|(_, n, c)| (n, c)).collect(),
            ));
        }
        for (i, base, converted) in deferred {
            let node = &def.nodes[i];
            for (ci, (name, companions)) in converted.into_iter().enumerate() {
                if links_to.contains_key(&(i, slot(base + ci))) {
                    continue;
                }
                let n = names.name(node, &name);
                required.insert(
                    n,
                    Entry::Widget {
                        target: (i, name),
                        companions,
                    },
                );
                input_map.insert((i, base + ci), input_count);
                input_count += 1;
            }
        }
        let mut widgets = Vec::new();
        for entry in required.into_values() {
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
        Self {
            widgets,
            input_map,
            links_to,
            outputs,
        }
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
