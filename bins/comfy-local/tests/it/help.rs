//! `--help`, `--version` and usage errors.

use insta::assert_snapshot;

use crate::{run, temp_dir};

#[test]
fn long_help() {
    let (_g, dir) = temp_dir();
    assert_snapshot!(run(&["--help"], dir.as_std_path(), &[]).snapshot(&[]));
}

#[test]
fn short_help() {
    let (_g, dir) = temp_dir();
    assert_snapshot!(run(&["-h"], dir.as_std_path(), &[]).snapshot(&[]));
}

#[test]
fn config_check_help() {
    let (_g, dir) = temp_dir();
    assert_snapshot!(run(&["config", "check", "--help"], dir.as_std_path(), &[]).snapshot(&[]));
}

#[test]
fn version() {
    let (_g, dir) = temp_dir();
    assert_snapshot!(run(&["--version"], dir.as_std_path(), &[]).snapshot(&[]));
}

#[test]
fn unknown_subcommand_is_usage_error() {
    let (_g, dir) = temp_dir();
    assert_snapshot!(run(&["frobnicate"], dir.as_std_path(), &[]).snapshot(&[]));
}

#[test]
fn no_subcommand_is_usage_error() {
    let (_g, dir) = temp_dir();
    let result = run(&[], dir.as_std_path(), &[]);
    assert_eq!(result.code, 2, "{result:?}");
    assert!(result.stderr.contains("Usage: comfy-local"), "{result:?}");
}

#[test]
fn every_command_help_ends_with_examples() {
    let (_g, dir) = temp_dir();
    let commands: [&[&str]; 21] = [
        &["config", "check"],
        &["config", "init"],
        &["test-connection"],
        &["instances"],
        &["run"],
        &["workflow", "convert"],
        &["workflow", "deps"],
        &["install", "model"],
        &["install", "node"],
        &["install", "missing"],
        &["models"],
        &["nodes"],
        &["status"],
        &["free"],
        &["jobs"],
        &["jobs", "show"],
        &["jobs", "watch"],
        &["jobs", "cancel"],
        &["download"],
        &["upload"],
        &["completions"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let result = run(&args, dir.as_std_path(), &[]);
        assert_eq!(result.code, 0, "{args:?}: {result:?}");
        let examples = result
            .stdout
            .rfind("\nExample")
            .unwrap_or_else(|| panic!("{args:?} --help has no examples: {}", result.stdout));
        let tail = &result.stdout[examples..];
        assert!(
            tail.lines().any(|l| l.contains("comfy-local ")),
            "{args:?}: the examples name no command: {tail}"
        );
    }
}
