//! Integration tests of comfy-local-comfyui: the client against the fake server and hostile raw
//! TCP servers, and the workflow formats against the frontend's conversion corpus.

// "ComfyUI" is a product name in prose, not code to put in backticks.
#![allow(clippy::doc_markdown)]
// Test builders take JSON by value so call sites stay short.
#![allow(clippy::needless_pass_by_value)]

mod api;
mod dial;
mod errors;
mod hostile;
mod run;
mod workflow_common;
mod workflow_convert;
mod workflow_deps;
mod workflow_load;
mod workflow_proptest;
mod workflow_rules;

use comfy_local_comfyui::{ClientOptions, ComfyClient};
use comfy_local_fake_comfyui::FakeComfy;

/// A client for the fake with short timeouts.
pub fn client(fake: &FakeComfy) -> ComfyClient {
    ComfyClient::with_options(
        &fake.url(),
        ClientOptions::default()
            .request_timeout(std::time::Duration::from_secs(10))
            .client_id("test-client"),
    )
    .expect("client")
}

pub fn workflow(name: &str) -> serde_json::Value {
    comfy_local_fake_comfyui::fixtures::load(&format!("workflows/{name}"))
}
