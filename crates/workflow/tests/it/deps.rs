//! Dependency check: all missing node classes, model files per folder (with download URLs from
//! the workflow's `models` metadata) and input files, each with the node ids needing them.

use std::collections::BTreeMap;

use comfy_local_workflow::{Inventory, Workflow, check_dependencies, load};

use crate::common::{fixtures, object_info};

fn inventory(models: &[(&str, &[&str])], inputs: &[&str]) -> Inventory {
    Inventory {
        object_info: object_info().clone(),
        models: models
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
            .collect::<BTreeMap<_, _>>(),
        input_files: inputs.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn load_fixture(name: &str) -> Workflow {
    load(&std::fs::read(fixtures().join("conversion").join(name)).expect("read")).expect("loads")
}

#[test]
fn ui_workflow_reports_missing_models_with_urls_and_inputs() {
    let wf = load_fixture("tpl_flux1_dev_uso_reference_image_gen.ui.json");
    // One model present (given with a Windows separator), everything else absent.
    let inv = inventory(
        &[
            ("checkpoints", &["flux1-dev-fp8.safetensors"]),
            ("loras", &["other\\x.safetensors"]),
        ],
        &[],
    );
    let report = check_dependencies(&wf, &inv);
    insta::assert_json_snapshot!("deps_uso_json", report);
    insta::assert_snapshot!("deps_uso_human", report.to_string());
}

#[test]
fn api_prompt_lists_every_missing_class_and_normalises_separators() {
    let api = br#"{
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd/v1-5.safetensors"}},
        "2": {"class_type": "LoraLoader", "inputs": {"lora_name": "a\\b.safetensors", "model": ["1", 0], "clip": ["1", 1]}},
        "3": {"class_type": "FancyCustomNode", "inputs": {}},
        "4": {"class_type": "FancyCustomNode", "inputs": {}},
        "5": {"class_type": "OtherCustomNode", "inputs": {}},
        "6": {"class_type": "LoadImage", "inputs": {"image": "sub/photo.png [input]"}},
        "7": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
        "8": {"class_type": "LoadImageOutput", "inputs": {"image": "x.png [output]"}},
        "9": {"class_type": "VAELoader", "inputs": {"vae_name": "ae.safetensors"}}
    }"#;
    let wf = load(api).expect("loads");
    let inv = inventory(
        &[
            ("checkpoints", &["sd\\v1-5.safetensors"]),
            ("loras", &["a/b.safetensors"]),
            ("vae", &[]),
        ],
        &["example.png"],
    );
    let report = check_dependencies(&wf, &inv);
    insta::assert_json_snapshot!("deps_api_json", report);
    insta::assert_snapshot!("deps_api_human", report.to_string());
    assert!(!report.is_complete());
}

#[test]
fn complete_workflow_passes_and_folder_is_derived_from_object_info() {
    // LoadImage's combo options are exactly this input listing, and the checkpoint combo (empty in
    // the recorded server) falls back to the known name map.
    let wf = load_fixture("tpl_default.ui.json");
    let inv = inventory(
        &[("checkpoints", &["v1-5-pruned-emaonly-fp16.safetensors"])],
        &[],
    );
    let report = check_dependencies(&wf, &inv);
    assert!(report.is_complete(), "{report}");
    insta::assert_snapshot!("deps_complete_human", report.to_string());
}
