//! Lexical validation of the relative part of a remote path.
//!
//! Every path that reaches a host operation is a [`RelPath`] (or a single [`Name`]) built here:
//! raw strings never do. The checks are purely lexical and refuse anything that could name a
//! place other than "this many plain components below the root": absolute paths, `.`/`..`,
//! empty components (doubled or trailing `/`), NUL and control characters, backslashes, a
//! leading `-`, invisible format characters, Unicode look-alikes of `/`, `\`, `.` and `:`, and
//! overlong names. For Windows hosts drive letters, UNC and `\\?\` prefixes, reserved device
//! names (`CON`, `NUL`, `COM1`…), trailing dots and spaces, `:` (alternate data streams) and
//! the other characters Windows forbids are refused as well.
//!
//! Lexical checks are not enough on their own (a component may be a symlink on the host); the
//! host-side resolution in [`crate::fs`] adds the realpath/lstat checks.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Longest accepted relative path, in bytes (Linux `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest accepted single component, in bytes (`NAME_MAX` on Linux, 255 UTF-16 units on NTFS).
pub const MAX_NAME_BYTES: usize = 255;
/// Inputs are quoted in errors up to this many characters, then cut with `…`.
const QUOTE_CHARS: usize = 200;

/// The operating system of the host, which decides the extra Windows rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HostOs {
    /// Linux, macOS, BSD: `/`-separated, case-sensitive.
    #[default]
    Posix,
    /// Windows (OpenSSH for Windows): SFTP paths use `/`, but the file system has its own rules.
    Windows,
}

impl fmt::Display for HostOs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostOs::Posix => "POSIX",
            HostOs::Windows => "Windows",
        })
    }
}

/// Why a relative path or name was refused. `input` is the offending input, quoted with
/// control characters escaped and cut after 200 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    #[error("path {input} is empty")]
    Empty { input: Quoted },
    #[error("path {input} is {len} bytes long; at most {max} are allowed")]
    TooLong {
        input: Quoted,
        len: usize,
        max: usize,
    },
    #[error("path {input} is absolute; give a path relative to the folder")]
    Absolute { input: Quoted },
    #[error("path {input} has an empty component (a doubled or trailing '/')")]
    EmptyComponent { input: Quoted },
    #[error("path {input} has the component {component}, which could leave the folder")]
    DotComponent { input: Quoted, component: Quoted },
    #[error("path {input} contains a NUL or control character U+{code:04X} at byte {at}")]
    ControlChar { input: Quoted, code: u32, at: usize },
    #[error("path {input} contains a backslash at byte {at}; use '/' as the separator")]
    Backslash { input: Quoted, at: usize },
    #[error("path {input} contains the invisible character U+{code:04X} at byte {at}")]
    InvisibleChar { input: Quoted, code: u32, at: usize },
    #[error(
        "path {input} contains U+{code:04X} at byte {at}, a look-alike of '{looks_like}' that some systems map to it"
    )]
    LookAlike {
        input: Quoted,
        code: u32,
        at: usize,
        looks_like: char,
    },
    #[error(
        "path {input} contains the percent-escape {escape:?} at byte {at}; give the decoded name (escapes could decode to '/' or '..' elsewhere)"
    )]
    PercentEncoded {
        input: Quoted,
        escape: String,
        at: usize,
    },
    #[error(
        "path {input} has the component {component} starting with '-' (could be read as an option)"
    )]
    LeadingDash { input: Quoted, component: Quoted },
    #[error("path {input} has the component {component} of {len} bytes; at most {max} are allowed")]
    ComponentTooLong {
        input: Quoted,
        component: Quoted,
        len: usize,
        max: usize,
    },
    #[error("path {input} contains '/', but a single name was expected")]
    NotAName { input: Quoted },
    #[error("path {input} starts with a Windows drive letter; give a path relative to the folder")]
    DrivePrefix { input: Quoted },
    #[error("path {input} starts with a UNC prefix (\\\\server or //server)")]
    UncPrefix { input: Quoted },
    #[error("path {input} starts with a Windows device or verbatim prefix (\\\\?\\ or \\\\.\\)")]
    VerbatimPrefix { input: Quoted },
    #[error(
        "path {input} contains ':' at byte {at} (a drive or an alternate data stream on Windows)"
    )]
    Colon { input: Quoted, at: usize },
    #[error("path {input} contains '{ch}' at byte {at}, which Windows does not allow in names")]
    WindowsInvalidChar { input: Quoted, ch: char, at: usize },
    #[error("path {input} has the component {component}, a reserved device name on Windows")]
    ReservedName { input: Quoted, component: Quoted },
    #[error(
        "path {input} has the component {component} ending in a dot or space, which Windows strips"
    )]
    TrailingDotOrSpace { input: Quoted, component: Quoted },
}

