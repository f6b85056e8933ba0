//! Format detection: API, UI (Save and Export shapes), a `/prompt` body, and clear errors for
//! anything else, including a UI workflow where the API format is expected.

use comfy_local_workflow::{Workflow, load, load_api};

use crate::common::{chain, fixtures};

#[test]
fn detects_each_format() {
    let dir = fixtures().join("conversion");
    let read = |f: &str| std::fs::read(dir.join(f)).expect("read");
    assert!(matches!(
        load(&read("tpl_default.ui.json")),
        Ok(Workflow::Ui(_))
    ));
    assert!(matches!(
        load(&read("hc13_subgraph__export.ui.json")),
        Ok(Workflow::Ui(_))
    ));
    let api = read("tpl_default.api.json");
    let Ok(Workflow::Api(p)) = load(&api) else {
        panic!("API not detected")
    };
    assert_eq!(p.len(), 7);
    assert_eq!(p["3"].link("model"), Some(("4", 0)));
    let body = format!(
        r#"{{"client_id": "x", "prompt": {}}}"#,
        String::from_utf8_lossy(&api)
    );
    assert!(matches!(load(body.as_bytes()), Ok(Workflow::Api(_))));
    assert_eq!(load_api(&api).expect("api").len(), 7);
}

#[test]
fn errors_say_what_was_found() {
    let ui = std::fs::read(fixtures().join("conversion/tpl_default.ui.json")).expect("read");
    let cases: [&[u8]; 7] = [
        b"not json",
        b"[1, 2]",
        b"{}",
        br#"{"1": {"inputs": {}}}"#,
        br#"{"1": {"class_type": "X", "inputs": 5}}"#,
        b"\"text\"",
        br#"{"nodes": [{"id": 1}]}"#,
    ];
    let mut out: Vec<String> = cases
        .iter()
        .map(|c| {
            format!(
                "{} => {}",
                String::from_utf8_lossy(c),
                chain(&load(c).expect_err("must fail"))
            )
        })
        .collect();
    out.push(format!(
        "UI as API => {}",
        chain(&load_api(&ui).expect_err("UI where API expected"))
    ));
    let deep = "[".repeat(100_000);
    out.push(format!(
        "deeply nested => {}",
        chain(&load(deep.as_bytes()).expect_err("too deep"))
    ));
    insta::assert_snapshot!("load_errors", out.join("\n"));
}
