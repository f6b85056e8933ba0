//! ComfyUI client (HTTP + WebSocket) and workflow formats (UI/API, conversion, dependency check).
//!
//! [`ComfyClient`] is a blocking client for any ComfyUI 0.3.x URL: one method per HTTP endpoint,
//! typed answers and errors, and [`ComfyClient::run`] to follow a prompt over the WebSocket (with
//! reconnect and history polling as fallback) to its outputs.
//!
//! ```no_run
//! use comfy_local_comfyui::{ComfyClient, ComfyError, Event, RunOptions};
//!
//! # fn main() -> Result<(), ComfyError> {
//! let client = ComfyClient::new("http://127.0.0.1:8188")?;
//! let stats = client.system_stats()?;
//! let prompt: serde_json::Value = serde_json::json!({ /* API-format workflow */ });
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
#![allow(clippy::doc_markdown)]

mod client;
mod dial;
mod error;
mod events;
mod multipart;
mod run;
mod types;
mod ws;

pub use client::{
    ApiPrefix, ClientOptions, ComfyClient, SubmitOptions, UploadOptions, WsHandshake,
};
pub use dial::{Connection, Dialer};
pub use error::{ComfyError, ExecutionError, NodeError, NodeErrorDetail, PromptError};
pub use events::{Event, NodeProgress, Preview, PreviewFormat, parse_binary, parse_text};
pub use run::{Run, RunOptions, RunOutcome};
pub use types::{
    Device, Features, HistoryEntry, HistoryStatus, NodeClass, NodeOutput, ObjectInfo, OutputFile,
    Outputs, PromptAccepted, QueueItem, QueueState, SystemInfo, SystemStats, UploadedFile,
};
pub mod workflow;
