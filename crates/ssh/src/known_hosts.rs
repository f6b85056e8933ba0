//! Host key verification, fail closed: OpenSSH `known_hosts` files (plain, `[host]:port`, hashed
//! `|1|salt|hash`, wildcard and negated patterns, `@revoked`) and pinned `SHA256:` fingerprints.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use camino::Utf8Path;
use hmac::{Hmac, Mac};
use std::fmt::Write as _;
use std::io::Write as _;

use crate::{HostKeyCheck, HostKeyPolicy, SshError};

/// `SHA256:<base64 without padding>` of a host key blob, as `ssh-keygen -l` prints it.
pub fn fingerprint_sha256(key_blob: &[u8]) -> String {
    use sha2_lite::sha256;
    format!("SHA256:{}", STANDARD_NO_PAD.encode(sha256(key_blob)))
}

/// Decodes a `SHA256:<base64>` fingerprint into the 32 digest bytes.
pub(crate) fn parse_fingerprint(fp: &str) -> Result<Vec<u8>, SshError> {
    let bad = || SshError::BadFingerprint {
        fingerprint: fp.to_owned(),
    };
    let b64 = fp.strip_prefix("SHA256:").ok_or_else(bad)?;
    let b64 = b64.trim_end_matches('=');
    let bytes = STANDARD_NO_PAD.decode(b64).map_err(|_| bad())?;
    if bytes.len() == 32 {
        Ok(bytes)
    } else {
        Err(bad())
    }
}

/// The key type name inside an SSH public key blob (its first string).
pub(crate) fn key_type_of(blob: &[u8]) -> Option<&str> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    std::str::from_utf8(blob.get(4..4 + len)?).ok()
}

/// One usable line of a `known_hosts` file.
#[derive(Debug)]
struct Entry {
    revoked: bool,
    patterns: String,
    key_type: String,
    blob: Vec<u8>,
}

fn parse(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let Some(mut first) = fields.next() else {
            continue;
        };
        let mut revoked = false;
        if first.starts_with('@') {
            match first {
                "@revoked" => revoked = true,
                // Certificate authorities are not supported: such lines never match a plain key.
                _ => continue,
            }
            let Some(next) = fields.next() else { continue };
            first = next;
        }
        let (Some(key_type), Some(b64)) = (fields.next(), fields.next()) else {
            continue;
        };
        // A line we cannot decode cannot vouch for any key; skipping it fails closed.
        let Ok(blob) = STANDARD.decode(b64) else {
            continue;
        };
        out.push(Entry {
            revoked,
            patterns: first.to_owned(),
            key_type: key_type.to_owned(),
            blob,
        });
    }
    out
}

/// The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise.
fn lookup_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

fn hashed_matches(pattern: &str, name: &str) -> bool {
    // |1|base64(salt)|base64(HMAC-SHA1(salt, name))
    let mut parts = pattern.split('|');
    let (Some(""), Some("1"), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// Glob match with `*` and `?`, case-insensitive as OpenSSH host patterns are.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], name) || (!name.is_empty() && glob(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p.eq_ignore_ascii_case(n) => glob(&pattern[1..], &name[1..]),
        _ => false,
    }
}

fn patterns_match(patterns: &str, name: &str) -> bool {
    if patterns.starts_with('|') {
        return hashed_matches(patterns, name);
    }
    let mut matched = false;
    for pat in patterns.split(',') {
        if let Some(neg) = pat.strip_prefix('!') {
            if glob(neg.as_bytes(), name.as_bytes()) {
                return false;
            }
        } else if glob(pat.as_bytes(), name.as_bytes()) {
            matched = true;
        }
    }
    matched
}

/// The result of looking a host up in `known_hosts`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Known,
    Unknown,
    /// Listed with other keys only, or the offered key is revoked.
    Changed,
}

fn check_entries(entries: &[Entry], host: &str, port: u16, blob: &[u8]) -> Status {
    let name = lookup_name(host, port);
    let mut listed = false;
    let mut known = false;
    for e in entries
        .iter()
        .filter(|e| patterns_match(&e.patterns, &name))
    {
        if e.revoked {
            if e.blob == blob {
                return Status::Changed;
            }
            continue;
        }
        listed = true;
        known |= e.blob == blob;
    }
    match (known, listed) {
        (true, _) => Status::Known,
        (false, true) => Status::Changed,
        (false, false) => Status::Unknown,
    }
}

fn read_file(file: &Utf8Path) -> Result<Option<String>, SshError> {
    match std::fs::read(file) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SshError::KnownHostsFile {
            known_hosts: file.to_owned(),
            message: "cannot read it".into(),
            source: Some(e),
        }),
    }
}

