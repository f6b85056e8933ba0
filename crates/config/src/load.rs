//! Loading: read the file, parse YAML, reject unknown keys (with suggestions), expand `${VAR}`,
//! deserialise into the typed [`Config`], then check what spans several keys.

use std::collections::{HashMap, HashSet};

use camino::{Utf8Path, Utf8PathBuf};
use serde_yaml::Value;

use crate::error::{ConfigError, Problem, ProblemKind, Warning, WarningKind};
use crate::expand::{self, expand};
use crate::keyfile::ensure_private_key_usable;
use crate::keypath::{KeyPath, Segment};
use crate::schema::{Config, HostKeyPolicy, SshSettings, VastAiSsh};
use crate::source::{ConfigSource, resolve_config_path};
use crate::spans::Spans;

/// A loaded, validated config with where it came from and what looks wrong.
#[derive(Debug)]
pub struct LoadedConfig {
    /// The config.
    pub config: Config,
    /// The file it was read from.
    pub path: Utf8PathBuf,
    /// How that file was chosen.
    pub source: ConfigSource,
    /// Problems that do not stop loading (key files, `known_hosts`, API key).
    pub warnings: Vec<Warning>,
}

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Config {
    /// Find the config file (`explicit`, else `$COMFY_LOCAL_CONFIG`, else
    /// `./local-support-config.yml`, else `/app/local-support-config.yml`) and load it.
    pub fn load(explicit: Option<&Utf8Path>) -> Result<LoadedConfig, ConfigError> {
        let (path, source) = resolve_config_path(explicit)?;
        Self::load_file(&path, source)
    }

    /// Load a given file. Relative `key_file`, `known_hosts_file` and `known_hosts_dir` paths
    /// are taken relative to the file's directory.
    pub fn load_file(path: &Utf8Path, source: ConfigSource) -> Result<LoadedConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                ConfigError::Missing {
                    path: path.to_owned(),
                    from: source,
                }
            } else {
                ConfigError::Read {
                    path: path.to_owned(),
                    from: source,
                    source: error,
                }
            }
        })?;
        let mut config = Self::from_str_named(&text, path.as_str())?;
        if let Some(base) = path.parent().filter(|p| !p.as_str().is_empty()) {
            config.resolve_relative_paths(base);
        }
        let warnings = config.check();
        Ok(LoadedConfig {
            config,
            path: path.to_owned(),
            source,
            warnings,
        })
    }

    /// Parse and validate config text; `name` is used in messages. `${VAR}` comes from the
    /// process environment.
    pub fn from_str_named(text: &str, name: &str) -> Result<Self, ConfigError> {
        Self::from_str_with_env(text, name, &|var| std::env::var(var).ok())
    }

    /// [`Self::from_str_named`] with a custom environment lookup.
    pub fn from_str_with_env(
        text: &str,
        name: &str,
        lookup: Lookup<'_>,
    ) -> Result<Self, ConfigError> {
        parse(text, lookup).map_err(|mut problems| {
            // In file order; problems without a position last.
            problems.sort_by_key(|p| p.location.map_or((usize::MAX, 0), |l| (l.line, l.column)));
            ConfigError::Invalid {
                name: name.to_owned(),
                problems,
            }
        })
    }

    /// Make relative local paths (key and `known_hosts` files, `vastai.ssh`'s key file and
    /// `known_hosts` folder) relative to `base`.
    pub fn resolve_relative_paths(&mut self, base: &Utf8Path) {
        for instance in &mut self.local {
            let ssh = &mut instance.ssh;
            if ssh.key_file.is_relative() && !ssh.key_file.as_str().is_empty() {
                ssh.key_file = base.join(&ssh.key_file);
            }
            if let Some(file) = &mut ssh.known_hosts_file
                && file.is_relative()
            {
                *file = base.join(&*file);
            }
        }
        let vast = &mut self.vastai.ssh;
        for path in [&mut vast.key_file, &mut vast.known_hosts_dir]
            .into_iter()
            .flatten()
        {
            if path.is_relative() && !path.as_str().is_empty() {
                *path = base.join(&*path);
            }
        }
    }

    /// Problems that do not stop loading but will stop a connection: unusable key files, a
    /// missing `known_hosts` file under the strict policy, a `VastAI` key not available.
    pub fn check(&self) -> Vec<Warning> {
        self.check_with(&|var| std::env::var(var).ok())
    }

    /// [`Self::check`] with a custom environment lookup.
    pub fn check_with(&self, lookup: Lookup<'_>) -> Vec<Warning> {
        let mut warnings = Vec::new();
        for (i, instance) in self.local.iter().enumerate() {
            let ssh_path = KeyPath::root().key("local").index(i).key("ssh");
            let ssh = &instance.ssh;
            if let Err(error) = ensure_private_key_usable(&ssh.key_file) {
                warnings.push(Warning {
                    path: ssh_path.key("key_file"),
                    kind: WarningKind::KeyFile(error),
                });
            }
            if let (None, Some(file), HostKeyPolicy::Strict) = (
                &ssh.host_key_fingerprint,
                &ssh.known_hosts_file,
                ssh.host_key_policy,
            ) && !file.exists()
            {
                warnings.push(Warning {
                    path: ssh_path.key("known_hosts_file"),
                    kind: WarningKind::KnownHostsMissing { path: file.clone() },
                });
            }
        }
        let vast = KeyPath::root().key("vastai");
        if let Some(key_file) = &self.vastai.ssh.key_file
            && let Err(error) = ensure_private_key_usable(key_file)
        {
            warnings.push(Warning {
                path: vast.key("ssh").key("key_file"),
                kind: WarningKind::KeyFile(error),
            });
        }
        if self.vastai.api_key.is_some() && self.vastai.allow_inline_api_key {
            warnings.push(Warning {
                path: vast.key("api_key"),
                kind: WarningKind::InlineApiKey,
            });
        }
        if self.vastai.enabled
            && let Err(error) = self.vastai.api_key_with(lookup)
        {
            warnings.push(Warning {
                path: vast.key("api_key_env"),
                kind: WarningKind::ApiKey(error),
            });
        }
        warnings
    }
}

