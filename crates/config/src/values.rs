//! Validated value types: once a config is loaded, a host, port, user, install path, fingerprint
//! or URL held in these types is known to be well-formed, so later layers need not check again.

use std::fmt;
use std::num::NonZeroU16;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a single value was rejected. Displayed after the key path that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ValueError {
    /// A TCP port outside 1-65535.
    #[error("port {value} is out of range: use a number from 1 to 65535")]
    PortOutOfRange {
        /// The number given.
        value: i64,
    },
    /// An empty string where a value is needed.
    #[error("{what} is empty")]
    Empty {
        /// What the value is (`host`, `user`, ...).
        what: &'static str,
    },
    /// A host or user that starts with `-`.
    #[error(
        "{what} `{value}` starts with `-` and could be mistaken for a command-line option; refusing it"
    )]
    LeadingDash {
        /// What the value is.
        what: &'static str,
        /// The value given.
        value: String,
    },
    /// A character that has no place in the value (whitespace, control, `@`, `/`...).
    #[error("{what} `{value}` contains {character:?}, which is not allowed here")]
    BadCharacter {
        /// What the value is.
        what: &'static str,
        /// The value given.
        value: String,
        /// The first offending character.
        character: char,
    },
    /// An install path that is not absolute.
    #[error(
        "{what} `{value}` is not an absolute path: write it in full, e.g. `/home/comfy/ComfyUI` or `C:\\ComfyUI` (`~` and `$HOME` are not expanded here; `${{HOME}}` is)"
    )]
    RelativePath {
        /// What the value is.
        what: &'static str,
        /// The value given.
        value: String,
    },
    /// An install path with a `..` component.
    #[error("{what} `{value}` contains a `..` component: give the real directory")]
    ParentComponent {
        /// What the value is.
        what: &'static str,
        /// The value given.
        value: String,
    },
    /// A host-key fingerprint not in OpenSSH's `SHA256:<base64>` form.
    #[error(
        "host key fingerprint `{value}` is not valid: {reason}; expected `SHA256:` and 43 base64 characters, as printed by `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`"
    )]
    BadFingerprint {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An HTTP(S) URL that cannot be used.
    #[error(
        "URL `{value}` is not usable: {reason}; expected e.g. `http://host.docker.internal:8188`"
    )]
    BadUrl {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An instance id with characters other than letters, digits, `-`, `_` and `.`.
    #[error(
        "instance id `{value}` is not valid: use letters, digits, `-`, `_` and `.`, not starting with `-`"
    )]
    BadId {
        /// The value given.
        value: String,
    },
    /// An `allowed_git_hosts` entry that is not a lowercase host name or address.
    #[error(
        "git host `{value}` is not valid: give a host name or address as in a URL (lowercase letters, digits, `-` and `.`, e.g. `github.com`), without scheme, user, port or path"
    )]
    BadGitHost {
        /// The value given.
        value: String,
    },
}

/// A TCP port, 1-65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "u16")]
pub struct Port(NonZeroU16);

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Port;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port number from 1 to 65535")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Port, E> {
                Port::try_from(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Port, E> {
                Port::try_from(i64::try_from(v).unwrap_or(i64::MAX)).map_err(E::custom)
            }
        }
        deserializer.deserialize_i64(Visitor)
    }
}

impl Port {
    /// A port from a non-zero number.
    pub const fn new(port: NonZeroU16) -> Self {
        Self(port)
    }

    /// The port number.
    pub fn get(self) -> u16 {
        self.0.get()
    }
}

impl TryFrom<i64> for Port {
    type Error = ValueError;
    fn try_from(value: i64) -> Result<Self, ValueError> {
        u16::try_from(value)
            .ok()
            .and_then(NonZeroU16::new)
            .map(Self)
            .ok_or(ValueError::PortOutOfRange { value })
    }
}

