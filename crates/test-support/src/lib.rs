//! Dev-only test helpers: a real OpenSSH `sshd` on a free loopback port with generated keys.
//!
//! Never linked into a release binary. [`Sshd::shared`] gives one sshd per test binary (process);
//! [`Sshd::start`] gives a private one for tests that kill, restart or reconfigure it.

mod proc;
mod sshd;

pub use sshd::{Sshd, SshdConfig, keygen};
