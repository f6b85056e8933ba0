//! Dependency check of a workflow against an instance: every node class, model file and input
//! file the workflow needs that the instance lacks, each with the node ids that need it.
//!
//! Which model folder a loader input reads is derived, in this order:
//! 1. from `object_info`: the instance folder whose file list equals the input's combo options (the
//!    server fills a loader's combo from exactly one folder; compared as sets, `\` and `/` alike);
//! 2. a known input name (`ckpt_name` -> `checkpoints`, `lora_name` -> `loras`, ...), needed when
//!    the folder is empty and the combo therefore matches nothing;
//! 3. the `directory` of the workflow's `models` metadata for that file name.
//!
//! Input files are the values of media-upload combos (`image_upload`, `video_upload`,
//! `audio_upload`, ...) that read from `input/` (an `image_folder` of `output` is skipped, as are
//! values annotated ` [output]` / ` [temp]`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::Workflow;
use super::api::ApiPrompt;
use super::convert::convert_lenient;
use super::object_info::{InputSpec, ObjectInfo};
use super::titles::Titles;
use super::ui::{ModelRef, UiWorkflow};

/// What an instance has, filled by the caller (`object_info`, `GET /models/<folder>`, a listing of
/// `input/`).
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// The instance's node classes.
    pub object_info: ObjectInfo,
    /// Model folder -> file names (subfolders with `/` or `\`).
    pub models: BTreeMap<String, Vec<String>>,
    /// Files in `input/` (subfolders with `/` or `\`).
    pub input_files: Vec<String>,
}

/// Result of [`check_dependencies`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DependencyReport {
    /// Number of nodes checked (API-format nodes, after conversion for a UI workflow).
    pub nodes_checked: usize,
    /// Node classes the instance lacks.
    pub missing_nodes: Vec<MissingNode>,
    /// Model files missing from their folder.
    pub missing_models: Vec<MissingModel>,
    /// Files missing from `input/`.
    pub missing_inputs: Vec<MissingInput>,
    /// Set when a UI workflow could not be converted (then only node classes were checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversion_error: Option<String>,
}

/// A node class the instance lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingNode {
    pub class_type: String,
    pub node_ids: Vec<String>,
}

/// A model file missing from a folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingModel {
    pub folder: String,
    /// File name as the workflow writes it, with `/` separators.
    pub name: String,
    pub node_ids: Vec<String>,
    /// Download URL from the workflow's `models` metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A file missing from `input/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingInput {
    pub name: String,
    pub node_ids: Vec<String>,
}

impl DependencyReport {
    /// Whether nothing is missing.
    pub fn is_complete(&self) -> bool {
        self.missing_nodes.is_empty()
            && self.missing_models.is_empty()
            && self.missing_inputs.is_empty()
            && self.conversion_error.is_none()
    }
}

/// Something whose dependencies can be checked: an API prompt, a UI workflow or either.
pub trait DependencySource {
    /// The API prompt to check, the `models` metadata, and a conversion failure if any.
    #[doc(hidden)]
    fn to_checked(&self, object_info: &ObjectInfo) -> Checked<'_>;
}

#[doc(hidden)]
#[derive(Debug)]
pub struct Checked<'a> {
    prompt: std::borrow::Cow<'a, ApiPrompt>,
    models: &'a [ModelRef],
    ui_classes: Vec<(String, String)>,
    error: Option<String>,
}

impl DependencySource for ApiPrompt {
    fn to_checked(&self, _: &ObjectInfo) -> Checked<'_> {
        Checked {
            prompt: std::borrow::Cow::Borrowed(self),
            models: &[],
            ui_classes: Vec::new(),
            error: None,
        }
    }
}

impl DependencySource for UiWorkflow {
    fn to_checked(&self, object_info: &ObjectInfo) -> Checked<'_> {
        let titles = Titles::default();
        match convert_lenient(self, object_info, &titles) {
            Ok((prompt, _)) => Checked {
                prompt: std::borrow::Cow::Owned(prompt),
                models: self.models(),
                ui_classes: Vec::new(),
                error: None,
            },
            Err(e) => Checked {
                prompt: std::borrow::Cow::Owned(ApiPrompt::new()),
                models: self.models(),
                ui_classes: self.node_classes(),
                error: Some(e.to_string()),
            },
        }
    }
}

impl DependencySource for Workflow {
    fn to_checked(&self, object_info: &ObjectInfo) -> Checked<'_> {
        match self {
            Workflow::Api(p) => p.to_checked(object_info),
            Workflow::Ui(u) => u.to_checked(object_info),
        }
    }
}

