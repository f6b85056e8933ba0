//! Batch scheduling over a pool of instances, with no network I/O of its own: each job goes to
//! the instance that finishes it cheapest, then soonest (free instances first; a rented one
//! only while every free instance's queue is deeper than a threshold; never more in flight per
//! instance than configured); a failed attempt is re-queued on another instance (at most N
//! tries, then the job fails with every reason); an instance that fails K times in a row is
//! taken out and probed back in; a [`Stop`] cancels the batch and interrupts what runs.
//!
//! The instances are anything implementing [`Worker`]: the sdk's real ComfyUI instances, or
//! the in-process fakes of the tests and the benchmark.

mod options;
mod report;
mod schedule;
mod stop;
mod worker;

pub use options::{OptionsError, PoolOptions};
pub use report::{Event, InstanceSummary, JobResult, Reason, Report};
pub use schedule::run_batch;
pub use stop::Stop;
pub use worker::{Outcome, Worker};
