//! Integration tests of comfy-local-comfyui: the client against the fake server and hostile raw
//! TCP servers.

mod api;
mod auth;
mod cancel;
mod dial;
mod errors;
mod hostile;
mod run;

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
