//! The private key file checks: hard errors from `ensure_private_key_usable`.

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_config::{KeyFileError, ensure_private_key_usable};
use insta::assert_snapshot;

const PRIVATE: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";

fn write_key(dir: &Utf8Path, name: &str, text: &str, mode: u32) -> Utf8PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    #[cfg(not(unix))]
    let _ = mode;
    path
}

fn check(dir: &Utf8Path, path: &Utf8Path) -> String {
    match ensure_private_key_usable(path) {
        Ok(()) => String::from("ok"),
        Err(error) => error.to_string().replace(dir.as_str(), "[TMP]"),
    }
}

fn temp() -> (tempfile::TempDir, Utf8PathBuf) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = Utf8PathBuf::from_path_buf(dir.path().to_path_buf())
        .unwrap_or_else(|p| panic!("non-UTF-8 temp dir {}", p.display()));
    (dir, path)
}

#[test]
fn private_key_600_is_usable() {
    let (_g, dir) = temp();
    let key = write_key(&dir, "id", PRIVATE, 0o600);
    assert_eq!(check(&dir, &key), "ok");
}

#[test]
fn missing_key() {
    let (_g, dir) = temp();
    assert_snapshot!(check(&dir, &dir.join("absent")), @"private key file [TMP]/absent does not exist");
}

#[test]
fn directory_is_not_a_key() {
    let (_g, dir) = temp();
    assert_snapshot!(check(&dir, &dir), @"private key file [TMP] is not a regular file");
}

#[cfg(unix)]
#[test]
fn world_readable_key() {
    let (_g, dir) = temp();
    let key = write_key(&dir, "id", PRIVATE, 0o644);
    assert_snapshot!(check(&dir, &key), @"private key file [TMP]/id has permissions 0644, open to group or others; ssh refuses such keys (run `chmod 600 [TMP]/id`)");
}

#[cfg(unix)]
#[test]
fn group_readable_key() {
    let (_g, dir) = temp();
    let key = write_key(&dir, "id", PRIVATE, 0o640);
    assert!(matches!(
        ensure_private_key_usable(&key),
        Err(KeyFileError::TooOpen { mode: 0o640, .. })
    ));
}

#[test]
fn public_key_instead_of_private() {
    let (_g, dir) = temp();
    let key = write_key(
        &dir,
        "id.pub",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA me@host\n",
        0o600,
    );
    assert_snapshot!(check(&dir, &key), @"[TMP]/id.pub holds a public key; point key_file at the private key (the file without `.pub`)");
}

#[test]
fn empty_key() {
    let (_g, dir) = temp();
    let key = write_key(&dir, "id", "", 0o600);
    assert_snapshot!(check(&dir, &key), @"private key file [TMP]/id is empty");
}

#[cfg(unix)]
#[test]
fn unreadable_key_as_non_root() {
    let (_g, dir) = temp();
    let key = write_key(&dir, "id", PRIVATE, 0o000);
    // Root reads any file, so only an ordinary user sees the error.
    let readable = std::fs::read(&key).is_ok();
    let result = ensure_private_key_usable(&key);
    if readable {
        assert!(result.is_ok(), "{result:?}");
    } else {
        assert!(
            matches!(result, Err(KeyFileError::Unreadable { .. })),
            "{result:?}"
        );
    }
}
