//! `POST /api/batches` against the binary and two fake `ComfyUI` servers (one rejecting every prompt):
//! every job done once on the working instance, its steps as `progress` events, the outputs
//! recorded per job, the summary as the result; bad bodies are 400.

use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use serde_json::{Value, json};

use crate::{Proc, events, get, job, post_json, repo_root, temp_dir};

/// A config with the instances `rejects` and `good` (in that order), one job in flight each.
fn two_instances(dir: &camino::Utf8Path, rejects: &str, good: &str) -> camino::Utf8PathBuf {
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "local:
  - id: rejects
    ssh: {{ host: 127.0.0.1, key_file: {dir}/key, known_hosts_file: {dir}/kh }}
    comfyui: {{ path: /opt/ComfyUI, api_url: '{rejects}' }}
  - id: good
    ssh: {{ host: 127.0.0.1, key_file: {dir}/key, known_hosts_file: {dir}/kh }}
    comfyui: {{ path: /opt/ComfyUI, api_url: '{good}' }}
pool: {{ max_in_flight: 1, max_tries: 3 }}
"
        ),
    )
    .unwrap();
    config
}

#[test]
fn a_batch_runs_over_the_pool_and_streams_its_steps() {
    let good = FakeComfy::start(FakeOptions::default());
    let rejects = FakeComfy::start(FakeOptions::default().knobs(Knobs::default().reject(
        400,
        json!({"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "", "extra_info": {}}, "node_errors": {}}),
    )));
    let (_g, dir) = temp_dir();
    let config = two_instances(&dir, &rejects.url(), &good.url());
    let backend = Proc::start(&config, &[], &[]);
    let base = &backend.url;
    let wf: Value = serde_json::from_str(
        &std::fs::read_to_string(
            repo_root().join("fixtures/comfyui/workflows/blur_scale_two_outputs.api.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let body = json!({
        "workflows": [{"name": "one", "workflow": wf}, {"name": "two", "workflow": wf}],
        "instances": ["rejects", "good"],
    });
    let a = post_json(&format!("{base}/api/batches"), &body);
    assert_eq!(a.status, 202, "{a:?}");
    let id = a.json()["job_id"].as_str().unwrap().to_owned();

    let all = events(base, &id, None);
    let names: Vec<&str> = all.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names.first(), Some(&"queued"));
    assert_eq!(names.last(), Some(&"done"), "{all:?}");
    let steps: Vec<&Value> = all
        .iter()
        .filter(|e| e.event == "progress")
        .map(|e| &e.data)
        .collect();
    let done: Vec<&str> = steps
        .iter()
        .filter(|s| s["type"] == "done")
        .map(|s| s["job"].as_str().unwrap())
        .collect();
    let mut sorted = done.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["one", "two"], "{steps:?}");
    assert!(
        steps
            .iter()
            .any(|s| s["type"] == "attempt_failed" && s["instance"] == "rejects"),
        "{steps:?}"
    );

    let record = job(base, &id);
    assert_eq!(
        (
            record["state"].clone(),
            record["kind"].clone(),
            record["instance"].clone()
        ),
        (json!("succeeded"), json!("batch"), json!("pool")),
        "{record}"
    );
    let summary = &record["result"];
    assert_eq!(
        (
            summary["type"].clone(),
            summary["jobs"].clone(),
            summary["done"].clone(),
            summary["failed"].clone()
        ),
        (json!("summary"), json!(2), json!(2), json!(0)),
        "{summary}"
    );
    assert_eq!(summary["instances"]["good"]["done"], 2);
    assert_eq!(summary["instances"]["rejects"]["done"], 0);
    assert_eq!(good.submitted().len(), 2);

    let outputs = get(&format!("{base}/api/jobs/{id}/outputs"), &[]).json();
    let names: Vec<&str> = outputs["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 8, "{names:?}");
    for job in ["one", "two"] {
        assert_eq!(
            names
                .iter()
                .filter(|n| n.starts_with(&format!("{job}/")))
                .count(),
            4,
            "{names:?}"
        );
    }
    let first = names[0];
    let file = get(&format!("{base}/api/jobs/{id}/outputs/{first}"), &[]);
    assert_eq!(file.status, 200);
}

#[test]
fn bad_batch_bodies_are_400() {
    let (_g, dir) = temp_dir();
    let config = crate::config_for(&dir, "http://127.0.0.1:9", "");
    let backend = Proc::start(&config, &[], &[]);
    let url = format!("{}/api/batches", backend.url);
    let wf = json!({"1": {"class_type": "EmptyImage", "inputs": {}}});
    for body in [
        json!({"workflows": []}),
        json!({"workflows": [{"name": ".hidden", "workflow": wf}]}),
        json!({"workflows": [{"name": "a/b", "workflow": wf}]}),
        json!({"workflows": [{"name": "a", "workflow": wf}, {"name": "a", "workflow": wf}]}),
        json!({"workflows": [{"name": "a", "workflow": [1]}]}),
        json!({"workflows": [{"name": "a", "workflow": wf}], "repeat": 0}),
        json!({"workflows": [{"name": "a", "workflow": wf}], "instances": []}),
        json!({"workflows": [{"name": "a", "workflow": wf}], "colour": 1}),
    ] {
        let a = post_json(&url, &body);
        a.assert_error(400, "bad_request");
    }
}
