//! `comfy-backend`: the container backend (HTTP API + toolbar page). Not implemented yet.

use std::process::ExitCode;

fn main() -> ExitCode {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("comfy-backend: not implemented yet (see the backend issue)");
    }
    ExitCode::from(3)
}
