//! The fake's HTTP routes (at `/` and `/api/`) and WebSocket upgrades, on tiny_http.

use std::collections::BTreeMap;
use std::path::{Component, Path};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tiny_http::{Header, Method, Request, Response};
use tungstenite::Message;
use tungstenite::protocol::Role;

use crate::fixtures::recorded_body;
use crate::state::{QueueEntry, Shared, WsClient, WsOut, lock};
use crate::validate::{Verdict, validate_prompt};

type Resp = Response<std::io::Cursor<Vec<u8>>>;

fn header(k: &str, v: &str) -> Header {
    Header::from_bytes(k.as_bytes(), v.as_bytes())
        .or_else(|()| Header::from_bytes(&b"X-Invalid-Header"[..], &b"1"[..]))
        .expect("a static header is valid")
}

fn json_resp(status: u16, v: &Value) -> Resp {
    Response::from_data(v.to_string().into_bytes())
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json; charset=utf-8"))
}

fn text_resp(status: u16, text: &str) -> Resp {
    Response::from_data(text.as_bytes().to_vec())
        .with_status_code(status)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

fn empty(status: u16) -> Resp {
    Response::from_data(Vec::new()).with_status_code(status)
}

fn not_found() -> Resp {
    text_resp(404, "404: Not Found")
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// Serves requests until the server is asked to stop.
pub(crate) fn serve(server: &tiny_http::Server, shared: &Arc<Shared>) {
    while !shared.stopping() {
        match server.recv_timeout(Duration::from_millis(50)) {
            Ok(Some(req)) => handle(shared, req),
            Ok(None) => {}
            Err(_) => return,
        }
    }
}

fn handle(shared: &Arc<Shared>, mut req: Request) {
    shared
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let url = req.url().to_owned();
    let (path, q) = url.split_once('?').unwrap_or((&url, ""));
    let path = path
        .strip_prefix("/api")
        .filter(|p| p.starts_with('/'))
        .unwrap_or(path)
        .to_owned();
    let q = query(q);
    let method = req.method().clone();
    if method == Method::Get && path == "/ws" {
        upgrade(shared, req, &q);
        return;
    }
    let mut body = Vec::new();
    let _ = req.as_reader().read_to_end(&mut body);
    let content_type = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Content-Type"))
        .map(|h| h.value.as_str().to_owned())
        .unwrap_or_default();
    let resp = route(shared, &method, &path, &q, &body, &content_type);
    let _ = req.respond(resp);
}

/// The route table: one arm per method and path of the ComfyUI 0.3.64 routes the fake serves.
fn route(
    shared: &Shared,
    method: &Method,
    path: &str,
    q: &BTreeMap<String, String>,
    body: &[u8],
    ct: &str,
) -> Resp {
    let parts: Vec<&str> = path.trim_start_matches('/').splitn(2, '/').collect();
    match (method, parts.as_slice()) {
        (Method::Get, ["system_stats"]) => {
            shared
                .system_stats_gets
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            json_resp(200, &recorded_body("get_system_stats.json"))
        }
        (Method::Get, ["features"]) => json_resp(200, &recorded_body("get_features.json")),
        (Method::Get, ["extensions"]) => json_resp(200, &recorded_body("get_extensions.json")),
        (Method::Get, ["embeddings"]) => json_resp(200, &json!(shared.embeddings)),
        (Method::Get, ["models"]) => json_resp(
            200,
            &json!(shared.models.iter().map(|(f, _)| f).collect::<Vec<_>>()),
        ),
        (Method::Get, ["models", folder]) => get_model_folder(shared, folder),
        (Method::Get, ["object_info"]) => {
            shared
                .object_info_gets
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            json_resp(200, &object_info(shared))
        }
        (Method::Get, ["object_info", class]) => get_object_info_class(shared, class),
        (Method::Get, ["prompt"]) => json_resp(
            200,
            &json!({"exec_info": {"queue_remaining": shared.queue_remaining()}}),
        ),
        (Method::Post, ["prompt"]) => post_prompt(shared, body),
        (Method::Get, ["queue"]) => get_queue(shared),
        (Method::Post, ["queue"]) => post_queue(shared, body),
        (Method::Get, ["history"]) => get_history(shared, q),
        (Method::Get, ["history", id]) => get_history_item(shared, id),
        (Method::Post, ["history"]) => post_history(shared, body),
        (Method::Get, ["view"]) => view(shared, q),
        (Method::Post, ["upload", "image" | "mask"]) => upload(shared, ct, body),
        (Method::Post, ["interrupt"]) => post_interrupt(shared, body),
        (Method::Post, ["free"]) => post_free(shared, body),
        (Method::Get, ["internal", "folder_paths"]) => json_resp(200, &folder_paths(shared)),
        _ => not_found(),
    }
}

/// `GET /internal/folder_paths`: each folder name with its paths, as ComfyUI 0.3.64 answers
/// (`folder_names_and_paths`: model folders under `models/`, plus `custom_nodes`).
fn folder_paths(shared: &Shared) -> Value {
    let base = &shared.base_path;
    let mut map = serde_json::Map::new();
    for (folder, _) in &shared.models {
        let path = base.join("models").join(folder);
        map.insert(folder.clone(), json!([path.to_string_lossy()]));
    }
    map.insert(
        "custom_nodes".to_owned(),
        json!([base.join("custom_nodes").to_string_lossy()]),
    );
    Value::Object(map)
}

/// `POST /free`: ComfyUI 0.3.64 reads the body as JSON (aiohttp's `request.json()`: a body
/// that is not JSON is an unhandled exception, a 500), sets the `unload_models` and
/// `free_memory` flags its prompt worker acts on, and answers 200 with no body. The fake
/// records the body; memory readings in `/system_stats` are the recorded ones and do not change.
fn post_free(shared: &Shared, body: &[u8]) -> Resp {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            lock(&shared.freed).push(v);
            empty(200)
        }
        Err(_) => text_resp(
            500,
            "500 Internal Server Error\n\nServer got itself in trouble",
        ),
    }
}

