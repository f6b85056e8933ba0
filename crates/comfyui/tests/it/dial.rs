//! A `Dialer` carries the HTTP requests and the WebSocket: the URL's host is never looked up.

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use comfy_local_comfyui::{ClientOptions, ComfyClient, Connection, Dialer};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions};

#[test]
fn http_and_websocket_use_the_dialer() {
    let fake = FakeComfy::start(FakeOptions::default());
    let port = fake.port();
    let dials = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&dials);
    let dialer = Dialer::new(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(TcpStream::connect(("127.0.0.1", port))?) as Box<dyn Connection>)
    });
    // `.invalid` never resolves (RFC 6761): only the dialer can reach the server.
    let client = ComfyClient::with_options(
        "http://comfyui.invalid:8188",
        ClientOptions::default().dialer(dialer),
    )
    .unwrap();
    let stats = client.system_stats().unwrap();
    assert_eq!(stats.system.comfyui_version.as_deref(), Some("0.3.64"));
    let http = dials.load(Ordering::SeqCst);
    assert!(http >= 1);
    client.ws_handshake().unwrap();
    assert!(
        dials.load(Ordering::SeqCst) > http,
        "the WebSocket must be dialed too"
    );
}

#[test]
fn a_failing_dialer_is_a_transport_error() {
    let dialer = Dialer::new(|| Err(std::io::Error::other("no tunnel")));
    let client = ComfyClient::with_options(
        "http://comfyui.invalid:8188",
        ClientOptions::default().dialer(dialer),
    )
    .unwrap();
    let err = client.system_stats().unwrap_err();
    assert!(format!("{err:?}").contains("no tunnel"), "{err:?}");
    assert!(client.ws_handshake().is_err());
}
