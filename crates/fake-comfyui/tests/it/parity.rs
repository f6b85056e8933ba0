//! The fake's answers against fixtures/comfyui/recorded: same status codes, same JSON (or shapes).

use comfy_local_fake_comfyui::fixtures::{load, recorded_body};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use serde_json::{Value, json};

use crate::support::{assert_shape, get, get_json, post, post_json, read_until_done, ws};

/// Tracebacks name Python files of the recording machine; compare everything else.
fn strip_tracebacks(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(tb) = m.get_mut("traceback") {
                *tb = json!([]);
            }
            m.values_mut().for_each(strip_tracebacks);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_tracebacks),
        _ => {}
    }
}

#[test]
fn every_recorded_prompt_error_is_reproduced_exactly() {
    let fake = FakeComfy::start(FakeOptions::default());
    let cases = load("recorded/post_prompt_errors.json");
    let cases = cases.as_object().expect("cases");
    assert_eq!(cases.len(), 11);
    for (name, case) in cases {
        let expected_status = case["status"].as_u64().expect("status") as u16;
        let (status, body) = if let Some(prompt) = case.get("request_prompt") {
            post(
                &fake,
                "/prompt",
                json!({"prompt": prompt, "client_id": "t"})
                    .to_string()
                    .as_bytes(),
            )
        } else if let Some(Value::String(raw)) = case.get("request_body") {
            post(&fake, "/prompt", raw.as_bytes())
        } else {
            post(
                &fake,
                "/prompt",
                case["request_body"].to_string().as_bytes(),
            )
        };
        assert_eq!(status, expected_status, "{name}: status");
        match &case["response"] {
            Value::String(text) => {
                assert_eq!(String::from_utf8_lossy(&body), *text, "{name}: text body");
            }
            recorded => {
                let mut actual: Value = serde_json::from_slice(&body).expect("JSON error body");
                let mut recorded = recorded.clone();
                strip_tracebacks(&mut actual);
                strip_tracebacks(&mut recorded);
                assert_eq!(actual, recorded, "{name}: body");
            }
        }
    }
    // A UI-format workflow posted as a prompt is rejected like the recording says.
    let ui = load("workflows/invert.ui.json");
    let (status, body) = post_json(&fake, "/prompt", &json!({"prompt": ui}));
    let recorded = load("recorded/post_prompt_ui_format_rejected.json");
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], recorded["response"]["error"]["type"]);
    assert_eq!(
        body["error"]["message"],
        recorded["response"]["error"]["message"]
    );
}

#[test]
fn static_routes_match_the_recording_at_root_and_api_prefix() {
    let fake = FakeComfy::start(FakeOptions::default());
    for prefix in ["", "/api"] {
        for (path, file) in [
            ("/system_stats", "get_system_stats.json"),
            ("/features", "get_features.json"),
            ("/embeddings", "get_embeddings.json"),
            ("/models", "get_models.json"),
            ("/models/checkpoints", "get_models_checkpoints.json"),
            ("/object_info/SaveImage", "get_object_info_SaveImage.json"),
            ("/object_info/NoSuchNode", "get_object_info_unknown.json"),
            ("/queue", "get_queue_idle.json"),
            ("/prompt", "get_prompt.json"),
            ("/extensions", "get_extensions.json"),
        ] {
            let (status, body, ct) = get(&fake, &format!("{prefix}{path}"));
            assert_eq!(status, 200, "{prefix}{path}");
            assert_eq!(ct, "application/json; charset=utf-8", "{prefix}{path}");
            let actual: Value = serde_json::from_slice(&body).expect("JSON");
            assert_eq!(actual, recorded_body(file), "{prefix}{path}");
        }
        let (status, body, _) = get(&fake, &format!("{prefix}/models/no_such_folder"));
        assert_eq!(
            (status, body.len()),
            (404, 0),
            "unknown model folder: 404 with an empty body"
        );
    }
    let info = get_json(&fake, "/object_info");
    assert_eq!(info.as_object().map(serde_json::Map::len), Some(496));
}

