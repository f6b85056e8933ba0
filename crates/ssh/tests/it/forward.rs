//! direct-tcpip channels (a local port forward to a service on the host), allowed or refused
//! by the server's configuration.

use comfy_local_ssh::{Session, SshError};
use comfy_local_test_support::{Sshd, SshdConfig};
use std::io::{Read, Write};
use std::net::TcpListener;

#[test]
fn forward_reaches_a_loopback_service_when_allowed() {
    let sshd = Sshd::start(SshdConfig {
        allow_tcp_forwarding: true,
        ..SshdConfig::default()
    });
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).unwrap();
        c.write_all(b"pong").unwrap();
        buf
    });
    let s = Session::connect(&sshd.connect_options()).unwrap();
    let mut ch = s.direct_tcpip("127.0.0.1", port).unwrap();
    ch.write_all(b"ping").unwrap();
    let mut reply = [0u8; 4];
    ch.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"pong");
    assert_eq!(&server.join().unwrap(), b"ping");
}

#[test]
fn forward_is_refused_by_the_hardened_default() {
    let sshd = Sshd::shared();
    let s = Session::connect(&sshd.connect_options()).unwrap();
    let Err(err) = s.direct_tcpip("127.0.0.1", 9) else {
        panic!("forwarding should be refused");
    };
    assert!(matches!(err, SshError::Forward { .. }), "{err:?}");
}
