//! The routes against the binary and the fake ComfyUI (and the fake VastAI for the instance
//! list): each route's success and its main failures, auth, CORS, limits and SIGTERM.

use std::time::Duration;

use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use comfy_local_fake_vastai::FakeVastAi;
use serde_json::json;

use crate::{
    Proc, config_for, events, get, is_png, job, multipart, post, post_json, read_events, repo_root,
    submit_file, temp_dir, wait_until,
};

#[test]
fn a_workflow_runs_streams_its_events_and_serves_its_outputs() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url(), "");
    let backend = Proc::start(&config, &[], &[]);
    let base = &backend.url;
    let wf = repo_root().join("fixtures/comfyui/workflows/blur_scale_two_outputs.api.json");
    let id = submit_file(base, &wf);

    let all = events(base, &id, None);
    let names: Vec<&str> = all.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names.first(), Some(&"queued"), "{names:?}");
    assert_eq!(names.last(), Some(&"done"), "{all:?}");
    for kind in ["node", "output"] {
        assert!(names.contains(&kind), "{names:?}");
    }
    let ids: Vec<u64> = all.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=all.len() as u64).collect::<Vec<_>>());
    assert!(
        all.iter()
            .any(|e| e.event == "queued" && e.data["stage"] == "submitted"),
        "{all:?}"
    );

    // Resumed after event 3: exactly the rest, the same ids.
    let rest = events(base, &id, Some(3));
    assert_eq!(rest.first().map(|e| e.id), Some(4));
    assert_eq!(rest.len(), all.len() - 3);

    let record = job(base, &id);
    assert_eq!(record["state"], "succeeded", "{record}");
    assert_eq!(record["kind"], "run");
    assert!(record["prompt_id"].is_string(), "{record}");
    assert_eq!(record["result"]["outputs"], 4, "{record}");

    let outputs = get(&format!("{base}/api/jobs/{id}/outputs"), &[]).json();
    let outputs = outputs["outputs"].as_array().unwrap().clone();
    assert_eq!(outputs.len(), 4, "{outputs:?}");
    let announced: Vec<&serde_json::Value> = all
        .iter()
        .filter(|e| e.event == "output")
        .map(|e| &e.data)
        .collect();
    assert_eq!(announced.len(), 4);
    // Node 4 (SaveImage) and node 5 (PreviewImage, under temp/) saved two images each.
    let mut by_node: Vec<(String, String)> = outputs
        .iter()
        .map(|o| {
            (
                o["node"].as_str().unwrap().to_owned(),
                o["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    by_node.sort();
    assert_eq!(
        by_node,
        [
            ("4", "images"),
            ("4", "images"),
            ("5", "images"),
            ("5", "images")
        ]
        .map(|(n, k)| (n.to_owned(), k.to_owned()))
    );
    assert_eq!(
        outputs
            .iter()
            .filter(|o| o["name"].as_str().unwrap().starts_with("temp/"))
            .count(),
        2,
        "{outputs:?}"
    );
    for output in &outputs {
        assert_eq!(output["content_type"], "image/png");
        let name = output["name"].as_str().unwrap();
        let file = get(&format!("{base}/api/jobs/{id}/outputs/{name}"), &[]);
        assert_eq!(file.status, 200, "{name}");
        assert_eq!(file.content_type, "image/png");
        assert_eq!(file.header("x-content-type-options"), Some("nosniff"));
        assert!(is_png(&file.body));
        assert_eq!(file.body.len() as u64, output["size"].as_u64().unwrap());
    }
    get(&format!("{base}/api/jobs/{id}/outputs/nope.png"), &[]).assert_error(404, "unknown_output");
    // The name is looked up, never joined: a path out of the job's folder finds nothing.
    for sneaky in [
        "..%2F..%2Fjobs.sqlite3",
        "../../jobs.sqlite3",
        "%2Fetc%2Fpasswd",
    ] {
        let a = get(&format!("{base}/api/jobs/{id}/outputs/{sneaky}"), &[]);
        assert_eq!(a.status, 404, "{sneaky}: {a:?}");
    }

    let list = get(&format!("{base}/api/jobs"), &[]).json();
    assert_eq!(list["jobs"][0]["id"], id.as_str());
}

#[test]
fn a_multipart_upload_sends_the_input_file_to_comfyui() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url(), "");
    let backend = Proc::start(&config, &[], &[]);
    let wf = br#"{
  "1": {"class_type": "LoadImage", "inputs": {"image": "not-there-yet.png"}},
  "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
  "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "loaded"}}
}"#;
    let png = std::fs::read(repo_root().join("fixtures/comfyui/recorded/view_output.png")).unwrap();
    let (ct, body) = multipart(&[
        ("workflow", Some("wf.json"), wf),
        ("1", Some("my photo.png"), &png),
    ]);
    let a = post(
        &format!("{}/api/instances/local/workflows", backend.url),
        &ct,
        &body,
    );
    assert_eq!(a.status, 202, "{a:?}");
    let id = a.json()["job_id"].as_str().unwrap().to_owned();
    let all = events(&backend.url, &id, None);
    assert_eq!(all.last().unwrap().event, "done", "{all:?}");
    assert!(
        all.iter()
            .any(|e| e.data["stage"] == "uploaded" && e.data["name"] == "my photo.png"),
        "{all:?}"
    );
    assert!(comfy.input_dir().join("my photo.png").exists());

    // A file name that could leave the inputs folder is refused before anything runs.
    let (ct, body) = multipart(&[("workflow", None, wf), ("1", Some("../x.png"), &png)]);
    post(
        &format!("{}/api/instances/local/workflows", backend.url),
        &ct,
        &body,
    )
    .assert_error(400, "bad_input");
    let (ct, body) = multipart(&[("1", Some("a.png"), &png)]);
    post(
        &format!("{}/api/instances/local/workflows", backend.url),
        &ct,
        &body,
    )
    .assert_error(400, "bad_workflow");
}

