//! Every UI -> API pair of `fixtures/comfyui/conversion` (produced by the real frontend) converts to
//! exactly the frontend's output, `_meta.title` included; the Export shape converts identically.

use comfy_local_workflow::{Workflow, convert_ui_to_api, load};
use serde_json::Value;

use crate::common::{as_json, fixtures, object_info, same, titles};

#[test]
fn all_corpus_pairs_convert_exactly() {
    let dir = fixtures().join("conversion");
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".ui.json"))
        .collect();
    paths.sort();
    for ui_path in paths {
        let base = ui_path
            .to_string_lossy()
            .trim_end_matches(".ui.json")
            .to_owned();
        let bytes = std::fs::read(&ui_path).expect("read ui");
        let Workflow::Ui(ui) = load(&bytes).expect("corpus workflow loads") else {
            panic!("{base}: not detected as UI format");
        };
        let result = convert_ui_to_api(&ui, object_info(), titles());
        let api_path = format!("{base}.api.json");
        if std::path::Path::new(&api_path).exists() {
            let expected: Value =
                serde_json::from_slice(&std::fs::read(&api_path).expect("read api"))
                    .expect("api json");
            match result {
                Ok(p) if same(&expected, &as_json(&p)) => {}
                Ok(p) => failures.push(format!("{base}: differs: {}", as_json(&p))),
                Err(e) => failures.push(format!("{base}: error {e}")),
            }
        } else if std::path::Path::new(&format!("{base}.error.txt")).exists() {
            if result.is_ok() {
                failures.push(format!("{base}: converted, but the frontend throws"));
            }
        } else {
            continue;
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(checked, 65, "corpus size changed");
}

#[test]
fn export_shape_converts_like_save_shape() {
    let dir = fixtures().join("conversion");
    for name in [
        "hc01_image_chain_titles",
        "hc02_reroute_nodes",
        "hc04_seed_fixed_increment",
        "hc13_subgraph",
    ] {
        let convert = |file: String| {
            let Workflow::Ui(ui) =
                load(&std::fs::read(dir.join(file)).expect("read")).expect("loads")
            else {
                panic!("{name}: not UI")
            };
            as_json(&convert_ui_to_api(&ui, object_info(), titles()).expect("converts"))
        };
        assert_eq!(
            convert(format!("{name}.ui.json")),
            convert(format!("{name}__export.ui.json")),
            "{name}"
        );
    }
}

#[test]
fn subgraph_ids_and_key_order_follow_the_frontend() {
    let bytes = std::fs::read(fixtures().join("conversion/hc13_subgraph.ui.json")).expect("read");
    let Workflow::Ui(ui) = load(&bytes).expect("loads") else {
        panic!("not UI")
    };
    let p = convert_ui_to_api(&ui, object_info(), titles()).expect("converts");
    // JavaScript object order: integer-like keys ascending, then the others in insertion order.
    let keys: Vec<&str> = p.keys().map(String::as_str).collect();
    assert_eq!(keys, ["1", "2", "5", "6", "7:3", "7:4"]);
    assert_eq!(
        p["7:4"].inputs.keys().collect::<Vec<_>>(),
        ["blur_radius", "sigma", "image"]
    );
}
