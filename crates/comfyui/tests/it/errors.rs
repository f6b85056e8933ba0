//! Every error shape in the fixtures maps to the typed error, with every node error kept.

use comfy_local_comfyui::{ComfyError, SubmitOptions};
use comfy_local_fake_comfyui::fixtures::load;
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use serde_json::Value;

use crate::client;

/// Checks a typed rejection against the recorded JSON body, field by field.
fn assert_matches_recording(err: &ComfyError, recorded: &Value, case: &str) {
    let ComfyError::PromptRejected { error, node_errors } = err else {
        panic!("{case}: expected PromptRejected, got {err:?}");
    };
    assert_eq!(
        error.kind,
        recorded["error"]["type"].as_str().unwrap_or_default(),
        "{case}"
    );
    assert_eq!(
        error.message,
        recorded["error"]["message"].as_str().unwrap_or_default(),
        "{case}"
    );
    assert_eq!(
        error.details,
        recorded["error"]["details"].as_str().unwrap_or_default(),
        "{case}"
    );
    let rec_nodes = recorded["node_errors"].as_object().expect("node_errors");
    assert_eq!(
        node_errors.len(),
        rec_nodes.len(),
        "{case}: every node error is kept"
    );
    for ne in node_errors {
        let rec = &rec_nodes[&ne.node_id];
        assert_eq!(
            ne.class_type,
            rec["class_type"].as_str().unwrap_or_default(),
            "{case}"
        );
        let rec_errors = rec["errors"].as_array().expect("errors");
        assert_eq!(ne.errors.len(), rec_errors.len(), "{case}");
        for (e, r) in ne.errors.iter().zip(rec_errors) {
            assert_eq!(e.kind, r["type"].as_str().unwrap_or_default(), "{case}");
            assert_eq!(
                e.message,
                r["message"].as_str().unwrap_or_default(),
                "{case}"
            );
            assert_eq!(
                e.details,
                r["details"].as_str().unwrap_or_default(),
                "{case}"
            );
            assert_eq!(
                e.input_name.as_deref(),
                r["extra_info"]["input_name"].as_str(),
                "{case}"
            );
        }
        let deps: Vec<&str> = rec["dependent_outputs"]
            .as_array()
            .expect("deps")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(ne.dependent_outputs, deps, "{case}");
    }
}

#[test]
fn recorded_rejections_replayed_verbatim_map_to_prompt_rejected() {
    let fake = FakeComfy::start(FakeOptions::default());
    let client = client(&fake);
    let cases = load("recorded/post_prompt_errors.json");
    let mut checked = 0;
    for (name, case) in cases.as_object().expect("cases") {
        let Value::Object(_) = &case["response"] else {
            continue;
        };
        let status = case["status"].as_u64().expect("status") as u16;
        fake.set_knobs(Knobs::default().reject(status, case["response"].clone()));
        let err = client
            .submit(
                &crate::workflow("invert.api.json"),
                &SubmitOptions::default(),
            )
            .expect_err(name);
        assert_matches_recording(&err, &case["response"], name);
        checked += 1;
    }
    let ui = load("recorded/post_prompt_ui_format_rejected.json");
    fake.set_knobs(Knobs::default().reject(400, ui["response"].clone()));
    let err = client
        .submit(
            &crate::workflow("invert.ui.json"),
            &SubmitOptions::default(),
        )
        .expect_err("ui");
    assert_matches_recording(&err, &ui["response"], "ui_format");
    assert_eq!(checked, 10, "every JSON-bodied recorded rejection");
}

