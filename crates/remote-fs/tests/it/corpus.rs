//! Adversarial corpus for the lexical validator: every input must be refused (on both host
//! kinds, or on Windows hosts for the Windows-only list), and the refusal messages are pinned in
//! a snapshot so a change of wording or of the rule that fires is reviewed.

use comfy_local_remote_fs::{HostOs, Name, RelPath};

/// Refused on POSIX and on Windows hosts.
pub const REFUSED_EVERYWHERE: &[&str] = &[
    // Empty and absolute.
    "",
    "/",
    "/etc/passwd",
    "//etc/passwd",
    "///etc/passwd",
    "/home/comfy/.ssh/authorized_keys",
    // Dot components.
    ".",
    "..",
    "...",
    "....",
    "../etc/passwd",
    "../../../../../../etc/shadow",
    "a/../../etc",
    "a/..",
    "./a",
    "a/./b",
    "a/.",
    "checkpoints/../../..",
    "../ComfyUI2/models/x.safetensors",
    "..../x",
    // Empty components and trailing slashes.
    "a//b",
    "a/",
    "a/b/",
    "a///",
    "checkpoints//model.safetensors",
    // Backslashes and mixed separators.
    "..\\..\\etc\\passwd",
    "a\\b",
    "\\etc\\passwd",
    "..\\/etc",
    "../\\etc",
    "a/..\\..\\b",
    "\\\\server\\share\\x",
    "\\\\?\\C:\\Windows",
    "\\\\.\\PhysicalDrive0",
    "model.safetensors\\",
    // Percent and other encodings.
    "%2e%2e/etc/passwd",
    "%2E%2E%2Fetc%2Fpasswd",
    "..%2fetc",
    "..%5c..%5cwindows",
    "%252e%252e/etc",
    "..%c0%afetc",
    "..%c1%9cetc",
    "%c0%ae%c0%ae/etc",
    "%e0%80%ae%e0%80%ae/etc",
    "%u002e%u002e/etc",
    "model%00.safetensors",
    "a/%2e%2e",
    // NUL and control characters.
    "a\0b",
    "\0",
    "model.safetensors\0.png",
    "a\nb",
    "a\rb",
    "a\tb",
    "\u{1b}[31mred",
    "a\u{7f}",
    "a\u{85}b",
    "a\u{9b}b",
    "a\u{2028}b",
    "line\u{2029}sep",
    "bell\u{7}",
    // Invisible and bidi characters.
    "\u{202e}gpj.safetensors",
    "\u{200b}../etc",
    "..\u{200b}/etc",
    "a\u{feff}b",
    "a\u{200d}b",
    "a\u{2066}b\u{2069}",
    "tag\u{e0041}",
    "soft\u{ad}hyphen",
    "a\u{a0}b",
    "a\u{3000}b",
    "\u{3164}",
    "lossy\u{fffd}name",
    "private\u{e000}use",
    // Unicode look-alikes of '.', '/', '\' and ':'.
    "\u{ff0e}\u{ff0e}/etc",
    "\u{2024}\u{2024}/etc",
    "\u{2025}/etc",
    "\u{fe52}\u{fe52}/etc",
    "\u{fe30}/etc",
    "..\u{2215}etc",
    "..\u{2044}etc",
    "..\u{ff0f}etc",
    "..\u{29f8}etc",
    "..\u{ff3c}etc",
    "..\u{2216}etc",
    "..\u{fe68}etc",
    "..\u{29f9}etc",
    "a\u{0338}b",
    "C\u{ff1a}x",
    "a\u{2236}b",
    "\u{2026}/etc",
    // Leading dash.
    "-rf",
    "--help",
    "a/-x",
    "-",
    "sub/--config=evil",
];