#[test]
fn bad_requests_answer_json_errors_with_stable_codes() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url(), "");
    let backend = Proc::start(&config, &["--max-request-mb", "1"], &[]);
    let base = &backend.url;
    let wf_url = format!("{base}/api/instances/local/workflows");
    post_json(
        &format!("{base}/api/instances/nope/workflows"),
        &json!({"workflow": {}}),
    )
    .assert_error(404, "unknown_instance");
    post_json(&wf_url, &json!({"workflow": [1]})).assert_error(400, "bad_workflow");
    post_json(&wf_url, &json!({"flow": {}})).assert_error(400, "bad_request");
    post(&wf_url, "application/json", b"{not json").assert_error(400, "bad_request");
    post(&wf_url, "text/plain", b"{}").assert_error(415, "unsupported_media_type");
    let big = vec![b'x'; 2 * 1024 * 1024];
    let (ct, body) = multipart(&[("workflow", None, b"{}"), ("1", Some("big.png"), &big)]);
    post(&wf_url, &ct, &body).assert_error(413, "payload_too_large");
    // Other routes take small bodies only.
    let padding = "x".repeat(100 * 1024);
    post_json(
        &format!("{base}/api/instances/local/nodes"),
        &json!({"url": padding}),
    )
    .assert_error(413, "payload_too_large");
    post_json(
        &format!("{base}/api/instances/local/models"),
        &json!({"url": "https://h/x"}),
    )
    .assert_error(400, "bad_request");
    get(&format!("{base}/api/jobs/nope"), &[]).assert_error(404, "unknown_job");
    get(&format!("{base}/api/jobs/nope/outputs"), &[]).assert_error(404, "unknown_job");
    get(&format!("{base}/api/jobs/nope/events"), &[]).assert_error(404, "unknown_job");
    post(
        &format!("{base}/api/jobs/nope/cancel"),
        "application/json",
        b"",
    )
    .assert_error(404, "unknown_job");
    get(&format!("{base}/api/jobs?limit=x"), &[]).assert_error(400, "bad_request");
    // A path segment that is not UTF-8 once decoded.
    get(&format!("{base}/api/jobs/%FF"), &[]).assert_error(400, "bad_request");
    get(&format!("{base}/api/nothing"), &[]).assert_error(404, "not_found");
    post(&format!("{base}/api/jobs"), "application/json", b"{}")
        .assert_error(405, "method_not_allowed");
    post(
        &format!("{base}/api/instances/nope/test"),
        "application/json",
        b"",
    )
    .assert_error(404, "unknown_instance");

    // A workflow the instance cannot run: a job that fails with the sdk's reason.
    let a = post_json(
        &wf_url,
        &json!({"workflow": {"1": {"class_type": "NoSuchNode", "inputs": {}}}}),
    );
    assert_eq!(a.status, 202, "{a:?}");
    let id = a.json()["job_id"].as_str().unwrap().to_owned();
    let all = events(base, &id, None);
    let last = all.last().unwrap();
    assert_eq!(last.event, "error", "{all:?}");
    assert_eq!(last.data["code"], "missing_dependencies", "{last:?}");
    assert_eq!(job(base, &id)["state"], "failed");
    assert!(comfy.submitted().is_empty());
}

