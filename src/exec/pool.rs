//! The execution loop: `workers` dedicated threads pulling
//! ready units from one shared scheduler (`sched`): lowest plan index first
//! among the units whose pools have room.
//!
//! Invariants:
//! - at most `workers` units run at once (one per worker thread);
//! - a unit starts only when all its needs succeeded and what it uses fits,
//!   and ready units start in plan order among those that fit;
//! - a retry waits out its delay in the scheduler, holding no worker and no
//!   pool;
//! - the stop flag is read just before each spawn, so nothing starts after a
//!   cancel is observed; units never started are recorded `cancelled` here,
//!   so every selected unit ends with an outcome;
//! - cancelling only escalates (`CancelReason` is ordered);
//! - every unit ends with exactly one `UnitFinished` event;
//! - a unit's record is written to the journal by its worker before that
//!   event, before its dependents are released and before the worker takes
//!   another unit, so a `kill -9` repeats at most the units running then;
//! - a unit jobrun itself could not start (no file descriptors, processes)
//!   is `cancelled`, never failed, and stops the run (exit 3);
//! - a pending task (see `plan::dynamic`) counts as one unit to finish
//!   until it expands or is skipped, so the run cannot end before it; the
//!   units of tasks that need it are held until then.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender as Sender;
use std::sync::{Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime};

use super::dependents::Dependents;
use super::job_failures::JobFailures;
use super::process::{self, ProgramCache, Spawn, StartError};
use super::retry::backoff;
use super::sched::{Held, Pick, Scheduler};
use super::signal::{self, SignalListener};
use crate::error::Error;
use crate::event::{AttemptEnd, Event, Finished};
use crate::journal::{self, Fingerprint, InputError, Journal, Prior, Why};
use crate::manifest::OnFailure;
use crate::outcome::{CancelReason, Counts, Outcome};
use crate::plan::value::display_path;
use crate::plan::{Plan, Start};

/// How to run a plan.
pub struct ExecOptions {
    pub workers: usize,
    /// Units to run; the others are `filtered`.
    pub selected: Vec<bool>,
    /// Where `<unit>.log` files go.
    pub logs_dir: PathBuf,
    /// Handle SIGINT/SIGTERM (tests of the library may not want to).
    pub handle_signals: bool,
    /// What earlier runs recorded; None runs everything and computes no fingerprints.
    pub prior: Option<Prior>,
    /// Send each output line as an event (`output = "line"`), besides the log.
    pub line_output: bool,
    /// Set in every unit's environment as `JOBRUN_JOURNAL`, so a later run
    /// can find units this run leaves behind if it is killed.
    pub journal_marker: Option<OsString>,
    /// Set by the caller when jobrun itself cannot go on (e.g. its journal
    /// cannot be synced): nothing new starts, running units finish.
    pub stop: std::sync::Arc<AtomicBool>,
    /// Where each attempt's record is written when it ends (with `prior`).
    pub journal: Option<Arc<Journal>>,
    /// At most this many units start at once (a low file descriptor
    /// limit, see `limits::fit`); None: no bound.
    pub start_slots: Option<usize>,
    /// Machines sharing the job's rates (`--shard K/N`: N): each gets 1/N.
    pub rate_split: u32,
    /// The failure count shared by the shards of an engine job: failures
    /// are added to it, and `on_failure` fires when it reaches its limit.
    pub job_failures: Option<Arc<JobFailures>>,
    /// Expands pending tasks whose producers finished: the grown plan and
    /// which of its new units are selected. None: pending tasks are skipped.
    pub expand: Option<Box<Expander>>,
}

/// See `ExecOptions::expand`: (plan, ready tasks) -> (grown plan, selection
/// of the units it added), or the message of why the list cannot be used.
pub type Expander = dyn Fn(&Plan, &[usize]) -> Result<(Plan, Vec<bool>), String> + Send + Sync;

/// The result of a run, also sent as `JobFinished`.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub counts: Counts,
    pub exit_code: i32,
    pub cancel: Option<CancelReason>,
    /// The plan as the run ended: with the units pending tasks expanded to.
    pub plan: Arc<Plan>,
}

/// Why jobrun signalled a running unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KillCause {
    Timeout,
    Cancel,
}

#[derive(Debug)]
struct Running {
    /// 0 until the process has started.
    pgid: libc::pid_t,
    deadline: Option<Instant>,
    term_at: Option<Instant>,
    killed: bool,
    cause: Option<KillCause>,
}

struct State {
    sched: Scheduler,
    /// Units between attempts (waiting out a retry delay).
    pending: HashMap<u32, Pending>,
    /// The last waiting-on-pools summary sent.
    waiting: Vec<(usize, usize)>,
    /// Unmet needs per unit, plus one for each pending task its task needs.
    unmet: Vec<u32>,
    selected: Vec<bool>,
    /// Selected units that wait for each unit.
    dependents: Dependents,
    /// Per task: selected units without an outcome, and whether any ended
    /// other than ok or up to date (its pending dependents are then skipped).
    task_left: Vec<usize>,
    task_bad: Vec<bool>,
    /// Pending tasks not yet expanded or skipped.
    pending_tasks: Vec<usize>,
    /// A list a pending task reads could not be used (exit 1).
    expand_failed: bool,
    /// In `resolve_pending` (which records units, which would call it).
    resolving: bool,
    done: Vec<Option<Outcome>>,
    /// The journal stamp of each unit that ran in this run (see `journal::stamp`).
    stamps: Vec<journal::Stamp>,
    /// One slot per worker.
    running: Vec<Option<Running>>,
    finished: usize,
    to_finish: usize,
    failures: usize,
    cancel: Option<CancelReason>,
    counts: Counts,
    exiting: bool,
    /// Why jobrun itself stopped the run (e.g. its logs cannot be written).
    problem: Option<Error>,
    /// Workers waiting on `work_cv`.
    idle: usize,
}

