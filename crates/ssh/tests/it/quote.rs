//! Quoting: POSIX quoting checked by the real `sh` (property test) and over SSH.

use comfy_local_ssh::{Command, Session, quote};
use comfy_local_test_support::Sshd;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn posix_quote_round_trips_through_sh(arg in "\\PC{0,40}") {
        prop_assume!(!arg.contains('\0'));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote::posix(&arg)))
            .output()
            .unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&out.stdout).into_owned(), arg);
    }
}

#[test]
fn hostile_arguments_round_trip_over_ssh() {
    let sshd = Sshd::shared();
    let s = Session::connect(&sshd.connect_options()).unwrap();
    for arg in [
        "",
        " ",
        "'",
        "''",
        "a'b",
        "\"",
        "$HOME",
        "${IFS}",
        "-n",
        "--",
        "a\nb",
        "\t",
        "*",
        "~root",
        "é ü 日本",
        "!!",
    ] {
        let out = s.exec(&Command::new("printf").arg("%s").arg(arg)).unwrap();
        assert_eq!(out.stdout_lossy(), arg, "argument {arg:?}");
    }
}

#[test]
fn nul_in_argument_is_refused() {
    assert!(Command::new("echo").arg("a\0b").to_command_line().is_err());
}
