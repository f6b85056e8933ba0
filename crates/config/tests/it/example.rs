//! The documented example file parses and documents every key of the schema.

use std::collections::BTreeSet;

use comfy_local_config::{Config, schema_key_paths, yaml_key_paths};

const EXAMPLE: &str = include_str!("../../../../local-support-config.yml.example");

#[test]
fn example_parses() {
    let config = Config::from_str_with_env(EXAMPLE, "local-support-config.yml.example", &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.default_instance().map(|i| i.id.as_str()),
        Some("local")
    );
}

/// Keys present in the example, plus keys shown commented out (`# key: value`) because they
/// exclude another key or are optional.
fn documented_keys() -> BTreeSet<String> {
    let mut keys: BTreeSet<String> = yaml_key_paths(EXAMPLE)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .collect();
    // A commented-out key line is indented like a real key; uncomment each on its own and
    // see which key path it adds.
    let lines: Vec<&str> = EXAMPLE.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(rest) = trimmed.strip_prefix("# ") else {
            continue;
        };
        let is_key = rest.split_once(':').is_some_and(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        });
        if !is_key {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let mut variant: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        variant[i] = format!("{}{}", " ".repeat(indent), rest);
        if let Ok(paths) = yaml_key_paths(&variant.join("\n")) {
            keys.extend(paths);
        }
    }
    keys
}

#[test]
fn example_documents_every_schema_key() {
    let documented = documented_keys();
    let missing: Vec<String> = schema_key_paths()
        .into_iter()
        .filter(|k| !documented.contains(k))
        .collect();
    assert!(
        missing.is_empty(),
        "keys missing from local-support-config.yml.example: {missing:?}"
    );
    let schema: BTreeSet<String> = schema_key_paths().into_iter().collect();
    let unknown: Vec<&String> = documented.iter().filter(|k| !schema.contains(*k)).collect();
    assert!(
        unknown.is_empty(),
        "example documents keys the schema lacks: {unknown:?}"
    );
}

#[test]
fn schema_walk_sees_nested_keys() {
    let keys = schema_key_paths();
    for expected in [
        "enabled",
        "local[].ssh.port",
        "local[].limits.max_upload_mb",
        "vastai.api_key_env",
    ] {
        assert!(
            keys.iter().any(|k| k == expected),
            "{expected} not in {keys:?}"
        );
    }
}

#[test]
fn every_key_line_has_a_comment() {
    let lines: Vec<&str> = EXAMPLE.lines().collect();
    let mut bare = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        if trimmed.starts_with('#') || !trimmed.contains(':') {
            continue;
        }
        let previous = lines[..i].iter().rev().find(|l| !l.trim().is_empty());
        let commented = line.contains(" # ")
            || previous.is_some_and(|p| p.trim_start().trim_start_matches("- ").starts_with('#'));
        if !commented {
            bare.push(format!("line {}: {line}", i + 1));
        }
    }
    assert!(
        bare.is_empty(),
        "keys without a comment:\n{}",
        bare.join("\n")
    );
}