impl From<Port> for u16 {
    fn from(port: Port) -> u16 {
        port.get()
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Shared checks for values that end up as an SSH host or user name.
fn check_name(what: &'static str, value: &str, forbidden: &[char]) -> Result<(), ValueError> {
    if value.is_empty() {
        return Err(ValueError::Empty { what });
    }
    if value.starts_with('-') {
        return Err(ValueError::LeadingDash {
            what,
            value: value.to_owned(),
        });
    }
    if let Some(character) = value
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || forbidden.contains(c))
    {
        return Err(ValueError::BadCharacter {
            what,
            value: value.to_owned(),
            character,
        });
    }
    Ok(())
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $check:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The value as written (after `${VAR}` expansion).
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValueError;
            fn try_from(value: String) -> Result<Self, ValueError> {
                let check: fn(&str) -> Result<(), ValueError> = $check;
                check(&value)?;
                Ok(Self(value))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValueError;
            fn try_from(value: &str) -> Result<Self, ValueError> {
                Self::try_from(value.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_newtype!(
    /// An SSH host name or address: not empty, not starting with `-`, no whitespace.
    Host,
    |v| check_name("host", v, &['@', '/', '\\'])
);

string_newtype!(
    /// An SSH user name: not empty, not starting with `-`, no whitespace, `@` or `:`.
    UserName,
    |v| check_name("user", v, &['@', ':', '/', '\\'])
);

string_newtype!(
    /// The id an instance is selected by (`--instance local`).
    InstanceId,
    |v| {
        let ok = !v.is_empty()
            && !v.starts_with('-')
            && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok { Ok(()) } else { Err(ValueError::BadId { value: v.to_owned() }) }
    }
);

string_newtype!(
    /// A git host custom nodes may be cloned from (`github.com`, `127.0.0.1`): lowercase
    /// letters, digits, `-` and `.`, not starting or ending with `-` or `.` (compared with
    /// the host of a node's URL as the `url` crate parses it).
    GitHost,
    |v| {
        let ok = !v.is_empty()
            && v.len() <= 253
            && !v.starts_with(['-', '.'])
            && !v.ends_with(['-', '.'])
            && !v.contains("..")
            && v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'));
        if ok { Ok(()) } else { Err(ValueError::BadGitHost { value: v.to_owned() }) }
    }
);

string_newtype!(
    /// An absolute path on the `ComfyUI` host: POSIX (`/home/u/ComfyUI`) or Windows
    /// (`C:\ComfyUI`, `C:/ComfyUI`), without `..` components.
    InstallPath,
    |v| check_install_path("install path", v)
);

fn check_install_path(what: &'static str, value: &str) -> Result<(), ValueError> {
    if value.is_empty() {
        return Err(ValueError::Empty { what });
    }
    if !(value.starts_with('/') || is_windows_absolute(value)) {
        return Err(ValueError::RelativePath {
            what,
            value: value.to_owned(),
        });
    }
    if value.split(['/', '\\']).any(|part| part == "..") {
        return Err(ValueError::ParentComponent {
            what,
            value: value.to_owned(),
        });
    }
    Ok(())
}

fn is_windows_absolute(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() >= 3
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes[2], b'\\' | b'/')
}

impl InstallPath {
    /// Whether this is a Windows path (`C:\...` or `C:/...`).
    pub fn is_windows(&self) -> bool {
        is_windows_absolute(&self.0)
    }
}

/// A pinned SSH host-key fingerprint, `SHA256:<43 base64 chars>` as OpenSSH prints it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint {
    text: String,
    sha256: [u8; 32],
}

impl Fingerprint {
    /// The raw SHA-256 digest of the host key, to compare with what the server presents.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }

    /// The fingerprint as written, `SHA256:...`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, ValueError> {
        let bad = |reason| ValueError::BadFingerprint {
            value: value.clone(),
            reason,
        };
        let Some(encoded) = value.strip_prefix("SHA256:") else {
            return Err(bad(
                if value.starts_with("MD5:") || (value.contains(':') && value.len() == 47) {
                    "MD5 fingerprints are not accepted"
                } else {
                    "it does not start with `SHA256:`"
                },
            ));
        };
        let encoded = encoded.trim_end_matches('=');
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(encoded)
            .map_err(|_| bad("the part after `SHA256:` is not base64"))?;
        let sha256: [u8; 32] = bytes
            .try_into()
            .map_err(|_| bad("it does not decode to 32 bytes"))?;
        Ok(Self {
            text: value,
            sha256,
        })
    }
}

impl TryFrom<&str> for Fingerprint {
    type Error = ValueError;
    fn try_from(value: &str) -> Result<Self, ValueError> {
        Self::try_from(value.to_owned())
    }
}

impl From<Fingerprint> for String {
    fn from(value: Fingerprint) -> String {
        value.text
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// An `http://` or `https://` base URL with a host (`ComfyUI`'s API, `VastAI`'s console).
/// `Display` and `Debug` redact a password in it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApiUrl {
    text: String,
    https: bool,
    host: String,
    port: u16,
}

impl fmt::Debug for ApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ApiUrl").field(&self.redacted()).finish()
    }
}

impl ApiUrl {
    /// The URL without a trailing `/`, credentials included: for connecting, never for
    /// printing (use [`Self::redacted`] or `Display`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The host part (without brackets for IPv6).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, explicit or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// This URL with any password replaced by `<redacted>` (for printing only).
    #[must_use]
    pub(crate) fn with_redacted_password(&self) -> Self {
        Self {
            text: self.redacted(),
            ..self.clone()
        }
    }

