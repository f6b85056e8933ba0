//! Connect failures: refused, unresponsive listener, no common algorithm, authentication and
//! key file problems, bad input.

use comfy_local_ssh::{ConnectStage, Session, SshError};
use comfy_local_test_support::{Sshd, SshdConfig, keygen};
use std::time::{Duration, Instant};

#[test]
fn wrong_user_key_is_refused_naming_key_and_user() {
    let sshd = Sshd::shared();
    let key = sshd.scratch("wrong_key").join("id_other");
    keygen(&key, "");
    let mut o = sshd.connect_options();
    o.key_file = key.clone();
    let err = Session::connect(&o).unwrap_err();
    match &err {
        SshError::AuthRefused { user, key_file, .. } => {
            assert_eq!(user, sshd.user());
            assert_eq!(key_file, &key);
        }
        other => panic!("expected AuthRefused, got {other:?}"),
    }
    crate::snap!(sshd, err.to_string());
}

#[test]
fn encrypted_key_needs_its_passphrase() {
    let sshd = Sshd::shared();
    let key = sshd.scratch("encrypted").join("id_enc");
    keygen(&key, "s3cret pass");
    // Authorise it on the shared sshd by using a private one with this key authorised.
    let mut o = sshd.connect_options();
    o.key_file = key.clone();
    let err = Session::connect(&o).unwrap_err();
    assert!(matches!(err, SshError::KeyEncrypted { .. }), "{err:?}");
    crate::snap!(sshd, err.to_string());
    o.key_passphrase = Some("hunter2-wrong".into());
    let err = Session::connect(&o).unwrap_err();
    assert!(matches!(err, SshError::KeyLoad { .. }), "{err:?}");
    assert!(
        !format!("{err} {err:?}").contains("hunter2"),
        "passphrase leaked: {err}"
    );
}

#[test]
fn encrypted_key_with_passphrase_logs_in() {
    let sshd = Sshd::start(SshdConfig::default());
    let key = sshd.scratch("enc_ok").join("id_enc");
    keygen(&key, "s3cret pass");
    let authorized = sshd.temp_dir().join("authorized_keys");
    let mut text = std::fs::read_to_string(&authorized).unwrap();
    text.push_str(&std::fs::read_to_string(format!("{key}.pub")).unwrap());
    std::fs::write(&authorized, text).unwrap();
    let mut o = sshd.connect_options();
    o.key_file = key;
    o.key_passphrase = Some("s3cret pass".into());
    Session::connect(&o).unwrap();
}

#[test]
fn unreadable_key_file_is_reported() {
    let sshd = Sshd::shared();
    let mut o = sshd.connect_options();
    o.key_file = sshd.scratch("nokey").join("missing_key");
    let err = Session::connect(&o).unwrap_err();
    assert!(matches!(err, SshError::KeyUnreadable { .. }), "{err:?}");
}

#[test]
fn refused_port_is_reported() {
    let sshd = Sshd::shared();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut o = sshd.connect_options();
    o.port = port;
    let err = Session::connect(&o).unwrap_err();
    assert!(matches!(err, SshError::ConnectionRefused { .. }), "{err:?}");
}

#[test]
fn unresponsive_port_fails_within_connect_timeout() {
    let sshd = Sshd::shared();
    // The kernel accepts the TCP connection into the backlog; nobody ever answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut o = sshd.connect_options();
    o.port = silent.local_addr().unwrap().port();
    o.connect_timeout = Duration::from_millis(700);
    let t = Instant::now();
    let err = Session::connect(&o).unwrap_err();
    let took = t.elapsed();
    assert!(
        matches!(
            err,
            SshError::ConnectTimeout {
                stage: ConnectStage::Handshake,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    assert!(
        took >= Duration::from_millis(600),
        "returned early after {took:?}"
    );
    drop(silent);
}

#[test]
fn no_common_cipher_says_which() {
    let sshd = Sshd::start(SshdConfig {
        extra_config: vec!["Ciphers aes128-cbc".into()],
        ..SshdConfig::default()
    });
    let err = Session::connect(&sshd.connect_options()).unwrap_err();
    match &err {
        SshError::NoCommonAlgorithm { kind, server, .. } => {
            assert_eq!(kind, "cipher");
            assert_eq!(server, "aes128-cbc");
        }
        other => panic!("expected NoCommonAlgorithm, got {other:?}"),
    }
    crate::snap!(&sshd, err.to_string());
}

#[test]
fn option_like_host_or_user_is_rejected() {
    let sshd = Sshd::shared();
    let mut o = sshd.connect_options();
    o.user = "-oProxyCommand=x".into();
    let err = Session::connect(&o).unwrap_err();
    assert!(
        matches!(err, SshError::InvalidInput { field: "user", .. }),
        "{err:?}"
    );
    let mut o = sshd.connect_options();
    o.host = "-x".into();
    assert!(matches!(
        Session::connect(&o).unwrap_err(),
        SshError::InvalidInput { field: "host", .. }
    ));
}

#[test]
fn chacha20_is_negotiated() {
    let sshd = Sshd::shared();
    let s = Session::connect(&sshd.connect_options()).unwrap();
    assert_eq!(s.cipher().as_deref(), Some("chacha20-poly1305@openssh.com"));
    assert!(s.is_alive());
}

#[test]
fn not_an_ssh_server_fails_the_handshake_saying_why_once() {
    use std::io::{Read as _, Write as _};
    let sshd = Sshd::shared();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        // An HTTP server answering the SSH banner, then closing.
        let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        let mut buf = [0u8; 256];
        let _ = conn.read(&mut buf);
    });
    let mut o = sshd.connect_options();
    o.port = port;
    let err = Session::connect(&o).unwrap_err();
    server.join().unwrap();
    let SshError::Handshake { message, .. } = &err else {
        panic!("expected a handshake error, got {err:?}");
    };
    assert!(!message.is_empty(), "{err:?}");
    // What `{:#}` (anyhow) shows: the error and every source, each once.
    let mut full = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        full = format!("{full}: {s}");
        source = s.source();
    }
    assert_eq!(full.matches(message.as_str()).count(), 1, "{full}");
    assert!(full.contains(&format!("127.0.0.1:{port}")), "{full}");
}
