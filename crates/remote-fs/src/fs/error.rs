//! The errors of [`super::RemoteFs`]: every variant says what was refused or failed, and for
//! which requested path.

use camino::Utf8PathBuf;

use super::transfer::PART_SUFFIX;
use crate::extra_paths::ExtraPathsError;
use crate::folders::{FolderName, FolderNameError};
use crate::host::{HostError, Kind};
use crate::layout::{LayoutError, RootId};
use crate::path::PathError;

/// A refused or failed operation. Every variant names the input it was about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FsError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    ExtraPaths(#[from] ExtraPathsError),
    #[error(transparent)]
    FolderName(#[from] FolderNameError),
    /// A host operation failed; the [`HostError`] names the operation and the path.
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("the ComfyUI install {path} does not exist on the host")]
    InstallMissing { path: Utf8PathBuf },
    #[error("the ComfyUI install {path} is {kind}, not a directory")]
    InstallNotADirectory { path: Utf8PathBuf, kind: Kind },
    #[error("the root {root} ({path}) is {kind}, not a directory")]
    RootNotADirectory {
        root: RootId,
        path: Utf8PathBuf,
        kind: Kind,
    },
    #[error("there is no root {root} in this ComfyUI layout")]
    UnknownRoot { root: RootId },
    #[error("the root {root} ({path}) does not exist on the host")]
    RootMissing { root: RootId, path: Utf8PathBuf },
    #[error(
        "the root {root} ({path}) is not a folder of the ComfyUI install {install}; not creating it"
    )]
    RootOutsideInstall {
        root: RootId,
        path: Utf8PathBuf,
        install: Utf8PathBuf,
    },
    #[error("{requested} resolves to {resolved}, outside the allowed root {root}")]
    PathEscape {
        root: Utf8PathBuf,
        requested: String,
        resolved: Utf8PathBuf,
    },
    #[error("{requested} is a symlink ({path}); refusing to write or delete through it")]
    SymlinkTarget {
        requested: String,
        path: Utf8PathBuf,
    },
    #[error(
        "{requested} is a symlink ({path}) to {resolved}, outside the allowed root; refusing to delete it"
    )]
    SymlinkOutsideRoot {
        requested: String,
        path: Utf8PathBuf,
        resolved: Utf8PathBuf,
    },
    #[error("{requested} does not exist ({path})")]
    NotFound {
        requested: String,
        path: Utf8PathBuf,
    },
    #[error("the folder {path} for {requested} does not exist; create it or pass create_parents")]
    ParentNotFound {
        requested: String,
        path: Utf8PathBuf,
    },
    #[error("{requested} is {kind} ({path}), not a file")]
    NotAFile {
        requested: String,
        path: Utf8PathBuf,
        kind: Kind,
    },
    #[error("{requested} is {kind} ({path}), not a directory")]
    NotADirectory {
        requested: String,
        path: Utf8PathBuf,
        kind: Kind,
    },
    #[error("{requested} names the root itself; this operation needs a name below it")]
    NeedsName { requested: String },
    #[error("{requested} already exists ({path}); pass overwrite to replace it")]
    AlreadyExists {
        requested: String,
        path: Utf8PathBuf,
    },
    #[error("sha256 of {requested} is {actual}, expected {expected}; the upload was discarded")]
    ChecksumMismatch {
        requested: String,
        expected: String,
        actual: String,
    },
    #[error(
        "upload to {requested}: the source starts at byte {expected} but {part} holds {actual} bytes; not resuming"
    )]
    PartChanged {
        requested: String,
        part: Utf8PathBuf,
        expected: u64,
        actual: u64,
    },
    /// The host's own download failed (see [`crate::fs::HostFetchFailure`]).
    #[cfg(feature = "ssh")]
    #[error("the host's download into {requested} failed ({}): {}", failure.kind, failure.message)]
    HostFetch {
        requested: String,
        failure: super::fetch::HostFetchFailure,
    },
    #[error("upload to {requested} was cancelled after {written} bytes; {part} is kept for resume")]
    Cancelled {
        requested: String,
        written: u64,
        part: Utf8PathBuf,
    },
    #[error("reading the source for {requested} failed")]
    Source {
        requested: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reading {path} on the host failed")]
    Read {
        path: Utf8PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path} on the host failed")]
    Write {
        path: Utf8PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing the local copy of {requested} failed")]
    Sink {
        requested: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is {size} bytes; at most {max} are read")]
    TooLarge {
        path: Utf8PathBuf,
        size: u64,
        max: u64,
    },
    #[error("{path} is not UTF-8 text")]
    NotText { path: Utf8PathBuf },
    #[error("the name {name} of {requested} with {PART_SUFFIX} appended is longer than 255 bytes")]
    NameTooLongForPart { requested: String, name: String },
    #[error("unknown folder {folder}")]
    UnknownFolder { folder: FolderName },
    #[error(
        "{folder} ({path}) is neither a root nor a folder of the install that holds roots; not probing it"
    )]
    NotAProbeFolder { folder: String, path: Utf8PathBuf },
}
