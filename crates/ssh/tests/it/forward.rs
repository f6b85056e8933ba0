//! `Tunnel`: direct-tcpip channels reached through in-process streams (no local TCP port),
//! allowed or refused by the server's configuration.

use comfy_local_ssh::{SshError, Tunnel};
use comfy_local_test_support::{Sshd, SshdConfig};
use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::time::{Duration, Instant};

fn forwarding_sshd() -> Sshd {
    Sshd::start(SshdConfig {
        allow_tcp_forwarding: true,
        ..SshdConfig::default()
    })
}

/// An echo service on loopback: every connection gets back what it sent, then EOF when the
/// client ends its side.
fn echo_service() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                loop {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if c.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = c.shutdown(Shutdown::Write);
            });
        }
    });
    port
}

/// Inodes of the TCP sockets this process has in LISTEN state.
fn listening_inodes() -> BTreeSet<u64> {
    let mut ours = BTreeSet::new();
    for fd in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        if let Ok(link) = std::fs::read_link(fd.path())
            && let Some(inode) = link
                .to_str()
                .and_then(|l| l.strip_prefix("socket:["))
                .and_then(|l| l.strip_suffix(']'))
                .and_then(|l| l.parse::<u64>().ok())
        {
            ours.insert(inode);
        }
    }
    let mut listening = BTreeSet::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // st 0A is LISTEN; column 9 is the inode.
            if cols.len() > 9
                && cols[3] == "0A"
                && let Ok(inode) = cols[9].parse::<u64>()
                && ours.contains(&inode)
            {
                listening.insert(inode);
            }
        }
    }
    listening
}

#[test]
fn tunnel_streams_reach_a_loopback_service_and_open_no_port() {
    let sshd = forwarding_sshd();
    let port = echo_service();
    let before = listening_inodes();
    assert!(
        !before.is_empty(),
        "the echo service's listener must be seen"
    );
    let tunnel = Tunnel::open(&sshd.connect_options(), "127.0.0.1", port).unwrap();
    let mut a = tunnel.connect().unwrap();
    let mut b = tunnel.connect().unwrap();
    assert_eq!(
        listening_inodes(),
        before,
        "the tunnel must not listen on TCP"
    );
    // Two streams on one tunnel, interleaved, with more data than one channel window.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let writer = {
        let mut a2 = a.try_clone().unwrap();
        let big = big.clone();
        std::thread::spawn(move || {
            a2.write_all(&big).unwrap();
            // EOF towards the service: it answers with EOF after the echo.
            a2.shutdown(Shutdown::Write).unwrap();
        })
    };
    b.write_all(b"ping").unwrap();
    let mut pong = [0u8; 4];
    b.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"ping");
    let mut back = Vec::new();
    a.read_to_end(&mut back).unwrap();
    writer.join().unwrap();
    assert_eq!(back.len(), big.len());
    assert!(back == big, "echoed bytes differ");
}

#[test]
fn read_timeout_and_close_propagate() {
    let sshd = forwarding_sshd();
    let port = echo_service();
    let tunnel = Tunnel::open(&sshd.connect_options(), "127.0.0.1", port).unwrap();
    let mut s = tunnel.connect().unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let t = Instant::now();
    let err = s.read(&mut [0u8; 16]).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err:?}"
    );
    assert!(t.elapsed() >= Duration::from_millis(150));
    // Dropping the tunnel ends its streams: the reader sees EOF, not a hang.
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    drop(tunnel);
    let t = Instant::now();
    assert_eq!(s.read(&mut [0u8; 16]).unwrap(), 0);
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn tunnel_is_refused_by_the_hardened_default() {
    let sshd = Sshd::shared();
    let err = Tunnel::open(&sshd.connect_options(), "127.0.0.1", 9).unwrap_err();
    assert!(matches!(err, SshError::Forward { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot forward"), "{err}");
}

/// CPU time this process used so far, in clock ticks (user + system, `/proc/self/stat`).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the `(comm)`: state is field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// A service that sends `len` bytes to every connection, then holds it open for a while
/// (whatever the client does).
fn firehose_service(len: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { return };
            std::thread::spawn(move || {
                let _ = c.write_all(&vec![b'z'; len]);
                std::thread::sleep(Duration::from_secs(10));
            });
        }
    });
    port
}

#[test]
fn a_stalled_or_dropped_stream_does_not_spin_the_pump() {
    let sshd = forwarding_sshd();
    let port = firehose_service(8 << 20);
    let tunnel = Tunnel::open(&sshd.connect_options(), "127.0.0.1", port).unwrap();
    // Nobody reads: the socket pair, the pump's buffer and the channel window fill up.
    let stalled = tunnel.connect().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let t0 = cpu_ticks();
    std::thread::sleep(Duration::from_secs(1));
    let stalled_ticks = cpu_ticks() - t0;
    // Dropped while the service keeps its side open: the pump waits for the service to close.
    drop(stalled);
    let t0 = cpu_ticks();
    std::thread::sleep(Duration::from_secs(1));
    let dropped_ticks = cpu_ticks() - t0;
    // Clock ticks are 1/100 s on Linux: a spinning pump would use close to 100 a second.
    assert!(
        stalled_ticks < 30,
        "stalled reader: {stalled_ticks} ticks in 1 s"
    );
    assert!(
        dropped_ticks < 30,
        "dropped stream: {dropped_ticks} ticks in 1 s"
    );
    // The tunnel still works for a new stream.
    let mut s = tunnel.connect().unwrap();
    let mut head = [0u8; 4];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"zzzz");
}
