//! ComfyUI client (HTTP + WebSocket) and workflow formats (UI/API, conversion, dependency check).
//!
//! [`ComfyClient`] is a blocking client for any ComfyUI 0.3.x URL: one method per HTTP endpoint,
//! typed answers and errors, and [`ComfyClient::run`] to follow a prompt over the WebSocket (with
//! reconnect and history polling as fallback) to its outputs.

// "ComfyUI" is a product name in prose, not code to put in backticks.
#![allow(clippy::doc_markdown)]

mod client;
mod error;
mod events;
mod multipart;
mod run;
mod types;
mod ws;

pub use client::{
    ApiPrefix, ClientOptions, ComfyClient, SubmitOptions, UploadOptions, WsHandshake,
};
pub use error::{ComfyError, ExecutionError, NodeError, NodeErrorDetail, PromptError};
pub use events::{Event, NodeProgress, Preview, PreviewFormat, parse_binary, parse_text};
pub use run::{Run, RunOptions, RunOutcome};
pub use types::{
    Device, Features, HistoryEntry, HistoryStatus, NodeClass, NodeOutput, ObjectInfo, OutputFile,
    Outputs, PromptAccepted, QueueItem, QueueState, SystemInfo, SystemStats, UploadedFile,
};
pub mod workflow;
