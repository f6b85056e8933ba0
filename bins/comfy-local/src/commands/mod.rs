//! One module per subcommand; `run` dispatches. Commands write to the given streams (never
//! straight to the process's), so tests and callers can capture them.

mod batch;
mod completions;
mod config;
mod config_init;
mod install;
mod instances;
mod jobs;
mod missing;
mod models;
mod nodes;
mod out_dir;
mod run;
mod status;
mod test_connection;
mod transfer;
mod workflow;

use std::io::Write;

use crate::cli::{Cli, Command, ConfigCommand, InstallCommand, WorkflowCommand};

/// Run the parsed command line.
pub fn run(cli: &Cli, stdout: &mut dyn Write, stderr: &mut dyn Write) -> anyhow::Result<()> {
    match &cli.command {
        Command::Config(ConfigCommand::Check(args)) => {
            config::check(&cli.global, args, stdout, stderr)
        }
        Command::Workflow(WorkflowCommand::Convert(args)) => {
            workflow::convert(&cli.global, args, stdout)
        }
        Command::Workflow(WorkflowCommand::Deps(args)) => workflow::deps(&cli.global, args, stdout),
        Command::Run(args) => run::run(&cli.global, args, stdout, stderr),
        Command::Instances => instances::run(&cli.global, stdout),
        Command::TestConnection(args) => test_connection::run(&cli.global, args, stdout),
        Command::Install(InstallCommand::Model(args)) => {
            install::model(&cli.global, args, stdout, stderr)
        }
        Command::Install(InstallCommand::Missing(args)) => {
            missing::run(&cli.global, args, stdout, stderr)
        }
        Command::Install(InstallCommand::Node(args)) => {
            nodes::install(&cli.global, args, stdout, stderr)
        }
        Command::Models(args) => models::run(&cli.global, args, stdout),
        Command::Nodes(args) => nodes::list(&cli.global, args, stdout),
        Command::Config(ConfigCommand::Init(args)) => {
            config_init::init(&cli.global, args, stdout, stderr)
        }
        Command::Status(args) => status::status(&cli.global, args, stdout),
        Command::Free(args) => status::free(&cli.global, args, stdout),
        Command::Completions(args) => completions::run(&cli.global, args, stdout),
        Command::Jobs(args) => jobs::run(&cli.global, args, stdout, stderr),
        Command::Download(args) => transfer::download(&cli.global, args, stdout, stderr),
        Command::Upload(args) => transfer::upload(&cli.global, args, stdout),
    }
}
