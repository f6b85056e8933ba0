//! One module per subcommand; `run` dispatches. Commands write to the given streams (never
//! straight to the process's), so tests and callers can capture them.

mod config;
mod instances;
mod test_connection;

use std::io::Write;

use crate::cli::{Cli, Command, ConfigCommand};

/// Run the parsed command line.
pub fn run(cli: &Cli, stdout: &mut dyn Write, stderr: &mut dyn Write) -> anyhow::Result<()> {
    match &cli.command {
        Command::Config(ConfigCommand::Check(args)) => {
            config::check(&cli.global, args, stdout, stderr)
        }
        Command::Instances => instances::run(&cli.global, stdout),
        Command::TestConnection(args) => test_connection::run(&cli.global, args, stdout),
    }
}
