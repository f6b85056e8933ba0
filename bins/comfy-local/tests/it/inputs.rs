//! `comfy-local run --input` against the fake ComfyUI: a taken name in the host's input/ is never
//! replaced, and a NAME the workflow does not use is refused before anything is uploaded.

use crate::{config_for, repo_root, run_workflow, temp_dir};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions};

const LOADER_WORKFLOW: &str = r#"{
  "1": {"class_type": "LoadImage", "inputs": {"image": "not-there-yet.png"}},
  "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
  "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "loaded"}}
}"#;

fn run_with_input(comfy: &FakeComfy, dir: &camino::Utf8Path, spec: &str) -> crate::Run {
    let config = config_for(dir, &comfy.url());
    let wf = dir.join("wf.json");
    std::fs::write(&wf, LOADER_WORKFLOW).unwrap();
    let out = dir.join("out");
    run_workflow(&config, &wf, &out, &["--input", spec], dir)
}

#[test]
fn an_input_never_replaces_a_file_of_the_hosts_input_folder() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let theirs = repo_root().join("fixtures/comfyui/recorded/view_output.png");
    let host_file = comfy.input_dir().join("photo.png");
    std::fs::copy(&theirs, &host_file).unwrap();
    let before = std::fs::read(&host_file).unwrap();
    let (_g, dir) = temp_dir();
    // Another image under the same name: the first output of a run of the invert workflow.
    let ours = dir.join("photo.png");
    let mut bytes = before.clone();
    bytes.extend_from_slice(b"trailing bytes PNG readers ignore");
    std::fs::write(&ours, &bytes).unwrap();

    let result = run_with_input(&comfy, &dir, &format!("1={ours}"));
    assert_eq!(result.code, 0, "{result:?}");
    assert_eq!(
        std::fs::read(&host_file).unwrap(),
        before,
        "the host's photo.png was replaced"
    );
    let stored = comfy.input_dir().join("photo (1).png");
    assert_eq!(std::fs::read(&stored).unwrap(), bytes);
    let submitted = comfy.submitted();
    let last = submitted.last().unwrap();
    assert_eq!(last["prompt"]["1"]["inputs"]["image"], "photo (1).png");
    assert!(
        result.stderr.contains("uploaded input/photo (1).png"),
        "{}",
        result.stderr
    );
}

#[test]
fn an_input_naming_no_node_and_no_loaded_file_is_a_usage_error() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let png = repo_root().join("fixtures/comfyui/recorded/view_output.png");
    for name in ["7", "other.png"] {
        let (_g, dir) = temp_dir();
        let result = run_with_input(&comfy, &dir, &format!("{name}={png}"));
        assert_eq!(result.code, 2, "{name}: {result:?}");
        assert!(
            result.stderr.contains(
                r#"valid NAMEs (a loader node id or the file it loads): 1 or "not-there-yet.png""#
            ),
            "{name}: {}",
            result.stderr
        );
        assert!(
            result.stderr.contains("would never be used"),
            "{}",
            result.stderr
        );
    }
    assert!(comfy.submitted().is_empty(), "nothing may be queued");
    let uploaded: Vec<_> = std::fs::read_dir(comfy.input_dir()).unwrap().collect();
    assert!(uploaded.is_empty(), "nothing may be uploaded: {uploaded:?}");
}

#[test]
fn an_input_named_after_the_file_the_workflow_loads_is_used() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let png = repo_root().join("fixtures/comfyui/recorded/view_output.png");
    let (_g, dir) = temp_dir();
    let result = run_with_input(&comfy, &dir, &format!("not-there-yet.png={png}"));
    assert_eq!(result.code, 0, "{result:?}");
    assert!(comfy.input_dir().join("not-there-yet.png").exists());
}
