//! Exec-stream transfers (`cat > file`, `tail -c +N`): round trip, resume, hostile path names.
#![expect(
    clippy::disallowed_methods,
    reason = "these tests exercise the raw stream upload of this crate itself"
)]

use comfy_local_ssh::Session;
use comfy_local_test_support::Sshd;

use crate::{make_file, sha256_file};

#[test]
fn stream_round_trip_and_resume() {
    let sshd = Sshd::shared();
    let s = Session::connect(&sshd.connect_options()).unwrap();
    let dir = sshd.scratch("stream");
    let local = dir.join("src.bin");
    make_file(&local, 3_000_001);
    // A path with spaces, quotes and shell syntax is used literally.
    let remote = dir.join("we'ird $(x) name;.bin");
    let half = 1_500_000;
    let data = std::fs::read(&local).unwrap();
    let r = s
        .stream_upload(&mut &data[..half], &remote, false, &mut |_| {})
        .unwrap();
    assert_eq!(r.bytes, half as u64);
    s.stream_upload(&mut &data[half..], &remote, true, &mut |_| {})
        .unwrap();
    assert_eq!(sha256_file(&remote), sha256_file(&local));
    let mut back = Vec::new();
    s.stream_download(&remote, &mut back, 0, &mut |_| {})
        .unwrap();
    assert_eq!(back, data);
    let mut tail = Vec::new();
    s.stream_download(&remote, &mut tail, 3_000_000, &mut |_| {})
        .unwrap();
    assert_eq!(tail, &data[3_000_000..]);
    let err = s
        .stream_download(&dir.join("missing"), &mut Vec::new(), 0, &mut |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("stream transfer"), "{err}");
}

#[test]
fn stream_upload_into_a_missing_directory_fails() {
    let sshd = Sshd::shared();
    let s = Session::connect(&sshd.connect_options()).unwrap();
    let dst = sshd
        .scratch("stream_fail")
        .join("no-such-dir")
        .join("f.bin");
    let data = vec![7u8; 2_000_000];
    let err = s
        .stream_upload(&mut &data[..], &dst, false, &mut |_| {})
        .unwrap_err();
    let cause = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    // bash says "No such file or directory", dash (a login shell too) "Directory nonexistent".
    assert!(
        cause.contains("No such file or directory") || cause.contains("Directory nonexistent"),
        "{err}: {cause}"
    );
    // The session survives the failed transfer.
    assert!(
        s.exec(&comfy_local_ssh::Command::new("true"))
            .unwrap()
            .success()
    );
}