    /// The URL with any password in it replaced by `<redacted>`.
    pub fn redacted(&self) -> String {
        redact_password(&self.text)
    }
}

/// `text` with the password of a `scheme://user:password@host` URL replaced by `<redacted>`
/// (a URL without one unchanged).
fn redact_password(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!(
                "{scheme}://{user}:{REDACTED}@{host}{}",
                &rest[authority_end..]
            )
        }
        None => text.to_owned(),
    }
}

impl TryFrom<String> for ApiUrl {
    type Error = ValueError;
    fn try_from(value: String) -> Result<Self, ValueError> {
        // The message must not show a password the URL holds.
        let bad = |reason: &str| ValueError::BadUrl {
            value: redact_password(&value),
            reason: reason.to_owned(),
        };
        if value.is_empty() {
            return Err(bad("it is empty"));
        }
        let uri: http::Uri = value
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => return Err(bad(&format!("scheme `{other}` is not http or https"))),
            None => return Err(bad("it has no `http://` or `https://` scheme")),
        };
        let authority = uri.authority().ok_or_else(|| bad("it has no host"))?;
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("it has no host"));
        }
        let host_port = authority
            .as_str()
            .rsplit_once('@')
            .map_or(authority.as_str(), |(_, hp)| hp);
        let port_text = if host_port.starts_with('[') {
            host_port.rsplit_once("]:").map(|(_, p)| p)
        } else {
            host_port.rsplit_once(':').map(|(_, p)| p)
        };
        let port = match port_text {
            Some(text) => text
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad(&format!("port `{text}` is not a number from 1 to 65535")))?,
            None if https => 443,
            None => 80,
        };
        if uri.query().is_some() {
            return Err(bad("a base URL takes no `?query`"));
        }
        if value.contains('#') {
            return Err(bad("a base URL takes no `#fragment`"));
        }
        let host = host.to_owned();
        Ok(Self {
            text: value.trim_end_matches('/').to_owned(),
            https,
            host,
            port,
        })
    }
}

impl TryFrom<&str> for ApiUrl {
    type Error = ValueError;
    fn try_from(value: &str) -> Result<Self, ValueError> {
        Self::try_from(value.to_owned())
    }
}

impl From<ApiUrl> for String {
    fn from(value: ApiUrl) -> String {
        value.text
    }
}

/// Shows the URL with its password (if any) redacted; [`ApiUrl::as_str`] has it.
impl fmt::Display for ApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A secret (API key): never shown by `Debug`, `Display` or serialisation.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub struct Secret(String);

/// What a secret prints as.
pub const REDACTED: &str = "<redacted>";

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}