/// The whole pipeline; every problem found, or the config.
fn parse(text: &str, lookup: Lookup<'_>) -> Result<Config, Vec<Problem>> {
    let mut value: Value = serde_yaml::from_str(text).map_err(|error| {
        vec![Problem {
            path: KeyPath::root(),
            location: error.location().map(|l| crate::keypath::Location {
                line: l.line(),
                column: l.column(),
            }),
            kind: ProblemKind::Syntax {
                message: error.to_string(),
            },
        }]
    })?;
    if value.is_null() {
        return Err(vec![Problem {
            path: KeyPath::root(),
            location: None,
            kind: ProblemKind::Empty,
        }]);
    }
    let spans = Spans::build(text);
    if let Err(error) = value.apply_merge() {
        return Err(vec![Problem {
            path: KeyPath::root(),
            location: None,
            kind: ProblemKind::Syntax {
                message: error.to_string(),
            },
        }]);
    }

    let mut problems = Vec::new();
    if let Ok(schema) = serde_yaml::to_value(Config::schema_sample()) {
        unknown_keys(&mut value, &schema, &KeyPath::root(), &spans, &mut problems);
    }
    let mut expanded = HashSet::new();
    expand_all(
        &mut value,
        &KeyPath::root(),
        lookup,
        &spans,
        &mut problems,
        &mut expanded,
    );
    // Keep going after unknown keys and bad references: one run should show every problem
    // that can be found, not one per attempt.
    let config: Option<Config> = match serde_path_to_error::deserialize(value) {
        Ok(config) => Some(config),
        Err(error) => {
            let path = convert_path(error.path());
            let message = friendlier(&error.inner().to_string());
            let missing = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.strip_suffix('`'));
            // "missing field `key_file`" after "unknown key `keyfile` (did you mean `key_file`?)"
            // says the same thing twice.
            // A value whose `${VAR}` could not be expanded was already reported.
            let bad_reference = problems
                .iter()
                .any(|p| p.path == path && matches!(p.kind, ProblemKind::Expand(_)));
            let already_said = bad_reference || missing.is_some_and(|field| {
                problems.iter().any(|p| {
                    p.path.parent() == path
                        && matches!(&p.kind, ProblemKind::UnknownKey { suggestion: Some(s), .. } if s == field)
                })
            });
            let location = if missing.is_some() || message.starts_with("no value given") {
                spans.key(&path)
            } else {
                spans.value(&path)
            };
            if !already_said {
                problems.push(Problem {
                    path,
                    location,
                    kind: ProblemKind::Invalid { message },
                });
            }
            None
        }
    };
    match config {
        Some(config) => {
            problems.extend(semantic_problems(&config, &spans, &expanded));
            if problems.is_empty() {
                Ok(config)
            } else {
                Err(problems)
            }
        }
        None => Err(problems),
    }
}