#[test]
fn cancel_interrupts_the_prompt_and_a_finished_job_refuses_it() {
    let comfy = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_secs(30))),
    );
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url(), "");
    let backend = Proc::start(&config, &[], &[]);
    let base = &backend.url;
    let id = submit_file(
        base,
        &repo_root().join("fixtures/comfyui/workflows/invert.api.json"),
    );
    read_events(base, &id, None, |e| {
        e.event == "node" && e.data["node"] == "2"
    });
    let a = post(
        &format!("{base}/api/jobs/{id}/cancel"),
        "application/json",
        b"",
    );
    assert_eq!(a.status, 202, "{a:?}");
    assert_eq!(a.json()["cancelling"], true);
    let all = events(base, &id, None);
    let last = all.last().unwrap();
    assert_eq!(
        (last.event.as_str(), &last.data["code"]),
        ("error", &json!("cancelled")),
        "{all:?}"
    );
    assert_eq!(last.data["state"], "cancelled");
    assert_eq!(job(base, &id)["state"], "cancelled");
    post(
        &format!("{base}/api/jobs/{id}/cancel"),
        "application/json",
        b"",
    )
    .assert_error(409, "job_finished");
}

#[test]
fn health_openapi_and_the_instance_list_with_vastai() {
    const KEY: &str = "test-key-0123456789";
    let comfy = FakeComfy::start(FakeOptions::default());
    let vast = FakeVastAi::start(KEY).unwrap();
    let (_g, dir) = temp_dir();
    let extra = format!(
        "vastai:\n  enabled: true\n  api_key_env: TEST_VAST_KEY\n  api_url: {}\n",
        vast.base_url()
    );
    let config = config_for(&dir, &comfy.url(), &extra);
    let backend = Proc::start(&config, &["--refresh-secs", "1"], &[("TEST_VAST_KEY", KEY)]);
    let base = &backend.url;

    let health = get(&format!("{base}/healthz"), &[]).json();
    assert_eq!(health["status"], "ok");

    let doc = get(&format!("{base}/api/openapi.json"), &[]).json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/healthz",
        "/api/instances",
        "/api/instances/{id}/test",
        "/api/instances/{id}/workflows",
        "/api/instances/{id}/models",
        "/api/instances/{id}/nodes",
        "/api/jobs",
        "/api/jobs/{id}",
        "/api/jobs/{id}/cancel",
        "/api/jobs/{id}/events",
        "/api/jobs/{id}/outputs",
        "/api/jobs/{id}/outputs/{name}",
        "/api/openapi.json",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert_shared_answers(&doc);

    let mut list = serde_json::Value::Null;
    wait_until(
        20,
        "a refreshed list with the local instance online",
        || {
            list = get(&format!("{base}/api/instances"), &[]).json();
            list["refreshed_at"].is_i64() && list["instances"][0]["online"] == true
        },
    );
    let local = &list["instances"][0];
    assert_eq!(local["id"], "local");
    assert_eq!(local["name"], "My workstation");
    assert_eq!(local["provider"], "local");
    assert_eq!(local["status"], "online");
    assert_eq!(local["cost_per_hour"], 0.0);
    assert_eq!(local["gpu"], "cpu");
    assert!(local["vram_total_mb"].as_u64().unwrap() > 0, "{local}");
    assert!(local["vram_free_mb"].is_u64(), "{local}");
    assert_eq!(local["queue_running"], 0);
    assert_eq!(local["queue_pending"], 0);
    assert_eq!(local["usable"], true, "{local}");
    assert!(local["unusable"].is_null(), "{local}");
    let vast_rows: Vec<&serde_json::Value> = list["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["provider"] == "vastai")
        .collect();
    assert!(!vast_rows.is_empty(), "{list}");
    assert!(
        vast_rows
            .iter()
            .all(|i| i["cost_per_hour"].as_f64().unwrap() > 0.0),
        "{list}"
    );
    // The config has no `vastai.ssh`: operations would refuse every rented instance.
    for row in &vast_rows {
        assert_eq!(row["usable"], false, "{row}");
        let reason = row["unusable"]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("`vastai.ssh.key_file` is not set"), "{row}");
        assert!(
            row["unusable"]["hint"]
                .as_str()
                .unwrap_or_default()
                .contains("set vastai.ssh.key_file"),
            "{row}"
        );
    }
    let view = &doc["components"]["schemas"]["InstanceView"]["properties"];
    assert!(
        view.get("usable").is_some() && view.get("unusable").is_some(),
        "{view}"
    );
    assert!(list["errors"].as_array().unwrap().is_empty(), "{list}");

    // The list never waits for a refresh: even a slow VastAI answers at once from the cache.
    vast.set_delay(Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1500));
    let started = std::time::Instant::now();
    assert_eq!(get(&format!("{base}/api/instances"), &[]).status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_token_guards_the_api_and_is_required_off_loopback() {
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, "http://127.0.0.1:9", "");
    let token = "s3cret-token-for-tests";
    let backend = Proc::start(&config, &[], &[("COMFY_BACKEND_TOKEN", token)]);
    let base = &backend.url;
    get(&format!("{base}/api/jobs"), &[]).assert_error(401, "unauthorized");
    get(
        &format!("{base}/api/jobs"),
        &[("Authorization", "Bearer wrong")],
    )
    .assert_error(401, "unauthorized");
    let bearer = format!("Bearer {token}");
    assert_eq!(
        get(&format!("{base}/api/jobs"), &[("Authorization", &bearer)]).status,
        200
    );
    assert_eq!(get(&format!("{base}/healthz"), &[]).status, 200);
    assert_eq!(get(&format!("{base}/api/openapi.json"), &[]).status, 200);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_comfy-backend"))
        .args(["--config", config.as_str(), "--listen", "0.0.0.0:0"])
        .env_remove("COMFY_BACKEND_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without a token"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: set $COMFY_BACKEND_TOKEN"),
        "{stderr}"
    );
}

