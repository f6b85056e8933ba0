//! Parsing the host's `extra_model_paths.yaml` exactly as ComfyUI's
//! `utils/extra_config.load_extra_path_config` reads it, so that models stored elsewhere are
//! found and allowed.
//!
//! Each top-level section may hold `base_path` (`~` and `$VAR`/`${VAR}` expanded, relative to
//! the file's folder when not absolute), `is_default` (its paths go first instead of last) and
//! `folder: path` entries, several paths per folder separated by newlines (a YAML block
//! scalar). A path is joined to `base_path` when there is one (an absolute path wins, as with
//! `os.path.join`), else taken relative to the file's folder; the result is `normpath`ed.
//!
//! The host's environment is not the container's: [`Expansion`] holds the values used for `~`
//! and variables (by default the SSH user's home). A variable that is not known is left as is,
//! like Python's `expandvars` does, so the path will not exist and is skipped.
//!
//! YAML is parsed with `yaml-rust2` (YAML 1.2). PyYAML reads YAML 1.1, so the 1.1 boolean
//! words (`yes`, `no`, `on`, `off`) are read as booleans for `is_default`, like ComfyUI sees them.

use std::collections::BTreeMap;

use camino::{Utf8Path, Utf8PathBuf};
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::{Yaml, YamlLoader};

use crate::folders::FolderName;
use crate::path::HostOs;

/// Values used to expand `~` and environment variables in paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// What `~` expands to (`$HOME` of the process that runs ComfyUI).
    pub home: Option<String>,
    /// Variables for `$NAME`, `${NAME}` (and `%NAME%` on Windows hosts).
    pub vars: BTreeMap<String, String>,
}

impl Expansion {
    /// `~` and `$HOME` both expand to `home`.
    pub fn with_home(home: &str) -> Self {
        let mut vars = BTreeMap::new();
        vars.insert("HOME".to_owned(), home.to_owned());
        Expansion {
            home: Some(home.to_owned()),
            vars,
        }
    }
}

/// One folder path that `extra_model_paths.yaml` adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraPath {
    /// The top-level section it came from.
    pub section: String,
    pub folder: FolderName,
    /// Absolute, normalised host path (SFTP form: `/C:/x` on Windows hosts).
    pub path: Utf8PathBuf,
    pub is_default: bool,
}

/// An entry that was not used, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEntry {
    pub section: String,
    pub key: String,
    pub reason: String,
}

/// What the file adds, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraPaths {
    pub paths: Vec<ExtraPath>,
    pub skipped: Vec<SkippedEntry>,
}

/// The file as a whole could not be read the way ComfyUI reads it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtraPathsError {
    #[error("{file} is not valid YAML: {message}")]
    Yaml { file: Utf8PathBuf, message: String },
    #[error("{file} must be a mapping of sections at the top level")]
    NotAMapping { file: Utf8PathBuf },
    #[error("section {section:?} of {file} must be a mapping of folder: path entries")]
    SectionNotAMapping { file: Utf8PathBuf, section: String },
    #[error("base_path of section {section:?} in {file} must be a string")]
    BasePathNotAString { file: Utf8PathBuf, section: String },
    #[error("{file} must be an absolute path on the host")]
    RelativeFile { file: Utf8PathBuf },
}

