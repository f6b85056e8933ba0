//! Spawn: a command left running (stdin open) while the session does other work, ended by
//! `finish` or by a drop.

use std::time::{Duration, Instant};

use comfy_local_ssh::{Command, Session};
use comfy_local_test_support::Sshd;

#[test]
fn a_spawned_command_runs_while_the_session_works_and_ends_when_finished() {
    let sshd = Sshd::shared();
    let s = Session::connect(&sshd.connect_options()).unwrap();
    let dir = sshd.scratch("spawn-finish");
    let started = dir.join("started");
    // It says it started, then waits for the end of its stdin.
    let running = s
        .spawn(
            &Command::new("sh")
                .arg("-c")
                .arg(r#"touch "$1"; echo up; cat >/dev/null; echo down; echo err >&2; exit 4"#)
                .arg("sh")
                .arg(started.as_str()),
        )
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !started.exists() {
        assert!(
            Instant::now() < deadline,
            "the spawned command never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The session serves other work meanwhile, and the command is still waiting on stdin.
    let other = s.exec(&Command::new("echo").arg("other")).unwrap();
    assert_eq!(other.stdout, b"other\n");
    let entries = s.sftp().unwrap().read_dir(&dir).unwrap();
    assert_eq!(entries.len(), 1);
    let out = running.finish().unwrap();
    assert_eq!(out.exit_status, 4);
    assert_eq!(out.stdout, b"up\ndown\n");
    assert_eq!(out.stderr, b"err\n");
}

#[test]
fn a_dropped_spawn_closes_stdin_so_the_command_ends() {
    let sshd = Sshd::shared();
    let s = Session::connect(&sshd.connect_options()).unwrap();
    let ended = sshd.scratch("spawn-drop").join("ended");
    let running = s
        .spawn(
            &Command::new("sh")
                .arg("-c")
                .arg(r#"cat >/dev/null; touch "$1""#)
                .arg("sh")
                .arg(ended.as_str()),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!ended.exists(), "the command ended before its stdin closed");
    drop(running);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ended.exists() {
        assert!(
            Instant::now() < deadline,
            "the command kept waiting on stdin"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(s.exec(&Command::new("true")).unwrap().success());
}
