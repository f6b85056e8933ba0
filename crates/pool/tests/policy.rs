//! The scheduling policy against in-process fake instances: routing (free first, rented only
//! behind a deep free queue, cheapest rented first, the in-flight cap), faults (retries
//! elsewhere, the try limit, quarantine and probing back in, unsuitable instances) and stop.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use comfy_local_pool::{Event, JobResult, Outcome, PoolOptions, Report, Stop, Worker, run_batch};

/// A fake instance: each job takes `delay`; it fails the first `fail_first` attempts (or all).
struct Fake {
    id: String,
    cost: f64,
    delay: Duration,
    fail_first: AtomicUsize,
    fail_all: bool,
    /// Jobs it lacks the models for.
    lacks: Vec<usize>,
    foreign: usize,
    probe_ok: AtomicBool,
    probes: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    ran: Mutex<Vec<usize>>,
    interrupted: AtomicUsize,
    /// Its queue look hangs until this is set (at most 10 s; then `hang_timed_out`).
    hang_looks: Option<std::sync::Arc<AtomicBool>>,
    hang_timed_out: AtomicBool,
}

fn fake(id: &str, cost: f64, delay_ms: u64) -> Fake {
    Fake {
        id: id.to_owned(),
        cost,
        delay: Duration::from_millis(delay_ms),
        fail_first: AtomicUsize::new(0),
        fail_all: false,
        lacks: Vec::new(),
        foreign: 0,
        probe_ok: AtomicBool::new(true),
        probes: AtomicUsize::new(0),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
        ran: Mutex::new(Vec::new()),
        interrupted: AtomicUsize::new(0),
        hang_looks: None,
        hang_timed_out: AtomicBool::new(false),
    }
}

impl Fake {
    fn ran(&self) -> Vec<usize> {
        self.ran.lock().unwrap().clone()
    }
}

impl Worker for Fake {
    type Job = usize;
    type Output = String;

