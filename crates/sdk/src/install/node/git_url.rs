//! A custom node's repository URL and ref, checked before anything runs: parsed with the `url`
//! crate, only `https`, `ssh` and `git` schemes, only hosts the config allows, no password, and
//! a folder name taken from the repository's last path segment that remote-fs accepts.

use comfy_local_config::GitHost;
use comfy_local_remote_fs::{HostOs, Name};
use url::Url;

use super::error::NodeError;

/// Prefix of the temporary folder a node is prepared in (`custom_nodes/.comfy-local-tmp-<name>`);
/// node names may not start with a dot, so no node can collide with it.
pub const TEMP_PREFIX: &str = ".comfy-local-tmp-";

/// A repository a node may be installed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// What `git clone` is given (the parsed URL, serialised by the `url` crate).
    pub url: Url,
    /// The folder under `custom_nodes/`: the last path segment without `.git`.
    pub name: Name,
}

impl GitSource {
    /// Checks `input` against the allowed hosts and derives the folder name.
    pub fn parse(input: &str, allowed: &[GitHost], os: HostOs) -> Result<Self, NodeError> {
        let bad = |reason: String| NodeError::BadUrl {
            input: shown(input),
            reason,
        };
        let url = Url::parse(input).map_err(|e| {
            bad(if input.contains("://") {
                e.to_string()
            } else {
                format!("{e} (write scp-style git@host:owner/repo as ssh://git@host/owner/repo)")
            })
        })?;
        if !matches!(url.scheme(), "https" | "ssh" | "git") {
            return Err(bad(format!(
                "the scheme is {}; use https://, ssh:// or git://",
                url.scheme()
            )));
        }
        if url.password().is_some() {
            return Err(bad(
                "it holds a password; give the URL without it".to_owned()
            ));
        }
        if !url.username().is_empty() && url.scheme() != "ssh" {
            return Err(bad("only ssh:// URLs may name a user".to_owned()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("it has a query or fragment".to_owned()));
        }
        let host = url.host_str().unwrap_or_default();
        if !allowed.iter().any(|h| h.as_str() == host) {
            return Err(NodeError::HostNotAllowed {
                host: host.to_owned(),
                allowed: allowed.iter().map(ToString::to_string).collect(),
            });
        }
        let last = url
            .path_segments()
            .and_then(|mut s| s.rfind(|seg| !seg.is_empty()))
            .unwrap_or_default();
        let stem = last.strip_suffix(".git").unwrap_or(last);
        let name = node_name(stem, os).map_err(|reason| NodeError::BadName {
            name: stem.to_owned(),
            reason,
        })?;
        Ok(GitSource { url, name })
    }
}

/// A folder name for a node: remote-fs's name rules, and no leading dot (`.git`, and the
/// temporary folders, are not nodes).
pub fn node_name(text: &str, os: HostOs) -> Result<Name, String> {
    if text.is_empty() {
        return Err("the URL names no repository".to_owned());
    }
    if text.starts_with('.') {
        return Err("it starts with a dot".to_owned());
    }
    Name::parse(text, os).map_err(|e| e.to_string())
}

/// The user's URL as shown in errors: a password in it replaced, control characters escaped.
fn shown(input: &str) -> String {
    match Url::parse(input) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("<redacted>"));
            u.to_string()
        }
        Ok(_) => input.to_owned(),
        // Unparsable: whatever follows `:` before an `@` may be a password.
        Err(_) => match input.rsplit_once('@') {
            Some((_, host)) => format!("<redacted>@{host}"),
            None => input.to_owned(),
        },
    }
    .escape_debug()
    .to_string()
}

/// A checked `--ref` (see [`check_ref`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef(String);

impl GitRef {
    pub fn parse(text: &str) -> Result<Self, NodeError> {
        check_ref(text)?;
        Ok(GitRef(text.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A `--ref`: a branch, tag or commit as git spells them; nothing git could read as an option,
/// a revision expression (`..`, `@{`, `^`, `~`, `:`) or a path outside the repository.
pub fn check_ref(text: &str) -> Result<(), NodeError> {
    let bad = |reason: &str| NodeError::BadRef {
        input: text.escape_debug().to_string(),
        reason: reason.to_owned(),
    };
    if text.is_empty() || text.len() > 255 {
        return Err(bad("give 1 to 255 characters"));
    }
    if text.starts_with(['-', '/', '.']) || text.ends_with(['/', '.']) {
        return Err(bad(
            "it may not start with '-', '/' or '.', or end with '/' or '.'",
        ));
    }
    if text.contains("..") || text.contains("//") || text.to_ascii_lowercase().ends_with(".lock") {
        return Err(bad(
            "'..', '//' and a '.lock' suffix are not allowed in refs",
        ));
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '+'))
    {
        return Err(bad("use letters, digits, '-', '_', '.', '+' and '/' only"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<GitHost> {
        ["github.com", "127.0.0.1"]
            .iter()
            .map(|h| GitHost::try_from(*h).unwrap())
            .collect()
    }

    fn parse(input: &str) -> Result<GitSource, NodeError> {
        GitSource::parse(input, &hosts(), HostOs::Posix)
    }

    #[test]
    fn names_come_from_the_last_segment() {
        for (url, name) in [
            (
                "https://github.com/comfyanonymous/ComfyUI_example.git",
                "ComfyUI_example",
            ),
            ("https://github.com/a/b/", "b"),
            ("ssh://git@github.com/a/Node-X.git", "Node-X"),
            ("git://127.0.0.1:9418/repo.git", "repo"),
            ("https://GitHub.com/a/b", "b"),
        ] {
            assert_eq!(parse(url).unwrap().name.as_str(), name, "{url}");
        }
    }

    #[test]
    fn other_hosts_schemes_and_hostile_names_are_refused() {
        for url in [
            "https://gitlab.com/a/b",
            "https://github.com.evil.example/a/b",
            "https://evil.example/github.com/b",
            "https://sub.github.com/a/b",
            "file:///tmp/repo",
            "http://github.com/a/b",
            "ext::sh -c touch% /tmp/x",
            "git@github.com:a/b.git",
            "https://user:pw@github.com/a/b",
            "https://user@github.com/a/b",
            "https://github.com/a/b?x=1",
            "https://github.com/a/.git",
            "https://github.com/a/.hidden",
            "https://github.com/a/..",
            "https://github.com/a/%2e%2e",
            "https://github.com/a/-rf",
            "https://github.com/a/x%2Fy",
            "https://github.com/",
            "https://github.com/a/.git/",
        ] {
            assert!(parse(url).is_err(), "{url} accepted");
        }
    }

    #[test]
    fn refs_that_git_could_misread_are_refused() {
        for r in ["main", "v1.2.3", "feature/x", "0123abcd"] {
            check_ref(r).unwrap();
        }
        for r in [
            "",
            "-c",
            "--upload-pack=x",
            "a..b",
            "HEAD@{1}",
            "a^",
            "a~1",
            "a:b",
            "/x",
            "x.lock",
            "a b",
        ] {
            assert!(check_ref(r).is_err(), "{r:?} accepted");
        }
    }

    #[test]
    fn a_password_never_reaches_the_message() {
        let e = parse("https://user:hunter2@github.com/a/b").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = parse("https://user:hunter2@[bad/a/b").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
