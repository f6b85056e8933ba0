//! SFTP against the real sshd: metadata, directories, exclusive create, atomic rename over an
//! existing file, fsync, transfers with progress, and resume after sshd is killed mid-transfer.
#![expect(
    clippy::disallowed_methods,
    reason = "these tests exercise the raw SFTP write methods of this crate itself"
)]

use camino::Utf8PathBuf;
use comfy_local_ssh::{FileKind, RenameMethod, Session, SftpErrorKind, SshError, TransferOptions};
use comfy_local_test_support::{Sshd, SshdConfig};
use std::io::{Read, Seek, SeekFrom, Write};

use crate::{make_file, sha256_file};

#[test]
fn metadata_and_directories() {
    let sshd = Sshd::shared();
    let s = Session::connect(&sshd.connect_options()).unwrap();
    let sftp = s.sftp().unwrap();
    let dir = sshd.scratch("meta");
    let sub = dir.join("sub");
    sftp.mkdir(&sub, 0o755).unwrap();
    assert_eq!(
        sftp.mkdir(&sub, 0o755).unwrap_err().sftp_kind(),
        Some(SftpErrorKind::AlreadyExists)
    );
    std::fs::write(sub.join("f.txt"), b"hello").unwrap();
    sftp.symlink(&sub.join("f.txt"), &sub.join("link")).unwrap();
    assert_eq!(
        sftp.readlink(&sub.join("link")).unwrap(),
        sub.join("f.txt").as_str()
    );
    let info = sftp.stat(&sub.join("f.txt")).unwrap();
    assert_eq!((info.kind, info.size), (FileKind::File, 5));
    assert!(info.mtime.is_some());
    assert_eq!(
        sftp.lstat(&sub.join("link")).unwrap().kind,
        FileKind::Symlink
    );
    assert_eq!(sftp.stat(&sub.join("link")).unwrap().kind, FileKind::File);
    assert_eq!(sftp.stat(&sub).unwrap().kind, FileKind::Dir);
    let mut names: Vec<String> = sftp
        .read_dir(&sub)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    assert_eq!(names, ["f.txt", "link"]);
    assert_eq!(
        sftp.realpath(&sub.join("..").join("sub")).unwrap(),
        std::fs::canonicalize(&sub).unwrap().to_str().unwrap()
    );
    let missing = sftp.stat(&sub.join("nope")).unwrap_err();
    assert_eq!(missing.sftp_kind(), Some(SftpErrorKind::NotFound));
    sftp.unlink(&sub.join("link")).unwrap();
    sftp.unlink(&sub.join("f.txt")).unwrap();
    sftp.rmdir(&sub).unwrap();
    assert!(!sub.exists());
}

#[test]
fn create_new_is_exclusive() {
    let sshd = Sshd::shared();
    let s = Session::connect(&sshd.connect_options()).unwrap();
    let sftp = s.sftp().unwrap();
    let p = sshd.scratch("excl").join("f");
    let mut f = sftp.create_new(&p, 0o600).unwrap();
    f.write_all(b"first").unwrap();
    assert!(f.fsync().unwrap(), "OpenSSH supports fsync@openssh.com");
    f.close().unwrap();
    let err = sftp.create_new(&p, 0o600).unwrap_err();
    assert_eq!(
        err.sftp_kind(),
        Some(SftpErrorKind::AlreadyExists),
        "{err:?}"
    );
    assert_eq!(std::fs::read(&p).unwrap(), b"first");
    let mut r = sftp.open_read(&p, 2).unwrap();
    let mut rest = String::new();
    r.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "rst");
}

#[test]
fn rename_atomic_replaces_an_existing_target() {
    let sshd = Sshd::shared();
    let s = Session::connect(&sshd.connect_options()).unwrap();
    let sftp = s.sftp().unwrap();
    let dir = sshd.scratch("rename");
    std::fs::write(dir.join("model.safetensors"), b"old").unwrap();
    std::fs::write(dir.join("model.safetensors.part"), b"new").unwrap();
    let method = sftp
        .rename_atomic(
            &dir.join("model.safetensors.part"),
            &dir.join("model.safetensors"),
        )
        .unwrap();
    assert_eq!(method, RenameMethod::PosixRename);
    assert_eq!(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        b"new"
    );
    assert!(!dir.join("model.safetensors.part").exists());
    // A second rename on the same Sftp reuses its channel; a missing source is NotFound.
    let err = sftp
        .rename_atomic(&dir.join("gone"), &dir.join("x"))
        .unwrap_err();
    assert_eq!(err.sftp_kind(), Some(SftpErrorKind::NotFound), "{err:?}");
}

