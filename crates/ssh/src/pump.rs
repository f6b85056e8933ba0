//! The crate's one pump: libssh2 in non-blocking mode, waiting with `poll(2)` on the session
//! socket in the directions libssh2 says it is blocked on (and on local descriptors), never
//! sleeping. [`Session::exec`], the exec-stream transfers and [`crate::Tunnel`] all run on it.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::{Session, SshError, sys};

/// libssh2's "would block" (`LIBSSH2_ERROR_EAGAIN`) as `ssh2` reports it.
pub(crate) const EAGAIN: ssh2::ErrorCode =
    ssh2::ErrorCode::Session(libssh2_sys::LIBSSH2_ERROR_EAGAIN);

/// Longest single wait before re-checking deadlines and sending a due keepalive.
pub(crate) const MAX_WAIT: Duration = Duration::from_millis(500);

/// Whether a libssh2 call only would have blocked.
pub(crate) fn would_block(e: &ssh2::Error) -> bool {
    e.code() == EAGAIN
}

/// Non-blocking mode while this lives; blocking again on drop, however the pump ends.
pub(crate) struct NonBlocking<'a>(&'a ssh2::Session);

impl<'a> NonBlocking<'a> {
    pub(crate) fn enter(s: &'a ssh2::Session) -> Self {
        s.set_blocking(false);
        NonBlocking(s)
    }
}

impl Drop for NonBlocking<'_> {
    fn drop(&mut self) {
        self.0.set_blocking(true);
    }
}

/// The poll entry of the session socket: readable always (the server may send at any time),
/// writable too when libssh2 is blocked sending.
pub(crate) fn session_pollfd(session: &ssh2::Session, socket: &TcpStream) -> libc::pollfd {
    let mut events = libc::POLLIN;
    if matches!(
        session.block_directions(),
        ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both
    ) {
        events |= libc::POLLOUT;
    }
    libc::pollfd {
        fd: socket.as_raw_fd(),
        events,
        revents: 0,
    }
}

/// Bytes kept up to a cap; what does not fit is dropped and remembered.
#[derive(Debug, Default)]
pub(crate) struct Capped {
    pub data: Vec<u8>,
    pub cap: usize,
    pub truncated: bool,
}

impl Capped {
    pub(crate) fn new(cap: usize) -> Capped {
        Capped {
            data: Vec::new(),
            cap,
            truncated: false,
        }
    }

    pub(crate) fn keep(&mut self, data: &[u8]) {
        let room = self.cap.saturating_sub(self.data.len());
        if data.len() > room {
            self.truncated = true;
        }
        self.data.extend_from_slice(&data[..data.len().min(room)]);
    }
}

/// When an exchange gives up.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Limit {
    /// The whole command, from start to exit status ([`SshError::CommandTimeout`]).
    Total(Duration),
    /// The longest time without any data moving (a stalled transfer).
    Idle(Duration),
}

/// Fills a buffer with the next stdin bytes; 0 is the end.
pub(crate) type Source<'a> = &'a mut dyn FnMut(&mut [u8]) -> Result<usize, SshError>;

/// What one exec channel exchanges: where stdin comes from, where stdout goes, when to give up.
pub(crate) struct Exchange<'a> {
    /// `None`: no stdin (EOF is sent at once).
    pub stdin: Option<Source<'a>>,
    /// Told how many stdin bytes the channel accepted.
    pub sent: &'a mut dyn FnMut(usize),
    /// Takes every stdout chunk.
    pub stdout: &'a mut dyn FnMut(&[u8]) -> Result<(), SshError>,
    /// How much stderr to keep.
    pub stderr_cap: usize,
    /// Read and write size.
    pub buf_size: usize,
    pub limit: Limit,
}

/// How an exchange ended.
#[derive(Debug)]
pub(crate) struct Ended {
    pub exit_status: i32,
    pub exit_signal: Option<String>,
    pub stderr: Capped,
    /// The command stopped reading stdin before the end (it exited or closed it).
    pub stdin_cut: bool,
    /// Writing stdin failed while the command was still running.
    pub stdin_failed: Option<std::io::Error>,
}

/// Where stdin stands.
struct Feed<'a> {
    source: Option<Source<'a>>,
    pending: Vec<u8>,
    pos: usize,
    cut: bool,
    failed: Option<std::io::Error>,
}