/// serde's wording made plainer where it is cryptic for a config file.
fn friendlier(message: &str) -> String {
    message
        .replace("invalid type: unit value", "no value given")
        .replace(
            "expected a nonzero u64",
            "expected a whole number of at least 1",
        )
        .replace("expected u64", "expected a whole number")
        .replace(
            "expected struct Config",
            "expected a mapping of settings (`enabled:`, `local:`, `vastai:`)",
        )
}

fn convert_path(path: &serde_path_to_error::Path) -> KeyPath {
    let mut out = KeyPath::root();
    for segment in path {
        out = match segment {
            serde_path_to_error::Segment::Seq { index } => out.index(*index),
            serde_path_to_error::Segment::Map { key } => out.key(key),
            serde_path_to_error::Segment::Enum { variant } => out.key(variant),
            serde_path_to_error::Segment::Unknown => out,
        };
    }
    out
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .map_or_else(|_| String::from("?"), |s| s.trim_end().to_owned()),
    }
}

/// Report keys of `value` that `schema` does not have and drop them, recursing where both
/// agree on shape, so that deserialising the rest can report further problems.
fn unknown_keys(
    value: &mut Value,
    schema: &Value,
    path: &KeyPath,
    spans: &Spans,
    out: &mut Vec<Problem>,
) {
    match (value, schema) {
        (Value::Mapping(map), Value::Mapping(known)) => {
            for (key, child) in map.iter_mut() {
                let name = key_text(key);
                let child_path = path.key(&name);
                match known.get(key) {
                    Some(known_child) => unknown_keys(child, known_child, &child_path, spans, out),
                    None => out.push(Problem {
                        location: spans.key(&child_path),
                        kind: ProblemKind::UnknownKey {
                            suggestion: suggest(&name, known),
                            key: name,
                            expected: known.keys().map(key_text).collect(),
                        },
                        path: child_path,
                    }),
                }
            }
            map.retain(|key, _| known.contains_key(key));
        }
        (Value::Sequence(items), Value::Sequence(known)) => {
            if let Some(known_item) = known.first() {
                for (i, item) in items.iter_mut().enumerate() {
                    unknown_keys(item, known_item, &path.index(i), spans, out);
                }
            }
        }
        (Value::Tagged(tagged), _) => unknown_keys(&mut tagged.value, schema, path, spans, out),
        _ => {}
    }
}

