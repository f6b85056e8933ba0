//! Integration tests of comfy-local-ssh against a real OpenSSH sshd (crates/test-support).

mod connect;
mod exec;
mod forward;
mod host_keys;
mod quote;
mod sftp;
mod spawn;
mod stream;

use camino::Utf8Path;

/// Snapshot filters for what changes between runs: ports, temp paths, fingerprints, users.
pub fn filters(sshd: &comfy_local_test_support::Sshd) -> Vec<(String, String)> {
    vec![
        (regex_escape(sshd.temp_dir().as_str()), "[TMP]".into()),
        (format!(r"\b{}\b", sshd.port()), "[PORT]".into()),
        (r"SHA256:[A-Za-z0-9+/]{43}".into(), "SHA256:[FP]".into()),
        (
            format!(r#""{}""#, regex_escape(sshd.user())),
            r#""[USER]""#.into(),
        ),
    ]
}

pub fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Applies `filters` to `text` for an insta snapshot.
#[macro_export]
macro_rules! snap {
    ($sshd:expr, $value:expr) => {{
        let filters = $crate::filters($sshd);
        let refs: Vec<(&str, &str)> = filters.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        insta::with_settings!({ filters => refs }, {
            insta::assert_snapshot!($value);
        });
    }};
}

/// sha256 of a local file, by `sha256sum` (the debug-build Rust hasher is slow on big files).
pub fn sha256_file(p: &Utf8Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(p.as_str())
        .output()
        .unwrap();
    assert!(out.status.success(), "sha256sum {p} failed");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// Writes `len` bytes of a non-repeating pattern to `p`.
pub fn make_file(p: &Utf8Path, len: usize) {
    let mut data = Vec::with_capacity(len);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    std::fs::write(p, data).unwrap();
}
