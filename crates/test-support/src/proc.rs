//! Child processes that die with the test process, and killing a process tree.
//!
//! `unsafe` is allowed here only: `prctl(PR_SET_PDEATHSIG)` in `pre_exec`, `kill(2)` and
//! `atexit(3)`.
#![expect(
    unsafe_code,
    reason = "prctl(PR_SET_PDEATHSIG), kill(2) and atexit(3) have no safe wrapper in std"
)]

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

type Request = (Command, mpsc::Sender<std::io::Result<Child>>);

/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, so children are forked
/// by one thread that lives as long as the process: they then die with the test process, even
/// when started from a shared static that is never dropped.
fn spawner() -> &'static Mutex<mpsc::Sender<Request>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("sshd-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    // SAFETY: the closure runs in the forked child before exec and only calls
                    // async-signal-safe prctl/getppid; it touches no memory of the parent.
                    unsafe {
                        cmd.pre_exec(|| {
                            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                                return Err(std::io::Error::last_os_error());
                            }
                            // The parent may have died between fork and prctl.
                            if libc::getppid() == 1 {
                                return Err(std::io::Error::other("parent exited"));
                            }
                            Ok(())
                        });
                    }
                    let _ = reply.send(cmd.spawn());
                }
                // Keep this thread (the children's parent) alive until the process exits.
                loop {
                    std::thread::park();
                }
            })
            .expect("spawning the sshd spawner thread");
        Mutex::new(tx)
    })
}

/// Runs `hook` when the process exits normally (the test harness returning from `main`, a
/// failed test included), for what a shared static owns and never drops (its temp dir).
/// Should the C library have no room left for a handler (POSIX guarantees 32), the hook does
/// not run and what it would remove stays behind.
pub(crate) fn at_exit(hook: extern "C" fn()) {
    // SAFETY: atexit(3) only stores the function pointer; `hook` is a plain `extern "C" fn`
    // that lives for the whole program.
    unsafe {
        libc::atexit(hook);
    }
}

/// Spawns `cmd` so that it is killed (SIGKILL) when the test process exits.
pub(crate) fn spawn_tied(cmd: Command) -> std::io::Result<Child> {
    let (tx, rx) = mpsc::channel();
    spawner()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send((cmd, tx))
        .map_err(|_| std::io::Error::other("sshd spawner thread is gone"))?;
    rx.recv()
        .map_err(|_| std::io::Error::other("sshd spawner thread is gone"))?
}

/// Spawns `cmd` as the leader of a process group of its own, killed (SIGKILL) when the test
/// process exits; [`kill_group`] ends it with its whole group and every descendant.
pub fn spawn_group_leader(mut cmd: Command) -> std::io::Result<Child> {
    cmd.process_group(0);
    spawn_tied(cmd)
}

/// SIGKILLs the process group `child` leads (see [`spawn_group_leader`]), then every descendant
/// that left the group, and reaps `child`. For browsers, whose helpers outlive their parent.
pub fn kill_group(child: &mut Child) {
    let below = descendants(child.id());
    if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: plain kill(2) on the process group our own child leads.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
    for p in below {
        if let Ok(p) = libc::pid_t::try_from(p) {
            // SAFETY: plain kill(2) on a pid we just read as a descendant of our own child.
            unsafe {
                libc::kill(p, libc::SIGKILL);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// All descendants of `pid` (from /proc), deepest last.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            if let Some(ppid) = rest
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse::<u32>().ok())
            {
                parent_of.push((p, ppid));
            }
        }
    }
    let mut out = vec![];
    let mut frontier = vec![pid];
    while let Some(cur) = frontier.pop() {
        for &(p, pp) in &parent_of {
            if pp == cur && !out.contains(&p) {
                out.push(p);
                frontier.push(p);
            }
        }
    }
    out
}

/// SIGKILLs `child` (sshd) and every process below it, the way a crash of sshd looks to a client:
/// first the sshd processes (the per-connection ones call setsid, so a process group kill would
/// miss them), so that connections drop before anything else happens, then the commands they ran
/// (which would otherwise be reported to the client as killed by a signal, or keep running).
pub(crate) fn kill_tree(child: &mut Child) {
    let below = descendants(child.id());
    let is_sshd = |p: u32| {
        std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sshd")
    };
    let (daemons, commands): (Vec<u32>, Vec<u32>) = below.into_iter().partition(|&p| is_sshd(p));
    let _ = child.kill();
    for p in daemons.into_iter().chain(commands) {
        if let Ok(p) = libc::pid_t::try_from(p) {
            // SAFETY: plain kill(2) on a pid we just read as a descendant of our own child.
            unsafe {
                libc::kill(p, libc::SIGKILL);
            }
        }
    }
    let _ = child.wait();
}

/// Whether the process runs as root.
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
