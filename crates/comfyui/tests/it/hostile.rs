//! Malformed and hostile servers (raw TCP on loopback): every answer is an error, never a panic.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use comfy_local_comfyui::{
    ApiPrefix, ClientOptions, ComfyClient, ComfyError, Event, OutputFile, SubmitOptions,
};
use proptest::prelude::*;

/// Serves every connection with `reply` (a function of the connection) until the test ends.
fn raw_server(reply: impl Fn(TcpStream) + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let reply = std::sync::Arc::new(reply);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let reply = reply.clone();
            std::thread::spawn(move || reply(stream));
        }
    });
    port
}

/// Reads the request head (and ignores any body).
fn read_head(stream: &mut TcpStream) {
    let mut buf = [0u8; 1];
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(1) => head.push(buf[0]),
            _ => return,
        }
    }
}

fn fixed(response: &'static [u8]) -> u16 {
    raw_server(move |mut s| {
        read_head(&mut s);
        let _ = s.write_all(response);
    })
}

/// A complete response with a correct `Content-Length`.
fn http(status: &str, headers: &str, body: &[u8]) -> &'static [u8] {
    let head = format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    );
    Box::leak([head.as_bytes(), body].concat().into_boxed_slice())
}

fn client(port: u16) -> ComfyClient {
    ComfyClient::with_options(
        &format!("http://127.0.0.1:{port}"),
        ClientOptions::default()
            .api_prefix(ApiPrefix::Root)
            .request_timeout(Duration::from_millis(800))
            .max_response_bytes(1024 * 1024)
            .max_download_bytes(2 * 1024 * 1024),
    )
    .expect("client")
}