/// `GET /models/{folder}`: the files of one model folder, 404 for an unknown folder.
fn get_model_folder(shared: &Shared, folder: &str) -> Resp {
    match models(shared)
        .into_iter()
        .find(|(f, _)| *f == decode(folder))
    {
        Some((_, files)) => json_resp(200, &json!(files)),
        None => empty(404),
    }
}

/// `GET /object_info/{class}`: one class, or `{}` for an unknown one.
fn get_object_info_class(shared: &Shared, class: &str) -> Resp {
    let class = decode(class);
    let info = object_info(shared);
    match info.get(&class) {
        Some(def) => json_resp(200, &json!({ class: def })),
        None => json_resp(200, &json!({})),
    }
}

/// `GET /queue`: the running and the pending prompts.
fn get_queue(shared: &Shared) -> Resp {
    let inner = lock(&shared.inner);
    let running: Vec<Value> = inner.running.iter().map(QueueEntry::to_json).collect();
    let pending: Vec<Value> = inner.pending.iter().map(QueueEntry::to_json).collect();
    json_resp(
        200,
        &json!({"queue_running": running, "queue_pending": pending}),
    )
}

/// `POST /queue`: `clear` and `delete` pending prompts, then a `status` message.
fn post_queue(shared: &Shared, body: &[u8]) -> Resp {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    {
        let mut inner = lock(&shared.inner);
        if v.get("clear").and_then(Value::as_bool) == Some(true) {
            inner.pending.clear();
        }
        if let Some(ids) = v.get("delete").and_then(Value::as_array) {
            inner
                .pending
                .retain(|e| !ids.iter().any(|i| i.as_str() == Some(&e.prompt_id)));
        }
    }
    shared.send_status();
    empty(200)
}

/// `GET /history`: the last `max_items` entries (all without it).
fn get_history(shared: &Shared, q: &BTreeMap<String, String>) -> Resp {
    let inner = lock(&shared.inner);
    let n = q
        .get("max_items")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(inner.history.len());
    let skip = inner.history.len().saturating_sub(n);
    let out: Map<String, Value> = inner
        .history
        .iter()
        .skip(skip)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    json_resp(200, &Value::Object(out))
}

