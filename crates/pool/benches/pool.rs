//! `cargo bench -p comfy-local-pool`: the scheduler against naive round-robin, in the same run,
//! over in-process fake instances that each take a fixed time per job (a sleep; no network),
//! one job at a time per instance as ComfyUI executes one prompt at a time (others wait).
//!
//! 1. Throughput: N = 1, 2, 4, 8, 16, 32 free instances, 8 jobs per instance, one job in flight
//!    per instance: jobs/s and p99 job latency (batch start to job done) of both, the pool's
//!    jobs/s as a share of N x the one-instance rate (goal: at least 0.8).
//! 2. Cost: 2 free instances and 4 rented ones ($0.5, $1, $2, $4 per hour): the dollars each
//!    strategy spends ($/hr x busy time) on the same batch, and how long it took.
#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::sync::Mutex;
use std::time::{Duration, Instant};

use comfy_local_pool::{Outcome, PoolOptions, Stop, Worker, run_batch};

/// Each job takes this long on any instance.
const JOB_TIME: Duration = Duration::from_millis(50);
const JOBS_PER_INSTANCE: usize = 8;

struct Fake {
    id: String,
    cost: f64,
    /// Held while a job executes: one at a time, like ComfyUI's queue.
    gpu: Mutex<()>,
    /// When each job ended.
    ended: Mutex<Vec<Instant>>,
}

impl Fake {
    fn new(id: String, cost: f64) -> Self {
        Fake {
            id,
            cost,
            gpu: Mutex::new(()),
            ended: Mutex::new(Vec::new()),
        }
    }
}

impl Worker for Fake {
    type Job = usize;
    type Output = ();
    fn id(&self) -> &str {
        &self.id
    }
    fn cost_per_hour(&self) -> f64 {
        self.cost
    }
    fn queue_depth(&self) -> Result<usize, String> {
        Ok(0)
    }
    fn run(&self, _job: &usize, _attempt: usize, _stop: &Stop) -> Outcome<()> {
        let gpu = self
            .gpu
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::thread::sleep(JOB_TIME);
        drop(gpu);
        self.ended
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Instant::now());
        Outcome::Done(())
    }
    fn probe(&self) -> bool {
        true
    }
}

/// Jobs/s, p99 latency and dollars of one strategy's run.
struct Figures {
    jobs_per_s: f64,
    p99: Duration,
    makespan: Duration,
    cost_usd: f64,
}

fn figures(workers: &[Fake], started: Instant, busy: &[Duration]) -> Figures {
    let mut latencies: Vec<Duration> = workers
        .iter()
        .flat_map(|w| {
            w.ended
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        })
        .map(|t| t - started)
        .collect();
    latencies.sort_unstable();
    let makespan = latencies.last().copied().unwrap_or_default();
    let p99 = latencies[(latencies.len() * 99).div_ceil(100).saturating_sub(1)];
    let cost_usd = workers
        .iter()
        .zip(busy)
        .map(|(w, b)| w.cost * b.as_secs_f64() / 3600.0)
        .sum();
    Figures {
        jobs_per_s: latencies.len() as f64 / makespan.as_secs_f64(),
        p99,
        makespan,
        cost_usd,
    }
}

fn pool(workers: &[Fake], jobs: usize, options: &PoolOptions) -> Figures {
    let jobs: Vec<usize> = (0..jobs).collect();
    let started = Instant::now();
    let report = run_batch(workers, &jobs, options, &Stop::new(), &mut |_| {});
    assert_eq!(report.done(), jobs.len());
    let busy: Vec<Duration> = report
        .instances
        .iter()
        .map(|i| Duration::from_secs_f64(i.seconds))
        .collect();
    figures(workers, started, &busy)
}

/// Naive round-robin: job i goes to instance i mod N, each instance runs its share in order.
fn round_robin(workers: &[Fake], jobs: usize) -> Figures {
    let started = Instant::now();
    let stop = Stop::new();
    let busy: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = workers
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let stop = &stop;
                s.spawn(move || {
                    let begun = Instant::now();
                    for job in (i..jobs).step_by(workers.len()) {
                        let _ = w.run(&job, 1, stop);
                    }
                    begun.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    figures(workers, started, &busy)
}

fn free_pool(n: usize) -> Vec<Fake> {
    (0..n)
        .map(|i| Fake::new(format!("local{i}"), 0.0))
        .collect()
}

fn throughput() {
    let options = PoolOptions::new(1, 1, 3, 3, Duration::from_secs(30)).unwrap_or_default();
    println!(
        "throughput: job {JOB_TIME:?}, {JOBS_PER_INSTANCE} jobs per instance, 1 in flight each"
    );
    println!(
        "{:>3} {:>12} {:>12} {:>9} {:>11} {:>11} {:>12}",
        "N", "pool jobs/s", "rr jobs/s", "pool/rr", "pool p99", "rr p99", "pool/(N*one)"
    );
    let mut one = None;
    for n in [1, 2, 4, 8, 16, 32] {
        let jobs = n * JOBS_PER_INSTANCE;
        let p = pool(&free_pool(n), jobs, &options);
        let r = round_robin(&free_pool(n), jobs);
        let one_rate = *one.get_or_insert(p.jobs_per_s);
        println!(
            "{n:>3} {:>12.1} {:>12.1} {:>9.2} {:>11.1?} {:>11.1?} {:>12.2}",
            p.jobs_per_s,
            r.jobs_per_s,
            p.jobs_per_s / r.jobs_per_s,
            p.p99,
            r.p99,
            p.jobs_per_s / (n as f64 * one_rate)
        );
    }
}

fn cost() {
    let prices = [0.0, 0.0, 0.5, 1.0, 2.0, 4.0];
    let make = || -> Vec<Fake> {
        prices
            .iter()
            .enumerate()
            .map(|(i, c)| Fake::new(format!("i{i}"), *c))
            .collect()
    };
    let options = PoolOptions::new(1, 2, 3, 3, Duration::from_secs(30)).unwrap_or_default();
    println!(
        "\ncost: 2 free + 4 rented ($0.5, $1, $2, $4 /hr), job {JOB_TIME:?}, pool: threshold 1, 2 in flight"
    );
    println!(
        "{:>5} {:>13} {:>13} {:>8} {:>12} {:>12}",
        "jobs", "pool $", "rr $", "pool/rr", "pool time", "rr time"
    );
    for jobs in [6, 12, 24, 96] {
        let p = pool(&make(), jobs, &options);
        let r = round_robin(&make(), jobs);
        println!(
            "{jobs:>5} {:>13.8} {:>13.8} {:>8.2} {:>12.1?} {:>12.1?}",
            p.cost_usd,
            r.cost_usd,
            p.cost_usd / r.cost_usd,
            p.makespan,
            r.makespan
        );
    }
}

fn main() {
    throughput();
    cost();
}
