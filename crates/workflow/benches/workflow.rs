//! Workflow benchmarks (release build, `cargo bench -p comfy-local-workflow --bench workflow`):
//! `object_info` parse time against its 10 ms budget, conversion of the largest corpus workflow
//! against its 5 ms budget, and a hostile 100k-node workflow (reported, no budget).

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use comfy_local_workflow::{ObjectInfo, Titles, Workflow, convert_ui_to_api, load};
use serde_json::json;

fn median(mut f: impl FnMut(), runs: usize) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn report(what: &str, took: Duration, budget: Option<Duration>) {
    let ms = took.as_secs_f64() * 1e3;
    match budget {
        Some(b) => {
            let ratio = took.as_secs_f64() / b.as_secs_f64();
            let verdict = if ratio <= 1.0 {
                "within budget"
            } else {
                "OVER BUDGET"
            };
            println!(
                "{what}: {ms:.3} ms (budget {} ms, {ratio:.3}x of budget: {verdict})",
                b.as_millis()
            );
        }
        None => println!("{what}: {ms:.3} ms"),
    }
}

fn hostile(n: i64) -> Vec<u8> {
    let mut nodes = vec![
        json!({"id": 1, "type": "LoadImage", "mode": 0, "inputs": [],
        "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}], "widgets_values": ["example.png", "image"]}),
    ];
    let mut links = Vec::new();
    for i in 0..n {
        let id = i + 2;
        let class = if i % 2 == 0 { "Reroute" } else { "ImageInvert" };
        let mode = if i % 3 == 0 && class == "ImageInvert" {
            4
        } else {
            0
        };
        nodes.push(json!({"id": id, "type": class, "mode": mode,
            "inputs": [{"name": "image", "type": "IMAGE", "link": i + 1}],
            "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [i + 2]}]}));
        links.push(json!([i + 1, id - 1, 0, id, 0, "IMAGE"]));
    }
    serde_json::to_vec(&json!({"nodes": nodes, "links": links})).unwrap_or_default()
}

fn main() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/comfyui");
    let oi_bytes = std::fs::read(fixtures.join("object_info.json")).expect("object_info fixture");
    let ui_bytes =
        std::fs::read(fixtures.join("conversion/tpl_flux1_dev_uso_reference_image_gen.ui.json"))
            .expect("largest fixture");
    let titles = Titles::embedded();

    let parse = median(
        || {
            drop(black_box(
                ObjectInfo::parse(black_box(&oi_bytes)).expect("parses"),
            ));
        },
        51,
    );
    report(
        &format!("object_info parse ({} KB)", oi_bytes.len() / 1024),
        parse,
        Some(Duration::from_millis(10)),
    );
    // Peer: the same bytes into an untyped serde_json::Value (a machine-load independent ratio).
    let peer = median(
        || {
            drop(black_box(serde_json::from_slice::<serde_json::Value>(
                black_box(&oi_bytes),
            )));
        },
        51,
    );
    report(
        "  peer: serde_json::Value parse of the same bytes",
        peer,
        None,
    );
    println!(
        "  ratio ObjectInfo::parse / Value parse: {:.2}",
        parse.as_secs_f64() / peer.as_secs_f64()
    );

    let oi = ObjectInfo::parse(&oi_bytes).expect("parses");
    let Ok(Workflow::Ui(ui)) = load(&ui_bytes) else {
        panic!("largest fixture is a UI workflow")
    };
    let convert = median(
        || {
            drop(black_box(
                convert_ui_to_api(black_box(&ui), &oi, &titles).expect("converts"),
            ));
        },
        201,
    );
    report(
        "convert tpl_flux1_dev_uso_reference_image_gen (after parse)",
        convert,
        Some(Duration::from_millis(5)),
    );
    let load_and_convert = median(
        || {
            let Ok(Workflow::Ui(ui)) = load(black_box(&ui_bytes)) else {
                return;
            };
            drop(black_box(convert_ui_to_api(&ui, &oi, &titles)));
        },
        201,
    );
    report(
        "load + convert tpl_flux1_dev_uso_reference_image_gen",
        load_and_convert,
        Some(Duration::from_millis(5)),
    );

    let big = hostile(100_000);
    let hostile_time = median(
        || {
            let Ok(Workflow::Ui(ui)) = load(black_box(&big)) else {
                return;
            };
            let r: Result<_, _> = convert_ui_to_api(&ui, &oi, &titles);
            drop(black_box(r.map(|p| p.len())));
        },
        5,
    );
    report(
        "load + convert a 100k-node chain (reroutes, bypasses)",
        hostile_time,
        None,
    );
}
