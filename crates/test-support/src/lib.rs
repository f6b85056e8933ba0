//! Dev-only test helpers: a real OpenSSH `sshd` on a free loopback port with generated keys.
//!
//! Never linked into a release binary. Filled by the SSH transport issue.
