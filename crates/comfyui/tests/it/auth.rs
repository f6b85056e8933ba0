//! Credentials in the base URL (`http://user:pass@host`): sent as basic auth on HTTP requests and
//! on the WebSocket upgrade, never part of a URL the client shows.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use comfy_local_comfyui::{ApiPrefix, ClientOptions, ComfyClient};

/// `Basic base64("alice:s3cret pw")`.
const EXPECTED: &str = "Basic YWxpY2U6czNjcmV0IHB3";

fn client(port: u16) -> ComfyClient {
    ComfyClient::with_options(
        &format!("http://alice:s3cret%20pw@127.0.0.1:{port}"),
        ClientOptions::default()
            .api_prefix(ApiPrefix::Root)
            .request_timeout(Duration::from_secs(5)),
    )
    .expect("client")
}

#[test]
fn http_requests_carry_basic_auth_and_urls_do_not_show_it() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut auth = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("authorization")
            {
                auth = Some(value.trim().to_owned());
            }
        }
        let _ = tx.send(auth);
        let body = b"not json";
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(body);
    });
    let client = client(port);
    assert_eq!(client.base_url(), format!("http://127.0.0.1:{port}"));
    let error = client.system_stats().expect_err("the server answers 500");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(!shown.contains("alice"), "{shown}");
    assert!(
        !format!("{client:?}").contains("YWxpY2U"),
        "Debug shows the header"
    );
    let auth = rx.recv_timeout(Duration::from_secs(5)).expect("a request");
    assert_eq!(auth.as_deref(), Some(EXPECTED));
}

#[test]
fn websocket_upgrade_carries_basic_auth() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        #[expect(clippy::result_large_err, reason = "tungstenite's Callback signature")]
        let callback = |req: &tungstenite::handshake::server::Request,
                        resp: tungstenite::handshake::server::Response| {
            let auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let _ = tx.send(auth);
            Ok(resp)
        };
        if let Ok(mut ws) = tungstenite::accept_hdr(stream, callback) {
            let _ = ws.send(tungstenite::Message::text(
                r#"{"type":"status","data":{"status":{"exec_info":{"queue_remaining":0}},"sid":"x"}}"#,
            ));
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let hs = client(port).ws_handshake().expect("handshake");
    assert!(!hs.url.contains("s3cret"), "{}", hs.url);
    let auth = rx.recv_timeout(Duration::from_secs(5)).expect("an upgrade");
    assert_eq!(auth.as_deref(), Some(EXPECTED));
}

#[test]
fn invalid_url_error_hides_the_password() {
    let error = ComfyClient::new("ftp://alice:s3cret@127.0.0.1:1").expect_err("not http");
    assert!(!error.to_string().contains("s3cret"), "{error}");
}
