//! `install missing`: the plan that turns a workflow's dependency report into model and node
//! installs (from the URLs and repositories the workflow, or a node map the user gives, names),
//! and its execution through [`install_model`] and [`install_node`].
//!
//! The `_resolved` variants take the instance already resolved, so that one `install missing`
//! (check, plan, installs, re-check) resolves it once: for a rented instance each resolve is
//! a provider API request.
//!
//! A missing model is planned when the workflow's `models` metadata gives its URL; a missing
//! node class when the user's node map names its repository, else when the node's
//! `properties.aux_id` (GitHub `owner/repo`) does (pinned to `properties.ver` when that is a
//! full commit id). A Comfy Registry id (`cnr_id`) names no repository without asking the
//! registry, which is not done: such a class is unresolved. Every source is checked as the
//! installs check it (URL scheme, model folder and file name, allowed git host, node folder
//! name) while planning, so the dry run already shows every refusal that needs no host (what
//! the host's folders hold, symlinks included, is checked by the installs themselves).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;

use camino::Utf8Path;
use comfy_local_config::Config;
use comfy_local_remote_fs::{HostOs, RelPath};
use comfy_local_workflow::{DependencyReport, MissingModel, Sources};
use serde::Serialize;

use super::node::GitSource;
use super::{
    DataPath, InstallError, InstallEvent, InstallModelRequest, InstallNodeRequest, InstallOutcome,
    InstallSpec, NodeError, NodeEvent, NodeOutcome, install_model, install_model_resolved,
    install_node, install_node_resolved,
};
use crate::SdkError;
use crate::connection::{ResolvedInstance, resolve, resolve_env};
use crate::workflow::{check, client_for_resolved, inventory, load_workflow, object_info_from};

/// Node class -> repository URL, as the user's `--node-map` file gives them.
pub type NodeMap = BTreeMap<String, String>;

/// Where a planned node's repository came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeVia {
    /// The user's node map.
    NodeMap,
    /// The node's `properties.aux_id`.
    AuxId,
}

/// A model to download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedModel {
    pub folder: String,
    /// File name below the folder, as the workflow writes it.
    pub name: String,
    pub url: String,
    pub node_ids: Vec<String>,
}

/// A repository to clone (once, however many missing classes it provides).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedNode {
    pub url: String,
    /// The commit to check out; `None`: the remote's HEAD.
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    /// The folder under `custom_nodes/`.
    pub folder: String,
    /// The missing classes it is expected to provide.
    pub classes: Vec<String>,
    pub via: NodeVia,
}

/// Something missing that the plan cannot install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Unresolved {
    Model {
        folder: String,
        name: String,
        node_ids: Vec<String>,
        reason: String,
    },
    Node {
        class_type: String,
        node_ids: Vec<String>,
        reason: String,
    },
    /// The UI workflow could not be converted, so its models were not checked.
    Conversion { reason: String },
}

/// What `install missing` would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub instance: String,
    pub models: Vec<PlannedModel>,
    pub nodes: Vec<PlannedNode>,
    pub unresolved: Vec<Unresolved>,
    /// Files missing from `input/`: not installed by this command (`run --input` uploads them).
    pub missing_inputs: Vec<String>,
}

impl Plan {
    /// Whether everything missing (input files aside) has a source.
    pub fn is_complete(&self) -> bool {
        self.unresolved.is_empty()
    }

    /// Whether there is nothing to install.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty() && self.nodes.is_empty()
    }
}

