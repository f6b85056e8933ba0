//! `kill -9` mid-job, then a restart on the same state: the job list and every output survive,
//! and the job that was running is interrupted (its stream replays and ends with `error`).

use std::time::Duration;

use comfy_local_fake_comfyui::{FakeComfy, FakeOptions, Knobs};

use crate::{
    Proc, config_for, events, get, is_png, job, read_events, repo_root, submit_file, temp_dir,
};

#[test]
fn sigkill_mid_job_loses_nothing_and_the_running_job_is_interrupted() {
    let comfy = FakeComfy::start(FakeOptions::default());
    let (_g, dir) = temp_dir();
    let config = config_for(&dir, &comfy.url(), "");
    let mut backend = Proc::start(&config, &[], &[]);
    let base = backend.url.clone();
    let finished = submit_file(
        &base,
        &repo_root().join("fixtures/comfyui/workflows/blur_scale_two_outputs.api.json"),
    );
    assert_eq!(events(&base, &finished, None).last().unwrap().event, "done");
    let outputs_before = get(&format!("{base}/api/jobs/{finished}/outputs"), &[]).json();

    comfy.set_knobs(Knobs::default().slow_node("2", Duration::from_secs(30)));
    let running = submit_file(
        &base,
        &repo_root().join("fixtures/comfyui/workflows/invert.api.json"),
    );
    let seen = read_events(&base, &running, None, |e| {
        e.event == "node" && e.data["node"] == "2"
    });
    assert_eq!(job(&base, &running)["state"], "running");
    backend.signal("-KILL");

    let again = Proc::start(&config, &[], &[]);
    let base = &again.url;
    let jobs = get(&format!("{base}/api/jobs"), &[]).json();
    let ids: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [running.as_str(), finished.as_str()]);
    assert_eq!(job(base, &finished)["state"], "succeeded");
    let record = job(base, &running);
    assert_eq!(record["state"], "interrupted", "{record}");
    assert_eq!(record["error"]["code"], "interrupted");

    let outputs_after = get(&format!("{base}/api/jobs/{finished}/outputs"), &[]).json();
    assert_eq!(outputs_before, outputs_after);
    for output in outputs_after["outputs"].as_array().unwrap() {
        let name = output["name"].as_str().unwrap();
        let file = get(&format!("{base}/api/jobs/{finished}/outputs/{name}"), &[]);
        assert!(is_png(&file.body), "{name}");
    }
    // Every event announced before the kill is still there, in order, then the interruption.
    let replay = events(base, &running, None);
    assert!(replay.len() > seen.len(), "{replay:?}\n{seen:?}");
    for (a, b) in seen.iter().zip(&replay) {
        assert_eq!((a.id, &a.event, &a.data), (b.id, &b.event, &b.data));
    }
    let last = replay.last().unwrap();
    assert_eq!(last.event, "error");
    assert_eq!(last.data["state"], "interrupted");
}
