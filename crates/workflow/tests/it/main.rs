//! Integration tests of comfy-local-workflow: loading, the frontend's conversion corpus, the
//! conversion rules one by one, property tests and the dependency check.

// "ComfyUI" is a product name in prose, not code to put in backticks.
#![allow(clippy::doc_markdown)]
// Test builders take JSON by value so call sites stay short.
#![allow(clippy::needless_pass_by_value)]

mod common;
mod convert;
mod deps;
mod load;
mod properties;
mod rules;
