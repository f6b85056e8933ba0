//! Every endpoint against the fake: typed answers match the recording.

use comfy_local_comfyui::{
    ApiPrefix, ClientOptions, ComfyClient, InputSpec, OutputFile, SubmitOptions, UploadOptions,
};
use comfy_local_fake_comfyui::fixtures::{fixtures_dir, recorded_body};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use serde_json::json;

use crate::{client, workflow};

#[test]
fn system_stats_features_models_embeddings_and_object_info() {
    let fake = FakeComfy::start(
        FakeOptions::default()
            .model_folder("checkpoints", &["a.safetensors"])
            .embeddings(&["neg.pt"]),
    );
    // On a fresh client the prefix probe is the system_stats request itself.
    let fresh = client(&fake);
    fresh.system_stats().expect("stats");
    assert_eq!(fake.system_stats_requests(), 1);
    assert_eq!(fresh.api_prefix().expect("known"), "/api");
    assert_eq!(fake.system_stats_requests(), 1);
    let client = client(&fake);
    assert_eq!(client.api_prefix().expect("probe"), "/api");
    let stats = client.system_stats().expect("stats");
    assert_eq!(
        fake.system_stats_requests(),
        3,
        "the prefix known, the stats asked for"
    );
    assert_eq!(stats.comfyui_version(), Some("0.3.64"));
    assert!(
        stats
            .system
            .python_version
            .as_deref()
            .is_some_and(|v| v.starts_with("3.11"))
    );
    assert_eq!(
        stats.system.pytorch_version.as_deref(),
        Some("2.15.0+cu132")
    );
    assert_eq!(stats.devices[0].name, "cpu");
    assert_eq!(stats.devices[0].vram_total, 25_276_063_744);
    let features = client.features().expect("features");
    assert!(features.supports_preview_metadata);
    assert_eq!(features.max_upload_size, Some(104_857_600));
    assert_eq!(
        client.models("checkpoints").expect("models"),
        Some(vec!["a.safetensors".to_owned()])
    );
    assert_eq!(client.models("no_such_folder").expect("404 is None"), None);
    assert_eq!(client.model_folders().expect("folders").len(), 20);
    assert_eq!(client.embeddings().expect("embeddings"), ["neg.pt"]);
    assert_eq!(client.extensions().expect("extensions").len(), 19);
    let info = client.object_info().expect("object_info");
    assert_eq!(info.class_names().len(), 496);
    let save = info.class("SaveImage").expect("SaveImage");
    assert!(save.output_node);
    assert_eq!(
        save.required
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>(),
        ["images", "filename_prefix"]
    );
    let one = client
        .object_info_class("ImageScale")
        .expect("one")
        .expect("known");
    assert_eq!(one.outputs, ["IMAGE"]);
    assert_eq!(
        client.object_info_class("NoSuchNode").expect("unknown"),
        None
    );
    // Combos in both formats, and model lists as the server knows them.
    let upscale = one.input("upscale_method").expect("upscale_method");
    assert_eq!(upscale.type_name(), "COMBO");
    assert_eq!(upscale.combo_options().expect("combo")[0], "nearest-exact");
    let width = one.input("width").expect("width");
    assert_eq!(width.type_name(), "INT");
    assert_eq!(width.combo_options(), None);
    let ckpt = info.class("CheckpointLoaderSimple").expect("loader");
    assert_eq!(
        ckpt.input("ckpt_name").and_then(InputSpec::combo_options),
        Some(&[json!("a.safetensors")][..])
    );
    // The new combo format (`["COMBO", {"options": [...]}]`) is read too.
    let raw = comfy_local_fake_comfyui::fixtures::object_info();
    let (class, name) = raw
        .as_object()
        .expect("object")
        .iter()
        .find_map(|(class, c)| {
            c["input"]["required"]
                .as_object()?
                .iter()
                .find(|(_, spec)| spec[0] == "COMBO" && spec[1]["options"].is_array())
                .map(|(name, _)| (class.clone(), name.clone()))
        })
        .expect("object_info has COMBO-typed inputs");
    let spec = info.class(&class).and_then(|c| c.input(&name));
    assert!(
        spec.and_then(InputSpec::combo_options).is_some(),
        "{class} {name}"
    );
    assert_eq!(client.queue_remaining().expect("prompt"), 0);
    client.free(true, true).expect("free");
}

#[test]
fn root_prefix_works_too_and_errors_name_the_url() {
    let fake = FakeComfy::start(FakeOptions::default());
    let root = ComfyClient::with_options(
        &format!("{}/", fake.url()),
        ClientOptions::default().api_prefix(ApiPrefix::Root),
    )
    .expect("client");
    assert_eq!(
        root.url("/queue").expect("url"),
        format!("{}/queue", fake.url())
    );
    assert!(root.queue().expect("queue").running.is_empty());
    let missing = OutputFile {
        filename: "nope.png".into(),
        subfolder: String::new(),
        kind: "output".into(),
    };
    let err = root.view_bytes(&missing).expect_err("404");
    let port = fake.port().to_string();
    insta::with_settings!({filters => vec![(port.as_str(), "[PORT]")]}, {
        insta::assert_snapshot!(err.to_string());
    });
    assert!(matches!(
        ComfyClient::new("ftp://x"),
        Err(comfy_local_comfyui::ComfyError::InvalidUrl { .. })
    ));
    assert!(matches!(
        ComfyClient::new("no scheme"),
        Err(comfy_local_comfyui::ComfyError::InvalidUrl { .. })
    ));
}

