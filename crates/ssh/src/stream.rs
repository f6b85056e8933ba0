//! Transfers over an exec channel (`cat > file`, `tail -c +N file`) on POSIX hosts: the fastest
//! path libssh2 offers (see the `ssh_vs_openssh` benchmark). The path is quoted like any argument.

use camino::Utf8Path;
use std::io::{Read, Write};
use std::time::Instant;

use crate::sftp::{Progress, TransferReport, read_full};
use crate::{Session, SshError, quote};

/// Channel write/read size for stream transfers. A read returns one SSH packet (32 KiB) whatever
/// the size; transfers are bound by libssh2's chacha20-poly1305 on the calling thread. Measured
/// and not kept: a receive window above libssh2's 2 MiB default (8-32 MiB, `channel_open`) made
/// downloads slower, and moving the local reads/writes to a second thread did not help on 2 cores.
pub const STREAM_BUF: usize = 256 * 1024;

impl Session {
    fn finish_stream(&self, mut chan: ssh2::Channel, line: &str) -> Result<(), SshError> {
        let mut stderr = Vec::new();
        let _ = chan.stderr().take(64 * 1024).read_to_end(&mut stderr);
        let err = |op, e: ssh2::Error| SshError::Channel {
            host: self.host().to_owned(),
            port: self.port(),
            command: line.to_owned(),
            op,
            source: std::io::Error::other(e),
        };
        chan.wait_close()
            .map_err(|e| err("waiting for the exit status", e))?;
        let status = chan
            .exit_status()
            .map_err(|e| err("reading the exit status", e))?;
        let signal = chan
            .exit_signal()
            .map_err(|e| err("reading the exit signal", e))?
            .exit_signal;
        if status != 0 || signal.is_some() {
            return Err(SshError::Channel {
                host: self.host().to_owned(),
                port: self.port(),
                command: line.to_owned(),
                op: "stream transfer",
                source: std::io::Error::other(format!(
                    "remote command failed (status {status}{}): {}",
                    signal.map(|s| format!(", signal {s}")).unwrap_or_default(),
                    String::from_utf8_lossy(&stderr).trim()
                )),
            });
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
        let chan_err = |op, e: std::io::Error| self.stream_error(&line, op, e);
        let mut chan = self.exec_channel(&line)?;
        let mut buf = vec![0u8; STREAM_BUF];
        let mut done = 0u64;
        loop {
            let n = read_full(src, &mut buf, dst)?;
            if n == 0 {
                break;
            }
            if let Err(e) = chan.write_all(&buf[..n]) {
                // The remote side usually failed first (no such directory, disk full): its
                // exit status and stderr say why better than the broken write.
                let write_err = chan_err("writing", e);
                return Err(match self.finish_stream(chan, &line) {
                    Err(remote) => remote,
                    Ok(()) => write_err,
                });
            }
            done += n as u64;
            progress(Progress {
                position: done,
                transferred: done,
                total: None,
            });
        }
        chan.send_eof()
            .map_err(|e| chan_err("closing stdin", std::io::Error::other(e)))?;
        self.finish_stream(chan, &line)?;
        Ok(TransferReport {
            start_offset: 0,
            bytes: done,
            elapsed: started.elapsed(),
            fsynced: None,
        })
    }

    /// The error of stream command `line` failing at `op`.
    fn stream_error(&self, line: &str, op: &'static str, source: std::io::Error) -> SshError {
        SshError::Channel {
            host: self.host().to_owned(),
            port: self.port(),
            command: line.to_owned(),
            op,
            source,
        }
    }

    /// A session channel running `line`.
    fn exec_channel(&self, line: &str) -> Result<ssh2::Channel, SshError> {
        let mut chan = self
            .inner
            .channel_session()
            .map_err(|e| self.stream_error(line, "opening a channel", std::io::Error::other(e)))?;
        chan.exec(line).map_err(|e| {
            self.stream_error(line, "starting the command", std::io::Error::other(e))
        })?;
        Ok(chan)
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
        let chan_err = |op, e: std::io::Error| self.stream_error(&line, op, e);
        let mut chan = self.exec_channel(&line)?;
        chan.send_eof()
            .map_err(|e| chan_err("closing stdin", std::io::Error::other(e)))?;
        let mut buf = vec![0u8; STREAM_BUF];
        let mut done = 0u64;
        loop {
            let n = chan.read(&mut buf).map_err(|e| chan_err("reading", e))?;
            if n == 0 {
                break;
            }
            crate::session::write_all_to(dst, &buf[..n], src.as_str())?;
            done += n as u64;
            progress(Progress {
                position: offset + done,
                transferred: done,
                total: None,
            });
        }
        self.finish_stream(chan, &line)?;
        Ok(TransferReport {
            start_offset: offset,
            bytes: done,
            elapsed: started.elapsed(),
            fsynced: None,
        })
    }
}