/// Parses `text`, the contents of the host file `file` (an absolute host path).
pub fn parse_extra_model_paths(
    text: &str,
    file: &Utf8Path,
    expansion: &Expansion,
    os: HostOs,
) -> Result<ExtraPaths, ExtraPathsError> {
    let file_buf = file.to_owned();
    if !is_abs(file.as_str()) {
        return Err(ExtraPathsError::RelativeFile { file: file_buf });
    }
    let yaml_dir = normpath(&dirname(file.as_str()));
    prescan(text).map_err(|message| ExtraPathsError::Yaml {
        file: file_buf.clone(),
        message,
    })?;
    let docs = YamlLoader::load_from_str(text).map_err(|e| ExtraPathsError::Yaml {
        file: file_buf.clone(),
        message: e.to_string(),
    })?;
    let mut out = ExtraPaths::default();
    let Some(doc) = docs.into_iter().next() else {
        return Ok(out);
    };
    let top = match doc {
        Yaml::Hash(h) => h,
        Yaml::Null => return Ok(out),
        _ => return Err(ExtraPathsError::NotAMapping { file: file_buf }),
    };
    for (section_key, section_value) in top {
        let section = scalar_text(&section_key);
        let conf = match section_value {
            Yaml::Null => continue,
            Yaml::Hash(h) => h,
            _ => {
                return Err(ExtraPathsError::SectionNotAMapping {
                    file: file_buf,
                    section,
                });
            }
        };
        let mut base_path: Option<String> = None;
        let mut is_default = false;
        for (k, v) in &conf {
            match k.as_str() {
                Some("base_path") => {
                    let Some(raw) = v.as_str() else {
                        return Err(ExtraPathsError::BasePathNotAString {
                            file: file_buf,
                            section,
                        });
                    };
                    let raw = to_sftp_form(raw, os);
                    let expanded = expand_vars(&expand_user(&raw, expansion), expansion, os);
                    let abs = if is_abs(&expanded) {
                        expanded
                    } else {
                        join(&yaml_dir, &expanded)
                    };
                    base_path = Some(abs);
                }
                Some("is_default") => is_default = python_truthy(v),
                _ => {}
            }
        }
        for (k, v) in conf {
            let key = scalar_text(&k);
            if key == "base_path" || key == "is_default" {
                continue;
            }
            let skip = |reason: &str| SkippedEntry {
                section: section.clone(),
                key: key.clone(),
                reason: reason.to_owned(),
            };
            let folder = match FolderName::parse(&key) {
                Ok(f) => f,
                Err(e) => {
                    out.skipped.push(skip(&e.to_string()));
                    continue;
                }
            };
            let Some(value) = v.as_str() else {
                out.skipped.push(skip("the value is not a string of paths"));
                continue;
            };
            for line in value.split('\n') {
                if line.is_empty() {
                    continue;
                }
                let line = to_sftp_form(line, os);
                let full = match &base_path {
                    Some(base) if !base.is_empty() => join(base, &line),
                    _ if is_abs(&line) => line,
                    _ => join(&yaml_dir, &line),
                };
                out.paths.push(ExtraPath {
                    section: section.clone(),
                    folder: folder.clone(),
                    path: Utf8PathBuf::from(normpath(&full)),
                    is_default,
                });
            }
        }
    }
    Ok(out)
}

/// Deepest nesting read; the real format needs 2 (sections of entries).
const MAX_NESTING: usize = 16;

/// Refuses, before building a tree, what could exhaust the stack or memory of this process:
/// nesting deeper than [`MAX_NESTING`] and aliases (`*name`, the "billion laughs" expansion).
/// The event parser is iterative, so this pass itself is safe on any input.
fn prescan(text: &str) -> Result<(), String> {
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| e.to_string())?;
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(format!(
                        "nested deeper than {MAX_NESTING} levels at line {}",
                        mark.line()
                    ));
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            Event::Alias(_) => {
                return Err(format!(
                    "line {} uses a YAML alias (*name); comfy-local does not expand aliases",
                    mark.line()
                ));
            }
            Event::StreamEnd => return Ok(()),
            _ => {}
        }
    }
}

fn scalar_text(y: &Yaml) -> String {
    match y {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null => "null".to_owned(),
        _ => "<complex key>".to_owned(),
    }
}

/// Python truthiness of the value PyYAML (YAML 1.1) would load.
fn python_truthy(v: &Yaml) -> bool {
    match v {
        Yaml::Boolean(b) => *b,
        Yaml::Integer(i) => *i != 0,
        Yaml::Real(r) => !r.parse::<f64>().is_ok_and(|f| f == 0.0),
        Yaml::String(s) => match s.as_str() {
            "yes" | "Yes" | "YES" | "on" | "On" | "ON" => true,
            "no" | "No" | "NO" | "off" | "Off" | "OFF" => false,
            other => !other.is_empty(),
        },
        Yaml::Array(a) => !a.is_empty(),
        Yaml::Hash(h) => !h.is_empty(),
        Yaml::Null | Yaml::BadValue => false,
        Yaml::Alias(_) => true,
    }
}