#[test]
fn cors_is_off_unless_an_origin_is_given() {
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, "http://127.0.0.1:9", "");
    let origin = "http://localhost:3000";
    let plain = Proc::start(&config, &["--state-dir", dir.join("a").as_str()], &[]);
    let a = get(&format!("{}/api/jobs", plain.url), &[("Origin", origin)]);
    assert_eq!(a.header("access-control-allow-origin"), None);
    let cors = Proc::start(
        &config,
        &[
            "--cors-origin",
            origin,
            "--state-dir",
            dir.join("b").as_str(),
        ],
        &[],
    );
    let a = get(&format!("{}/api/jobs", cors.url), &[("Origin", origin)]);
    assert_eq!(a.header("access-control-allow-origin"), Some(origin));
    let other = get(
        &format!("{}/api/jobs", cors.url),
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(other.header("access-control-allow-origin"), None);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_comfy-backend"))
        .args(["--config", config.as_str(), "--cors-origin", "*"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn sigterm_stops_a_running_job_after_the_grace_period_and_marks_it_interrupted() {
    let comfy = FakeComfy::start(
        FakeOptions::default().knobs(Knobs::default().slow_node("2", Duration::from_secs(30))),
    );
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url(), "");
    let mut backend = Proc::start(&config, &["--shutdown-grace-secs", "1"], &[]);
    let id = submit_file(
        &backend.url,
        &repo_root().join("fixtures/comfyui/workflows/invert.api.json"),
    );
    read_events(&backend.url, &id, None, |e| {
        e.event == "node" && e.data["node"] == "2"
    });
    let started = std::time::Instant::now();
    assert_eq!(backend.signal("-TERM"), Some(0), "{}", backend.stderr());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let again = Proc::start(&config, &[], &[]);
    let record = job(&again.url, &id);
    assert_eq!(record["state"], "interrupted", "{record}");
    let last = events(&again.url, &id, None).pop().unwrap();
    assert_eq!(
        (last.event.as_str(), &last.data["code"]),
        ("error", &json!("interrupted"))
    );
}

#[test]
fn bad_install_requests_are_refused_with_400_and_store_no_job() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    // A second local instance with a Windows install path: its file names follow Windows rules.
    let windows = format!(
        "  - id: win\n    ssh: {{ host: 127.0.0.1, key_file: {dir}/key, known_hosts_file: {dir}/kh }}\n    comfyui: {{ path: 'C:/ComfyUI', api_url: '{}' }}\n",
        comfy.url()
    );
    let config = config_for(&dir, &comfy.url(), &windows);
    let backend = Proc::start(&config, &[], &[]);
    let base = &backend.url;
    let models = format!("{base}/api/instances/local/models");
    let nodes = format!("{base}/api/instances/local/nodes");
    let file = "http://127.0.0.1:9/m.safetensors";
    for (url, body, said) in refusals(base, file) {
        let a = post_json(&url, &body);
        a.assert_error(400, "bad_request");
        let error = &a.json()["error"];
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(said), "{body}: {error}");
        assert!(error["hint"].is_string(), "{body}: {error}");
    }
    // The disallowed host's hint names the setting.
    let a = post_json(&nodes, &json!({"url": "https://git.invalid/o/node"}));
    assert!(
        a.json()["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("allowed_git_hosts"),
        "{a:?}"
    );
    // An unknown instance is still 404, whatever the body.
    post_json(
        &format!("{base}/api/instances/nope/models"),
        &json!({"url": "not a url", "folder": "checkpoints"}),
    )
    .assert_error(404, "unknown_instance");
    let jobs = get(&format!("{base}/api/jobs"), &[]).json();
    assert_eq!(jobs["jobs"], json!([]), "{jobs}");

    // What needs the host is a job that fails: a folder the host's ComfyUI may or may not know,
    // and a name only Windows refuses, on the POSIX instance (this host cannot be reached).
    for body in [
        json!({"url": file, "folder": "no_such_folder"}),
        json!({"url": file, "folder": "checkpoints", "name": "nul.safetensors"}),
    ] {
        let a = post_json(&models, &body);
        assert_eq!(a.status, 202, "{body}: {a:?}");
        let id = a.json()["job_id"].as_str().unwrap().to_owned();
        let last = events(base, &id, None).pop().unwrap();
        assert_eq!(last.event, "error", "{last:?}");
    }
    let jobs = get(&format!("{base}/api/jobs"), &[]).json();
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 2, "{jobs}");
}