#[test]
fn a_run_emits_the_recorded_message_sequence_writes_a_png_and_records_history() {
    let fake = FakeComfy::start(FakeOptions::default());
    let recorded = load("recorded/ws_messages_run.json");
    let mut socket = ws(&fake, "client-a");
    let prompt = load("workflows/invert.api.json");
    let (status, accepted) = post_json(
        &fake,
        "/prompt",
        &json!({"prompt": prompt, "client_id": "client-a"}),
    );
    assert_eq!(status, 200);
    assert_shape(
        &recorded_body("post_prompt_ok.json"),
        &accepted,
        "POST /prompt",
    );
    let messages = read_until_done(&mut socket);
    let types = |list: &[Value]| {
        list.iter()
            .map(|m| m["type"].as_str().unwrap_or("?").to_owned())
            .collect::<Vec<_>>()
    };
    let recorded_msgs = recorded["messages"].as_array().expect("messages");
    assert_eq!(types(&messages), types(recorded_msgs));
    for (i, (r, a)) in recorded_msgs.iter().zip(&messages).enumerate() {
        assert_shape(r, a, &format!("message {i} ({})", r["type"]));
    }
    // The first status names our client id, as ComfyUI does.
    assert_eq!(messages[0]["data"]["sid"], "client-a");

    let id = accepted["prompt_id"].as_str().expect("id");
    let history = get_json(&fake, &format!("/history/{id}"));
    let recorded_history = recorded_body("get_history_prompt_id.json");
    let recorded_entry = recorded_history
        .as_object()
        .and_then(|m| m.values().next())
        .expect("entry");
    assert_shape(recorded_entry, &history[id], "history entry");
    let file = &history[id]["outputs"]["3"]["images"][0];
    assert_eq!(file["filename"], "acc_invert_00001_.png");
    let (status, png_bytes, ct) = get(
        &fake,
        "/view?filename=acc_invert_00001_.png&subfolder=&type=output",
    );
    assert_eq!((status, ct.as_str()), (200, "image/png"));
    let decoder = png::Decoder::new(std::io::Cursor::new(&png_bytes));
    let reader = decoder.read_info().expect("a real PNG");
    assert_eq!((reader.info().width, reader.info().height), (64, 64));
    let keys: Vec<_> = reader
        .info()
        .uncompressed_latin1_text
        .iter()
        .map(|t| t.keyword.clone())
        .collect();
    assert_eq!(keys, ["prompt"], "SaveImage embeds the prompt");

    // An identical resubmission is fully cached and replays the old file name.
    post_json(
        &fake,
        "/prompt",
        &json!({"prompt": prompt, "client_id": "client-a"}),
    );
    let cached = read_until_done(&mut socket);
    let recorded_cached = load("recorded/ws_messages_cached_rerun.json");
    assert_eq!(
        types(&cached),
        types(recorded_cached["messages"].as_array().expect("messages"))
    );
    let executed = cached
        .iter()
        .find(|m| m["type"] == "executed")
        .expect("executed");
    assert_eq!(
        executed["data"]["output"]["images"][0]["filename"],
        "acc_invert_00001_.png"
    );
    assert_eq!(
        std::fs::read_dir(fake.output_dir()).expect("dir").count(),
        1,
        "no new file"
    );
}

