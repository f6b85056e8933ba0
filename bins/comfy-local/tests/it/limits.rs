//! What a server can make `comfy-local run` do is bounded (`limits.max_output_mb`), usage
//! mistakes are caught before anything runs (`--out` naming a file), and `instances` says
//! whether each local instance answers right now: against the fake ComfyUI.

use camino::{Utf8Path, Utf8PathBuf};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};

use crate::{run, run_workflow, temp_dir};

/// A config whose one instance talks to `url`, with `limits` (a YAML flow mapping) when given.
fn config(dir: &Utf8Path, url: &str, limits: &str) -> Utf8PathBuf {
    let path = dir.join("config.yml");
    let limits = if limits.is_empty() {
        String::new()
    } else {
        format!("    limits: {limits}\n")
    };
    std::fs::write(
        &path,
        format!(
            "local:
  - id: local
    ssh: {{ host: 127.0.0.1, key_file: {dir}/key, known_hosts_file: {dir}/kh }}
    comfyui: {{ path: /opt/ComfyUI, api_url: '{url}' }}
{limits}"
        ),
    )
    .unwrap();
    path
}

/// A workflow saving a batch of two images.
fn two_images(dir: &Utf8Path) -> Utf8PathBuf {
    let wf = dir.join("wf.json");
    let body = serde_json::json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 2, "color": 1}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "big"}},
    });
    std::fs::write(&wf, body.to_string()).unwrap();
    wf
}

fn entries(dir: &Utf8Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn outputs_past_max_output_mb_stop_the_run_naming_the_key() {
    // Each output is 700 KiB: the second crosses a 1 MiB limit.
    let comfy =
        FakeComfy::start(FakeOptions::default().knobs(Knobs::default().view_bytes(700 * 1024)));
    let (_g, dir) = temp_dir();
    let wf = two_images(&dir);

    let roomy = config(&dir, &comfy.url(), "{ max_output_mb: 2 }");
    let out = dir.join("roomy");
    let ok = run_workflow(&roomy, &wf, &out, &[], &dir);
    assert_eq!(ok.code, 0, "{ok:?}");
    assert_eq!(entries(&out).len(), 2, "{ok:?}");

    let tight = config(&dir, &comfy.url(), "{ max_output_mb: 1 }");
    let out = dir.join("tight");
    let refused = run_workflow(&tight, &wf, &out, &[], &dir);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("`local[0].limits.max_output_mb`")
            && refused.stderr.contains("(1 MiB)"),
        "{}",
        refused.stderr
    );
    // The first output is complete; the one that crossed the limit left nothing, not even a
    // temp file.
    let left = entries(&out);
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(
        std::fs::metadata(out.join(&left[0])).unwrap().len(),
        700 * 1024
    );
}

#[test]
fn out_naming_a_file_is_a_usage_error_before_anything_runs() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config(&dir, &comfy.url(), "");
    let wf = two_images(&dir);
    let file = dir.join("taken.png");
    std::fs::write(&file, "mine").unwrap();
    let refused = run_workflow(&config, &wf, &file, &[], &dir);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("is a file, not a folder"),
        "{}",
        refused.stderr
    );
    assert!(comfy.submitted().is_empty(), "nothing was submitted");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
}

#[test]
fn instances_shows_online_and_offline_in_the_table_and_as_json() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config(&dir, &comfy.url(), "");
    let table = run(
        &["--config", config.as_str(), "instances"],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(table.code, 0, "{table:?}");
    assert!(
        table
            .stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains(" online ")),
        "{}",
        table.stdout
    );
    drop(comfy);
    let json = run(
        &["--config", config.as_str(), "--json", "instances"],
        dir.as_std_path(),
        &[],
    );
    assert_eq!(json.code, 0, "{json:?}");
    let v: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(v["instances"][0]["status"], "offline", "{}", json.stdout);
}
