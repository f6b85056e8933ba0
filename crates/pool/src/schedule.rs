//! The scheduler: one thread that owns the batch's state, dispatches attempts (each on a
//! thread of its own), and reacts to their ends, to queue looks and probes (each instance's
//! on threads of their own, so an instance that hangs never holds up the others), and to a
//! stop.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{
    Event, InstanceSummary, JobResult, Outcome, PoolOptions, Reason, Report, Stop, Worker,
};

/// An instance's queue depth is read at most this often, by a looker thread of its own while
/// it could take a job.
const LOOK_INTERVAL: Duration = Duration::from_millis(250);
/// How long a job waits for the first look of an instance that (re)joined the pool before
/// it is placed without that instance: the routing needs every queue, but one that hangs must
/// not hold up the others.
const FIRST_LOOK_GRACE: Duration = Duration::from_secs(2);
/// How often an idle looker checks whether it is wanted again or the batch has ended.
const LOOKER_TICK: Duration = Duration::from_millis(10);

/// The scheduler's view of one instance.
#[derive(Debug)]
struct Slot {
    in_flight: usize,
    failures_in_row: usize,
    /// Out of the pool: probed at this time.
    out_until: Option<Instant>,
    probing: bool,
    /// Prompts in its queue that are not ours, at the last look.
    foreign: usize,
    /// Its queue was read since it (re)joined the pool: until then it gets no job.
    looked: bool,
    /// When it (re)joined the pool (the batch's start, or the probe that put it back).
    joined: Instant,
    busy_since: Option<Instant>,
    busy: Duration,
    done: usize,
    failed: usize,
}

impl Slot {
    /// A slot for an instance that joins the pool now.
    fn new() -> Self {
        Slot {
            in_flight: 0,
            failures_in_row: 0,
            out_until: None,
            probing: false,
            foreign: 0,
            looked: false,
            joined: Instant::now(),
            busy_since: None,
            busy: Duration::ZERO,
            done: 0,
            failed: 0,
        }
    }

    fn depth(&self) -> usize {
        self.foreign + self.in_flight
    }
}

/// The scheduler's view of one job.
#[derive(Debug)]
struct JobState {
    tries: usize,
    /// Instances it failed on or cannot run on.
    excluded: Vec<bool>,
    reasons: Vec<Reason>,
}

enum Msg<O> {
    Finished {
        job: usize,
        instance: usize,
        outcome: Outcome<O>,
        seconds: f64,
    },
    Probed {
        instance: usize,
        answers: bool,
    },
    Looked {
        instance: usize,
        /// `None`: it did not answer.
        depth: Option<usize>,
    },
    Stop,
}