#[test]
fn invalid_prompts_are_rejected_by_the_fake_with_every_node_error() {
    let fake = FakeComfy::start(FakeOptions::default());
    let client = client(&fake);
    let cases = load("recorded/post_prompt_errors.json");
    for (name, case) in cases.as_object().expect("cases") {
        let Some(prompt) = case.get("request_prompt") else {
            continue;
        };
        let err = client
            .submit(prompt, &SubmitOptions::default())
            .expect_err(name);
        let recorded = case["response"].clone();
        // Tracebacks differ by machine; everything the typed error carries is compared.
        assert_matches_recording(&err, &recorded, name);
    }
    // Two broken nodes feeding two outputs: both errors are reported, with both dependents.
    let prompt = serde_json::json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": "x", "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "a"}},
        "3": {"class_type": "ImageInvert", "inputs": {}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}}
    });
    let err = client
        .submit(&prompt, &SubmitOptions::default())
        .expect_err("invalid");
    insta::assert_snapshot!(err.to_string());
    let ComfyError::PromptRejected { node_errors, .. } = err else {
        panic!("typed")
    };
    assert_eq!(node_errors.iter().map(|n| n.errors.len()).sum::<usize>(), 3);
}

#[test]
fn a_runtime_failure_is_execution_failed_with_all_fields() {
    let fake = FakeComfy::start(FakeOptions::default());
    let client = client(&fake);
    let request = load("recorded/post_prompt_runtime_error.json");
    let prompt = &request["request"]["body"]["prompt"];
    let err = client
        .run(prompt, comfy_local_comfyui::RunOptions::default())
        .expect("submitted")
        .finish()
        .expect_err("fails");
    let ComfyError::ExecutionFailed { error, .. } = &err else {
        panic!("expected ExecutionFailed, got {err:?}")
    };
    assert_eq!(
        (error.node_id.as_str(), error.node_type.as_str()),
        ("3", "SaveImage")
    );
    assert_eq!(error.exception_type, "Exception");
    assert!(
        error
            .exception_message
            .starts_with("**** ERROR: Saving image outside the output folder")
    );
    assert_eq!(error.executed, ["1", "2"]);
    assert!(error.current_inputs.get("filename_prefix").is_some());
    assert!(!error.traceback.is_empty());
}

#[test]
fn run_failures_read_well() {
    let fake = FakeComfy::start(FakeOptions::default().knobs(Knobs::default().fail_at_node("2")));
    let client = client(&fake);
    let opts = |id: &str| {
        comfy_local_comfyui::RunOptions::default().submit(SubmitOptions::default().prompt_id(id))
    };
    let failed = client
        .run(&crate::workflow("invert.api.json"), opts("p-1"))
        .expect("run")
        .finish();
    fake.set_knobs(Knobs::default().slow_node("2", std::time::Duration::from_secs(5)));
    let mut run = client
        .run(&crate::workflow("invert.api.json"), opts("p-2"))
        .expect("run");
    // Interrupt once node 2 runs.
    let at_node_2 = run.by_ref().any(
        |e| matches!(&e, comfy_local_comfyui::Event::Executing { node: Some(n), .. } if n == "2"),
    );
    assert!(at_node_2);
    client.interrupt(None).expect("interrupt");
    let interrupted = run.finish();
    let messages: Vec<String> = [failed, interrupted]
        .into_iter()
        .map(|r| r.expect_err("fails").to_string())
        .collect();
    insta::assert_snapshot!(messages.join("\n"));
}

/// A prompt whose `Serialize` fails (as a map with non-string keys does).
struct Unserialisable;

impl serde::Serialize for Unserialisable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("no JSON form"))
    }
}

#[test]
fn a_prompt_that_cannot_be_serialised_is_a_typed_error_and_nothing_is_sent() {
    let fake = FakeComfy::start(FakeOptions::default());
    let client = client(&fake);
    let err = client
        .submit(&Unserialisable, &SubmitOptions::default())
        .expect_err("cannot serialise");
    let ComfyError::Serialize { url, source } = &err else {
        panic!("expected Serialize, got {err:?}");
    };
    assert!(url.ends_with("/prompt"), "{url}");
    assert_eq!(source.to_string(), "no JSON form");
    let err = client
        .run(&Unserialisable, comfy_local_comfyui::RunOptions::default())
        .expect_err("cannot serialise");
    assert!(matches!(err, ComfyError::Serialize { .. }), "{err:?}");
    assert!(client.history_list(None).expect("history").is_empty());
    assert_eq!(client.queue_remaining().expect("queue"), 0);
}