/// `GET /history/{prompt_id}`: one entry, or `{}` for an unknown id.
fn get_history_item(shared: &Shared, id: &str) -> Resp {
    let id = decode(id);
    let inner = lock(&shared.inner);
    match inner.history.iter().find(|(k, _)| *k == id) {
        Some((k, v)) => json_resp(200, &json!({ k.clone(): v })),
        None => json_resp(200, &json!({})),
    }
}

/// `POST /history`: `clear` and `delete` history entries.
fn post_history(shared: &Shared, body: &[u8]) -> Resp {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    let mut inner = lock(&shared.inner);
    if v.get("clear").and_then(Value::as_bool) == Some(true) {
        inner.history.clear();
    }
    if let Some(ids) = v.get("delete").and_then(Value::as_array) {
        inner
            .history
            .retain(|(k, _)| !ids.iter().any(|i| i.as_str() == Some(k)));
    }
    empty(200)
}

/// `POST /interrupt`: interrupts the running prompt, only if it is `prompt_id` when one is given.
fn post_interrupt(shared: &Shared, body: &[u8]) -> Resp {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    match v.get("prompt_id").and_then(Value::as_str) {
        Some(id) => {
            let running = lock(&shared.inner)
                .running
                .as_ref()
                .map(|e| e.prompt_id.clone());
            if running.as_deref() == Some(id) {
                shared.interrupt.store(true, Ordering::SeqCst);
            }
        }
        None => shared.interrupt.store(true, Ordering::SeqCst),
    }
    empty(200)
}

/// The recorded object_info with `LoadImage` listing the input folder and loaders listing the model map.
fn object_info(shared: &Shared) -> Value {
    let mut info = (*shared.object_info()).clone();
    let mut files = Vec::new();
    list_files(&shared.dirs.input, "", &mut files);
    files.sort();
    for class in ["LoadImage", "LoadImageMask"] {
        if let Some(spec) = info.pointer_mut(&format!("/{class}/input/required/image/0")) {
            *spec = json!(files);
        }
    }
    let models = models(shared);
    for (class, input, folder) in [
        ("CheckpointLoaderSimple", "ckpt_name", "checkpoints"),
        ("LoraLoader", "lora_name", "loras"),
        ("LoraLoaderModelOnly", "lora_name", "loras"),
        ("VAELoader", "vae_name", "vae"),
        ("UpscaleModelLoader", "model_name", "upscale_models"),
        ("ControlNetLoader", "control_net_name", "controlnet"),
        ("CLIPLoader", "clip_name", "text_encoders"),
        ("DualCLIPLoader", "clip_name1", "text_encoders"),
        ("DualCLIPLoader", "clip_name2", "text_encoders"),
        ("UNETLoader", "unet_name", "diffusion_models"),
        ("CLIPVisionLoader", "clip_name", "clip_vision"),
    ] {
        if let (Some((_, list)), Some(spec)) = (
            models.iter().find(|(f, _)| f == folder),
            info.pointer_mut(&format!("/{class}/input/required/{input}/0")),
        ) && spec.is_array()
        {
            *spec = json!(list);
        }
    }
    info
}

/// ComfyUI's model file extensions (`folder_paths.supported_pt_extensions`).
const MODEL_EXTENSIONS: &[&str] = &[
    ".ckpt",
    ".pt",
    ".pt2",
    ".bin",
    ".pth",
    ".safetensors",
    ".pkl",
    ".sft",
];

/// The model folders and their files: the configured lists, or (`models_on_disk`) the files
/// under `<base_path>/models/<folder>` with a model extension.
fn models(shared: &Shared) -> Vec<(String, Vec<String>)> {
    if !shared.models_on_disk {
        return shared.models.clone();
    }
    shared
        .models
        .iter()
        .map(|(folder, _)| {
            let mut files = Vec::new();
            list_files(
                &shared.base_path.join("models").join(folder),
                "",
                &mut files,
            );
            files.retain(|f| MODEL_EXTENSIONS.iter().any(|e| f.ends_with(e)));
            files.sort();
            (folder.clone(), files)
        })
        .collect()
}

fn list_files(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if e.path().is_dir() {
            list_files(&e.path(), &rel, out);
        } else {
            out.push(rel);
        }
    }
}

