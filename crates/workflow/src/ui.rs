//! The editor's UI workflow format (both the Save and the Export shape), read leniently into the
//! parts conversion needs: nodes, their slots and links, subgraph definitions and the `models`
//! metadata.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::error::WorkflowError;

/// Id of the input node inside a subgraph definition.
pub(crate) const SUBGRAPH_INPUT_ID: &str = "-10";
/// Id of the output node inside a subgraph definition.
pub(crate) const SUBGRAPH_OUTPUT_ID: &str = "-20";

/// A UI-format workflow.
#[derive(Debug, Clone)]
pub struct UiWorkflow {
    pub(crate) root: UiGraph,
    pub(crate) subgraphs: HashMap<String, SubgraphDef>,
    /// Subgraph definition ids in the file's order.
    pub(crate) subgraph_order: Vec<String>,
    pub(crate) group_nodes: HashMap<String, GroupNodeDef>,
    pub(crate) models: Vec<ModelRef>,
}

/// A model file a workflow declares it needs (`models` metadata of the workflow or of a node).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelRef {
    /// File name (may contain a subfolder).
    pub name: String,
    /// Download URL.
    pub url: Option<String>,
    /// Model folder (`checkpoints`, `loras`, ...).
    pub directory: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct UiGraph {
    pub nodes: Vec<UiNode>,
    pub links: HashMap<i64, UiLink>,
}

#[derive(Debug, Clone)]
pub(crate) struct UiNode {
    pub id: String,
    pub class: String,
    pub mode: i64,
    pub title: Option<String>,
    pub inputs: Vec<UiInput>,
    pub outputs: Vec<UiOutput>,
    pub widgets_values: Option<Value>,
}

