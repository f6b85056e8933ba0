//! Instances behind one [`InstanceProvider`] trait: the local host from the config, and Vast.ai.
//!
//! - [`Instance`] is what a user picks with `--instance`: id, name, status, GPU, cost, how to reach
//!   it over SSH and where its `ComfyUI` API answers.
//! - [`LocalProvider`] lists the configured local hosts (free; start/stop are not ours to do).
//! - [`VastAiProvider`] speaks Vast.ai's REST API with a Bearer key, pages through
//!   `/api/v1/instances/`, caches briefly, retries 429/502/503/504 with backoff, and returns
//!   typed [`ProviderError`]s that name the URL but never the key.
//!
//! SSH port forwards to a `ComfyUI` that is not published are the facade's job, not this crate's.

mod error;
mod instance;
mod local;
mod provider;
mod vastai;

pub use error::{Action, ProviderError};
pub use instance::{GpuInfo, Instance, InstanceStatus, ProviderKind, SshEndpoint};
pub use local::{LocalInstanceSpec, LocalProvider};
pub use provider::InstanceProvider;
pub use vastai::{ApiKey, DEFAULT_BASE_URL, RetryPolicy, VastAiOptions, VastAiProvider};
