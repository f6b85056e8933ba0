//! Converts a UI-format workflow to the API format with a saved object_info, printing the API JSON
//! on stdout (the command `fixtures/comfyui/conversion/check.py` drives):
//! `cargo run -q --example convert -p comfy-local-workflow -- --object-info FILE UI.json`

use std::process::ExitCode;

use comfy_local_workflow::{ObjectInfo, Titles, load};

fn run() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut object_info = None;
    let mut ui = None;
    while let Some(a) = args.next() {
        if a == "--object-info" {
            object_info = args.next();
        } else {
            ui = Some(a);
        }
    }
    let usage = "usage: convert --object-info FILE UI.json";
    let oi_path = object_info.ok_or(usage)?;
    let ui_path = ui.ok_or(usage)?;
    let oi_bytes = std::fs::read(&oi_path).map_err(|e| format!("{oi_path}: {e}"))?;
    let oi = ObjectInfo::parse(&oi_bytes).map_err(|e| format!("{oi_path}: {}", chain(&e)))?;
    let bytes = std::fs::read(&ui_path).map_err(|e| format!("{ui_path}: {e}"))?;
    let workflow = load(&bytes).map_err(|e| format!("{ui_path}: {}", chain(&e)))?;
    let prompt = workflow
        .to_api(&oi, &Titles::embedded())
        .map_err(|e| format!("{ui_path}: {e}"))?;
    serde_json::to_string_pretty(&prompt).map_err(|e| e.to_string())
}

#[expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example program prints its result and errors"
)]
fn main() -> ExitCode {
    match run() {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
