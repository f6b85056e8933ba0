//! Opening a session: TCP with a timeout and `TCP_NODELAY`, the SSH handshake with our algorithm
//! preferences, host key verification, public key authentication. Each failure is typed.

use camino::Utf8Path;
use ssh2::{ErrorCode, MethodType};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::{ConnectOptions, ConnectStage, SshError, known_hosts};

/// Cipher preference: libssh2's chacha20-poly1305 is 2-3x faster than its AES modes.
const CIPHERS: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
];

const HOST_KEYS: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
    "ssh-rsa",
];

const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
const LIBSSH2_ERROR_KEX_FAILURE: i32 = -5;
const LIBSSH2_ERROR_FILE: i32 = -16;
const LIBSSH2_ERROR_METHOD_NOT_SUPPORTED: i32 = -33;

pub(crate) struct Connected {
    pub(crate) session: ssh2::Session,
    pub(crate) socket: TcpStream,
    pub(crate) fingerprint: String,
    pub(crate) timings: ConnectTimings,
}

/// How long each part of connecting took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectTimings {
    /// TCP connect.
    pub tcp: Duration,
    /// SSH handshake (key exchange) and host key verification.
    pub handshake: Duration,
    /// Public key authentication.
    pub auth: Duration,
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}

pub(crate) fn connect(opts: &ConnectOptions) -> Result<Connected, SshError> {
    opts.validate()?;
    check_key_file(&opts.key_file, opts.key_passphrase.is_some())?;
    let started = Instant::now();
    let socket = tcp_connect(opts)?;
    let tcp_done = Instant::now();
    let _ = socket.set_nodelay(true);

    let mut session = ssh2::Session::new().map_err(|e| protocol(opts, "creating a session", e))?;
    session.set_tcp_stream(socket.try_clone().map_err(|e| SshError::Connect {
        host: opts.host.clone(),
        port: opts.port,
        source: e,
    })?);
    session.set_compress(false);
    session.set_timeout(millis(opts.connect_timeout));
    let ciphers = prefs(
        &session,
        MethodType::CryptCs,
        CIPHERS.iter().map(|s| (*s).to_owned()).collect(),
    );
    for kind in [MethodType::CryptCs, MethodType::CryptSc] {
        session
            .method_pref(kind, &ciphers)
            .map_err(|e| protocol(opts, "setting cipher preferences", e))?;
    }
    // Host key types already known for this host go first, so the server's key of that type
    // is the one negotiated and compared.
    let mut hostkeys = known_hosts::known_key_types(&opts.host_key, &opts.host, opts.port);
    if hostkeys.iter().any(|t| t == "ssh-rsa") {
        hostkeys.splice(0..0, ["rsa-sha2-512".to_owned(), "rsa-sha2-256".to_owned()]);
    }
    hostkeys.extend(HOST_KEYS.iter().map(|s| (*s).to_owned()));
    let hostkeys = prefs(&session, MethodType::HostKey, hostkeys);
    session
        .method_pref(MethodType::HostKey, &hostkeys)
        .map_err(|e| protocol(opts, "setting host key preferences", e))?;

    if let Err(e) = session.handshake() {
        return Err(handshake_error(opts, &session, &ciphers, &hostkeys, &e));
    }

    let Some((blob, _)) = session.host_key() else {
        return Err(SshError::Handshake {
            host: opts.host.clone(),
            port: opts.port,
            message: "server sent no host key".into(),
        });
    };
    let blob = blob.to_vec();
    known_hosts::verify(&opts.host_key, &opts.host, opts.port, &blob)?;
    let fingerprint = known_hosts::fingerprint_sha256(&blob);
    let handshake_done = Instant::now();

    authenticate(opts, &session)?;
    let timings = ConnectTimings {
        tcp: tcp_done - started,
        handshake: handshake_done - tcp_done,
        auth: handshake_done.elapsed(),
    };

    tracing::debug!(
        host = %opts.host,
        port = opts.port,
        user = %opts.user,
        cipher = session.methods(MethodType::CryptCs).unwrap_or("?"),
        host_key = %fingerprint,
        "SSH session established"
    );
    session.set_timeout(millis(opts.command_timeout));
    if let Some(every) = opts.keepalive {
        session.set_keepalive(
            false,
            u32::try_from(every.as_secs()).unwrap_or(u32::MAX).max(1),
        );
    }
    Ok(Connected {
        session,
        socket,
        fingerprint,
        timings,
    })
}

