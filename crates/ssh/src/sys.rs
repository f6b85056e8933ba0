//! The few OS and libssh2 calls that `std` and `ssh2` do not offer, each behind a safe function:
//! `poll(2)` on the session socket (and local descriptors), `send(2)` without `SIGPIPE`, and libssh2's `posix-rename@openssh.com` request.
//!
//! `unsafe` is allowed in this module only (the workspace denies it): every block is an FFI call
//! whose pointer arguments are valid for the duration of the call, as each comment says.
#![expect(
    unsafe_code,
    reason = "FFI calls std and ssh2 do not offer: poll(2), send(2) with MSG_NOSIGNAL, posix-rename"
)]

use std::ffi::{c_char, c_int};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Waits until one of `fds` is ready for what its `events` ask, or `timeout` passes; the
/// `revents` of each entry say what happened. EINTR or an error just end the wait early (the
/// caller retries its non-blocking calls, which report any real failure).
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout: Duration) {
    let ms = c_int::try_from(timeout.as_millis())
        .unwrap_or(c_int::MAX)
        .max(1);
    let n = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: `fds` is a valid, exclusively borrowed slice of `n` pollfd entries for the call.
    // A descriptor closed meanwhile only yields POLLNVAL for its entry.
    let _ = unsafe { libc::poll(fds.as_mut_ptr(), n, ms) };
}

/// Writes to a connected socket with `MSG_NOSIGNAL`: a closed peer is an `EPIPE` error, never a
/// `SIGPIPE` that would end a host program which does not ignore it.
pub(crate) fn send_nosignal(sock: &impl AsRawFd, buf: &[u8]) -> std::io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the call; the fd stays open
    // because `sock` is borrowed for the call.
    let n = unsafe {
        libc::send(
            sock.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}

unsafe extern "C" {
    // Declared in libssh2_sftp.h (libssh2 >= 1.11.1); libssh2-sys builds and links that library
    // but does not declare this function.
    fn libssh2_sftp_posix_rename_ex(
        sftp: *mut libssh2_sys::LIBSSH2_SFTP,
        source_filename: *const c_char,
        source_filename_len: libc::size_t,
        dest_filename: *const c_char,
        dest_filename_len: libc::size_t,
    ) -> c_int;
}

/// A second, raw SFTP subsystem channel on a session, used only for the requests `ssh2` does
/// not bind. Its calls hold the session lock, like `ssh2`'s own SFTP calls do.
pub(crate) struct RawSftp {
    session: ssh2::Session,
    raw: *mut libssh2_sys::LIBSSH2_SFTP,
}

// SAFETY: the raw pointer is only used while holding the session mutex (`session.raw()`), which
// serialises access exactly as ssh2 does for its own `Sftp` (also Send + Sync).
unsafe impl Send for RawSftp {}
// SAFETY: see `Send`.
unsafe impl Sync for RawSftp {}

impl std::fmt::Debug for RawSftp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RawSftp")
    }
}

/// Why a posix-rename did not happen.
#[derive(Debug)]
pub(crate) enum RenameError {
    /// The server did not announce posix-rename@openssh.com.
    Unsupported,
    /// The server answered with an SFTP status code.
    Status(ssh2::Error),
    /// A session-level failure (negative libssh2 code).
    Session(ssh2::Error),
}

impl RawSftp {
    /// Opens the SFTP subsystem on `session` (which must be in blocking mode).
    pub(crate) fn open(session: &ssh2::Session) -> Result<RawSftp, ssh2::Error> {
        let (raw, err) = {
            let mut guard = session.raw();
            let sess: *mut libssh2_sys::LIBSSH2_SESSION = &raw mut *guard;
            // SAFETY: `sess` points at the live LIBSSH2_SESSION; `guard` holds its lock.
            let raw = unsafe { libssh2_sys::libssh2_sftp_init(sess) };
            let err = raw
                .is_null()
                .then(|| ssh2::Error::last_session_error_raw(sess));
            (raw, err)
        };
        if let Some(err) = err {
            return Err(err.unwrap_or_else(ssh2::Error::unknown));
        }
        Ok(RawSftp {
            session: session.clone(),
            raw,
        })
    }

    /// `posix-rename@openssh.com`: atomically replaces `to` with `from`.
    pub(crate) fn posix_rename(&self, from: &str, to: &str) -> Result<(), RenameError> {
        let (rc, sftp_status, err) = {
            let mut guard = self.session.raw();
            let sess: *mut libssh2_sys::LIBSSH2_SESSION = &raw mut *guard;
            // SAFETY: `self.raw` is a live SFTP handle of this session (freed only in Drop); the
            // session lock is held by `guard`; the name pointers and lengths come from &str
            // values that outlive the call (libssh2 copies them into the packet).
            let rc = unsafe {
                libssh2_sftp_posix_rename_ex(
                    self.raw,
                    from.as_ptr().cast::<c_char>(),
                    from.len(),
                    to.as_ptr().cast::<c_char>(),
                    to.len(),
                )
            };
            let status = if rc == libssh2_sys::LIBSSH2_ERROR_SFTP_PROTOCOL {
                // SAFETY: as above; reads the last SFTP status of this handle.
                unsafe { libssh2_sys::libssh2_sftp_last_error(self.raw) }
            } else {
                0
            };
            let err = (rc != 0).then(|| ssh2::Error::from_session_error_raw(sess, rc));
            (rc, status, err)
        };
        let Some(err) = err else {
            return Ok(());
        };
        if rc == libssh2_sys::LIBSSH2_ERROR_SFTP_PROTOCOL {
            let status = u32::try_from(sftp_status).unwrap_or(u32::MAX);
            if status == libssh2_sys::LIBSSH2_FX_OP_UNSUPPORTED as u32 {
                return Err(RenameError::Unsupported);
            }
            drop(err);
            let code = i32::try_from(status).unwrap_or(i32::MAX);
            return Err(RenameError::Status(ssh2::Error::new(
                ssh2::ErrorCode::SFTP(code),
                "posix-rename@openssh.com failed",
            )));
        }
        Err(RenameError::Session(err))
    }
}

impl Drop for RawSftp {
    fn drop(&mut self) {
        let _guard = self.session.raw();
        // SAFETY: `self.raw` came from libssh2_sftp_init on this session and is freed once, here,
        // with the session lock held.
        let _ = unsafe { libssh2_sys::libssh2_sftp_shutdown(self.raw) };
    }
}
