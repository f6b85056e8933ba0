//! `comfy-local install missing` against the fake ComfyUI: the dry run's plan and exit codes,
//! JSON Lines, and `--yes` reporting each failed install and what is still missing (the
//! installs themselves run against the real sshd in the sdk's tests).

use comfy_local_fake_comfyui::{FakeComfy, FakeOptions};
use serde_json::{Value, json};

use crate::{config_for, run, temp_dir};

/// A `/prompt` body: two loaders of missing models (URLs in the UI workflow's models metadata)
/// a class the instance lacks, with `fancy` as that node's properties, and an input file
/// missing from `input/`.
fn workflow(dir: &camino::Utf8Path, fancy: &Value) -> camino::Utf8PathBuf {
    let body = json!({
        "prompt": {
            "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "one.safetensors"}},
            "2": {"class_type": "LoraLoader", "inputs": {
                "model": ["1", 0], "clip": ["1", 1], "lora_name": "two.safetensors",
                "strength_model": 1.0, "strength_clip": 1.0}},
            "3": {"class_type": "FancyNode", "inputs": {}},
            "4": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}}
        },
        "extra_data": {"extra_pnginfo": {"workflow": {
            "nodes": [{"id": 3, "type": "FancyNode", "properties": fancy}],
            "models": [
                {"name": "one.safetensors", "url": "http://127.0.0.1:9/one", "directory": "checkpoints"},
                {"name": "two.safetensors", "url": "http://127.0.0.1:9/two", "directory": "loras"}
            ]
        }}}
    });
    let path = dir.join("wf.json");
    std::fs::write(&path, serde_json::to_vec(&body).unwrap()).unwrap();
    path
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn the_dry_run_lists_two_models_and_a_node_with_their_sources_and_exits_0() {
    let (_g, dir) = temp_dir();
    let comfy = FakeComfy::start(FakeOptions::default());
    let cfg = config_for(&dir, &comfy.url());
    let wf = workflow(&dir, &json!({"aux_id": "owner/ComfyUI-Fancy"}));
    let r = run(
        &["--config", cfg.as_str(), "install", "missing", wf.as_str()],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    for says in [
        "Models to install (2):",
        "checkpoints/one.safetensors (node 1)\n      from http://127.0.0.1:9/one",
        "loras/two.safetensors (node 2)\n      from http://127.0.0.1:9/two",
        "Custom nodes to install (1):",
        "custom_nodes/ComfyUI-Fancy (for FancyNode)\n      from https://github.com/owner/ComfyUI-Fancy (properties.aux_id)",
        "Input files missing (not installed by this command; give them to run --input): photo.png",
        "dry run: nothing installed",
    ] {
        assert!(r.stdout.contains(says), "{says}\n{}", r.stdout);
    }
    assert!(!r.stdout.contains("Cannot be resolved"), "{}", r.stdout);

    let r = run(
        &[
            "--config",
            cfg.as_str(),
            "--json",
            "install",
            "missing",
            wf.as_str(),
        ],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let l = lines(&r.stdout);
    let kinds: Vec<(&str, &str)> = l
        .iter()
        .map(|v| {
            (
                v["event"].as_str().unwrap(),
                v["kind"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("plan", "model"),
            ("plan", "model"),
            ("plan", "node"),
            ("missing_input", ""),
            ("summary", "")
        ]
    );
    assert_eq!(
        l[2]["item"]["url"],
        "https://github.com/owner/ComfyUI-Fancy"
    );
    assert_eq!(l[3]["name"], "photo.png");
    assert_eq!(l[4]["ok"], true, "missing inputs do not fail the plan");
    assert_eq!(l[4]["dry_run"], true);
}

#[test]
fn an_unresolved_node_makes_the_dry_run_exit_1_naming_it() {
    let (_g, dir) = temp_dir();
    let comfy = FakeComfy::start(FakeOptions::default());
    let cfg = config_for(&dir, &comfy.url());
    let wf = workflow(&dir, &json!({"cnr_id": "comfyui-fancy", "ver": "1.0.0"}));
    let r = run(
        &["--config", cfg.as_str(), "install", "missing", wf.as_str()],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains("Cannot be resolved (1):\n  node class FancyNode (node 3): Comfy Registry id \"comfyui-fancy\""),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Models to install (2):"), "{}", r.stdout);
    assert!(r.stderr.contains("cannot be resolved"), "{r:?}");

    // A node map resolves it (and its URL is checked: 127.0.0.1 is not an allowed git host).
    let map = dir.join("map.json");
    std::fs::write(&map, r#"{"FancyNode": "git://127.0.0.1/fancy.git"}"#).unwrap();
    let r = run(
        &[
            "--config",
            cfg.as_str(),
            "--json",
            "install",
            "missing",
            wf.as_str(),
            "--node-map",
            map.as_str(),
        ],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    let l = lines(&r.stdout);
    let unresolved: Vec<&Value> = l.iter().filter(|v| v["event"] == "unresolved").collect();
    assert_eq!(unresolved.len(), 1, "{l:#?}");
    assert_eq!(unresolved[0]["item"]["class_type"], "FancyNode");
    assert!(
        unresolved[0]["item"]["reason"]
            .as_str()
            .unwrap()
            .contains("\"127.0.0.1\" is not allowed"),
        "{l:#?}"
    );
    let map_fancy = r#"{"FancyNode": "https://github.com/owner/fancy"}"#;
    std::fs::write(&map, map_fancy).unwrap();
    let r = run(
        &[
            "--config",
            cfg.as_str(),
            "install",
            "missing",
            wf.as_str(),
            "--node-map",
            map.as_str(),
        ],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("from https://github.com/owner/fancy (--node-map)"),
        "{}",
        r.stdout
    );

    std::fs::write(&map, "[1]").unwrap();
    let r = run(
        &[
            "--config",
            cfg.as_str(),
            "install",
            "missing",
            wf.as_str(),
            "--node-map",
            map.as_str(),
        ],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("node map"), "{r:?}");
}

#[test]
fn yes_reports_each_failed_install_and_what_is_still_missing() {
    let (_g, dir) = temp_dir();
    let comfy = FakeComfy::start(FakeOptions::default());
    // The config's SSH key does not exist: every install fails before any download or clone.
    let cfg = config_for(&dir, &comfy.url());
    let wf = workflow(&dir, &json!({"aux_id": "owner/ComfyUI-Fancy"}));
    let r = run(
        &[
            "--config",
            cfg.as_str(),
            "--json",
            "install",
            "missing",
            wf.as_str(),
            "--yes",
        ],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(r.code, 1, "{r:?}");
    let l = lines(&r.stdout);
    let failed: Vec<&str> = l
        .iter()
        .filter(|v| v["event"] == "failed")
        .map(|v| v["kind"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["model", "model", "node"], "{l:#?}");
    let summary = l.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["ok"], false);
    assert_eq!(summary["failed"], 3);
    assert_eq!(
        summary["still_missing"]["missing_models"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        summary["still_missing"]["missing_nodes"][0]["class_type"],
        "FancyNode"
    );
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let (_g, dir) = temp_dir();
    let r = run(&["install", "missing", "--help"], dir.as_std_path(), &[]);
    assert_eq!(r.code, 0, "{r:?}");
    for says in [
        "Examples:\n  comfy-local install missing workflow.json",
        "--node-map <FILE>",
        "Exit codes: 0 the plan is complete",
    ] {
        assert!(r.stdout.contains(says), "{says}\n{}", r.stdout);
    }
}

#[test]
fn yes_with_only_input_files_missing_installs_nothing_and_exits_0() {
    let (_g, dir) = temp_dir();
    let comfy = FakeComfy::start(FakeOptions::default());
    let cfg = config_for(&dir, &comfy.url());
    let wf = dir.join("inputs.json");
    let body = json!({"4": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}}});
    std::fs::write(&wf, serde_json::to_vec(&body).unwrap()).unwrap();
    let r = run(
        &[
            "--config",
            cfg.as_str(),
            "--json",
            "install",
            "missing",
            wf.as_str(),
            "--yes",
        ],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let l = lines(&r.stdout);
    let summary = l.last().unwrap();
    assert_eq!(summary["ok"], true, "{l:#?}");
    assert_eq!(summary["installed"], 0);
    assert_eq!(
        summary["still_missing"]["missing_inputs"][0]["name"],
        "photo.png"
    );
}
