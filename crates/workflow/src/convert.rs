//! Headless UI -> API conversion, following the frontend's `graphToPrompt()`:
//!
//! 1. `PrimitiveNodes` push their value into every widget they feed (`applyToGraph`), through
//!    legacy Reroute nodes too, after merging the targets' configs (see `primitive`); the
//!    targets' saved values are stale.
//! 2. Every node becomes an executable node ("DTO"); subgraph instances are expanded into their
//!    inner nodes with ids `outer:inner` (nested: `a:b:c`), legacy group nodes (`workflow>NAME`)
//!    into `group:index` with the group handler's own wiring (see `group`).
//! 3. Each DTO that is not virtual (Reroute, `PrimitiveNode`, Note, `MarkdownNote`, subgraph or group
//!    wrapper), muted (mode 2) or bypassed (mode 4) is emitted: its widgets with
//!    `options.serialize !== false` in widget order, then every input whose link resolves, as
//!    `[origin_id, slot]` (or a subgraph wrapper's promoted widget value).
//! 4. Link resolution walks through virtual nodes (same slot), bypassed nodes (the
//!    `getBypassSlotIndex` rule), into subgraph outputs and out of subgraph inputs. A missing link
//!    id or origin node is an error, as in the frontend; a loop is an error instead of a hang.
//! 5. Inputs linked to a node that was not emitted (muted, say) are removed.
//!
//! The walk is an explicit loop over a visited set, so hostile graphs cannot overflow the stack;
//! subgraph nesting depth and total size are bounded.

use std::collections::{HashMap, HashSet, VecDeque};

use indexmap::IndexMap;
use serde_json::Value;

use super::api::{ApiMeta, ApiNode, ApiPrompt, js_key_order};
use super::error::ConvertError;
use super::group::GroupConfig;
use super::object_info::{InputSpec, ObjectInfo};
use super::primitive::{pushed_value, target_callback};
use super::titles::Titles;
use super::ui::{
    GroupNodeDef, SUBGRAPH_INPUT_ID, SUBGRAPH_OUTPUT_ID, SubgraphDef, UiGraph, UiNode, UiWorkflow,
};
use super::widgets::{Widget, process_dynamic_prompt, widget_values, widgets_for};

/// Maximum nesting of subgraphs (the frontend has no limit; real workflows use a few levels).
pub const MAX_SUBGRAPH_DEPTH: usize = 32;
/// Maximum number of executable nodes after expanding subgraphs and group nodes.
pub const MAX_EXPANDED_NODES: usize = 250_000;

/// The classes whose `filename_prefix` the frontend runs through its text replacement
/// (`Comfy.SaveImageExtraOutput`), which throws on a value that is not a string.
const SAVE_NODE_TYPES: [&str; 11] = [
    "SaveImage",
    "SaveAnimatedWEBP",
    "SaveWEBM",
    "SaveAudio",
    "SaveGLB",
    "SaveAnimatedPNG",
    "CLIPSave",
    "VAESave",
    "ModelSave",
    "LoraSave",
    "SaveLatent",
];

const MODE_NEVER: i64 = 2;
const MODE_BYPASS: i64 = 4;

/// Converts a UI workflow to the API format exactly as the frontend's `graphToPrompt()` does.
/// Node classes the instance lacks make it fail, naming every one of them.
pub fn convert_ui_to_api(
    ui: &UiWorkflow,
    object_info: &ObjectInfo,
    titles: &Titles,
) -> Result<ApiPrompt, ConvertError> {
    let (prompt, unknown) = convert_lenient(ui, object_info, titles)?;
    if unknown.is_empty() {
        Ok(prompt)
    } else {
        Err(ConvertError::UnknownNodeClasses { nodes: unknown })
    }
}

/// Converts like [`convert_ui_to_api`], but emits nodes of unknown classes with their links only
/// (as the frontend does for a missing node) and returns them as `(node id, class)`.
pub(crate) fn convert_lenient(
    ui: &UiWorkflow,
    object_info: &ObjectInfo,
    titles: &Titles,
) -> Result<(ApiPrompt, Vec<(String, String)>), ConvertError> {
    let mut c = Converter::new(ui, object_info)?;
    c.apply_primitives();
    c.sync_promoted();
    c.emit(titles)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Regular,
    Virtual,
    Subgraph,
    Group,
}

struct DtoInput<'w> {
    name: &'w str,
    ty: &'w str,
    link: Option<i64>,
}

struct Dto<'w> {
    exec_id: String,
    /// Prefix for ids of nodes in the same graph (`""` at the root, `"7:"` inside instance 7).
    prefix: String,
    graph: &'w UiGraph,
    node: &'w UiNode,
    kind: Kind,
    mode: i64,
    /// Subgraph wrapper DTO containing this node.
    wrapper: Option<usize>,
    inputs: Vec<DtoInput<'w>>,
    output_types: Vec<&'w str>,
    /// For subgraph wrappers: the definition id.
    subgraph: Option<&'w str>,
    /// For legacy group nodes: the group name; for their inner nodes: (wrapper DTO, index).
    group_name: Option<&'w str>,
    group_child: Option<(usize, usize)>,
}

enum Resolved {
    Link(usize, i64),
    Widget(Value),
}

/// One step of the link walk of `resolve_input`.
enum Step {
    /// Input slot of a DTO, with the type being resolved when it differs from the input's own.
    In(usize, i64, Option<String>),
    /// Output slot of a DTO, with the type being resolved.
    Out(usize, i64, String),
}

/// Where one step of the walk leads.
enum Flow {
    Next(Step),
    Done(Option<Resolved>),
}