/// Reads a node map file: a JSON object `{"ClassName": "https://github.com/owner/repo"}`.
pub fn read_node_map(path: &Utf8Path) -> Result<NodeMap, SdkError> {
    let bytes = std::fs::read(path).map_err(|source| SdkError::Io {
        op: "reading",
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| SdkError::NodeMap {
        path: path.to_owned(),
        reason: format!("expected a JSON object of class name -> repository URL: {e}"),
    })
}

/// `github.com/<aux_id>` when `aux_id` is `owner/repo` in GitHub's characters.
fn github_url(aux_id: &str) -> Option<String> {
    let (owner, repo) = aux_id.split_once('/')?;
    let ok = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    (ok(owner) && ok(repo)).then(|| format!("https://github.com/{owner}/{repo}"))
}

fn is_commit(ver: &str) -> bool {
    ver.len() == 40 && ver.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Builds the plan from a dependency report. `config` gives the allowed git hosts; whether
/// `instance`'s ComfyUI is on Windows (for the file-name rules) comes from resolving it (a
/// rented instance: one request to its provider; one that does not resolve: POSIX rules).
/// [`plan_resolved`] asks nothing of anyone.
pub fn plan(
    config: &Config,
    instance: &str,
    report: &DependencyReport,
    sources: &Sources,
    node_map: &NodeMap,
) -> Plan {
    let os = match resolve_env(config, Some(instance)) {
        Ok(r) => host_os(&r),
        Err(_) => HostOs::Posix,
    };
    plan_for(config, instance, os, report, sources, node_map)
}

/// [`plan`] for an already resolved instance (pure: no host, no network).
pub fn plan_resolved(
    config: &Config,
    resolved: &ResolvedInstance,
    report: &DependencyReport,
    sources: &Sources,
    node_map: &NodeMap,
) -> Plan {
    plan_for(
        config,
        resolved.id(),
        host_os(resolved),
        report,
        sources,
        node_map,
    )
}

/// The path rules of the instance's ComfyUI install.
fn host_os(resolved: &ResolvedInstance) -> HostOs {
    if resolved.instance.comfyui.path.is_windows() {
        HostOs::Windows
    } else {
        HostOs::Posix
    }
}

/// The plan, with the file names checked by the rules of `os`.
fn plan_for(
    config: &Config,
    instance: &str,
    os: HostOs,
    report: &DependencyReport,
    sources: &Sources,
    node_map: &NodeMap,
) -> Plan {
    let mut out = Plan {
        instance: instance.to_owned(),
        ..Plan::default()
    };
    if let Some(reason) = &report.conversion_error {
        out.unresolved.push(Unresolved::Conversion {
            reason: reason.clone(),
        });
    }
    for m in &report.missing_models {
        match plan_model(m, sources, os) {
            Ok(p) => out.models.push(p),
            Err(u) => out.unresolved.push(u),
        }
    }
    let mut nodes: BTreeMap<String, PlannedNode> = BTreeMap::new();
    for n in &report.missing_nodes {
        let unresolved = |reason: String| Unresolved::Node {
            class_type: n.class_type.clone(),
            node_ids: n.node_ids.clone(),
            reason,
        };
        let (url, git_ref, via) = match node_source(&n.class_type, sources, node_map) {
            Ok(found) => found,
            Err(reason) => {
                out.unresolved.push(unresolved(reason));
                continue;
            }
        };
        if let Some(planned) = nodes.get_mut(&url) {
            planned.classes.push(n.class_type.clone());
            continue;
        }
        match GitSource::parse(&url, &config.resources.allowed_git_hosts, HostOs::Posix) {
            Ok(source) => {
                nodes.insert(
                    url.clone(),
                    PlannedNode {
                        url,
                        git_ref,
                        folder: source.name.as_str().to_owned(),
                        classes: vec![n.class_type.clone()],
                        via,
                    },
                );
            }
            Err(e) => out.unresolved.push(unresolved(crate::error_chain(&e))),
        }
    }
    out.nodes = nodes.into_values().collect();
    out.missing_inputs = report
        .missing_inputs
        .iter()
        .map(|i| i.name.clone())
        .collect();
    out
}

/// A missing model with a URL that `install model` accepts, or why it cannot be planned.
fn plan_model(m: &MissingModel, sources: &Sources, os: HostOs) -> Result<PlannedModel, Unresolved> {
    let unresolved = |reason: String| Unresolved::Model {
        folder: m.folder.clone(),
        name: m.name.clone(),
        node_ids: m.node_ids.clone(),
        reason,
    };
    let url = m
        .url
        .as_deref()
        .or_else(|| sources.model_url(&m.name))
        .map(str::to_owned)
        .ok_or_else(|| {
            unresolved("the workflow's models metadata gives no URL for it".to_owned())
        })?;
    let req = InstallModelRequest {
        url: url.clone(),
        folder: m.folder.clone(),
        name: Some(m.name.clone()),
        sha256: None,
        force: false,
        instance: None,
        retries: 0,
    };
    InstallSpec::parse(&req, u64::MAX).map_err(|e| unresolved(crate::error_chain(&e)))?;
    RelPath::parse(&m.name, os).map_err(|e| unresolved(format!("refusing the file name: {e}")))?;
    Ok(PlannedModel {
        folder: m.folder.clone(),
        name: m.name.clone(),
        url,
        node_ids: m.node_ids.clone(),
    })
}

/// The repository (URL, pinned commit, where it came from) of a missing class, or why none is
/// known.
fn node_source(
    class: &str,
    sources: &Sources,
    node_map: &NodeMap,
) -> Result<(String, Option<String>, NodeVia), String> {
    if let Some(url) = node_map.get(class) {
        return Ok((url.clone(), None, NodeVia::NodeMap));
    }
    let origin = sources.nodes.get(class);
    if let Some(aux) = origin.and_then(|o| o.aux_id.as_deref()) {
        let url = github_url(aux).ok_or_else(|| {
            format!(
                "properties.aux_id {:?} is not a GitHub owner/repo",
                aux.escape_debug().to_string()
            )
        })?;
        let pinned = origin.and_then(|o| o.ver.clone()).filter(|v| is_commit(v));
        return Ok((url, pinned, NodeVia::AuxId));
    }
    Err(match origin.and_then(|o| o.cnr_id.as_deref()) {
        Some("comfy-core") => {
            "a ComfyUI core node (cnr_id comfy-core) this ComfyUI lacks: update ComfyUI".to_owned()
        }
        Some(id) => format!(
            "Comfy Registry id {:?}: its repository is not known without asking the registry; name it in --node-map",
            id.escape_debug().to_string()
        ),
        None => "the workflow names no repository for it; name it in --node-map".to_owned(),
    })
}

/// The dependency check and the plan for a workflow file on an instance.
#[derive(Debug, Clone)]
pub struct Checked {
    pub report: DependencyReport,
    pub plan: Plan,
}

/// Loads the workflow, checks it against the instance (as `workflow deps` does) and plans.
pub fn check_missing(
    config: &Config,
    instance: Option<&str>,
    workflow: &Utf8Path,
    node_map: &NodeMap,
) -> Result<Checked, SdkError> {
    let resolved = resolve_env(config, instance)?;
    check_missing_resolved(config, &resolved, workflow, node_map)
}

/// [`check_missing`] on an already resolved instance.
pub fn check_missing_resolved(
    config: &Config,
    resolved: &ResolvedInstance,
    workflow: &Utf8Path,
    node_map: &NodeMap,
) -> Result<Checked, SdkError> {
    let wf = load_workflow(workflow)?;
    let bytes = std::fs::read(workflow).map_err(|source| SdkError::Io {
        op: "reading",
        path: workflow.to_owned(),
        source,
    })?;
    let sources = Sources::from_slice(&bytes).map_err(|source| SdkError::Workflow {
        path: workflow.to_string(),
        source,
    })?;
    let target = client_for_resolved(resolved)?;
    let object_info = object_info_from(&target.client)?;
    let inventory = inventory(&target.client, object_info)?;
    let report = check(&wf, &inventory);
    let plan = plan_resolved(config, resolved, &report, &sources, node_map);
    Ok(Checked { report, plan })
}

/// A step of [`execute`].
#[derive(Debug)]
pub enum MissingEvent<'a> {
    /// A model install starts.
    ModelStarted(&'a PlannedModel),
    /// Progress of the model install.
    Model(&'a InstallEvent),
    /// A model install ended.
    ModelDone(&'a PlannedModel, &'a Result<InstallOutcome, InstallError>),
    /// A node install starts.
    NodeStarted(&'a PlannedNode),
    /// A step of the node install.
    Node(&'a NodeEvent),
    /// A node install ended.
    NodeDone(&'a PlannedNode, &'a Result<NodeOutcome, NodeError>),
}

impl MissingEvent<'_> {
    /// The event as a JSON object (`install missing --json`'s lines, the Python callbacks):
    /// the installs' own events as they serialise, each item's start as `installing` and its
    /// end as `installed` (with the result) or `failed` (with the error chain).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let done =
            |kind: &str, item: serde_json::Value, result: Result<serde_json::Value, String>| {
                match result {
                    Ok(o) => json!({"event": "installed", "kind": kind, "item": item, "result": o}),
                    Err(e) => json!({"event": "failed", "kind": kind, "item": item, "error": e}),
                }
            };
        match self {
            MissingEvent::Model(e) => json!(e),
            MissingEvent::Node(e) => json!(e),
            MissingEvent::ModelStarted(m) => {
                json!({"event": "installing", "kind": "model", "item": m})
            }
            MissingEvent::NodeStarted(n) => {
                json!({"event": "installing", "kind": "node", "item": n})
            }
            MissingEvent::ModelDone(m, r) => done(
                "model",
                json!(m),
                r.as_ref()
                    .map(|o| json!(o))
                    .map_err(|e| crate::error_chain(e)),
            ),
            MissingEvent::NodeDone(n, r) => done(
                "node",
                json!(n),
                r.as_ref()
                    .map(|o| json!(o))
                    .map_err(|e| crate::error_chain(e)),
            ),
        }
    }
}

/// How [`execute`] went: one entry per planned item, in plan order (models first).
#[derive(Debug, Default)]
pub struct Executed {
    pub models: Vec<(PlannedModel, Result<InstallOutcome, InstallError>)>,
    pub nodes: Vec<(PlannedNode, Result<NodeOutcome, NodeError>)>,
}

impl Executed {
    /// Number of items that failed.
    pub fn failures(&self) -> usize {
        self.models.iter().filter(|(_, r)| r.is_err()).count()
            + self.nodes.iter().filter(|(_, r)| r.is_err()).count()
    }

    /// Classes of the nodes installed in this run (ComfyUI loads them when it restarts).
    pub fn installed_classes(&self) -> BTreeSet<String> {
        self.nodes
            .iter()
            .filter(|(_, r)| r.is_ok())
            .flat_map(|(n, _)| n.classes.iter().cloned())
            .collect()
    }

    /// The re-check after the installs, split in two: what is still missing (the node classes
    /// installed now left out) and those classes the re-check still misses, which ComfyUI
    /// loads when it restarts.
    pub fn after(&self, again: &DependencyReport) -> (DependencyReport, Vec<String>) {
        let pending = self.installed_classes();
        let mut still = again.clone();
        still
            .missing_nodes
            .retain(|n| !pending.contains(&n.class_type));
        let restart = again
            .missing_nodes
            .iter()
            .map(|n| n.class_type.clone())
            .filter(|c| pending.contains(c))
            .collect();
        (still, restart)
    }
}

/// Runs the plan: every model through [`install_model`], every node through [`install_node`],
/// each on the plan's instance, resolved once (with `env`) for all of them; when it does not
/// resolve, each item fails with the install's own error. A failing item does not stop the
/// others; `cancel` (Ctrl-C) stops a model download and skips the items after it.
pub fn execute(
    config: &Config,
    plan: &Plan,
    env: &dyn Fn(&str) -> Option<String>,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(&MissingEvent<'_>),
) -> Executed {
    let resolved = resolve(config, Some(&plan.instance), env).ok();
    run_items(config, resolved.as_ref(), plan, env, cancel, on_event)
}

/// [`execute`] on an already resolved instance (the plan's instance id is not looked at).
pub fn execute_resolved(
    config: &Config,
    resolved: &ResolvedInstance,
    plan: &Plan,
    env: &dyn Fn(&str) -> Option<String>,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(&MissingEvent<'_>),
) -> Executed {
    run_items(config, Some(resolved), plan, env, cancel, on_event)
}

/// The installs of [`execute`]: on `resolved`, or (`None`) through the public entry points,
/// which resolve the instance themselves and say why it does not resolve.
fn run_items(
    config: &Config,
    resolved: Option<&ResolvedInstance>,
    plan: &Plan,
    env: &dyn Fn(&str) -> Option<String>,
    cancel: &AtomicBool,
    on_event: &mut dyn FnMut(&MissingEvent<'_>),
) -> Executed {
    let mut out = Executed::default();
    let instance = Some(plan.instance.clone());
    let cancelled = || cancel.load(std::sync::atomic::Ordering::SeqCst);
    for m in &plan.models {
        if cancelled() {
            break;
        }
        on_event(&MissingEvent::ModelStarted(m));
        let req = InstallModelRequest {
            url: m.url.clone(),
            folder: m.folder.clone(),
            name: Some(m.name.clone()),
            sha256: None,
            force: false,
            instance: instance.clone(),
            retries: 3,
        };
        let mut on_model = |e: &InstallEvent| on_event(&MissingEvent::Model(e));
        let result = match resolved {
            Some(r) => {
                install_model_resolved(config, r, &req, DataPath::Auto, env, cancel, &mut on_model)
            }
            None => install_model(config, &req, env, cancel, &mut on_model),
        };
        on_event(&MissingEvent::ModelDone(m, &result));
        out.models.push((m.clone(), result));
    }
    for n in &plan.nodes {
        if cancelled() {
            break;
        }
        on_event(&MissingEvent::NodeStarted(n));
        let req = InstallNodeRequest {
            url: n.url.clone(),
            git_ref: n.git_ref.clone(),
            force: false,
            instance: instance.clone(),
        };
        let mut on_node = |e: &NodeEvent| on_event(&MissingEvent::Node(e));
        let result = match resolved {
            Some(r) => install_node_resolved(config, r, &req, &mut on_node),
            None => install_node(config, &req, &mut on_node),
        };
        on_event(&MissingEvent::NodeDone(n, &result));
        out.nodes.push((n.clone(), result));
    }
    out
}

#[cfg(test)]
mod tests {
    use comfy_local_workflow::{MissingNode, NodeOrigin};

    use super::*;

    fn config() -> Config {
        Config::from_str_named(
            "local:\n  - id: local\n    ssh: { host: 127.0.0.1, key_file: /k, known_hosts_file: /kh }\n    comfyui: { path: /opt/ComfyUI }\n",
            "t.yml",
        )
        .unwrap()
    }

    fn model(name: &str, url: Option<&str>) -> MissingModel {
        MissingModel {
            folder: "checkpoints".to_owned(),
            name: name.to_owned(),
            node_ids: vec!["1".to_owned()],
            url: url.map(str::to_owned),
        }
    }

    fn node(class: &str) -> MissingNode {
        MissingNode {
            class_type: class.to_owned(),
            node_ids: vec!["2".to_owned()],
        }
    }

    fn reasons(plan: &Plan) -> Vec<String> {
        plan.unresolved
            .iter()
            .map(|u| match u {
                Unresolved::Model { reason, .. }
                | Unresolved::Node { reason, .. }
                | Unresolved::Conversion { reason } => reason.clone(),
            })
            .collect()
    }

    #[test]
    fn bad_urls_names_and_aux_ids_are_unresolved_with_their_reason() {
        let report = DependencyReport {
            missing_models: vec![
                model("a.safetensors", Some("file:///etc/passwd")),
                model("../../b.safetensors", Some("https://h/b")),
                model("c.safetensors", None),
                model("d.safetensors", Some("https://h/d")),
            ],
            missing_nodes: vec![node("A"), node("B"), node("C"), node("D")],
            ..DependencyReport::default()
        };
        let origin = |aux: &str| NodeOrigin {
            aux_id: Some(aux.to_owned()),
            ..NodeOrigin::default()
        };
        let sources = Sources {
            models: Vec::new(),
            nodes: [
                ("A".to_owned(), origin("../x")),
                ("B".to_owned(), origin("o/r/extra")),
                ("C".to_owned(), origin("o/r")),
                ("D".to_owned(), origin("o/r")),
            ]
            .into(),
        };
        let plan = plan(&config(), "local", &report, &sources, &NodeMap::new());
        assert_eq!(plan.models.len(), 1);
        assert_eq!(plan.models[0].name, "d.safetensors");
        // C and D come from one repository: one clone.
        assert_eq!(plan.nodes.len(), 1);
        assert_eq!(plan.nodes[0].classes, ["C", "D"]);
        assert_eq!(plan.nodes[0].url, "https://github.com/o/r");
        assert_eq!(plan.nodes[0].git_ref, None, "no ver: the remote's HEAD");
        let r = reasons(&plan);
        assert_eq!(r.len(), 5, "{r:#?}");
        assert!(r[0].contains("scheme is file"), "{r:#?}");
        assert!(r[1].contains("refusing the file name"), "{r:#?}");
        assert!(r[2].contains("no URL"), "{r:#?}");
        assert!(r[3].contains("not a GitHub owner/repo"), "{r:#?}");
        assert!(r[4].contains("not a GitHub owner/repo"), "{r:#?}");
    }

    #[test]
    fn a_conversion_failure_and_core_nodes_are_unresolved() {
        let report = DependencyReport {
            missing_nodes: vec![node("Core")],
            conversion_error: Some("broken link".to_owned()),
            ..DependencyReport::default()
        };
        let sources = Sources {
            models: Vec::new(),
            nodes: [(
                "Core".to_owned(),
                NodeOrigin {
                    cnr_id: Some("comfy-core".to_owned()),
                    ..NodeOrigin::default()
                },
            )]
            .into(),
        };
        let plan = plan(&config(), "local", &report, &sources, &NodeMap::new());
        assert!(!plan.is_complete());
        let r = reasons(&plan);
        assert_eq!(r[0], "broken link");
        assert!(r[1].contains("update ComfyUI"), "{r:#?}");
    }
}
