//! Path-safe file operations inside the ComfyUI folders of a host, performed through
//! `crates/ssh`.
//!
//! Nothing is ever written, replaced or deleted outside the allowed roots:
//! - [`folders`] and [`layout`] model ComfyUI's folder layout (`folder_paths.py`) and the
//!   roots of one install; [`extra_paths`] reads the host's `extra_model_paths.yaml`.
//! - [`path`] validates every relative path lexically into a [`RelPath`]; a [`RemotePath`] is
//!   a root plus such a path, so raw strings never reach an operation.
//! - [`fs`] is [`RemoteFs`]: roots canonicalised on the host, every operation re-checked there
//!   (realpath inside the root, lstat, no symlink followed for writes and deletes), atomic
//!   uploads with resume and sha256, listings with validated names.
//! - [`host`] is the raw file-operation trait, implemented over SFTP (`host::SftpHost`, with
//!   the `ssh` feature, on by default) and over `std::fs` ([`host::LocalHost`]).
//!
//! See the crate README for the remaining race and what the host setup does about it.
// Product names (ComfyUI, PyYAML) read better without backticks in prose.
#![expect(
    clippy::doc_markdown,
    reason = "product names (ComfyUI, PyYAML) read better without backticks"
)]

pub mod extra_paths;
pub mod folders;
pub mod fs;
pub mod host;
pub mod layout;
pub mod path;

pub use extra_paths::{Expansion, ExtraPath, ExtraPaths, ExtraPathsError, parse_extra_model_paths};
pub use folders::{Extensions, FolderName, FolderNameError, SpecialDir};
pub use layout::{Area, Layout, LayoutError, RemotePath, RootId, is_within};
pub use path::{HostOs, Name, PathError, Quoted, RelPath};

pub use fs::{
    Entry, FsError, Listing, ModelFile, ModelFiles, OpenOptions, Progress, PutOptions, PutReport,
    RejectedName, RemoteFs, RootState,
};
#[cfg(feature = "ssh")]
pub use fs::{HostFetch, HostFetchFailure};
pub use host::{Host, HostError, HostErrorKind, Kind, Meta};
