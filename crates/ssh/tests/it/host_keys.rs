//! Host key checking against the real sshd: strict, accept-new, changed keys, hashed entries,
//! pinned fingerprints, and a missing `known_hosts` file.

use camino::Utf8PathBuf;
use comfy_local_ssh::{HostKeyCheck, HostKeyPolicy, Session, SshError};
use comfy_local_test_support::{Sshd, keygen};

fn with_known_hosts(
    sshd: &Sshd,
    file: Utf8PathBuf,
    policy: HostKeyPolicy,
) -> comfy_local_ssh::ConnectOptions {
    let mut o = sshd.connect_options();
    o.host_key = HostKeyCheck::KnownHosts { file, policy };
    o
}

#[test]
fn unknown_host_is_refused_under_strict() {
    let sshd = Sshd::shared();
    let dir = sshd.scratch("unknown_strict");
    let kh = dir.join("known_hosts");
    // Lists another host only.
    std::fs::write(&kh, format!("[127.0.0.1]:1 {}\n", sshd.host_key_line())).unwrap();
    let err =
        Session::connect(&with_known_hosts(sshd, kh.clone(), HostKeyPolicy::Strict)).unwrap_err();
    assert!(matches!(err, SshError::HostKeyUnknown { .. }), "{err:?}");
    crate::snap!(sshd, err.to_string());
    // Nothing was recorded.
    assert_eq!(std::fs::read_to_string(&kh).unwrap().lines().count(), 1);
}

#[test]
fn accept_new_records_then_strict_passes() {
    let sshd = Sshd::shared();
    let dir = sshd.scratch("accept_new");
    let kh = dir.join("sub").join("known_hosts"); // missing file and directory: created
    let s = Session::connect(&with_known_hosts(
        sshd,
        kh.clone(),
        HostKeyPolicy::AcceptNew,
    ))
    .unwrap();
    assert_eq!(s.host_key_fingerprint(), sshd.host_key_fingerprint());
    let recorded = std::fs::read_to_string(&kh).unwrap();
    assert_eq!(
        recorded,
        format!("[127.0.0.1]:{} {}\n", sshd.port(), sshd.host_key_line())
    );
    Session::connect(&with_known_hosts(sshd, kh.clone(), HostKeyPolicy::Strict)).unwrap();
    // accept-new does not add a second line for a known host.
    Session::connect(&with_known_hosts(
        sshd,
        kh.clone(),
        HostKeyPolicy::AcceptNew,
    ))
    .unwrap();
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), recorded);
    // OpenSSH reads the recorded entry too.
    let out = std::process::Command::new("ssh-keygen")
        .args([
            "-F",
            &format!("[127.0.0.1]:{}", sshd.port()),
            "-f",
            kh.as_str(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen -F does not find the recorded host"
    );
}

#[test]
fn changed_key_is_refused_under_every_policy() {
    let sshd = Sshd::shared();
    let dir = sshd.scratch("changed");
    let other = dir.join("other_host_key");
    keygen(&other, "");
    let other_pub = std::fs::read_to_string(format!("{other}.pub")).unwrap();
    let other_line: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    let kh = dir.join("known_hosts");
    std::fs::write(
        &kh,
        format!("[127.0.0.1]:{} {}\n", sshd.port(), other_line.join(" ")),
    )
    .unwrap();
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        let err = Session::connect(&with_known_hosts(sshd, kh.clone(), policy)).unwrap_err();
        assert!(
            matches!(err, SshError::HostKeyMismatch { .. }),
            "{policy:?}: {err:?}"
        );
        if policy == HostKeyPolicy::Strict {
            crate::snap!(sshd, err.to_string());
        }
    }
    // accept-new did not "fix" the file.
    assert_eq!(std::fs::read_to_string(&kh).unwrap().lines().count(), 1);
}

#[test]
fn missing_known_hosts_fails_closed_under_strict() {
    let sshd = Sshd::shared();
    let kh = sshd.scratch("missing").join("nope");
    let err = Session::connect(&with_known_hosts(sshd, kh, HostKeyPolicy::Strict)).unwrap_err();
    assert!(matches!(err, SshError::KnownHostsMissing { .. }), "{err:?}");
    crate::snap!(sshd, err.to_string());
}

#[test]
fn hashed_known_hosts_entry_is_accepted() {
    let sshd = Sshd::shared();
    let kh = sshd.scratch("hashed").join("known_hosts");
    std::fs::copy(sshd.known_hosts(), &kh).unwrap();
    let out = std::process::Command::new("ssh-keygen")
        .args(["-H", "-f", kh.as_str()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&kh).unwrap();
    assert!(text.starts_with("|1|"), "not hashed: {text}");
    Session::connect(&with_known_hosts(sshd, kh, HostKeyPolicy::Strict)).unwrap();
}

#[test]
fn pinned_fingerprint_matches_or_refuses() {
    let sshd = Sshd::shared();
    let mut o = sshd.connect_options();
    o.host_key = HostKeyCheck::Fingerprint(sshd.host_key_fingerprint().to_owned());
    Session::connect(&o).unwrap();
    o.host_key =
        HostKeyCheck::Fingerprint("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU".into());
    let err = Session::connect(&o).unwrap_err();
    assert!(
        matches!(err, SshError::HostKeyFingerprintMismatch { .. }),
        "{err:?}"
    );
    o.host_key = HostKeyCheck::Fingerprint("MD5:00:11".into());
    let err = Session::connect(&o).unwrap_err();
    assert!(matches!(err, SshError::BadFingerprint { .. }), "{err:?}");
}
