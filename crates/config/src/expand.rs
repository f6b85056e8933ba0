//! `${VAR}` expansion in string values, so secrets and host-specific paths can come from the
//! environment. `${VAR:-default}` gives a fallback, `$${` writes a literal `${`; a `$` not
//! followed by `{` is kept as is.

use thiserror::Error;

/// Why a string could not be expanded. The caller adds the key path.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExpandError {
    /// `${VAR}` names a variable that is not set (and no `:-default` was given).
    #[error(
        "environment variable `{variable}` is not set (referenced as `${{{variable}}}`); set it, give a default with `${{{variable}:-value}}`, or write `$${{` for a literal `${{`"
    )]
    Unset {
        /// The variable's name.
        variable: String,
    },
    /// A `${` without its closing `}`.
    #[error(
        "unterminated `${{` at byte {offset}: close it with `}}` or write `$${{` for a literal `${{`"
    )]
    Unterminated {
        /// Byte offset of the `$` in the value.
        offset: usize,
    },
    /// `${...}` whose name is not a valid environment variable name.
    #[error(
        "`${{{name}}}` is not a valid variable reference: names use letters, digits and `_` and do not start with a digit"
    )]
    BadName {
        /// The text between the braces.
        name: String,
    },
}

/// Expand `${VAR}` references in `input`, looking variables up with `lookup`.
pub fn expand(input: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    if !input.contains('$') {
        return Ok(input.to_owned());
    }
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    let mut offset = 0;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            offset += dollar + 3;
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let Some(close) = tail.find('}') else {
                return Err(ExpandError::Unterminated {
                    offset: offset + dollar,
                });
            };
            let inner = &tail[..close];
            let (name, default) = match inner.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (inner, None),
            };
            if !valid_name(name) {
                return Err(ExpandError::BadName {
                    name: inner.to_owned(),
                });
            }
            match (lookup(name), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => {
                    return Err(ExpandError::Unset {
                        variable: name.to_owned(),
                    });
                }
            }
            offset += dollar + 2 + close + 1;
            rest = &tail[close + 1..];
        } else {
            out.push('$');
            offset += dollar + 1;
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether `name` is a portable environment variable name.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/me".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_and_escapes() {
        assert_eq!(expand("${HOME}/k", &env).as_deref(), Ok("/home/me/k"));
        assert_eq!(expand("a$${HOME}b", &env).as_deref(), Ok("a${HOME}b"));
        assert_eq!(expand("$5 and $", &env).as_deref(), Ok("$5 and $"));
        assert_eq!(expand("${NOPE:-x}", &env).as_deref(), Ok("x"));
        assert_eq!(expand("${EMPTY:-x}", &env).as_deref(), Ok(""));
        assert_eq!(
            expand("${HOME}${HOME}", &env).as_deref(),
            Ok("/home/me/home/me")
        );
    }

    #[test]
    fn reports_problems() {
        assert_eq!(
            expand("x${NOPE}", &env),
            Err(ExpandError::Unset {
                variable: "NOPE".into()
            })
        );
        assert_eq!(
            expand("ab${HOME", &env),
            Err(ExpandError::Unterminated { offset: 2 })
        );
        assert_eq!(
            expand("${1X}", &env),
            Err(ExpandError::BadName { name: "1X".into() })
        );
    }
}