/// The known key closest to `name`, or the nested key it probably belongs under
/// (`port` at the instance level -> `ssh.port`).
fn suggest(name: &str, known: &serde_yaml::Mapping) -> Option<String> {
    let lowered = name.to_ascii_lowercase().replace('-', "_");
    let best = known
        .keys()
        .filter_map(|k| k.as_str())
        .map(|k| (strsim::jaro_winkler(&lowered, k), k))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((score, key)) = best
        && score >= 0.8
    {
        return Some(key.to_owned());
    }
    known.iter().find_map(|(parent, child)| {
        let parent = parent.as_str()?;
        let child = match child {
            Value::Sequence(items) => items.first()?,
            other => other,
        };
        child
            .as_mapping()?
            .keys()
            .filter_map(|k| k.as_str())
            .find(|k| *k == lowered)
            .map(|k| format!("{parent}.{k}"))
    })
}

/// Expand `${VAR}` in every string value, remembering which paths used a reference.
fn expand_all(
    value: &mut Value,
    path: &KeyPath,
    lookup: Lookup<'_>,
    spans: &Spans,
    out: &mut Vec<Problem>,
    expanded: &mut HashSet<KeyPath>,
) {
    match value {
        Value::String(text) => {
            if !text.contains("${") {
                return;
            }
            match expand(text, lookup) {
                Ok(result) => {
                    if !text.contains("$${") || text.replace("$${", "").contains("${") {
                        expanded.insert(path.clone());
                    }
                    *text = result;
                }
                Err(error) => out.push(Problem {
                    path: path.clone(),
                    location: spans.value(path),
                    kind: ProblemKind::Expand(error),
                }),
            }
        }
        Value::Mapping(map) => {
            for (key, child) in map.iter_mut() {
                expand_all(
                    child,
                    &path.key(&key_text(key)),
                    lookup,
                    spans,
                    out,
                    expanded,
                );
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_all(item, &path.index(i), lookup, spans, out, expanded);
            }
        }
        Value::Tagged(tagged) => expand_all(&mut tagged.value, path, lookup, spans, out, expanded),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Checks that involve more than one value.
fn semantic_problems(config: &Config, spans: &Spans, expanded: &HashSet<KeyPath>) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut push = |path: KeyPath, key_location: bool, kind: ProblemKind| {
        let mut location = if key_location {
            spans.key(&path)
        } else {
            spans.value(&path)
        };
        // A key left to its default has no position: point at the nearest written parent.
        let mut parent = path.parent();
        while location.is_none() && !parent.is_root() {
            location = spans.key(&parent);
            parent = parent.parent();
        }
        out.push(Problem {
            path,
            location,
            kind,
        });
    };
    let local = KeyPath::root().key("local");
    if config.enabled && config.local.is_empty() {
        push(local.clone(), true, ProblemKind::NoLocalInstance);
    }
    let mut seen: HashMap<&str, KeyPath> = HashMap::new();
    for (i, instance) in config.local.iter().enumerate() {
        let at = local.index(i);
        let id_path = at.key("id");
        if let Some(first) = seen.get(instance.id.as_str()) {
            push(
                id_path,
                false,
                ProblemKind::DuplicateId {
                    id: instance.id.to_string(),
                    first: first.clone(),
                },
            );
        } else {
            seen.insert(instance.id.as_str(), id_path);
        }
        ssh_problems(&instance.ssh, &at.key("ssh"), &mut push);
    }
    let vast = KeyPath::root().key("vastai");
    if !expand::valid_name(&config.vastai.api_key_env) {
        push(
            vast.key("api_key_env"),
            false,
            ProblemKind::BadEnvName {
                name: config.vastai.api_key_env.clone(),
            },
        );
    }
    vastai_ssh_problems(&config.vastai.ssh, &vast.key("ssh"), &mut push);
    let resources = KeyPath::root().key("resources");
    for (key, name) in [
        (
            "huggingface_token_env",
            &config.resources.huggingface_token_env,
        ),
        ("civitai_token_env", &config.resources.civitai_token_env),
    ] {
        if let Some(name) = name
            && !expand::valid_name(name)
        {
            push(
                resources.key(key),
                false,
                ProblemKind::BadEnvName { name: name.clone() },
            );
        }
    }
    let key_path = vast.key("api_key");
    if config.vastai.api_key.is_some()
        && !config.vastai.allow_inline_api_key
        && !expanded.contains(&key_path)
    {
        push(key_path, true, ProblemKind::InlineApiKey);
    }
    out
}

/// Checks of the `vastai.ssh` section: no empty paths, the key and the `known_hosts` folder
/// together or neither.
fn vastai_ssh_problems(
    s: &VastAiSsh,
    vast_ssh: &KeyPath,
    push: &mut impl FnMut(KeyPath, bool, ProblemKind),
) {
    for (key, path) in [
        ("key_file", &s.key_file),
        ("known_hosts_dir", &s.known_hosts_dir),
    ] {
        if path.as_ref().is_some_and(|p| p.as_str().is_empty()) {
            push(vast_ssh.key(key), false, ProblemKind::EmptyPath);
        }
    }
    match (&s.key_file, &s.known_hosts_dir) {
        (Some(_), None) => push(
            vast_ssh.key("key_file"),
            true,
            ProblemKind::VastAiSshIncomplete {
                missing: "known_hosts_dir",
            },
        ),
        (None, Some(_)) => push(
            vast_ssh.key("known_hosts_dir"),
            true,
            ProblemKind::VastAiSshIncomplete {
                missing: "key_file",
            },
        ),
        _ => {}
    }
}

/// Checks of one instance's `ssh` section.
fn ssh_problems(s: &SshSettings, ssh: &KeyPath, push: &mut impl FnMut(KeyPath, bool, ProblemKind)) {
    if s.user.as_str() == "root" {
        push(ssh.key("user"), false, ProblemKind::RootUser);
    }
    if s.key_file.as_str().is_empty() {
        push(ssh.key("key_file"), false, ProblemKind::EmptyPath);
    }
    if s.known_hosts_file
        .as_ref()
        .is_some_and(|f| f.as_str().is_empty())
    {
        push(ssh.key("known_hosts_file"), false, ProblemKind::EmptyPath);
    }
    match (&s.known_hosts_file, &s.host_key_fingerprint) {
        (None, None) => push(ssh.clone(), true, ProblemKind::NoHostKeySource),
        (Some(_), Some(_)) => {
            push(
                ssh.key("host_key_fingerprint"),
                true,
                ProblemKind::BothHostKeySources,
            );
        }
        (None, Some(_)) if s.host_key_policy == HostKeyPolicy::AcceptNew => {
            push(
                ssh.key("host_key_policy"),
                false,
                ProblemKind::AcceptNewWithFingerprint,
            );
        }
        _ => {}
    }
}

/// Key paths in the order they appear under `value` (used by tests on the example file).
pub fn key_paths(value: &Value) -> Vec<String> {
    fn walk(value: &Value, path: &KeyPath, out: &mut Vec<String>) {
        match value {
            Value::Mapping(map) => {
                for (key, child) in map {
                    let child_path = path.key(&key_text(key));
                    out.push(generic(&child_path));
                    walk(child, &child_path, out);
                }
            }
            Value::Sequence(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &path.index(i), out);
                }
            }
            _ => {}
        }
    }
    fn generic(path: &KeyPath) -> String {
        let mut text = String::new();
        for segment in path.segments() {
            match segment {
                Segment::Key(k) if text.is_empty() => text.push_str(k),
                Segment::Key(k) => {
                    text.push('.');
                    text.push_str(k);
                }
                Segment::Index(_) => text.push_str("[]"),
            }
        }
        text
    }
    let mut out = Vec::new();
    walk(value, &KeyPath::root(), &mut out);
    out
}

/// Every key path of the schema, `local[].ssh.port` style.
pub fn schema_key_paths() -> Vec<String> {
    serde_yaml::to_value(Config::schema_sample())
        .map(|v| key_paths(&v))
        .unwrap_or_default()
}

/// Key paths present in a YAML text (for checking the example documents every key).
pub fn yaml_key_paths(text: &str) -> Result<Vec<String>, String> {
    let value: Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    Ok(key_paths(&value))
}