fn norm(s: &str) -> String {
    s.replace('\\', "/")
}

/// Known loader input names and their model folder (used when `object_info` cannot tell).
const KNOWN_FOLDERS: &[(&str, &str)] = &[
    ("ckpt_name", "checkpoints"),
    ("lora_name", "loras"),
    ("vae_name", "vae"),
    ("clip_name", "text_encoders"),
    ("clip_name1", "text_encoders"),
    ("clip_name2", "text_encoders"),
    ("clip_name3", "text_encoders"),
    ("clip_name4", "text_encoders"),
    ("unet_name", "diffusion_models"),
    ("control_net_name", "controlnet"),
    ("style_model_name", "style_models"),
    ("clip_vision_name", "clip_vision"),
    ("gligen_name", "gligen"),
    ("hypernetwork_name", "hypernetworks"),
    ("upscale_model_name", "upscale_models"),
    ("photomaker_model_name", "photomaker"),
    ("audio_encoder_name", "audio_encoders"),
    ("model_patch_name", "model_patches"),
    ("lora", "loras"),
];

/// Class-specific inputs whose name alone is ambiguous.
const KNOWN_CLASS_FOLDERS: &[(&str, &str, &str)] = &[
    ("UpscaleModelLoader", "model_name", "upscale_models"),
    ("CLIPVisionLoader", "clip_name", "clip_vision"),
    ("DiffusersLoader", "model_path", "diffusers"),
    ("HypernetworkLoader", "hypernetwork_name", "hypernetworks"),
    ("ModelPatchLoader", "name", "model_patches"),
];

struct FolderIndex {
    /// folder -> normalised file set
    files: HashMap<String, BTreeSet<String>>,
}

impl FolderIndex {
    fn new(inv: &Inventory) -> Self {
        Self {
            files: inv
                .models
                .iter()
                .map(|(k, v)| (k.clone(), v.iter().map(|f| norm(f)).collect()))
                .collect(),
        }
    }

    fn folder_for(
        &self,
        class: &str,
        spec: &InputSpec,
        value: &str,
        models: &[ModelRef],
    ) -> Option<String> {
        if let Some(options) = spec.combo_options().filter(|o| !o.is_empty()) {
            let set: BTreeSet<String> =
                options.iter().filter_map(Value::as_str).map(norm).collect();
            if set.len() == options.len() {
                let mut hits = self
                    .files
                    .iter()
                    .filter(|(_, f)| **f == set)
                    .map(|(k, _)| k);
                if let (Some(one), None) = (hits.next(), hits.next()) {
                    return Some(one.clone());
                }
            }
        }
        if let Some((_, _, f)) = KNOWN_CLASS_FOLDERS
            .iter()
            .find(|(c, i, _)| *c == class && *i == spec.name)
        {
            return Some((*f).to_owned());
        }
        if let Some((_, f)) = KNOWN_FOLDERS.iter().find(|(i, _)| *i == spec.name) {
            return Some((*f).to_owned());
        }
        let v = norm(value);
        models
            .iter()
            .find(|m| norm(&m.name) == v)
            .and_then(|m| m.directory.clone())
    }
}

fn url_for(models: &[ModelRef], name: &str) -> Option<String> {
    let n = norm(name);
    let base = n.rsplit('/').next().unwrap_or(&n).to_owned();
    models
        .iter()
        .find(|m| norm(&m.name) == n)
        .or_else(|| {
            models
                .iter()
                .find(|m| norm(&m.name).rsplit('/').next() == Some(base.as_str()))
        })
        .and_then(|m| m.url.clone())
}

