//! Pacing of install progress for readers that want fewer events than the install makes (JSON
//! lines, Python callbacks, the backend's event stream): every other event passes.

use std::time::{Duration, Instant};

use super::InstallEvent;

/// Lets every [`InstallEvent`] through but `Progress`, which passes at most once per interval.
#[derive(Debug, Clone)]
pub struct ProgressPacer {
    every: Duration,
    last_progress: Option<Instant>,
}

impl ProgressPacer {
    /// At most one progress event per `every`.
    pub fn new(every: Duration) -> Self {
        ProgressPacer {
            every,
            last_progress: None,
        }
    }

    /// Whether `event` should be passed on now.
    pub fn lets_through(&mut self, event: &InstallEvent) -> bool {
        if !matches!(event, InstallEvent::Progress { .. }) {
            return true;
        }
        if self.last_progress.is_some_and(|t| t.elapsed() < self.every) {
            return false;
        }
        self.last_progress = Some(Instant::now());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_paced_and_everything_else_passes() {
        let mut p = ProgressPacer::new(Duration::from_secs(3600));
        let progress = InstallEvent::Progress {
            position: 1,
            total: None,
        };
        assert!(p.lets_through(&progress));
        assert!(!p.lets_through(&progress));
        assert!(p.lets_through(&InstallEvent::Restarted { discarded: 1 }));
        assert!(ProgressPacer::new(Duration::ZERO).lets_through(&progress));
    }
}
