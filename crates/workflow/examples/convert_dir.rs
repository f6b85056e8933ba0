//! Converts many UI-format workflows with one saved object_info, for the differential oracle
//! (`scripts/oracle`): for each input `NAME.json` (or `NAME.ui.json`) it writes `OUT/NAME.api.json`,
//! or `OUT/NAME.error.txt` with the error when the conversion fails:
//! `cargo run -q --example convert_dir -p comfy-local-workflow -- --object-info FILE --out DIR UI.json...`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use comfy_local_workflow::{ObjectInfo, Titles, load};

struct Args {
    object_info: PathBuf,
    out: PathBuf,
    inputs: Vec<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: convert_dir --object-info FILE --out DIR UI.json...";
    let mut args = std::env::args().skip(1);
    let (mut object_info, mut out, mut inputs) = (None, None, Vec::new());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--object-info" => object_info = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from),
            _ => inputs.push(PathBuf::from(a)),
        }
    }
    Ok(Args {
        object_info: object_info.ok_or(usage)?,
        out: out.ok_or(usage)?,
        inputs,
    })
}

/// The API prompt of one workflow as pretty JSON, or the error chain.
fn convert(oi: &ObjectInfo, titles: &Titles, path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let workflow = load(&bytes).map_err(|e| chain(&e))?;
    let prompt = workflow.to_api(oi, titles).map_err(|e| chain(&e))?;
    serde_json::to_string_pretty(&prompt).map_err(|e| e.to_string())
}

fn run() -> Result<(usize, usize), String> {
    let args = parse_args()?;
    let oi_path = &args.object_info;
    let oi_bytes = std::fs::read(oi_path).map_err(|e| format!("{}: {e}", oi_path.display()))?;
    let oi = ObjectInfo::parse(&oi_bytes)
        .map_err(|e| format!("{}: {}", oi_path.display(), chain(&e)))?;
    let titles = Titles::embedded();
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let (mut ok, mut failed) = (0, 0);
    for path in &args.inputs {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = name.trim_end_matches(".json").trim_end_matches(".ui");
        let api = args.out.join(format!("{stem}.api.json"));
        let err = args.out.join(format!("{stem}.error.txt"));
        let (write, remove, text) = match convert(&oi, &titles, path) {
            Ok(json) => {
                ok += 1;
                (api, err, json + "\n")
            }
            Err(e) => {
                failed += 1;
                (err, api, e + "\n")
            }
        };
        std::fs::write(&write, text).map_err(|e| format!("{}: {e}", write.display()))?;
        match std::fs::remove_file(&remove) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("{}: {e}", remove.display()));
            }
            _ => {}
        }
    }
    Ok((ok, failed))
}

#[expect(
    clippy::print_stderr,
    reason = "an example program reports its counts and errors"
)]
fn main() -> ExitCode {
    match run() {
        Ok((ok, failed)) => {
            eprintln!("converted {ok}, failed {failed}");
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