#[test]
fn upload_and_download_round_trip_with_progress() {
    let sshd = Sshd::shared();
    let s = Session::connect(&sshd.connect_options()).unwrap();
    let sftp = s.sftp().unwrap();
    let dir = sshd.scratch("roundtrip");
    let local = dir.join("local.bin");
    make_file(&local, 5_000_123);
    let remote = dir.join("remote.bin");
    let mut calls = 0;
    let mut last = 0;
    let report = sftp
        .upload(
            &mut std::fs::File::open(&local).unwrap(),
            &remote,
            &TransferOptions {
                total: Some(5_000_123),
                ..TransferOptions::default()
            },
            &mut |p| {
                calls += 1;
                assert!(p.position > last);
                last = p.position;
                assert_eq!(p.total, Some(5_000_123));
            },
        )
        .unwrap();
    assert_eq!(report.bytes, 5_000_123);
    assert_eq!(report.fsynced, Some(true));
    assert!(calls >= 2);
    assert_eq!(last, 5_000_123);
    assert_eq!(sha256_file(&remote), sha256_file(&local));
    let mut back = Vec::new();
    let report = sftp.download(&remote, &mut back, 0, &mut |_| {}).unwrap();
    assert_eq!(report.bytes, 5_000_123);
    assert_eq!(back, std::fs::read(&local).unwrap());
    let mut tail = Vec::new();
    sftp.download(&remote, &mut tail, 5_000_000, &mut |_| {})
        .unwrap();
    assert_eq!(tail.len(), 123);
}

/// Kills the sshd as soon as `after` bytes went through, from the progress callback.
fn kill_after(sshd: &Sshd, after: u64) -> impl FnMut(comfy_local_ssh::Progress) + '_ {
    let mut killed = false;
    move |p| {
        if !killed && p.transferred >= after {
            killed = true;
            sshd.kill();
        }
    }
}

#[test]
fn upload_killed_midway_errors_then_resumes_after_restart() {
    let sshd = Sshd::start(SshdConfig::default());
    let dir = sshd.scratch("resume_up");
    let local = dir.join("model.bin");
    make_file(&local, 24_000_000);
    let part: Utf8PathBuf = dir.join("remote").join("model.bin.part");
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    {
        let s = Session::connect(&sshd.connect_options()).unwrap();
        let sftp = s.sftp().unwrap();
        let err = sftp
            .upload(
                &mut std::fs::File::open(&local).unwrap(),
                &part,
                &TransferOptions::default(),
                &mut kill_after(&sshd, 3_000_000),
            )
            .unwrap_err();
        assert!(matches!(err, SshError::Sftp { .. }), "{err:?}");
        assert!(!s.is_alive());
    }
    sshd.restart();
    let s = Session::connect(&sshd.connect_options()).unwrap();
    let sftp = s.sftp().unwrap();
    let have = sftp.stat(&part).unwrap().size;
    assert!(have > 0 && have < 24_000_000, "partial size {have}");
    let mut src = std::fs::File::open(&local).unwrap();
    src.seek(SeekFrom::Start(have)).unwrap();
    let report = sftp
        .upload(
            &mut src,
            &part,
            &TransferOptions {
                resume_from: have,
                ..TransferOptions::default()
            },
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(report.start_offset + report.bytes, 24_000_000);
    // Resuming past the end of the partial file would leave a hole: refused.
    let err = sftp
        .upload(
            &mut std::io::empty(),
            &part,
            &TransferOptions {
                resume_from: 24_000_001,
                ..TransferOptions::default()
            },
            &mut |_| {},
        )
        .unwrap_err();
    let cause = std::error::Error::source(&err)
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        cause.contains("has 24000000 bytes, cannot resume at offset 24000001"),
        "{err}: {cause}"
    );
    let final_path = dir.join("remote").join("model.bin");
    sftp.rename_atomic(&part, &final_path).unwrap();
    assert_eq!(sha256_file(&final_path), sha256_file(&local));
}

#[test]
fn download_killed_midway_errors_then_resumes_after_restart() {
    let sshd = Sshd::start(SshdConfig::default());
    let dir = sshd.scratch("resume_down");
    let remote = dir.join("out.bin");
    make_file(&remote, 24_000_000);
    let local = dir.join("local.part");
    {
        let s = Session::connect(&sshd.connect_options()).unwrap();
        let sftp = s.sftp().unwrap();
        let mut f = std::fs::File::create(&local).unwrap();
        let err = sftp
            .download(&remote, &mut f, 0, &mut kill_after(&sshd, 3_000_000))
            .unwrap_err();
        assert!(matches!(err, SshError::Sftp { .. }), "{err:?}");
    }
    sshd.restart();
    let have = std::fs::metadata(&local).unwrap().len();
    assert!(have > 0 && have < 24_000_000, "partial size {have}");
    let s = Session::connect(&sshd.connect_options()).unwrap();
    let sftp = s.sftp().unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&local)
        .unwrap();
    sftp.download(&remote, &mut f, have, &mut |_| {}).unwrap();
    drop(f);
    assert_eq!(sha256_file(&local), sha256_file(&remote));
}
