//! Typed errors of every provider. Messages name the URL, id or file involved, never the API key.

use std::fmt;
use std::time::Duration;

use camino::Utf8PathBuf;

use crate::instance::ProviderKind;

/// A state change a provider was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Start (run) an instance.
    Start,
    /// Stop an instance.
    Stop,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Start => "start",
            Self::Stop => "stop",
        })
    }
}

/// Why a provider could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// No instance with this id.
    #[error("no {} instance with id {id:?}", provider_label(*provider))]
    NotFound {
        /// The provider asked.
        provider: ProviderKind,
        /// The id asked for.
        id: String,
    },

    /// Local hosts are not started or stopped by comfy-local.
    #[error(
        "{action} is not supported for local instances (instance {id:?}): start or stop ComfyUI on the host itself"
    )]
    NotSupported {
        /// The local instance id.
        id: String,
        /// What was asked.
        action: Action,
    },

    /// A Vast.ai id must be a number (it goes into the URL path).
    #[error("{id:?} is not a VastAI instance id (expected digits, e.g. 21394001)")]
    InvalidInstanceId {
        /// The id given.
        id: String,
    },

    /// Two local instances share an id.
    #[error("duplicate local instance id {id:?}: each local instance needs its own id")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },

    /// The configured API base URL cannot be used.
    #[error("invalid VastAI API URL {url:?}: {reason}")]
    InvalidBaseUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// No key in the environment variable nor in the vastai CLI's key files.
    #[error("no VastAI API key: {}", missing_key_hint(env_var.as_deref(), searched))]
    MissingApiKey {
        /// The variable the config names, if any.
        env_var: Option<String>,
        /// The key files looked at, in order.
        searched: Vec<Utf8PathBuf>,
    },

    /// A key file exists but cannot be read.
    #[error("cannot read the VastAI API key file {path}")]
    ApiKeyFile {
        /// The key file.
        path: Utf8PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The key found cannot be sent in an HTTP header.
    #[error("the VastAI API key from {origin} is not usable: {reason}")]
    InvalidApiKey {
        /// Where it came from (variable name or file path), never the key itself.
        origin: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// 401: the key was refused.
    #[error(
        "VastAI rejected the API key (401 Unauthorized) for {method} {url}: check the key (`vastai set api-key`, or the variable named by vastai.api_key_env)"
    )]
    Unauthorized {
        /// HTTP method.
        method: &'static str,
        /// The URL, without query string.
        url: String,
    },

    /// 429 persisted through every retry, or asked for a longer wait than allowed.
    #[error(
        "VastAI is rate limiting {method} {url} (429 Too Many Requests) after {attempts} attempt(s){}",
        retry_after_hint(*retry_after)
    )]
    RateLimited {
        /// HTTP method.
        method: &'static str,
        /// The URL, without query string.
        url: String,
        /// Requests made.
        attempts: u32,
        /// The server's last `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },

    /// 5xx (after retries for 502/503/504).
    #[error("VastAI server error {status} for {method} {url} after {attempts} attempt(s){}", message_hint(message.as_deref()))]
    Server {
        /// HTTP method.
        method: &'static str,
        /// The URL, without query string.
        url: String,
        /// HTTP status.
        status: u16,
        /// Requests made.
        attempts: u32,
        /// The server's message, if its body had one.
        message: Option<String>,
    },

    /// Any other unexpected status (400, 403, ...).
    #[error("VastAI answered {status} to {method} {url}{}", message_hint(message.as_deref()))]
    Status {
        /// HTTP method.
        method: &'static str,
        /// The URL, without query string.
        url: String,
        /// HTTP status.
        status: u16,
        /// The server's message, if its body had one.
        message: Option<String>,
    },

    /// No HTTP answer: DNS, connect, TLS, timeout, broken connection.
    #[error("could not reach VastAI for {method} {url}")]
    Transport {
        /// HTTP method.
        method: &'static str,
        /// The URL, without query string.
        url: String,
        /// The transport error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A 2xx answer whose body is not the JSON expected.
    #[error("VastAI sent a response to {method} {url} that is not the expected JSON")]
    BadJson {
        /// HTTP method.
        method: &'static str,
        /// The URL, without query string.
        url: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },

    /// Vast.ai answered `{"success": false}` to a state change.
    #[error("VastAI refused to {action} instance {id}: {message}")]
    Refused {
        /// The instance id.
        id: String,
        /// What was asked.
        action: Action,
        /// The server's `msg`.
        message: String,
    },

    /// `next_token` never ran out (or repeated itself).
    #[error(
        "VastAI kept paging {url} ({pages} pages, next_token repeats or never ends): giving up"
    )]
    EndlessPages {
        /// The URL, without query string.
        url: String,
        /// Pages fetched.
        pages: usize,
    },
}

fn provider_label(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::Local => "local",
        ProviderKind::VastAi => "VastAI",
    }
}

fn missing_key_hint(env_var: Option<&str>, searched: &[Utf8PathBuf]) -> String {
    let files = if searched.is_empty() {
        "no key file was looked for ($HOME is unset)".to_owned()
    } else {
        let list = searched
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        format!("no key file was found ({list})")
    };
    match env_var {
        Some(var) => format!(
            "${var} is unset or empty and {files}; export {var} or run `vastai set api-key`"
        ),
        None => {
            format!("vastai.api_key_env is not set and {files}; set it or run `vastai set api-key`")
        }
    }
}

fn retry_after_hint(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!("; the server asks to retry after {}s", wait.as_secs()),
        None => String::new(),
    }
}

fn message_hint(message: Option<&str>) -> String {
    match message {
        Some(message) => format!(": {message}"),
        None => String::new(),
    }
}
