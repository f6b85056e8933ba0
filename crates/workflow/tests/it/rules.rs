//! The frontend's conversion rules on small hand-built workflows: bypass rewiring, mute, reroutes
//! (nodes and native), primitives, nested subgraphs, the frontend's own link errors, and hostile
//! graphs (loops, huge and deep ones) that must end in an error or a result, never a hang.

use serde_json::{Value, json};

use crate::common::{as_json, convert, node, workflow};

fn load_image(id: i64, links: &[i64]) -> Value {
    node(
        id,
        "LoadImage",
        0,
        &[],
        &[("IMAGE", links), ("MASK", &[])],
        json!(["example.png", "image"]),
    )
}

fn preview(id: i64, link: Option<i64>) -> Value {
    node(
        id,
        "PreviewImage",
        0,
        &[("images", "IMAGE", link)],
        &[],
        json!([]),
    )
}

#[test]
fn bypassed_node_is_rewired_through_its_matching_input() {
    let wf = workflow(
        vec![
            load_image(1, &[1]),
            node(
                2,
                "ImageInvert",
                4,
                &[("image", "IMAGE", Some(1))],
                &[("IMAGE", &[2])],
                json!([]),
            ),
            node(
                3,
                "ImageInvert",
                4,
                &[("image", "IMAGE", Some(2))],
                &[("IMAGE", &[3])],
                json!([]),
            ),
            preview(4, Some(3)),
        ],
        &[
            (1, 1, 0, 2, 0, "IMAGE"),
            (2, 2, 0, 3, 0, "IMAGE"),
            (3, 3, 0, 4, 0, "IMAGE"),
        ],
    );
    let p = convert(&wf).expect("converts");
    assert_eq!(p.keys().collect::<Vec<_>>(), ["1", "4"]);
    assert_eq!(p["4"].inputs["images"], json!(["1", 0]));
}

#[test]
fn bypassed_node_without_a_matching_input_drops_the_consumer_input() {
    // MaskToImage: MASK in, IMAGE out; a consumer wanting IMAGE finds no compatible input.
    let wf = workflow(
        vec![
            node(
                1,
                "LoadImage",
                0,
                &[],
                &[("IMAGE", &[]), ("MASK", &[1])],
                json!(["example.png", "image"]),
            ),
            node(
                2,
                "MaskToImage",
                4,
                &[("mask", "MASK", Some(1))],
                &[("IMAGE", &[2])],
                json!([]),
            ),
            preview(3, Some(2)),
        ],
        &[(1, 1, 1, 2, 0, "MASK"), (2, 2, 0, 3, 0, "IMAGE")],
    );
    let p = convert(&wf).expect("converts");
    assert!(p["3"].inputs.get("images").is_none(), "{:?}", p["3"]);
}

#[test]
fn muted_nodes_vanish_with_every_input_linked_to_them() {
    let wf = workflow(
        vec![
            node(
                1,
                "PrimitiveInt",
                2,
                &[],
                &[("INT", &[1])],
                json!([640, "fixed"]),
            ),
            node(
                2,
                "EmptyImage",
                0,
                &[("width", "INT", None), ("height", "INT", Some(1))],
                &[("IMAGE", &[2])],
                json!([512, 512, 1, 0]),
            ),
            node(
                3,
                "ImageInvert",
                2,
                &[("image", "IMAGE", Some(2))],
                &[("IMAGE", &[3])],
                json!([]),
            ),
            preview(4, Some(3)),
        ],
        &[
            (1, 1, 0, 2, 1, "INT"),
            (2, 2, 0, 3, 0, "IMAGE"),
            (3, 3, 0, 4, 0, "IMAGE"),
        ],
    );
    let p = as_json(&convert(&wf).expect("converts"));
    insta::assert_json_snapshot!("muted_nodes", p);
}

