//! Settings of the Vast.ai provider, with defaults that suit the real service.

use std::time::Duration;

/// Vast.ai's API server (what the vastai CLI uses unless `VAST_URL` is set).
pub const DEFAULT_BASE_URL: &str = "https://console.vast.ai";

/// How 429 and 502/503/504 answers are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Requests per call, first one included (1 = no retry).
    pub max_attempts: u32,
    /// Wait before the first retry when the server sends no `Retry-After`; doubles each time.
    pub initial_backoff: Duration,
    /// Longest single wait. A `Retry-After` longer than this is not waited for: the call fails
    /// at once with [`crate::ProviderError::RateLimited`] carrying it.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
        }
    }
}

/// Everything [`crate::VastAiProvider`] can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VastAiOptions {
    /// API server, `http(s)://host[:port]` without `/api/...`; tests point it at a fake.
    pub base_url: String,
    /// How long listed instances are reused; `Duration::ZERO` disables the cache.
    pub cache_ttl: Duration,
    /// Limit for one HTTP exchange (connect to last byte).
    pub request_timeout: Duration,
    /// Retries for 429 and 502/503/504.
    pub retry: RetryPolicy,
    /// Rows per page asked for (the API allows 1 to 25).
    pub page_size: u32,
    /// Container port `ComfyUI` listens on; its `<port>/tcp` mapping gives the direct URL.
    pub comfyui_port: u16,
    /// SSH login user on instances.
    pub ssh_user: String,
}

impl Default for VastAiOptions {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            cache_ttl: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            page_size: 25,
            comfyui_port: 8188,
            ssh_user: "root".to_owned(),
        }
    }
}

impl VastAiOptions {
    /// Defaults with the config's `vastai.api_url` as the base URL, `vastai.comfyui.port` as
    /// ComfyUI's container port and `vastai.ssh.user` as the login user.
    pub fn from_config(settings: &comfy_local_config::VastAiSettings) -> Self {
        Self {
            base_url: settings.api_url.as_str().to_owned(),
            comfyui_port: settings.comfyui.port.get(),
            ssh_user: settings.ssh.user.as_str().to_owned(),
            ..Self::default()
        }
    }
}