#[test]
fn a_huge_body_is_too_large_not_out_of_memory() {
    let port = raw_server(|mut s| {
        read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000000000\r\n\r\n[");
        let chunk = vec![b'1'; 64 * 1024];
        while s.write_all(&chunk).is_ok() {}
    });
    let c = client(port);
    assert!(matches!(
        c.embeddings(),
        Err(ComfyError::TooLarge {
            limit: 1_048_576,
            ..
        })
    ));
    let file = OutputFile {
        filename: "x.png".into(),
        subfolder: String::new(),
        kind: "output".into(),
    };
    let mut sink = Vec::new();
    let err = c.view(&file, &mut sink).expect_err("limit");
    assert!(
        matches!(
            err,
            ComfyError::TooLarge {
                limit: 2_097_152,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(sink.len() <= 2 * 1024 * 1024);
}

#[test]
fn an_endless_chunked_body_is_too_large() {
    let port = raw_server(|mut s| {
        read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        let chunk = format!("{:x}\r\n{}\r\n", 8192, "a".repeat(8192));
        while s.write_all(chunk.as_bytes()).is_ok() {}
    });
    assert!(matches!(
        client(port).object_info(),
        Err(ComfyError::TooLarge { .. })
    ));
}

/// A client that would wait 30 s for a whole call, but calls a body stalled when it brings
/// fewer than 1 KiB in any 500 ms (or nothing at all for 500 ms).
fn impatient(port: u16) -> ComfyClient {
    ComfyClient::with_options(
        &format!("http://127.0.0.1:{port}"),
        ClientOptions::default()
            .api_prefix(ApiPrefix::Root)
            .request_timeout(Duration::from_secs(30))
            .transfer_timeout(Duration::from_secs(30))
            .stall_timeout(Duration::from_millis(500))
            .stall_min_bytes(1024),
    )
    .expect("client")
}

/// Sends a response head promising `len` bytes, then one byte every `every`.
fn trickle(len: usize, every: Duration) -> u16 {
    raw_server(move |mut s| {
        read_head(&mut s);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n["
        );
        let _ = s.write_all(head.as_bytes());
        for _ in 1..len {
            std::thread::sleep(every);
            if s.write_all(b" ").is_err() {
                return;
            }
        }
    })
}

#[test]
fn a_trickling_body_is_stalled_long_before_the_call_timeout() {
    // One byte every 100 ms: every read gets a byte well within the per-read timeout, but a
    // 500 ms window brings 5 bytes, not 1 KiB.
    let port = trickle(100_000, Duration::from_millis(100));
    let file = OutputFile {
        filename: "x.png".into(),
        subfolder: String::new(),
        kind: "output".into(),
    };
    let started = std::time::Instant::now();
    let err = impatient(port).embeddings().expect_err("stalled");
    assert!(
        matches!(
            err,
            ComfyError::Stalled {
                min_bytes: 1024,
                ..
            }
        ),
        "{err:?}"
    );
    let mut sink = Vec::new();
    let err = impatient(port).view(&file, &mut sink).expect_err("stalled");
    assert!(
        matches!(
            err,
            ComfyError::Stalled {
                min_bytes: 1024,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(err.to_string().contains("stalled"), "{err}");
}

#[test]
fn a_body_that_stops_is_stalled_after_the_per_read_timeout() {
    let port = raw_server(|mut s| {
        read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n[1,");
        std::thread::sleep(Duration::from_secs(10));
    });
    let started = std::time::Instant::now();
    let err = impatient(port).object_info().expect_err("stalled");
    assert!(
        matches!(err, ComfyError::Stalled { min_bytes: 1, .. }),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn every_json_endpoint_reads_at_most_max_response_bytes() {
    let port = raw_server(|mut s| {
        read_head(&mut s);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
        let chunk = format!("{:x}\r\n{}\r\n", 8192, " ".repeat(8192));
        while s.write_all(chunk.as_bytes()).is_ok() {}
    });
    let c = client(port);
    let results: Vec<(&str, Result<(), ComfyError>)> = vec![
        ("object_info", c.object_info().map(drop)),
        (
            "object_info_class",
            c.object_info_class("KSampler").map(drop),
        ),
        ("system_stats", c.system_stats().map(drop)),
        ("queue", c.queue().map(drop)),
        ("history", c.history("p").map(drop)),
        ("history_list", c.history_list(None).map(drop)),
        ("models", c.models("checkpoints").map(drop)),
        ("model_folders", c.model_folders().map(drop)),
        ("features", c.features().map(drop)),
        ("extensions", c.extensions().map(drop)),
        ("queue_remaining", c.queue_remaining().map(drop)),
        (
            "submit",
            c.submit(&serde_json::json!({}), &SubmitOptions::default())
                .map(drop),
        ),
    ];
    for (name, result) in results {
        assert!(
            matches!(
                result,
                Err(ComfyError::TooLarge {
                    limit: 1_048_576,
                    ..
                })
            ),
            "{name}: {result:?}"
        );
    }
}

#[test]
fn invalid_utf8_and_non_json_are_not_json_naming_the_url() {
    let port = fixed(http("200 OK", "", b"\xff\xfe{}\xc3("));
    let err = client(port).system_stats().expect_err("not utf-8");
    assert!(
        matches!(&err, ComfyError::NotJson { status: 200, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("http://127.0.0.1:{port}/system_stats"))
    );

    let port = fixed(http(
        "200 OK",
        "Content-Type: text/html\r\n",
        b"<html>hi</html>",
    ));
    let err = client(port).queue().expect_err("html");
    insta::with_settings!({filters => vec![(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]")]}, {
        insta::assert_snapshot!(err.to_string());
    });
}

#[test]
fn wrong_types_are_unexpected_json() {
    let port = fixed(http("200 OK", "", br#"{"system":"x","devices":5}"#));
    assert!(matches!(
        client(port).system_stats(),
        Err(ComfyError::UnexpectedJson { .. })
    ));
    let port = fixed(http(
        "200 OK",
        "",
        br#"{"queue_running":5,"queue_pending":[]}"#,
    ));
    assert!(matches!(
        client(port).queue(),
        Err(ComfyError::UnexpectedJson { .. })
    ));
    let port = fixed(http("200 OK", "", br#"{"p": 5}"#));
    assert!(matches!(
        client(port).history("p"),
        Err(ComfyError::UnexpectedJson { .. })
    ));
    let port = fixed(http("200 OK", "", br#"{"prompt_id": [1, 2]}"#));
    assert!(matches!(
        client(port).submit(&serde_json::json!({}), &SubmitOptions::default()),
        Err(ComfyError::UnexpectedJson { .. })
    ));
    // A rejection whose node_errors have odd types still maps, keeping what is readable.
    let body = br#"{"error": {"type": "x", "message": "m", "details": 7}, "node_errors": {"1": {"errors": [5, {"type": "t"}], "class_type": 3}}}"#;
    let err = client(fixed(http("400 Bad Request", "", body)))
        .submit(&serde_json::json!({}), &SubmitOptions::default())
        .expect_err("rejected");
    let ComfyError::PromptRejected { error, node_errors } = err else {
        panic!("typed: {err:?}")
    };
    assert_eq!(
        (error.details.as_str(), node_errors[0].errors.len()),
        ("7", 2)
    );
}

#[test]
fn transport_timeout_and_status_errors_are_distinct() {
    let port = fixed(b"this is not HTTP at all\r\n\r\n");
    assert!(matches!(
        client(port).features(),
        Err(ComfyError::Transport { .. })
    ));
    let port = raw_server(|mut s| {
        read_head(&mut s);
        std::thread::sleep(Duration::from_secs(5));
    });
    let err = client(port).features().expect_err("silent");
    assert!(matches!(err, ComfyError::Timeout { .. }), "{err:?}");
    let port = fixed(http(
        "500 Internal Server Error",
        "Content-Type: text/plain\r\n",
        b"500 Internal Server Error\n\nServer got itself in trouble",
    ));
    let err = client(port)
        .submit(&serde_json::json!({}), &SubmitOptions::default())
        .expect_err("500");
    assert!(
        matches!(&err, ComfyError::HttpStatus { status: 500, body, .. } if body.contains("Server got itself in trouble")),
        "{err:?}"
    );
    // Nothing listens: a transport error naming the URL.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let err = client(port).system_stats().expect_err("refused");
    assert!(
        matches!(&err, ComfyError::Transport { url, .. } if url.contains(&port.to_string())),
        "{err:?}"
    );
    // The cause is the source, not part of the message, so printing the chain shows it once.
    let cause = std::error::Error::source(&err)
        .expect("the transport error")
        .to_string();
    assert!(!err.to_string().contains(&cause), "{err}");
}

#[test]
fn hostile_websockets_are_errors_or_skipped_frames() {
    // Not an upgrade at all.
    let port = fixed(http("200 OK", "", b"{}"));
    assert!(matches!(
        client(port).ws_handshake(),
        Err(ComfyError::WebSocket { .. })
    ));
    // Junk frames, then a frame over the limit.
    let port = raw_server(|s| {
        let Ok(mut ws) = tungstenite::accept(s) else {
            return;
        };
        let _ = ws.send(tungstenite::Message::text("not json"));
        let _ = ws.send(tungstenite::Message::text(
            r#"{"type":"executing","data":{"node":5,"prompt_id":[1]}}"#,
        ));
        let _ = ws.send(tungstenite::Message::binary(vec![0u8, 0]));
        let _ = ws.send(tungstenite::Message::binary(vec![
            0u8, 0, 0, 4, 255, 255, 255, 255, 1,
        ]));
        let _ = ws.send(tungstenite::Message::binary(vec![7u8; 3 * 1024 * 1024]));
        std::thread::sleep(Duration::from_millis(500));
    });
    let c = ComfyClient::with_options(
        &format!("http://127.0.0.1:{port}"),
        ClientOptions::default()
            .api_prefix(ApiPrefix::Root)
            .max_ws_message_bytes(1024 * 1024),
    )
    .expect("client");
    let err = c.ws_handshake().expect_err("oversized frame");
    assert!(matches!(err, ComfyError::WebSocket { .. }), "{err:?}");
}

proptest! {
    #[test]
    fn event_parsers_never_panic(text in ".{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = comfy_local_comfyui::parse_text(&text);
        let _ = comfy_local_comfyui::parse_binary(&bytes);
        let wrapped = format!(r#"{{"type":"executed","data":{text:?}}}"#);
        let is_executed = matches!(comfy_local_comfyui::parse_text(&wrapped), Event::Executed { .. });
        prop_assert!(!is_executed, "a string is not an executed payload");
    }
}

#[test]
fn websocket_io_failure_shows_its_cause_once() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let err = client(port).ws_handshake().expect_err("nothing listens");
    assert!(matches!(err, ComfyError::WebSocket { .. }), "{err:?}");
    let mut parts = vec![err.to_string()];
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    let full = parts.join(": ");
    assert!(full.contains("refused"), "{full}");
    assert_eq!(full.matches("refused").count(), 1, "{full}");
}