/// An input string as it appears in an error: Rust-debug quoted (control characters escaped)
/// and cut after 200 characters so that a hostile multi-megabyte input stays readable.
#[derive(Clone, PartialEq, Eq)]
pub struct Quoted(String);

impl Quoted {
    pub fn new(s: &str) -> Self {
        let cut: String = s.chars().take(QUOTE_CHARS).collect();
        let truncated = cut.len() < s.len();
        let mut q = format!("{cut:?}");
        if truncated {
            q.push('…');
        }
        Quoted(q)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Quoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Quoted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One validated path component: a file or directory name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    /// Validates a single name (no `/` allowed) with the rules of `os`.
    pub fn parse(input: &str, os: HostOs) -> Result<Self, PathError> {
        if input.contains('/') {
            return Err(PathError::NotAName {
                input: Quoted::new(input),
            });
        }
        let rel = RelPath::parse(input, os)?;
        Ok(Name(rel.0))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated relative path: zero or more [`Name`]s joined by `/`. Only [`RelPath::root`] is
/// empty; parsing never yields an empty path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RelPath(String);

impl RelPath {
    /// The root itself (no components). Operations that need a file name refuse it.
    pub fn root() -> Self {
        RelPath(String::new())
    }

    /// Validates `input` with the rules of `os`. See the module documentation for the rules.
    pub fn parse(input: &str, os: HostOs) -> Result<Self, PathError> {
        validate(input, os)?;
        Ok(RelPath(input.to_owned()))
    }

    /// The path with `/` separators (empty for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }
    /// The last component, if any.
    pub fn file_name(&self) -> Option<&str> {
        self.components().last()
    }
    /// The path without its last component (`None` for the root).
    pub fn parent(&self) -> Option<RelPath> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(i) => RelPath(self.0[..i].to_owned()),
            None => RelPath::root(),
        })
    }
    /// This path with `name` appended.
    pub fn join(&self, name: &Name) -> RelPath {
        if self.is_root() {
            RelPath(name.0.clone())
        } else {
            RelPath(format!("{}/{}", self.0, name.0))
        }
    }
    /// The path as ComfyUI spells it on that host (`\` between components on Windows).
    pub fn to_os_string(&self, os: HostOs) -> String {
        match os {
            HostOs::Posix => self.0.clone(),
            HostOs::Windows => self.0.replace('/', "\\"),
        }
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn validate(input: &str, os: HostOs) -> Result<(), PathError> {
    let q = || Quoted::new(input);
    if input.is_empty() {
        return Err(PathError::Empty { input: q() });
    }
    if input.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong {
            input: q(),
            len: input.len(),
            max: MAX_PATH_BYTES,
        });
    }
    if os == HostOs::Windows {
        let b = input.as_bytes();
        let sep = |c: u8| c == b'\\' || c == b'/';
        if b.len() >= 4 && sep(b[0]) && sep(b[1]) && (b[2] == b'?' || b[2] == b'.') && sep(b[3]) {
            return Err(PathError::VerbatimPrefix { input: q() });
        }
        if b.len() >= 2 && sep(b[0]) && sep(b[1]) {
            return Err(PathError::UncPrefix { input: q() });
        }
        if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
            return Err(PathError::DrivePrefix { input: q() });
        }
    }
    if input.starts_with('/') {
        return Err(PathError::Absolute { input: q() });
    }
    for (at, ch) in input.char_indices() {
        check_char(input, os, at, ch)?;
    }
    for component in input.split('/') {
        check_component(input, os, component)?;
    }
    Ok(())
}

