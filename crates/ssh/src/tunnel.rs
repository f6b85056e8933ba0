//! A local forward that opens no port: each [`Tunnel::connect`] is a `direct-tcpip` channel
//! (as `ssh -L` opens per connection) whose local end is one half of a `socketpair(2)`, so no
//! other process or user on this machine can reach it.
//!
//! One pump thread owns the tunnel's single SSH session and moves the bytes of all its channels
//! (libssh2 in non-blocking mode, `poll(2)` on the session socket and every local end; see
//! `pump.rs`). One session instead of one per connection saves a handshake and authentication
//! per HTTP connection; opening a channel stalls the other channels for about one round trip.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::pump::{MAX_WAIT, NonBlocking, session_pollfd, would_block, write_some};
use crate::{ConnectOptions, Session, SshError, sys};

/// Read size of each direction of a channel (several SSH packets).
const BUF: usize = 256 * 1024;

/// Where the pump sends the answer to one [`Tunnel::connect`].
type Reply = mpsc::Sender<Result<UnixStream, SshError>>;

/// A forward to `host:port` as seen from the SSH server, reached through in-process streams.
/// Dropping it closes every stream it opened and stops its thread.
#[derive(Debug)]
pub struct Tunnel {
    target: String,
    requests: mpsc::Sender<Reply>,
    /// Writing a byte wakes the pump for a request; shutting it down stops the pump.
    wake: UnixStream,
    pump: Option<JoinHandle<()>>,
}

impl Tunnel {
    /// Connects a session and checks that the server forwards to `host:port` (one channel,
    /// opened and closed), so a refused forward fails here with [`SshError::Forward`] rather
    /// than at the first stream.
    pub fn open(opts: &ConnectOptions, host: &str, port: u16) -> Result<Tunnel, SshError> {
        let session = Session::connect(opts)?;
        drop(session.direct_tcpip(host, port)?);
        let target = format!("{host}:{port}");
        let local_io = |op| {
            let remote = target.clone();
            move |source| SshError::LocalIo { op, remote, source }
        };
        let (wake, wake_rx) = UnixStream::pair().map_err(local_io("creating the wake socket"))?;
        wake.set_nonblocking(true)
            .map_err(local_io("configuring the wake socket"))?;
        wake_rx
            .set_nonblocking(true)
            .map_err(local_io("configuring the wake socket"))?;
        let (requests, rx) = mpsc::channel();
        let mut pump = Pump {
            session,
            host: host.to_owned(),
            port,
            requests: rx,
            wake: wake_rx,
            links: Vec::new(),
            closing: Vec::new(),
        };
        let pump = std::thread::Builder::new()
            .name(format!("ssh-tunnel {target}"))
            .spawn(move || pump.run())
            .map_err(local_io("starting the tunnel thread"))?;
        Ok(Tunnel {
            target,
            requests,
            wake,
            pump: Some(pump),
        })
    }

    /// `host:port` the tunnel reaches (as seen from the SSH server).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// A new stream to the target: a fresh channel on the tunnel's session. The error wraps an
    /// [`SshError`] (e.g. [`SshError::Forward`]) when the channel cannot be opened, and is
    /// [`ErrorKind::NotConnected`] when the session is gone.
    pub fn connect(&self) -> std::io::Result<TunnelStream> {
        let stopped = || {
            std::io::Error::new(
                ErrorKind::NotConnected,
                format!("the SSH tunnel to {} is closed", self.target),
            )
        };
        let (tx, rx) = mpsc::channel();
        self.requests.send(tx).map_err(|_| stopped())?;
        match (&self.wake).write(&[1]) {
            // A full wake socket already has a wake-up pending.
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => return Err(stopped()),
        }
        let local = rx
            .recv()
            .map_err(|_| stopped())?
            .map_err(std::io::Error::other)?;
        Ok(TunnelStream(local))
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        let _ = self.wake.shutdown(std::net::Shutdown::Both);
        if let Some(pump) = self.pump.take() {
            let _ = pump.join();
        }
    }
}

/// One stream through a [`Tunnel`]: a Unix socket whose peer is the tunnel's pump. EOF and
/// close travel both ways (dropping it closes the channel; the target closing its connection
/// reads as EOF here).
#[derive(Debug)]
pub struct TunnelStream(UnixStream);

