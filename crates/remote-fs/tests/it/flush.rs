//! A put given the host's Python flushes its `.part` to disk from a host process while it
//! writes (real sshd): that process runs during the put and is gone after it; a flusher that
//! cannot start costs nothing but time; a flush that fails fails the put before the rename.

use std::io::Read;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_remote_fs::host::SftpHost;
use comfy_local_remote_fs::{FsError, PutOptions, RemoteFs};
use comfy_local_ssh::Session;
use comfy_local_test_support::Sshd;

use crate::scenarios::Fixture;

const SIZE: usize = 4 << 20;

fn fs(fx: &Fixture) -> RemoteFs<SftpHost> {
    fs_with(fx, &Sshd::shared().connect_options())
}

fn fs_with(fx: &Fixture, opts: &comfy_local_ssh::ConnectOptions) -> RemoteFs<SftpHost> {
    let session = Session::connect(opts).expect("connect to sshd");
    RemoteFs::open(SftpHost::open(session).expect("sftp"), &fx.options()).expect("open")
}

fn content() -> Vec<u8> {
    (0..SIZE).map(|i| (i % 251) as u8).collect()
}

/// Whether a process on this machine has `arg` as one whole argument.
fn process_with_arg(arg: &str) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == arg.as_bytes()))
    })
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The bytes of `data`; after the first MiB it waits until a process holds `part` as an
/// argument (the flusher), up to 10 s, and records whether one did.
struct Watching {
    data: Vec<u8>,
    pos: usize,
    part: Utf8PathBuf,
    seen: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Read for Watching {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= 1 << 20 && !self.seen.load(std::sync::atomic::Ordering::Relaxed) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if process_with_arg(self.part.as_str()) {
                    self.seen.store(true, std::sync::atomic::Ordering::Relaxed);
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let n = buf.len().min(self.data.len() - self.pos).min(256 << 10);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn opts(python: &str) -> PutOptions {
    PutOptions {
        create_parents: true,
        total: Some(SIZE as u64),
        host_python: Some(python.to_owned()),
        ..PutOptions::default()
    }
}

fn go(_: comfy_local_remote_fs::Progress) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

#[test]
fn the_flusher_runs_beside_the_writes_and_is_gone_after_the_put() {
    let fx = Fixture::new();
    let fs = fs(&fx);
    let dest = fs.model_path("checkpoints", "flushed.bin").unwrap();
    let part = fx.install.join("models/checkpoints/flushed.bin.part");
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut source = Watching {
        data: content(),
        pos: 0,
        part: part.clone(),
        seen: seen.clone(),
    };
    let report = fs
        .put(&dest, &mut source, &opts("python3"), &mut go)
        .unwrap();
    assert!(
        seen.load(std::sync::atomic::Ordering::Relaxed),
        "no flusher process held {part} while the put wrote it"
    );
    assert!(report.fsynced);
    assert_eq!(std::fs::read(&report.path).unwrap(), content());
    assert!(!part.exists());
    wait_for("the flusher to end", || !process_with_arg(part.as_str()));
}

#[test]
fn a_flusher_that_cannot_start_costs_the_put_nothing() {
    let fx = Fixture::new();
    let fs = fs(&fx);
    let dest = fs.model_path("checkpoints", "no-python.bin").unwrap();
    let missing = fx.base.join("no/such/python3");
    let report = fs
        .put(&dest, &mut &content()[..], &opts(missing.as_str()), &mut go)
        .unwrap();
    assert_eq!(std::fs::read(&report.path).unwrap(), content());
}

/// An executable shell script `dir/name` standing in for the host's Python (it ignores the
/// arguments a flusher gets).
fn stand_in_python(dir: &Utf8Path, name: &str, script: &str) -> Utf8PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{script}")).unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p
}

/// A stand-in for Python that never ends: it ignores the end of its stdin and sleeps.
fn hanging_python(dir: &Utf8Path) -> Utf8PathBuf {
    stand_in_python(dir, "hanging-python", "exec sleep 8\n")
}

#[test]
fn a_flusher_that_never_ends_is_given_up_after_the_command_timeout_and_the_put_lands() {
    let fx = Fixture::new();
    let mut connect = Sshd::shared().connect_options();
    connect.command_timeout = Duration::from_secs(1);
    let fs = fs_with(&fx, &connect);
    let dest = fs.model_path("checkpoints", "hang.bin").unwrap();
    let python = hanging_python(&fx.base);
    let report = fs
        .put(&dest, &mut &content()[..], &opts(python.as_str()), &mut go)
        .unwrap();
    assert!(report.fsynced);
    assert_eq!(std::fs::read(&report.path).unwrap(), content());
}

/// A stand-in for Python that acts as a flusher whose flush failed: reads its stdin to the
/// end, then says why on stderr and exits 3.
fn failing_python(dir: &Utf8Path) -> Utf8PathBuf {
    stand_in_python(
        dir,
        "failing-python",
        "cat >/dev/null\necho 'flushing: Input/output error' >&2\nexit 3\n",
    )
}

#[test]
fn a_failed_flush_fails_the_put_before_the_rename_and_keeps_the_part() {
    let fx = Fixture::new();
    let fs = fs(&fx);
    let dest = fs.model_path("checkpoints", "eio.bin").unwrap();
    let python = failing_python(&fx.base);
    let err = fs
        .put(&dest, &mut &content()[..], &opts(python.as_str()), &mut go)
        .unwrap_err();
    let FsError::Host(host) = &err else {
        panic!("not a host error: {err:?}");
    };
    assert_eq!(host.op, "flushing to disk");
    assert!(
        format!("{:?}", std::error::Error::source(host)).contains("Input/output error"),
        "{err:?}"
    );
    assert!(!fx.install.join("models/checkpoints/eio.bin").exists());
    assert_eq!(
        std::fs::metadata(fx.install.join("models/checkpoints/eio.bin.part"))
            .unwrap()
            .len(),
        SIZE as u64
    );
}
