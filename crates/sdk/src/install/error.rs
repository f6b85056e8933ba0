//! What a model install or listing can fail with.

use camino::Utf8PathBuf;
use comfy_local_remote_fs::FsError;
use comfy_local_ssh::SshError;

use super::source::SourceError;
use crate::connection::{ResolveError, UnknownInstance};

/// A refused or failed install. Tokens never appear in any variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    #[error(transparent)]
    UnknownInstance(#[from] UnknownInstance),
    /// The id resolves to no usable instance (a VastAI instance not running, without SSH, or
    /// that the config cannot reach).
    #[error(transparent)]
    Resolve(ResolveError),
    /// `--via host` on a rented instance, for a download that needs a token, while
    /// `vastai.send_download_tokens` is false.
    #[error(
        "{url} needs a download token, and tokens are not sent to rented instances (vastai.send_download_tokens: false): the host cannot fetch it itself"
    )]
    TokenStaysHere { url: String },
    /// `features.resource_installation` is false for the instance.
    #[error(
        "installing resources is turned off for instance {instance} (features.resource_installation: false)"
    )]
    FeatureDisabled { instance: String },
    #[error("{input:?} is not an http(s) URL: {reason}")]
    BadUrl { input: String, reason: String },
    #[error("{input:?} is not a sha256 (64 hex digits)")]
    BadSha256 { input: String },
    /// The folder or file name is refused (before anything was written).
    #[error("refusing to install to {folder}/{name}")]
    BadDestination {
        folder: String,
        name: String,
        #[source]
        source: Box<FsError>,
    },
    /// No file name given and none in the response or the URL.
    #[error("{url} names no file: give --name")]
    NoFileName { url: String },
    /// SSH connection to the host failed.
    #[error("cannot connect to instance {instance}")]
    Connect {
        instance: String,
        #[source]
        source: Box<SshError>,
    },
    /// The host's file system refused or failed.
    #[error("on the host")]
    Remote(#[source] Box<FsError>),
    /// The download source failed or refused.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The source dropped mid-file and no retry was left; the `.part` is kept for resume.
    #[error(
        "the download from {url} broke off after {written} bytes; {part} is kept, run the same command again to resume"
    )]
    SourceBroke {
        url: String,
        written: u64,
        part: String,
        /// Redacted.
        message: String,
    },
    /// A file of that name is there and is not the one asked for (or cannot be compared).
    #[error("{path} already exists{detail}; --force replaces it")]
    Exists { path: Utf8PathBuf, detail: String },
    /// The download does not have the expected hash; nothing was put in place and the
    /// `.part` was removed.
    #[error(
        "{url}: sha256 {actual}, expected {expected}; nothing was installed (the partial file was removed)"
    )]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    /// The host's own download failed (`--via host`, or `auto` after bytes had arrived).
    #[error("the host's own download of {url} failed ({kind}): {message}")]
    HostFetch {
        url: String,
        kind: String,
        /// Redacted.
        message: String,
    },
    /// Larger than `limits.max_upload_mb`.
    #[error("{url} is {size} bytes, more than limits.max_upload_mb allows ({max} bytes)")]
    TooLarge { url: String, size: u64, max: u64 },
    /// Interrupted (Ctrl-C); the `.part` is kept for resume.
    #[error(
        "interrupted after {written} bytes; {part} is kept, run the same command again to resume"
    )]
    Interrupted { written: u64, part: Utf8PathBuf },
}

impl From<ResolveError> for InstallError {
    /// An unknown id stays [`InstallError::UnknownInstance`]; the rest is
    /// [`InstallError::Resolve`].
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Unknown(u) => InstallError::UnknownInstance(u),
            other => InstallError::Resolve(other),
        }
    }
}

impl InstallError {
    /// A host file-system failure.
    pub fn remote(e: FsError) -> Self {
        InstallError::Remote(Box::new(e))
    }

    /// The kind of failure, as the CLI maps it to exit codes.
    pub fn kind(&self) -> InstallErrorKind {
        match self {
            InstallError::UnknownInstance(_)
            | InstallError::FeatureDisabled { .. }
            | InstallError::BadUrl { .. }
            | InstallError::BadSha256 { .. }
            | InstallError::BadDestination { .. }
            | InstallError::NoFileName { .. }
            | InstallError::TokenStaysHere { .. } => InstallErrorKind::Usage,
            InstallError::Resolve(e) if e.is_usage() => InstallErrorKind::Usage,
            InstallError::Resolve(_) | InstallError::Connect { .. } => InstallErrorKind::Connection,
            InstallError::Remote(_)
            | InstallError::Source(_)
            | InstallError::SourceBroke { .. }
            | InstallError::HostFetch { .. } => InstallErrorKind::Remote,
            InstallError::Exists { .. }
            | InstallError::ChecksumMismatch { .. }
            | InstallError::TooLarge { .. } => InstallErrorKind::Refused,
            InstallError::Interrupted { .. } => InstallErrorKind::Interrupted,
        }
    }
}

/// Coarse classes of [`InstallError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallErrorKind {
    /// Bad arguments or config, or the feature is off.
    Usage,
    /// SSH connection failed.
    Connection,
    /// The host or the download source failed.
    Remote,
    /// A check refused the install (exists, wrong hash, too large).
    Refused,
    /// Ctrl-C.
    Interrupted,
}
