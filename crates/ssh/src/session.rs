//! A connected, authenticated SSH session: running commands, opening SFTP and TCP forwards.
//!
//! libssh2 serialises everything on one session (a blocking read blocks every channel), so use
//! one `Session` per concurrent activity; [`crate::Pool`] hands them out.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::connect::ConnectTimings;
use crate::{Command, ConnectOptions, ExecOutput, Sftp, SshError, connect, sys};

/// Read size for command output.
const EXEC_BUF: usize = 64 * 1024;
/// Longest single wait before re-checking the deadline and sending a due keepalive.
const MAX_WAIT: Duration = Duration::from_millis(500);

/// A connected and authenticated SSH session.
pub struct Session {
    pub(crate) inner: ssh2::Session,
    socket: TcpStream,
    opts: ConnectOptions,
    fingerprint: String,
    timings: ConnectTimings,
    broken: AtomicBool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("host", &self.opts.host)
            .field("port", &self.opts.port)
            .field("user", &self.opts.user)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Restores blocking mode when an exec loop ends, however it ends.
struct NonBlocking<'a>(&'a ssh2::Session);

impl<'a> NonBlocking<'a> {
    fn enter(s: &'a ssh2::Session) -> Self {
        s.set_blocking(false);
        NonBlocking(s)
    }
}

impl Drop for NonBlocking<'_> {
    fn drop(&mut self) {
        self.0.set_blocking(true);
    }
}

impl Session {
    /// Connects, verifies the host key and authenticates with the key file.
    pub fn connect(opts: &ConnectOptions) -> Result<Session, SshError> {
        let c = connect::connect(opts)?;
        Ok(Session {
            inner: c.session,
            socket: c.socket,
            opts: opts.clone(),
            fingerprint: c.fingerprint,
            timings: c.timings,
            broken: AtomicBool::new(false),
        })
    }

    /// How long TCP connect, handshake + host key check, and authentication took.
    pub fn connect_timings(&self) -> ConnectTimings {
        self.timings
    }

    pub fn options(&self) -> &ConnectOptions {
        &self.opts
    }

    pub fn host(&self) -> &str {
        &self.opts.host
    }

    pub fn port(&self) -> u16 {
        self.opts.port
    }

    /// The server's host key fingerprint, `SHA256:<base64>` as OpenSSH prints it.
    pub fn host_key_fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// The negotiated cipher (client to server), e.g. `chacha20-poly1305@openssh.com`.
    pub fn cipher(&self) -> Option<String> {
        self.inner
            .methods(ssh2::MethodType::CryptCs)
            .map(str::to_owned)
    }

