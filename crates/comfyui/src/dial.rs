//! Connections the client does not open itself: a [`Dialer`] hands out byte streams (e.g.
//! channels of an SSH tunnel) that carry the HTTP requests and the WebSocket instead of TCP.
//! The base URL still names the server: its host and port go into the `Host` header.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport,
};

/// A connected byte stream to the ComfyUI server.
pub trait Connection: Read + Write + fmt::Debug + Send + Sync + 'static {
    /// Bounds every following read (`None`: wait forever); a read past it fails with
    /// `WouldBlock` or `TimedOut`.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Bounds every following write.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Switches non-blocking mode (used to check that an idle pooled connection is still open).
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()>;
}

impl Connection for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        TcpStream::set_nonblocking(self, nonblocking)
    }
}

#[cfg(unix)]
impl Connection for UnixStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_write_timeout(self, timeout)
    }
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        UnixStream::set_nonblocking(self, nonblocking)
    }
}

/// The function a [`Dialer`] calls for each new connection.
type DialFn = dyn Fn() -> io::Result<Box<dyn Connection>> + Send + Sync;

/// Opens a new connection to the server for each HTTP connection and each WebSocket, in place
/// of a TCP connect to the URL's host (which is then never resolved).
#[derive(Clone)]
pub struct Dialer(Arc<DialFn>);

impl Dialer {
    pub fn new(dial: impl Fn() -> io::Result<Box<dyn Connection>> + Send + Sync + 'static) -> Self {
        Dialer(Arc::new(dial))
    }

    pub(crate) fn dial(&self) -> io::Result<Box<dyn Connection>> {
        (self.0)()
    }
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dialer")
    }
}

/// ureq's connector for a [`Dialer`].
#[derive(Debug)]
pub(crate) struct DialConnector(pub Dialer);

impl<In: Transport> Connector<In> for DialConnector {
    type Out = DialTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<In>,
    ) -> Result<Option<DialTransport>, ureq::Error> {
        let conn = self.0.dial().map_err(ureq::Error::Io)?;
        let config = details.config;
        Ok(Some(DialTransport {
            conn,
            buffers: LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size()),
        }))
    }
}

/// The URL's host is never looked up: the dialer knows where to go. ureq wants one address.
#[derive(Debug)]
pub(crate) struct NoLookup;

impl Resolver for NoLookup {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut addrs = self.empty();
        addrs.push(SocketAddr::from(([127, 0, 0, 1], 0)));
        Ok(addrs)
    }
}

/// One dialed connection as ureq's transport.
#[derive(Debug)]
pub(crate) struct DialTransport {
    conn: Box<dyn Connection>,
    buffers: LazyBuffers,
}

/// The timeout to apply, or a timeout error when none is left.
fn remaining(timeout: NextTimeout) -> Result<Option<Duration>, ureq::Error> {
    if !timeout.after.is_not_happening() && timeout.after.is_zero() {
        return Err(ureq::Error::Timeout(timeout.reason));
    }
    Ok(timeout.not_zero().map(|d| *d))
}

fn io_err(e: io::Error, timeout: NextTimeout) -> ureq::Error {
    if matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) {
        ureq::Error::Timeout(timeout.reason)
    } else {
        ureq::Error::Io(e)
    }
}

impl Transport for DialTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        self.conn.set_write_timeout(remaining(timeout)?)?;
        let output = &self.buffers.output()[..amount];
        self.conn
            .write_all(output)
            .and_then(|()| self.conn.flush())
            .map_err(|e| io_err(e, timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        self.conn.set_read_timeout(remaining(timeout)?)?;
        let input = self.buffers.input_append_buf();
        let amount = loop {
            match self.conn.read(input) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other.map_err(|e| io_err(e, timeout))?,
            }
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        // Open means: nothing to read and not at EOF (as ureq's TCP transport checks).
        if self.conn.set_nonblocking(true).is_err() {
            return false;
        }
        let open = matches!(
            self.conn.read(&mut [0u8; 1]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock
        );
        open && self.conn.set_nonblocking(false).is_ok()
    }
}
