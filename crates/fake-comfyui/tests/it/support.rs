//! Helpers: raw HTTP and WebSocket access to the fake, and JSON shape comparison.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use comfy_local_fake_comfyui::FakeComfy;
use serde_json::Value;
use tungstenite::{Message, WebSocket};

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into()
}

/// GET -> (status, body bytes, content type).
pub fn get(fake: &FakeComfy, path: &str) -> (u16, Vec<u8>, String) {
    let mut r = agent()
        .get(&format!("{}{path}", fake.url()))
        .call()
        .expect("GET");
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        r.status().as_u16(),
        r.body_mut().read_to_vec().expect("body"),
        ct,
    )
}

pub fn get_json(fake: &FakeComfy, path: &str) -> Value {
    let (status, body, _) = get(fake, path);
    assert_eq!(status, 200, "GET {path}");
    serde_json::from_slice(&body).expect("JSON")
}

/// POST raw bytes -> (status, body).
pub fn post(fake: &FakeComfy, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut r = agent()
        .post(&format!("{}{path}", fake.url()))
        .header("Content-Type", "application/json")
        .send(body)
        .expect("POST");
    (
        r.status().as_u16(),
        r.body_mut().read_to_vec().expect("body"),
    )
}

pub fn post_json(fake: &FakeComfy, path: &str, v: &Value) -> (u16, Value) {
    let (status, body) = post(fake, path, v.to_string().as_bytes());
    (
        status,
        if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).expect("JSON")
        },
    )
}

pub fn ws(fake: &FakeComfy, client_id: &str) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", fake.port())).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let url = format!("ws://127.0.0.1:{}/ws?clientId={client_id}", fake.port());
    tungstenite::client(url.as_str(), stream)
        .expect("ws handshake")
        .0
}

/// Reads text messages until `executing` with `node: null`; returns them (binary frames as `{"binary": len}`).
pub fn read_until_done(ws: &mut WebSocket<TcpStream>) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = Vec::new();
    while Instant::now() < deadline {
        match ws.read().expect("ws read") {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).expect("json message");
                let done = v["type"] == "executing" && v["data"]["node"].is_null();
                out.push(v);
                if done {
                    return out;
                }
            }
            Message::Binary(b) => out
                .push(serde_json::json!({"binary": b.len(), "head": b[..8.min(b.len())].to_vec()})),
            _ => {}
        }
    }
    panic!("no end of run within 20 s; got {out:?}");
}

/// Whether `actual` has the shape of `recorded`: same object keys, same JSON types, arrays by
/// their first element. Returns the first difference.
pub fn shape_diff(recorded: &Value, actual: &Value, at: &str) -> Option<String> {
    match (recorded, actual) {
        (Value::Object(r), Value::Object(a)) => {
            let rk: Vec<_> = r.keys().collect();
            let ak: Vec<_> = a.keys().collect();
            if rk != ak {
                return Some(format!("{at}: keys {rk:?} != {ak:?}"));
            }
            r.iter()
                .find_map(|(k, rv)| shape_diff(rv, &a[k], &format!("{at}.{k}")))
        }
        (Value::Array(r), Value::Array(a)) => match (r.first(), a.first()) {
            (Some(rv), Some(av)) => shape_diff(rv, av, &format!("{at}[0]")),
            (None, None) => None,
            _ => Some(format!(
                "{at}: one array is empty ({} vs {})",
                r.len(),
                a.len()
            )),
        },
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => None,
        _ => Some(format!("{at}: {recorded} vs {actual}")),
    }
}

pub fn assert_shape(recorded: &Value, actual: &Value, what: &str) {
    if let Some(d) = shape_diff(recorded, actual, what) {
        panic!("{what} differs from the recording: {d}\nactual: {actual}");
    }
}