/// On Windows hosts, `C:\x\y` becomes the SFTP form `/C:/x/y`; elsewhere unchanged.
fn to_sftp_form(p: &str, os: HostOs) -> String {
    if os == HostOs::Posix {
        return p.to_owned();
    }
    let s = p.replace('\\', "/");
    let b = s.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        format!("/{s}")
    } else {
        s
    }
}

fn is_abs(p: &str) -> bool {
    p.starts_with('/')
}

/// `posixpath.join(a, b)` for two components.
fn join(a: &str, b: &str) -> String {
    if b.starts_with('/') || a.is_empty() {
        b.to_owned()
    } else if a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

/// `posixpath.dirname`.
fn dirname(p: &str) -> String {
    let i = p.rfind('/').map_or(0, |i| i + 1);
    let head = &p[..i];
    if !head.is_empty() && head.bytes().any(|b| b != b'/') {
        head.trim_end_matches('/').to_owned()
    } else {
        head.to_owned()
    }
}

/// `posixpath.normpath`: lexical, like ComfyUI applies it before using a path.
pub fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let initial = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else {
        usize::from(path.starts_with('/'))
    };
    let mut comps: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        if comp.is_empty() || comp == "." {
            continue;
        }
        if comp != ".." || (initial == 0 && comps.is_empty()) || comps.last() == Some(&"..") {
            comps.push(comp);
        } else if !comps.is_empty() {
            comps.pop();
        }
    }
    let joined = format!("{}{}", "/".repeat(initial), comps.join("/"));
    if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

/// `posixpath.expanduser` for `~` and `~/…` (a `~user` form is left as is).
fn expand_user(p: &str, e: &Expansion) -> String {
    let Some(rest) = p.strip_prefix('~') else {
        return p.to_owned();
    };
    if !(rest.is_empty() || rest.starts_with('/')) {
        return p.to_owned();
    }
    match &e.home {
        Some(home) => {
            let home = home.trim_end_matches('/');
            let home = if home.is_empty() { "/" } else { home };
            if rest.is_empty() {
                home.to_owned()
            } else {
                join(home, &rest[1..])
            }
        }
        None => p.to_owned(),
    }
}

