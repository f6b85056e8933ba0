//! Path-safe file operations inside the ComfyUI folders of a host, performed through `crates/ssh`.
//!
//! Not implemented yet: the remote filesystem issue fills this crate.