/// Keeps the wanted algorithms libssh2 supports, in order, without duplicates.
fn prefs(session: &ssh2::Session, kind: MethodType, wanted: Vec<String>) -> String {
    let supported = session.supported_algs(kind).unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    for w in wanted {
        if (supported.is_empty() || supported.contains(&w.as_str())) && !out.contains(&w) {
            out.push(w);
        }
    }
    out.join(",")
}

fn protocol(opts: &ConnectOptions, op: &'static str, source: ssh2::Error) -> SshError {
    SshError::Protocol {
        host: opts.host.clone(),
        port: opts.port,
        op,
        source,
    }
}

fn tcp_connect(opts: &ConnectOptions) -> Result<TcpStream, SshError> {
    let addrs: Vec<SocketAddr> = (opts.host.as_str(), opts.port)
        .to_socket_addrs()
        .map_err(|e| SshError::Dns {
            host: opts.host.clone(),
            port: opts.port,
            source: e,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(SshError::Dns {
            host: opts.host.clone(),
            port: opts.port,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses"),
        });
    }
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, opts.connect_timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| std::io::Error::other("no address tried"));
    Err(match e.kind() {
        std::io::ErrorKind::ConnectionRefused => SshError::ConnectionRefused {
            host: opts.host.clone(),
            port: opts.port,
            source: e,
        },
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => SshError::ConnectTimeout {
            host: opts.host.clone(),
            port: opts.port,
            timeout: opts.connect_timeout,
            stage: ConnectStage::Tcp,
        },
        _ => SshError::Connect {
            host: opts.host.clone(),
            port: opts.port,
            source: e,
        },
    })
}

fn handshake_error(
    opts: &ConnectOptions,
    session: &ssh2::Session,
    ciphers: &str,
    hostkeys: &str,
    e: &ssh2::Error,
) -> SshError {
    match e.code() {
        ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT) => SshError::ConnectTimeout {
            host: opts.host.clone(),
            port: opts.port,
            timeout: opts.connect_timeout,
            stage: ConnectStage::Handshake,
        },
        ErrorCode::Session(LIBSSH2_ERROR_KEX_FAILURE | LIBSSH2_ERROR_METHOD_NOT_SUPPORTED) => {
            no_common_algorithm(opts, session, ciphers, hostkeys).unwrap_or_else(|| {
                SshError::Handshake {
                    host: opts.host.clone(),
                    port: opts.port,
                    message: e.message().to_owned(),
                }
            })
        }
        _ => SshError::Handshake {
            host: opts.host.clone(),
            port: opts.port,
            message: e.message().to_owned(),
        },
    }
}

/// Finds which algorithm kind has no overlap by reading the server's (unencrypted) KEXINIT on a
/// second connection. `None` if the probe fails or every kind overlaps.
fn no_common_algorithm(
    opts: &ConnectOptions,
    session: &ssh2::Session,
    ciphers: &str,
    hostkeys: &str,
) -> Option<SshError> {
    let server = probe_kexinit(opts)?;
    let list = |kind| session.supported_algs(kind).unwrap_or_default().join(",");
    let mut macs = list(MethodType::MacCs);
    let aead = ciphers
        .split(',')
        .any(|c| c.contains("gcm") || c.contains("poly1305"));
    if aead && !macs.is_empty() {
        macs.push_str(" (or an AEAD cipher)");
    }
    let checks = [
        ("key exchange", list(MethodType::Kex), &server[0]),
        ("host key", hostkeys.to_owned(), &server[1]),
        ("cipher", ciphers.to_owned(), &server[2]),
        ("MAC", macs, &server[4]),
    ];
    for (kind, client, server_list) in checks {
        let overlap = client
            .split([',', ' '])
            .any(|c| server_list.iter().any(|s| s == c));
        let aead_ok = kind == "MAC"
            && server[2].iter().any(|s| {
                ciphers.split(',').any(|c| c == s) && (s.contains("gcm") || s.contains("poly1305"))
            });
        if !overlap && !aead_ok {
            return Some(SshError::NoCommonAlgorithm {
                host: opts.host.clone(),
                port: opts.port,
                kind: kind.to_owned(),
                server: server_list.join(","),
                client,
            });
        }
    }
    None
}

