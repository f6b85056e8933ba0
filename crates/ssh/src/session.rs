//! A connected, authenticated SSH session: running commands, opening SFTP and `direct-tcpip`
//! channels (for [`crate::Tunnel`]).
//!
//! libssh2 serialises everything on one session (a blocking read blocks every channel), so use
//! one `Session` per concurrent activity.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::connect::ConnectTimings;
use crate::pump::{Capped, Exchange, Limit, Source};
use crate::{Command, ConnectOptions, ExecOutput, Sftp, SshError, connect};

/// Read size for command output.
const EXEC_BUF: usize = 64 * 1024;

/// A connected and authenticated SSH session.
pub struct Session {
    pub(crate) inner: ssh2::Session,
    pub(crate) socket: TcpStream,
    pub(crate) opts: ConnectOptions,
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
            && matches!(
                c,
                libssh2_sys::LIBSSH2_ERROR_SOCKET_SEND
                    | libssh2_sys::LIBSSH2_ERROR_SOCKET_DISCONNECT
                    | libssh2_sys::LIBSSH2_ERROR_SOCKET_RECV
                    | libssh2_sys::LIBSSH2_ERROR_BANNER_RECV
                    // LIBSSH2_ERROR_SOCKET_NONE, which libssh2-sys does not declare.
                    | -1
            )
        {
            self.broken.store(true, Ordering::Relaxed);
        }
    }

    pub(crate) fn channel_err(
        &self,
        command: &str,
        op: &'static str,
        source: std::io::Error,
    ) -> SshError {
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

    pub(crate) fn ssh_err(&self, command: &str, op: &'static str, e: ssh2::Error) -> SshError {
        self.mark_broken_if_transport(e.code());
        self.channel_err(command, op, std::io::Error::other(e))
    }

    /// Runs `cmd` and waits for it: stdout and stderr are drained together, stdin is streamed,
    /// and the command is cut off at its timeout.
    pub fn exec(&self, cmd: &Command) -> Result<ExecOutput, SshError> {
        let timeout = cmd.get_timeout().unwrap_or(self.opts.command_timeout);
        let line = cmd.to_command_line()?;
        let stdin = cmd.take_stdin();
        let chan = self.exec_channel(&line)?;
        self.capture(
            chan,
            &line,
            cmd.get_output_cap(),
            stdin,
            Limit::Total(timeout),
        )
    }

    /// Drives the started `chan` as [`Session::drive`] does, keeping stdout up to `cap` in the
    /// output.
    pub(crate) fn capture(
        &self,
        chan: ssh2::Channel,
        line: &str,
        cap: usize,
        stdin: Option<Box<dyn Read + Send>>,
        limit: Limit,
    ) -> Result<ExecOutput, SshError> {
        let mut stdout = Capped::new(cap);
        let mut out = self.drive(chan, line, cap, stdin, limit, &mut |data| {
            stdout.keep(data);
            Ok(())
        })?;
        out.stdout = stdout.data;
        out.stdout_truncated = stdout.truncated;
        Ok(out)
    }

    /// Runs `cmd` like [`Session::exec`], but hands stdout to `stdout` as it arrives (for a
    /// long command that reports progress) and cuts the command off only when no data moved
    /// for `idle`. An error from `stdout` stops the command (the channel is closed). The
    /// returned output's `stdout` is empty.
    pub fn exec_streaming(
        &self,
        cmd: &Command,
        idle: std::time::Duration,
        stdout: &mut dyn FnMut(&[u8]) -> Result<(), SshError>,
    ) -> Result<ExecOutput, SshError> {
        let line = cmd.to_command_line()?;
        let stdin = cmd.take_stdin();
        let chan = self.exec_channel(&line)?;
        self.drive(
            chan,
            &line,
            cmd.get_output_cap(),
            stdin,
            Limit::Idle(idle),
            stdout,
        )
    }

    /// Drives the started exec channel `chan` (running `line`) to its exit: stdin streamed
    /// from `stdin` (`None`: EOF at once), stdout to `stdout`, stderr kept up to `cap`. The
    /// returned output's `stdout` is empty.
    fn drive(
        &self,
        chan: ssh2::Channel,
        line: &str,
        cap: usize,
        mut stdin: Option<Box<dyn Read + Send>>,
        limit: Limit,
        stdout: &mut dyn FnMut(&[u8]) -> Result<(), SshError>,
    ) -> Result<ExecOutput, SshError> {
        let has_stdin = stdin.is_some();
        let mut read_stdin = |buf: &mut [u8]| match stdin.as_mut() {
            Some(reader) => reader.read(buf).map_err(|source| SshError::LocalIo {
                op: "reading stdin for the command",
                remote: line.to_owned(),
                source,
            }),
            None => Ok(0),
        };
        let ended = self.pump_exec(
            chan,
            line,
            Exchange {
                stdin: has_stdin.then_some(&mut read_stdin as Source<'_>),
                sent: &mut |_| {},
                stdout,
                stderr_cap: cap,
                buf_size: EXEC_BUF,
                limit,
            },
        )?;
        if let Some(source) = ended.stdin_failed {
            return Err(self.channel_err(line, "writing stdin", source));
        }
        Ok(ExecOutput {
            exit_status: ended.exit_status,
            exit_signal: ended.exit_signal,
            stdout: Vec::new(),
            stderr: ended.stderr.data,
            stdout_truncated: false,
            stderr_truncated: ended.stderr.truncated,
        })
    }

    /// A session channel running `line`.
    pub(crate) fn exec_channel(&self, line: &str) -> Result<ssh2::Channel, SshError> {
        let mut chan = self
            .inner
            .channel_session()
            .map_err(|e| self.ssh_err(line, "opening a channel", e))?;
        chan.exec(line)
            .map_err(|e| self.ssh_err(line, "starting the command", e))?;
        Ok(chan)
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

    /// A `direct-tcpip` channel to `host:port` as seen from the server (blocking mode). The
    /// server must allow TCP forwarding.
    pub(crate) fn direct_tcpip(&self, host: &str, port: u16) -> Result<ssh2::Channel, SshError> {
        self.inner
            .channel_direct_tcpip(host, port, None)
            .map_err(|e| self.forward_err(host, port, &e))
    }

    /// The error of a `direct-tcpip` channel to `host:port` that did not open.
    pub(crate) fn forward_err(&self, host: &str, port: u16, e: &ssh2::Error) -> SshError {
        self.mark_broken_if_transport(e.code());
        SshError::Forward {
            host: self.opts.host.clone(),
            port: self.opts.port,
            target_host: host.to_owned(),
            target_port: port,
            message: e.message().to_owned(),
        }
    }
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