#[test]
fn upload_then_load_image_runs_and_outputs_download_as_png() {
    let fake = FakeComfy::start(FakeOptions::default());
    let client = client(&fake);
    let png_bytes = std::fs::read(fixtures_dir().join("recorded/view_output.png")).expect("png");
    let up = client
        .upload_image(
            "acc_upload.png",
            &png_bytes,
            &UploadOptions::default().overwrite(true),
        )
        .expect("upload");
    assert_eq!(
        serde_json::to_value(&up.name).expect("j"),
        recorded_body("post_upload_image.json")["name"]
    );
    assert_eq!(up.prompt_value(), "acc_upload.png");
    // Same bytes again without overwrite: ComfyUI recognises the duplicate and keeps the name.
    let again = client
        .upload_image("acc_upload.png", &png_bytes, &UploadOptions::default())
        .expect("again");
    assert_eq!(again.name, "acc_upload.png");
    let other = client
        .upload_image("acc_upload.png", b"other bytes", &UploadOptions::default())
        .expect("renamed");
    assert_eq!(other.name, "acc_upload (1).png");
    let sub = client
        .upload_image(
            "m.png",
            &png_bytes,
            &UploadOptions::default().subfolder("masks"),
        )
        .expect("sub");
    assert_eq!(sub.prompt_value(), "masks/m.png");
    let mask = client
        .upload_mask(
            "mask.png",
            &png_bytes,
            &up,
            &UploadOptions::default().overwrite(true),
        )
        .expect("mask");
    assert_eq!(mask.kind, "input");
    assert!(matches!(
        client.upload_image("../evil.png", b"x", &UploadOptions::default()),
        Err(comfy_local_comfyui::ComfyError::InvalidUploadName { .. })
    ));

    let prompt = json!({
        "1": {"class_type": "LoadImage", "inputs": {"image": up.prompt_value()}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "acc_loaded"}}
    });
    let outcome = client
        .run(&prompt, comfy_local_comfyui::RunOptions::default())
        .expect("run")
        .finish()
        .expect("outcome");
    let file = outcome.outputs["3"].files["images"][0].clone();
    assert_eq!(file.filename, "acc_loaded_00001_.png");
    let mut bytes = Vec::new();
    let n = client.view(&file, &mut bytes).expect("view");
    assert_eq!(n as usize, bytes.len());
    let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
    let reader = decoder.read_info().expect("PNG");
    assert_eq!((reader.info().width, reader.info().height), (64, 64));

    let entry = client
        .history(&outcome.prompt_id)
        .expect("history")
        .expect("present");
    assert_eq!(entry.status.status_str, "success");
    assert_eq!(entry.outputs, outcome.outputs);
    assert_eq!(client.history_list(Some(1)).expect("list").len(), 1);
    client
        .delete_history(&[outcome.prompt_id.as_str()])
        .expect("delete");
    assert_eq!(client.history(&outcome.prompt_id).expect("history"), None);
    client.clear_history().expect("clear");
    assert!(client.history_list(None).expect("list").is_empty());
}

#[test]
fn queue_listing_clear_delete_and_interrupt() {
    let fake = FakeComfy::start(
        FakeOptions::default()
            .knobs(Knobs::default().node_delay(std::time::Duration::from_millis(100))),
    );
    let client = client(&fake);
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut p = workflow("invert.api.json");
        p["3"]["inputs"]["filename_prefix"] = json!(format!("q{i}"));
        ids.push(
            client
                .submit(&p, &SubmitOptions::default().prompt_id(format!("id-{i}")))
                .expect("submit")
                .prompt_id,
        );
    }
    assert_eq!(ids, ["id-0", "id-1", "id-2"], "our own prompt ids are used");
    let queue = client.queue().expect("queue");
    assert_eq!(queue.running.len() + queue.pending.len(), 3);
    assert_eq!(
        queue.pending.last().map(|q| q.prompt_id.as_str()),
        Some("id-2")
    );
    assert_eq!(
        queue
            .pending
            .last()
            .map(|q| q.extra_data["client_id"].clone()),
        Some(json!("test-client"))
    );
    client.delete_from_queue(&["id-2"]).expect("delete");
    assert!(
        client
            .queue()
            .expect("queue")
            .pending
            .iter()
            .all(|q| q.prompt_id != "id-2")
    );
    client.clear_queue().expect("clear");
    assert!(client.queue().expect("queue").pending.is_empty());
    client.interrupt(None).expect("interrupt");
    let front = client
        .submit(
            &workflow("invert.api.json"),
            &SubmitOptions::default().front(true),
        )
        .expect("front");
    assert!(
        front.number < 0,
        "front puts a negative number, as ComfyUI does"
    );
    let body = fake.submitted().last().cloned().expect("body");
    assert_eq!(body["front"], json!(true));
    assert_eq!(body["client_id"], json!("test-client"));
}
