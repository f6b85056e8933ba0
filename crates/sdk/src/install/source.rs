//! The HTTP side of a model install: a GET with redirects followed one hop at a time (so each
//! hop gets only the credentials meant for its host), `Range` to resume, and the file name
//! from `Content-Disposition` or the final URL.

use std::io::Read;
use std::time::Duration;

use comfy_local_config::{REDACTED, ResourcesSettings, Secret};
use url::Url;

/// Redirects followed before giving up.
pub const MAX_REDIRECTS: u32 = 10;

/// Where a credential goes in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// `Authorization: Bearer <token>` (Hugging Face).
    Bearer,
    /// A query parameter of that name (Civitai's `token`).
    Query(String),
}

/// A token and the only hosts that receive it.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The domain: the host itself or any subdomain of it receives the token.
    pub domain: String,
    /// Only over https (always, except in tests against loopback servers).
    pub https_only: bool,
    pub placement: Placement,
    pub secret: Secret,
}

impl Credential {
    fn applies_to(&self, url: &Url) -> bool {
        if self.https_only && url.scheme() != "https" {
            return false;
        }
        url.host_str().is_some_and(|host| {
            let host = host.to_ascii_lowercase();
            let domain = self.domain.to_ascii_lowercase();
            host == domain
                || host
                    .strip_suffix(&domain)
                    .is_some_and(|rest| rest.ends_with('.'))
        })
    }
}

/// The credentials of one install.
#[derive(Debug, Clone, Default)]
pub struct Credentials(Vec<Credential>);

impl Credentials {
    /// No credentials at all.
    pub fn none() -> Self {
        Credentials(Vec::new())
    }

    /// The tokens the config's `resources:` names (the variables looked up with `lookup`):
    /// Hugging Face as a bearer token to huggingface.co hosts, Civitai as `token=` to
    /// civitai.com hosts, both over https only.
    pub fn from_config(
        resources: &ResourcesSettings,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Self {
        let mut out = Credentials::none();
        if let Some(secret) = resources.huggingface_token_with(lookup) {
            out = out.with(Credential {
                domain: "huggingface.co".to_owned(),
                https_only: true,
                placement: Placement::Bearer,
                secret,
            });
        }
        if let Some(secret) = resources.civitai_token_with(lookup) {
            out = out.with(Credential {
                domain: "civitai.com".to_owned(),
                https_only: true,
                placement: Placement::Query("token".to_owned()),
                secret,
            });
        }
        out
    }

    /// Adds a credential.
    #[must_use]
    /// What a GET of `url` sends: the URL with the query tokens that belong to its host, and
    /// the headers (`Authorization: Bearer`) that do. Secret: never shown or logged.
    pub fn request_for(&self, url: &Url) -> (Url, Vec<(String, String)>) {
        let mut request_url = url.clone();
        let mut headers = Vec::new();
        for c in self.0.iter().filter(|c| c.applies_to(url)) {
            match &c.placement {
                Placement::Bearer => headers.push((
                    "Authorization".to_owned(),
                    format!("Bearer {}", c.secret.expose()),
                )),
                Placement::Query(name) => {
                    request_url
                        .query_pairs_mut()
                        .append_pair(name, c.secret.expose());
                }
            }
        }
        (request_url, headers)
    }

    pub fn with(mut self, credential: Credential) -> Self {
        self.0.push(credential);
        self
    }

    /// `text` with every token replaced by `<redacted>`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for c in &self.0 {
            let secret = c.secret.expose();
            if !secret.is_empty() {
                out = out.replace(secret, REDACTED);
            }
        }
        out
    }

    /// Text that did not parse as a URL, fit for messages: the query cut off, tokens redacted.
    pub fn display_url_str(&self, text: &str) -> String {
        let shown = match text.split_once('?') {
            Some((base, _)) => format!("{base}?<query hidden>"),
            None => text.to_owned(),
        };
        self.redact(&shown)
    }

    /// A URL fit for messages: query values named `token` (and any token) redacted, no
    /// password.
    pub fn display_url(&self, url: &Url) -> String {
        let mut shown = url.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some(REDACTED));
        }
        if shown.query().is_some() {
            let pairs: Vec<(String, String)> = shown
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k.eq_ignore_ascii_case("token") {
                        REDACTED.to_owned()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
        self.redact(shown.as_str())
    }
}

