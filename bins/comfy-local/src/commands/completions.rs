//! `comfy-local completions SHELL`: a completion script generated from the command line's
//! own definition (`clap_complete`), so it always matches the binary.

use std::io::Write;

use clap::CommandFactory as _;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionShell, CompletionsArgs, GlobalArgs};
use crate::exit::{Code, Failure};

/// Write the script on `stdout` (a script, so `--json` is refused).
pub fn run(
    global: &GlobalArgs,
    args: &CompletionsArgs,
    stdout: &mut dyn Write,
) -> anyhow::Result<()> {
    if global.json {
        return Err(Failure {
            code: Code::Usage,
            message: "completions prints a shell script, not JSON".to_owned(),
            hint: Some("drop --json".to_owned()),
            json_printed: false,
        }
        .into());
    }
    let shell = match args.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "comfy-local", &mut script);
    stdout.write_all(&script)?;
    Ok(())
}
