//! `comfy-backend`: the container backend (HTTP API + toolbar page). Not implemented yet.

use std::process::ExitCode;

fn main() -> ExitCode {
    #[expect(clippy::print_stderr, reason = "the stub says why it exits")]
    {
        eprintln!("comfy-backend: not implemented yet (see the backend issue)");
    }
    ExitCode::from(3)
}