struct Shared<'a> {
    /// Grows when a pending task expands (units keep their indices);
    /// never held while waiting for `state`.
    plan: RwLock<Arc<Plan>>,
    opts: &'a ExecOptions,
    tx: &'a Sender<Event>,
    threshold: usize,
    state: Mutex<State>,
    /// Workers wait here for ready units and retry delays.
    work_cv: Condvar,
    /// The watchdog waits here for deadlines and kills.
    watch_cv: Condvar,
    /// Mirrors `state.cancel.is_some()`, read without the lock just before a spawn.
    stopping: AtomicBool,
    /// Units whose process has exited but whose outcome is not recorded yet.
    settling: AtomicUsize,
    gate: Option<Gate>,
    logs_dir: std::ffi::CString,
    /// The log folder held nothing when the run started: no unit's first
    /// attempt has an older log to keep, so none is renamed (two failing
    /// `rename` calls a unit otherwise).
    fresh_logs: bool,
}

/// The longest a unit about to start waits for siblings that already exited
/// to be recorded (see `settle_siblings`).
const SETTLE_MAX: Duration = Duration::from_millis(10);
/// The same for a sibling that did not exit 0 (see `settle_siblings`).
const SETTLE_FAILED_MAX: Duration = Duration::from_secs(1);

/// One attempt as it ended.
struct Tried<'a> {
    end: AttemptEnd,
    cause: Option<KillCause>,
    /// Held until the unit's outcome is recorded.
    settling: Option<Settling<'a>>,
    started_at: SystemTime,
    duration: Duration,
    /// The 1-based worker slot.
    worker: u32,
}

/// Start slots (see `ExecOptions::start_slots`).
struct Gate {
    free: Mutex<usize>,
    cv: Condvar,
}

/// One start slot, given back when dropped.
struct Slot<'a>(&'a Gate);

impl Gate {
    fn acquire(&self) -> Slot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.cv.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Slot(self)
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.cv.notify_one();
    }
}

/// A unit between attempts: what its next attempt continues from, and the
/// last attempt's end, which is its outcome if no other attempt comes.
struct Pending {
    attempt: u32,
    fp: Option<Arc<Fingerprint>>,
    last: (Outcome, AttemptEnd, Duration, SystemTime),
}

/// Held from a unit's exit until its outcome is recorded.
struct Settling<'a>(&'a AtomicUsize);

impl Drop for Settling<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Run the selected units of `plan`. Unit failures are data in the result;
/// `Err` means jobrun itself could not go on (e.g. the log folder).
pub fn execute(
    plan: Arc<Plan>,
    opts: &ExecOptions,
    tx: &std::sync::mpsc::SyncSender<Event>,
) -> Result<RunResult, Error> {
    let started = Instant::now();
    std::fs::create_dir_all(&opts.logs_dir).map_err(|e| {
        Error::io(
            format!("cannot create the log folder `{}`", opts.logs_dir.display()),
            e,
        )
    })?;
    let n = plan.units.len();

    let mut dependents = Dependents::new(n);
    let mut waiting = vec![0u32; n];
    let mut sched = Scheduler::new(&plan, opts.rate_split);
    let mut counts = Counts::default();
    let mut done = vec![None; n];
    let mut to_finish = 0;
    let mut task_left = vec![0usize; plan.tasks.len()];
    let pending_tasks: Vec<usize> = (0..plan.tasks.len())
        .filter(|&t| plan.tasks[t].pending.is_some())
        .collect();
    // Per task: how many pending tasks it needs (its units wait for them).
    let gates: Vec<u32> = plan
        .tasks
        .iter()
        .map(|t| t.needs.iter().filter(|n| pending_tasks.contains(n)).count() as u32)
        .collect();
    for (i, u) in plan.units.iter().enumerate() {
        if !opts.selected[i] {
            done[i] = Some(Outcome::Filtered);
            counts.add(Outcome::Filtered);
            continue;
        }
        to_finish += 1;
        task_left[u.task as usize] += 1;
        waiting[i] = gates[u.task as usize];
        for &d in u.needs.iter() {
            if opts.selected[d as usize] {
                dependents.push(d, i as u32);
                waiting[i] += 1;
            }
        }
        if waiting[i] == 0 {
            sched.push(&plan, i as u32);
        }
    }
    let units_to_finish = to_finish;
    // Each pending task is one more thing to finish until it is resolved.
    to_finish += pending_tasks.len();
    // No more threads than units: idle threads only cost (and -j 4096 on
    // one unit would otherwise start 4,095 of them for nothing). A pending
    // task may bring any number: then all the workers asked for.
    let workers = if pending_tasks.is_empty() {
        opts.workers.min(to_finish).max(1)
    } else {
        opts.workers.max(1)
    };
    let threshold = plan.job.max_failures.threshold(units_to_finish);
    let _ = tx.send(Event::JobStarted {
        selected: units_to_finish,
        total: n,
        workers,
        at: SystemTime::now(),
    });
    // Only dependents read them (16 bytes a unit otherwise spent for nothing).
    let stamps = if opts.prior.is_some() && plan.has_needs() {
        vec![journal::NO_STAMP; n]
    } else {
        Vec::new()
    };

    let shared = Shared {
        plan: RwLock::new(plan),
        opts,
        tx,
        threshold,
        state: Mutex::new(State {
            sched,
            pending: HashMap::new(),
            waiting: Vec::new(),
            unmet: waiting,
            selected: opts.selected.clone(),
            dependents,
            task_left,
            task_bad: vec![false; gates.len()],
            pending_tasks,
            expand_failed: false,
            resolving: false,
            done,
            // Only the journal uses them.
            stamps,
            running: (0..workers).map(|_| None).collect(),
            finished: 0,
            to_finish,
            failures: 0,
            cancel: None,
            counts,
            exiting: false,
            problem: None,
            idle: 0,
        }),
        work_cv: Condvar::new(),
        watch_cv: Condvar::new(),
        stopping: AtomicBool::new(false),
        settling: AtomicUsize::new(0),
        gate: opts.start_slots.map(|n| Gate {
            free: Mutex::new(n.max(1)),
            cv: Condvar::new(),
        }),
        fresh_logs: std::fs::read_dir(&opts.logs_dir).is_ok_and(|mut d| d.next().is_none()),
        logs_dir: std::ffi::CString::new(opts.logs_dir.as_os_str().as_encoded_bytes())
            .unwrap_or_default(),
    };

    // Producers with nothing to run (none selected, or no units) are done.
    {
        let mut st = shared.lock();
        if !st.pending_tasks.is_empty() {
            shared.resolve_pending(&mut st);
        }
    }

    let listener = if opts.handle_signals {
        Some(
            SignalListener::install()
                .map_err(|e| Error::io("cannot install signal handlers", e))?,
        )
    } else {
        None
    };
    let signal_handle = listener.as_ref().map(SignalListener::handle);

    std::thread::scope(|scope| {
        let sh = &shared;
        scope.spawn(move || sh.watchdog());
        if let Some(l) = listener {
            scope.spawn(move || {
                l.run(|sig| {
                    let mut st = sh.lock();
                    let reason = signal::reason_for(sig, st.cancel);
                    sh.escalate(&mut st, reason);
                })
            });
        }
        // One thread per worker slot, each running the worker loop until
        // the run ends. Not a rayon pool: the loops never hand work to each
        // other, and rayon's idle threads keep trying to steal from all the
        // others, which grows with the square of the thread count (measured:
        // -j 1000 over 3,000 `sleep 0.1` took 4.3 s on a rayon pool, 1.9 s
        // on plain threads, the same as `xargs -P1000`).
        let mut loops = Vec::with_capacity(workers);
        for w in 0..workers {
            let spawned = std::thread::Builder::new()
                .name(format!("jobrun-worker-{}", w + 1))
                .spawn_scoped(scope, move || sh.worker_guarded(w));
            match spawned {
                Ok(h) => loops.push(h),
                Err(e) => {
                    let mut st = sh.lock();
                    let e = Error::io(
                        format!(
                            "cannot start worker thread {} of {workers} (try a lower -j)",
                            w + 1
                        ),
                        e,
                    );
                    st.problem.get_or_insert(e);
                    sh.escalate(&mut st, CancelReason::Internal);
                    break;
                }
            }
        }
        // The loops end when every unit is done or the run stopped.
        for h in loops {
            let _ = h.join();
        }
        let mut st = sh.lock();
        st.exiting = true;
        sh.watch_cv.notify_all();
        drop(st);
        if let Some(h) = &signal_handle {
            h.close();
        }
    });

    let mut st = shared.lock();
    let plan = shared.plan();
    let n = plan.units.len();
    let mut pending: Vec<(u32, Pending)> = st.pending.drain().collect();
    pending.sort_unstable_by_key(|(u, _)| *u);
    for (unit, p) in pending {
        if st.done[unit as usize].is_none() {
            if !plan.task_of(unit as usize).keep_failed_outputs {
                shared.remove_outputs(unit as usize);
            }
            // Its last attempt was recorded when it ended.
            shared.record_end(&mut st, unit, p.attempt, p.last, p.fp, true);
        }
    }
    for i in 0..n {
        if st.done[i].is_none() {
            shared.finish_unfinished(&mut st, i as u32, Outcome::Cancelled);
        }
    }
    let any_failed = st.failures > 0
        || st.expand_failed
        || st
            .done
            .iter()
            .enumerate()
            .any(|(u, o)| o.is_some_and(Outcome::is_failure) && !plan.allows_failure(u));
    let problem = st.problem.take();
    let exit_code = match st.cancel.and_then(CancelReason::exit_code) {
        Some(c) => c,
        None if problem.is_some() => 3,
        // Stopped by other shards' failures (`job_failures`): not a success either.
        None if any_failed
            || matches!(
                st.cancel,
                Some(CancelReason::FailureAbort | CancelReason::FailureKill)
            ) =>
        {
            1
        }
        None => 0,
    };
    let result = RunResult {
        counts: st.counts,
        exit_code,
        cancel: st.cancel,
        plan: plan.clone(),
    };
    let _ = tx.send(Event::JobFinished {
        counts: result.counts,
        peaks: st.sched.peaks(),
        wall: started.elapsed(),
        exit_code,
        cancel: result.cancel,
        at: SystemTime::now(),
    });
    match problem {
        // An interruption's code wins; otherwise jobrun's own failure does.
        Some(e) if !matches!(exit_code, 129 | 130 | 143) => Err(e),
        _ => Ok(result),
    }
}

