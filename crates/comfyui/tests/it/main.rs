//! Integration tests of comfy-local-comfyui.

// Test builders take JSON by value so call sites stay short.
#![allow(clippy::needless_pass_by_value)]

mod workflow_common;
mod workflow_convert;
mod workflow_deps;
mod workflow_load;
mod workflow_proptest;
mod workflow_rules;
