//! Terminal safety and output plumbing: server text never reaches the terminal as control
//! characters or as lines of its own, `--json` errors are one line, a closed pipe is not an error.

use std::process::{Command, Stdio};

use comfy_local_fake_comfyui::{FakeComfy, FakeOptions};

use crate::{config_for, run_workflow, temp_dir};

/// A class name a hostile workflow or server could carry: clear screen, window title, OSC 52
/// clipboard write, a C1 CSI, a bidi override, and a fake report line.
const HOSTILE: &str =
    "Evil\u{1b}[2J\u{1b}]0;title\u{7}\u{1b}]52;c;ZXZpbA==\u{7}\u{9b}31m\u{202e}\nPASS  fake stage";

fn assert_terminal_safe(text: &str) {
    for c in text.chars() {
        assert!(
            c == '\n' || c == '\t' || !(c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
            "control character {c:?} reached the terminal: {text:?}"
        );
    }
    assert!(
        !text.lines().any(|l| l.starts_with("PASS")),
        "a server line passed for ours: {text:?}"
    );
}

#[test]
fn hostile_names_are_escaped_in_human_and_json_output() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = dir.join("wf.json");
    let prompt = serde_json::json!({
        "1": {"class_type": HOSTILE, "inputs": {}},
    });
    std::fs::write(&wf, prompt.to_string()).unwrap();
    let out = dir.join("out");
    let human = run_workflow(&config, &wf, &out, &[], &dir);
    assert_eq!(human.code, 1, "{human:?}");
    // The dependency report names the class escaped, on one line with the rest of its name.
    assert!(
        human
            .stderr
            .lines()
            .any(|l| l.contains("Evil\\u{1b}[2J") && l.contains("PASS  fake stage")),
        "{}",
        human.stderr
    );
    assert_terminal_safe(&human.stdout);
    assert_terminal_safe(&human.stderr);

    let json = run_workflow(&config, &wf, &out, &["--json"], &dir);
    assert_eq!(json.code, 1, "{json:?}");
    assert_terminal_safe(&json.stdout);
    // JSON Lines: every line one complete object, the final error included, with the class
    // name as the report shows it (escaped, one line).
    let lines: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let last = lines.last().expect("a final line");
    assert_eq!(last["ok"], false, "{last}");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains(&HOSTILE.escape_debug().to_string()),
        "{last}"
    );
}

#[test]
fn json_error_of_a_rejected_prompt_carries_structured_node_errors() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url());
    let wf = dir.join("wf.json");
    // A known class with a value below its minimum: ComfyUI rejects it at validation.
    let prompt = serde_json::json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 64, "batch_size": 1, "color": 0}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    });
    std::fs::write(&wf, prompt.to_string()).unwrap();
    let out = dir.join("out");
    let json = run_workflow(&config, &wf, &out, &["--json"], &dir);
    assert_ne!(json.code, 0, "{json:?}");
    let last: serde_json::Value =
        serde_json::from_str(json.stdout.lines().last().expect("a line")).expect("JSON");
    let errors = last["node_errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{last}"));
    assert_eq!(errors[0]["node_id"], "1", "{last}");
    assert_eq!(errors[0]["class_type"], "EmptyImage", "{last}");
    assert_eq!(errors[0]["errors"][0]["input_name"], "width", "{last}");
    // The instance answered: no "check the connection" hint for a workflow ComfyUI refused.
    assert!(
        !last["hint"]
            .as_str()
            .unwrap_or("")
            .contains("test-connection"),
        "{last}"
    );
}

#[test]
fn a_closed_stdout_pipe_exits_zero_without_an_error() {
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, "http://127.0.0.1:9");
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_comfy-local"))
        .args(["--config", config.as_str(), "config", "check"])
        .current_dir(&dir)
        .env_remove("COMFY_LOCAL_CONFIG")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run comfy-local");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}