/// Install requests refused before any job: (route, body, a part of the message).
fn refusals(base: &str, file: &str) -> Vec<(String, serde_json::Value, &'static str)> {
    let models = format!("{base}/api/instances/local/models");
    let nodes = format!("{base}/api/instances/local/nodes");
    vec![
        (
            models.clone(),
            json!({"url": "not a url", "folder": "checkpoints"}),
            "not a url",
        ),
        (
            models.clone(),
            json!({"url": "ftp://127.0.0.1/m.safetensors", "folder": "checkpoints"}),
            "scheme is ftp",
        ),
        (
            models.clone(),
            json!({"url": "file:///etc/passwd", "folder": "checkpoints"}),
            "scheme is file",
        ),
        (
            models.clone(),
            json!({"url": file, "folder": "../etc"}),
            "folder name",
        ),
        (
            models.clone(),
            json!({"url": file, "folder": ""}),
            "folder name",
        ),
        (
            models.clone(),
            json!({"url": file, "folder": "checkpoints", "name": "../m.safetensors"}),
            "refusing to install",
        ),
        (
            models.clone(),
            json!({"url": file, "folder": "checkpoints", "name": "/abs.safetensors"}),
            "refusing to install",
        ),
        (
            models.clone(),
            json!({"url": file, "folder": "checkpoints", "sha256": "abc"}),
            "sha256",
        ),
        (
            models.clone(),
            json!({"url": file, "folder": "checkpoints", "sha256": "z".repeat(64)}),
            "sha256",
        ),
        (
            format!("{base}/api/instances/win/models"),
            json!({"url": file, "folder": "checkpoints", "name": "nul.safetensors"}),
            "refusing to install",
        ),
        (nodes.clone(), json!({"url": "not a url"}), "not a url"),
        (
            nodes.clone(),
            json!({"url": "http://github.com/o/node"}),
            "scheme is http",
        ),
        (
            nodes.clone(),
            json!({"url": "https://git.invalid/o/node"}),
            "git.invalid",
        ),
        (
            nodes.clone(),
            json!({"url": "https://u:pw@github.com/o/node"}),
            "password",
        ),
        (
            nodes.clone(),
            json!({"url": "https://github.com/o/.hidden"}),
            "dot",
        ),
        (
            nodes.clone(),
            json!({"url": "https://github.com/o/node", "ref": "--upload-pack=x"}),
            "ref",
        ),
        (
            nodes.clone(),
            json!({"url": "https://github.com/o/node", "ref": "main..x"}),
            "ref",
        ),
    ]
}

/// The shared answers (api/responses.rs) are in every route that names them, with their bodies.
fn assert_shared_answers(doc: &serde_json::Value) {
    let error_ref = json!({"$ref": "#/components/schemas/ErrorDocument"});
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if path.starts_with("/api/") && path != "/api/openapi.json" {
                let answer = &op["responses"]["401"];
                assert_eq!(
                    answer["content"]["application/json"]["schema"], error_ref,
                    "{method} {path}"
                );
            }
        }
    }
    for path in ["/api/instances/{id}/models", "/api/instances/{id}/nodes"] {
        let answers = doc["paths"][path]["post"]["responses"].as_object().unwrap();
        let statuses: Vec<&str> = answers.keys().map(String::as_str).collect();
        assert_eq!(
            statuses,
            ["202", "400", "401", "404", "413", "415", "503"],
            "{path}"
        );
        assert_eq!(
            answers["202"]["content"]["application/json"]["schema"],
            json!({"$ref": "#/components/schemas/JobCreated"}),
            "{path}"
        );
        assert!(
            answers["400"]["description"]
                .as_str()
                .unwrap()
                .contains("sha256"),
            "{path}"
        );
    }
    assert!(doc["components"]["schemas"]["JobCreated"].is_object());
}