#[test]
fn primitive_node_value_reaches_its_targets_through_reroutes() {
    let mut target = node(
        3,
        "EmptyImage",
        0,
        &[("width", "INT", Some(2)), ("height", "INT", Some(3))],
        &[("IMAGE", &[])],
        json!([512, 512, 1, 0]),
    );
    target["inputs"][0]["widget"] = json!({"name": "width"});
    target["inputs"][1]["widget"] = json!({"name": "height"});
    let wf = workflow(
        vec![
            node(
                1,
                "PrimitiveNode",
                0,
                &[],
                &[("INT", &[1, 3])],
                json!([640, "fixed"]),
            ),
            node(
                2,
                "Reroute",
                0,
                &[("", "*", Some(1))],
                &[("INT", &[2])],
                Value::Null,
            ),
            target,
        ],
        &[
            (1, 1, 0, 2, 0, "INT"),
            (2, 2, 0, 3, 0, "INT"),
            (3, 1, 0, 3, 1, "INT"),
        ],
    );
    let p = convert(&wf).expect("converts");
    assert_eq!(
        as_json(&p)["3"]["inputs"],
        json!({"width": 640, "height": 640, "batch_size": 1, "color": 0})
    );
}

#[test]
fn native_reroutes_and_reroute_nodes_are_transparent() {
    let mut wf = workflow(
        vec![
            load_image(1, &[1]),
            node(
                2,
                "Reroute",
                0,
                &[("", "*", Some(1))],
                &[("IMAGE", &[2, 3])],
                Value::Null,
            ),
            node(
                3,
                "Reroute",
                0,
                &[("", "*", None)],
                &[("IMAGE", &[4])],
                Value::Null,
            ),
            preview(4, Some(2)),
            preview(5, Some(4)),
        ],
        &[
            (1, 1, 0, 2, 0, "IMAGE"),
            (2, 2, 0, 4, 0, "IMAGE"),
            (4, 3, 0, 5, 0, "IMAGE"),
        ],
    );
    // A native reroute only decorates the link.
    wf["links"][0] = json!({"id": 1, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "IMAGE", "parentId": 9});
    wf["extra"] = json!({"reroutes": [{"id": 9, "pos": [0, 0], "linkIds": [1]}]});
    let p = convert(&wf).expect("converts");
    assert_eq!(p["4"].inputs["images"], json!(["1", 0]));
    assert!(
        p["5"].inputs.is_empty(),
        "input-less Reroute yields no input: {:?}",
        p["5"]
    );
}

fn subgraph_def(id: &str, inner: Vec<Value>, links: Vec<Value>) -> Value {
    json!({
        "id": id, "name": id,
        "inputs": [{"name": "image", "type": "IMAGE", "linkIds": [1]}],
        "outputs": [{"name": "IMAGE", "type": "IMAGE", "linkIds": [2]}],
        "nodes": inner, "links": links,
    })
}

