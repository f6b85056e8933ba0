//! A local TCP port forwarded over SSH (`direct-tcpip`, like `ssh -L`): reaches ComfyUI on the
//! host's loopback when the container cannot reach its port directly.
//!
//! Every accepted connection gets its own SSH session (libssh2 serialises all channels of a
//! session, and HTTP clients open few, long-lived connections), pumped in non-blocking mode.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use comfy_local_ssh::{ConnectOptions, Session, SshError};

/// How long the pump sleeps when neither side had data.
const IDLE: Duration = Duration::from_millis(1);
const BUF: usize = 64 * 1024;

/// A listening forward on 127.0.0.1; stops (and closes its connections) on drop.
#[derive(Debug)]
pub struct LocalForward {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl LocalForward {
    /// Checks that SSH reaches `target_host:target_port` (one session, one channel), then
    /// listens on a free port of 127.0.0.1 and forwards every connection there.
    pub fn start(
        opts: &ConnectOptions,
        target_host: &str,
        target_port: u16,
    ) -> Result<Self, SshError> {
        // Fail now, with the SSH error, rather than on the first HTTP request.
        let probe = Session::connect(opts)?;
        drop(probe.direct_tcpip(target_host, target_port)?);
        drop(probe);
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| SshError::LocalIo {
            op: "binding a local forward port",
            remote: format!("{target_host}:{target_port}"),
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| SshError::LocalIo {
            op: "reading the local forward port",
            remote: format!("{target_host}:{target_port}"),
            source,
        })?;
        let _ = listener.set_nonblocking(true);
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let stop = Arc::clone(&stop);
            let opts = opts.clone();
            let target_host = target_host.to_owned();
            std::thread::spawn(move || {
                accept_loop(&listener, &opts, &target_host, target_port, &stop);
            })
        };
        Ok(LocalForward {
            addr,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// The local address to connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for LocalForward {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.acceptor.take() {
            let _ = handle.join();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    opts: &ConnectOptions,
    target_host: &str,
    target_port: u16,
    stop: &Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let opts = opts.clone();
                let target_host = target_host.to_owned();
                let stop = Arc::clone(stop);
                std::thread::spawn(move || {
                    if let Err(e) = serve(stream, &opts, &target_host, target_port, &stop) {
                        tracing::debug!(error = %e, "forwarded connection ended with an error");
                    }
                });
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                tracing::warn!(error = %e, "local forward stopped accepting");
                return;
            }
        }
    }
}

fn serve(
    mut stream: TcpStream,
    opts: &ConnectOptions,
    target_host: &str,
    target_port: u16,
    stop: &AtomicBool,
) -> Result<(), SshError> {
    let session = Session::connect(opts)?;
    let mut channel = session.direct_tcpip(target_host, target_port)?;
    let io = |op: &'static str| {
        let remote = format!("{target_host}:{target_port}");
        move |source| SshError::LocalIo { op, remote, source }
    };
    stream
        .set_nonblocking(true)
        .map_err(io("configuring the local socket"))?;
    let _ = stream.set_nodelay(true);
    session.raw().set_blocking(false);
    let mut up = Vec::new(); // local -> remote, not yet accepted by the channel
    let mut down = Vec::new(); // remote -> local, not yet written to the socket
    let mut buf = vec![0u8; BUF];
    let mut local_eof = false;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut busy = false;
        if up.is_empty() && !local_eof {
            match stream.read(&mut buf) {
                Ok(0) => {
                    local_eof = true;
                    let _ = channel.send_eof();
                }
                Ok(n) => {
                    up.extend_from_slice(&buf[..n]);
                    busy = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(io("reading the local socket")(e)),
            }
        }
        if !up.is_empty() {
            match channel.write(&up) {
                Ok(n) => {
                    up.drain(..n);
                    busy = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(io("writing to the SSH channel")(e)),
            }
        }
        if down.is_empty() {
            match channel.read(&mut buf) {
                Ok(0) if channel.eof() => return Ok(()),
                Ok(0) => {}
                Ok(n) => {
                    down.extend_from_slice(&buf[..n]);
                    busy = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(io("reading the SSH channel")(e)),
            }
        }
        if !down.is_empty() {
            match stream.write(&down) {
                Ok(n) => {
                    down.drain(..n);
                    busy = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(io("writing the local socket")(e)),
            }
        }
        if !busy {
            std::thread::sleep(IDLE);
        }
    }
}