    fn id(&self) -> &str {
        &self.id
    }
    fn cost_per_hour(&self) -> f64 {
        self.cost
    }
    fn queue_depth(&self) -> Result<usize, String> {
        if let Some(release) = &self.hang_looks {
            let give_up = Instant::now() + Duration::from_secs(10);
            while !release.load(Ordering::SeqCst) {
                if Instant::now() > give_up {
                    self.hang_timed_out.store(true, Ordering::SeqCst);
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(self.foreign + self.in_flight.load(Ordering::SeqCst))
    }
    fn run(&self, job: &usize, _attempt: usize, stop: &Stop) -> Outcome<String> {
        if self.lacks.contains(job) {
            return Outcome::Unsuitable(format!("{} lacks model m{job}", self.id));
        }
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let interrupted = std::sync::Arc::new(AtomicBool::new(false));
        {
            let interrupted = interrupted.clone();
            stop.on_stop(move || interrupted.store(true, Ordering::SeqCst));
        }
        let end = Instant::now() + self.delay;
        while Instant::now() < end && !interrupted.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if interrupted.load(Ordering::SeqCst) {
            self.interrupted.fetch_add(1, Ordering::SeqCst);
            return Outcome::Stopped;
        }
        let fail_now = self.fail_all
            || self
                .fail_first
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if fail_now {
            return Outcome::Failed(format!("{} failed job {job}", self.id));
        }
        self.ran.lock().unwrap().push(*job);
        Outcome::Done(format!("{job}@{}", self.id))
    }
    fn probe(&self) -> bool {
        self.probes.fetch_add(1, Ordering::SeqCst);
        self.probe_ok.load(Ordering::SeqCst)
    }
}

fn options(threshold: usize, cap: usize, tries: usize, quarantine: usize) -> PoolOptions {
    PoolOptions::new(threshold, cap, tries, quarantine, Duration::from_millis(50)).unwrap()
}

fn run(workers: &[Fake], jobs: usize, options: &PoolOptions) -> (Report<String>, Vec<String>) {
    let jobs: Vec<usize> = (0..jobs).collect();
    let mut events = Vec::new();
    let report = run_batch(workers, &jobs, options, &Stop::new(), &mut |e| {
        events.push(describe(&e));
    });
    (report, events)
}

fn describe(e: &Event<'_>) -> String {
    match e {
        Event::Started {
            job,
            instance,
            attempt,
        } => format!("start {job} {instance} #{attempt}"),
        Event::Done { job, instance, .. } => format!("done {job} {instance}"),
        Event::AttemptFailed { job, instance, .. } => format!("failed {job} {instance}"),
        Event::Skipped { job, instance, .. } => format!("skipped {job} {instance}"),
        Event::JobFailed { job, reasons } => format!("job failed {job} ({})", reasons.len()),
        Event::Quarantined { instance, failures } => format!("out {instance} after {failures}"),
        Event::Restored { instance } => format!("back {instance}"),
    }
}

/// Every job index appears exactly once over all instances' done lists.
fn assert_each_once(workers: &[Fake], jobs: usize) {
    let mut all: Vec<usize> = workers.iter().flat_map(Fake::ran).collect();
    all.sort_unstable();
    assert_eq!(all, (0..jobs).collect::<Vec<_>>());
}

#[test]
fn every_job_done_once_and_the_cap_holds() {
    let workers = [fake("a", 0.0, 20), fake("b", 0.0, 20), fake("c", 0.0, 20)];
    let (report, _) = run(&workers, 30, &options(10, 2, 3, 3));
    assert_eq!((report.done(), report.failed()), (30, 0));
    assert_each_once(&workers, 30);
    for w in &workers {
        assert!(w.max_in_flight.load(Ordering::SeqCst) <= 2, "{}", w.id);
        assert!(!w.ran().is_empty(), "{} got nothing", w.id);
    }
    let summary: usize = report.instances.iter().map(|i| i.done).sum();
    assert_eq!(summary, 30);
    assert!(report.instances.iter().all(|i| i.cost_usd == 0.0));
}

#[test]
fn a_free_instance_with_a_short_queue_is_preferred_over_a_rented_one() {
    let workers = [fake("rented", 0.5, 20), fake("local", 0.0, 20)];
    // Threshold 1, cap 2: local takes two jobs at a time (its queue 0 then 1), so two jobs
    // never touch the rented one.
    let (report, _) = run(&workers, 2, &options(1, 2, 3, 3));
    assert_eq!(report.done(), 2);
    assert_eq!(workers[1].ran().len(), 2);
    assert!(workers[0].ran().is_empty());
    assert!(report.instances[0].cost_usd.abs() < f64::EPSILON);
}

#[test]
fn a_rented_instance_takes_jobs_when_the_free_queue_is_deep() {
    let workers = [fake("local", 0.0, 40), fake("rented", 0.5, 40)];
    let (report, _) = run(&workers, 8, &options(1, 2, 3, 3));
    assert_eq!(report.done(), 8);
    assert_each_once(&workers, 8);
    assert!(
        !workers[1].ran().is_empty(),
        "the rented one was never used"
    );
    assert!(report.instances[1].cost_usd > 0.0);
    let rented = &report.instances[1];
    let expected = 0.5 * rented.seconds / 3600.0;
    assert!((rented.cost_usd - expected).abs() < 1e-12);
}

#[test]
fn prompts_of_other_clients_count_in_the_free_queue() {
    let mut local = fake("local", 0.0, 20);
    local.foreign = 5;
    let workers = [local, fake("rented", 0.5, 20)];
    let (report, _) = run(&workers, 1, &options(1, 2, 3, 3));
    assert_eq!(report.done(), 1);
    assert_eq!(workers[1].ran(), vec![0]);
}

#[test]
fn the_cheapest_rented_instance_goes_first() {
    let workers = [
        fake("dear", 2.0, 20),
        fake("cheap", 0.4, 20),
        fake("mid", 1.0, 20),
    ];
    let (report, _) = run(&workers, 1, &options(0, 1, 3, 3));
    assert_eq!(report.done(), 1);
    assert_eq!(workers[1].ran(), vec![0]);
}

#[test]
fn a_failed_attempt_is_re_run_on_another_instance() {
    let bad = fake("bad", 0.0, 5);
    bad.fail_first.store(1, Ordering::SeqCst);
    let workers = [bad, fake("good", 0.0, 5)];
    let (report, events) = run(&workers, 1, &options(5, 1, 3, 3));
    assert_eq!(
        events,
        [
            "start 0 bad #1",
            "failed 0 bad",
            "start 0 good #2",
            "done 0 good"
        ]
    );
    match &report.jobs[0] {
        JobResult::Done {
            instance, tries, ..
        } => assert_eq!((instance.as_str(), *tries), ("good", 2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        (report.instances[0].failed, report.instances[1].done),
        (1, 1)
    );
}

#[test]
fn a_job_fails_after_max_tries_with_every_reason() {
    let mut workers: Vec<Fake> = (0..4).map(|i| fake(&format!("w{i}"), 0.0, 2)).collect();
    for w in &mut workers {
        w.fail_all = true;
    }
    let (report, events) = run(&workers, 1, &options(5, 1, 3, 10));
    let JobResult::Failed { reasons } = &report.jobs[0] else {
        panic!("{:?}", report.jobs[0]);
    };
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    let on: Vec<&str> = reasons.iter().map(|r| r.instance.as_str()).collect();
    let mut distinct = on.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "tried the same instance twice: {on:?}");
    assert!(reasons[0].reason.contains("failed job 0"));
    assert_eq!(events.last().map(String::as_str), Some("job failed 0 (3)"));
}

#[test]
fn an_instance_failing_in_a_row_is_taken_out_and_probed_back_in() {
    let mut bad = fake("bad", 0.0, 2);
    bad.fail_all = true;
    bad.probe_ok.store(false, Ordering::SeqCst);
    let workers = [bad, fake("good", 0.0, 30)];
    let (report, events) = run(&workers, 12, &options(10, 2, 5, 2));
    assert_eq!(report.done(), 12, "{events:?}");
    assert_each_once(&workers, 12);
    assert!(events.iter().any(|e| e == "out bad after 2"), "{events:?}");
    let out = events.iter().position(|e| e == "out bad after 2").unwrap();
    assert!(
        !events[out..]
            .iter()
            .any(|e| e.starts_with("start") && e.ends_with("bad #1")),
        "it got jobs while out: {events:?}"
    );
    assert!(
        workers[0].probes.load(Ordering::SeqCst) >= 1,
        "never probed"
    );
    assert!(!events.iter().any(|e| e == "back bad"), "{events:?}");
}

#[test]
fn a_probe_that_answers_puts_the_instance_back() {
    let bad = fake("flaky", 0.0, 2);
    bad.fail_first.store(1, Ordering::SeqCst);
    let workers = [bad, fake("slow", 0.0, 200)];
    let (report, events) = run(&workers, 6, &options(10, 1, 3, 1));
    assert_eq!(report.done(), 6, "{events:?}");
    let out = events.iter().position(|e| e == "out flaky after 1");
    let back = events.iter().position(|e| e == "back flaky");
    assert!(out.is_some() && back > out, "{events:?}");
    assert!(workers[0].ran().len() >= 2, "{events:?}");
}

#[test]
fn an_unsuitable_instance_is_skipped_without_using_a_try() {
    let mut lacking = fake("lacking", 0.0, 2);
    lacking.lacks = vec![0];
    let workers = [lacking, fake("has", 0.5, 2)];
    let (report, events) = run(&workers, 1, &options(5, 1, 1, 3));
    assert_eq!(
        events,
        [
            "start 0 lacking #1",
            "skipped 0 lacking",
            "start 0 has #1",
            "done 0 has"
        ]
    );
    assert_eq!(report.done(), 1);
    assert_eq!(report.instances[0].failed, 0);
}

#[test]
fn a_job_no_instance_can_take_fails_with_the_reasons() {
    let mut a = fake("a", 0.0, 2);
    a.lacks = vec![1];
    let mut b = fake("b", 0.0, 2);
    b.lacks = vec![1];
    let workers = [a, b];
    let (report, _) = run(&workers, 3, &options(5, 1, 3, 3));
    assert_eq!((report.done(), report.failed()), (2, 1));
    let JobResult::Failed { reasons } = &report.jobs[1] else {
        panic!("{:?}", report.jobs[1]);
    };
    let text: BTreeMap<&str, &str> = reasons
        .iter()
        .map(|r| (r.instance.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        text,
        BTreeMap::from([("a", "a lacks model m1"), ("b", "b lacks model m1")])
    );
}

#[test]
fn every_instance_out_for_good_fails_the_rest() {
    let mut only = fake("only", 0.0, 2);
    only.fail_all = true;
    only.probe_ok.store(false, Ordering::SeqCst);
    let workers = [only];
    let (report, _) = run(&workers, 3, &options(5, 1, 3, 1));
    assert_eq!(report.failed(), 3);
    let JobResult::Failed { reasons } = &report.jobs[2] else {
        panic!("{:?}", report.jobs[2]);
    };
    assert!(
        reasons.iter().any(|r| r.reason.contains("out of the pool")),
        "{reasons:?}"
    );
}

#[test]
fn stop_interrupts_running_attempts_and_starts_nothing_more() {
    let workers = [fake("a", 0.0, 5_000), fake("b", 0.3, 5_000)];
    let stop = Stop::new();
    let jobs: Vec<usize> = (0..10).collect();
    let started = Instant::now();
    let report = std::thread::scope(|s| {
        let stopper = stop.clone();
        s.spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            stopper.stop();
        });
        run_batch(&workers, &jobs, &options(0, 1, 3, 3), &stop, &mut |_| {})
    });
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(report.stopped);
    assert_eq!(report.done(), 0);
    assert!(
        report
            .jobs
            .iter()
            .all(|j| matches!(j, JobResult::Cancelled))
    );
    let interrupted: usize = workers
        .iter()
        .map(|w| w.interrupted.load(Ordering::SeqCst))
        .sum();
    assert_eq!(interrupted, 2, "each running attempt is interrupted");
}

/// An instance whose queue look hangs (accepts, never answers) holds up no other: the free one
/// takes every job while that look is still out, and the hang ends only when the test ends it.
#[test]
fn an_instance_whose_queue_look_hangs_holds_up_no_other() {
    let release = std::sync::Arc::new(AtomicBool::new(false));
    let mut hung = fake("hung", 0.0, 5);
    hung.hang_looks = Some(release.clone());
    let workers = [hung, fake("ok", 0.0, 5)];
    let jobs: Vec<usize> = (0..3).collect();
    let mut done = 0;
    let report = run_batch(
        &workers,
        &jobs,
        &options(5, 1, 3, 3),
        &Stop::new(),
        &mut |e| {
            if let Event::Done { instance, .. } = e {
                assert_eq!(instance, "ok");
                done += 1;
                if done == jobs.len() {
                    release.store(true, Ordering::SeqCst);
                }
            }
        },
    );
    assert_eq!(report.done(), 3);
    assert_eq!(workers[1].ran().len(), 3);
    assert!(
        !workers[0].hang_timed_out.load(Ordering::SeqCst),
        "the jobs waited for the hung look to end"
    );
}
