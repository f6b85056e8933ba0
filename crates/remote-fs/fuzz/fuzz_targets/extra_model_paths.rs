//! Fuzzes the `extra_model_paths.yaml` reader: it must never panic, and every path it returns
//! must be absolute and normalised.
#![no_main]

use camino::Utf8Path;
use comfy_local_remote_fs::extra_paths::normpath;
use comfy_local_remote_fs::{Expansion, HostOs, parse_extra_model_paths};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let file = Utf8Path::new("/opt/ComfyUI/extra_model_paths.yaml");
    for os in [HostOs::Posix, HostOs::Windows] {
        if let Ok(extra) = parse_extra_model_paths(text, file, &Expansion::with_home("/home/u"), os) {
            for p in extra.paths {
                assert!(p.path.as_str().starts_with('/'), "{p:?}");
                assert_eq!(normpath(p.path.as_str()), p.path.as_str());
            }
        }
    }
});