fn io_links() -> Vec<Value> {
    vec![
        json!({"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "IMAGE"}),
        json!({"id": 2, "origin_id": 2, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "IMAGE"}),
    ]
}

#[test]
fn nested_subgraphs_expand_with_colon_ids() {
    let outer_id = "aaaaaaaa-0000-0000-0000-000000000001";
    let inner_id = "aaaaaaaa-0000-0000-0000-000000000002";
    let inner = subgraph_def(
        inner_id,
        vec![node(
            2,
            "ImageInvert",
            0,
            &[("image", "IMAGE", Some(1))],
            &[("IMAGE", &[2])],
            json!([]),
        )],
        io_links(),
    );
    let outer = subgraph_def(
        outer_id,
        vec![node(
            2,
            inner_id,
            0,
            &[("image", "IMAGE", Some(1))],
            &[("IMAGE", &[2])],
            json!([]),
        )],
        io_links(),
    );
    let mut wf = workflow(
        vec![
            load_image(1, &[1]),
            node(
                7,
                outer_id,
                0,
                &[("image", "IMAGE", Some(1))],
                &[("IMAGE", &[2])],
                json!([]),
            ),
            preview(3, Some(2)),
        ],
        &[(1, 1, 0, 7, 0, "IMAGE"), (2, 7, 0, 3, 0, "IMAGE")],
    );
    wf["definitions"] = json!({"subgraphs": [outer, inner]});
    let p = convert(&wf).expect("converts");
    assert_eq!(p.keys().collect::<Vec<_>>(), ["1", "3", "7:2:2"]);
    assert_eq!(p["3"].inputs["images"], json!(["7:2:2", 0]));
    assert_eq!(p["7:2:2"].inputs["image"], json!(["1", 0]));
}

#[test]
fn frontend_link_errors_are_errors() {
    let missing_link = workflow(vec![load_image(1, &[]), preview(2, Some(99))], &[]);
    let missing_origin = workflow(vec![preview(2, Some(1))], &[(1, 42, 0, 2, 0, "IMAGE")]);
    // A stray links[] entry and a link whose target is gone are harmless.
    let stray = workflow(
        vec![load_image(1, &[]), preview(2, None)],
        &[(5, 1, 0, 77, 0, "IMAGE")],
    );
    insta::assert_snapshot!(
        "link_errors",
        format!(
            "{}\n{}\nstray: {}",
            convert(&missing_link).expect_err("missing link"),
            convert(&missing_origin).expect_err("missing origin"),
            as_json(&convert(&stray).expect("stray link is ignored")),
        )
    );
}

#[test]
fn loops_are_errors_not_hangs() {
    // Two bypassed nodes feeding each other.
    let bypass_loop = workflow(
        vec![
            node(
                1,
                "ImageInvert",
                4,
                &[("image", "IMAGE", Some(2))],
                &[("IMAGE", &[1, 3])],
                json!([]),
            ),
            node(
                2,
                "ImageInvert",
                4,
                &[("image", "IMAGE", Some(1))],
                &[("IMAGE", &[2])],
                json!([]),
            ),
            preview(3, Some(3)),
        ],
        &[
            (1, 1, 0, 2, 0, "IMAGE"),
            (2, 2, 0, 1, 0, "IMAGE"),
            (3, 1, 0, 3, 0, "IMAGE"),
        ],
    );
    // A ring of Reroute nodes.
    let reroute_loop = workflow(
        vec![
            node(
                1,
                "Reroute",
                0,
                &[("", "*", Some(2))],
                &[("*", &[1, 3])],
                Value::Null,
            ),
            node(
                2,
                "Reroute",
                0,
                &[("", "*", Some(1))],
                &[("*", &[2])],
                Value::Null,
            ),
            preview(3, Some(3)),
        ],
        &[
            (1, 1, 0, 2, 0, "*"),
            (2, 2, 0, 1, 0, "*"),
            (3, 1, 0, 3, 0, "IMAGE"),
        ],
    );
    // A subgraph that contains itself.
    let sg = "bbbbbbbb-0000-0000-0000-000000000001";
    let mut self_sub = workflow(vec![node(5, sg, 0, &[], &[], json!([]))], &[]);
    self_sub["definitions"] = json!({"subgraphs": [{"id": sg, "inputs": [], "outputs": [], "links": [],
        "nodes": [node(1, sg, 0, &[], &[], json!([]))]}]});
    insta::assert_snapshot!(
        "loops",
        format!(
            "{}\n{}\n{}",
            convert(&bypass_loop).expect_err("bypass loop"),
            convert(&reroute_loop).expect_err("reroute loop"),
            convert(&self_sub).expect_err("self-containing subgraph"),
        )
    );
}

#[test]
fn deep_subgraph_nesting_is_bounded() {
    let depth = 40;
    let ids: Vec<String> = (0..depth)
        .map(|i| format!("cccccccc-0000-0000-0000-{i:012}"))
        .collect();
    let defs: Vec<Value> = (0..depth)
        .map(|i| {
            let inner = if i + 1 < depth {
                vec![node(1, &ids[i + 1], 0, &[], &[], json!([]))]
            } else {
                vec![load_image(1, &[])]
            };
            json!({"id": ids[i], "inputs": [], "outputs": [], "links": [], "nodes": inner})
        })
        .collect();
    let mut wf = workflow(vec![node(1, &ids[0], 0, &[], &[], json!([]))], &[]);
    wf["definitions"] = json!({"subgraphs": defs});
    insta::assert_snapshot!("too_deep", convert(&wf).expect_err("too deep").to_string());
}

#[test]
fn long_chains_and_many_nodes_convert() {
    // Long chains (the 100k-node case runs in the benchmark, release build): Reroutes feeding one
    // PreviewImage, and ImageInverts.
    let n: i64 = 20_000;
    let mut nodes = vec![load_image(1, &[1])];
    let mut links = Vec::new();
    for i in 0..n {
        let id = i + 2;
        nodes.push(node(
            id,
            "Reroute",
            0,
            &[("", "*", Some(i + 1))],
            &[("IMAGE", &[i + 2])],
            Value::Null,
        ));
        links.push((i + 1, id - 1, 0, id, 0, "IMAGE"));
    }
    nodes.push(preview(n + 2, Some(n + 1)));
    links.push((n + 1, n + 1, 0, n + 2, 0, "IMAGE"));
    let reroutes = workflow(nodes, &links);
    let p = convert(&reroutes).expect("reroute chain converts");
    assert_eq!(p[&(n + 2).to_string()].inputs["images"], json!(["1", 0]));

    let mut nodes = vec![load_image(1, &[1])];
    let mut links = Vec::new();
    for i in 0..n {
        let id = i + 2;
        nodes.push(node(
            id,
            "ImageInvert",
            0,
            &[("image", "IMAGE", Some(i + 1))],
            &[("IMAGE", &[i + 2])],
            json!([]),
        ));
        links.push((i + 1, id - 1, 0, id, 0, "IMAGE"));
    }
    let chain = workflow(nodes, &links);
    let p = convert(&chain).expect("invert chain converts");
    assert_eq!(p.len(), usize::try_from(n).expect("fits") + 1);
    assert_eq!(
        p[&(n + 1).to_string()].inputs["image"],
        json!([n.to_string(), 0])
    );
}

#[test]
fn wrong_types_huge_strings_and_unknown_classes() {
    let huge = "x".repeat(5_000_000);
    let mut wf = workflow(
        vec![
            node(
                1,
                "LoadImage",
                0,
                &[],
                &[("IMAGE", &[1])],
                json!([huge, "image"]),
            ),
            node(
                2,
                "NoSuchNode",
                0,
                &[("image", "IMAGE", Some(1))],
                &[],
                json!([1, 2]),
            ),
            node(3, "AlsoMissing", 0, &[], &[], json!({"a": 1})),
            node(4, "AlsoMissing", 4, &[], &[], json!([])),
        ],
        &[(1, 1, 0, 2, 0, "IMAGE")],
    );
    wf["nodes"][0]["title"] = json!(huge);
    let err = convert(&wf).expect_err("unknown classes");
    insta::assert_snapshot!("unknown_classes", err.to_string());
    // Widget values of the wrong JSON type are carried verbatim, arrays wrapped as the frontend does.
    let odd = workflow(
        vec![node(
            1,
            "EmptyLatentImage",
            0,
            &[],
            &[("LATENT", &[])],
            json!([["a", "b"]]),
        )],
        &[],
    );
    assert_eq!(
        as_json(&convert(&odd).expect("converts"))["1"]["inputs"]["width"],
        json!({"__value__": ["a", "b"]})
    );
    // ... except a save node's `filename_prefix`, whose text replacement throws in the frontend.
    let save = workflow(
        vec![node(
            1,
            "SaveImage",
            0,
            &[("images", "IMAGE", None)],
            &[],
            json!([["a", "b"]]),
        )],
        &[],
    );
    let err = convert(&save).expect_err("the frontend throws").to_string();
    assert!(
        err.contains("node 1 (SaveImage) has filename_prefix"),
        "{err}"
    );
    let garbage = json!({"nodes": [{"id": 1, "type": "SaveImage", "inputs": "nope", "outputs": 5, "mode": "x", "widgets_values": 3}], "links": {"a": 1}});
    assert_eq!(
        as_json(&convert(&garbage).expect("converts"))["1"]["inputs"],
        json!({"filename_prefix": "ComfyUI"})
    );
}

#[test]
fn legacy_group_nodes_expand_with_index_ids() {
    let mut wf = workflow(
        vec![
            node(
                10,
                "workflow>Invert loaded",
                0,
                &[],
                &[("MASK", &[]), ("IMAGE", &[1])],
                json!(["photo.png", "image"]),
            ),
            preview(11, Some(1)),
        ],
        &[(1, 10, 1, 11, 0, "IMAGE")],
    );
    wf["extra"] = json!({"groupNodes": {"Invert loaded": {
        "nodes": [
            node(0, "LoadImage", 0, &[], &[("IMAGE", &[0]), ("MASK", &[])], json!(["example.png", "image"])),
            node(1, "ImageInvert", 0, &[("image", "IMAGE", Some(0))], &[("IMAGE", &[])], json!([])),
        ],
        "links": [[0, 0, 1, 0, 5, "IMAGE"]],
        "external": [[1, 0, "IMAGE"]],
    }}});
    let p = as_json(&convert(&wf).expect("converts"));
    insta::assert_json_snapshot!("group_node", p);
    // A group input wired from outside, and a seed widget with its control companion.
    let mut outer = workflow(
        vec![
            load_image(1, &[2]),
            node(
                20,
                "workflow>Blur",
                0,
                &[("image", "IMAGE", Some(2))],
                &[("NOISE", &[]), ("IMAGE", &[3])],
                json!([9, "fixed", 4, 0.25]),
            ),
            preview(21, Some(3)),
        ],
        &[(2, 1, 0, 20, 0, "IMAGE"), (3, 20, 1, 21, 0, "IMAGE")],
    );
    outer["extra"] = json!({"groupNodes": {"Blur": {
        "nodes": [
            node(0, "RandomNoise", 0, &[], &[("NOISE", &[])], json!([1, "randomize"])),
            node(1, "ImageBlur", 0, &[("image", "IMAGE", None)], &[("IMAGE", &[])], json!([1, 1.0])),
        ],
        "links": [],
        "external": [[1, 0, "IMAGE"]],
    }}});
    let p = as_json(&convert(&outer).expect("converts"));
    assert_eq!(p["20:0"]["inputs"], json!({"noise_seed": 9}));
    assert_eq!(
        p["20:1"]["inputs"],
        json!({"blur_radius": 4, "sigma": 0.25, "image": ["1", 0]})
    );
    assert_eq!(p["21"]["inputs"]["images"], json!(["20:1", 0]));
    // A group node inside a subgraph is refused, as by the frontend; an undefined group is an
    // unknown node class.
    let sg = "ffffffff-0000-0000-0000-000000000001";
    let mut nested = workflow(vec![node(1, sg, 0, &[], &[], json!([]))], &[]);
    nested["extra"] = wf["extra"].clone();
    nested["definitions"] = json!({"subgraphs": [{"id": sg, "inputs": [], "outputs": [], "links": [],
        "nodes": [node(3, "workflow>Invert loaded", 0, &[], &[], json!([]))]}]});
    let undefined = workflow(
        vec![node(3, "workflow>MyGroup", 0, &[], &[], json!([]))],
        &[],
    );
    insta::assert_snapshot!(
        "group_errors",
        format!(
            "{}\n{}",
            convert(&nested).expect_err("group in subgraph"),
            convert(&undefined).expect_err("undefined group")
        )
    );
}

#[test]
fn dynamic_prompts_strip_comments_and_resolve_choices_linearly() {
    let text = "a {b|c} photo // note\nof {x|{y|z}} /* hidden */ \\{kept\\} /* open";
    let wf = workflow(
        vec![node(
            1,
            "CLIPTextEncode",
            0,
            &[("clip", "CLIP", None)],
            &[("CONDITIONING", &[])],
            json!([text]),
        )],
        &[],
    );
    let p = convert(&wf).expect("converts");
    assert_eq!(
        p["1"].inputs["text"],
        json!("a b photo \nof x  \\{kept\\} /* open")
    );
    // Hostile sizes stay linear: a megabyte of braces and comment openers.
    let hostile = "{a|b}/*".repeat(150_000);
    let wf = workflow(
        vec![node(
            1,
            "CLIPTextEncode",
            0,
            &[("clip", "CLIP", None)],
            &[("CONDITIONING", &[])],
            json!([hostile]),
        )],
        &[],
    );
    let p = convert(&wf).expect("converts");
    assert_eq!(
        p["1"].inputs["text"].as_str().map(str::len),
        Some(150_000 * 3)
    );
}

#[test]
fn subgraph_widget_inputs_take_the_wrappers_promoted_value_and_bypass_routes_around() {
    let sg = "dddddddd-0000-0000-0000-000000000001";
    let mut blur = node(
        2,
        "ImageBlur",
        0,
        &[
            ("image", "IMAGE", Some(1)),
            ("blur_radius", "INT", Some(3)),
            ("sigma", "FLOAT", None),
        ],
        &[("IMAGE", &[2])],
        json!([1, 0.5]),
    );
    blur["inputs"][1]["widget"] = json!({"name": "blur_radius"});
    let def = json!({
        "id": sg, "name": "blur",
        "inputs": [
            {"name": "image", "type": "IMAGE", "linkIds": [1]},
            {"name": "blur_radius", "type": "INT", "linkIds": [3]}
        ],
        "outputs": [{"name": "IMAGE", "type": "IMAGE", "linkIds": [2]}],
        "nodes": [blur],
        "links": [
            {"id": 1, "origin_id": -10, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "IMAGE"},
            {"id": 3, "origin_id": -10, "origin_slot": 1, "target_id": 2, "target_slot": 1, "type": "INT"},
            {"id": 2, "origin_id": 2, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "IMAGE"}
        ],
    });
    let wrapper = |id: i64, mode: i64, link_in: i64, link_out: i64| {
        let mut w = node(
            id,
            sg,
            mode,
            &[
                ("image", "IMAGE", Some(link_in)),
                ("blur_radius", "INT", None),
            ],
            &[("IMAGE", &[link_out])],
            json!([7]),
        );
        w["inputs"][1]["widget"] = json!({"name": "blur_radius"});
        w
    };
    let mut wf = workflow(
        vec![
            load_image(1, &[1]),
            wrapper(5, 0, 1, 2),
            wrapper(6, 4, 2, 3),
            preview(9, Some(3)),
        ],
        &[
            (1, 1, 0, 5, 0, "IMAGE"),
            (2, 5, 0, 6, 0, "IMAGE"),
            (3, 6, 0, 9, 0, "IMAGE"),
        ],
    );
    wf["definitions"] = json!({"subgraphs": [def]});
    let p = as_json(&convert(&wf).expect("converts"));
    // Node 6 is bypassed, but its inner node keeps its own mode (frontend 1.27), so "6:2" is still
    // emitted while the consumer of 6 is routed around it to "5:2".
    insta::assert_json_snapshot!("subgraph_promoted_and_bypassed", p);
}

#[test]
fn exponential_subgraph_fan_out_is_bounded() {
    // Each level holds 20 instances of the next: 20^5 = 3.2M nodes once expanded.
    let ids: Vec<String> = (0..5)
        .map(|i| format!("eeeeeeee-0000-0000-0000-{i:012}"))
        .collect();
    let defs: Vec<Value> = (0..5)
        .map(|i| {
            let inner: Vec<Value> = (1..=20)
                .map(|k| {
                    if i + 1 < 5 {
                        node(k, &ids[i + 1], 0, &[], &[], json!([]))
                    } else {
                        load_image(k, &[])
                    }
                })
                .collect();
            json!({"id": ids[i], "inputs": [], "outputs": [], "links": [], "nodes": inner})
        })
        .collect();
    let mut wf = workflow(vec![node(1, &ids[0], 0, &[], &[], json!([]))], &[]);
    wf["definitions"] = json!({"subgraphs": defs});
    insta::assert_snapshot!(
        "fan_out",
        convert(&wf).expect_err("too many nodes").to_string()
    );
}