/// Runs every job on the pool `workers` until each is done or failed (or `stop` is triggered);
/// `on_event` sees each step, on the calling thread.
pub fn run_batch<W: Worker>(
    workers: &[W],
    jobs: &[W::Job],
    options: &PoolOptions,
    stop: &Stop,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Report<W::Output>
where
    W::Output: 'static,
{
    let (tx, rx) = mpsc::channel::<Msg<W::Output>>();
    {
        let tx = tx.clone();
        stop.on_stop(move || {
            let _ = tx.send(Msg::Stop);
        });
    }
    let mut state = State {
        options: *options,
        workers,
        slots: workers.iter().map(|_| Slot::new()).collect(),
        jobs: jobs
            .iter()
            .map(|_| JobState {
                tries: 0,
                excluded: vec![false; workers.len()],
                reasons: Vec::new(),
            })
            .collect(),
        results: jobs.iter().map(|_| None).collect(),
        pending: (0..jobs.len()).collect(),
        stall_probed: false,
    };
    let mut running = 0usize;
    let mut probes = 0usize;
    // Which instances the lookers should read now (in the pool, with room), and the end.
    let wanted: Vec<AtomicBool> = workers.iter().map(|_| AtomicBool::new(true)).collect();
    let ended = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for (instance, (worker, wanted)) in workers.iter().zip(&wanted).enumerate() {
            let (tx, ended) = (tx.clone(), &ended);
            scope.spawn(move || look_while_wanted(worker, instance, wanted, ended, &tx));
        }
        loop {
            if !stop.is_stopped() {
                for (job, instance, attempt) in state.dispatch(on_event) {
                    running += 1;
                    let (tx, worker, job_ref) = (tx.clone(), &workers[instance], &jobs[job]);
                    scope.spawn(move || {
                        let started = Instant::now();
                        let outcome = worker.run(job_ref, attempt, stop);
                        let seconds = started.elapsed().as_secs_f64();
                        let _ = tx.send(Msg::Finished {
                            job,
                            instance,
                            outcome,
                            seconds,
                        });
                    });
                }
                state.fail_stranded(on_event);
                let stalled = running == 0
                    && probes == 0
                    && !state.awaiting_looks()
                    && !state.pending.is_empty();
                for instance in state.due_probes(stalled) {
                    probes += 1;
                    let (tx, worker) = (tx.clone(), &workers[instance]);
                    scope.spawn(move || {
                        let answers = worker.probe();
                        let _ = tx.send(Msg::Probed { instance, answers });
                    });
                }
                if running == 0
                    && probes == 0
                    && !state.awaiting_looks()
                    && !state.pending.is_empty()
                {
                    state.fail_pending(
                        "no instance is left to take it (every one that could is out of the pool)",
                        on_event,
                    );
                }
            }
            if running == 0 && (state.pending.is_empty() || stop.is_stopped()) {
                break;
            }
            let msg = match state.next_wake() {
                Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(msg) => msg,
                    Err(_) => continue,
                },
                None => match rx.recv() {
                    Ok(msg) => msg,
                    Err(_) => break,
                },
            };
            state.on_msg(msg, (&mut running, &mut probes), stop, on_event);
            state.want(&wanted);
        }
        // A looker still in a request ends with it (the worker's own timeout).
        ended.store(true, Ordering::SeqCst);
    });
    state.into_report(stop.is_stopped())
}

struct State<'w, W: Worker> {
    options: PoolOptions,
    workers: &'w [W],
    slots: Vec<Slot>,
    jobs: Vec<JobState>,
    results: Vec<Option<JobResult<W::Output>>>,
    /// Jobs waiting for an instance, in the order they go out.
    pending: VecDeque<usize>,
    /// Every quarantined instance was probed because nothing else could happen.
    stall_probed: bool,
}