/// Host key algorithm names this host is already known with, to prefer them in negotiation
/// (so a server offering several key types does not trip a false "changed key").
pub(crate) fn known_key_types(check: &HostKeyCheck, host: &str, port: u16) -> Vec<String> {
    let HostKeyCheck::KnownHosts { file, .. } = check else {
        return Vec::new();
    };
    let Ok(Some(text)) = read_file(file) else {
        return Vec::new();
    };
    let name = lookup_name(host, port);
    let mut types: Vec<String> = Vec::new();
    for e in parse(&text) {
        if !e.revoked && patterns_match(&e.patterns, &name) && !types.contains(&e.key_type) {
            types.push(e.key_type);
        }
    }
    types
}

/// Verifies the offered host key `blob` of `host:port` against `check`; under accept-new an
/// unknown host is appended to the file.
pub(crate) fn verify(
    check: &HostKeyCheck,
    host: &str,
    port: u16,
    blob: &[u8],
) -> Result<(), SshError> {
    let fingerprint = fingerprint_sha256(blob);
    match check {
        HostKeyCheck::Fingerprint(expected) => {
            let want = parse_fingerprint(expected)?;
            if sha2_lite::sha256(blob).as_slice() == want.as_slice() {
                Ok(())
            } else {
                Err(SshError::HostKeyFingerprintMismatch {
                    host: host.to_owned(),
                    port,
                    expected: expected.clone(),
                    fingerprint,
                })
            }
        }
        HostKeyCheck::KnownHosts { file, policy } => {
            let text = match (read_file(file)?, policy) {
                (Some(text), _) => text,
                (None, HostKeyPolicy::AcceptNew) => String::new(),
                (None, HostKeyPolicy::Strict) => {
                    return Err(SshError::KnownHostsMissing {
                        host: host.to_owned(),
                        port,
                        known_hosts: file.clone(),
                    });
                }
            };
            match (check_entries(&parse(&text), host, port, blob), policy) {
                (Status::Known, _) => Ok(()),
                (Status::Changed, _) => Err(SshError::HostKeyMismatch {
                    host: host.to_owned(),
                    port,
                    known_hosts: file.clone(),
                    fingerprint,
                }),
                (Status::Unknown, HostKeyPolicy::Strict) => Err(SshError::HostKeyUnknown {
                    host: host.to_owned(),
                    port,
                    known_hosts: file.clone(),
                    fingerprint,
                }),
                (Status::Unknown, HostKeyPolicy::AcceptNew) => {
                    append(file, &text, host, port, blob)
                }
            }
        }
    }
}

fn append(
    file: &Utf8Path,
    existing: &str,
    host: &str,
    port: u16,
    blob: &[u8],
) -> Result<(), SshError> {
    let io_err = |message: &str, e: std::io::Error| SshError::KnownHostsFile {
        known_hosts: file.to_owned(),
        message: message.to_owned(),
        source: Some(e),
    };
    let key_type = key_type_of(blob).ok_or_else(|| SshError::KnownHostsFile {
        known_hosts: file.to_owned(),
        message: format!("server sent a malformed host key for [{host}]:{port}"),
        source: None,
    })?;
    if let Some(parent) = file.parent().filter(|p| !p.as_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| io_err("cannot create its directory", e))?;
    }
    let mut line = String::new();
    if !existing.is_empty() && !existing.ends_with('\n') {
        line.push('\n');
    }
    let _ = writeln!(
        line,
        "{} {key_type} {}",
        lookup_name(host, port),
        STANDARD.encode(blob)
    );
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(file)
        .map_err(|e| io_err("cannot open it to record a new host", e))?;
    f.write_all(line.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| io_err("cannot record a new host", e))
}

/// SHA-256 through the `sha2` crate, behind one name.
mod sha2_lite {
    pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
        use sha2::Digest as _;
        sha2::Sha256::digest(data).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_entry_matches_its_host_only() {
        // Made with: ssh-keygen -H on "[127.0.0.1]:2222 ..." (salt and hash from HMAC-SHA1).
        let salt = b"0123456789abcdef0123";
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let pat = format!(
            "|1|{}|{}",
            STANDARD.encode(salt),
            STANDARD.encode(mac.finalize().into_bytes())
        );
        assert!(patterns_match(&pat, "[127.0.0.1]:2222"));
        assert!(!patterns_match(&pat, "[127.0.0.1]:2223"));
    }

    #[test]
    fn wildcard_and_negation() {
        assert!(patterns_match(
            "*.example.com,!bad.example.com",
            "good.example.com"
        ));
        assert!(!patterns_match(
            "*.example.com,!bad.example.com",
            "bad.example.com"
        ));
        assert!(patterns_match("[127.0.0.?]:22022", "[127.0.0.1]:22022"));
        assert!(!patterns_match("127.0.0.1", "[127.0.0.1]:22022"));
    }

    #[test]
    fn fingerprint_parse_roundtrip() {
        let fp = fingerprint_sha256(b"key");
        assert_eq!(parse_fingerprint(&fp).unwrap().len(), 32);
        assert!(parse_fingerprint("MD5:aa").is_err());
        assert!(parse_fingerprint("SHA256:!!").is_err());
    }
}