/// Why the source could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// Not an http(s) URL.
    #[error("{url}: only http and https URLs can be installed from")]
    Scheme { url: String },
    /// No answer (DNS, TCP, TLS, timeout); the message has every token redacted.
    #[error("{url}: {message}")]
    Request { url: String, message: String },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}{hint}")]
    Status {
        url: String,
        status: u16,
        hint: String,
    },
    /// A redirect without a usable `Location`.
    #[error("{url}: HTTP {status} redirect without a usable Location header")]
    BadRedirect { url: String, status: u16 },
    /// Redirects did not end.
    #[error("{url}: more than {max} redirects")]
    TooManyRedirects { url: String, max: u32 },
}

impl SourceError {
    /// Worth another attempt: no answer, or a server error that may pass.
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Request { .. } => true,
            SourceError::Status { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// An answered GET, its body not yet read.
pub struct Opened {
    /// The URL that answered (after redirects), tokens not included.
    pub final_url: Url,
    pub status: u16,
    pub content_length: Option<u64>,
    /// `Content-Range: bytes START-END/TOTAL` as `(START, TOTAL)`.
    pub content_range: Option<(u64, Option<u64>)>,
    /// The file name from `Content-Disposition`, unvalidated.
    pub disposition_name: Option<String>,
    pub body: Box<dyn Read + Send>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("final_url", &self.final_url.as_str())
            .field("status", &self.status)
            .field("content_length", &self.content_length)
            .field("content_range", &self.content_range)
            .finish_non_exhaustive()
    }
}

impl Opened {
    /// The name to save under: `Content-Disposition`'s, else the final URL's last path
    /// segment (percent-decoded). Unvalidated: remote-fs checks it.
    pub fn file_name(&self) -> Option<String> {
        self.disposition_name
            .clone()
            .or_else(|| url_file_name(&self.final_url))
    }
}

/// An HTTP client for model downloads.
#[derive(Debug)]
pub struct Source {
    agent: ureq::Agent,
    credentials: Credentials,
}

impl Source {
    /// A client sending `credentials` only where they belong; `stall` ends a read that
    /// receives nothing for that long.
    pub fn new(credentials: Credentials, stall: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            // Identity only: a compressed body would not match the file's bytes and ranges.
            .accept_encoding(ureq::config::AutoHeaderValue::None)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(stall))
            .timeout_per_read(Some(stall))
            .user_agent(concat!("comfy-local/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Source { agent, credentials }
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// GET `url` from byte `from` (a `Range` header when `from > 0`), following redirects.
    pub fn open(&self, url: &Url, from: u64) -> Result<Opened, SourceError> {
        let mut current = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let shown = self.credentials.display_url(&current);
            if !matches!(current.scheme(), "http" | "https") {
                return Err(SourceError::Scheme { url: shown });
            }
            let (request_url, headers) = self.credentials.request_for(&current);
            let mut req = self.agent.get(request_url.as_str());
            for (name, value) in headers {
                req = req.header(name, value);
            }
            if from > 0 {
                req = req.header("Range", format!("bytes={from}-"));
            }
            let response = req.call().map_err(|e| SourceError::Request {
                url: shown.clone(),
                message: self.credentials.redact(&e.to_string()),
            })?;
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let next = header("location")
                    .and_then(|loc| current.join(&loc).ok())
                    .ok_or(SourceError::BadRedirect {
                        url: shown.clone(),
                        status,
                    })?;
                current = next;
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(SourceError::Status {
                    url: shown,
                    status,
                    hint: status_hint(status).to_owned(),
                });
            }
            let content_length = header("content-length").and_then(|v| v.trim().parse().ok());
            let content_range = header("content-range").and_then(|v| parse_content_range(&v));
            let disposition_name =
                header("content-disposition").and_then(|v| disposition_file_name(&v));
            let body = response.into_body().into_reader();
            return Ok(Opened {
                final_url: current,
                status,
                content_length,
                content_range,
                disposition_name,
                body: Box::new(body),
            });
        }
        Err(SourceError::TooManyRedirects {
            url: self.credentials.display_url(url),
            max: MAX_REDIRECTS,
        })
    }
}

fn status_hint(status: u16) -> &'static str {
    match status {
        401 | 403 => {
            " (the server wants credentials: name the variable holding your token in the config's resources.huggingface_token_env or resources.civitai_token_env, and set it)"
        }
        404 => " (no such file at that URL)",
        416 => " (the requested range is past the end of the file)",
        _ => "",
    }
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    let start = start.trim().parse().ok()?;
    let total = total.trim().parse().ok();
    Some((start, total))
}