impl Session {
    /// Drives `chan` (a started exec channel) until stdout and stderr reach EOF and the channel
    /// closes, then reads how the command ended.
    pub(crate) fn pump_exec(
        &self,
        mut chan: ssh2::Channel,
        line: &str,
        x: Exchange<'_>,
    ) -> Result<Ended, SshError> {
        if x.stdin.is_none() {
            chan.send_eof()
                .map_err(|e| self.ssh_err(line, "closing stdin", e))?;
        }
        let guard = NonBlocking::enter(&self.inner);
        let started = Instant::now();
        let mut last_progress = started;
        let mut buf = vec![0u8; x.buf_size];
        let mut stderr = Capped::new(x.stderr_cap);
        let mut feed = Feed {
            source: x.stdin,
            pending: Vec::new(),
            pos: 0,
            cut: false,
            failed: None,
        };
        let (mut out_done, mut err_done) = (false, false);
        while !(out_done && err_done) {
            let mut progressed = false;
            if !out_done {
                match chan.read(&mut buf) {
                    // Reaching the end is progress too: with both streams ended the loop must
                    // leave now, not wait first for a packet that will not come (that wait,
                    // up to MAX_WAIT, cost every command about 250-500 ms).
                    Ok(0) => {
                        out_done = true;
                        progressed = true;
                    }
                    Ok(n) => {
                        progressed = true;
                        (x.stdout)(&buf[..n])?;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(self.channel_err(line, "reading stdout", e)),
                }
            }
            if !err_done {
                match chan.stderr().read(&mut buf) {
                    Ok(0) => {
                        err_done = true;
                        progressed = true;
                    }
                    Ok(n) => {
                        progressed = true;
                        stderr.keep(&buf[..n]);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(self.channel_err(line, "reading stderr", e)),
                }
            }
            progressed |=
                self.feed_stdin(&mut chan, line, &mut feed, x.buf_size, x.sent, out_done)?;
            if progressed {
                last_progress = Instant::now();
            } else if self.idle_wait(line, x.limit, started, last_progress)? {
                drop(guard);
                return Err(self.give_up(chan, line, x.limit));
            }
        }
        loop {
            match chan.wait_close() {
                Ok(()) => break,
                Err(e) if would_block(&e) => {
                    if self.idle_wait(line, x.limit, started, last_progress)? {
                        drop(guard);
                        return Err(self.give_up(chan, line, x.limit));
                    }
                }
                Err(e) => return Err(self.ssh_err(line, "waiting for the exit status", e)),
            }
        }
        drop(guard);
        let exit_signal = chan
            .exit_signal()
            .map_err(|e| self.ssh_err(line, "reading the exit signal", e))?
            .exit_signal;
        let exit_status = chan
            .exit_status()
            .map_err(|e| self.ssh_err(line, "reading the exit status", e))?;
        Ok(Ended {
            exit_status,
            exit_signal,
            stderr,
            stdin_cut: feed.cut,
            stdin_failed: feed.failed,
        })
    }

    /// One non-blocking step of feeding stdin; true when bytes moved or EOF was sent.
    fn feed_stdin(
        &self,
        chan: &mut ssh2::Channel,
        line: &str,
        feed: &mut Feed<'_>,
        buf_size: usize,
        sent: &mut dyn FnMut(usize),
        out_done: bool,
    ) -> Result<bool, SshError> {
        let Some(source) = feed.source.as_mut() else {
            return Ok(false);
        };
        let mut progressed = false;
        if feed.pos == feed.pending.len() {
            feed.pending.resize(buf_size, 0);
            let n = source(&mut feed.pending)?;
            feed.pending.truncate(n);
            feed.pos = 0;
            if n == 0 {
                match chan.send_eof() {
                    Ok(()) => {
                        feed.source = None;
                        return Ok(true);
                    }
                    Err(e) if would_block(&e) => return Ok(false),
                    Err(e) => return Err(self.ssh_err(line, "closing stdin", e)),
                }
            }
        }
        match chan.write(&feed.pending[feed.pos..]) {
            Ok(n) => {
                feed.pos += n;
                sent(n);
                progressed |= n > 0;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            // The command stopped reading stdin (exited or closed it): stop feeding it.
            Err(_) if out_done || chan.eof() => {
                feed.source = None;
                feed.cut = true;
            }
            // Keep draining: the command's exit status and stderr usually say why.
            Err(e) => {
                feed.source = None;
                feed.failed = Some(e);
            }
        }
        Ok(progressed)
    }

    /// Waits for the socket when nothing moved; true when `limit` has passed. Sends a due
    /// keepalive, and fails when the connection is gone.
    fn idle_wait(
        &self,
        line: &str,
        limit: Limit,
        started: Instant,
        last_progress: Instant,
    ) -> Result<bool, SshError> {
        let until = match limit {
            Limit::Total(d) => started + d,
            Limit::Idle(d) => last_progress + d,
        };
        let now = Instant::now();
        if now >= until {
            return Ok(true);
        }
        let _ = self.inner.keepalive_send();
        let mut fds = [session_pollfd(&self.inner, &self.socket)];
        sys::poll(&mut fds, (until - now).min(MAX_WAIT));
        if !self.is_alive() {
            return Err(self.channel_err(
                line,
                "waiting for output",
                std::io::Error::new(
                    ErrorKind::ConnectionAborted,
                    "connection closed by the server",
                ),
            ));
        }
        Ok(false)
    }

    /// Closes a channel whose `limit` passed without waiting, and says so.
    fn give_up(&self, mut chan: ssh2::Channel, line: &str, limit: Limit) -> SshError {
        // Close without waiting (a blocking channel free would wait for the command).
        // Known limit: sshd does not kill a command without a terminal when its channel
        // closes, and libssh2 refuses a "signal" request through `process_startup` on a
        // started channel ("Channel can not be reused"); `libssh2_channel_signal_ex` needs
        // the raw channel, which ssh2 0.9 hides. The command keeps running until it exits or
        // writes to the closed channel.
        {
            let _nb = NonBlocking::enter(&self.inner);
            let _ = chan.close();
            drop(chan);
        }
        match limit {
            Limit::Total(timeout) => SshError::CommandTimeout {
                host: self.opts.host.clone(),
                port: self.opts.port,
                command: line.to_owned(),
                timeout,
            },
            Limit::Idle(idle) => self.channel_err(
                line,
                "waiting for data",
                std::io::Error::new(ErrorKind::TimedOut, format!("no data moved for {idle:?}")),
            ),
        }
    }
}

/// Writes as much of `data[*pos..]` as `dst` takes now; true when bytes moved.
pub(crate) fn write_some(
    dst: &mut impl Write,
    data: &[u8],
    pos: &mut usize,
) -> std::io::Result<bool> {
    match dst.write(&data[*pos..]) {
        Ok(n) => {
            *pos += n;
            Ok(n > 0)
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}
