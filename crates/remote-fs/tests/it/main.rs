#![allow(clippy::doc_markdown)] // product names (ComfyUI) in prose
mod corpus;
mod local;
mod scenarios;
#[cfg(feature = "ssh")]
mod sshd;
