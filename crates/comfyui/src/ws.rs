//! The client's WebSocket to `/ws?clientId=...`: connect with timeouts, read typed events.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use tungstenite::client::IntoClientRequest as _;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use crate::client::ComfyClient;
use crate::dial::Connection;
use crate::error::ComfyError;
use crate::events::{Event, parse_binary, parse_text};

/// An open event socket.
#[derive(Debug)]
pub(crate) struct EventSocket {
    ws: WebSocket<Box<dyn Connection>>,
    url: String,
}

fn ws_err(url: &str, e: tungstenite::Error) -> ComfyError {
    let source: Box<dyn std::error::Error + Send + Sync> = match e {
        tungstenite::Error::Io(io) => Box::new(io),
        other => Box::new(other),
    };
    ComfyError::WebSocket {
        url: url.to_owned(),
        source,
    }
}

/// A TCP connection to the first address of `host` that accepts one.
fn tcp_connect(host: &str, port: u16, timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("{host} resolved to no address"),
    );
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

impl EventSocket {
    /// Connects (the client's dialer, or TCP with its connect timeout), performs the upgrade, and sends
    /// `feature_flags` when preview metadata is wanted.
    pub(crate) fn connect(client: &ComfyClient, client_id: &str) -> Result<Self, ComfyError> {
        let url = client.ws_url(client_id)?;
        let (host, port, tls) = client.host_port();
        if tls {
            return Err(ws_err(
                &url,
                tungstenite::Error::Url(tungstenite::error::UrlError::TlsFeatureNotEnabled),
            ));
        }
        let opts = client.options();
        let io = |e: std::io::Error| ws_err(&url, tungstenite::Error::Io(e));
        let stream: Box<dyn Connection> = match &opts.dialer {
            Some(dialer) => dialer.dial().map_err(io)?,
            None => Box::new(tcp_connect(host, port, opts.connect_timeout).map_err(io)?),
        };
        stream
            .set_read_timeout(Some(opts.request_timeout))
            .map_err(io)?;
        stream
            .set_write_timeout(Some(opts.request_timeout))
            .map_err(io)?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(opts.max_ws_message_bytes))
            .max_frame_size(Some(opts.max_ws_message_bytes));
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| ws_err(&url, e))?;
        if let Some(auth) = client.authorization() {
            let value = tungstenite::http::HeaderValue::from_str(auth)
                .map_err(|e| ws_err(&url, tungstenite::Error::HttpFormat(e.into())))?;
            request
                .headers_mut()
                .insert(tungstenite::http::header::AUTHORIZATION, value);
        }
        let (mut ws, _resp) =
            tungstenite::client::client_with_config(request, stream, Some(config)).map_err(
                |e| match e {
                    tungstenite::HandshakeError::Failure(e) => ws_err(&url, e),
                    tungstenite::HandshakeError::Interrupted(_) => ComfyError::Timeout {
                        url: url.clone(),
                        after: opts.request_timeout,
                    },
                },
            )?;
        if opts.preview_metadata {
            let flags = r#"{"type":"feature_flags","data":{"supports_preview_metadata":true}}"#;
            ws.send(Message::text(flags)).map_err(|e| ws_err(&url, e))?;
        }
        Ok(Self { ws, url })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Reads the next event, waiting at most `timeout`; `Ok(None)` when nothing arrived in time.
    /// A closed or broken socket is an error.
    pub(crate) fn read(&mut self, timeout: Duration) -> Result<Option<Event>, ComfyError> {
        let timeout = timeout.max(Duration::from_millis(1));
        self.ws
            .get_mut()
            .set_read_timeout(Some(timeout))
            .map_err(|e| ws_err(&self.url, tungstenite::Error::Io(e)))?;
        match self.ws.read() {
            Ok(Message::Text(t)) => Ok(Some(parse_text(t.as_str()))),
            Ok(Message::Binary(b)) => Ok(Some(parse_binary(&b))),
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => Ok(None),
            Ok(Message::Close(_)) => Err(ws_err(&self.url, tungstenite::Error::ConnectionClosed)),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(ws_err(&self.url, e)),
        }
    }
}
