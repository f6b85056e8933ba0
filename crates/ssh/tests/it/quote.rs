//! Quoting: POSIX quoting checked by the real `sh` (property test) and over SSH; Windows quoters
//! checked for their refusals and shape.

use comfy_local_ssh::{Command, RemoteShell, Session, quote};
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
fn windows_cmd_refuses_what_it_cannot_quote() {
    for bad in ["100%", "a!b", "say \"hi\"", "a\nb"] {
        assert!(
            quote::windows_cmd(bad).is_err(),
            "{bad:?} should be refused"
        );
    }
    assert_eq!(
        quote::windows_cmd(r"C:\ComfyUI\models").unwrap(),
        r"C:\ComfyUI\models"
    );
    assert_eq!(quote::windows_cmd("a & b").unwrap(), "\"a & b\"");
    assert_eq!(
        quote::windows_cmd(r"dir with space\").unwrap(),
        r#""dir with space\\""#
    );
    let cmd = Command::new("type")
        .arg("a|b")
        .shell(RemoteShell::WindowsCmd);
    assert_eq!(cmd.to_command_line().unwrap(), "type \"a|b\"");
    let cmd = Command::new("type")
        .arg("50%")
        .shell(RemoteShell::WindowsCmd);
    assert!(cmd.to_command_line().is_err());
}

#[test]
fn powershell_quotes_verbatim() {
    assert_eq!(quote::powershell("it's $x"), "'it''s $x'");
    assert_eq!(quote::powershell("a\u{2019}b"), "'a\u{2019}\u{2019}b'");
    let cmd = Command::new("Get-Item")
        .arg("C:\\a b")
        .shell(RemoteShell::PowerShell);
    assert_eq!(cmd.to_command_line().unwrap(), "& 'Get-Item' 'C:\\a b'");
}

#[test]
fn nul_in_argument_is_refused() {
    assert!(Command::new("echo").arg("a\0b").to_command_line().is_err());
}
