//! ComfyUI client (HTTP + WebSocket): one typed method per endpoint, and prompt runs followed to
//! their outputs. Workflow formats (UI/API, conversion, dependency check) are `comfy-local-workflow`;
//! this crate uses only its `object_info` model ([`ObjectInfo`], [`NodeClass`]).
//!
//! [`ComfyClient`] is a blocking client for any ComfyUI 0.3.x URL: one method per HTTP endpoint,
//! typed answers and errors, and [`ComfyClient::run`] to follow a prompt over the WebSocket (with
//! reconnect and history polling as fallback) to its outputs.
//!
//! `submit` and `run` take any serialisable API-format prompt: `comfy-local-workflow`'s typed
//! `ApiPrompt` (loaded, or converted from a UI workflow) or plain JSON.
//!
//! ```no_run
//! use comfy_local_comfyui::{ComfyClient, ComfyError, Event, RunOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = ComfyClient::new("http://127.0.0.1:8188")?;
//! let stats = client.system_stats()?;
//! let prompt = comfy_local_workflow::load_api(&std::fs::read("workflow_api.json")?)?;
//! let mut run = client.run(&prompt, RunOptions::default())?;
//! for event in &mut run {
//!     if let Event::Executing { node: Some(node), .. } = &event {
//!         let _ = (node, &stats); // show progress
//!     }
//! }
//! let outcome = run.finish()?; // ComfyError::PromptRejected / ExecutionFailed / ... on failure
//! for (node, output) in &outcome.outputs {
//!     for file in output.all_files() {
//!         let mut out = std::fs::File::create(&file.filename).map_err(|source| ComfyError::Write {
//!             url: file.filename.clone(),
//!             source,
//!         })?;
//!         client.view(file, &mut out)?;
//!         let _ = node;
//!     }
//! }
//! # Ok(()) }
//! ```

// "ComfyUI" is a product name in prose, not code to put in backticks.
#![expect(clippy::doc_markdown, reason = "product names in prose")]

mod auth;
mod client;
mod dial;
mod error;
mod events;
mod multipart;
mod pace;
mod run;
mod types;
mod ws;

pub use client::{
    ApiPrefix, ClientOptions, ComfyClient, SubmitOptions, UploadOptions, WsHandshake,
};
/// The `object_info` model [`ComfyClient::object_info`] returns (from `comfy-local-workflow`).
pub use comfy_local_workflow::{InputSpec, InputType, NodeClass, ObjectInfo};
pub use dial::{Connection, Dialer};
pub use error::{ComfyError, ExecutionError, NodeError, NodeErrorDetail, PromptError};
pub use events::{Event, NodeProgress, Preview, PreviewFormat, parse_binary, parse_text};
pub use run::{CANCEL_LATENCY, Run, RunOptions, RunOutcome};
pub use types::{
    Device, Features, HistoryEntry, HistoryStatus, NodeOutput, OutputFile, Outputs, PromptAccepted,
    QueueItem, QueueState, SystemInfo, SystemStats, UploadedFile,
};