/// The file name of a `Content-Disposition` header: `filename*=UTF-8''...` preferred, else
/// `filename=` (quoted or not).
pub fn disposition_file_name(value: &str) -> Option<String> {
    let mut plain = None;
    for part in value.split(';').map(str::trim) {
        let Some((key, raw)) = part.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let raw = raw.trim();
        if key == "filename*" {
            let (charset, rest) = raw.split_once('\'')?;
            let (_, encoded) = rest.split_once('\'')?;
            if charset.eq_ignore_ascii_case("utf-8")
                && let Ok(name) = percent_encoding::percent_decode_str(encoded).decode_utf8()
            {
                return non_empty(name.into_owned());
            }
        } else if key == "filename" {
            let unquoted = raw
                .strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .map_or_else(
                    || raw.to_owned(),
                    |r| r.replace("\\\"", "\"").replace("\\\\", "\\"),
                );
            plain = non_empty(unquoted);
        }
    }
    plain
}

/// The last path segment of a URL, percent-decoded.
pub fn url_file_name(url: &Url) -> Option<String> {
    let last = url.path_segments()?.next_back()?;
    let decoded = percent_encoding::percent_decode_str(last)
        .decode_utf8()
        .ok()?
        .into_owned();
    non_empty(decoded)
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_names() {
        assert_eq!(
            disposition_file_name(r#"attachment; filename="a b.safetensors""#).as_deref(),
            Some("a b.safetensors")
        );
        assert_eq!(
            disposition_file_name("attachment; filename=x.ckpt; filename*=UTF-8''%C3%A9.ckpt")
                .as_deref(),
            Some("é.ckpt")
        );
        assert_eq!(disposition_file_name("inline"), None);
        assert_eq!(disposition_file_name("attachment; filename=\"\""), None);
    }

    #[test]
    fn url_names() {
        let u = Url::parse("https://h/a/b/model%20v2.safetensors?download=true").unwrap();
        assert_eq!(url_file_name(&u).as_deref(), Some("model v2.safetensors"));
        assert_eq!(url_file_name(&Url::parse("https://h/a/").unwrap()), None);
    }

    #[test]
    fn content_ranges() {
        assert_eq!(
            parse_content_range("bytes 10-99/100"),
            Some((10, Some(100)))
        );
        assert_eq!(parse_content_range("bytes 10-99/*"), Some((10, None)));
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }

    #[test]
    fn credentials_go_to_their_domain_only() {
        let c = Credential {
            domain: "huggingface.co".to_owned(),
            https_only: true,
            placement: Placement::Bearer,
            secret: Secret::new("s"),
        };
        let ok = |u: &str| c.applies_to(&Url::parse(u).unwrap());
        assert!(ok("https://huggingface.co/x"));
        assert!(ok("https://cdn-lfs.HuggingFace.co/x"));
        assert!(!ok("http://huggingface.co/x"));
        assert!(!ok("https://evilhuggingface.co/x"));
        assert!(!ok("https://huggingface.co.evil.com/x"));
        assert!(!ok("https://cas-bridge.xethub.hf.co/x"));
    }

    #[test]
    fn urls_are_shown_without_tokens() {
        let creds = Credentials::none().with(Credential {
            domain: "civitai.com".to_owned(),
            https_only: true,
            placement: Placement::Query("token".to_owned()),
            secret: Secret::new("sekrit"),
        });
        let u = Url::parse("https://u:pw@civitai.com/api/download/1?token=abc&x=sekrit").unwrap();
        let shown = creds.display_url(&u);
        assert!(!shown.contains("abc") && !shown.contains("sekrit") && !shown.contains("pw"));
    }
}
