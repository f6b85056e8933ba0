//! A remote command as an argv: quoting for the remote POSIX shell, stdin, timeout, output cap.

use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use crate::{SshError, quote};

/// Default cap of captured bytes per stream (stdout and stderr each).
pub const DEFAULT_OUTPUT_CAP: usize = 64 * 1024 * 1024;

/// A command to run: program and arguments, each quoted for the remote POSIX shell when sent.
pub struct Command {
    argv: Vec<String>,
    stdin: Mutex<Option<Box<dyn Read + Send>>>,
    timeout: Option<Duration>,
    output_cap: usize,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command")
            .field("argv", &self.argv)
            .field("timeout", &self.timeout)
            .field("output_cap", &self.output_cap)
            .finish_non_exhaustive()
    }
}

impl Command {
    /// A command running `program` with no arguments yet.
    pub fn new(program: impl Into<String>) -> Command {
        Command {
            argv: vec![program.into()],
            stdin: Mutex::new(None),
            timeout: None,
            output_cap: DEFAULT_OUTPUT_CAP,
        }
    }

    /// A command from a whole argv (the first element is the program).
    pub fn from_argv<I, S>(argv: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut argv = argv.into_iter().map(Into::into);
        let mut cmd = Command::new(argv.next().unwrap_or_default());
        cmd.argv.extend(argv);
        cmd
    }

    /// Appends one argument (passed literally, whatever it contains).
    pub fn arg(mut self, arg: impl Into<String>) -> Command {
        self.argv.push(arg.into());
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(mut self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.argv.extend(args.into_iter().map(Into::into));
        self
    }

    /// Streams `reader` to the command's stdin, then closes it. Consumed by the first run.
    pub fn stdin(self, reader: impl Read + Send + 'static) -> Command {
        *self
            .stdin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Box::new(reader));
        self
    }

    /// Cuts the command off after `timeout` (default: the session's command timeout).
    pub fn timeout(mut self, timeout: Duration) -> Command {
        self.timeout = Some(timeout);
        self
    }

    /// Keeps at most `cap` bytes of stdout and of stderr; the rest is read and dropped.
    pub fn output_cap(mut self, cap: usize) -> Command {
        self.output_cap = cap;
        self
    }

    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    pub fn get_output_cap(&self) -> usize {
        self.output_cap
    }

    /// The single command line sent to the server, every argument quoted for the shell.
    pub fn to_command_line(&self) -> Result<String, SshError> {
        let mut parts = Vec::with_capacity(self.argv.len());
        for arg in &self.argv {
            if arg.contains('\0') {
                return Err(SshError::InvalidInput {
                    field: "command argument",
                    value: arg.clone(),
                    reason: "contains a NUL byte",
                });
            }
            parts.push(quote::posix(arg));
        }
        Ok(parts.join(" "))
    }

    pub(crate) fn take_stdin(&self) -> Option<Box<dyn Read + Send>> {
        self.stdin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// How a command ended and what it printed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutput {
    /// The exit status; meaningful when `exit_signal` is `None`.
    pub exit_status: i32,
    /// The signal name (`"KILL"`, `"TERM"`, ...) if the command was killed by one.
    pub exit_signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// More stdout was produced than the cap; the rest was dropped.
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
}

impl ExecOutput {
    /// Exited with status 0 and no signal.
    pub fn success(&self) -> bool {
        self.exit_status == 0 && self.exit_signal.is_none()
    }

    pub fn stdout_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}
