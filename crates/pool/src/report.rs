//! What a batch reports while it runs ([`Event`]) and at its end ([`Report`]).

/// Why one attempt of a job did not finish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The instance the attempt ran on.
    pub instance: String,
    /// What went wrong.
    pub reason: String,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobResult<O> {
    /// Done (exactly once) on `instance`.
    Done {
        /// The instance that finished it.
        instance: String,
        /// Attempts it took (failed ones included).
        tries: usize,
        /// Seconds the successful attempt took.
        seconds: f64,
        /// What the job yielded.
        output: O,
    },
    /// Failed on every instance it was tried on (or no instance could take it): every reason.
    Failed {
        /// One entry per failed attempt or skip.
        reasons: Vec<Reason>,
    },
    /// The batch was stopped before the job was done.
    Cancelled,
}

impl<O> JobResult<O> {
    /// Whether the job is done.
    pub fn is_done(&self) -> bool {
        matches!(self, JobResult::Done { .. })
    }
}

/// One instance's share of the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSummary {
    /// Instance id.
    pub id: String,
    /// Jobs it finished.
    pub done: usize,
    /// Attempts that failed on it.
    pub failed: usize,
    /// Wall-clock seconds it had at least one of the batch's jobs in flight.
    pub seconds: f64,
    /// `seconds` at its price per hour, in US dollars.
    pub cost_usd: f64,
}

/// The end of a batch: every job's result in the order given, every instance's share.
#[derive(Debug, Clone, PartialEq)]
pub struct Report<O> {
    /// One per job, in the order the jobs were given.
    pub jobs: Vec<JobResult<O>>,
    /// One per instance, in the order the instances were given.
    pub instances: Vec<InstanceSummary>,
    /// The batch was stopped ([`crate::Stop`]) before every job ended.
    pub stopped: bool,
}

impl<O> Report<O> {
    /// Jobs done.
    pub fn done(&self) -> usize {
        self.jobs.iter().filter(|j| j.is_done()).count()
    }

    /// Jobs failed.
    pub fn failed(&self) -> usize {
        self.jobs
            .iter()
            .filter(|j| matches!(j, JobResult::Failed { .. }))
            .count()
    }
}

/// A step of the batch, as it happens (for progress displays and event streams). Jobs are
/// named by their index in the batch, instances by id.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// An attempt starts.
    Started {
        /// Job index.
        job: usize,
        /// Instance id.
        instance: &'a str,
        /// Attempt number, from 1.
        attempt: usize,
    },
    /// A job is done.
    Done {
        /// Job index.
        job: usize,
        /// Instance id.
        instance: &'a str,
        /// Seconds the attempt took.
        seconds: f64,
    },
    /// An attempt failed; the job goes back to the queue when tries are left.
    AttemptFailed {
        /// Job index.
        job: usize,
        /// Instance id.
        instance: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// The instance cannot take the job; it goes elsewhere.
    Skipped {
        /// Job index.
        job: usize,
        /// Instance id.
        instance: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// A job failed for good.
    JobFailed {
        /// Job index.
        job: usize,
        /// Every reason.
        reasons: &'a [Reason],
    },
    /// An instance was taken out of the pool after failures in a row.
    Quarantined {
        /// Instance id.
        instance: &'a str,
        /// The failures in a row.
        failures: usize,
    },
    /// A quarantined instance answered a probe and is back in the pool.
    Restored {
        /// Instance id.
        instance: &'a str,
    },
}
