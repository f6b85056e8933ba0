//! Every output the ComfyUI UI would show, saved into the output folder: files history lists
//! (`output`, previews of type `temp` under `temp/`, `input`), and images output nodes such as
//! `SaveImageWebsocket` send as binary WebSocket frames. What cannot be saved is collected, not
//! skipped silently. Everything a run saves together stays within `limits.max_output_mb`.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::Write;

use camino::Utf8PathBuf;
use comfy_local_comfyui::{ComfyClient, Event, OutputFile, Outputs, PreviewFormat};
use comfy_local_workflow::{ApiPrompt, ObjectInfo};
use serde::Serialize;
use serde_json::Value;

use crate::run::{RunStep, SavedOutput};
use crate::save::{OutDir, SaveError};

/// One output ComfyUI reported that was not saved, and why.
#[derive(Debug, Clone, Serialize)]
pub struct UnsavedOutput {
    /// The node that produced it.
    pub node: String,
    /// The name as the server gave it (`subfolder/filename`, type in brackets unless `output`).
    pub name: String,
    /// Why it was not saved.
    pub reason: String,
}

/// An image an output node sent over the WebSocket.
#[derive(Debug)]
pub(crate) struct WsImage {
    node: String,
    format: PreviewFormat,
    data: Vec<u8>,
}

/// Collects the images output nodes send as binary frames while a prompt runs. A frame
/// belongs to the node named in its metadata (event 4), else to the node executing (event 1:
/// ComfyUI sends it while that node runs). Frames of nodes that are not output nodes
/// (sampler previews) are not outputs.
#[derive(Debug, Default)]
pub(crate) struct WsImages {
    output_nodes: HashSet<String>,
    executing: Option<String>,
    images: Vec<WsImage>,
    /// The WebSocket was down for part of the run: images sent meanwhile are gone.
    gap: bool,
    /// Most bytes of images kept in memory (the run's output limit).
    max_bytes: u64,
    /// Bytes of the images kept.
    held: u64,
    /// An image was dropped because the images together grew past `max_bytes`.
    over_limit: bool,
}

impl WsImages {
    /// For a prompt: its output nodes are those whose class says `output_node`. Images beyond
    /// `max_bytes` together are not kept (saving them would cross the output limit anyway).
    pub(crate) fn new(prompt: &ApiPrompt, object_info: &ObjectInfo, max_bytes: u64) -> Self {
        let output_nodes = prompt
            .iter()
            .filter(|(_, node)| {
                object_info
                    .class(&node.class_type)
                    .is_some_and(|c| c.output_node)
            })
            .map(|(id, _)| id.clone())
            .collect();
        Self {
            output_nodes,
            max_bytes,
            ..Self::default()
        }
    }

    /// Looks at one event of the prompt.
    pub(crate) fn observe(&mut self, event: &Event) {
        match event {
            Event::Executing { node, .. } => self.executing.clone_from(node),
            Event::SocketLost { .. } | Event::PollingFallback => self.gap = true,
            Event::Preview(p) => {
                let node = p
                    .metadata
                    .as_ref()
                    .and_then(|m| m.get("node_id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| self.executing.clone());
                if let Some(node) = node.filter(|n| self.output_nodes.contains(n)) {
                    let held = self.held.saturating_add(p.data.len() as u64);
                    if self.over_limit || held > self.max_bytes {
                        self.over_limit = true;
                        return;
                    }
                    self.held = held;
                    self.images.push(WsImage {
                        node,
                        format: p.format.clone(),
                        data: p.data.clone(),
                    });
                }
            }
            _ => {}
        }
    }
}

fn extension(format: &PreviewFormat) -> &str {
    match format {
        PreviewFormat::Png => "png",
        PreviewFormat::Jpeg => "jpg",
        PreviewFormat::Mime(m) => match m.as_str() {
            "image/webp" => "webp",
            "image/gif" => "gif",
            _ => "bin",
        },
        PreviewFormat::Code(_) => "bin",
    }
}

/// The most a run may save (`limits.max_output_mb`), and what is left of it.
#[derive(Debug)]
pub(crate) struct OutputBudget {
    /// The limit's config key (`local[0].limits.max_output_mb`).
    pub(crate) key: String,
    /// The limit in MiB.
    pub(crate) limit_mb: u64,
    left: Cell<u64>,
    exceeded: Cell<bool>,
}

impl OutputBudget {
    /// A budget of `limit_mb` MiB, named by `key`.
    pub(crate) fn new(key: String, limit_mb: u64) -> Self {
        Self {
            key,
            limit_mb,
            left: Cell::new(limit_mb.saturating_mul(1024 * 1024)),
            exceeded: Cell::new(false),
        }
    }

    /// The whole limit in bytes.
    pub(crate) fn bytes(&self) -> u64 {
        self.limit_mb.saturating_mul(1024 * 1024)
    }

    /// Takes `n` bytes from what is left; past the limit, marks the budget exceeded and fails.
    fn take(&self, n: u64) -> std::io::Result<()> {
        match self.left.get().checked_sub(n) {
            Some(left) if !self.exceeded.get() => {
                self.left.set(left);
                Ok(())
            }
            _ => {
                self.exceeded.set(true);
                Err(std::io::Error::other(format!(
                    "the run's outputs are larger than `{}` allows",
                    self.key
                )))
            }
        }
    }
}

/// A file that takes every byte written from an [`OutputBudget`] first.
struct Budgeted<'a> {
    file: &'a mut File,
    budget: &'a OutputBudget,
}

impl Write for Budgeted<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.budget.take(buf.len() as u64)?;
        self.file.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// What saving produced: the files saved and the outputs that were not.
#[derive(Debug, Default)]
#[expect(
    clippy::struct_field_names,
    reason = "`saved.saved` reads as what it is: the saved outputs"
)]
pub(crate) struct Saved {
    pub(crate) saved: Vec<SavedOutput>,
    pub(crate) unsaved: Vec<UnsavedOutput>,
    /// Saving stopped at the output limit (the file that crossed it was not kept).
    pub(crate) over_limit: bool,
}

