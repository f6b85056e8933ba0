//! `install missing` against the fake ComfyUI (model lists read from the scratch install, a
//! node package loaded at start), the real sshd, a loopback HTTP source and `git daemon`: the
//! plan, what it cannot resolve, and its execution with a clean re-check.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use camino::Utf8PathBuf;
use comfy_local_config::ApiUrl;
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions};
use comfy_local_sdk::install::missing::{NodeMap, NodeVia, Unresolved, check_missing, execute};
use serde_json::json;

use crate::http_source::{FileServer, Knobs, generated};
use crate::nodes::{GitDaemon, NodeTest};

/// A `/prompt` body: two loaders of missing models and a class the instance lacks, with the
/// UI workflow (models metadata, node properties) in `extra_pnginfo`.
fn workflow(
    dir: &camino::Utf8Path,
    model_url: &str,
    fancy_props: &serde_json::Value,
) -> Utf8PathBuf {
    let prompt = json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "one.safetensors"}},
        "2": {"class_type": "LoraLoader", "inputs": {
            "model": ["1", 0], "clip": ["1", 1], "lora_name": "sub/two.safetensors",
            "strength_model": 1.0, "strength_clip": 1.0}},
        "3": {"class_type": "FancyNode", "inputs": {}}
    });
    let ui = json!({
        "nodes": [
            {"id": 1, "type": "CheckpointLoaderSimple", "properties": {"cnr_id": "comfy-core"}},
            {"id": 2, "type": "LoraLoader", "properties": {"models": [
                {"name": "sub/two.safetensors", "url": format!("{model_url}/two"), "directory": "loras"}]}},
            {"id": 3, "type": "FancyNode", "properties": fancy_props}
        ],
        "models": [{"name": "one.safetensors", "url": format!("{model_url}/one"), "directory": "checkpoints"}]
    });
    let path = dir.join("workflow.json");
    let body = json!({"prompt": prompt, "extra_data": {"extra_pnginfo": {"workflow": ui}}});
    std::fs::write(&path, serde_json::to_vec(&body).unwrap()).unwrap();
    path
}

struct World {
    t: NodeTest,
    comfy: FakeComfy,
    daemon: GitDaemon,
    files: FileServer,
}

fn world(test: &str) -> World {
    let mut t = NodeTest::new(test);
    std::fs::create_dir_all(t.install.join("models/loras")).unwrap();
    let comfy = FakeComfy::start(
        FakeOptions::default()
            .base_path(t.install.as_std_path())
            .models_on_disk()
            .node_pack("Node-One", &["FancyNode"]),
    );
    t.config.local[0].comfyui.api_url = ApiUrl::try_from(comfy.url().as_str()).unwrap();
    let daemon = GitDaemon::start(&t.install.parent().unwrap().join("git"));
    daemon.repo("Node-One", &[&[("__init__.py", "")]]);
    let files = FileServer::start(Arc::new(generated(300_000, 7)), Knobs::default());
    World {
        t,
        comfy,
        daemon,
        files,
    }
}

