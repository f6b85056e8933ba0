//! Integration tests of comfy-local-workflow: loading, the frontend's conversion corpus, the
//! conversion rules one by one, property tests and the dependency check.

// Test builders take JSON by value so call sites stay short.
#![expect(
    clippy::needless_pass_by_value,
    reason = "test helpers take owned values for readable call sites"
)]

mod common;
mod convert;
mod deps;
mod load;
mod oracle;
mod properties;
mod rules;
