//! The facade the Media Sync Tool links: operations a user names (test a connection, run a
//! workflow, install a model, pick an instance), composed from the lower crates.
//!
//! Not implemented yet: the instances/CLI issue fills this crate.