/// `posixpath.expandvars` (`$NAME`, `${NAME}`; unknown names left as is), plus `%NAME%` on
/// Windows hosts.
fn expand_vars(p: &str, e: &Expansion, os: HostOs) -> String {
    let mut out = String::with_capacity(p.len());
    let mut rest = p;
    while let Some(i) = rest.find(['$', '%']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (name, consumed) = if let Some(t) = tail.strip_prefix("${") {
            match t.find('}') {
                Some(end) => (&t[..end], end + 3),
                None => ("", 0),
            }
        } else if let Some(t) = tail.strip_prefix('$') {
            let end = t
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(t.len());
            (&t[..end], end + 1)
        } else if os == HostOs::Windows {
            let t = &tail[1..];
            match t.find('%') {
                Some(end) if end > 0 => (&t[..end], end + 2),
                _ => ("", 0),
            }
        } else {
            ("", 0)
        };
        match e.vars.get(name) {
            Some(value) if consumed > 0 && !name.is_empty() => {
                out.push_str(value);
                rest = &tail[consumed..];
            }
            _ => {
                out.push_str(&tail[..1]);
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_matches_python() {
        let cases = [
            ("/a/b/../c", "/a/c"),
            ("/../x", "/x"),
            ("//x/./y/", "//x/y"),
            ("///x", "/x"),
            ("a/../../b", "../b"),
            ("", "."),
            ("/", "/"),
        ];
        for (i, o) in cases {
            assert_eq!(normpath(i), o, "{i}");
        }
    }

    #[test]
    fn dirname_matches_python() {
        assert_eq!(dirname("/x/y/extra_model_paths.yaml"), "/x/y");
        assert_eq!(dirname("/extra.yaml"), "/");
        assert_eq!(dirname("//a"), "//");
    }

    fn parse(text: &str, os: HostOs) -> Result<ExtraPaths, ExtraPathsError> {
        parse_extra_model_paths(
            text,
            Utf8Path::new("/c/extra_model_paths.yaml"),
            &Expansion::with_home("/home/u"),
            os,
        )
    }

    #[test]
    fn is_default_reads_yaml_1_1_words_like_pyyaml() {
        for (word, expected) in [
            ("yes", true),
            ("on", true),
            ("true", true),
            ("no", false),
            ("off", false),
            ("0", false),
        ] {
            let extra = parse(
                &format!("s:\n  is_default: {word}\n  loras: /l\n"),
                HostOs::Posix,
            )
            .unwrap();
            assert_eq!(extra.paths[0].is_default, expected, "{word}");
        }
    }

    #[test]
    fn odd_values_are_skipped_or_refused() {
        let extra = parse(
            "s:\n  loras: 12\n  'bad name': /x\n  vae: /v\n",
            HostOs::Posix,
        )
        .unwrap();
        assert_eq!(extra.paths.len(), 1);
        assert_eq!(extra.paths[0].path, "/v");
        let keys: Vec<&str> = extra.skipped.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["loras", "bad name"]);
        assert!(matches!(
            parse("- a\n- b\n", HostOs::Posix),
            Err(ExtraPathsError::NotAMapping { .. })
        ));
        assert!(matches!(
            parse("s: text\n", HostOs::Posix),
            Err(ExtraPathsError::SectionNotAMapping { .. })
        ));
        assert!(matches!(
            parse("s:\n  base_path: [1]\n", HostOs::Posix),
            Err(ExtraPathsError::BasePathNotAString { .. })
        ));
        assert!(matches!(
            parse("s: [unclosed\n", HostOs::Posix),
            Err(ExtraPathsError::Yaml { .. })
        ));
        assert_eq!(parse("", HostOs::Posix).unwrap(), ExtraPaths::default());
        assert_eq!(parse("s:\n", HostOs::Posix).unwrap(), ExtraPaths::default());
    }

    #[test]
    fn windows_paths_become_sftp_paths() {
        let extra = parse(
            "s:\n  base_path: D:\\models\\\n  loras: loras\\sdxl\n  vae: C:\\vae\n",
            HostOs::Windows,
        )
        .unwrap();
        let got: Vec<&str> = extra.paths.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(got, ["/D:/models/loras/sdxl", "/C:/vae"]);
    }

    #[test]
    fn expands_vars_like_python() {
        let mut e = Expansion::with_home("/home/u");
        e.vars.insert("MODELS".into(), "/srv/m".into());
        assert_eq!(expand_vars("$MODELS/x", &e, HostOs::Posix), "/srv/m/x");
        assert_eq!(expand_vars("${MODELS}x", &e, HostOs::Posix), "/srv/mx");
        assert_eq!(expand_vars("$UNKNOWN/x", &e, HostOs::Posix), "$UNKNOWN/x");
        assert_eq!(expand_vars("${MODELS", &e, HostOs::Posix), "${MODELS");
        assert_eq!(expand_vars("%MODELS%/x", &e, HostOs::Posix), "%MODELS%/x");
        assert_eq!(expand_vars("%MODELS%/x", &e, HostOs::Windows), "/srv/m/x");
        assert_eq!(expand_user("~/m", &e), "/home/u/m");
        assert_eq!(expand_user("~", &e), "/home/u");
        assert_eq!(expand_user("~bob/m", &e), "~bob/m");
    }
}
#[cfg(test)]
mod deep_tests {
    use super::*;

    #[test]
    fn aliases_are_refused() {
        let text = "a: &a [x, x]\nb: [*a, *a]\n";
        let r = parse_extra_model_paths(
            text,
            Utf8Path::new("/c/extra_model_paths.yaml"),
            &Expansion::default(),
            HostOs::Posix,
        );
        assert!(
            matches!(r, Err(ExtraPathsError::Yaml { message, .. }) if message.contains("alias"))
        );
    }

    #[test]
    fn deeply_nested_yaml_does_not_overflow_the_stack() {
        for open in ["[", "{a: ", "- "] {
            let text = open.repeat(200_000);
            let r = parse_extra_model_paths(
                &text,
                Utf8Path::new("/c/extra_model_paths.yaml"),
                &Expansion::default(),
                HostOs::Posix,
            );
            assert!(
                matches!(&r, Err(ExtraPathsError::Yaml { .. })),
                "{open}: {r:?}"
            );
        }
    }
}
