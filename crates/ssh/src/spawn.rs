//! A command left running on the host while the session does other work (an SFTP upload, say),
//! ended by closing its stdin: [`Session::spawn`].

use crate::pump::{Limit, NonBlocking};
use crate::{Command, ExecOutput, Session, SshError};

/// A started command whose stdin stays open until [`Spawned::finish`] closes it. Dropped
/// without `finish`, it closes the channel (stdin included) without waiting for the command.
pub struct Spawned<'a> {
    session: &'a Session,
    chan: Option<ssh2::Channel>,
    line: String,
    cap: usize,
}

impl std::fmt::Debug for Spawned<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawned")
            .field("command", &self.line)
            .field("running", &self.chan.is_some())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Starts `cmd` and returns as soon as the server accepted it. Nothing is written to its
    /// stdin (a reader set on `cmd` is not used); what it prints meanwhile waits in the channel
    /// (up to its window) for [`Spawned::finish`], which keeps up to the command's output cap.
    /// Other work on this session goes on while it runs.
    pub fn spawn(&self, cmd: &Command) -> Result<Spawned<'_>, SshError> {
        let line = cmd.to_command_line()?;
        let chan = self.exec_channel(&line)?;
        Ok(Spawned {
            session: self,
            chan: Some(chan),
            line,
            cap: cmd.get_output_cap(),
        })
    }
}

impl Spawned<'_> {
    /// Closes the command's stdin and waits (at most the session's command timeout) for it to
    /// exit: its exit status and output.
    pub fn finish(mut self) -> Result<ExecOutput, SshError> {
        let Some(chan) = self.chan.take() else {
            return Ok(ExecOutput::default());
        };
        let limit = Limit::Total(self.session.opts.command_timeout);
        self.session
            .capture(chan, &self.line, self.cap, None, limit)
    }
}

impl Drop for Spawned<'_> {
    fn drop(&mut self) {
        if let Some(mut chan) = self.chan.take() {
            let _nb = NonBlocking::enter(&self.session.inner);
            let _ = chan.send_eof();
            let _ = chan.close();
        }
    }
}