#[derive(Debug, Clone)]
pub(crate) struct UiInput {
    pub name: String,
    pub ty: String,
    pub link: Option<i64>,
    pub widget: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct UiOutput {
    pub ty: String,
    pub links: Vec<i64>,
}

#[derive(Debug, Clone)]
pub(crate) struct UiLink {
    pub origin_id: String,
    pub origin_slot: i64,
    pub target_id: String,
    pub target_slot: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct SubgraphDef {
    pub graph: UiGraph,
    pub inputs: Vec<SubgraphIo>,
    pub outputs: Vec<SubgraphIo>,
}

#[derive(Debug, Clone)]
pub(crate) struct SubgraphIo {
    pub name: String,
    pub ty: String,
    pub link_ids: Vec<i64>,
}

/// A legacy group node definition (`extra.groupNodes[name]`).
#[derive(Debug, Clone)]
pub(crate) struct GroupNodeDef {
    /// Inner nodes; a node's index is its id inside the group.
    pub nodes: Vec<UiNode>,
    /// `(origin index, origin slot, target index, target slot)` links between inner nodes.
    pub links: Vec<(usize, i64, usize, i64)>,
    /// `(inner index, output slot)` outputs that also feed nodes outside the group.
    pub external: Vec<(usize, i64)>,
}

/// Whether a parsed JSON document has the UI workflow shape.
pub(crate) fn looks_like_ui(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| o.get("nodes").is_some_and(Value::is_array))
}

/// A node id as the frontend prints it (`String(node.id)`).
pub(crate) fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.as_i64().map_or_else(|| n.to_string(), |i| i.to_string())),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn slot_type(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

impl UiWorkflow {
    /// Reads a UI workflow from a parsed JSON document.
    pub fn from_value(v: &Value) -> Result<Self, WorkflowError> {
        let obj = v.as_object().ok_or_else(|| WorkflowError::NotAWorkflow {
            reason: "the document is not a JSON object".to_owned(),
        })?;
        let root = parse_graph(obj, "")?;
        let mut subgraphs = HashMap::new();
        let mut subgraph_order = Vec::new();
        if let Some(defs) = obj
            .get("definitions")
            .and_then(|d| d.get("subgraphs"))
            .and_then(Value::as_array)
        {
            for def in defs {
                let Some(o) = def.as_object() else { continue };
                let Some(id) = o.get("id").and_then(Value::as_str) else {
                    continue;
                };
                let graph = parse_graph(o, id)?;
                subgraph_order.push(id.to_owned());
                subgraphs.insert(
                    id.to_owned(),
                    SubgraphDef {
                        graph,
                        inputs: parse_io(o.get("inputs")),
                        outputs: parse_io(o.get("outputs")),
                    },
                );
            }
        }
        let mut group_nodes = HashMap::new();
        if let Some(groups) = obj
            .get("extra")
            .and_then(|e| e.get("groupNodes"))
            .and_then(Value::as_object)
        {
            for (name, def) in groups {
                if let Some(g) = parse_group_def(def) {
                    group_nodes.insert(name.clone(), g);
                }
            }
        }
        let mut models = Vec::new();
        collect_models(obj.get("models"), &mut models);
        let mut all_nodes: Vec<&Value> = obj
            .get("nodes")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        if let Some(defs) = obj
            .get("definitions")
            .and_then(|d| d.get("subgraphs"))
            .and_then(Value::as_array)
        {
            for def in defs {
                if let Some(nodes) = def.get("nodes").and_then(Value::as_array) {
                    all_nodes.extend(nodes.iter());
                }
            }
        }
        for n in all_nodes {
            collect_models(
                n.get("properties").and_then(|p| p.get("models")),
                &mut models,
            );
        }
        Ok(Self {
            root,
            subgraphs,
            subgraph_order,
            group_nodes,
            models,
        })
    }

    /// The `models` metadata of the workflow and of its nodes (name, url, directory).
    pub fn models(&self) -> &[ModelRef] {
        &self.models
    }

    /// Number of nodes in the root graph.
    pub fn node_count(&self) -> usize {
        self.root.nodes.len()
    }
}

pub(crate) fn collect_models(v: Option<&Value>, out: &mut Vec<ModelRef>) {
    let Some(list) = v.and_then(Value::as_array) else {
        return;
    };
    for m in list {
        let Some(name) = m.get("name").and_then(Value::as_str) else {
            continue;
        };
        let r = ModelRef {
            name: name.to_owned(),
            url: m.get("url").and_then(Value::as_str).map(str::to_owned),
            directory: m
                .get("directory")
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
        if !out.contains(&r) {
            out.push(r);
        }
    }
}

fn parse_io(v: Option<&Value>) -> Vec<SubgraphIo> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|io| SubgraphIo {
                    name: io
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    ty: slot_type(io.get("type")),
                    link_ids: io
                        .get("linkIds")
                        .and_then(Value::as_array)
                        .map(|l| l.iter().filter_map(as_int).collect())
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn parse_graph(obj: &Map<String, Value>, graph_name: &str) -> Result<UiGraph, WorkflowError> {
    let nodes_v = match obj.get("nodes") {
        Some(Value::Array(a)) => a.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => {
            return Err(WorkflowError::Malformed {
                path: format!("{graph_name}nodes"),
                reason: "must be an array".to_owned(),
            });
        }
    };
    let mut nodes = Vec::with_capacity(nodes_v.len());
    for (i, n) in nodes_v.iter().enumerate() {
        nodes.push(parse_node(n).map_err(|reason| WorkflowError::Malformed {
            path: format!(
                "{graph_name}{}nodes[{i}]",
                if graph_name.is_empty() { "" } else { "/" }
            ),
            reason,
        })?);
    }
    let mut links = HashMap::new();
    if let Some(arr) = obj.get("links").and_then(Value::as_array) {
        for l in arr {
            let parsed = match l {
                // Save shape: [id, origin_id, origin_slot, target_id, target_slot, type]
                Value::Array(a) if a.len() >= 5 => (|| {
                    Some((
                        as_int(&a[0])?,
                        UiLink {
                            origin_id: id_string(&a[1])?,
                            origin_slot: as_int(&a[2])?,
                            target_id: id_string(&a[3])?,
                            target_slot: as_int(&a[4])?,
                        },
                    ))
                })(),
                // Export / subgraph shape: {id, origin_id, origin_slot, target_id, target_slot, type}
                Value::Object(o) => (|| {
                    Some((
                        as_int(o.get("id")?)?,
                        UiLink {
                            origin_id: id_string(o.get("origin_id")?)?,
                            origin_slot: as_int(o.get("origin_slot")?)?,
                            target_id: id_string(o.get("target_id")?)?,
                            target_slot: as_int(o.get("target_slot")?)?,
                        },
                    ))
                })(),
                _ => None,
            };
            if let Some((id, link)) = parsed {
                links.entry(id).or_insert(link);
            }
        }
    }
    Ok(UiGraph { nodes, links })
}

pub(crate) fn parse_node(n: &Value) -> Result<UiNode, String> {
    let o = n.as_object().ok_or("a node must be an object")?;
    let id = o
        .get("id")
        .and_then(id_string)
        .ok_or("a node needs an id (number or string)")?;
    let class = match o.get("type") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(format!("node {id} has no type")),
    };
    let mode = o.get("mode").and_then(as_int).unwrap_or(0);
    let title = o.get("title").and_then(Value::as_str).map(str::to_owned);
    let inputs = o
        .get("inputs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|i| UiInput {
                    name: i
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    ty: slot_type(i.get("type")),
                    link: i.get("link").and_then(as_int),
                    widget: i
                        .get("widget")
                        .and_then(|w| w.get("name"))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                })
                .collect()
        })
        .unwrap_or_default();
    let outputs = o
        .get("outputs")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| UiOutput {
                    ty: slot_type(x.get("type")),
                    links: x
                        .get("links")
                        .and_then(Value::as_array)
                        .map(|l| l.iter().filter_map(as_int).collect())
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(UiNode {
        id,
        class,
        mode,
        title,
        inputs,
        outputs,
        widgets_values: o.get("widgets_values").cloned(),
    })
}

fn parse_group_def(def: &Value) -> Option<GroupNodeDef> {
    let nodes = def
        .get("nodes")?
        .as_array()?
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut n = n.clone();
            if let Some(o) = n.as_object_mut() {
                o.insert("id".to_owned(), Value::from(i));
            }
            parse_node(&n).ok()
        })
        .collect::<Option<Vec<_>>>()?;
    let index = |v: Option<&Value>| v.and_then(as_int).and_then(|i| usize::try_from(i).ok());
    let links = def
        .get("links")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|l| {
                    let l = l.as_array()?;
                    Some((
                        index(l.first())?,
                        as_int(l.get(1)?)?,
                        index(l.get(2))?,
                        as_int(l.get(3)?)?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let external = def
        .get("external")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| {
                    let e = e.as_array()?;
                    Some((index(e.first())?, as_int(e.get(1)?)?))
                })
                .collect()
        })
        .unwrap_or_default();
    Some(GroupNodeDef {
        nodes,
        links,
        external,
    })
}
