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