#[test]
fn runtime_failure_and_interrupt_match_the_recording() {
    let fake = FakeComfy::start(FakeOptions::default());
    let mut socket = ws(&fake, "c");
    let request = load("recorded/post_prompt_runtime_error.json");
    let prompt = &request["request"]["body"]["prompt"];
    let (status, accepted) = post_json(
        &fake,
        "/prompt",
        &json!({"prompt": prompt, "client_id": "c"}),
    );
    assert_eq!(status, 200);
    let messages = read_until_done(&mut socket);
    let recorded = load("recorded/ws_messages_execution_error.json");
    let recorded_msgs = recorded["messages"].as_array().expect("messages");
    let types = |list: &[Value]| {
        list.iter()
            .map(|m| m["type"].as_str().unwrap_or("?").to_owned())
            .collect::<Vec<_>>()
    };
    // The recording starts after the connect status.
    assert_eq!(types(&messages[1..]), types(recorded_msgs));
    let error = messages
        .iter()
        .find(|m| m["type"] == "execution_error")
        .expect("execution_error");
    let recorded_error = recorded_msgs
        .iter()
        .find(|m| m["type"] == "execution_error")
        .expect("recorded");
    assert_shape(&recorded_error["data"], &error["data"], "execution_error");
    assert_eq!(error["data"]["node_id"], "3");
    assert_eq!(error["data"]["exception_type"], "Exception");
    let id = accepted["prompt_id"].as_str().expect("id");
    let history = get_json(&fake, &format!("/history/{id}"));
    let rec = recorded_body("get_history_execution_error.json");
    let rec_entry = rec
        .as_object()
        .and_then(|m| m.values().next())
        .expect("entry");
    assert_shape(
        &rec_entry["status"],
        &history[id]["status"],
        "error history status",
    );
    assert_eq!(history[id]["status"]["status_str"], "error");

    // Interrupt between nodes of a slow chain.
    fake.set_knobs(Knobs::default().slow_node("4", std::time::Duration::from_secs(3)));
    let mut slow = load("workflows/slow_blur_chain_for_interrupt.api.json");
    // Same graph, small images: debug builds blur 1024x1024 slowly.
    slow["1"]["inputs"]["width"] = json!(64);
    slow["1"]["inputs"]["height"] = json!(64);
    let (_, accepted) = post_json(&fake, "/prompt", &json!({"prompt": slow, "client_id": "c"}));
    let id = accepted["prompt_id"].as_str().expect("id").to_owned();
    // Wait until the worker picked it up (it is pending for a moment).
    let mut queue = get_json(&fake, "/queue");
    for _ in 0..100 {
        if queue["queue_running"][0].is_array() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        queue = get_json(&fake, "/queue");
    }
    assert_shape(
        &recorded_body("get_queue_busy.json")["queue_running"][0],
        &queue["queue_running"][0],
        "queue entry",
    );
    // Interrupt while node 4 runs: it takes effect between nodes, as in ComfyUI.
    let mut before = Vec::new();
    loop {
        let tungstenite::Message::Text(t) = socket.read().expect("ws") else {
            continue;
        };
        let m: Value = serde_json::from_str(t.as_str()).expect("json");
        let at_4 = m["type"] == "executing" && m["data"]["node"] == "4";
        before.push(m);
        if at_4 {
            break;
        }
    }
    let (status, _) = post_json(&fake, "/interrupt", &json!({"prompt_id": id}));
    assert_eq!(status, 200);
    let messages = read_until_done(&mut socket);
    let interrupted = messages
        .iter()
        .find(|m| m["type"] == "execution_interrupted")
        .expect("interrupted");
    let recorded = load("recorded/ws_messages_interrupted.json");
    let rec = recorded["messages"]
        .as_array()
        .and_then(|l| l.iter().find(|m| m["type"] == "execution_interrupted"))
        .expect("rec");
    assert_shape(&rec["data"], &interrupted["data"], "execution_interrupted");
}

#[test]
fn upload_feeds_load_image_and_restart_keeps_the_port() {
    let mut fake =
        FakeComfy::start(FakeOptions::default().model_folder("checkpoints", &["sd15.safetensors"]));
    let png_bytes = std::fs::read(
        comfy_local_fake_comfyui::fixtures::fixtures_dir().join("recorded/view_output.png"),
    )
    .expect("png");
    let boundary = "XyZ";
    let mut body = Vec::new();
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"acc_upload.png\"\r\nContent-Type: image/png\r\n\r\n").as_bytes());
    body.extend_from_slice(&png_bytes);
    body.extend_from_slice(format!("\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"overwrite\"\r\n\r\ntrue\r\n--{boundary}--\r\n").as_bytes());
    let mut r = crate::support::agent()
        .post(&format!("{}/upload/image", fake.url()))
        .header(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        )
        .send(&body[..])
        .expect("upload");
    assert_eq!(r.status().as_u16(), 200);
    let answer: Value =
        serde_json::from_slice(&r.body_mut().read_to_vec().expect("body")).expect("json");
    assert_eq!(answer, recorded_body("post_upload_image.json"));
    assert_eq!(
        std::fs::read(fake.input_dir().join("acc_upload.png")).expect("stored"),
        png_bytes
    );
    let info = get_json(&fake, "/object_info/LoadImage");
    assert_eq!(
        info["LoadImage"]["input"]["required"]["image"][0],
        json!(["acc_upload.png"])
    );
    assert_eq!(
        get_json(&fake, "/models/checkpoints"),
        json!(["sd15.safetensors"])
    );
    let ckpt = get_json(&fake, "/object_info/CheckpointLoaderSimple");
    assert_eq!(
        ckpt["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0],
        json!(["sd15.safetensors"])
    );

    let port = fake.port();
    fake.restart().expect("restart");
    assert_eq!(fake.port(), port);
    assert_eq!(
        get_json(&fake, "/queue"),
        recorded_body("get_queue_idle.json")
    );
}