fn post_prompt(shared: &Shared, body: &[u8]) -> Resp {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return text_resp(
            500,
            "500 Internal Server Error\n\nServer got itself in trouble",
        );
    };
    lock(&shared.submitted).push(v.clone());
    if let Some((status, body)) = shared.knobs().reject {
        return json_resp(status, &body);
    }
    let number = {
        let mut inner = lock(&shared.inner);
        let n = v
            .get("number")
            .and_then(Value::as_i64)
            .unwrap_or(inner.number);
        inner.number += 1;
        if v.get("front").and_then(Value::as_bool) == Some(true) {
            -n
        } else {
            n
        }
    };
    let Some(prompt) = v.get("prompt") else {
        let error = json!({"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided", "extra_info": {}});
        return json_resp(400, &json!({"error": error, "node_errors": {}}));
    };
    let prompt_id = v
        .get("prompt_id")
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), crate::validate::py_str);
    match validate_prompt(prompt, &shared.object_info(), &shared.dirs.input) {
        Verdict::Rejected { error, node_errors } => {
            json_resp(400, &json!({"error": error, "node_errors": node_errors}))
        }
        Verdict::Accepted {
            outputs,
            node_errors,
        } => {
            let mut extra = v
                .get("extra_data")
                .filter(|e| e.is_object())
                .cloned()
                .unwrap_or_else(|| json!({}));
            if let Some(cid) = v.get("client_id") {
                extra["client_id"] = cid.clone();
            }
            let entry = QueueEntry {
                number,
                prompt_id: prompt_id.clone(),
                prompt: prompt.clone(),
                extra_data: extra,
                outputs,
            };
            {
                let mut inner = lock(&shared.inner);
                if number < 0 {
                    inner.pending.push_front(entry);
                } else {
                    inner.pending.push_back(entry);
                }
                // Announced before the worker can pick it up (it needs this lock), as in ComfyUI.
                let remaining = inner.pending.len() + usize::from(inner.running.is_some());
                shared.send(
                    None,
                    "status",
                    &json!({"status": {"exec_info": {"queue_remaining": remaining}}}),
                );
            }
            shared.wake.notify_all();
            json_resp(
                200,
                &json!({"prompt_id": prompt_id, "number": number, "node_errors": node_errors}),
            )
        }
    }
}

fn safe_rel(p: &str) -> bool {
    Path::new(p)
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn view(shared: &Shared, q: &BTreeMap<String, String>) -> Resp {
    let Some(filename) = q.get("filename").filter(|f| !f.is_empty()) else {
        return empty(404);
    };
    if filename.starts_with('/') || filename.contains("..") {
        return empty(400);
    }
    let dir = match q.get("type").map_or("output", String::as_str) {
        "output" => &shared.dirs.output,
        "input" => &shared.dirs.input,
        "temp" => &shared.dirs.temp,
        _ => return empty(400),
    };
    let sub = q.get("subfolder").map_or("", String::as_str);
    if !safe_rel(sub) {
        return empty(403);
    }
    let name = Path::new(filename)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = dir.join(sub).join(&name);
    match std::fs::read(&file) {
        Ok(bytes) if file.is_file() => {
            let bytes = match shared.knobs().view_bytes {
                Some(n) => vec![0; n],
                None => bytes,
            };
            let ct = match file
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or_default()
            {
                "png" => "image/png",
                "jpg" | "jpeg" => "image/jpeg",
                "webp" => "image/webp",
                "gif" => "image/gif",
                "mp4" => "video/mp4",
                "wav" => "audio/wav",
                "flac" => "audio/flac",
                _ => "application/octet-stream",
            };
            Response::from_data(bytes)
                .with_header(header("Content-Type", ct))
                .with_header(header(
                    "Content-Disposition",
                    &format!("filename=\"{name}\""),
                ))
        }
        _ => empty(404),
    }
}

fn upload(shared: &Shared, ct: &str, body: &[u8]) -> Resp {
    let Some(fields) = crate::multipart::parse(ct, body) else {
        return empty(400);
    };
    let text = |name: &str| {
        fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
    };
    let Some(image) = fields
        .iter()
        .find(|f| f.name == "image" && f.filename.is_some())
    else {
        return empty(400);
    };
    let mut filename = image.filename.clone().unwrap_or_default();
    if filename.is_empty() || !safe_rel(&filename) || filename.contains('/') {
        return empty(400);
    }
    let kind = text("type")
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "input".to_owned());
    let dir = match kind.as_str() {
        "temp" => &shared.dirs.temp,
        "output" => &shared.dirs.output,
        _ => &shared.dirs.input,
    };
    let kind = if matches!(kind.as_str(), "temp" | "output") {
        kind
    } else {
        "input".to_owned()
    };
    let subfolder = text("subfolder").unwrap_or_default();
    if !safe_rel(&subfolder) {
        return empty(400);
    }
    let folder = dir.join(&subfolder);
    if std::fs::create_dir_all(&folder).is_err() {
        return empty(500);
    }
    let overwrite = matches!(text("overwrite").as_deref(), Some("true" | "1"));
    let mut duplicate = false;
    if !overwrite {
        let (stem, ext) = match filename.rsplit_once('.') {
            Some((s, e)) => (s.to_owned(), format!(".{e}")),
            None => (filename.clone(), String::new()),
        };
        let mut i = 1;
        while folder.join(&filename).exists() {
            if std::fs::read(folder.join(&filename)).is_ok_and(|b| b == image.data) {
                duplicate = true;
                break;
            }
            filename = format!("{stem} ({i}){ext}");
            i += 1;
        }
    }
    if !duplicate && std::fs::write(folder.join(&filename), &image.data).is_err() {
        return empty(500);
    }
    json_resp(
        200,
        &json!({"name": filename, "subfolder": subfolder, "type": kind}),
    )
}