fn probe_kexinit(opts: &ConnectOptions) -> Option<Vec<Vec<String>>> {
    let addr = (opts.host.as_str(), opts.port)
        .to_socket_addrs()
        .ok()?
        .next()?;
    let mut sock = TcpStream::connect_timeout(&addr, opts.connect_timeout).ok()?;
    sock.set_read_timeout(Some(opts.connect_timeout)).ok()?;
    sock.write_all(b"SSH-2.0-comfy-local-probe\r\n").ok()?;
    let mut rd = BufReader::new(sock);
    let mut line = String::new();
    loop {
        line.clear();
        if rd.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line.starts_with("SSH-") {
            break;
        }
    }
    let mut len = [0u8; 4];
    rd.read_exact(&mut len).ok()?;
    let len = u32::from_be_bytes(len) as usize;
    if !(6..=256 * 1024).contains(&len) {
        return None;
    }
    let mut pkt = vec![0u8; len];
    rd.read_exact(&mut pkt).ok()?;
    let pad = usize::from(*pkt.first()?);
    let payload = pkt.get(1..len.checked_sub(pad)?)?;
    if payload.first() != Some(&20) {
        return None;
    }
    let mut rest = payload.get(17..)?;
    let mut lists = Vec::with_capacity(10);
    for _ in 0..10 {
        let n = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let s = std::str::from_utf8(rest.get(4..4 + n)?).ok()?;
        lists.push(
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect(),
        );
        rest = rest.get(4 + n..)?;
    }
    Some(lists)
}

/// Reads the key file up front so an unreadable or passphrase-less encrypted key is reported
/// as such, not as a refused login.
fn check_key_file(key_file: &Utf8Path, have_passphrase: bool) -> Result<(), SshError> {
    let text = std::fs::read(key_file).map_err(|e| SshError::KeyUnreadable {
        key_file: key_file.to_owned(),
        source: e,
    })?;
    if !have_passphrase && key_is_encrypted(&text) {
        return Err(SshError::KeyEncrypted {
            key_file: key_file.to_owned(),
        });
    }
    Ok(())
}

fn key_is_encrypted(text: &[u8]) -> bool {
    use base64::Engine as _;
    let text = String::from_utf8_lossy(text);
    if text.contains("ENCRYPTED") {
        // PEM: "Proc-Type: 4,ENCRYPTED" or "BEGIN ENCRYPTED PRIVATE KEY".
        return true;
    }
    let Some(body) = text
        .split("-----BEGIN OPENSSH PRIVATE KEY-----")
        .nth(1)
        .and_then(|b| b.split("-----END OPENSSH PRIVATE KEY-----").next())
    else {
        return false;
    };
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) else {
        return false;
    };
    let Some(rest) = bytes.strip_prefix(b"openssh-key-v1\0") else {
        return false;
    };
    let Some(n) = rest
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
    else {
        return false;
    };
    rest.get(4..4 + n as usize)
        .is_some_and(|cipher| cipher != b"none")
}

fn authenticate(opts: &ConnectOptions, session: &ssh2::Session) -> Result<(), SshError> {
    let res = session.userauth_pubkey_file(
        &opts.user,
        None,
        opts.key_file.as_std_path(),
        opts.key_passphrase.as_deref(),
    );
    let err = match res {
        Ok(()) if session.authenticated() => return Ok(()),
        Ok(()) => ssh2::Error::unknown(),
        Err(e) => e,
    };
    Err(match err.code() {
        ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT) => SshError::ConnectTimeout {
            host: opts.host.clone(),
            port: opts.port,
            timeout: opts.connect_timeout,
            stage: ConnectStage::Auth,
        },
        ErrorCode::Session(LIBSSH2_ERROR_FILE) => SshError::KeyLoad {
            key_file: opts.key_file.clone(),
            message: err.message().to_owned(),
        },
        _ => SshError::AuthRefused {
            host: opts.host.clone(),
            port: opts.port,
            user: opts.user.clone(),
            key_file: opts.key_file.clone(),
            methods: session
                .auth_methods(&opts.user)
                .map_or_else(|_| "unknown".to_owned(), str::to_owned),
        },
    })
}
