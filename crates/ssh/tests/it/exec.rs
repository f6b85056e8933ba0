//! Exec: exit codes, signals, stderr, big output on both streams, quoting, stdin, timeouts.

use comfy_local_ssh::{Command, Session};
use comfy_local_test_support::Sshd;

#[test]
fn exit_status_and_output() {
    let sshd = Sshd::shared();
    let s = Session::connect(&sshd.connect_options()).unwrap();
    let out = s
        .exec(
            &Command::new("sh")
                .arg("-c")
                .arg("echo out; echo err >&2; exit 3"),
        )
        .unwrap();
    assert_eq!(out.exit_status, 3);
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.exit_signal, None);
    assert_eq!(s.host_key_fingerprint(), sshd.host_key_fingerprint());
}