struct Converter<'w> {
    ui: &'w UiWorkflow,
    oi: &'w ObjectInfo,
    dtos: Vec<Dto<'w>>,
    by_exec: HashMap<String, usize>,
    /// Per graph (keyed by the graph's address), node id -> node.
    node_index: HashMap<*const UiGraph, HashMap<&'w str, &'w UiNode>>,
    /// Widget values pushed by `PrimitiveNodes`: (DTO, widget name) -> value.
    overrides: HashMap<(usize, String), Value>,
    /// Inner widget values subgraph instances copied in (`sync_promoted`): (inner node, widget
    /// name) -> value, for every instance of the definition.
    synced: HashMap<(*const UiNode, String), Value>,
    widget_cache: HashMap<&'w str, Vec<Widget>>,
    group_cfgs: HashMap<&'w str, GroupConfig>,
}

fn is_virtual_class(class: &str) -> bool {
    matches!(class, "Reroute" | "PrimitiveNode" | "Note" | "MarkdownNote")
}

fn group_name(class: &str) -> Option<&str> {
    class
        .strip_prefix("workflow>")
        .or_else(|| class.strip_prefix("workflow/"))
}

/// A node's input slots as saved.
fn slot_inputs(node: &UiNode) -> Vec<DtoInput<'_>> {
    node.inputs
        .iter()
        .map(|s| DtoInput {
            name: s.name.as_str(),
            ty: s.ty.as_str(),
            link: s.link,
        })
        .collect()
}

/// A subgraph instance's inputs: from the definition, in its order, each with the link of the
/// saved node's input of the same name (as the frontend re-attaches them on load, whatever the
/// saved order); a definition input no saved input names takes the saved input at its own
/// position if that one's name is not in the definition either.
fn subgraph_inputs<'w>(def: &'w SubgraphDef, node: &'w UiNode) -> Vec<DtoInput<'w>> {
    let mut used = vec![false; node.inputs.len()];
    let by_name: Vec<Option<usize>> = def
        .inputs
        .iter()
        .map(|io| {
            let j = node
                .inputs
                .iter()
                .enumerate()
                .position(|(j, s)| !used[j] && s.name == io.name)?;
            used[j] = true;
            Some(j)
        })
        .collect();
    def.inputs
        .iter()
        .zip(by_name)
        .enumerate()
        .map(|(i, (io, found))| {
            let found = found.or_else(|| {
                let s = node.inputs.get(i)?;
                let stray = !used[i] && !def.inputs.iter().any(|d| d.name == s.name);
                stray.then(|| {
                    used[i] = true;
                    i
                })
            });
            DtoInput {
                name: io.name.as_str(),
                ty: io.ty.as_str(),
                link: found.and_then(|j| node.inputs[j].link),
            }
        })
        .collect()
}

/// `LiteGraph.isValidConnection`.
fn valid_connection(a: &str, b: &str) -> bool {
    if a.is_empty() || b.is_empty() || a == "*" || b == "*" || a == b {
        return true;
    }
    let a = a.to_lowercase();
    let b = b.to_lowercase();
    if a == b {
        return true;
    }
    if !a.contains(',') && !b.contains(',') {
        return false;
    }
    a.split(',').any(|x| b.split(',').any(|y| x == y))
}

