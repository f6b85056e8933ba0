//! `batch::run_batch` over a pool of two instances used by id the same way: one whose ComfyUI
//! answers only on its host's loopback (reached through the real sshd's forward) and one
//! reached directly. Every job is done once, both instances take jobs, and the outputs land in
//! `<out>/<job>/` once.

use camino::Utf8PathBuf;
use comfy_local_config::{ApiUrl, InstanceId};
use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};
use comfy_local_sdk::batch::{
    BatchEvent, BatchRequest, BatchStop, InstanceChoice, JobResult, PoolEvent, batch_jobs,
    run_batch,
};
use comfy_local_test_support::{Sshd, SshdConfig};

use crate::common::{Setup, fake_install};

#[test]
fn jobs_spread_over_a_tunnelled_and_a_direct_instance_and_each_is_done_once() {
    let sshd = Sshd::start(SshdConfig {
        allow_tcp_forwarding: true,
        ..SshdConfig::default()
    });
    let slow = Knobs::default().node_delay(std::time::Duration::from_millis(100));
    let tunnelled = FakeComfy::start(FakeOptions::default().knobs(slow.clone()));
    let direct = FakeComfy::start(FakeOptions::default().knobs(slow));
    // The container's URL does not answer; the host's loopback does, through the sshd.
    let setup = Setup::new(
        &fake_install("batch"),
        &format!("http://127.0.0.2:{}", tunnelled.port()),
    );
    let mut setup = setup;
    setup.port = sshd.port();
    setup.key_file = sshd.user_key().to_owned();
    setup.known_hosts = sshd.known_hosts().to_owned();
    let mut config = setup.config();
    let mut second = config.local[0].clone();
    second.id = InstanceId::try_from("direct").unwrap();
    second.comfyui.api_url = ApiUrl::try_from(direct.url().as_str()).unwrap();
    config.local.push(second);
    config.pool.max_in_flight = std::num::NonZeroU32::MIN;

    let tmp = tempfile::tempdir().unwrap();
    let dir = Utf8PathBuf::from_path_buf(tmp.path().to_path_buf()).unwrap();
    let src = camino::Utf8Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/comfyui/workflows/invert.api.json");
    // A seed input, for the copies' seeds.
    let mut prompt: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&src).unwrap()).unwrap();
    prompt["9"] = serde_json::json!({"class_type": "RandomNoise", "inputs": {"noise_seed": 1}});
    let wf = dir.join("invert.json");
    std::fs::write(&wf, prompt.to_string()).unwrap();
    let jobs = batch_jobs(&[wf], 6, None).unwrap();
    let req = BatchRequest {
        jobs,
        instances: InstanceChoice::Ids(vec!["local".to_owned(), "direct".to_owned()]),
        out_dir: dir.join("out"),
        sync: false,
        previews: false,
        timeout: None,
    };
    let mut started = Vec::new();
    let mut seen = Vec::new();
    let report = run_batch(&config, &req, &BatchStop::new(), &mut |e| {
        seen.push(e.to_json(&[]));
        if let BatchEvent::Pool(PoolEvent::Started { instance, .. }) = e {
            started.push(instance.to_owned());
        }
    })
    .unwrap();
    assert_eq!(report.report.done(), 6, "{:?}", report.report);
    assert_eq!(started.len(), 6, "a job was started twice: {started:?}");
    for id in ["local", "direct"] {
        assert!(started.iter().any(|s| s == id), "{id} got no job: {seen:?}");
    }
    let submitted: Vec<serde_json::Value> = tunnelled
        .submitted()
        .into_iter()
        .chain(direct.submitted())
        .collect();
    assert_eq!(submitted.len(), 6);
    // Each instance built its object_info once for all its jobs.
    assert_eq!(tunnelled.object_info_requests(), 1);
    assert_eq!(direct.object_info_requests(), 1);
    // Each copy ran with its own seed.
    let mut seeds: Vec<u64> = submitted
        .iter()
        .filter_map(|p| p["prompt"]["9"]["inputs"]["noise_seed"].as_u64())
        .collect();
    seeds.sort_unstable();
    seeds.dedup();
    assert_eq!(seeds.len(), 6, "{submitted:?}");
    for (job, result) in report.results() {
        let JobResult::Done { output, .. } = result else {
            panic!("{}: {result:?}", job.name);
        };
        assert_eq!(output.dir, dir.join("out").join(&job.name));
        assert!(!output.files().is_empty(), "{}", job.name);
        for file in output.files() {
            assert!(
                file.path.starts_with(&output.dir) && file.path.is_file(),
                "{file:?}"
            );
        }
    }
    let mut folders: Vec<String> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert_eq!(
        folders,
        (1..=6).map(|k| format!("invert-{k}")).collect::<Vec<_>>()
    );
    let summary = report.summary_json();
    assert_eq!(summary["jobs"], 6);
    assert_eq!(summary["instances"]["local"]["cost_usd"], 0.0);
}

/// With `sync`, a job whose model the instance lacks gets it installed there first (from the
/// URL the workflow's `models` metadata names, over the real sshd) and then runs; without,
/// the instance is skipped and the job fails with the reason.
#[test]
fn sync_installs_a_missing_model_before_the_job_runs() {
    use std::sync::Arc;

    use crate::http_source::{FileServer, Knobs as FileKnobs, generated};
    use crate::nodes::NodeTest;

    let mut t = NodeTest::new("batch-sync");
    let comfy = FakeComfy::start(
        FakeOptions::default()
            .base_path(t.install.as_std_path())
            .models_on_disk(),
    );
    t.config.local[0].comfyui.api_url = ApiUrl::try_from(comfy.url().as_str()).unwrap();
    let files = FileServer::start(Arc::new(generated(100_000, 3)), FileKnobs::default());
    let dir = t.install.parent().unwrap().to_owned();
    let prompt = serde_json::json!({
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "inv"}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "one.safetensors"}}
    });
    let ui = serde_json::json!({
        "nodes": [{"id": 4, "type": "CheckpointLoaderSimple", "properties": {}}],
        "models": [{"name": "one.safetensors", "url": files.url("/one"), "directory": "checkpoints"}]
    });
    let wf = dir.join("needs-model.json");
    let body =
        serde_json::json!({"prompt": prompt, "extra_data": {"extra_pnginfo": {"workflow": ui}}});
    std::fs::write(&wf, body.to_string()).unwrap();
    let request = |sync: bool, out: &str| BatchRequest {
        jobs: batch_jobs(std::slice::from_ref(&wf), 1, None).unwrap(),
        instances: InstanceChoice::Ids(vec!["local".to_owned()]),
        out_dir: dir.join(out),
        sync,
        previews: false,
        timeout: None,
    };

    let skipped = run_batch(
        &t.config,
        &request(false, "out-skip"),
        &BatchStop::new(),
        &mut |_| {},
    )
    .unwrap();
    let JobResult::Failed { reasons } = &skipped.report.jobs[0] else {
        panic!("{:?}", skipped.report.jobs[0]);
    };
    assert!(reasons[0].reason.contains("one.safetensors"), "{reasons:?}");
    assert!(comfy.submitted().is_empty());

    let synced = run_batch(
        &t.config,
        &request(true, "out-sync"),
        &BatchStop::new(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(synced.report.done(), 1, "{:?}", synced.report.jobs);
    let model = t.install.join("models/checkpoints/one.safetensors");
    assert_eq!(std::fs::read(&model).unwrap().len(), 100_000, "{model}");
    assert_eq!(comfy.submitted().len(), 1);
}
