//! Integration tests of the fake ComfyUI server: its answers must match the recorded real traffic.

// "ComfyUI" is a product name in prose, not code to put in backticks.
#![allow(clippy::doc_markdown)]

mod parity;
mod support;
