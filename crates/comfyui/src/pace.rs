//! A body must keep arriving: [`Paced`] fails a read when fewer than `min_bytes` came in a
//! whole `window` (a server trickling one byte a second), which no per-read timeout catches.

use std::io::{self, Read};
use std::time::{Duration, Instant};

/// The error a [`Paced`] read fails with (inside an `io::Error` of kind `TimedOut`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("fewer than {min_bytes} bytes arrived in {window:?}")]
pub(crate) struct Stalled {
    pub(crate) min_bytes: u64,
    pub(crate) window: Duration,
}

/// A reader that needs at least `min_bytes` per `window` (each window starting where the last
/// ended); reads within the first window never fail for slowness.
pub(crate) struct Paced<R> {
    inner: R,
    rule: Stalled,
    window_start: Instant,
    in_window: u64,
}

impl<R: Read> Paced<R> {
    pub(crate) fn new(inner: R, min_bytes: u64, window: Duration) -> Self {
        Self {
            inner,
            rule: Stalled { min_bytes, window },
            window_start: Instant::now(),
            in_window: 0,
        }
    }
}

impl<R: Read> Read for Paced<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.in_window = self.in_window.saturating_add(n as u64);
        if n > 0 && self.window_start.elapsed() >= self.rule.window {
            if self.in_window < self.rule.min_bytes {
                return Err(io::Error::new(io::ErrorKind::TimedOut, self.rule));
            }
            self.window_start = Instant::now();
            self.in_window = 0;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives one byte per read, `delay` apart.
    struct Trickle(Duration);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            std::thread::sleep(self.0);
            buf[0] = b'x';
            Ok(1)
        }
    }

    #[test]
    fn a_trickle_fails_once_a_window_has_passed_and_a_fast_body_does_not() {
        let mut slow = Paced::new(
            Trickle(Duration::from_millis(20)),
            100,
            Duration::from_millis(100),
        );
        let mut buf = [0u8; 8];
        let err = (0..50)
            .find_map(|_| slow.read(&mut buf).err())
            .expect("stalled");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            err.get_ref()
                .and_then(|e| e.downcast_ref::<Stalled>())
                .is_some()
        );

        let mut fast = Paced::new(&[7u8; 4096][..], 100, Duration::from_millis(1));
        let mut all = Vec::new();
        fast.read_to_end(&mut all).expect("fast enough");
        assert_eq!(all.len(), 4096);
    }
}
