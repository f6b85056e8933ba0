//! Blocking SSH transport on `ssh2`: connect, host-key verification, exec, SFTP, session pool.
//!
//! Not implemented yet: the SSH transport issue fills this crate.
