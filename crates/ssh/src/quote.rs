//! Quoting one argv element for the remote shell that will parse the command line.
//!
//! SSH sends a single string; the remote user's shell splits it. Every argument is quoted so
//! that it reaches the program literally, whatever characters it holds.

use crate::SshError;

/// POSIX `sh`: wrap in single quotes, each `'` becomes `'\''`. Arguments made only of safe
/// characters are left bare so commands stay readable in logs.
pub fn posix(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        return arg.to_owned();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for c in arg.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Windows `cmd.exe` running a program that parses its command line with the MSVC rules.
///
/// `cmd.exe` has no quoting that disables `%VAR%` expansion inside double quotes, and `!` is
/// special with delayed expansion, so arguments holding `%`, `!`, `"`, a line break or a NUL are
/// refused instead of being quoted wrongly.
pub fn windows_cmd(arg: &str) -> Result<String, SshError> {
    for (bad, reason) in [
        ('%', "'%' triggers variable expansion even inside quotes"),
        ('!', "'!' triggers delayed expansion"),
        ('"', "'\"' cannot be escaped reliably through cmd.exe"),
        ('\n', "line breaks end the command"),
        ('\r', "line breaks end the command"),
        ('\0', "NUL cannot be passed"),
    ] {
        if arg.contains(bad) {
            return Err(SshError::Unquotable {
                arg: arg.to_owned(),
                reason,
            });
        }
    }
    if !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./\\:,+@=".contains(&b))
    {
        return Ok(arg.to_owned());
    }
    // Inside double quotes cmd.exe treats & | < > ^ ( ) literally. Backslashes before the
    // closing quote must be doubled for the MSVC argument parser.
    let trailing = arg.len() - arg.trim_end_matches('\\').len();
    let mut out = String::with_capacity(arg.len() + trailing + 2);
    out.push('"');
    out.push_str(arg);
    out.extend(std::iter::repeat_n('\\', trailing));
    out.push('"');
    Ok(out)
}

/// PowerShell: a single-quoted (verbatim) string; `'` and its typographic variants are doubled.
pub fn powershell(arg: &str) -> String {
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for c in arg.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}