impl<'w> Converter<'w> {
    fn new(ui: &'w UiWorkflow, oi: &'w ObjectInfo) -> Result<Self, ConvertError> {
        let mut node_index = HashMap::new();
        let mut index_graph = |g: &'w UiGraph| {
            node_index.insert(
                std::ptr::from_ref(g),
                g.nodes
                    .iter()
                    .map(|n| (n.id.as_str(), n))
                    .collect::<HashMap<_, _>>(),
            );
        };
        index_graph(&ui.root);
        for def in ui.subgraphs.values() {
            index_graph(&def.graph);
        }
        let mut c = Self {
            ui,
            oi,
            dtos: Vec::new(),
            by_exec: HashMap::new(),
            node_index,
            overrides: HashMap::new(),
            synced: HashMap::new(),
            widget_cache: HashMap::new(),
            group_cfgs: HashMap::new(),
        };
        let order = execution_order(&ui.root);
        let mut ancestry = Vec::new();
        for idx in order {
            c.add_node(&ui.root, &ui.root.nodes[idx], "", None, 0, &mut ancestry)?;
        }
        Ok(c)
    }

    /// Adds `node` as a DTO, then (for a subgraph instance or a legacy group node) its inner nodes.
    fn add_node(
        &mut self,
        graph: &'w UiGraph,
        node: &'w UiNode,
        prefix: &str,
        wrapper: Option<usize>,
        depth: usize,
        ancestry: &mut Vec<&'w str>,
    ) -> Result<(), ConvertError> {
        self.check_size()?;
        let exec_id = format!("{prefix}{}", node.id);
        let (kind, mut inputs, output_types, subgraph) = self.shape(node);
        if kind == Kind::Group {
            inputs = self.group_inputs(node);
        }
        let idx = self.dtos.len();
        self.dtos.push(Dto {
            exec_id: exec_id.clone(),
            prefix: prefix.to_owned(),
            graph,
            node,
            kind,
            // Each node keeps its own mode, as in frontend 1.27: muting or bypassing a subgraph
            // node in the editor (Ctrl+M / Ctrl+B) also sets the mode of the nodes inside its
            // definition, and graphToPrompt reads only the inner node's own mode.
            mode: node.mode,
            wrapper,
            inputs,
            output_types,
            subgraph,
            group_name: None,
            group_child: None,
        });
        self.by_exec.entry(exec_id.clone()).or_insert(idx);
        if let Some(sg_id) = subgraph {
            self.expand_subgraph(idx, exec_id, sg_id, depth, ancestry)
        } else if let Some((name, def)) =
            group_name(&node.class).and_then(|g| self.ui.group_nodes.get_key_value(g))
        {
            if wrapper.is_some() {
                return Err(ConvertError::GroupNodeInSubgraph {
                    node_id: exec_id,
                    name: name.clone(),
                });
            }
            self.expand_group(idx, &exec_id, name, def)
        } else {
            Ok(())
        }
    }

    fn check_size(&self) -> Result<(), ConvertError> {
        if self.dtos.len() >= MAX_EXPANDED_NODES {
            return Err(ConvertError::TooManyNodes {
                limit: MAX_EXPANDED_NODES,
            });
        }
        Ok(())
    }

    /// A node's kind, inputs, output types and (for a subgraph instance) definition id.
    fn shape(&self, node: &'w UiNode) -> (Kind, Vec<DtoInput<'w>>, Vec<&'w str>, Option<&'w str>) {
        if let Some((sg_id, def)) = self.ui.subgraphs.get_key_value(node.class.as_str()) {
            let outs = def.outputs.iter().map(|o| o.ty.as_str()).collect();
            return (
                Kind::Subgraph,
                subgraph_inputs(def, node),
                outs,
                Some(sg_id.as_str()),
            );
        }
        let is_group = group_name(&node.class).is_some_and(|g| self.ui.group_nodes.contains_key(g));
        let kind = if is_group {
            Kind::Group
        } else if is_virtual_class(&node.class) {
            Kind::Virtual
        } else {
            Kind::Regular
        };
        (
            kind,
            slot_inputs(node),
            node.outputs.iter().map(|o| o.ty.as_str()).collect(),
            None,
        )
    }

    /// A legacy group node's inputs in the order its definition gives them (see
    /// `GroupConfig::input_names`), each with the link of the saved input of that name; saved
    /// inputs the definition lacks follow, as the frontend's `configure` keeps them.
    fn group_inputs(&mut self, node: &'w UiNode) -> Vec<DtoInput<'w>> {
        let Some((name, def)) =
            group_name(&node.class).and_then(|g| self.ui.group_nodes.get_key_value(g))
        else {
            return slot_inputs(node);
        };
        let oi = self.oi;
        let cfg = self
            .group_cfgs
            .entry(name.as_str())
            .or_insert_with(|| GroupConfig::build(def, oi));
        let mut used = vec![false; node.inputs.len()];
        // Saved input positions by name, each taken once, first first.
        let mut by_name: HashMap<&str, VecDeque<usize>> = HashMap::new();
        for (j, s) in node.inputs.iter().enumerate() {
            by_name.entry(s.name.as_str()).or_default().push_back(j);
        }
        let mut out: Vec<DtoInput<'w>> = Vec::with_capacity(cfg.input_names.len());
        for wanted in &cfg.input_names {
            let found = by_name
                .get_mut(wanted.as_str())
                .and_then(VecDeque::pop_front);
            out.push(match found {
                Some(j) => {
                    used[j] = true;
                    let s = &node.inputs[j];
                    DtoInput {
                        name: s.name.as_str(),
                        ty: s.ty.as_str(),
                        link: s.link,
                    }
                }
                None => DtoInput {
                    name: "",
                    ty: "",
                    link: None,
                },
            });
        }
        for (j, s) in node.inputs.iter().enumerate() {
            if !used[j] {
                out.push(DtoInput {
                    name: s.name.as_str(),
                    ty: s.ty.as_str(),
                    link: s.link,
                });
            }
        }
        out
    }

    /// Adds the inner nodes of subgraph instance `idx` (definition `sg_id`), ids `exec_id:inner`.
    fn expand_subgraph(
        &mut self,
        idx: usize,
        exec_id: String,
        sg_id: &'w str,
        depth: usize,
        ancestry: &mut Vec<&'w str>,
    ) -> Result<(), ConvertError> {
        if depth >= MAX_SUBGRAPH_DEPTH {
            return Err(ConvertError::TooDeep {
                node_id: exec_id,
                limit: MAX_SUBGRAPH_DEPTH,
            });
        }
        if ancestry.contains(&sg_id) {
            return Err(ConvertError::SubgraphCycle {
                subgraph_id: sg_id.to_owned(),
                node_id: exec_id,
            });
        }
        let Some(def) = self.ui.subgraphs.get(sg_id) else {
            return Ok(());
        };
        ancestry.push(sg_id);
        let inner_prefix = format!("{exec_id}:");
        for inner in &def.graph.nodes {
            self.add_node(
                &def.graph,
                inner,
                &inner_prefix,
                Some(idx),
                depth + 1,
                ancestry,
            )?;
        }
        ancestry.pop();
        Ok(())
    }

    /// Adds the inner nodes of legacy group node `idx` (group `name`), ids `exec_id:index`, with
    /// the widget values the group node saved for them.
    fn expand_group(
        &mut self,
        idx: usize,
        exec_id: &str,
        name: &'w str,
        def: &'w GroupNodeDef,
    ) -> Result<(), ConvertError> {
        self.dtos[idx].group_name = Some(name);
        let graph = self.dtos[idx].graph;
        let saved = self.dtos[idx].node.widgets_values.as_ref();
        let cfg = self
            .group_cfgs
            .entry(name)
            .or_insert_with(|| GroupConfig::build(def, self.oi));
        let values = cfg.inner_values(saved);
        for (i, inner) in def.nodes.iter().enumerate() {
            self.check_size()?;
            let child = self.dtos.len();
            let child_id = format!("{exec_id}:{i}");
            self.dtos.push(Dto {
                exec_id: child_id.clone(),
                prefix: format!("{exec_id}:"),
                graph,
                node: inner,
                kind: if is_virtual_class(&inner.class) {
                    Kind::Virtual
                } else {
                    Kind::Regular
                },
                mode: inner.mode,
                wrapper: None,
                inputs: slot_inputs(inner),
                output_types: inner.outputs.iter().map(|o| o.ty.as_str()).collect(),
                subgraph: None,
                group_name: None,
                group_child: Some((idx, i)),
            });
            self.by_exec.entry(child_id).or_insert(child);
            for ((target, widget), v) in &values {
                if *target == i {
                    self.overrides.insert((child, widget.clone()), v.clone());
                }
            }
        }
        Ok(())
    }

    /// An inner node's input as the group handler wires it (`getInputNode`/`getInputLink`): a
    /// group input leads to the outer node linked there, an internal link to the inner origin; no
    /// reroute or bypass is followed. Returns the origin DTO and slot.
    fn group_child_input(
        &self,
        wrapper: usize,
        index: usize,
        slot: i64,
    ) -> Result<Option<(usize, i64)>, ConvertError> {
        let w = &self.dtos[wrapper];
        let Some(cfg) = w.group_name.and_then(|n| self.group_cfgs.get(n)) else {
            return Ok(None);
        };
        let Some(def) = w.group_name.and_then(|n| self.ui.group_nodes.get(n)) else {
            return Ok(None);
        };
        if let Some(&k) = usize::try_from(slot)
            .ok()
            .and_then(|s| cfg.input_map.get(&(index, s)))
        {
            let input = w.inputs.get(k).ok_or_else(|| ConvertError::NoSuchInput {
                node_id: w.exec_id.clone(),
                slot: i64::try_from(k).unwrap_or(i64::MAX),
            })?;
            let Some(link) = input.link.and_then(|l| w.graph.links.get(&l)) else {
                return Ok(None);
            };
            let Some(origin) = self.find_node(w.graph, &link.origin_id) else {
                return Ok(None);
            };
            let id = format!("{}{}", w.prefix, origin.id);
            return match self.by_exec.get(&id) {
                Some(&o) => Ok(Some((o, link.origin_slot))),
                None => Err(ConvertError::MissingOriginNode {
                    node_id: format!("{}:{index}", w.exec_id),
                    slot: slot as usize,
                    input: input.name.to_owned(),
                    origin_id: id,
                }),
            };
        }
        let Some(&(src, origin_slot)) = cfg.links_to.get(&(index, slot)) else {
            return Ok(None);
        };
        if def
            .nodes
            .get(src)
            .is_none_or(|n| n.class == "PrimitiveNode")
        {
            return Ok(None);
        }
        Ok(self
            .by_exec
            .get(&format!("{}:{src}", w.exec_id))
            .map(|&o| (o, origin_slot)))
    }

    /// `ExecutableGroupNodeDTO.resolveOutput` for a group node that is not bypassed: the inner
    /// node behind group output `slot` (through inner Reroutes).
    fn group_output(&self, wrapper: usize, slot: i64) -> Result<(usize, i64), ConvertError> {
        let w = &self.dtos[wrapper];
        let err = || ConvertError::GroupOutput {
            node_id: w.exec_id.clone(),
            slot,
        };
        let link = usize::try_from(slot)
            .ok()
            .and_then(|s| w.node.outputs.get(s))
            .and_then(|o| o.links.first())
            .and_then(|l| w.graph.links.get(l))
            .ok_or_else(err)?;
        let cfg = w
            .group_name
            .and_then(|n| self.group_cfgs.get(n))
            .ok_or_else(err)?;
        let &(mut inner, out_slot) = usize::try_from(link.origin_slot)
            .ok()
            .and_then(|s| cfg.outputs.get(s))
            .ok_or_else(err)?;
        let mut via: Option<i64> = None;
        let mut child = *self
            .by_exec
            .get(&format!("{}:{inner}", w.exec_id))
            .ok_or_else(err)?;
        let mut steps = 0usize;
        while self.dtos[child].node.class == "Reroute" {
            steps += 1;
            if steps > self.dtos.len() {
                return Err(ConvertError::Circular {
                    node_id: self.dtos[child].exec_id.clone(),
                    slot: 0,
                });
            }
            let (origin, origin_slot) =
                self.group_child_input(wrapper, inner, 0)?.ok_or_else(err)?;
            if self.dtos[origin].group_child.map(|(g, _)| g) != Some(wrapper) {
                // The frontend looks the origin up among the group's inner nodes and fails.
                return Err(err());
            }
            via = Some(origin_slot);
            child = origin;
            inner = self.dtos[origin].group_child.map_or(inner, |(_, i)| i);
        }
        Ok((child, via.unwrap_or(out_slot)))
    }

    fn find_node(&self, graph: &'w UiGraph, id: &str) -> Option<&'w UiNode> {
        self.node_index
            .get(&std::ptr::from_ref(graph))
            .and_then(|m| m.get(id))
            .copied()
    }

    fn widgets(&mut self, class: &'w str) -> Option<&[Widget]> {
        if !self.widget_cache.contains_key(class) {
            let def = self.oi.class(class)?;
            self.widget_cache.insert(class, widgets_for(def));
        }
        self.widget_cache.get(class).map(Vec::as_slice)
    }

    /// `PrimitiveNode.applyToGraph`: copies each primitive's value into the widgets it feeds.
    /// A primitive without a saved value has its first target's.
    fn apply_primitives(&mut self) {
        for p in 0..self.dtos.len() {
            let d = &self.dtos[p];
            if d.node.class != "PrimitiveNode" || d.group_child.is_some() {
                continue;
            }
            let saved = d
                .node
                .widgets_values
                .as_ref()
                .and_then(|v| v.as_array()?.first().cloned());
            let targets = self.primitive_targets(p);
            let value = match (saved, targets.first()) {
                (Some(v), _) => v,
                (None, Some((t, widget, _))) => {
                    let (t, widget) = (*t, widget.clone());
                    let Some(v) = self.widget_value(t, &widget) else {
                        continue;
                    };
                    v
                }
                (None, None) => continue,
            };
            let specs: Vec<Option<&InputSpec>> = targets.iter().map(|(_, _, s)| *s).collect();
            let value = pushed_value(value, &specs);
            for (t, widget, spec) in targets {
                // The target widget's callback runs on the pushed value (rounding, clamping).
                let pushed = spec.map_or_else(|| value.clone(), |s| target_callback(s, &value));
                self.overrides.insert((t, widget), pushed);
            }
        }
    }

    /// The widgets primitive `p` feeds, in link order (through Reroutes): the target DTO, the
    /// widget name and its input spec (a subgraph instance's promoted widget has the spec of
    /// the inner widget it copies).
    fn primitive_targets(&self, p: usize) -> Vec<(usize, String, Option<&'w InputSpec>)> {
        let d = &self.dtos[p];
        let graph = d.graph;
        let mut queue: VecDeque<i64> = d
            .node
            .outputs
            .first()
            .map(|o| o.links.iter().copied().collect())
            .unwrap_or_default();
        let mut seen = HashSet::new();
        let mut targets = Vec::new();
        while let Some(link_id) = queue.pop_front() {
            if !seen.insert(link_id) {
                continue;
            }
            let Some(link) = graph.links.get(&link_id) else {
                continue;
            };
            let Some(target) = self.find_node(graph, &link.target_id) else {
                continue;
            };
            if target.class == "Reroute" {
                if let Some(o) = target.outputs.first() {
                    queue.extend(o.links.iter().copied());
                }
                continue;
            }
            let Some(widget) = usize::try_from(link.target_slot)
                .ok()
                .and_then(|s| target.inputs.get(s))
                .and_then(|i| i.widget.clone())
            else {
                continue;
            };
            let Some(&t) = self.by_exec.get(&format!("{}{}", d.prefix, target.id)) else {
                continue;
            };
            if self.dtos[t].kind == Kind::Group {
                // A group widget: its value is copied into the inner widget behind it
                // (`updateInnerWidgets`), whose config it was built from.
                if let Some((child, inner)) = self.group_widget_target(t, &widget) {
                    let spec = self
                        .oi
                        .class(&self.dtos[child].node.class)
                        .and_then(|c| c.input(&inner));
                    targets.push((child, inner, spec));
                }
                continue;
            }
            let spec = match self.dtos[t].subgraph {
                Some(_) => self
                    .promoted_targets(t, &widget)
                    .first()
                    .and_then(|(inner, w)| self.oi.class(&inner.class)?.input(w)),
                None => self.oi.class(&target.class).and_then(|c| c.input(&widget)),
            };
            targets.push((t, widget, spec));
        }
        targets
    }

    /// The inner DTO and widget name behind widget `name` of legacy group node `dto`.
    fn group_widget_target(&self, dto: usize, name: &str) -> Option<(usize, String)> {
        let cfg = self.dtos[dto]
            .group_name
            .and_then(|n| self.group_cfgs.get(n))?;
        let (index, inner) = cfg.widget_targets.get(name)?;
        let child = *self
            .by_exec
            .get(&format!("{}:{index}", self.dtos[dto].exec_id))?;
        Some((child, inner.clone()))
    }

    /// The inner widgets wired to subgraph input `name` of instance `dto`
    /// (`getConnectedWidgets`): each inner node with the widget name of its input slot.
    fn promoted_targets(&self, dto: usize, name: &str) -> Vec<(&'w UiNode, String)> {
        let d = &self.dtos[dto];
        let Some(def) = d.subgraph.and_then(|id| self.ui.subgraphs.get(id)) else {
            return Vec::new();
        };
        let Some(io) = def.inputs.iter().find(|io| io.name == name) else {
            return Vec::new();
        };
        io.link_ids
            .iter()
            .filter_map(|l| {
                let link = def.graph.links.get(l)?;
                let node = self.find_node(&def.graph, &link.target_id)?;
                let slot = node.inputs.get(usize::try_from(link.target_slot).ok()?)?;
                Some((node, slot.widget.clone()?))
            })
            .collect()
    }

    /// `SubgraphNode.serialize`, which `graphToPrompt` runs after the primitives pushed: every
    /// subgraph instance (the root's in file order, then those inside definitions) copies each
    /// promoted widget's value into every inner widget wired to the same subgraph input. The
    /// inner nodes are shared by all instances of a definition, so the last instance wins.
    fn sync_promoted(&mut self) {
        let mut nodes: Vec<&'w UiNode> = self.ui.root.nodes.iter().collect();
        for id in &self.ui.subgraph_order {
            if let Some(def) = self.ui.subgraphs.get(id) {
                nodes.extend(def.graph.nodes.iter());
            }
        }
        // The first DTO of each subgraph instance node (its values are the same in every DTO).
        let mut first: HashMap<*const UiNode, usize> = HashMap::new();
        for (i, d) in self.dtos.iter().enumerate() {
            if d.subgraph.is_some() {
                first.entry(std::ptr::from_ref(d.node)).or_insert(i);
            }
        }
        for node in nodes {
            let Some(&dto) = first.get(&std::ptr::from_ref(node)) else {
                continue;
            };
            let Some(def) = self.dtos[dto]
                .subgraph
                .and_then(|id| self.ui.subgraphs.get(id))
            else {
                continue;
            };
            for io in &def.inputs {
                let inner = self.promoted_targets(dto, &io.name);
                if inner.is_empty() {
                    continue;
                }
                let value = match self.overrides.get(&(dto, io.name.clone())) {
                    Some(v) => Some(v.clone()),
                    None => self.promoted_value(dto, &io.name),
                };
                let Some(value) = value else { continue };
                for (n, widget) in inner {
                    self.synced
                        .insert((std::ptr::from_ref(n), widget), value.clone());
                }
            }
        }
    }

    /// Current value of widget `name` of a regular DTO.
    fn widget_value(&mut self, dto: usize, name: &str) -> Option<Value> {
        if let Some(v) = self.overrides.get(&(dto, name.to_owned())) {
            return Some(v.clone());
        }
        let node = self.dtos[dto].node;
        match self.dtos[dto].kind {
            Kind::Regular => {
                let widgets = self.widgets(&node.class)?.to_vec();
                let values = widget_values(&widgets, node.widgets_values.as_ref());
                widgets
                    .iter()
                    .position(|w| w.name == name)
                    .map(|i| values[i].clone())
            }
            Kind::Subgraph => self.promoted_value(dto, name),
            Kind::Virtual | Kind::Group => None,
        }
    }

    /// Value of a subgraph wrapper's promoted widget `name`: pushed by a primitive, else the
    /// wrapper's saved `widgets_values` (one per widget-bound subgraph input, in input order),
    /// else the inner widget's own value.
    fn promoted_value(&mut self, dto: usize, name: &str) -> Option<Value> {
        let d = &self.dtos[dto];
        let def = self.ui.subgraphs.get(d.subgraph?)?;
        let mut k = 0usize;
        for (i, io) in def.inputs.iter().enumerate() {
            let target = io.link_ids.iter().find_map(|l| {
                let link = def.graph.links.get(l)?;
                let node = self.find_node(&def.graph, &link.target_id)?;
                let slot = node.inputs.get(usize::try_from(link.target_slot).ok()?)?;
                Some((node, slot.widget.clone()?))
            });
            let Some((inner, widget)) = target else {
                continue;
            };
            let input_name = d.inputs.get(i).map_or(io.name.as_str(), |x| x.name);
            if input_name == name || widget == name {
                if let Some(v) = d
                    .node
                    .widgets_values
                    .as_ref()
                    .and_then(|v| v.as_array()?.get(k).cloned())
                {
                    return Some(v);
                }
                let inner_dto = *self.by_exec.get(&format!("{}:{}", d.exec_id, inner.id))?;
                return self.widget_value(inner_dto, &widget);
            }
            k += 1;
        }
        None
    }

    fn bypass_slot_index(
        &self,
        dto: usize,
        slot: i64,
        ty: &str,
    ) -> Result<Option<usize>, ConvertError> {
        let d = &self.dtos[dto];
        let s = usize::try_from(slot).ok();
        let output_type =
            s.and_then(|s| d.output_types.get(s))
                .ok_or_else(|| ConvertError::NoSuchOutput {
                    node_id: d.exec_id.clone(),
                    slot,
                })?;
        let inputs = &d.inputs;
        let s = s.unwrap_or(0);
        if ty == "*" || ty.is_empty() {
            return Ok(Some(if inputs.len() > s { s } else { 0 }));
        }
        if let Some(opp) = inputs.get(s)
            && valid_connection(opp.ty, output_type)
            && valid_connection(opp.ty, ty)
        {
            return Ok(Some(s));
        }
        if let Some(i) = inputs.iter().position(|i| i.ty == ty) {
            return Ok(Some(i));
        }
        Ok(inputs
            .iter()
            .position(|i| valid_connection(i.ty, output_type) && valid_connection(i.ty, ty)))
    }

    /// `ExecutableNodeDTO.resolveInput` as a loop: input `start_slot` of DTO `start` resolved to
    /// the output of an emitted node (or a promoted widget value), `None` when it leads nowhere.
    fn resolve_input(
        &mut self,
        start: usize,
        start_slot: usize,
    ) -> Result<Option<Resolved>, ConvertError> {
        let mut visited: HashSet<(usize, bool, i64)> = HashSet::new();
        let mut step = Step::In(start, i64::try_from(start_slot).unwrap_or(i64::MAX), None);
        loop {
            let (d, is_out, slot) = match &step {
                Step::In(d, slot, _) => (*d, false, *slot),
                Step::Out(o, slot, _) => (*o, true, *slot),
            };
            if !visited.insert((d, is_out, slot)) {
                return Err(ConvertError::Circular {
                    node_id: self.dtos[d].exec_id.clone(),
                    slot,
                });
            }
            let flow = match step {
                Step::In(d, slot, ty) => self.step_in(d, slot, ty)?,
                Step::Out(o, slot, ty) => self.step_out(o, slot, ty)?,
            };
            match flow {
                Flow::Next(next) => step = next,
                Flow::Done(resolved) => return Ok(resolved),
            }
        }
    }

    /// From input `slot` of DTO `d` to what its link comes from. `ty` is the type being resolved
    /// when coming back through a virtual node (else the input's own type).
    fn step_in(&mut self, d: usize, slot: i64, ty: Option<String>) -> Result<Flow, ConvertError> {
        if let Some((w, index)) = self.dtos[d].group_child {
            return Ok(Flow::Done(
                self.group_child_input(w, index, slot)?
                    .map(|(o, s)| Resolved::Link(o, s)),
            ));
        }
        let dto = &self.dtos[d];
        let input = usize::try_from(slot)
            .ok()
            .and_then(|s| dto.inputs.get(s))
            .ok_or_else(|| ConvertError::NoSuchInput {
                node_id: dto.exec_id.clone(),
                slot,
            })?;
        let Some(link_id) = input.link else {
            return Ok(Flow::Done(None));
        };
        let Some(link) = dto.graph.links.get(&link_id) else {
            return Err(ConvertError::InvalidLink {
                node_id: dto.exec_id.clone(),
                slot: slot as usize,
                input: input.name.to_owned(),
                link_id,
            });
        };
        if let (Some(w), true) = (dto.wrapper, link.origin_id == SUBGRAPH_INPUT_ID) {
            return self.wrapper_input(w, link.origin_slot);
        }
        let Some(origin) = self.find_node(dto.graph, &link.origin_id) else {
            return Err(ConvertError::MissingOriginNode {
                node_id: dto.exec_id.clone(),
                slot: slot as usize,
                input: input.name.to_owned(),
                origin_id: link.origin_id.clone(),
            });
        };
        let Some(&o) = self.by_exec.get(&format!("{}{}", dto.prefix, origin.id)) else {
            return Ok(Flow::Done(None));
        };
        let ty = ty.unwrap_or_else(|| input.ty.to_owned());
        Ok(Flow::Next(Step::Out(o, link.origin_slot, ty)))
    }

    /// Out of a subgraph through its input `outer_slot`: to what feeds that input of wrapper
    /// `w` outside, or the wrapper's promoted widget value when nothing is linked there.
    fn wrapper_input(&mut self, w: usize, outer_slot: i64) -> Result<Flow, ConvertError> {
        let wd = &self.dtos[w];
        let wi = usize::try_from(outer_slot)
            .ok()
            .and_then(|s| wd.inputs.get(s))
            .ok_or_else(|| ConvertError::NoSuchInput {
                node_id: wd.exec_id.clone(),
                slot: outer_slot,
            })?;
        let Some(outer_id) = wi.link else {
            let name = wi.name.to_owned();
            return Ok(Flow::Done(
                self.promoted_value(w, &name).map(Resolved::Widget),
            ));
        };
        if !wd.graph.links.contains_key(&outer_id) {
            return Err(ConvertError::InvalidLink {
                node_id: wd.exec_id.clone(),
                slot: outer_slot as usize,
                input: wi.name.to_owned(),
                link_id: outer_id,
            });
        }
        // The frontend goes on at the outer link's `target_slot`, which its load rewrites to
        // the input's position in the definition's order (`fixLinkInputSlots`): the same input.
        // The saved `target_slot` may be stale (an instance saved with fewer inputs).
        Ok(Flow::Next(Step::In(w, outer_slot, None)))
    }

    /// From output `slot` of DTO `o` (resolving type `ty`): a regular node is the answer; a
    /// bypassed, virtual, subgraph or group node passes on to another slot.
    fn step_out(&self, o: usize, slot: i64, ty: String) -> Result<Flow, ConvertError> {
        let dto = &self.dtos[o];
        if dto.kind == Kind::Group {
            if dto.mode == MODE_BYPASS {
                // Group nodes keep the older rule: the first input of exactly the type.
                let s = usize::try_from(slot).ok();
                let found = s
                    .into_iter()
                    .chain(0..dto.inputs.len())
                    .find(|&i| dto.inputs.get(i).is_some_and(|x| x.ty == ty));
                let Some(i) = found else {
                    return Ok(Flow::Done(None));
                };
                return Ok(Flow::Next(Step::In(
                    o,
                    i64::try_from(i).unwrap_or(i64::MAX),
                    None,
                )));
            }
            let (child, s) = self.group_output(o, slot)?;
            return Ok(Flow::Done(Some(Resolved::Link(child, s))));
        }
        if dto.mode == MODE_BYPASS {
            let Some(i) = self.bypass_slot_index(o, slot, &ty)? else {
                return Ok(Flow::Done(None));
            };
            return Ok(Flow::Next(Step::In(
                o,
                i64::try_from(i).unwrap_or(i64::MAX),
                None,
            )));
        }
        match dto.kind {
            Kind::Subgraph => self.subgraph_output(o, slot, ty),
            Kind::Virtual => {
                let has_input = usize::try_from(slot)
                    .ok()
                    .and_then(|s| dto.inputs.get(s))
                    .is_some();
                Ok(if has_input {
                    Flow::Next(Step::In(o, slot, Some(ty)))
                } else {
                    Flow::Done(None)
                })
            }
            Kind::Regular => Ok(Flow::Done(Some(Resolved::Link(o, slot)))),
            Kind::Group => Ok(Flow::Done(None)),
        }
    }

    /// Into subgraph instance `o` through its output `slot`: to the inner node wired to it.
    fn subgraph_output(&self, o: usize, slot: i64, ty: String) -> Result<Flow, ConvertError> {
        let dto = &self.dtos[o];
        let def = dto.subgraph.and_then(|id| self.ui.subgraphs.get(id));
        let out = def.and_then(|d| usize::try_from(slot).ok().and_then(|s| d.outputs.get(s)));
        let (Some(def), Some(out)) = (def, out) else {
            return Err(ConvertError::NoSuchOutput {
                node_id: dto.exec_id.clone(),
                slot,
            });
        };
        let link = out
            .link_ids
            .iter()
            .filter_map(|l| def.graph.links.get(l))
            .find(|l| l.target_id == SUBGRAPH_OUTPUT_ID)
            .or_else(|| {
                def.graph
                    .links
                    .values()
                    .find(|l| l.target_id == SUBGRAPH_OUTPUT_ID && l.target_slot == slot)
            });
        let Some(link) = link else {
            return Ok(Flow::Done(None));
        };
        if link.origin_id == SUBGRAPH_INPUT_ID {
            return Err(ConvertError::SubgraphPassThrough {
                node_id: dto.exec_id.clone(),
                slot,
            });
        }
        let inner = format!("{}:{}", dto.exec_id, link.origin_id);
        let Some(&i) = self.by_exec.get(&inner) else {
            return Err(ConvertError::MissingOriginNode {
                node_id: dto.exec_id.clone(),
                slot: slot as usize,
                input: out.name.clone(),
                origin_id: inner,
            });
        };
        Ok(Flow::Next(Step::Out(i, link.origin_slot, ty)))
    }

    fn title(&self, dto: usize, titles: &'w Titles) -> String {
        let node = self.dtos[dto].node;
        match &node.title {
            Some(t) => t.clone(),
            None => titles.default_title(&node.class, self.oi).to_owned(),
        }
    }

    fn emit(
        mut self,
        titles: &'w Titles,
    ) -> Result<(ApiPrompt, Vec<(String, String)>), ConvertError> {
        let mut output = ApiPrompt::new();
        let mut unknown = Vec::new();
        // Map order: the first DTO registered under an id wins, as with the frontend's Map.
        let mut order: Vec<usize> = self.by_exec.values().copied().collect();
        order.sort_unstable();
        for d in order {
            let dto = &self.dtos[d];
            if dto.kind != Kind::Regular || dto.mode == MODE_NEVER || dto.mode == MODE_BYPASS {
                continue;
            }
            let node = dto.node;
            let exec_id = dto.exec_id.clone();
            let mut inputs: IndexMap<String, Value> = IndexMap::new();
            if let Some(widgets) = self.widgets(&node.class).map(<[Widget]>::to_vec) {
                let values = widget_values(&widgets, node.widgets_values.as_ref());
                for (w, mut v) in widgets.iter().zip(values) {
                    if w.name.is_empty() || !w.in_prompt {
                        continue;
                    }
                    if let Some(o) = self
                        .overrides
                        .get(&(d, w.name.clone()))
                        .or_else(|| self.synced.get(&(std::ptr::from_ref(node), w.name.clone())))
                    {
                        v = o.clone();
                    }
                    if w.name == "filename_prefix"
                        && SAVE_NODE_TYPES.contains(&node.class.as_str())
                        && !v.is_string()
                    {
                        return Err(ConvertError::FilenamePrefixNotText {
                            node_id: exec_id,
                            class: node.class.clone(),
                            value: v.to_string(),
                        });
                    }
                    if w.dynamic_prompts
                        && let Value::String(s) = &v
                    {
                        v = Value::String(process_dynamic_prompt(s));
                    }
                    inputs.insert(w.name.clone(), wrap_array(v));
                }
            } else {
                unknown.push((exec_id.clone(), node.class.clone()));
            }
            let n_inputs = self.dtos[d].inputs.len();
            for i in 0..n_inputs {
                let name = self.dtos[d].inputs[i].name.to_owned();
                match self.resolve_input(d, i)? {
                    None => {}
                    Some(Resolved::Widget(v)) => {
                        inputs.insert(name, wrap_array(v));
                    }
                    Some(Resolved::Link(o, slot)) => {
                        let origin = Value::String(self.dtos[o].exec_id.clone());
                        inputs.insert(name, Value::Array(vec![origin, Value::from(slot)]));
                    }
                }
            }
            let title = self.title(d, titles);
            output.insert(
                exec_id,
                ApiNode {
                    inputs,
                    class_type: node.class.clone(),
                    meta: Some(ApiMeta { title }),
                },
            );
        }
        // Remove inputs connected to nodes that were not emitted.
        let present: HashSet<String> = output.keys().cloned().collect();
        for node in output.values_mut() {
            node.inputs.retain(|_, v| match v {
                Value::Array(a) if a.len() == 2 => match &a[0] {
                    Value::String(id) => present.contains(id),
                    _ => true,
                },
                _ => true,
            });
        }
        js_key_order(&mut output);
        Ok((output, unknown))
    }
}

fn wrap_array(v: Value) -> Value {
    if v.is_array() {
        let mut m = serde_json::Map::new();
        m.insert("__value__".to_owned(), v);
        Value::Object(m)
    } else {
        v
    }
}

/// `LGraph.computeExecutionOrder`: a topological order of the root graph (Kahn's algorithm, ties
/// in file order); nodes on a cycle follow in file order.
fn execution_order(graph: &UiGraph) -> Vec<usize> {
    let n = graph.nodes.len();
    let pos: HashMap<&str, usize> = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, x)| (x.id.as_str(), i))
        .collect();
    let mut indeg = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in graph.nodes.iter().enumerate() {
        for input in &node.inputs {
            let Some(link) = input.link.and_then(|l| graph.links.get(&l)) else {
                continue;
            };
            if let Some(&o) = pos.get(link.origin_id.as_str()) {
                out[o].push(i);
                indeg[i] += 1;
            }
        }
    }
    let mut queue: VecDeque<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    let mut done = vec![false; n];
    while let Some(i) = queue.pop_front() {
        if done[i] {
            continue;
        }
        done[i] = true;
        order.push(i);
        for &t in &out[i] {
            indeg[t] = indeg[t].saturating_sub(1);
            if indeg[t] == 0 {
                queue.push_back(t);
            }
        }
    }
    order.extend((0..n).filter(|&i| !done[i]));
    order
}