/// Refused on Windows hosts (some are plain names on POSIX).
pub const REFUSED_ON_WINDOWS: &[&str] = &[
    "C:",
    "C:\\Windows\\System32",
    "c:/Windows/System32",
    "C:model.safetensors",
    "z:..\\x",
    "//server/share/x",
    "//?/C:/x",
    "//./pipe/x",
    "CON",
    "con",
    "con.safetensors",
    "NUL",
    "nul.txt",
    "nul .txt",
    "AUX",
    "PRN.ckpt",
    "COM1",
    "com9.pt",
    "LPT1",
    "lpt0.bin",
    "COM\u{b9}",
    "CONIN$",
    "CONOUT$",
    "sub/CON/x",
    "model.",
    "model ",
    "model. . ",
    ".. ",
    "dir./x",
    "model.safetensors:Zone.Identifier",
    "model.safetensors::$DATA",
    "a:b",
    "a<b",
    "a>b",
    "a\"b",
    "a|b",
    "a?b",
    "a*b",
    "*.safetensors",
];

fn overlong_inputs() -> Vec<String> {
    vec![
        "a".repeat(256),
        format!("sub/{}.safetensors", "x".repeat(300)),
        "a/".repeat(2100) + "a",
        "é".repeat(128),
    ]
}

fn all_refused_everywhere() -> Vec<String> {
    let mut v: Vec<String> = REFUSED_EVERYWHERE.iter().map(|s| (*s).to_owned()).collect();
    v.extend(overlong_inputs());
    v
}

#[test]
fn corpus_has_at_least_100_distinct_inputs() {
    let mut all = all_refused_everywhere();
    all.extend(REFUSED_ON_WINDOWS.iter().map(|s| (*s).to_owned()));
    all.sort();
    all.dedup();
    assert!(all.len() >= 100, "only {} inputs", all.len());
}

#[test]
fn every_corpus_input_is_refused_on_both_hosts() {
    for input in all_refused_everywhere() {
        for os in [HostOs::Posix, HostOs::Windows] {
            assert!(
                RelPath::parse(&input, os).is_err(),
                "{os} accepted {input:?}"
            );
            assert!(
                Name::parse(&input, os).is_err(),
                "{os} accepted name {input:?}"
            );
        }
    }
}

#[test]
fn windows_corpus_is_refused_on_windows_hosts() {
    for input in REFUSED_ON_WINDOWS {
        assert!(
            RelPath::parse(input, HostOs::Windows).is_err(),
            "accepted {input:?}"
        );
    }
}

