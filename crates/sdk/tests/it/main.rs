//! Integration tests of the facade against a real sshd (crates/test-support) and the fake
//! ComfyUI (crates/fake-comfyui).

mod batch;
mod common;
mod forward;
mod http_source;
mod install;
mod instances;
mod missing;
mod models;
mod nodes;
mod test_connection;
mod vastai;
