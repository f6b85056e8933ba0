//! Integration tests of comfy-local-ssh against a real OpenSSH sshd (crates/test-support).

mod exec;