#[test]
fn corpus_refusal_messages() {
    let mut lines = Vec::new();
    for input in all_refused_everywhere() {
        let posix = RelPath::parse(&input, HostOs::Posix)
            .err()
            .map(|e| e.to_string());
        lines.push(format!(
            "posix:   {}",
            posix.unwrap_or_else(|| "ACCEPTED".into())
        ));
    }
    for input in REFUSED_ON_WINDOWS {
        let win = RelPath::parse(input, HostOs::Windows)
            .err()
            .map(|e| e.to_string());
        lines.push(format!(
            "windows: {}",
            win.unwrap_or_else(|| "ACCEPTED".into())
        ));
    }
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn plain_model_names_are_accepted() {
    let ok = [
        "model.safetensors",
        "SDXL/juggernautXL_v9.safetensors",
        "sub dir/with spaces (1).ckpt",
        "flux1-dev-fp8.safetensors",
        "a.b.c/d_e-f.pt2",
        "模型/流行.safetensors",
        "café-ñ.pth",
        "~tilde/x",
        "$HOME/x",
        "100%.bin",
        ".hidden",
        "..x",
        "x..",
        "x.",
        "a:b",
        "CON",
    ];
    for input in ok {
        RelPath::parse(input, HostOs::Posix).unwrap_or_else(|e| panic!("{input:?}: {e}"));
    }
    for input in &ok[..12] {
        RelPath::parse(input, HostOs::Windows).unwrap_or_else(|e| panic!("{input:?}: {e}"));
    }
}

mod properties {
    use camino::Utf8Path;
    use comfy_local_remote_fs::extra_paths::normpath;
    use comfy_local_remote_fs::{HostOs, RelPath, is_within};
    use proptest::prelude::*;

    /// Strings built from the characters that matter for traversal, plus letters.
    fn hostile() -> impl Strategy<Value = String> {
        let atoms = prop_oneof![
            Just(".".to_owned()),
            Just("..".to_owned()),
            Just("/".to_owned()),
            Just("\\".to_owned()),
            Just(":".to_owned()),
            Just("%2e".to_owned()),
            Just("%2f".to_owned()),
            Just("\0".to_owned()),
            Just("-".to_owned()),
            Just(" ".to_owned()),
            Just("C:".to_owned()),
            Just("CON".to_owned()),
            Just("\u{ff0e}".to_owned()),
            Just("\u{2215}".to_owned()),
            Just("\u{202e}".to_owned()),
            "[a-z]{1,3}",
            any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(atoms, 0..12).prop_map(|v| v.concat())
    }

    fn check_contained(p: &RelPath) {
        let root = "/srv/ComfyUI/models/checkpoints";
        let joined = format!("{root}/{}", p.as_str());
        // Lexically, the normalised join is the join itself: nothing to collapse…
        assert_eq!(normpath(&joined), joined, "{p:?}");
        // …and it stays inside the root, component-wise.
        assert!(
            is_within(Utf8Path::new(root), Utf8Path::new(&joined)),
            "{p:?}"
        );
        for c in p.components() {
            assert!(!c.is_empty() && c != "." && c != "..");
            assert!(!c.starts_with('-'));
            assert!(!c.contains(['\\', '\0']));
            assert!(!c.chars().any(char::is_control));
        }
    }

    /// A name Windows reserves for a device: the part before the first dot (trailing spaces
    /// ignored) is CON, PRN, AUX, NUL, COM0-9 or LPT0-9, in any case (ASCII names only here).
    fn windows_device_name(name: &str) -> bool {
        let stem = name
            .split('.')
            .next()
            .unwrap_or("")
            .trim_end()
            .to_ascii_uppercase();
        matches!(
            stem.as_str(),
            "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
        ) || (stem.len() == 4
            && (stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.as_bytes()[3].is_ascii_digit())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        #[test]
        fn no_accepted_hostile_path_escapes(s in hostile()) {
            for os in [HostOs::Posix, HostOs::Windows] {
                if let Ok(p) = RelPath::parse(&s, os) {
                    check_contained(&p);
                    prop_assert_eq!(p.as_str(), s.as_str());
                }
            }
        }

        #[test]
        fn no_accepted_arbitrary_path_escapes(s in any::<String>()) {
            for os in [HostOs::Posix, HostOs::Windows] {
                if let Ok(p) = RelPath::parse(&s, os) {
                    check_contained(&p);
                }
            }
        }

        #[test]
        fn windows_accepts_a_subset_of_posix(s in hostile()) {
            if RelPath::parse(&s, HostOs::Windows).is_ok() {
                prop_assert!(RelPath::parse(&s, HostOs::Posix).is_ok());
            }
        }

        #[test]
        fn plain_names_join_and_split(names in proptest::collection::vec("[A-Za-z0-9_][A-Za-z0-9_ .-]{0,20}[A-Za-z0-9_]", 1..6)) {
            // Windows device names (CON, nul.txt, COM1.x, ...) are refused on purpose.
            prop_assume!(names.iter().all(|n| !windows_device_name(n)));
            let joined = names.join("/");
            let p = RelPath::parse(&joined, HostOs::Windows).unwrap();
            prop_assert_eq!(p.components().collect::<Vec<_>>(), names.iter().map(String::as_str).collect::<Vec<_>>());
            let parent = p.parent().unwrap();
            prop_assert_eq!(parent.components().count(), names.len() - 1);
        }
    }
}
