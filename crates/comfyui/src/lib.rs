//! ComfyUI client (HTTP + WebSocket) and workflow formats (UI/API, conversion, dependency check).
//!
//! Not implemented yet: the ComfyUI client and workflow issues fill this crate.
pub mod workflow;
