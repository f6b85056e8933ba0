//! What the pool needs of an instance: its price, its queue, a way to run one job and a way to
//! tell whether it answers again. The sdk implements it over real ComfyUI instances; the tests
//! and the benchmark over in-process fakes.

use crate::Stop;

/// How one attempt of a job on an instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<O> {
    /// The job is done; its result.
    Done(O),
    /// The job failed here, or the instance stopped answering: the job is tried elsewhere
    /// and the failure counts against the instance.
    Failed(String),
    /// The instance cannot take this job (it lacks a model or node the job needs): the job
    /// goes elsewhere, without using a try or counting against the instance.
    Unsuitable(String),
    /// The batch was stopped while the attempt ran (its prompt was interrupted).
    Stopped,
}

/// An instance that can take the batch's jobs. Its methods are called from several threads
/// at once (one per attempt in flight, plus the scheduler's).
pub trait Worker: Sync {
    /// A job.
    type Job: Sync;
    /// What a finished job yields.
    type Output: Send;

    /// The instance id (for events and the summary).
    fn id(&self) -> &str;

    /// US dollars per hour; 0 for a free instance.
    fn cost_per_hour(&self) -> f64;

    /// Prompts in the instance's queue now, running and pending, whoever submitted them; an
    /// error when it does not answer.
    fn queue_depth(&self) -> Result<usize, String>;

    /// Runs one attempt of `job` (`attempt` counts from 1). `stop` is the batch's: register a
    /// hook on it that interrupts the prompt, and return [`Outcome::Stopped`] once it fired.
    fn run(&self, job: &Self::Job, attempt: usize, stop: &Stop) -> Outcome<Self::Output>;

    /// Whether the instance answers again (for a quarantined one).
    fn probe(&self) -> bool;
}
