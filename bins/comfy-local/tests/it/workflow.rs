//! `comfy-local workflow convert|deps`: the real frontend's 65 conversion pairs through the
//! fixture's own `check.py`, and the dependency check against the fake ComfyUI.

use comfy_local_fake_comfyui::{FakeComfy, FakeOptions};
use insta::assert_snapshot;

use crate::{config_for, repo_root, run, temp_dir};

#[test]
fn convert_passes_the_frontend_corpus_with_check_py() {
    let corpus = repo_root().join("fixtures/comfyui/conversion");
    let object_info = repo_root().join("fixtures/comfyui/object_info.json");
    let out = std::process::Command::new("python3")
        .arg(corpus.join("check.py"))
        .args(["--dir", corpus.as_str(), "--"])
        .arg(env!("CARGO_BIN_EXE_comfy-local"))
        .args([
            "workflow",
            "convert",
            "--object-info",
            object_info.as_str(),
            "{ui}",
        ])
        .output()
        .unwrap_or_else(|e| panic!("python3 is needed to run check.py: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

#[test]
fn convert_refuses_a_non_workflow() {
    let (_g, dir) = temp_dir();
    let file = dir.join("not-a-workflow.json");
    std::fs::write(&file, r#"{"hello": "world"}"#).unwrap();
    let object_info = repo_root().join("fixtures/comfyui/object_info.json");
    let result = run(
        &[
            "workflow",
            "convert",
            "--object-info",
            object_info.as_str(),
            file.as_str(),
        ],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 2, "{result:?}");
    assert_snapshot!(result.snapshot(&[(dir.as_str(), "[TMP]")]));
}

#[test]
fn deps_lists_everything_missing() {
    let comfy = FakeComfy::start(
        FakeOptions::default().model_folder("checkpoints", &["present.safetensors"]),
    );
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = dir.join("wf.json");
    std::fs::write(
        &wf,
        r#"{
  "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"}},
  "2": {"class_type": "LoraLoader", "inputs": {"lora_name": "detail.safetensors", "model": ["1", 0], "clip": ["1", 1], "strength_model": 1.0, "strength_clip": 1.0}},
  "3": {"class_type": "NoSuchNodeA", "inputs": {}},
  "4": {"class_type": "NoSuchNodeB", "inputs": {}},
  "5": {"class_type": "LoadImage", "inputs": {"image": "missing-photo.png"}},
  "6": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "present.safetensors"}}
}"#,
    )
    .unwrap();
    let result = run(
        &["--config", config.as_str(), "workflow", "deps", wf.as_str()],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 1, "{result:?}");
    assert_snapshot!(result.snapshot(&[(dir.as_str(), "[TMP]")]));
    let json = run(
        &[
            "--json",
            "--config",
            config.as_str(),
            "workflow",
            "deps",
            wf.as_str(),
        ],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(json.code, 1, "{json:?}");
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        v["missing_nodes"].as_array().map(Vec::len),
        Some(2),
        "{v:#}"
    );
}

#[test]
fn deps_of_a_complete_workflow_exits_0() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = repo_root().join("fixtures/comfyui/workflows/invert.api.json");
    let result = run(
        &["--config", config.as_str(), "workflow", "deps", wf.as_str()],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(result.code, 0, "{result:?}");
}