impl Saved {
    /// The saved outputs of `prompt_id`, or the error when saving stopped at the output limit
    /// or left a listed output unsaved (a run or download that did not save everything it was
    /// given is not a success).
    pub(crate) fn into_outputs(
        self,
        prompt_id: &str,
        budget: &OutputBudget,
    ) -> Result<Vec<SavedOutput>, crate::SdkError> {
        if self.over_limit {
            return Err(crate::SdkError::OutputLimit {
                prompt_id: prompt_id.to_owned(),
                key: budget.key.clone(),
                limit_mb: budget.limit_mb,
                saved: self.saved.len(),
            });
        }
        if !self.unsaved.is_empty() {
            return Err(crate::SdkError::OutputsNotSaved {
                prompt_id: prompt_id.to_owned(),
                saved: self.saved.len(),
                unsaved: self.unsaved,
            });
        }
        Ok(self.saved)
    }

    fn record(
        &mut self,
        node: &str,
        kind: &str,
        name: String,
        result: Result<(Utf8PathBuf, u64), SaveError>,
        on_step: &mut dyn FnMut(RunStep<'_>),
    ) {
        match result {
            Ok((path, bytes)) => {
                on_step(RunStep::Saved {
                    path: &path,
                    bytes,
                    node,
                    kind,
                });
                self.saved.push(SavedOutput {
                    node: node.to_owned(),
                    kind: kind.to_owned(),
                    path,
                    bytes,
                });
            }
            Err(e) => self.unsaved.push(UnsavedOutput {
                node: node.to_owned(),
                name,
                reason: crate::error_chain(&e),
            }),
        }
    }
}

/// How a listed file is shown in a report.
fn listed_name(file: &OutputFile) -> String {
    let path = if file.subfolder.is_empty() {
        file.filename.clone()
    } else {
        format!("{}/{}", file.subfolder, file.filename)
    };
    if file.kind == "output" {
        format!("{path:?}")
    } else {
        format!("{path:?} [{}]", file.kind)
    }
}

/// Saves every listed file (previews of type `temp` under `temp/` unless `previews` is false;
/// type `input` under `input/`), then every WebSocket image as `websocket_<node>_<n>.<ext>`.
/// Stops at the first file that would take the outputs past `budget` (that file is not kept)
/// and says so in [`Saved::over_limit`].
pub(crate) fn save_all(
    client: &ComfyClient,
    outputs: &Outputs,
    ws: WsImages,
    out: &OutDir,
    previews: bool,
    budget: &OutputBudget,
    on_step: &mut dyn FnMut(RunStep<'_>),
) -> Saved {
    let mut result = Saved::default();
    if ws.over_limit {
        result.over_limit = true;
        return result;
    }
    for (node, output) in outputs {
        for (kind, files) in &output.files {
            for file in files {
                if budget.exceeded.get() {
                    result.over_limit = true;
                    return result;
                }
                let top = match file.kind.as_str() {
                    "output" => None,
                    "temp" if !previews => continue,
                    "temp" => Some("temp"),
                    "input" => Some("input"),
                    other => {
                        result.unsaved.push(UnsavedOutput {
                            node: node.clone(),
                            name: listed_name(file),
                            reason: format!("type {other:?} is none of output, temp, input"),
                        });
                        continue;
                    }
                };
                let folders: Vec<&str> = top
                    .into_iter()
                    .chain(file.subfolder.split('/').filter(|p| !p.is_empty()))
                    .collect();
                let saved = out.save(&folders, &file.filename, &mut |f: &mut File| {
                    let mut f = Budgeted { file: f, budget };
                    client
                        .view(file, &mut f)
                        .map_err(|e| crate::error_chain(&e))
                });
                if budget.exceeded.get() {
                    result.over_limit = true;
                    return result;
                }
                result.record(node, kind, listed_name(file), saved, on_step);
            }
        }
    }
    if ws.gap {
        let mut silent: Vec<&String> = ws
            .output_nodes
            .iter()
            .filter(|n| !outputs.contains_key(*n) && !ws.images.iter().any(|i| &i.node == *n))
            .collect();
        silent.sort();
        for node in silent {
            result.unsaved.push(UnsavedOutput {
                node: node.clone(),
                name: "its WebSocket images".to_owned(),
                reason: "the output node reported no file, and the WebSocket was down during the run, so images it sent over it are lost".to_owned(),
            });
        }
    }
    let mut counters: BTreeMap<String, u32> = BTreeMap::new();
    for image in ws.images {
        let n = counters.entry(image.node.clone()).or_insert(0);
        *n += 1;
        let name = format!(
            "websocket_{}_{n:05}.{}",
            image.node.replace(':', "-"),
            extension(&image.format)
        );
        let saved = out.save(&[], &name, &mut |f: &mut File| {
            Budgeted { file: f, budget }
                .write_all(&image.data)
                .map_err(|e| e.to_string())?;
            Ok(image.data.len() as u64)
        });
        if budget.exceeded.get() {
            result.over_limit = true;
            return result;
        }
        let shown = format!("image {n} sent over the WebSocket");
        result.record(&image.node, "websocket", shown, saved, on_step);
    }
    result
}

#[cfg(test)]
mod tests {
    use comfy_local_comfyui::{Preview, parse_binary};

    use super::*;

    fn prompt_and_info() -> (ApiPrompt, ObjectInfo) {
        let prompt: ApiPrompt = serde_json::from_value(serde_json::json!({
            "1": {"class_type": "KSampler", "inputs": {}},
            "2": {"class_type": "SaveImageWebsocket", "inputs": {}},
        }))
        .unwrap();
        let info = ObjectInfo::parse(
            br#"{"KSampler": {"input": {}, "output": ["LATENT"], "output_node": false, "name": "KSampler"},
                "SaveImageWebsocket": {"input": {}, "output": [], "output_node": true, "name": "SaveImageWebsocket"}}"#,
        )
        .unwrap();
        (prompt, info)
    }

    fn executing(node: &str) -> Event {
        Event::Executing {
            prompt_id: Some("p".to_owned()),
            node: Some(node.to_owned()),
            display_node: None,
        }
    }

    #[test]
    fn frames_of_output_nodes_are_kept_and_sampler_previews_are_not() {
        let (prompt, info) = prompt_and_info();
        let mut ws = WsImages::new(&prompt, &info, u64::MAX);
        let frame = |code: u8| parse_binary(&[0, 0, 0, 1, 0, 0, 0, code, 0xff, 0xd8]);
        ws.observe(&executing("1"));
        ws.observe(&frame(1));
        ws.observe(&executing("2"));
        ws.observe(&frame(2));
        ws.observe(&frame(2));
        let kept: Vec<(&str, &str)> = ws
            .images
            .iter()
            .map(|i| (i.node.as_str(), extension(&i.format)))
            .collect();
        assert_eq!(kept, [("2", "png"), ("2", "png")]);
        assert!(!ws.gap);
    }

    #[test]
    fn websocket_images_past_the_output_limit_are_not_held() {
        let (prompt, info) = prompt_and_info();
        let mut ws = WsImages::new(&prompt, &info, 5);
        let frame = parse_binary(&[0, 0, 0, 1, 0, 0, 0, 2, 1, 2, 3]);
        ws.observe(&executing("2"));
        ws.observe(&frame);
        assert!(!ws.over_limit);
        ws.observe(&frame);
        assert!(ws.over_limit, "6 bytes held past a 5-byte limit");
        assert_eq!(ws.images.len(), 1);
        assert_eq!(ws.held, 3);
    }

    #[test]
    fn the_budget_refuses_the_write_that_crosses_it() {
        let budget = OutputBudget::new("local[0].limits.max_output_mb".to_owned(), 1);
        assert!(budget.take(1024 * 1024 - 1).is_ok());
        assert!(budget.take(1).is_ok());
        let err = budget.take(1).unwrap_err();
        assert!(
            err.to_string().contains("`local[0].limits.max_output_mb`"),
            "{err}"
        );
        assert!(budget.exceeded.get());
        assert!(budget.take(0).is_err(), "once exceeded, always exceeded");
    }

    #[test]
    fn a_metadata_frame_names_its_node() {
        let (prompt, info) = prompt_and_info();
        let mut ws = WsImages::new(&prompt, &info, u64::MAX);
        ws.observe(&executing("1"));
        ws.observe(&Event::Preview(Preview {
            format: PreviewFormat::Mime("image/webp".to_owned()),
            metadata: Some(serde_json::json!({"node_id": "2", "prompt_id": "p"})),
            data: vec![1, 2, 3],
        }));
        assert_eq!(ws.images.len(), 1);
        assert_eq!(ws.images[0].node, "2");
        assert_eq!(extension(&ws.images[0].format), "webp");
    }
}
