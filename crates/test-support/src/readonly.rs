//! A folder made unwritable for the test's user for the length of a test, whoever runs it.

use camino::Utf8PathBuf;

/// Makes a folder unwritable, and writable again on drop. Root ignores permission bits, so as
/// root the folder is made immutable (`chattr +i`) instead.
#[derive(Debug)]
pub struct ReadOnlyDir(Utf8PathBuf);

impl ReadOnlyDir {
    /// Makes `dir` unwritable until the value is dropped.
    ///
    /// # Panics
    /// When the folder cannot be made unwritable (a test fixture problem).
    pub fn new(dir: Utf8PathBuf) -> Self {
        if is_root() {
            let st = std::process::Command::new("chattr")
                .arg("+i")
                .arg(&dir)
                .status()
                .unwrap_or_else(|e| panic!("chattr: {e}"));
            assert!(
                st.success(),
                "chattr +i {dir} failed (needs CAP_LINUX_IMMUTABLE)"
            );
        } else {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555))
                .unwrap_or_else(|e| panic!("chmod 555 {dir}: {e}"));
        }
        ReadOnlyDir(dir)
    }
}

impl Drop for ReadOnlyDir {
    fn drop(&mut self) {
        if is_root() {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.0)
                .status();
        } else {
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
        }
    }
}

/// Whether the tests run as root (uid 0).
pub fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
