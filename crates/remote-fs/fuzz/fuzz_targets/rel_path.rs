//! Fuzzes the lexical path validator: it must never panic, and every path it accepts must stay
//! below the root when joined to it (no `.`/`..`/empty components, no backslash, NUL or control
//! character, no leading `-`), on POSIX and on Windows hosts.
#![no_main]

use camino::Utf8Path;
use comfy_local_remote_fs::extra_paths::normpath;
use comfy_local_remote_fs::{HostOs, Name, RelPath, is_within};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    for os in [HostOs::Posix, HostOs::Windows] {
        let _ = Name::parse(s, os);
        let Ok(p) = RelPath::parse(s, os) else { continue };
        assert_eq!(p.as_str(), s);
        let root = "/srv/ComfyUI/models/checkpoints";
        let joined = format!("{root}/{s}");
        assert_eq!(normpath(&joined), joined, "{s:?} collapses");
        assert!(is_within(Utf8Path::new(root), Utf8Path::new(&joined)), "{s:?} escapes");
        for c in p.components() {
            assert!(!c.is_empty() && !c.bytes().all(|b| b == b'.'), "{s:?}");
            assert!(!c.starts_with('-'), "{s:?}");
            assert!(!c.contains(['\\', '\0']) && !c.chars().any(char::is_control), "{s:?}");
            if os == HostOs::Windows {
                assert!(!c.contains(':') && !c.ends_with(['.', ' ']), "{s:?}");
            }
        }
        if os == HostOs::Windows {
            assert!(RelPath::parse(s, HostOs::Posix).is_ok(), "{s:?} Windows-only accepted");
        }
    }
});
