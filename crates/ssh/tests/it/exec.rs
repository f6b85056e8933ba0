//! Exec: exit codes, signals, stderr, big output on both streams, literal arguments, stdin,
//! output cap and timeouts.

use comfy_local_ssh::{Command, Session, SshError};
use comfy_local_test_support::Sshd;
use sha2::Digest as _;
use std::time::{Duration, Instant};

fn session() -> (&'static Sshd, Session) {
    let sshd = Sshd::shared();
    let s = Session::connect(&sshd.connect_options()).unwrap();
    (sshd, s)
}

#[test]
fn exit_status_and_output() {
    let (sshd, s) = session();
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
    assert!(!out.success());
    assert_eq!(s.host_key_fingerprint(), sshd.host_key_fingerprint());
    let ok = s.exec(&Command::new("true")).unwrap();
    assert!(ok.success());
}

#[test]
fn signal_is_reported() {
    let (_sshd, s) = session();
    let out = s
        // `exec`: the killed shell is the one sshd started, whatever the user's login shell
        // (dash, Debian's default for new users, does not exec a last command itself).
        .exec(
            &Command::new("exec")
                .arg("sh")
                .arg("-c")
                .arg("kill -TERM $$"),
        )
        .unwrap();
    assert_eq!(out.exit_signal.as_deref(), Some("TERM"));
    assert!(!out.success());
}

#[test]
fn ten_mb_on_stdout_and_stderr_at_once_does_not_hang() {
    let (_sshd, s) = session();
    let cmd = Command::new("sh")
        .arg("-c")
        .arg("head -c 10000000 /dev/zero >&2 & head -c 10000000 /dev/zero; wait")
        .timeout(Duration::from_secs(30));
    let out = s.exec(&cmd).unwrap();
    assert_eq!(out.exit_status, 0);
    assert_eq!(out.stdout.len(), 10_000_000);
    assert_eq!(out.stderr.len(), 10_000_000);
    assert!(!out.stdout_truncated && !out.stderr_truncated);
}

#[test]
fn stderr_only_flood_does_not_hang() {
    // Filling the window with stderr while stdout is idle deadlocks a naive blocking reader.
    let (_sshd, s) = session();
    let out = s
        .exec(
            &Command::new("sh")
                .arg("-c")
                .arg("head -c 8000000 /dev/zero >&2; echo done"),
        )
        .unwrap();
    assert_eq!(out.stderr.len(), 8_000_000);
    assert_eq!(out.stdout, b"done\n");
}

#[test]
fn shell_metacharacters_reach_the_command_literally() {
    let (sshd, s) = session();
    let dir = sshd.scratch("canary");
    let canary = dir.join("x");
    let nasty = format!("$(touch {canary}); ;|& `touch {canary}` > {canary} 'q' \"d\" \\ * ~ \n#");
    let out = s
        .exec(&Command::new("printf").arg("%s").arg(&nasty))
        .unwrap();
    assert!(out.success(), "{}", out.stderr_lossy());
    assert_eq!(out.stdout_lossy(), nasty);
    assert!(
        !canary.exists(),
        "the canary file appeared: the argument was interpreted"
    );
    // The exact string of the issue.
    let issue = "$(touch /tmp/x); ;|&";
    let out = s
        .exec(&Command::new("printf").arg("%s").arg(issue))
        .unwrap();
    assert_eq!(out.stdout_lossy(), issue);
}

/// A command without its own timeout is cut at `ConnectOptions::command_timeout` (what the
/// config's `ssh.command_timeout_secs` sets).
#[test]
fn command_without_timeout_is_cut_at_the_connection_default() {
    let sshd = &Sshd::start(comfy_local_test_support::SshdConfig::default());
    let mut opts = sshd.connect_options();
    opts.command_timeout = Duration::from_millis(900);
    let s = Session::connect(&opts).unwrap();
    let t = Instant::now();
    let err = s.exec(&Command::new("sleep").arg("30")).unwrap_err();
    let took = t.elapsed();
    assert!(matches!(err, SshError::CommandTimeout { .. }), "{err:?}");
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(4),
        "took {took:?}"
    );
    sshd.kill();
}

#[test]
fn hanging_command_is_cut_at_its_timeout() {
    // A private sshd: the timed-out `sleep` keeps running on the server (see
    // `Session::exec`), and killing this sshd with its process tree at the end removes it.
    let sshd = &Sshd::start(comfy_local_test_support::SshdConfig::default());
    let s = Session::connect(&sshd.connect_options()).unwrap();
    let t = Instant::now();
    let err = s
        .exec(
            &Command::new("sleep")
                .arg("30")
                .timeout(Duration::from_millis(800)),
        )
        .unwrap_err();
    let took = t.elapsed();
    assert!(matches!(err, SshError::CommandTimeout { .. }), "{err:?}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        took >= Duration::from_millis(700),
        "returned early after {took:?}"
    );
    crate::snap!(sshd, err.to_string());
    // The session is still usable afterwards.
    assert!(s.exec(&Command::new("true")).unwrap().success());
    // Kill while the session (and so the `sleep` under its sshd) is still there.
    sshd.kill();
}

#[test]
fn stdin_is_streamed() {
    let (_sshd, s) = session();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let out = s
        .exec(&Command::new("sha256sum").stdin(std::io::Cursor::new(data.clone())))
        .unwrap();
    let want = hex::encode(sha2::Sha256::digest(&data));
    assert_eq!(
        out.stdout_lossy().split_whitespace().next(),
        Some(want.as_str())
    );
}

#[test]
fn output_cap_is_applied_and_reported() {
    let (_sshd, s) = session();
    let out = s
        .exec(
            &Command::new("head")
                .args(["-c", "100000", "/dev/zero"])
                .output_cap(1000),
        )
        .unwrap();
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.stdout_truncated);
    assert!(!out.stderr_truncated);
    assert_eq!(out.exit_status, 0);
}

#[test]
fn connection_killed_during_command_is_an_error() {
    let sshd = Sshd::start(comfy_local_test_support::SshdConfig::default());
    let s = Session::connect(&sshd.connect_options()).unwrap();
    let sshd_ref = &sshd;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            sshd_ref.kill();
        });
        let err = s.exec(&Command::new("sleep").arg("20")).unwrap_err();
        assert!(matches!(err, SshError::Channel { .. }), "{err:?}");
    });
    assert!(!s.is_alive());
}