impl Shared<'_> {
    fn plan(&self) -> Arc<Plan> {
        self.plan.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Wake the workers waiting for work, if any (with the lock held, so none
    /// is between its look at the state and its wait): a notify is a
    /// syscall even when nobody waits, and a no-op rerun ends a unit every
    /// few microseconds.
    fn wake(&self, st: &State) {
        if st.idle > 0 {
            self.work_cv.notify_all();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking worker must not take the whole run's bookkeeping with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A start slot, when starts are bounded; a worker holds at most one.
    fn start_slot(&self) -> Option<Slot<'_>> {
        self.gate.as_ref().map(Gate::acquire)
    }

    /// Write an attempt's record to the journal as soon as it ends, before
    /// anything else learns of it: false if it could not be written.
    fn write_record(
        &self,
        unit: u32,
        attempt: u32,
        outcome: Outcome,
        tried: &Tried<'_>,
        fp: Option<&Arc<Fingerprint>>,
    ) -> bool {
        let (Some(journal), Some(f), Some(prior)) = (&self.opts.journal, fp, &self.opts.prior)
        else {
            return true;
        };
        let record = journal::Record {
            run: prior.run,
            worker: tried.worker,
            ..journal::Record::attempt(
                &self.plan().units[unit as usize].id,
                attempt,
                outcome,
                Some(&tried.end),
                tried.started_at,
                tried.duration,
                f,
            )
        };
        match journal.append(&record) {
            Ok(()) => true,
            Err(e) => {
                let mut st = self.lock();
                self.give_up(&mut st, e);
                false
            }
        }
    }

    /// The worker loop; a bug that panics in it stops the run (exit 3)
    /// instead of leaving the other workers waiting for its unit forever.
    fn worker_guarded(&self, w: usize) {
        let run = std::panic::AssertUnwindSafe(|| self.worker(w));
        if std::panic::catch_unwind(run).is_err() {
            let mut st = self.lock();
            if let Some(r) = st.running[w].take() {
                process::kill_group(r.pgid, libc::SIGKILL);
            }
            st.problem.get_or_insert(Error::io(
                format!("worker thread {} failed (a bug in jobrun)", w + 1),
                std::io::Error::other("panicked"),
            ));
            self.escalate(&mut st, CancelReason::Internal);
        }
    }

    fn worker(&self, w: usize) {
        let mut cache = ProgramCache::default();
        loop {
            let (unit, dep_ran, held, pending) = {
                let mut st = self.lock();
                loop {
                    if st.cancel.is_none() && self.opts.stop.load(Ordering::Acquire) {
                        self.escalate(&mut st, CancelReason::Internal);
                    }
                    if st.cancel.is_none()
                        && let Some(j) = &self.opts.job_failures
                        && j.reached()
                    {
                        // Other shards failed enough: the job-wide on_failure.
                        self.fire_on_failure(&mut st);
                    }
                    if st.cancel.is_some() || st.finished == st.to_finish {
                        return;
                    }
                    let now = Instant::now();
                    let plan = self.plan();
                    let pick = st.sched.pick(&plan, now);
                    if st.sched.limits() {
                        self.report_waiting(&mut st, now);
                    }
                    match pick {
                        Pick::Start(u, held) => {
                            let dep_ran = plan.units[u as usize]
                                .needs
                                .iter()
                                .find(|&&d| {
                                    !plan.list_edge(u as usize, d)
                                        && !matches!(
                                            st.done[d as usize],
                                            Some(Outcome::UpToDate | Outcome::Filtered)
                                        )
                                })
                                .copied();
                            st.running[w] = Some(Running {
                                pgid: 0,
                                deadline: None,
                                term_at: None,
                                killed: false,
                                cause: None,
                            });
                            let pending = st.pending.remove(&u);
                            break (u, dep_ran, held, pending);
                        }
                        Pick::Wait(Some(at)) => {
                            let wait = at.saturating_duration_since(now);
                            st.idle += 1;
                            st = self
                                .work_cv
                                .wait_timeout(st, wait)
                                .unwrap_or_else(|e| e.into_inner())
                                .0;
                            st.idle -= 1;
                        }
                        Pick::Wait(None) => {
                            st.idle += 1;
                            st = self.work_cv.wait(st).unwrap_or_else(|e| e.into_inner());
                            st.idle -= 1;
                        }
                    }
                }
            };
            self.run_unit(unit, dep_ran, held, pending, w, &mut cache);
        }
    }

    /// Tell the display which pools ready units wait on, when that changed.
    fn report_waiting(&self, st: &mut State, now: Instant) {
        let waiting = st.sched.waiting(now);
        if waiting != st.waiting {
            let pools = waiting
                .iter()
                .map(|&(p, n)| (st.sched.pool_name(&self.plan(), p), n))
                .collect();
            let _ = self.tx.send(Event::Waiting { pools });
            st.waiting = waiting;
        }
    }

    /// A unit that was given its pools but will not run now: give them back,
    /// start tokens included.
    fn unstart(&self, st: &mut State, w: usize, held: &Held) {
        st.running[w] = None;
        st.sched.refund(held);
    }

    /// One attempt of a unit (the first also decides whether it runs at
    /// all); then either its record or, for a retry, back to the scheduler.
    fn run_unit(
        &self,
        unit: u32,
        dep_ran: Option<u32>,
        held: Held,
        pending: Option<Pending>,
        w: usize,
        cache: &mut ProgramCache,
    ) {
        let plan = self.plan();
        let plan = &*plan;
        let i = unit as usize;
        let task = plan.task_of(i);
        let worker = w + 1;
        let resources = Scheduler::render(plan, &held);
        let start = Some(Start {
            worker,
            held: &resources,
        });
        // An input that cannot be hashed fails the unit before its command runs.
        let mut last = None;
        let (done_attempts, fp, bad_input) = match pending {
            Some(p) => {
                last = Some(p.last);
                (p.attempt, p.fp, None)
            }
            None => {
                let mut fp: Option<Arc<Fingerprint>> = None;
                let mut bad_input: Option<String> = None;
                if let Some(prior) = &self.opts.prior {
                    if self.stopping.load(Ordering::Acquire) {
                        let mut st = self.lock();
                        self.unstart(&mut st, w, &held);
                        self.finish_unfinished(&mut st, unit, Outcome::Cancelled);
                        return;
                    }
                    // Hashing inputs opens files too.
                    let _slot = self.start_slot();
                    match journal::fingerprint(plan, i, &prior.cache, &self.stopping) {
                        Ok(mut f) => {
                            if !plan.units[i].needs.is_empty() {
                                // Copied under the lock, hashed outside it (a
                                // barrier may need thousands of units).
                                let ran: Vec<journal::Stamp> = {
                                    let st = self.lock();
                                    plan.units[i]
                                        .needs
                                        .iter()
                                        .map(|&d| st.stamps[d as usize])
                                        .collect()
                                };
                                f.needs = journal::needs_of(plan, i, prior, &ran);
                            }
                            if dep_ran.is_none()
                                && journal::explain(plan, i, prior, &f, &self.outputs(i))
                                    == Why::UpToDate
                            {
                                let mut st = self.lock();
                                self.unstart(&mut st, w, &held);
                                self.record_not_run(
                                    &mut st,
                                    unit,
                                    Outcome::UpToDate,
                                    Some(Arc::new(f)),
                                );
                                self.wake(&st);
                                return;
                            }
                            fp = Some(Arc::new(f));
                        }
                        Err(InputError::Stopped) => {
                            let mut st = self.lock();
                            self.unstart(&mut st, w, &held);
                            self.finish_unfinished(&mut st, unit, Outcome::Cancelled);
                            return;
                        }
                        Err(e) => bad_input = Some(e.to_string()),
                    }
                }
                (0, fp, bad_input)
            }
        };
        // Rendered only for a unit that runs: a no-op rerun skips all of it.
        let argv = plan.argv(i, start);
        let dir = plan.dir(i);
        let mut env = plan.env(i, start);
        let path_var = env
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone());
        let (program, shown) = match argv.first() {
            Some(p) => (cache.resolve(p, &dir, path_var.as_deref()), p.clone()),
            None => (PathBuf::new(), OsString::new()),
        };
        if let Some(m) = &self.opts.journal_marker {
            env.push((super::leftovers::MARKER.into(), m.clone()));
        }
        env.push(("JOBRUN_UNIT_ID".into(), OsString::from(&*plan.units[i].id)));
        env.push(("JOBRUN_WORKER".into(), OsString::from(worker.to_string())));
        for (p, v) in resources.iter().enumerate() {
            if let Some(v) = v {
                env.push((plan.pools[p].env_name(), OsString::from(v)));
            }
        }
        let log_path = self
            .opts
            .logs_dir
            .join(process::log_file_name(&plan.units[i].id));

        let attempt = done_attempts + 1;
        env.push(("JOBRUN_ATTEMPT".into(), OsString::from(attempt.to_string())));
        if attempt == 1 && self.plan().job.on_failure != OnFailure::Continue {
            self.settle_siblings();
        }
        let slot = self.start_slot();
        // The last look at the stop flag before the unit starts.
        if attempt == 1 && self.stopping.load(Ordering::Acquire) {
            let mut st = self.lock();
            self.unstart(&mut st, w, &held);
            self.finish_unfinished(&mut st, unit, Outcome::Cancelled);
            return;
        }
        // Outputs' folders are made for the unit (a task needs no mkdir step,
        // which would be up to date with the folder gone).
        let mut bad_input = bad_input;
        if bad_input.is_none() {
            for (shown, abs) in self.outputs(i) {
                if let Err(e) = cache.make_parent(&abs) {
                    bad_input = Some(format!(
                        "cannot make the folder of output `{shown}`: {}",
                        crate::error::io_reason(&e)
                    ));
                    break;
                }
            }
        }
        let mut log_problem = None;
        let tried = match &bad_input {
            Some(why) => {
                let _ = self.tx.send(Event::UnitStarted {
                    unit,
                    attempt,
                    worker: worker as u32,
                    at: SystemTime::now(),
                    resources: resources.clone(),
                });
                let t0 = (SystemTime::now(), Instant::now());
                Ok(Tried {
                    end: refuse(&log_path, why, !self.fresh_logs, &mut log_problem),
                    cause: None,
                    settling: None,
                    started_at: t0.0,
                    duration: t0.1.elapsed(),
                    worker: worker as u32,
                })
            }
            None => self.attempt(
                w,
                i,
                attempt,
                slot,
                &resources,
                &log_path,
                &program,
                &shown,
                &argv,
                &dir,
                &env,
                &mut log_problem,
            ),
        };
        let mut tried = match tried {
            Ok(t) => t,
            Err(e) => {
                // jobrun's own shortage: this attempt never ran, so it is
                // neither a failure nor recorded. The last one stands.
                let mut st = self.lock();
                self.give_up(&mut st, e);
                st.running[w] = None;
                st.sched.release(&held);
                match last {
                    Some(last) => self.record_end(&mut st, unit, done_attempts, last, fp, true),
                    None => self.finish_unfinished(&mut st, unit, Outcome::Cancelled),
                }
                self.wake(&st);
                return;
            }
        };
        let mut settling = tried.settling.take();
        let (end, cause, started_at, duration) = (
            tried.end.clone(),
            tried.cause,
            tried.started_at,
            tried.duration,
        );
        let outcome = match (&end, cause) {
            (_, Some(KillCause::Timeout)) => Outcome::TimedOut,
            // Even a clean exit after TERM may have cut the work short.
            (_, Some(KillCause::Cancel)) => Outcome::Killed,
            (AttemptEnd::Exited(c), _) if task.ok_codes.contains(c) => Outcome::Ok,
            _ => Outcome::Failed,
        };
        let retry = matches!(outcome, Outcome::Failed | Outcome::TimedOut)
            && attempt < task.retries.saturating_add(1)
            && log_problem.is_none()
            && bad_input.is_none()
            && !self.stopping.load(Ordering::Acquire);
        // A retry's attempt is recorded now; if that fails, it is the last.
        let mut written = None;
        if retry {
            drop(settling.take());
            let recorded = self.write_record(unit, attempt, outcome, &tried, fp.as_ref());
            written = Some(recorded);
        }
        if retry && written == Some(true) {
            let delay = backoff(task.retry_delay, attempt);
            let _ = self.tx.send(Event::AttemptFailed {
                unit,
                attempt,
                end: end.clone(),
                started_at,
                duration,
                retry_in: delay,
                timed_out: outcome == Outcome::TimedOut,
                fingerprint: fp.clone(),
            });
            let mut st = self.lock();
            st.running[w] = None;
            st.sched.release(&held);
            st.sched.push_at(unit, Instant::now() + delay);
            st.pending.insert(
                unit,
                Pending {
                    attempt,
                    fp,
                    last: (outcome, end, duration, started_at),
                },
            );
            self.wake(&st);
            return;
        }

        if outcome.is_failure() && !task.keep_failed_outputs {
            self.remove_outputs(i);
        }
        let recorded = written
            .unwrap_or_else(|| self.write_record(unit, attempt, outcome, &tried, fp.as_ref()));
        let mut st = self.lock();
        st.running[w] = None;
        st.sched.release(&held);
        if let Some(e) = log_problem {
            self.give_up(&mut st, e);
        }
        self.record_end(
            &mut st,
            unit,
            attempt,
            (outcome, end, duration, started_at),
            fp,
            recorded,
        );
        let allowed = plan.allows_failure(i) && outcome.is_failure();
        if outcome.is_failure() && !allowed && outcome != Outcome::Killed {
            self.count_failure(&mut st);
        }
        drop(settling);
        self.wake(&st);
    }

    /// A half-written output must never pass for a result.
    fn remove_outputs(&self, i: usize) {
        for (_, abs) in self.outputs(i) {
            let _ = std::fs::remove_file(abs);
        }
    }

    /// Record a unit whose last attempt ended as `last`.
    fn record_end(
        &self,
        st: &mut State,
        unit: u32,
        attempts: u32,
        last: (Outcome, AttemptEnd, Duration, SystemTime),
        fp: Option<Arc<Fingerprint>>,
        recorded: bool,
    ) {
        let i = unit as usize;
        let plan = self.plan();
        let (outcome, end, duration, started_at) = last;
        if let Some(f) = &fp {
            let run = self.opts.prior.as_ref().map_or(0, |p| p.run);
            if let Some(s) = st.stamps.get_mut(i) {
                *s = f
                    .hash
                    .with_str(|h| journal::stamp(h, journal::epoch_ms(started_at), run));
            }
        }
        let log = self
            .opts
            .logs_dir
            .join(process::log_file_name(&plan.units[i].id));
        self.record(
            st,
            Finished {
                unit,
                outcome,
                attempts,
                end: Some(end),
                duration,
                started_at: Some(started_at),
                ended_at: SystemTime::now(),
                log: Some(log),
                allowed: plan.allows_failure(i) && outcome.is_failure(),
                fingerprint: fp,
                unrecorded: !recorded,
            },
        );
    }

    /// Before a unit starts, let siblings whose process already exited be
    /// recorded first, so a failure that happened before this start stops it
    /// even when its worker thread has not run yet (2 cores, 8 workers). Bounded,
    /// so a unit whose group still holds its output pipe cannot hold others up.
    fn settle_siblings(&self) {
        let t0 = Instant::now();
        let mut spins = 0u32;
        // Zombies first: a sibling is counted before it is reaped, so once no
        // zombie is seen, any sibling that exited earlier shows in the count.
        // A zombie that did not exit 0 may be the failure that stops the run:
        // its worker only has to reap and record it, so wait longer for it
        // than for the rest (a starved thread on a busy machine can take
        // more than SETTLE_MAX).
        loop {
            let limit = match process::exited_child() {
                Some(process::Exited::Otherwise) => SETTLE_FAILED_MAX,
                Some(process::Exited::Clean) => SETTLE_MAX,
                None if self.settling.load(Ordering::SeqCst) > 0 => SETTLE_MAX,
                None => return,
            };
            if self.stopping.load(Ordering::Acquire) || t0.elapsed() >= limit {
                return;
            }
            spins += 1;
            if spins < 16 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }

    /// One attempt: open the log, spawn, register for the watchdog, wait.
    /// `Err` is jobrun's own shortage (see `limits`): the unit did not start.
    /// `slot` is given back once the unit has started.
    #[allow(clippy::too_many_arguments)]
    fn attempt(
        &self,
        w: usize,
        i: usize,
        attempt: u32,
        slot: Option<Slot<'_>>,
        resources: &[Option<String>],
        log_path: &std::path::Path,
        program: &std::path::Path,
        shown: &OsString,
        argv: &[OsString],
        dir: &std::path::Path,
        env: &[(String, OsString)],
        log_problem: &mut Option<Error>,
    ) -> Result<Tried<'_>, Error> {
        let started_at = SystemTime::now();
        let t0 = Instant::now();
        let unit = i as u32;
        // Sent once the attempt is under way (or failed for the unit's own
        // reasons): an attempt jobrun could not start is no start.
        let started = || {
            let _ = self.tx.send(Event::UnitStarted {
                unit,
                attempt,
                worker: w as u32 + 1,
                at: started_at,
                resources: resources.to_vec(),
            });
        };
        let not_started = |end| {
            started();
            Ok(Tried {
                end,
                cause: None,
                settling: None,
                started_at,
                duration: t0.elapsed(),
                worker: w as u32 + 1,
            })
        };
        let shortage = |e| Err(super::limits::shortage(&self.plan().units[i].id, e));
        let cannot_log = |e| Error::io(format!("cannot write the log `{}`", log_path.display()), e);
        let log = match open_log(log_path, attempt, !self.fresh_logs) {
            Ok(f) => f,
            Err(e) if super::limits::is_shortage(&e) => return shortage(e),
            Err(e) => {
                let end = AttemptEnd::SpawnFailed(format!(
                    "cannot write the log `{}`: {e}",
                    log_path.display()
                ));
                *log_problem = Some(cannot_log(e));
                return not_started(end);
            }
        };
        if argv.is_empty() {
            return not_started(AttemptEnd::SpawnFailed("the command is empty".into()));
        }
        let spawned = process::spawn(&Spawn {
            program,
            args: &argv[1..],
            shown,
            dir,
            env,
            log: &log,
            capture: self.opts.line_output,
        });
        drop(slot);
        let (mut child, reader) = match spawned {
            Ok(c) => c,
            Err(StartError::Shortage(e)) => return shortage(e),
            Err(StartError::Unit(end)) => {
                let _ = writeln!(&log, "jobrun: {end}");
                return not_started(end);
            }
        };
        started();
        let mut log = Some(log);
        if reader.is_none() {
            log = None;
        }
        let pgid = child.id() as libc::pid_t;
        {
            let mut st = self.lock();
            let timeout = self.plan().task_of(i).timeout;
            let cancel = st.cancel;
            if let Some(r) = st.running[w].as_mut() {
                r.pgid = pgid;
                r.deadline = timeout.and_then(|t| Instant::now().checked_add(t));
                r.term_at = None;
                r.killed = false;
                r.cause = None;
                // Started in the window between the flag check and the spawn.
                if let Some(c) = cancel
                    && c.terminates()
                {
                    r.cause = Some(KillCause::Cancel);
                    r.term_at = Some(Instant::now());
                    process::kill_group(pgid, libc::SIGTERM);
                }
            }
            if timeout.is_some() || cancel.is_some() {
                self.watch_cv.notify_all();
            }
        }
        if let (Some(reader), Some(log)) = (reader, log.as_mut()) {
            let err = process::pump(&child, reader, log, |line| {
                let _ = self.tx.send(Event::OutputLine {
                    unit,
                    line: line.to_vec(),
                });
            });
            if let Some(e) = err {
                *log_problem = Some(cannot_log(e));
            }
        }
        let mut settling = None;
        let end = process::wait(&mut child, || {
            self.settling.fetch_add(1, Ordering::SeqCst);
            settling = Some(Settling(&self.settling));
        });
        if log_problem.is_none() && process::out_of_space(&self.logs_dir, log_path) {
            *log_problem = Some(Error::io(
                format!(
                    "the file system of the log folder `{}` is full",
                    self.opts.logs_dir.display()
                ),
                std::io::Error::from_raw_os_error(libc::ENOSPC),
            ));
        }
        let mut st = self.lock();
        let cause = st.running[w].as_mut().and_then(|r| {
            r.pgid = 0;
            r.cause
        });
        Ok(Tried {
            end,
            cause,
            settling,
            started_at,
            duration: t0.elapsed(),
            worker: w as u32 + 1,
        })
    }

    /// Record a unit's final outcome and release or skip its dependents.
    fn record(&self, st: &mut State, fin: Finished) {
        let unit = fin.unit;
        let outcome = fin.outcome;
        let passes = outcome.is_success() || fin.allowed;
        st.done[unit as usize] = Some(outcome);
        st.finished += 1;
        st.counts.add(outcome);
        let _ = self.tx.send(Event::UnitFinished(Box::new(fin)));
        let plan = self.plan();
        for d in st.dependents.take(unit) {
            if st.done[d as usize].is_some() {
                continue;
            }
            if passes {
                st.unmet[d as usize] -= 1;
                if st.unmet[d as usize] == 0 {
                    st.sched.push(&plan, d);
                }
            } else {
                self.finish_unfinished(st, d, Outcome::Skipped);
            }
        }
        let task = plan.units[unit as usize].task as usize;
        st.task_left[task] -= 1;
        if !outcome.is_success() {
            st.task_bad[task] = true;
        }
        if st.task_left[task] == 0 && !st.pending_tasks.is_empty() && !st.resolving {
            drop(plan);
            self.resolve_pending(st);
        }
    }

    /// Expand the pending tasks whose producers have all finished ok, and
    /// skip those whose producers did not; again until nothing changes (an
    /// expansion may bring no unit, which finishes its task at once).
    fn resolve_pending(&self, st: &mut State) {
        // Units recorded from in here (skipped ones) come back to this loop.
        st.resolving = true;
        self.resolve_loop(st);
        st.resolving = false;
    }

    fn resolve_loop(&self, st: &mut State) {
        loop {
            let plan = self.plan();
            let finished =
                |st: &State, t: usize| !st.pending_tasks.contains(&t) && st.task_left[t] == 0;
            let mut ready = Vec::new();
            let mut skip = Vec::new();
            for &t in &st.pending_tasks {
                let Some(p) = &plan.tasks[t].pending else {
                    continue;
                };
                if !p.producers.iter().all(|&q| finished(st, q)) {
                    continue;
                }
                if p.producers.iter().any(|&q| st.task_bad[q]) {
                    skip.push(t);
                } else {
                    ready.push(t);
                }
            }
            if ready.is_empty() && skip.is_empty() {
                return;
            }
            // Nothing new starts once the run is stopping: the rest is
            // cancelled at the end, as any unit not started.
            if st.cancel.is_some() {
                return;
            }
            for &t in &skip {
                let _ = self.tx.send(Event::NotExpanded { task: t });
                self.drop_pending(st, &plan, t, Outcome::Skipped);
            }
            if ready.is_empty() {
                continue;
            }
            let grown = match &self.opts.expand {
                Some(expand) => expand(&plan, &ready),
                None => Err("this run cannot expand tasks at run time".to_owned()),
            };
            match grown {
                Ok((next, selected)) => self.install(st, &plan, next, selected, &ready),
                Err(msg) => {
                    let _ = self.tx.send(Event::ExpandFailed {
                        tasks: ready.clone(),
                        message: msg,
                    });
                    st.expand_failed = true;
                    for &t in &ready {
                        self.drop_pending(st, &plan, t, Outcome::Skipped);
                    }
                    self.count_failure(st);
                }
            }
            self.wake(st);
        }
    }

    /// One more failure; at the threshold, `on_failure` fires.
    fn count_failure(&self, st: &mut State) {
        st.failures += 1;
        if let Some(j) = &self.opts.job_failures {
            j.record();
        }
        if st.failures >= self.threshold {
            self.fire_on_failure(st);
        }
    }

    fn fire_on_failure(&self, st: &mut State) {
        match self.plan().job.on_failure {
            // Already stopping for jobrun's own problem, which the
            // summary should name rather than this (likely resulting) failure.
            OnFailure::Abort if st.problem.is_some() => {}
            OnFailure::Abort => self.escalate(st, CancelReason::FailureAbort),
            OnFailure::Kill => self.escalate(st, CancelReason::FailureKill),
            OnFailure::Continue => {}
        }
    }

    /// A pending task that will not expand: the units held for it end as
    /// `outcome`, and it no longer keeps the run going.
    fn drop_pending(&self, st: &mut State, plan: &Plan, t: usize, outcome: Outcome) {
        st.pending_tasks.retain(|&p| p != t);
        st.finished += 1;
        st.task_bad[t] = true;
        st.task_left[t] = 0;
        for i in 0..plan.units.len() {
            let ut = plan.units[i].task as usize;
            if st.done[i].is_none() && plan.tasks[ut].needs.contains(&t) {
                self.finish_unfinished(st, i as u32, outcome);
            }
        }
    }

    /// Take in a grown plan: its new units, and the new edges of units that
    /// waited for the `expanded` tasks (they have not started: held).
    fn install(
        &self,
        st: &mut State,
        old: &Plan,
        next: Plan,
        selected: Vec<bool>,
        expanded: &[usize],
    ) {
        let old_n = old.units.len();
        let next = Arc::new(next);
        let n = next.units.len();
        st.done.resize(n, None);
        st.unmet.resize(n, 0);
        st.dependents.resize(n);
        st.selected.extend(selected.iter().copied());
        st.selected.resize(n, false);
        if let Some(prior) = self.opts.prior.as_ref().filter(|_| !st.stamps.is_empty()) {
            // A unit done in an earlier run: its dependents compare
            // against that record's stamp, as for any unit.
            st.stamps.extend(next.units[old_n..].iter().map(|u| {
                prior
                    .last
                    .get(&u.id)
                    .map_or(journal::NO_STAMP, journal::Record::stamp)
            }));
        }
        st.pending_tasks.retain(|t| !expanded.contains(t));
        *self.plan.write().unwrap_or_else(|e| e.into_inner()) = next.clone();
        for &t in expanded {
            let range = next.tasks[t].units.clone();
            let chosen: Vec<u32> = range
                .clone()
                .filter(|&i| st.selected[i])
                .map(|i| i as u32)
                .collect();
            let _ = self.tx.send(Event::Expanded {
                plan: next.clone(),
                task: t,
                units: range,
                selected: chosen,
            });
        }
        // The pending tasks were one unit each to finish; now their units are.
        st.to_finish -= expanded.len();
        let mut ready: Vec<u32> = Vec::new();
        for i in old_n..n {
            if !st.selected[i] {
                st.done[i] = Some(Outcome::Filtered);
                st.counts.add(Outcome::Filtered);
                continue;
            }
            st.to_finish += 1;
            st.task_left[next.units[i].task as usize] += 1;
        }
        for i in 0..n {
            let task = &next.tasks[next.units[i].task as usize];
            let new_unit = i >= old_n;
            let released = task.needs.iter().filter(|t| expanded.contains(t)).count() as u32;
            if !st.selected[i] || st.done[i].is_some() || (!new_unit && released == 0) {
                continue;
            }
            if new_unit {
                st.unmet[i] = task
                    .needs
                    .iter()
                    .filter(|t| st.pending_tasks.contains(t))
                    .count() as u32;
            } else {
                st.unmet[i] -= released;
            }
            let mut skipped = false;
            for &d in next.units[i].needs.iter() {
                let d = d as usize;
                if (!new_unit && d < old_n) || !st.selected[d] {
                    continue;
                }
                match st.done[d] {
                    None => {
                        st.dependents.push(d as u32, i as u32);
                        st.unmet[i] += 1;
                    }
                    Some(o) if o.is_success() => {}
                    Some(o) => {
                        let allowed = o.is_failure() && next.allows_failure(d);
                        skipped |= !allowed;
                    }
                }
            }
            if skipped {
                self.finish_unfinished(st, i as u32, Outcome::Skipped);
            } else if st.unmet[i] == 0 {
                ready.push(i as u32);
            }
        }
        for i in ready {
            st.sched.push(&next, i);
        }
    }

    /// Record a unit that never ran (skipped or cancelled) and, transitively,
    /// its dependents as skipped.
    fn finish_unfinished(&self, st: &mut State, unit: u32, outcome: Outcome) {
        self.record_not_run(st, unit, outcome, None);
    }

    /// Record a unit that ends without an attempt: cancelled, skipped or up to date.
    fn record_not_run(
        &self,
        st: &mut State,
        unit: u32,
        outcome: Outcome,
        fingerprint: Option<Arc<Fingerprint>>,
    ) {
        self.record(
            st,
            Finished {
                unit,
                outcome,
                attempts: 0,
                end: None,
                duration: Duration::ZERO,
                started_at: None,
                ended_at: SystemTime::now(),
                log: None,
                allowed: false,
                fingerprint,
                unrecorded: false,
            },
        );
    }

    /// The unit's outputs as (shown, absolute) paths.
    fn outputs(&self, i: usize) -> Vec<(String, PathBuf)> {
        let plan = self.plan();
        let task = plan.task_of(i);
        if task.outputs.is_empty() {
            return Vec::new();
        }
        let dir = plan.dir(i);
        plan.paths(i, &task.outputs)
            .into_iter()
            .map(|rel| {
                let shown = display_path(&rel).into_owned();
                (shown, dir.join(rel))
            })
            .collect()
    }

    /// jobrun cannot do its own part (e.g. write logs): say so once, start
    /// nothing new, let running units finish, and fail the run with exit 3.
    fn give_up(&self, st: &mut State, e: Error) {
        if st.problem.is_none() {
            let _ = writeln!(std::io::stderr(), "{e}; no new units start");
            st.problem = Some(e);
        }
        self.escalate(st, CancelReason::Internal);
    }

    fn escalate(&self, st: &mut State, reason: CancelReason) {
        if st.cancel >= Some(reason) {
            return;
        }
        st.cancel = Some(reason);
        self.stopping.store(true, Ordering::Release);
        let _ = self.tx.send(Event::Cancelling {
            reason,
            at: SystemTime::now(),
        });
        if reason.terminates() {
            let now = Instant::now();
            for r in st.running.iter_mut().flatten() {
                if r.pgid > 0 && r.cause.is_none() && process::has_exited(r.pgid) {
                    // It ended on its own a moment ago: its exit decides.
                    continue;
                }
                if r.cause.is_none() {
                    r.cause = Some(KillCause::Cancel);
                }
                if r.pgid > 0 {
                    if reason == CancelReason::SecondSigint {
                        process::kill_group(r.pgid, libc::SIGKILL);
                        r.killed = true;
                    } else if r.term_at.is_none() {
                        process::kill_group(r.pgid, libc::SIGTERM);
                        r.term_at = Some(now);
                    }
                }
            }
        }
        self.wake(st);
        self.watch_cv.notify_all();
    }

    /// Timeouts and TERM -> KILL escalation, sleeping until the next deadline.
    fn watchdog(&self) {
        let grace = self.plan().job.kill_grace;
        let mut st = self.lock();
        loop {
            if st.exiting {
                return;
            }
            let now = Instant::now();
            let mut next: Option<Instant> = None;
            for r in st.running.iter_mut().flatten() {
                if r.pgid <= 0 {
                    continue;
                }
                if r.term_at.is_none()
                    && let Some(dl) = r.deadline
                {
                    if now >= dl {
                        // One that ended just in time is its worker's to record.
                        if !process::has_exited(r.pgid) {
                            process::kill_group(r.pgid, libc::SIGTERM);
                            r.term_at = Some(now);
                            r.cause.get_or_insert(KillCause::Timeout);
                        }
                    } else {
                        next = Some(next.map_or(dl, |n| n.min(dl)));
                    }
                }
                if let Some(t) = r.term_at
                    && !r.killed
                {
                    let kill_at = t + grace;
                    if now >= kill_at {
                        process::kill_group(r.pgid, libc::SIGKILL);
                        r.killed = true;
                    } else {
                        next = Some(next.map_or(kill_at, |n| n.min(kill_at)));
                    }
                }
            }
            st = match next {
                Some(at) => {
                    let wait = at.saturating_duration_since(Instant::now());
                    self.watch_cv
                        .wait_timeout(st, wait)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.watch_cv.wait(st).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }
}

/// The attempt of a unit whose inputs cannot be hashed: the reason in its
/// log, and a failure that no retry can mend.
fn refuse(
    log_path: &std::path::Path,
    why: &str,
    rotate: bool,
    log_problem: &mut Option<Error>,
) -> AttemptEnd {
    let written = open_log(log_path, 1, rotate).and_then(|mut f| writeln!(f, "jobrun: {why}"));
    if let Err(e) = written {
        *log_problem = Some(Error::io(
            format!("cannot write the log `{}`", log_path.display()),
            e,
        ));
    }
    AttemptEnd::SpawnFailed(why.to_owned())
}

fn open_log(path: &std::path::Path, attempt: u32, rotate: bool) -> std::io::Result<File> {
    if attempt == 1 {
        if rotate {
            process::rotate_log(path);
        }
        File::create(path)
    } else {
        let mut f = OpenOptions::new().append(true).create(true).open(path)?;
        writeln!(f, "\n--- jobrun: attempt {attempt} ---")?;
        Ok(f)
    }
}
