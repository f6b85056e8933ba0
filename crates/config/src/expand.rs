//! `${VAR}` expansion in string values, so secrets and host-specific paths can come from the
//! environment. As in POSIX sh and docker compose, `${VAR:-default}` gives the fallback when `VAR`
//! is unset or empty, `${VAR-default}` only when it is unset; `$${` writes a literal `${`, and a `$`
//! not followed by `{` is kept as is.

use thiserror::Error;

/// Why a string could not be expanded. The caller adds the key path.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExpandError {
    /// `${VAR}` names a variable that is not set (and no default was given).
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
            let reference = Reference::parse(&tail[..close])?;
            out.push_str(&reference.resolve(lookup)?);
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

/// What `${...}` asks for when its variable is unset or empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fallback<'a> {
    /// `${VAR}`: unset is an error, empty is empty.
    None,
    /// `${VAR-default}`: `default` when unset; empty stays empty.
    IfUnset(&'a str),
    /// `${VAR:-default}`: `default` when unset or empty.
    IfUnsetOrEmpty(&'a str),
}

/// The text between `${` and `}`, split into the variable name and its fallback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reference<'a> {
    name: &'a str,
    fallback: Fallback<'a>,
}

impl<'a> Reference<'a> {
    fn parse(inner: &'a str) -> Result<Self, ExpandError> {
        let name_len = inner
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(inner.len());
        let (name, operator) = inner.split_at(name_len);
        let fallback = if operator.is_empty() {
            Some(Fallback::None)
        } else if let Some(default) = operator.strip_prefix(":-") {
            Some(Fallback::IfUnsetOrEmpty(default))
        } else {
            operator.strip_prefix('-').map(Fallback::IfUnset)
        };
        match fallback {
            Some(fallback) if valid_name(name) => Ok(Self { name, fallback }),
            _ => Err(ExpandError::BadName {
                name: inner.to_owned(),
            }),
        }
    }

    fn resolve(self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
        match (lookup(self.name), self.fallback) {
            (Some(value), Fallback::IfUnsetOrEmpty(default)) if value.is_empty() => {
                Ok(default.to_owned())
            }
            (Some(value), _) => Ok(value),
            (None, Fallback::IfUnset(default) | Fallback::IfUnsetOrEmpty(default)) => {
                Ok(default.to_owned())
            }
            (None, Fallback::None) => Err(ExpandError::Unset {
                variable: self.name.to_owned(),
            }),
        }
    }
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
        assert_eq!(
            expand("${HOME}${HOME}", &env).as_deref(),
            Ok("/home/me/home/me")
        );
    }

    #[test]
    fn colon_dash_falls_back_when_unset_or_empty() {
        assert_eq!(expand("${NOPE:-x}", &env).as_deref(), Ok("x"));
        assert_eq!(expand("${EMPTY:-x}", &env).as_deref(), Ok("x"));
        assert_eq!(expand("${HOME:-x}", &env).as_deref(), Ok("/home/me"));
        assert_eq!(expand("${NOPE:-}", &env).as_deref(), Ok(""));
        assert_eq!(expand("${NOPE:-a-b:-c}/d", &env).as_deref(), Ok("a-b:-c/d"));
    }

    #[test]
    fn dash_falls_back_only_when_unset() {
        assert_eq!(expand("${NOPE-x}", &env).as_deref(), Ok("x"));
        assert_eq!(expand("${EMPTY-x}", &env).as_deref(), Ok(""));
        assert_eq!(expand("${HOME-x}", &env).as_deref(), Ok("/home/me"));
        assert_eq!(expand("${NOPE-:-x}", &env).as_deref(), Ok(":-x"));
    }

    #[test]
    fn empty_without_fallback_is_empty() {
        assert_eq!(expand("a${EMPTY}b", &env).as_deref(), Ok("ab"));
    }

    #[test]
    fn other_operators_are_bad_names() {
        for (input, inner) in [
            ("${HOME:x}", "HOME:x"),
            ("${HOME:=x}", "HOME:=x"),
            ("${HOME?}", "HOME?"),
            ("${:-x}", ":-x"),
            ("${-x}", "-x"),
            ("${}", ""),
        ] {
            assert_eq!(
                expand(input, &env),
                Err(ExpandError::BadName { name: inner.into() }),
                "{input}"
            );
        }
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
