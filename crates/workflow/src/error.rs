//! Errors of loading workflows and `object_info`, and of converting UI workflows to the API format.

/// A workflow or `object_info` document could not be read. A variant with a cause (the JSON
/// parser's) keeps it as [`std::error::Error::source`], not in its own message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkflowError {
    #[error("workflow is not valid JSON")]
    Json {
        #[source]
        source: serde_json::Error,
    },
    #[error("not a ComfyUI workflow: {reason}")]
    NotAWorkflow { reason: String },
    #[error(
        "this is a UI-format workflow (the editor's Save/Export), but the API format is expected here: \
         convert it first (it has {nodes} nodes and a `links` list; the API format maps node ids to {{class_type, inputs}})"
    )]
    UiWhereApiExpected { nodes: usize },
    #[error("API-format node {node_id} is malformed: {reason}")]
    BadApiNode { node_id: String, reason: String },
    #[error("UI workflow is malformed at {path}: {reason}")]
    Malformed { path: String, reason: String },
    #[error("object_info is not valid JSON (expected the body of GET /object_info)")]
    ObjectInfoJson {
        #[source]
        source: serde_json::Error,
    },
    #[error("node titles file is not a JSON object of class -> title")]
    TitlesJson {
        #[source]
        source: serde_json::Error,
    },
}

/// A UI workflow could not be converted to the API format. The link errors are the ones the
/// frontend's own `graphToPrompt()` throws.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    #[error("node {node_id} input {slot} ({input}) uses link {link_id}, which does not exist")]
    InvalidLink {
        node_id: String,
        slot: usize,
        input: String,
        link_id: i64,
    },
    #[error(
        "node {node_id} input {slot} ({input}) is linked from node {origin_id}, which does not exist"
    )]
    MissingOriginNode {
        node_id: String,
        slot: usize,
        input: String,
        origin_id: String,
    },
    #[error("node {node_id} has no input slot {slot}")]
    NoSuchInput { node_id: String, slot: i64 },
    #[error("node {node_id} has no output slot {slot}")]
    NoSuchOutput { node_id: String, slot: i64 },
    #[error(
        "circular reference while resolving slot {slot} of node {node_id} (links, reroutes or bypassed nodes form a loop)"
    )]
    Circular { node_id: String, slot: i64 },
    #[error(
        "subgraph output {slot} of node {node_id} is wired straight to a subgraph input, which the frontend cannot resolve"
    )]
    SubgraphPassThrough { node_id: String, slot: i64 },
    #[error("subgraph {subgraph_id} contains itself (through node {node_id})")]
    SubgraphCycle {
        subgraph_id: String,
        node_id: String,
    },
    #[error("subgraphs are nested deeper than {limit} levels at node {node_id}")]
    TooDeep { node_id: String, limit: usize },
    #[error("the workflow expands to more than {limit} nodes")]
    TooManyNodes { limit: usize },
    #[error(
        "node {node_id} is a legacy group node ({name}) inside a subgraph, which the frontend does not \
         support either: convert the group node to a subgraph in the editor"
    )]
    GroupNodeInSubgraph { node_id: String, name: String },
    #[error("output {slot} of group node {node_id} cannot be resolved to a node inside the group")]
    GroupOutput { node_id: String, slot: i64 },
    #[error(
        "node {node_id} ({class}) has filename_prefix {value}, which is not text: the frontend's \
         text replacement throws on it (`value.replace is not a function`); the saved widget values \
         are probably shifted"
    )]
    FilenamePrefixNotText {
        node_id: String,
        class: String,
        value: String,
    },
    #[error("the instance does not have these node classes: {}", list_missing(.nodes))]
    UnknownNodeClasses { nodes: Vec<(String, String)> },
}

fn list_missing(nodes: &[(String, String)]) -> String {
    nodes
        .iter()
        .map(|(id, class)| format!("{class} (node {id})"))
        .collect::<Vec<_>>()
        .join(", ")
}
