//! Terminal safety: text from servers (node ids, prompt ids, error messages, device names) and
//! from workflow files never reaches the terminal as control characters.
//!
//! Two layers: [`Escaping`] wraps stdout and stderr and turns every control character except
//! `\n` and `\t` (C0, DEL, C1, and the bidi overrides that reorder what a line shows) into a
//! visible `\u001b`-style escape, so no escape sequence (clear screen, window title, OSC 52
//! clipboard writes) can pass; the escape is also a valid JSON string escape, so `--json` output
//! stays JSON. [`one_line`] additionally escapes `\n`, `\r` and `\t` in a single field, so a
//! server cannot start a line of its own (a fake `PASS` row).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Whether `c` must not reach a terminal as is (besides `\n` and `\t`, which [`Escaping`] keeps).
fn is_dangerous(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, c: char) {
    let _ = write!(out, "\\u{:04x}", u32::from(c));
}

/// `s` with every dangerous character escaped, `\n`, `\r` and `\t` included: one line.
pub fn one_line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_dangerous) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_dangerous(c) => push_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `s` with every dangerous character but `\n` and `\t` escaped.
fn keep_lines(s: &str) -> Cow<'_, str> {
    let keep = |c: char| c == '\n' || c == '\t';
    if !s.chars().any(|c| is_dangerous(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_dangerous(c) && !keep(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A multi-line text (an error and its causes) for a terminal: escaped as [`Escaping`] does,
/// and every line after the first indented, so no line of it can pass for a line of ours.
pub fn indented(s: &str) -> String {
    keep_lines(s).replace('\n', "\n  ")
}

/// A writer that escapes what a terminal must not see (see the module doc) and passes the rest.
///
/// Everything this program writes is UTF-8 text; a write that is not (a chunk cut inside a
/// character) is held back until the rest of the character arrives.
#[derive(Debug)]
pub struct Escaping<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> Escaping<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Escaping {
            inner,
            pending: Vec::new(),
        }
    }
}

impl<W: Write> Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let mut out = String::new();
        let mut done = 0;
        loop {
            let rest = &self.pending[done..];
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(&keep_lines(s));
                    done = self.pending.len();
                    break;
                }
                // An unfinished character at the end waits for the next write.
                Err(e) if e.error_len().is_none() => {
                    let good = e.valid_up_to();
                    out.push_str(&keep_lines(
                        std::str::from_utf8(&rest[..good]).unwrap_or_default(),
                    ));
                    done += good;
                    break;
                }
                // Not UTF-8 at all: the bad bytes are shown escaped, never raw.
                Err(e) => {
                    let good = e.valid_up_to();
                    out.push_str(&keep_lines(
                        std::str::from_utf8(&rest[..good]).unwrap_or_default(),
                    ));
                    for b in &rest[good..good + e.error_len().unwrap_or(1)] {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                    done += good + e.error_len().unwrap_or(1);
                }
            }
        }
        self.pending.drain(..done);
        self.inner.write_all(out.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(chunks: &[&[u8]]) -> String {
        let mut w = Escaping::new(Vec::new());
        for c in chunks {
            w.write_all(c).unwrap();
        }
        String::from_utf8(w.inner).unwrap()
    }

    #[test]
    fn escape_sequences_are_shown_not_sent() {
        let hostile = "\x1b[2J\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\u{9b}31m\u{202e}txt.exe\r";
        let out = through(&[hostile.as_bytes()]);
        assert!(!out.chars().any(is_dangerous), "{out:?}");
        assert_eq!(
            out,
            "\\u001b[2J\\u001b]0;pwned\\u0007\\u001b]52;c;ZXZpbA==\\u0007\\u009b31m\\u202etxt.exe\\u000d"
        );
    }

    #[test]
    fn plain_text_lines_and_tabs_pass_unchanged() {
        let text = "PASS  TCP connect\t1.0 ms\nnœud 7: fini ✓\n";
        assert_eq!(through(&[text.as_bytes()]), text);
    }

    #[test]
    fn a_character_split_across_writes_is_kept_whole() {
        let bytes = "é\u{9b}".as_bytes();
        assert_eq!(
            through(&[&bytes[..1], &bytes[1..3], &bytes[3..]]),
            "é\\u009b"
        );
    }

    #[test]
    fn invalid_utf8_is_escaped() {
        assert_eq!(through(&[b"a\xff\x1bb"]), "a\\xff\\u001bb");
    }

    #[test]
    fn escaped_json_stays_json() {
        let value = serde_json::json!({"node": "7\u{9b}\u{202e}"});
        let out = through(&[value.to_string().as_bytes()]);
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn one_line_fields_cannot_start_a_line() {
        assert_eq!(one_line("5\nPASS  fake"), "5\\nPASS  fake");
        assert_eq!(one_line("ok"), "ok");
        assert_eq!(indented("a\nPASS b\x1b"), "a\n  PASS b\\u001b");
    }
}