fn check_char(input: &str, os: HostOs, at: usize, ch: char) -> Result<(), PathError> {
    let q = || Quoted::new(input);
    let code = u32::from(ch);
    if ch.is_control() || matches!(ch, '\u{2028}' | '\u{2029}') {
        return Err(PathError::ControlChar {
            input: q(),
            code,
            at,
        });
    }
    if ch == '\\' {
        return Err(PathError::Backslash { input: q(), at });
    }
    if ch == '%'
        && let Some(escape) = percent_escape(&input[at..])
    {
        return Err(PathError::PercentEncoded {
            input: q(),
            escape: escape.to_owned(),
            at,
        });
    }
    if os == HostOs::Windows {
        if ch == ':' {
            return Err(PathError::Colon { input: q(), at });
        }
        if matches!(ch, '<' | '>' | '"' | '|' | '?' | '*') {
            return Err(PathError::WindowsInvalidChar { input: q(), ch, at });
        }
    }
    if ch.is_ascii() {
        return Ok(());
    }
    if is_invisible(ch) {
        return Err(PathError::InvisibleChar {
            input: q(),
            code,
            at,
        });
    }
    if let Some(looks_like) = look_alike(ch) {
        return Err(PathError::LookAlike {
            input: q(),
            code,
            at,
            looks_like,
        });
    }
    Ok(())
}

/// `%XX` (URL encoding, including `%2e`, `%2f`, `%c0%af`, `%252e`) or `%uXXXX` (IIS) at the
/// start of `s`.
fn percent_escape(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let hex = |i: usize| b.get(i).is_some_and(u8::is_ascii_hexdigit);
    if hex(1) && hex(2) {
        return Some(&s[..3]);
    }
    if matches!(b.get(1), Some(b'u' | b'U')) && (2..6).all(hex) {
        return Some(&s[..6]);
    }
    None
}

/// Format characters (zero-width, bidi controls, BOM, tags), separators other than the ASCII
/// space, unassigned and private-use code points, and U+FFFD (a sign of a lossy decode).
fn is_invisible(ch: char) -> bool {
    matches!(
        ch.general_category(),
        GeneralCategory::Format
            | GeneralCategory::SpaceSeparator
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::Unassigned
            | GeneralCategory::PrivateUse
            | GeneralCategory::Surrogate
    ) || matches!(
        ch,
        '\u{FFFD}' | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}'
    )
}

/// A non-ASCII character that compatibility normalisation (NFKC, which Windows "best fit" and
/// many tools apply) turns into something containing `/`, `\`, `.` or `:`, or that merely looks
/// like a separator (division slash, set minus, combining solidus overlays…).
fn look_alike(ch: char) -> Option<char> {
    const VISUAL: &[(char, char)] = &[
        ('\u{2215}', '/'),  // DIVISION SLASH
        ('\u{2044}', '/'),  // FRACTION SLASH
        ('\u{29F8}', '/'),  // BIG SOLIDUS
        ('\u{2571}', '/'),  // BOX DRAWINGS LIGHT DIAGONAL UPPER RIGHT TO LOWER LEFT
        ('\u{0338}', '/'),  // COMBINING LONG SOLIDUS OVERLAY
        ('\u{0337}', '/'),  // COMBINING SHORT SOLIDUS OVERLAY
        ('\u{1735}', '/'),  // PHILIPPINE SINGLE PUNCTUATION
        ('\u{2216}', '\\'), // SET MINUS
        ('\u{29F5}', '\\'), // REVERSE SOLIDUS OPERATOR
        ('\u{29F9}', '\\'), // BIG REVERSE SOLIDUS
        ('\u{2572}', '\\'), // BOX DRAWINGS LIGHT DIAGONAL UPPER LEFT TO LOWER RIGHT
        ('\u{2236}', ':'),  // RATIO
        ('\u{A789}', ':'),  // MODIFIER LETTER COLON
        ('\u{0589}', ':'),  // ARMENIAN FULL STOP
        ('\u{05C3}', ':'),  // HEBREW PUNCTUATION SOF PASUQ
        ('\u{2E31}', '.'),  // WORD SEPARATOR MIDDLE DOT
        ('\u{00B7}', '.'),  // MIDDLE DOT
        ('\u{2219}', '.'),  // BULLET OPERATOR
    ];
    if let Some(&(_, like)) = VISUAL.iter().find(|(c, _)| *c == ch) {
        return Some(like);
    }
    std::iter::once(ch)
        .nfkc()
        .find(|c| matches!(c, '/' | '\\' | '.' | ':') || c.is_control())
}