fn upgrade(shared: &Arc<Shared>, req: Request, q: &BTreeMap<String, String>) {
    let key = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Sec-WebSocket-Key"))
        .map(|h| h.value.as_str().to_owned());
    let is_ws = req
        .headers()
        .iter()
        .any(|h| h.field.equiv("Upgrade") && h.value.as_str().eq_ignore_ascii_case("websocket"));
    let Some(key) = key.filter(|_| is_ws) else {
        let _ = req.respond(text_resp(400, "Expected WebSocket upgrade"));
        return;
    };
    if shared.knobs().refuse_websocket {
        let _ = req.respond(text_resp(503, "WebSocket refused (fake-comfyui knob)"));
        return;
    }
    let sid = q
        .get("clientId")
        .filter(|c| !c.is_empty())
        .cloned()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let resp = Response::empty(101).with_header(header("Sec-WebSocket-Accept", &accept));
    let stream = req.upgrade("websocket", resp);
    let mut ws = tungstenite::WebSocket::from_raw_socket(stream, Role::Server, None);
    let (tx, rx) = mpsc::channel::<WsOut>();
    let status = json!({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": shared.queue_remaining()}}, "sid": sid}});
    let _ = tx.send(WsOut::Text(status.to_string()));
    // A reconnecting client learns which node is running, as ComfyUI does.
    if let Some((node, prompt_id, Some(owner))) = lock(&shared.inner).last_node.clone()
        && owner == sid
    {
        let msg = json!({"type": "executing", "data": {"node": node, "display_node": node, "prompt_id": prompt_id}});
        let _ = tx.send(WsOut::Text(msg.to_string()));
    }
    {
        let mut clients = lock(&shared.ws);
        // Like ComfyUI: the newest socket of a client id gets its events; the older one stays
        // open but receives nothing more.
        let (orphaned, kept): (Vec<WsClient>, Vec<WsClient>) =
            clients.drain(..).partition(|c| c.sid == sid);
        *clients = kept;
        lock(&shared.orphans).extend(orphaned);
        clients.push(WsClient { sid, tx });
    }
    std::thread::spawn(move || {
        for out in rx {
            let sent = match out {
                WsOut::Text(t) => ws.send(Message::text(t)),
                WsOut::Binary(b) => ws.send(Message::binary(b)),
                WsOut::Drop => break,
            };
            if sent.is_err() {
                break;
            }
        }
    });
}
