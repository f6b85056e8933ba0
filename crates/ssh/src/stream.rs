//! Transfers over an exec channel (`cat > file`, `tail -c +N file`) on POSIX hosts: the fastest
//! path libssh2 offers (see the `ssh_vs_openssh` benchmark). The path is quoted like any argument.

use camino::Utf8Path;
use std::io::{Read, Write};
use std::time::Instant;

use crate::pump::{Exchange, Limit, Source};
use crate::sftp::{Progress, TransferReport, read_full};
use crate::{Session, SshError, quote};

/// Channel write/read size for stream transfers. A read first takes in every packet the socket
/// holds, then copies as many of them as fit. libssh2 does its crypto on the calling thread;
/// with the vendored patch (`vendor/libssh2-sys/COMFY-LOCAL.md`: `ChaCha20` and `Poly1305` from
/// OpenSSL) that thread is on a CPU 43-70% of a 1 GiB transfer, and the transfer runs at
/// about the speed of OpenSSH's `ssh host cat`. Measured and not kept: a receive window above
/// libssh2's 2 MiB default (8-32 MiB, `channel_open`) made downloads slower, and moving the local
/// reads/writes to a second thread did not help on 2 cores.
pub const STREAM_BUF: usize = 256 * 1024;

/// Stderr kept of a stream command, for its error message.
const STDERR_CAP: usize = 64 * 1024;

impl Session {
    /// Runs the stream command `line` on the pump: `stdin` feeds it (`None`: nothing to send),
    /// `stdout` takes what it prints. Fails when the command fails (its stderr says why) or
    /// stops reading before the end of stdin.
    fn run_stream<'a>(
        &self,
        line: &str,
        stdin: Option<Source<'a>>,
        sent: &'a mut dyn FnMut(usize),
        stdout: &'a mut dyn FnMut(&[u8]) -> Result<(), SshError>,
    ) -> Result<(), SshError> {
        let chan = self.exec_channel(line)?;
        let ended = self.pump_exec(
            chan,
            line,
            Exchange {
                stdin,
                sent,
                stdout,
                stderr_cap: STDERR_CAP,
                buf_size: STREAM_BUF,
                limit: Limit::Idle(self.options().command_timeout),
            },
        )?;
        let (status, signal) = (ended.exit_status, ended.exit_signal);
        if status != 0 || signal.is_some() {
            // The remote side usually failed first (no such directory, disk full): its exit
            // status and stderr say why better than a broken write.
            return Err(self.channel_err(
                line,
                "stream transfer",
                std::io::Error::other(format!(
                    "remote command failed (status {status}{}): {}",
                    signal.map(|s| format!(", signal {s}")).unwrap_or_default(),
                    String::from_utf8_lossy(&ended.stderr.data).trim()
                )),
            ));
        }
        if let Some(source) = ended.stdin_failed {
            return Err(self.channel_err(line, "writing", source));
        }
        if ended.stdin_cut {
            return Err(self.channel_err(
                line,
                "writing",
                std::io::Error::new(
                    std::io::ErrorKind::BrokenPipe,
                    "the remote command stopped reading before the end of the data",
                ),
            ));
        }
        Ok(())
    }

    /// Uploads `src` to `dst` through `cat` on a POSIX host; with `append` the data is added to
    /// the end of an existing file (resume), otherwise the file is created or truncated.
    pub fn stream_upload(
        &self,
        src: &mut dyn Read,
        dst: &Utf8Path,
        append: bool,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<TransferReport, SshError> {
        let started = Instant::now();
        let redirect = if append { ">>" } else { ">" };
        let line = format!("cat {redirect} {}", quote::posix(dst.as_str()));
        let mut done = 0u64;
        let mut read = |buf: &mut [u8]| read_full(src, buf, dst);
        self.run_stream(
            &line,
            Some(&mut read),
            &mut |n| {
                done += n as u64;
                progress(Progress {
                    position: done,
                    transferred: done,
                    total: None,
                });
            },
            &mut |_| Ok(()),
        )?;
        Ok(TransferReport {
            start_offset: 0,
            bytes: done,
            elapsed: started.elapsed(),
            fsynced: None,
        })
    }

    /// Downloads `src` from `offset` through `cat`/`tail -c` on a POSIX host into `dst`.
    pub fn stream_download(
        &self,
        src: &Utf8Path,
        dst: &mut dyn Write,
        offset: u64,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<TransferReport, SshError> {
        let started = Instant::now();
        let q = quote::posix(src.as_str());
        let line = if offset == 0 {
            format!("cat -- {q}")
        } else {
            format!("tail -c +{} -- {q}", offset + 1)
        };
        let mut done = 0u64;
        self.run_stream(&line, None, &mut |_| {}, &mut |data| {
            crate::session::write_all_to(dst, data, src.as_str())?;
            done += data.len() as u64;
            progress(Progress {
                position: offset + done,
                transferred: done,
                total: None,
            });
            Ok(())
        })?;
        Ok(TransferReport {
            start_offset: offset,
            bytes: done,
            elapsed: started.elapsed(),
            fsynced: None,
        })
    }
}