#[test]
fn the_dry_run_plans_two_models_and_a_node_and_names_what_it_cannot_resolve() {
    let w = world("missing-plan");
    let dir = w.t.install.parent().unwrap();
    let map: NodeMap = [("FancyNode".to_owned(), w.daemon.url("Node-One"))].into();
    let wf = workflow(dir, &w.files.url(""), &json!({}));
    let checked = check_missing(&w.t.config, None, &wf, &map).unwrap();
    let plan = checked.plan;
    assert!(plan.is_complete(), "{plan:#?}");
    let models: Vec<(&str, &str, String)> = plan
        .models
        .iter()
        .map(|m| (m.folder.as_str(), m.name.as_str(), m.url.clone()))
        .collect();
    assert_eq!(
        models,
        [
            ("checkpoints", "one.safetensors", w.files.url("/one")),
            ("loras", "sub/two.safetensors", w.files.url("/two")),
        ]
    );
    assert_eq!(plan.nodes.len(), 1);
    assert_eq!(plan.nodes[0].url, w.daemon.url("Node-One"));
    assert_eq!(plan.nodes[0].folder, "Node-One");
    assert_eq!(plan.nodes[0].classes, ["FancyNode"]);
    assert_eq!(plan.nodes[0].via, NodeVia::NodeMap);
    assert!(w.t.custom_nodes().is_empty(), "a dry run installs nothing");
    assert!(w.files.seen().is_empty(), "a dry run downloads nothing");

    // Without the map: aux_id gives a GitHub repository (not allowed by this config), a
    // registry id and no properties at all are unresolved, each naming the class.
    let sha = "0123456789abcdef0123456789abcdef01234567";
    for (props, reason) in [
        (
            json!({"aux_id": "owner/ComfyUI-Fancy", "ver": sha}),
            "github.com",
        ),
        (
            json!({"cnr_id": "comfyui-fancy", "ver": "1.0.0"}),
            "Comfy Registry id",
        ),
        (json!({}), "--node-map"),
    ] {
        let wf = workflow(dir, &w.files.url(""), &props);
        let plan = check_missing(&w.t.config, None, &wf, &NodeMap::new())
            .unwrap()
            .plan;
        assert!(!plan.is_complete());
        assert_eq!(plan.models.len(), 2);
        assert!(plan.nodes.is_empty());
        match &plan.unresolved[..] {
            [
                Unresolved::Node {
                    class_type,
                    reason: r,
                    ..
                },
            ] => {
                assert_eq!(class_type, "FancyNode");
                assert!(r.contains(reason), "{r}");
            }
            other => panic!("{other:#?}"),
        }
    }
    // An allowed github.com takes aux_id, pinned to the commit in `ver`.
    let mut config = w.t.config.clone();
    config.resources.allowed_git_hosts =
        vec![comfy_local_config::GitHost::try_from("github.com").unwrap()];
    let wf = workflow(
        dir,
        &w.files.url(""),
        &json!({"aux_id": "owner/ComfyUI-Fancy", "ver": sha}),
    );
    let plan = check_missing(&config, None, &wf, &NodeMap::new())
        .unwrap()
        .plan;
    assert!(plan.is_complete(), "{plan:#?}");
    assert_eq!(plan.nodes[0].url, "https://github.com/owner/ComfyUI-Fancy");
    assert_eq!(plan.nodes[0].git_ref.as_deref(), Some(sha));
    assert_eq!(plan.nodes[0].via, NodeVia::AuxId);
}

#[test]
fn install_missing_installs_two_models_and_a_node_and_the_recheck_is_clean() {
    let mut w = world("missing-yes");
    let dir = w.t.install.parent().unwrap().to_owned();
    let map: NodeMap = [("FancyNode".to_owned(), w.daemon.url("Node-One"))].into();
    let wf = workflow(&dir, &w.files.url(""), &json!({}));
    let plan = check_missing(&w.t.config, None, &wf, &map).unwrap().plan;
    let cancel = AtomicBool::new(false);
    let done = execute(&w.t.config, &plan, &|_| None, &cancel, &mut |_| {});
    assert_eq!(done.failures(), 0, "{done:#?}");
    let data = generated(300_000, 7);
    for path in [
        "models/checkpoints/one.safetensors",
        "models/loras/sub/two.safetensors",
    ] {
        assert_eq!(
            std::fs::read(w.t.install.join(path)).unwrap(),
            data,
            "{path}"
        );
    }
    assert_eq!(w.t.custom_nodes(), ["Node-One"]);
    assert_eq!(
        done.installed_classes().into_iter().collect::<Vec<_>>(),
        ["FancyNode"]
    );

    // The models are seen at once; the node's class once ComfyUI restarts.
    let again = check_missing(&w.t.config, None, &wf, &map).unwrap();
    assert!(
        again.report.missing_models.is_empty(),
        "{:#?}",
        again.report
    );
    let classes: Vec<&str> = again
        .report
        .missing_nodes
        .iter()
        .map(|n| n.class_type.as_str())
        .collect();
    assert_eq!(classes, ["FancyNode"]);
    w.comfy.restart().unwrap();
    let after_restart = check_missing(&w.t.config, None, &wf, &map).unwrap();
    assert!(
        after_restart.report.is_complete(),
        "{:#?}",
        after_restart.report
    );
    assert!(after_restart.plan.is_empty() && after_restart.plan.is_complete());
}