/// `POST /free` as ComfyUI 0.3.64's `post_free`: 200 with an empty body for JSON (recorded in
/// order, at the root and under `/api`), 500 for a body that is not JSON (aiohttp's
/// `request.json()` raises), which is not recorded.
#[test]
fn free_answers_empty_200_and_records_the_body() {
    let fake = FakeComfy::start(FakeOptions::default());
    let (status, body) = post(
        &fake,
        "/free",
        br#"{"unload_models": true, "free_memory": true}"#,
    );
    assert_eq!((status, body.len()), (200, 0));
    let (status, body) = post(&fake, "/api/free", br#"{"free_memory": true}"#);
    assert_eq!((status, body.len()), (200, 0));
    let (status, _) = post(&fake, "/free", b"not json");
    assert_eq!(status, 500);
    assert_eq!(
        fake.free_requests(),
        vec![
            json!({"unload_models": true, "free_memory": true}),
            json!({"free_memory": true}),
        ]
    );
}

/// The routes `jobs`, `jobs cancel` and `download` use: `/queue` (both lists), `POST /queue`
/// `delete`, `POST /interrupt` with a `prompt_id` that is not the running one, `/history`,
/// `/history?max_items=N` and `/history/{unknown}`, as recorded.
#[test]
fn queue_history_and_interrupt_routes_of_jobs_match_the_recordings() {
    let fake = FakeComfy::start(
        FakeOptions::default()
            .knobs(Knobs::default().slow_node("1", std::time::Duration::from_secs(30))),
    );
    let invert = load("workflows/invert.api.json");
    let submit = |client: &str| {
        let (status, accepted) = post_json(
            &fake,
            "/prompt",
            &json!({"prompt": invert, "client_id": client}),
        );
        assert_eq!(status, 200);
        accepted["prompt_id"].as_str().expect("id").to_owned()
    };
    let running = submit("a");
    let pending = submit("b");
    let mut queue = get_json(&fake, "/queue");
    for _ in 0..100 {
        if queue["queue_running"][0].is_array() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        queue = get_json(&fake, "/queue");
    }
    let busy = recorded_body("get_queue_busy.json");
    assert_shape(
        &busy["queue_pending"][0],
        &queue["queue_pending"][0],
        "pending entry",
    );
    assert_eq!(queue["queue_pending"][0][1], json!(pending));
    assert_eq!(queue["queue_pending"][0][3], json!({"client_id": "b"}));
    // Interrupting a prompt that does not run changes nothing; the answer is an empty 200.
    let (status, body) = post(
        &fake,
        "/interrupt",
        json!({"prompt_id": pending}).to_string().as_bytes(),
    );
    assert_eq!((status, body.len()), (200, 0));
    let recorded = load("recorded/post_queue_delete.json");
    assert_eq!(recorded["response"]["body"], Value::Null);
    let (status, body) = post(
        &fake,
        "/queue",
        json!({"delete": [pending]}).to_string().as_bytes(),
    );
    assert_eq!((status, body.len()), (200, 0));
    let queue = get_json(&fake, "/queue");
    assert_eq!(queue["queue_pending"], json!([]));
    assert_eq!(
        queue["queue_running"][0][1],
        json!(running),
        "still running"
    );
    // Unknown (or not yet finished) ids: `{}`.
    assert_eq!(get_json(&fake, &format!("/history/{running}")), json!({}));
    assert_eq!(get_json(&fake, "/history/no-such-id"), json!({}));
    let (status, _) = post_json(&fake, "/interrupt", &json!({"prompt_id": running}));
    assert_eq!(status, 200);
    let mut history = get_json(&fake, "/history?max_items=1");
    for _ in 0..200 {
        if history.get(&running).is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        history = get_json(&fake, "/history?max_items=1");
    }
    let one = recorded_body("get_history_max_items_1.json");
    assert_eq!(one.as_object().map(serde_json::Map::len), Some(1));
    assert_eq!(history.as_object().map(serde_json::Map::len), Some(1));
    let interrupted = recorded_body("get_history_interrupted.json");
    assert_shape(
        interrupted
            .as_object()
            .and_then(|m| m.values().next())
            .expect("entry"),
        &history[&running],
        "interrupted history entry",
    );
    assert_eq!(history[&running]["status"]["status_str"], json!("error"));
}