impl<W: Worker> State<'_, W> {
    /// Reacts to a message of an attempt, a probe or a looker; `counts` are the attempts
    /// running and the probes out.
    fn on_msg(
        &mut self,
        msg: Msg<W::Output>,
        counts: (&mut usize, &mut usize),
        stop: &Stop,
        on_event: &mut dyn FnMut(Event<'_>),
    ) {
        let (running, probes) = counts;
        match msg {
            Msg::Finished {
                job,
                instance,
                outcome,
                seconds,
            } => {
                *running -= 1;
                self.finished(job, instance, outcome, seconds, stop, on_event);
            }
            Msg::Probed { instance, answers } => {
                *probes -= 1;
                self.probed(instance, answers, on_event);
            }
            Msg::Looked { instance, depth } => self.looked(instance, depth, on_event),
            Msg::Stop => {}
        }
    }

    /// Starts every pending job that has an instance now; returns (job, instance, attempt).
    fn dispatch(&mut self, on_event: &mut dyn FnMut(Event<'_>)) -> Vec<(usize, usize, usize)> {
        let mut started = Vec::new();
        let mut waiting = VecDeque::new();
        while let Some(job) = self.pending.pop_front() {
            if !self.has_room() {
                waiting.push_back(job);
                waiting.extend(self.pending.drain(..));
                break;
            }
            match self.pick(job) {
                Some(instance) => {
                    let attempt = self.jobs[job].tries + 1;
                    self.jobs[job].tries = attempt;
                    self.start(instance);
                    on_event(Event::Started {
                        job,
                        instance: self.workers[instance].id(),
                        attempt,
                    });
                    started.push((job, instance, attempt));
                }
                None => waiting.push_back(job),
            }
        }
        self.pending = waiting;
        if !started.is_empty() {
            self.stall_probed = false;
        }
        started
    }

    fn has_room(&self) -> bool {
        self.slots
            .iter()
            .any(|s| s.out_until.is_none() && s.in_flight < self.options.max_in_flight())
    }

    /// Whether an instance of the pool has not answered its first look yet (its answer, or
    /// its failure, is still to come).
    fn awaiting_looks(&self) -> bool {
        self.slots
            .iter()
            .any(|s| s.out_until.is_none() && !s.looked)
    }

    /// Whether the instance's first look is still to come, within [`FIRST_LOOK_GRACE`].
    fn first_look_due(&self, instance: usize) -> bool {
        let slot = &self.slots[instance];
        !slot.looked && slot.joined.elapsed() < FIRST_LOOK_GRACE
    }

    fn in_pool(&self, instance: usize) -> bool {
        self.slots[instance].out_until.is_none()
    }

    /// The instance for `job` now, or `None` when it should wait: the free instance with the
    /// shortest queue while one's queue is no deeper than the threshold; else the cheapest
    /// rented one with room (the shortest queue among equals); else a free one with room.
    fn pick(&self, job: usize) -> Option<usize> {
        let free = |i: &usize| self.workers[*i].cost_per_hour() <= 0.0;
        let candidates =
            (0..self.slots.len()).filter(|&i| !self.jobs[job].excluded[i] && self.in_pool(i));
        // An instance whose queue is not known yet may be the right one: wait for its first
        // look (for a while).
        if candidates.clone().any(|i| self.first_look_due(i)) {
            return None;
        }
        let usable: Vec<usize> = candidates.filter(|&i| self.slots[i].looked).collect();
        let cap = self.options.max_in_flight();
        let room = |i: &usize| self.slots[*i].in_flight < cap;
        let depth = |i: &usize| self.slots[*i].depth();
        let short: Vec<usize> = usable
            .iter()
            .copied()
            .filter(|i| free(i) && depth(i) <= self.options.queue_threshold())
            .collect();
        if !short.is_empty() {
            // A free instance will take it soon: wait for it rather than pay.
            return short.into_iter().filter(room).min_by_key(depth);
        }
        let rented = usable
            .iter()
            .copied()
            .filter(|i| !free(i) && room(i))
            .min_by(|a, b| {
                let (ca, cb) = (
                    self.workers[*a].cost_per_hour(),
                    self.workers[*b].cost_per_hour(),
                );
                ca.total_cmp(&cb).then(depth(a).cmp(&depth(b)))
            });
        rented.or_else(|| {
            usable
                .into_iter()
                .filter(|i| free(i) && room(i))
                .min_by_key(depth)
        })
    }

    /// A looker's answer: the instance's count of prompts that are not ours; an instance that
    /// does not answer gets a failure. Ignored while the instance is out of the pool.
    fn looked(
        &mut self,
        instance: usize,
        depth: Option<usize>,
        on_event: &mut dyn FnMut(Event<'_>),
    ) {
        if !self.in_pool(instance) {
            return;
        }
        match depth {
            Some(depth) => {
                let slot = &mut self.slots[instance];
                slot.foreign = depth.saturating_sub(slot.in_flight);
                slot.looked = true;
            }
            None => self.count_failure(instance, on_event),
        }
    }

    /// Tells the lookers which instances to read: those in the pool with room, while jobs
    /// wait.
    fn want(&self, wanted: &[AtomicBool]) {
        let cap = self.options.max_in_flight();
        let waiting = !self.pending.is_empty();
        for (slot, flag) in self.slots.iter().zip(wanted) {
            let want = waiting && slot.out_until.is_none() && slot.in_flight < cap;
            flag.store(want, Ordering::SeqCst);
        }
    }

    fn start(&mut self, instance: usize) {
        let slot = &mut self.slots[instance];
        if slot.in_flight == 0 {
            slot.busy_since = Some(Instant::now());
        }
        slot.in_flight += 1;
    }

    fn end(&mut self, instance: usize) {
        let slot = &mut self.slots[instance];
        slot.in_flight -= 1;
        if slot.in_flight == 0
            && let Some(since) = slot.busy_since.take()
        {
            slot.busy += since.elapsed();
        }
    }

    /// Counts a failure in a row; the instance is taken out at the threshold.
    fn count_failure(&mut self, instance: usize, on_event: &mut dyn FnMut(Event<'_>)) {
        let interval = self.options.probe_interval();
        let limit = self.options.failures_before_quarantine();
        let slot = &mut self.slots[instance];
        slot.failures_in_row += 1;
        if slot.failures_in_row >= limit && slot.out_until.is_none() {
            slot.out_until = Some(Instant::now() + interval);
            on_event(Event::Quarantined {
                instance: self.workers[instance].id(),
                failures: slot.failures_in_row,
            });
        }
    }

    fn finished(
        &mut self,
        job: usize,
        instance: usize,
        outcome: Outcome<W::Output>,
        seconds: f64,
        stop: &Stop,
        on_event: &mut dyn FnMut(Event<'_>),
    ) {
        self.end(instance);
        let workers = self.workers;
        let id = workers[instance].id();
        match outcome {
            Outcome::Done(output) => {
                let slot = &mut self.slots[instance];
                slot.done += 1;
                slot.failures_in_row = 0;
                on_event(Event::Done {
                    job,
                    instance: id,
                    seconds,
                });
                self.results[job] = Some(JobResult::Done {
                    instance: id.to_owned(),
                    tries: self.jobs[job].tries,
                    seconds,
                    output,
                });
            }
            Outcome::Stopped => self.results[job] = Some(JobResult::Cancelled),
            Outcome::Failed(reason) if stop.is_stopped() => {
                self.jobs[job].reasons.push(Reason {
                    instance: id.to_owned(),
                    reason,
                });
                self.results[job] = Some(JobResult::Cancelled);
            }
            Outcome::Failed(reason) => {
                self.slots[instance].failed += 1;
                on_event(Event::AttemptFailed {
                    job,
                    instance: id,
                    reason: &reason,
                });
                self.count_failure(instance, on_event);
                self.exclude(job, instance, reason);
                if self.jobs[job].tries >= self.options.max_tries() {
                    self.fail(job, on_event);
                } else {
                    self.pending.push_front(job);
                }
            }
            Outcome::Unsuitable(reason) => {
                // A skip uses no try.
                self.jobs[job].tries -= 1;
                on_event(Event::Skipped {
                    job,
                    instance: id,
                    reason: &reason,
                });
                self.exclude(job, instance, reason);
                self.pending.push_front(job);
            }
        }
    }

    fn exclude(&mut self, job: usize, instance: usize, reason: String) {
        let state = &mut self.jobs[job];
        state.excluded[instance] = true;
        state.reasons.push(Reason {
            instance: self.workers[instance].id().to_owned(),
            reason,
        });
    }

    fn fail(&mut self, job: usize, on_event: &mut dyn FnMut(Event<'_>)) {
        let reasons = std::mem::take(&mut self.jobs[job].reasons);
        on_event(Event::JobFailed {
            job,
            reasons: &reasons,
        });
        self.results[job] = Some(JobResult::Failed { reasons });
    }

    /// Fails the pending jobs that no instance can take any more (each tried or unsuitable).
    fn fail_stranded(&mut self, on_event: &mut dyn FnMut(Event<'_>)) {
        let (stranded, keep): (Vec<usize>, Vec<usize>) = self
            .pending
            .iter()
            .partition(|&&job| self.jobs[job].excluded.iter().all(|e| *e));
        self.pending = keep.into();
        for job in stranded {
            self.fail(job, on_event);
        }
    }

    /// Fails every pending job, adding `why` to its reasons.
    fn fail_pending(&mut self, why: &str, on_event: &mut dyn FnMut(Event<'_>)) {
        for job in std::mem::take(&mut self.pending) {
            self.jobs[job].reasons.push(Reason {
                instance: "pool".to_owned(),
                reason: why.to_owned(),
            });
            self.fail(job, on_event);
        }
    }

    /// Quarantined instances to probe now: those whose time came, or, when nothing else can
    /// happen (`stalled`), every one once.
    fn due_probes(&mut self, stalled: bool) -> Vec<usize> {
        let now = Instant::now();
        let all = stalled && !self.stall_probed;
        if all {
            self.stall_probed = true;
        }
        let mut due = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if let Some(at) = slot.out_until
                && !slot.probing
                && (all || at <= now)
            {
                slot.probing = true;
                due.push(i);
            }
        }
        due
    }

    fn probed(&mut self, instance: usize, answers: bool, on_event: &mut dyn FnMut(Event<'_>)) {
        let interval = self.options.probe_interval();
        let slot = &mut self.slots[instance];
        slot.probing = false;
        if answers {
            slot.out_until = None;
            slot.failures_in_row = 0;
            slot.looked = false;
            slot.joined = Instant::now();
            on_event(Event::Restored {
                instance: self.workers[instance].id(),
            });
        } else {
            slot.out_until = Some(Instant::now() + interval);
        }
    }

    /// When the loop must wake up without a message: the next probe due, or the end of a
    /// first look's grace.
    fn next_wake(&self) -> Option<Instant> {
        let probes = self
            .slots
            .iter()
            .filter(|s| !s.probing)
            .filter_map(|s| s.out_until);
        let graces = self
            .slots
            .iter()
            .filter(|s| s.out_until.is_none() && !s.looked)
            .map(|s| s.joined + FIRST_LOOK_GRACE)
            .filter(|at| *at > Instant::now());
        probes.chain(graces).min()
    }

    fn into_report(self, stopped: bool) -> Report<W::Output> {
        let instances = self
            .slots
            .iter()
            .zip(self.workers)
            .map(|(slot, w)| {
                let seconds = slot.busy.as_secs_f64();
                InstanceSummary {
                    id: w.id().to_owned(),
                    done: slot.done,
                    failed: slot.failed,
                    seconds,
                    cost_usd: w.cost_per_hour().max(0.0) * seconds / 3600.0,
                }
            })
            .collect();
        let jobs = self
            .results
            .into_iter()
            .map(|r| r.unwrap_or(JobResult::Cancelled))
            .collect();
        Report {
            jobs,
            instances,
            stopped,
        }
    }
}

/// An instance's looker: reads its queue depth every [`LOOK_INTERVAL`] while `wanted` (only an
/// instance that could take a job is asked: a full one may not answer until its attempts
/// end), until the batch has `ended`.
fn look_while_wanted<W: Worker, O>(
    worker: &W,
    instance: usize,
    wanted: &AtomicBool,
    ended: &AtomicBool,
    tx: &mpsc::Sender<Msg<O>>,
) {
    let mut last: Option<Instant> = None;
    while !ended.load(Ordering::SeqCst) {
        if wanted.load(Ordering::SeqCst) && last.is_none_or(|t| t.elapsed() >= LOOK_INTERVAL) {
            last = Some(Instant::now());
            let depth = worker.queue_depth().ok();
            if tx.send(Msg::Looked { instance, depth }).is_err() {
                return;
            }
        } else {
            std::thread::sleep(LOOKER_TICK);
        }
    }
}