    /// False once the connection is known to be gone (peer closed it, or an operation failed at
    /// the transport level). Cheap: no round trip.
    pub fn is_alive(&self) -> bool {
        if self.broken.load(Ordering::Relaxed) {
            return false;
        }
        // libssh2 keeps the socket non-blocking, so peek never waits.
        let mut b = [0u8; 1];
        match self.socket.peek(&mut b) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == ErrorKind::WouldBlock,
        }
    }

    pub(crate) fn mark_broken_if_transport(&self, code: ssh2::ErrorCode) {
        // Negative libssh2 codes other than timeouts/EAGAIN mean the transport is unusable.
        if let ssh2::ErrorCode::Session(c) = code
            && matches!(c, -7 | -13 | -43 | -2 | -1)
        {
            self.broken.store(true, Ordering::Relaxed);
        }
    }

    fn channel_err(&self, command: &str, op: &'static str, source: std::io::Error) -> SshError {
        if matches!(
            source.kind(),
            ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof
        ) {
            self.broken.store(true, Ordering::Relaxed);
        }
        SshError::Channel {
            host: self.opts.host.clone(),
            port: self.opts.port,
            command: command.to_owned(),
            op,
            source,
        }
    }

    fn ssh_err(&self, command: &str, op: &'static str, e: ssh2::Error) -> SshError {
        self.mark_broken_if_transport(e.code());
        self.channel_err(command, op, std::io::Error::other(e))
    }

    /// Runs `cmd` and waits for it: stdout and stderr are drained together, stdin is streamed,
    /// and the command is cut off at its timeout.
    pub fn exec(&self, cmd: &Command) -> Result<ExecOutput, SshError> {
        let line = cmd.to_command_line()?;
        let timeout = cmd.get_timeout().unwrap_or(self.opts.command_timeout);
        let deadline = Instant::now() + timeout;
        let mut stdin = cmd.take_stdin();
        let cap = cmd.get_output_cap();

        let mut chan = self
            .inner
            .channel_session()
            .map_err(|e| self.ssh_err(&line, "opening a channel", e))?;
        chan.exec(&line)
            .map_err(|e| self.ssh_err(&line, "starting the command", e))?;
        if stdin.is_none() {
            chan.send_eof()
                .map_err(|e| self.ssh_err(&line, "closing stdin", e))?;
        }

        let mut out = ExecOutput::default();
        let guard = NonBlocking::enter(&self.inner);
        let mut buf = vec![0u8; EXEC_BUF];
        let mut pending: Vec<u8> = Vec::new();
        let mut pending_pos = 0;
        let (mut out_done, mut err_done) = (false, false);
        loop {
            let mut progressed = false;
            if !out_done {
                match chan.read(&mut buf) {
                    Ok(0) => out_done = true,
                    Ok(n) => {
                        progressed = true;
                        keep(&mut out.stdout, &mut out.stdout_truncated, &buf[..n], cap);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(self.channel_err(&line, "reading stdout", e)),
                }
            }
            if !err_done {
                match chan.stderr().read(&mut buf) {
                    Ok(0) => err_done = true,
                    Ok(n) => {
                        progressed = true;
                        keep(&mut out.stderr, &mut out.stderr_truncated, &buf[..n], cap);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(self.channel_err(&line, "reading stderr", e)),
                }
            }
            if let Some(reader) = stdin.as_mut() {
                if pending_pos == pending.len() {
                    pending.resize(EXEC_BUF, 0);
                    let n = reader.read(&mut pending).map_err(|e| SshError::LocalIo {
                        op: "reading stdin for the command",
                        remote: line.clone(),
                        source: e,
                    })?;
                    pending.truncate(n);
                    pending_pos = 0;
                    if n == 0 {
                        match chan.send_eof() {
                            Ok(()) => stdin = None,
                            Err(e) if e.code() == ssh2::ErrorCode::Session(-37) => {}
                            Err(e) => return Err(self.ssh_err(&line, "closing stdin", e)),
                        }
                    }
                }
                if pending_pos < pending.len() {
                    match chan.write(&pending[pending_pos..]) {
                        Ok(n) => {
                            pending_pos += n;
                            progressed |= n > 0;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        // The command stopped reading stdin (exited or closed it): stop feeding it.
                        Err(_) if out_done || chan.eof() => stdin = None,
                        Err(e) => return Err(self.channel_err(&line, "writing stdin", e)),
                    }
                }
            }
            if out_done && err_done {
                break;
            }
            if !progressed {
                let now = Instant::now();
                if now >= deadline {
                    drop(guard);
                    // Close without waiting (a blocking channel free would wait for the command).
                    // Known limit: sshd does not kill a command without a terminal when its
                    // channel closes, and libssh2 refuses a "signal" request through
                    // `process_startup` on a started channel ("Channel can not be reused");
                    // `libssh2_channel_signal_ex` needs the raw channel, which ssh2 0.9 hides.
                    // The command keeps running until it exits or writes to the closed channel.
                    self.inner.set_blocking(false);
                    let _ = chan.close();
                    drop(chan);
                    self.inner.set_blocking(true);
                    return Err(SshError::CommandTimeout {
                        host: self.opts.host.clone(),
                        port: self.opts.port,
                        command: line,
                        timeout,
                    });
                }
                let _ = self.inner.keepalive_send();
                let dirs = self.inner.block_directions();
                let want_write = matches!(
                    dirs,
                    ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both
                );
                sys::wait_socket(
                    &self.socket,
                    true,
                    want_write,
                    (deadline - now).min(MAX_WAIT),
                );
                if !self.is_alive() {
                    return Err(self.channel_err(
                        &line,
                        "waiting for output",
                        std::io::Error::new(
                            ErrorKind::ConnectionAborted,
                            "connection closed by the server",
                        ),
                    ));
                }
            }
        }
        loop {
            match chan.wait_close() {
                Ok(()) => break,
                Err(e) if e.code() == ssh2::ErrorCode::Session(-37) => {
                    if Instant::now() >= deadline {
                        return Err(SshError::CommandTimeout {
                            host: self.opts.host.clone(),
                            port: self.opts.port,
                            command: line,
                            timeout,
                        });
                    }
                    sys::wait_socket(&self.socket, true, false, MAX_WAIT);
                }
                Err(e) => return Err(self.ssh_err(&line, "waiting for the exit status", e)),
            }
        }
        drop(guard);
        out.exit_signal = chan
            .exit_signal()
            .map_err(|e| self.ssh_err(&line, "reading the exit signal", e))?
            .exit_signal;
        out.exit_status = chan
            .exit_status()
            .map_err(|e| self.ssh_err(&line, "reading the exit status", e))?;
        Ok(out)
    }

    /// Opens an SFTP session on this connection.
    pub fn sftp(&self) -> Result<Sftp, SshError> {
        let sftp = self.inner.sftp().map_err(|e| {
            self.mark_broken_if_transport(e.code());
            SshError::SftpStart {
                host: self.opts.host.clone(),
                port: self.opts.port,
                source: e,
            }
        })?;
        Ok(Sftp::new(
            sftp,
            self.inner.clone(),
            self.opts.host.clone(),
            self.opts.port,
        ))
    }

    /// A `direct-tcpip` channel to `host:port` as seen from the server (a local port forward).
    /// The server must allow TCP forwarding.
    pub fn direct_tcpip(&self, host: &str, port: u16) -> Result<ssh2::Channel, SshError> {
        self.inner
            .channel_direct_tcpip(host, port, None)
            .map_err(|e| {
                self.mark_broken_if_transport(e.code());
                SshError::Forward {
                    host: self.opts.host.clone(),
                    port: self.opts.port,
                    target_host: host.to_owned(),
                    target_port: port,
                    message: e.message().to_owned(),
                    source: e,
                }
            })
    }

    /// The raw ssh2 session, for what this crate does not wrap. Keep to one activity at a time.
    pub fn raw(&self) -> &ssh2::Session {
        &self.inner
    }
}

fn keep(dst: &mut Vec<u8>, truncated: &mut bool, data: &[u8], cap: usize) {
    let room = cap.saturating_sub(dst.len());
    if data.len() > room {
        *truncated = true;
    }
    dst.extend_from_slice(&data[..data.len().min(room)]);
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.broken.load(Ordering::Relaxed) {
            // Bounded: a dead peer must not hold up a drop.
            self.inner.set_timeout(1000);
            let _ = self.inner.disconnect(None, "bye", None);
        }
    }
}

/// Flushes a writer and maps the error to the transfer's error type.
pub(crate) fn write_all_to(dst: &mut dyn Write, data: &[u8], remote: &str) -> Result<(), SshError> {
    dst.write_all(data).map_err(|e| SshError::LocalIo {
        op: "write",
        remote: remote.to_owned(),
        source: e,
    })
}
