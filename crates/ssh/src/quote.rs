//! Quoting one argv element for the POSIX shell (`sh`, `bash`, `dash`, `zsh`) that will parse the
//! command line.
//!
//! SSH sends a single string; the remote user's shell splits it. Every argument is quoted so
//! that it reaches the program literally, whatever characters it holds.

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
