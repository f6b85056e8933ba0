//! HTTP to Vast.ai: Bearer auth, timeouts, retries with backoff, and status codes turned into
//! typed errors. The key travels only in the `Authorization` header, never in a URL.

use std::time::Duration;

use super::api_key::ApiKey;
use super::options::RetryPolicy;
use crate::error::ProviderError;

/// Largest body read from Vast.ai (a page of 25 full rows is ~100 KB).
const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
/// Longest server message kept in an error.
const MAX_MESSAGE_CHARS: usize = 300;

/// The verbs this client uses.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    Get,
    Put,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
        }
    }
}

/// An answer the caller interprets: any 2xx, or 404 (which means "no such instance").
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: String,
    pub(crate) method: &'static str,
    pub(crate) url: String,
}

impl Reply {
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ProviderError> {
        serde_json::from_str(&self.body).map_err(|source| ProviderError::BadJson {
            method: self.method,
            url: self.url.clone(),
            source,
        })
    }
}

#[derive(Debug)]
pub(crate) struct Client {
    agent: ureq::Agent,
    base_url: String,
    key: ApiKey,
    retry: RetryPolicy,
}

impl Client {
    pub(crate) fn new(key: ApiKey, base_url: &str, timeout: Duration, retry: RetryPolicy) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent(concat!("comfy-local/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Self {
            agent,
            base_url: base_url.trim_end_matches('/').to_owned(),
            key,
            retry,
        }
    }

    /// The full URL of an API path (for requests and for errors).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends one logical request, retrying 429/502/503/504 with backoff. Returns 2xx and 404
    /// replies; every other status becomes a typed error.
    pub(crate) fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, ProviderError> {
        let url = self.url(path);
        let verb = method.as_str();
        let mut backoff = self.retry.initial_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (status, retry_after, text) = self.once(method, &url, query, body)?;
            tracing::debug!(method = verb, %url, status, attempt, "VastAI answered");
            let retryable = matches!(status, 429 | 502 | 503 | 504);
            if retryable && attempt < self.retry.max_attempts.max(1) {
                let wait = retry_after.unwrap_or(backoff);
                if wait <= self.retry.max_backoff {
                    tracing::debug!(method = verb, %url, status, ?wait, "retrying VastAI");
                    std::thread::sleep(wait);
                    backoff = (backoff * 2).min(self.retry.max_backoff);
                    continue;
                }
                // The server wants a longer pause than we may block for: report it now.
            }
            return match status {
                200..=299 | 404 => Ok(Reply {
                    status,
                    body: text,
                    method: verb,
                    url,
                }),
                401 => Err(ProviderError::Unauthorized { method: verb, url }),
                429 => Err(ProviderError::RateLimited {
                    method: verb,
                    url,
                    attempts: attempt,
                    retry_after,
                }),
                500..=599 => Err(ProviderError::Server {
                    method: verb,
                    url,
                    status,
                    attempts: attempt,
                    message: self.message(&text),
                }),
                _ => Err(ProviderError::Status {
                    method: verb,
                    url,
                    status,
                    message: self.message(&text),
                }),
            };
        }
    }

    /// One HTTP exchange: status, `Retry-After` and body text.
    fn once(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<(u16, Option<Duration>, String), ProviderError> {
        let transport = |source: ureq::Error| ProviderError::Transport {
            method: method.as_str(),
            url: url.to_owned(),
            source: Box::new(source),
        };
        let auth = format!("Bearer {}", self.key.secret());
        let response = match method {
            Method::Get => {
                let mut request = self
                    .agent
                    .get(url)
                    .header("Authorization", &auth)
                    .header("Accept", "application/json");
                for (name, value) in query {
                    request = request.query(name, value);
                }
                request.call()
            }
            Method::Put => {
                let mut request = self
                    .agent
                    .put(url)
                    .header("Authorization", &auth)
                    .header("Accept", "application/json");
                for (name, value) in query {
                    request = request.query(name, value);
                }
                match body {
                    Some(json) => request.send_json(json),
                    None => request.send_empty(),
                }
            }
        };
        let mut response = response.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_string()
            .map_err(transport)?;
        Ok((status, retry_after, text))
    }

    /// The human part of an error body (`msg`, `detail` or `error`), else the start of the text;
    /// anything that looks like the key is blanked out.
    fn message(&self, body: &str) -> Option<String> {
        let from_json = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|json| {
                ["msg", "detail", "error"]
                    .iter()
                    .find_map(|field| json.get(field)?.as_str().map(str::to_owned))
            });
        let text = from_json.unwrap_or_else(|| body.trim().to_owned());
        if text.is_empty() {
            return None;
        }
        let text = text.replace(self.key.secret(), "<redacted>");
        let mut short: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
        if short.len() < text.len() {
            short.push('…');
        }
        Some(short)
    }
}

/// `Retry-After` in seconds (integer or decimal). HTTP dates are ignored: Vast.ai sends seconds.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}
