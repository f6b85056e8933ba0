//! Checks on the private key file: a warning in `config check`, a hard error before connecting
//! (as OpenSSH refuses a key that others can read).

use std::io::Read as _;

use camino::{Utf8Path, Utf8PathBuf};
use thiserror::Error;

/// Why a private key file cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file does not exist.
    #[error("private key file {path} does not exist")]
    Missing {
        /// The key file.
        path: Utf8PathBuf,
    },
    /// The path exists but is not a regular file.
    #[error("private key file {path} is not a regular file")]
    NotAFile {
        /// The key file.
        path: Utf8PathBuf,
    },
    /// The file cannot be read.
    #[error("private key file {path} cannot be read")]
    Unreadable {
        /// The key file.
        path: Utf8PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Group or others may access the file; ssh refuses such keys.
    #[error(
        "private key file {path} has permissions {mode:04o}, open to group or others; ssh refuses such keys (run `chmod 600 {path}`)"
    )]
    TooOpen {
        /// The key file.
        path: Utf8PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file holds a public key, not the private one.
    #[error(
        "{path} holds a public key; point key_file at the private key (the file without `.pub`)"
    )]
    PublicKey {
        /// The key file.
        path: Utf8PathBuf,
    },
    /// The file is empty.
    #[error("private key file {path} is empty")]
    Empty {
        /// The key file.
        path: Utf8PathBuf,
    },
}

/// Longest key file read; real keys are a few KiB.
const MAX_KEY_BYTES: u64 = 1024 * 1024;

/// Check that `path` is a private key ssh would use: present, a regular file, readable, not
/// accessible by group or others (unix), and not a public key. Call before connecting.
pub fn ensure_private_key_usable(path: &Utf8Path) -> Result<(), KeyFileError> {
    let owned = || path.to_owned();
    let metadata = std::fs::metadata(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            KeyFileError::Missing { path: owned() }
        } else {
            KeyFileError::Unreadable {
                path: owned(),
                source,
            }
        }
    })?;
    if !metadata.is_file() {
        return Err(KeyFileError::NotAFile { path: owned() });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::TooOpen {
                path: owned(),
                mode,
            });
        }
    }
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_KEY_BYTES).read_to_end(&mut head))
        .map_err(|source| KeyFileError::Unreadable {
            path: owned(),
            source,
        })?;
    let text = String::from_utf8_lossy(&head);
    let text = text.trim_start();
    if text.is_empty() {
        return Err(KeyFileError::Empty { path: owned() });
    }
    let public = text.starts_with("ssh-")
        || text.starts_with("ecdsa-sha2-")
        || text.starts_with("sk-")
        || text.starts_with("---- BEGIN SSH2 PUBLIC KEY")
        || (text.contains("PUBLIC KEY-----") && !text.contains("PRIVATE KEY"));
    if public {
        return Err(KeyFileError::PublicKey { path: owned() });
    }
    Ok(())
}
