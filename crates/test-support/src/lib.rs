//! Dev-only test helpers: a real OpenSSH `sshd` on a free loopback port with generated keys, a
//! folder made read-only for a test whoever runs it, and child processes tied to the test process.
//!
//! Never linked into a release binary. [`Sshd::shared`] gives one sshd per test binary (process);
//! [`Sshd::start`] gives a private one for tests that kill, restart or reconfigure it.

mod proc;
mod readonly;
mod sshd;

pub use proc::{kill_group, spawn_group_leader};
pub use readonly::{ReadOnlyDir, is_root};
pub use sshd::{Sshd, SshdConfig, keygen};
