//! `comfy-local completions SHELL`: a completion script generated from the command line's
//! own definition (`clap_complete`), so it always matches the binary.

use std::io::Write;

use clap::CommandFactory as _;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionShell, CompletionsArgs};

/// Write the script on `stdout`.
pub fn run(args: &CompletionsArgs, stdout: &mut dyn Write) -> anyhow::Result<()> {
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
