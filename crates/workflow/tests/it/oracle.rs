//! The pairs of the differential oracle (`scripts/oracle`, `just oracle`) in
//! `fixtures/comfyui/oracle`: UI workflows with what frontend 1.27.10's `graphToPrompt()` made of
//! them. `class_*` are one workflow per difference class the oracle found (each test below fails
//! without its fix); `gen_*` are seeded random graphs built in the frontend.

use std::path::{Path, PathBuf};

use comfy_local_workflow::{Workflow, convert_ui_to_api, load};
use serde_json::Value;

use crate::common::{as_json, fixtures, object_info, same, titles};

fn dir() -> PathBuf {
    fixtures().join("oracle")
}

/// Converts `<base>.ui.json` and compares with the frontend's answer: `<base>.api.json`, or
/// `<base>.error.txt` when the frontend threw (then conversion must fail too).
fn check(base: &Path) -> Result<(), String> {
    let name = base.display();
    let ui_path = PathBuf::from(format!("{}.ui.json", base.display()));
    let bytes = std::fs::read(&ui_path).map_err(|e| format!("{name}: {e}"))?;
    let Workflow::Ui(ui) = load(&bytes).map_err(|e| format!("{name}: does not load: {e}"))? else {
        return Err(format!("{name}: not detected as UI format"));
    };
    let result = convert_ui_to_api(&ui, object_info(), titles());
    let api_path = PathBuf::from(format!("{}.api.json", base.display()));
    if api_path.exists() {
        let expected: Value =
            serde_json::from_slice(&std::fs::read(&api_path).expect("read api")).expect("api json");
        match result {
            Ok(p) if same(&expected, &as_json(&p)) => Ok(()),
            Ok(p) => Err(format!(
                "{name}: differs\n  frontend: {expected}\n  ours:     {}",
                as_json(&p)
            )),
            Err(e) => Err(format!("{name}: error {e}")),
        }
    } else if result.is_ok() {
        Err(format!("{name}: converted, but the frontend throws"))
    } else {
        Ok(())
    }
}

fn pairs(prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("oracle fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter_map(|p| {
            let s = p.to_string_lossy();
            let file = p.file_name()?.to_string_lossy().into_owned();
            (file.starts_with(prefix) && s.ends_with(".ui.json"))
                .then(|| PathBuf::from(s.trim_end_matches(".ui.json")))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn generated_graphs_convert_like_the_frontend() {
    let all = pairs("gen_");
    assert!(all.len() >= 150, "only {} generated pairs", all.len());
    let failures: Vec<String> = all.iter().filter_map(|b| check(b).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

/// One class pair, which must exist.
fn class(name: &str) {
    let base = dir().join(format!("class_{name}"));
    assert!(
        PathBuf::from(format!("{}.ui.json", base.display())).exists(),
        "missing pair {name}"
    );
    if let Err(e) = check(&base) {
        panic!("{e}");
    }
}

/// An INT input named `seed` whose object_info says `control_after_generate: false` has no
/// control widget: the saved values map on positionally, even a stray `"randomize"`.
#[test]
fn control_widgets_follow_the_declared_option_not_the_name() {
    class("control_false_seed");
}

/// `RecordAudio`'s `AUDIO_RECORD` input gets frontend widgets, so the prompt has `audio: ""`.
#[test]
fn frontend_widgets_of_non_primitive_types_are_sent() {
    class("audio_record");
}

/// Several instances of one subgraph whose saved inputs are fewer than (and positioned unlike)
/// the definition's: each subgraph input is the saved input of the same name.
#[test]
fn subgraph_instances_resolve_inputs_by_name() {
    class("subgraph_instances");
}

/// A legacy group node holding a `Preview3DAnimation`: the frontend's `image` widget counts among
/// the group's widgets (after the required inputs), so the saved values map on one further.
#[test]
fn legacy_group_nodes_count_frontend_widgets() {
    class("group_frontend_widgets");
}

/// A save node inside a legacy group node whose saved values put a number into
/// `filename_prefix`: the frontend's text replacement throws (`value.replace is not a
/// function`), so conversion fails too, naming the node and the widget.
#[test]
fn a_filename_prefix_that_is_not_text_is_refused_like_the_frontend() {
    class("filename_prefix_not_text");
    let base = dir().join("class_filename_prefix_not_text");
    let bytes = std::fs::read(format!("{}.ui.json", base.display())).expect("read ui");
    let Workflow::Ui(ui) = load(&bytes).expect("loads") else {
        panic!("not UI format");
    };
    let err = convert_ui_to_api(&ui, object_info(), titles())
        .expect_err("the frontend throws")
        .to_string();
    assert!(
        err.contains("filename_prefix") && err.contains("(SaveAnimatedPNG)"),
        "{err}"
    );
}

/// A `PrimitiveNode` feeding several number widgets: the frontend merges their configs in link
/// order (ranges intersected, steps as an lcm, a merge with a differing option skipped) and runs
/// its own rebuilt widget's callback before pushing, so every target gets the value rounded to
/// the first target's step, then each target's callback runs on it.
#[test]
fn a_primitive_feeding_several_widgets_merges_their_configs() {
    class("primitive_merge");
}

/// A legacy group node holding `LoadImageOutput`, whose remote combo has a refresh button: the
/// group's widgets include that combo's hidden toggle and button, so the saved values of the
/// nodes after it map on two further.
#[test]
fn legacy_group_nodes_count_refresh_button_widgets() {
    class("group_refresh_widgets");
}

/// A legacy group node holding `RecordAudio`: its `AUDIO_RECORD` input is a group widget (two
/// widgets of that name), so the prompt has `audio: ""` and the later nodes' values map on past it.
#[test]
fn legacy_group_nodes_count_the_audio_record_widgets() {
    class("group_audio_record");
}

/// A `PrimitiveNode` without a saved value feeding a subgraph instance's promoted widget: it
/// takes that widget's value, runs it through the inner widget's callback (rounded to the step
/// of 64) and the instance copies it into the inner widget when the graph is serialised.
#[test]
fn a_primitive_without_a_value_feeding_a_promoted_widget_pushes_the_widgets_value() {
    class("subgraph_primitive_without_value");
}

/// A `PrimitiveNode` feeding a legacy group node's widget: the value goes through that group
/// widget's callback (an INT rounds `false` to 0) and on into the inner widget behind it.
#[test]
fn a_primitive_feeding_a_group_widget_reaches_the_inner_widget() {
    class("group_primitive_target");
}

/// A legacy group node holding `SaveAudioMP3`: its `audioUI` is a group widget and a group
/// input, but is never saved, so the values after it map on without a gap.
#[test]
fn legacy_group_nodes_count_the_unsaved_audio_ui_widget() {
    class("group_audio_ui");
}

/// A legacy group node holding an input of a widget type with `forceInput`: the group takes it
/// for a widget (not numbered among its sockets) while its node makes a socket of it, so the
/// converted widgets' input numbers point one slot off, as in the frontend.
#[test]
fn legacy_group_nodes_take_force_input_widget_types_for_widgets() {
    class("group_force_input");
}

/// A legacy group node follows the key order of `object_info`'s JSON objects (here sorted),
/// not `input_order`, when it numbers the inner nodes' inputs and widgets.
#[test]
fn legacy_group_nodes_follow_the_object_info_key_order() {
    class("group_key_order");
}