/// Checks every dependency of `workflow` against `inventory` (see the module docs for the rules).
pub fn check_dependencies<W: DependencySource + ?Sized>(
    workflow: &W,
    inventory: &Inventory,
) -> DependencyReport {
    let checked = workflow.to_checked(&inventory.object_info);
    let folders = FolderIndex::new(inventory);
    let inputs: BTreeSet<String> = inventory.input_files.iter().map(|f| norm(f)).collect();
    let mut nodes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut models: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut files: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, class) in &checked.ui_classes {
        if !inventory.object_info.contains(class) {
            nodes.entry(class.clone()).or_default().push(id.clone());
        }
    }
    for (id, node) in checked.prompt.iter() {
        let Some(class) = inventory.object_info.class(&node.class_type) else {
            nodes
                .entry(node.class_type.clone())
                .or_default()
                .push(id.clone());
            continue;
        };
        for (name, value) in &node.inputs {
            let Some(value) = value.as_str() else {
                continue;
            };
            let Some(spec) = class.input(name) else {
                continue;
            };
            if spec.combo_options().is_none() {
                continue;
            }
            if spec.media_upload || spec.audio_upload {
                if spec.image_folder.as_deref().is_some_and(|f| f != "input")
                    || value.ends_with(" [output]")
                    || value.ends_with(" [temp]")
                    || value.is_empty()
                {
                    continue;
                }
                let file = norm(value.strip_suffix(" [input]").unwrap_or(value));
                if !inputs.contains(&file) {
                    files.entry(file).or_default().push(id.clone());
                }
                continue;
            }
            let Some(folder) = folders.folder_for(&node.class_type, spec, value, checked.models)
            else {
                continue;
            };
            let file = norm(value);
            let present = folders
                .files
                .get(&folder)
                .is_some_and(|f| f.contains(&file));
            if !present {
                models.entry((folder, file)).or_default().push(id.clone());
            }
        }
    }
    DependencyReport {
        nodes_checked: checked.prompt.len(),
        missing_nodes: nodes
            .into_iter()
            .map(|(class_type, node_ids)| MissingNode {
                class_type,
                node_ids,
            })
            .collect(),
        missing_models: models
            .into_iter()
            .map(|((folder, name), node_ids)| MissingModel {
                url: url_for(checked.models, &name),
                folder,
                name,
                node_ids,
            })
            .collect(),
        missing_inputs: files
            .into_iter()
            .map(|(name, node_ids)| MissingInput { name, node_ids })
            .collect(),
        conversion_error: checked.error,
    }
}

impl UiWorkflow {
    /// `(node id, class)` of every node of the root graph and all subgraph definitions that is not
    /// a frontend-only node (Reroute, `PrimitiveNode`, notes, subgraph/group wrappers).
    fn node_classes(&self) -> Vec<(String, String)> {
        let graphs = std::iter::once(&self.root).chain(self.subgraphs.values().map(|d| &d.graph));
        graphs
            .flat_map(|g| g.nodes.iter())
            .chain(self.group_nodes.values().flat_map(|g| g.nodes.iter()))
            .filter(|n| {
                !matches!(
                    n.class.as_str(),
                    "Reroute" | "PrimitiveNode" | "Note" | "MarkdownNote"
                ) && !self.subgraphs.contains_key(&n.class)
                    && !n.class.starts_with("workflow>")
                    && !n.class.starts_with("workflow/")
                    && n.mode != 2
                    && n.mode != 4
            })
            .map(|n| (n.id.clone(), n.class.clone()))
            .collect()
    }
}

fn ids(ids: &[String]) -> String {
    let label = if ids.len() == 1 { "node" } else { "nodes" };
    format!("{label} {}", ids.join(", ").escape_debug())
}

/// Names from the workflow or the server are shown escaped (`escape_debug`): one line each,
/// so none can start a line of its own in the report.
impl fmt::Display for DependencyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_complete() {
            return writeln!(
                f,
                "All dependencies present ({} nodes checked).",
                self.nodes_checked
            );
        }
        if let Some(e) = &self.conversion_error {
            writeln!(
                f,
                "Could not convert the workflow ({e}); only node classes were checked."
            )?;
        }
        if !self.missing_nodes.is_empty() {
            writeln!(f, "Missing node classes ({}):", self.missing_nodes.len())?;
            for n in &self.missing_nodes {
                writeln!(
                    f,
                    "  {} ({})",
                    n.class_type.escape_debug(),
                    ids(&n.node_ids)
                )?;
            }
        }
        if !self.missing_models.is_empty() {
            writeln!(f, "Missing models ({}):", self.missing_models.len())?;
            for m in &self.missing_models {
                write!(
                    f,
                    "  {}/{} ({})",
                    m.folder.escape_debug(),
                    m.name.escape_debug(),
                    ids(&m.node_ids)
                )?;
                match &m.url {
                    Some(u) => writeln!(f, "\n      download: {}", u.escape_debug())?,
                    None => writeln!(f, "\n      no download URL in the workflow")?,
                }
            }
        }
        if !self.missing_inputs.is_empty() {
            writeln!(f, "Missing input files ({}):", self.missing_inputs.len())?;
            for i in &self.missing_inputs {
                writeln!(
                    f,
                    "  input/{} ({})",
                    i.name.escape_debug(),
                    ids(&i.node_ids)
                )?;
            }
        }
        Ok(())
    }
}