impl TunnelStream {
    /// See [`UnixStream::set_read_timeout`].
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.0.set_read_timeout(timeout)
    }

    /// See [`UnixStream::set_write_timeout`].
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.0.set_write_timeout(timeout)
    }

    /// A second handle to the same stream (e.g. to write from another thread).
    pub fn try_clone(&self) -> std::io::Result<TunnelStream> {
        self.0.try_clone().map(TunnelStream)
    }

    /// Ends one or both directions, like [`UnixStream::shutdown`].
    pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
        self.0.shutdown(how)
    }
}

impl From<TunnelStream> for UnixStream {
    fn from(s: TunnelStream) -> UnixStream {
        s.0
    }
}

impl Read for TunnelStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for TunnelStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Bytes read from one side, not yet taken by the other.
#[derive(Default)]
struct Pending {
    data: Vec<u8>,
    pos: usize,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.pos == self.data.len()
    }

    fn fill(&mut self, data: &[u8]) {
        self.data.clear();
        self.data.extend_from_slice(data);
        self.pos = 0;
    }
}

/// One stream: its local end and its channel.
struct Link {
    local: UnixStream,
    chan: ssh2::Channel,
    /// Local -> channel.
    up: Pending,
    /// Channel -> local.
    down: Pending,
    local_eof: bool,
    eof_sent: bool,
    remote_eof: bool,
    local_shut: bool,
}

/// What one step of a link did.
enum Step {
    Idle,
    Moved,
    /// Both directions ended, or one side failed: close the channel.
    Done,
}

impl Link {
    fn step(&mut self, buf: &mut [u8]) -> Step {
        match self.try_step(buf) {
            Ok(_) if self.eof_sent && self.local_shut => Step::Done,
            Ok(true) => Step::Moved,
            Ok(false) => Step::Idle,
            Err(e) => {
                tracing::debug!(error = %e, "tunnel stream ended with an error");
                Step::Done
            }
        }
    }