fn check_component(input: &str, os: HostOs, component: &str) -> Result<(), PathError> {
    let q = || Quoted::new(input);
    let qc = || Quoted::new(component);
    if component.is_empty() {
        return Err(PathError::EmptyComponent { input: q() });
    }
    if component.bytes().all(|b| b == b'.') {
        return Err(PathError::DotComponent {
            input: q(),
            component: qc(),
        });
    }
    if component.len() > MAX_NAME_BYTES {
        return Err(PathError::ComponentTooLong {
            input: q(),
            component: qc(),
            len: component.len(),
            max: MAX_NAME_BYTES,
        });
    }
    if component.starts_with('-') {
        return Err(PathError::LeadingDash {
            input: q(),
            component: qc(),
        });
    }
    if os == HostOs::Windows {
        if component.ends_with('.') || component.ends_with(' ') {
            return Err(PathError::TrailingDotOrSpace {
                input: q(),
                component: qc(),
            });
        }
        if is_windows_reserved(component) {
            return Err(PathError::ReservedName {
                input: q(),
                component: qc(),
            });
        }
    }
    Ok(())
}

/// `CON`, `PRN`, `AUX`, `NUL`, `COM0`–`COM9`, `LPT0`–`LPT9` (also with superscript 1–3),
/// `CONIN$`, `CONOUT$`, `CLOCK$`: case-insensitive, with or without an extension, and with
/// trailing spaces before the extension (`nul .txt`).
fn is_windows_reserved(component: &str) -> bool {
    let stem = component
        .split('.')
        .next()
        .unwrap_or(component)
        .trim_end_matches(' ');
    let upper = stem.to_uppercase();
    if matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" | "CLOCK$"
    ) {
        return true;
    }
    for prefix in ["COM", "LPT"] {
        if let Some(rest) = upper.strip_prefix(prefix) {
            let mut chars = rest.chars();
            if let (Some(d), None) = (chars.next(), chars.next())
                && (d.is_ascii_digit() || matches!(d, '¹' | '²' | '³'))
            {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_nested_names() {
        let p = RelPath::parse("SDXL/juggernaut v9.safetensors", HostOs::Posix).unwrap();
        assert_eq!(
            p.components().collect::<Vec<_>>(),
            ["SDXL", "juggernaut v9.safetensors"]
        );
        assert_eq!(p.file_name(), Some("juggernaut v9.safetensors"));
        assert_eq!(p.parent().unwrap().as_str(), "SDXL");
        assert_eq!(
            p.to_os_string(HostOs::Windows),
            "SDXL\\juggernaut v9.safetensors"
        );
    }

    #[test]
    fn accepts_cjk_and_accents() {
        for ok in ["模型/流行.safetensors", "café.ckpt", "日本語モデル.pt"] {
            RelPath::parse(ok, HostOs::Posix).unwrap();
            RelPath::parse(ok, HostOs::Windows).unwrap();
        }
    }

    #[test]
    fn quoted_truncates_long_inputs() {
        let long = "a".repeat(5000);
        let q = Quoted::new(&long);
        assert!(q.as_str().ends_with('…'));
        assert!(q.as_str().len() < 210);
    }

    #[test]
    fn reserved_names() {
        for r in [
            "CON",
            "con.txt",
            "Nul",
            "nul .txt",
            "COM1",
            "lpt9.safetensors",
            "COM¹",
            "conin$",
        ] {
            assert!(is_windows_reserved(r), "{r}");
        }
        for ok in ["CONSOLE", "com10", "nullable", "lpt", "config.yaml"] {
            assert!(!is_windows_reserved(ok), "{ok}");
        }
    }
}
