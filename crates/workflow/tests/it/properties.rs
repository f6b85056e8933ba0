//! Property tests: arbitrary JSON and randomly mutated corpus workflows go through `load` and the
//! converter without panicking (an error or a result, both fine).

use comfy_local_workflow::{Inventory, Workflow, check_dependencies, convert_ui_to_api, load};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::common::{fixtures, object_info, titles};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-20i64..200).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        prop_oneof![
            Just("IMAGE".to_owned()),
            Just("*".to_owned()),
            Just("Reroute".to_owned()),
            Just("PrimitiveNode".to_owned()),
            Just("KSampler".to_owned()),
            Just("-10".to_owned()),
            "[a-z]{0,6}".prop_map(String::from),
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("nodes".to_owned()),
                    Just("links".to_owned()),
                    Just("id".to_owned()),
                    Just("type".to_owned()),
                    Just("mode".to_owned()),
                    Just("inputs".to_owned()),
                    Just("outputs".to_owned()),
                    Just("link".to_owned()),
                    Just("class_type".to_owned()),
                    Just("widgets_values".to_owned()),
                    Just("definitions".to_owned()),
                    Just("subgraphs".to_owned()),
                    "[a-z]{1,4}".prop_map(String::from),
                ],
                inner,
                0..8,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn exercise(bytes: &[u8]) {
    if let Ok(wf) = load(bytes) {
        if let Workflow::Ui(ui) = &wf {
            let _ = convert_ui_to_api(ui, object_info(), titles());
        }
        let inv = Inventory {
            object_info: object_info().clone(),
            ..Inventory::default()
        };
        let _ = check_dependencies(&wf, &inv);
    }
}

fn corpus() -> Vec<Value> {
    [
        "hc13_subgraph.ui.json",
        "hc02_reroute_nodes.ui.json",
        "tpl_flux_redux_model_example.ui.json",
    ]
    .iter()
    .map(|f| {
        serde_json::from_slice(&std::fs::read(fixtures().join("conversion").join(f)).expect("read"))
            .expect("json")
    })
    .collect()
}

/// Sets the value at a path of object keys / array indexes chosen by `picks`.
fn mutate(v: &mut Value, picks: &[usize], new: Value) {
    let mut pointer = String::new();
    let mut cur = &*v;
    for &p in picks {
        let (seg, next) = match cur {
            Value::Array(a) if !a.is_empty() => ((p % a.len()).to_string(), &a[p % a.len()]),
            Value::Object(o) if !o.is_empty() => {
                let (k, n) = o.iter().nth(p % o.len()).expect("index in range");
                (k.replace('~', "~0").replace('/', "~1"), n)
            }
            _ => break,
        };
        pointer.push('/');
        pointer.push_str(&seg);
        cur = next;
    }
    if let Some(slot) = v.pointer_mut(&pointer) {
        *slot = new;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        exercise(&serde_json::to_vec(&v).expect("serialise"));
        exercise(&serde_json::to_vec(&json!({"nodes": [v.clone()], "links": [v]})).expect("serialise"));
    }

    #[test]
    fn mutated_corpus_workflows_never_panic(
        which in 0usize..3,
        edits in prop::collection::vec((prop::collection::vec(0usize..64, 1..7), arb_json()), 1..6),
    ) {
        let mut v = corpus()[which].clone();
        for (picks, new) in edits {
            mutate(&mut v, &picks, new);
        }
        exercise(&serde_json::to_vec(&v).expect("serialise"));
    }
}