    fn try_step(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        let mut moved = false;
        if self.up.is_empty() && !self.local_eof {
            match self.local.read(buf) {
                Ok(0) => self.local_eof = true,
                Ok(n) => {
                    self.up.fill(&buf[..n]);
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        if !self.up.is_empty() {
            moved |= write_some(&mut self.chan, &self.up.data, &mut self.up.pos)?;
        }
        if self.local_eof && self.up.is_empty() && !self.eof_sent {
            match self.chan.send_eof() {
                Ok(()) => {
                    self.eof_sent = true;
                    moved = true;
                }
                Err(e) if would_block(&e) => {}
                Err(e) => return Err(std::io::Error::other(e)),
            }
        }
        if self.down.is_empty() && !self.remote_eof {
            // A channel read returns at most one SSH packet: gather several per local write.
            let mut got = 0;
            while got < buf.len() {
                match self.chan.read(&mut buf[got..]) {
                    Ok(0) if self.chan.eof() => {
                        self.remote_eof = true;
                        moved = true;
                        break;
                    }
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            if got > 0 {
                self.down.fill(&buf[..got]);
                moved = true;
            }
        }
        if !self.down.is_empty() {
            match sys::send_nosignal(&self.local, &self.down.data[self.down.pos..]) {
                Ok(n) => {
                    self.down.pos += n;
                    moved |= n > 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        if self.remote_eof && self.down.is_empty() && !self.local_shut {
            // The target closed its side: the stream's reader sees EOF.
            let _ = self.local.shutdown(std::net::Shutdown::Write);
            self.local_shut = true;
            moved = true;
        }
        Ok(moved)
    }

    /// Whether the next step calls libssh2 to read (a channel read, or a write, which reads
    /// what the server sent first) and to send.
    fn uses_session(&self) -> (bool, bool) {
        let reads = self.down.is_empty() && !self.remote_eof;
        let writes = !self.up.is_empty() || (self.local_eof && !self.eof_sent);
        (reads || writes, writes)
    }

    /// What to wait for on the local end. After its EOF the end is left out unless there is
    /// data for it: a closed peer reports POLLHUP whatever is asked, and waiting on it would
    /// spin until the target closes too (writing then fails with EPIPE, which ends the link).
    fn pollfd(&self) -> libc::pollfd {
        let mut events = 0;
        if self.up.is_empty() && !self.local_eof {
            events |= libc::POLLIN;
        }
        if !self.down.is_empty() {
            events |= libc::POLLOUT;
        }
        libc::pollfd {
            fd: if events == 0 {
                -1
            } else {
                self.local.as_raw_fd()
            },
            events,
            revents: 0,
        }
    }
}

/// The tunnel's thread: owns the session and every channel.
struct Pump {
    session: Session,
    host: String,
    port: u16,
    requests: mpsc::Receiver<Reply>,
    wake: UnixStream,
    links: Vec<Link>,
    /// Channels being closed (waiting for the server's close).
    closing: Vec<ssh2::Channel>,
}

impl Pump {
    fn run(&mut self) {
        let session = self.session.inner.clone();
        let _nb = NonBlocking::enter(&session);
        let mut buf = vec![0u8; BUF];
        loop {
            if !self.take_requests() {
                break;
            }
            let mut moved = false;
            let mut i = 0;
            while i < self.links.len() {
                match self.links[i].step(&mut buf) {
                    Step::Idle => i += 1,
                    Step::Moved => {
                        moved = true;
                        i += 1;
                    }
                    Step::Done => {
                        let link = self.links.swap_remove(i);
                        self.closing.push(link.chan);
                        moved = true;
                    }
                }
            }
            self.closing
                .retain_mut(|chan| matches!(chan.close(), Err(e) if would_block(&e)));
            if moved {
                continue;
            }
            let socket = self.socket_pollfd();
            let mut fds = vec![
                socket,
                libc::pollfd {
                    fd: self.wake.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            fds.extend(self.links.iter().map(Link::pollfd));
            sys::poll(&mut fds, MAX_WAIT);
            let _ = self.session.inner.keepalive_send();
            if !self.session.is_alive() {
                tracing::debug!(host = %self.host, port = self.port, "SSH tunnel session closed");
                break;
            }
        }
        // Dropping the links closes their local ends: readers see EOF.
        self.links.clear();
        self.closing.clear();
    }

    /// The session socket's poll entry. Wait for what the server sends only when the next pass
    /// calls libssh2 to read it: with no channel, or every channel's reader behind, it stays
    /// in the kernel (TCP backpressure, as with one session per connection) instead of waking
    /// this loop for nothing, a spin (libssh2 has no call that reads the socket without
    /// handing out, and re-opening the window of, some channel's data). Writable likewise only
    /// while something waits to be sent: libssh2's block directions stay as the last call that
    /// would have blocked left them. Keepalives still go out.
    fn socket_pollfd(&self) -> libc::pollfd {
        let (mut reads, mut writes) = (!self.closing.is_empty(), !self.closing.is_empty());
        for link in &self.links {
            let (r, w) = link.uses_session();
            reads |= r;
            writes |= w;
        }
        let mut fd = session_pollfd(&self.session.inner, &self.session.socket);
        if !reads {
            fd.events &= !libc::POLLIN;
        }
        if !writes {
            fd.events &= !libc::POLLOUT;
        }
        fd
    }

    /// Opens a channel for every waiting request; false when the tunnel was dropped.
    fn take_requests(&mut self) -> bool {
        let mut byte = [0u8; 64];
        loop {
            match self.wake.read(&mut byte) {
                Ok(0) => return false,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => return false,
            }
        }
        loop {
            match self.requests.try_recv() {
                Ok(reply) => {
                    let _ = reply.send(self.open_link());
                }
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// A new channel and the socket pair of its stream; returns the caller's end.
    fn open_link(&mut self) -> Result<UnixStream, SshError> {
        let chan = self.open_channel()?;
        let local_io = |op| {
            let remote = format!("{}:{}", self.host, self.port);
            move |source| SshError::LocalIo { op, remote, source }
        };
        let (ours, theirs) = UnixStream::pair().map_err(local_io("creating a stream"))?;
        ours.set_nonblocking(true)
            .map_err(local_io("configuring a stream"))?;
        self.links.push(Link {
            local: ours,
            chan,
            up: Pending::default(),
            down: Pending::default(),
            local_eof: false,
            eof_sent: false,
            remote_eof: false,
            local_shut: false,
        });
        Ok(theirs)
    }

    /// Opens a `direct-tcpip` channel in non-blocking mode, waiting at most the connect
    /// timeout. The other channels wait meanwhile.
    fn open_channel(&self) -> Result<ssh2::Channel, SshError> {
        let s = &self.session;
        let deadline = Instant::now() + s.options().connect_timeout;
        loop {
            match s.inner.channel_direct_tcpip(&self.host, self.port, None) {
                Ok(chan) => return Ok(chan),
                Err(e) if would_block(&e) && Instant::now() < deadline => {
                    let mut fds = [session_pollfd(&s.inner, &s.socket)];
                    sys::poll(&mut fds, MAX_WAIT);
                }
                Err(e) => return Err(s.forward_err(&self.host, self.port, &e)),
            }
        }
    }
}
