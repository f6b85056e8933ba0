//! Errors and warnings about a config file. Every problem names its key path and, when known,
//! its line and column.

use std::fmt;

use camino::Utf8PathBuf;
use thiserror::Error;

use crate::expand::ExpandError;
use crate::keyfile::KeyFileError;
use crate::keypath::{KeyPath, Location};
use crate::schema::ApiKeyError;
use crate::source::ConfigSource;

/// Why a config could not be loaded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No path was given and none of the default places has a file.
    #[error(
        "no config file found: no --config given, ${var} is not set, and none of {} exists",
        .searched.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "),
        var = crate::source::CONFIG_ENV_VAR
    )]
    NotFound {
        /// The default places looked at, in order.
        searched: Vec<Utf8PathBuf>,
    },
    /// The chosen config file does not exist.
    #[error("config file {path} (from {from}) does not exist")]
    Missing {
        /// The file.
        path: Utf8PathBuf,
        /// Where the path came from.
        from: ConfigSource,
    },
    /// The chosen config file cannot be read.
    #[error("cannot read config file {path} (from {from})")]
    Read {
        /// The file.
        path: Utf8PathBuf,
        /// Where the path came from.
        from: ConfigSource,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but its content is not a valid config.
    #[error("{}", render_problems(name, problems))]
    Invalid {
        /// The file's name as shown in messages.
        name: String,
        /// Every problem found (at least one).
        problems: Vec<Problem>,
    },
}

fn render_problems(name: &str, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| p.render(name)).collect();
    match lines.as_slice() {
        [one] => one.clone(),
        _ => format!(
            "{} problems in {name}:\n  {}",
            lines.len(),
            lines.join("\n  ")
        ),
    }
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The key holding the bad value (root for file-level problems).
    pub path: KeyPath,
    /// Line and column in the file, when known.
    pub location: Option<Location>,
    /// What is wrong.
    pub kind: ProblemKind,
}

impl Problem {
    /// `name:line:column: path: message`, the form editors jump to.
    pub fn render(&self, name: &str) -> String {
        let at = match self.location {
            Some(l) => format!("{name}:{}:{}", l.line, l.column),
            None => name.to_owned(),
        };
        if self.path.is_root() {
            format!("{at}: {}", self.kind)
        } else {
            format!("{at}: {}: {}", self.path, self.kind)
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(l) => write!(f, "{} ({l}): {}", self.path, self.kind),
            None => write!(f, "{}: {}", self.path, self.kind),
        }
    }
}

/// What is wrong with a config file.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ProblemKind {
    /// Not YAML at all.
    #[error("malformed YAML: {message}")]
    Syntax {
        /// The parser's message.
        message: String,
    },
    /// The file holds no settings.
    #[error("the file is empty; see local-support-config.yml.example for the keys")]
    Empty,
    /// A key the schema does not have.
    #[error("unknown key `{key}`{}", suggestion_text(.suggestion.as_deref(), .expected))]
    UnknownKey {
        /// The key as written.
        key: String,
        /// The closest known key, when one is close.
        suggestion: Option<String>,
        /// The keys allowed here.
        expected: Vec<String>,
    },
    /// A wrong type, a missing key or a value that does not validate.
    #[error("{message}")]
    Invalid {
        /// What the deserialiser or validator said.
        message: String,
    },
    /// A `${VAR}` reference that cannot be expanded.
    #[error(transparent)]
    Expand(ExpandError),
    /// `ssh.user: root`: the setup script creates a dedicated non-root user for this.
    #[error(
        "`root` is refused: log in as the dedicated non-root user the host setup script creates (default `comfyui`), so a stolen container key cannot do everything on the host"
    )]
    RootUser,
    /// `enabled: true` with no local instance.
    #[error(
        "no local instance is configured: add one under `local:` (see local-support-config.yml.example) or set `enabled: false`"
    )]
    NoLocalInstance,
    /// Two instances share an id.
    #[error("duplicate instance id `{id}` (first used at {first}); give each instance its own id")]
    DuplicateId {
        /// The id.
        id: String,
        /// Where it was first used.
        first: KeyPath,
    },
    /// Neither `known_hosts_file` nor `host_key_fingerprint`.
    #[error(
        "no way to verify the host key: set `known_hosts_file` or `host_key_fingerprint` (connecting without host key verification is not supported)"
    )]
    NoHostKeySource,
    /// Both `known_hosts_file` and `host_key_fingerprint`.
    #[error("set either `known_hosts_file` or `host_key_fingerprint`, not both")]
    BothHostKeySources,
    /// `accept-new` with a pinned fingerprint (nothing to accept).
    #[error(
        "`host_key_policy: accept-new` needs `known_hosts_file` to record the key in; a pinned `host_key_fingerprint` is always strict"
    )]
    AcceptNewWithFingerprint,
    /// An empty local file path.
    #[error("the path is empty")]
    EmptyPath,
    /// `vastai.ssh` names a key without a `known_hosts_dir`, or the other way round.
    #[error(
        "`vastai.ssh` needs both `key_file` and `known_hosts_dir` to reach rented instances: set `{missing}` too (the folder where the host key of each instance is recorded on first contact), or neither"
    )]
    VastAiSshIncomplete {
        /// The key that is missing.
        missing: &'static str,
    },
    /// An API key written in the file without the explicit opt-in.
    #[error(
        "an API key written in the config file is refused: files get copied, committed and backed up. Put it in an environment variable named by `vastai.api_key_env` (or write `api_key: ${{VAST_API_KEY}}`); if you really want it inline, also set `vastai.allow_inline_api_key: true`"
    )]
    InlineApiKey,
    /// `api_key_env` is not a variable name.
    #[error(
        "`{name}` is not a valid environment variable name (letters, digits, `_`, not starting with a digit)"
    )]
    BadEnvName {
        /// The value given.
        name: String,
    },
}

fn suggestion_text(suggestion: Option<&str>, expected: &[String]) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None if expected.is_empty() => String::new(),
        None => format!(" (expected one of: {})", expected.join(", ")),
    }
}

/// Something that does not stop loading but will likely stop a connection. Its message names
/// the key; what is wrong is its [`source`](std::error::Error::source) (print the chain, as
/// anyhow's `{:#}` does, to show both).
#[derive(Debug, Error)]
#[error("{path}")]
pub struct Warning {
    /// The key the warning is about.
    pub path: KeyPath,
    /// What is wrong.
    #[source]
    pub kind: WarningKind,
}

/// What a [`Warning`] is about.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WarningKind {
    /// The key file cannot be used as it is.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// The `known_hosts` file is missing under the strict policy.
    #[error(
        "known_hosts file {path} does not exist; with `host_key_policy: strict` every connection will be refused (add the host's key, e.g. `ssh-keyscan -p PORT HOST > {path}`, and check its fingerprint)"
    )]
    KnownHostsMissing {
        /// The file.
        path: Utf8PathBuf,
    },
    /// `VastAI` is enabled but its key is not available here.
    #[error(transparent)]
    ApiKey(#[from] ApiKeyError),
    /// The API key is written in the file (allowed by `allow_inline_api_key`).
    #[error("the VastAI API key is written in the config file; prefer `api_key_env`")]
    InlineApiKey,
}
