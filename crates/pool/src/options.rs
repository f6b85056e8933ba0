//! The pool's tunables, validated once: a [`PoolOptions`] cannot hold a value the scheduler
//! could not honour (no instance may take zero jobs, a job gets at least one try, ...).

use std::time::Duration;

/// A tunable out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// A count that must be at least 1.
    #[error("{key} must be at least 1 (got 0)")]
    Zero {
        /// The option's name.
        key: &'static str,
    },
    /// The probe interval is zero.
    #[error("probe_interval must be longer than zero")]
    ZeroInterval,
}

/// How the pool routes and recovers. Defaults: queue threshold 1, 2 in flight per instance,
/// 3 tries per job, quarantine after 3 consecutive failures, probe every 30 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolOptions {
    queue_threshold: usize,
    max_in_flight: usize,
    max_tries: usize,
    failures_before_quarantine: usize,
    probe_interval: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            queue_threshold: 1,
            max_in_flight: 2,
            max_tries: 3,
            failures_before_quarantine: 3,
            probe_interval: Duration::from_secs(30),
        }
    }
}

impl PoolOptions {
    /// Validated options.
    pub fn new(
        queue_threshold: usize,
        max_in_flight: usize,
        max_tries: usize,
        failures_before_quarantine: usize,
        probe_interval: Duration,
    ) -> Result<Self, OptionsError> {
        for (key, value) in [
            ("max_in_flight", max_in_flight),
            ("max_tries", max_tries),
            ("failures_before_quarantine", failures_before_quarantine),
        ] {
            if value == 0 {
                return Err(OptionsError::Zero { key });
            }
        }
        if probe_interval.is_zero() {
            return Err(OptionsError::ZeroInterval);
        }
        Ok(PoolOptions {
            queue_threshold,
            max_in_flight,
            max_tries,
            failures_before_quarantine,
            probe_interval,
        })
    }

    /// A rented instance gets a job only while every free instance that could take it has
    /// more prompts than this in its queue (running + pending, ComfyUI's own count).
    pub fn queue_threshold(&self) -> usize {
        self.queue_threshold
    }

    /// At most this many of the batch's jobs run or wait on one instance at a time.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// A job is attempted at most this many times (each on another instance), then fails.
    pub fn max_tries(&self) -> usize {
        self.max_tries
    }

    /// An instance is taken out of the pool after this many failures in a row.
    pub fn failures_before_quarantine(&self) -> usize {
        self.failures_before_quarantine
    }

    /// A quarantined instance is probed this long after it was taken out (and as long again
    /// after each failed probe).
    pub fn probe_interval(&self) -> Duration {
        self.probe_interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_counts_and_interval_are_refused() {
        let s = Duration::from_secs(1);
        assert_eq!(
            PoolOptions::new(0, 0, 1, 1, s),
            Err(OptionsError::Zero {
                key: "max_in_flight"
            })
        );
        assert_eq!(
            PoolOptions::new(0, 1, 0, 1, s),
            Err(OptionsError::Zero { key: "max_tries" })
        );
        assert_eq!(
            PoolOptions::new(0, 1, 1, 0, s),
            Err(OptionsError::Zero {
                key: "failures_before_quarantine"
            })
        );
        assert_eq!(
            PoolOptions::new(0, 1, 1, 1, Duration::ZERO),
            Err(OptionsError::ZeroInterval)
        );
        let ok = PoolOptions::new(0, 1, 1, 1, s).unwrap();
        assert_eq!(ok.queue_threshold(), 0);
    }
}
