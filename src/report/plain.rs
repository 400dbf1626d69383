//! What a person or a CI log sees: per-unit lines (plain mode) or a bar
//! (TTY), unit output blocks, and the end summary.
//!
//! jobrun's own lines go to stderr; unit output goes to stdout. Plain mode
//! never redraws (`\r`); with a bar, every line is printed above it.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use super::mode::Display;
use super::progress::Progress;
use super::summary::{FailureLine, fmt_duration, write_summary};
use super::tail::read_tail;
use crate::event::{Event, Finished};
use crate::manifest::OutputMode;
use crate::outcome::{CancelReason, Counts, Outcome};
use std::sync::Arc;

use crate::plan::Plan;
use crate::plan::value::display_path;

const TAIL_BYTES: u64 = 64 * 1024;
const TAIL_LINES: usize = 50;
const SLOWEST: usize = 3;
/// Plain mode: at most one status line this often.
const STATUS_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

#[derive(Debug, Clone, Copy)]
pub struct ReportOptions {
    pub output: OutputMode,
    pub keep_order: bool,
    pub verbosity: Verbosity,
    pub display: Display,
    /// Emit GitHub Actions annotations (`::error::`, `::group::`).
    pub github: bool,
}

/// Where a job's results are: the outputs of its last tasks (those no task
/// needs), when they are few enough to name (at most 3 files).
fn results_line(plan: &Plan) -> Option<String> {
    let cwd = std::env::current_dir().ok();
    let mut shown = Vec::new();
    for (t, task) in plan.tasks.iter().enumerate() {
        if task.outputs.is_empty() || plan.tasks.iter().any(|o| o.needs.contains(&t)) {
            continue;
        }
        for u in task.units.clone() {
            let dir = plan.dir(u);
            for rel in plan.paths(u, &task.outputs) {
                let abs = dir.join(rel);
                let near = cwd
                    .as_ref()
                    .and_then(|c| abs.strip_prefix(c).ok())
                    .map_or(abs.clone(), std::path::Path::to_path_buf);
                if shown.len() == 3 {
                    return None;
                }
                shown.push(display_path(&near).into_owned());
            }
        }
    }
    (!shown.is_empty()).then(|| shown.join(", "))
}

/// Cancelled units the summary names before "... (-v for all)".
const CANCELLED_NAMED: usize = 3;

pub struct PlainReporter<E: Write, O: Write> {
    /// Replaced when a pending task expands.
    plan: Arc<Plan>,
    opts: ReportOptions,
    err: E,
    out: O,
    bar: Option<Progress>,
    failures: Vec<FailureLine>,
    slowest: Vec<(Duration, String)>,
    /// Units that ended ok only after a retry: how many, and the first few.
    flaky_count: usize,
    flaky: Vec<(String, u32)>,
    counts: Counts,
    /// Units that ran but whose record the journal could not take.
    unrecorded: Counts,
    selected: usize,
    running: usize,
    /// Why ready units wait, when a pool is the reason: "12 on cpu, ...".
    waiting: String,
    started: Instant,
    last_status: Instant,
    /// keep_order: finished units waiting for earlier ones, and the next plan index to print.
    pending: BTreeMap<u32, Finished>,
    order: Vec<u32>,
    next: usize,
    out_closed: bool,
    err_closed: bool,
    /// What the "stopping" line already said, so escalations add only news.
    said_stopping: bool,
    said_terminating: bool,
    /// Pending tasks that did not expand because a producer failed.
    not_expanded: Vec<String>,
    /// The first cancelled units (the summary names them), and how many.
    cancelled: Vec<String>,
    cancelled_count: usize,
}

impl<E: Write, O: Write> PlainReporter<E, O> {
    pub fn new(plan: Arc<Plan>, opts: ReportOptions, err: E, out: O) -> Self {
        PlainReporter {
            plan,
            opts,
            err,
            out,
            bar: None,
            failures: Vec::new(),
            slowest: Vec::new(),
            flaky_count: 0,
            flaky: Vec::new(),
            counts: Counts::default(),
            unrecorded: Counts::default(),
            selected: 0,
            running: 0,
            waiting: String::new(),
            started: Instant::now(),
            last_status: Instant::now(),
            pending: BTreeMap::new(),
            order: Vec::new(),
            next: 0,
            out_closed: false,
            err_closed: false,
            said_stopping: false,
            said_terminating: false,
            not_expanded: Vec::new(),
            cancelled: Vec::new(),
            cancelled_count: 0,
        }
    }

    /// Tell the reporter which units are selected (plan order), for keep_order.
    pub fn set_selected(&mut self, selected: &[bool]) {
        self.order = (0..selected.len() as u32)
            .filter(|&i| selected[i as usize])
            .collect();
    }

    pub fn handle(&mut self, ev: &Event) -> io::Result<()> {
        if let Some(bar) = &mut self.bar {
            bar.handle(ev);
        }
        // The summary goes below a cleared bar, not above a stale one.
        if let Event::JobFinished { .. } = ev
            && let Some(bar) = self.bar.take()
        {
            bar.finish();
        }
        let mut buf = Vec::new();
        self.render(ev, &mut buf)?;
        self.emit_err(&buf)
    }

    /// Periodic work between events: the bar's running list, plain status lines.
    pub fn tick(&mut self) -> io::Result<()> {
        if let Some(bar) = &mut self.bar {
            bar.tick(&self.plan);
            return Ok(());
        }
        if self.opts.display == Display::Plain
            && self.opts.verbosity != Verbosity::Quiet
            && self.selected > 0
            && self.last_status.elapsed() >= STATUS_EVERY
        {
            self.last_status = Instant::now();
            let done = self.counts.total();
            let waiting = if self.waiting.is_empty() {
                String::new()
            } else {
                format!(", waiting {}", self.waiting)
            };
            let line = format!(
                "jobrun: {done}/{} done ({} ok, {} failed), {} running{waiting}, {}\n",
                self.selected,
                self.counts.get(Outcome::Ok) + self.counts.get(Outcome::UpToDate),
                self.counts.get(Outcome::Failed)
                    + self.counts.get(Outcome::TimedOut)
                    + self.counts.get(Outcome::Killed),
                self.running,
                fmt_duration(self.started.elapsed())
            );
            self.emit_err(line.as_bytes())?;
        }
        Ok(())
    }

    /// When `tick` wants to run next.
    pub fn tick_every(&self) -> Duration {
        // The bar appears with the first event, after the first tick is
        // scheduled: go by the display, or its counts lag a whole second.
        if self.bar.is_some() || self.opts.display == Display::Bar {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(1)
        }
    }

    fn render(&mut self, ev: &Event, w: &mut Vec<u8>) -> io::Result<()> {
        let verbose = self.opts.verbosity == Verbosity::Verbose;
        match ev {
            Event::JobStarted {
                selected, workers, ..
            } => {
                self.selected = *selected;
                self.started = Instant::now();
                self.last_status = Instant::now();
                if self.opts.display == Display::Bar {
                    self.bar = Some(Progress::new(*selected as u64));
                }
                if verbose {
                    writeln!(
                        w,
                        "jobrun: {} ({selected} units, {workers} workers)",
                        self.plan.job.name
                    )?;
                }
            }
            Event::UnitStarted {
                unit,
                attempt,
                worker,
                ..
            } => {
                if *attempt == 1 {
                    self.running += 1;
                }
                if verbose {
                    let id = &self.plan.units[*unit as usize].id;
                    writeln!(w, "start {id} (attempt {attempt}, worker {worker})")?;
                }
            }
            Event::AttemptFailed {
                unit,
                attempt,
                end,
                retry_in,
                ..
            } => {
                let id = &self.plan.units[*unit as usize].id;
                writeln!(
                    w,
                    "RETRY {id}: attempt {attempt} ended with {end}; next in {}",
                    fmt_duration(*retry_in)
                )?;
            }
            Event::OutputLine { unit, line } => {
                let id = &self.plan.units[*unit as usize].id;
                // One write per line: lines of two units never mix.
                let mut l = Vec::with_capacity(id.len() + line.len() + 4);
                l.push(b'[');
                l.extend_from_slice(id.as_bytes());
                l.extend_from_slice(b"] ");
                l.extend_from_slice(line);
                l.push(b'\n');
                self.emit_out(&l)?;
            }
            Event::Cancelling { reason, .. } if self.opts.verbosity != Verbosity::Quiet => {
                let done = self.counts.total() >= self.selected;
                let msg = if done {
                    // Nothing is left to stop: the summary says why it ended.
                    None
                } else if *reason == CancelReason::SecondSigint {
                    Some("second SIGINT: running units are killed now")
                } else if reason.terminates() && !self.said_terminating {
                    Some("stopping: no new units start; running units are terminated")
                } else if !self.said_stopping {
                    Some("stopping: no new units start; running units finish")
                } else {
                    None
                };
                if let Some(msg) = msg {
                    self.said_stopping = true;
                    self.said_terminating |= reason.terminates();
                    writeln!(w, "jobrun: {msg}")?;
                }
            }
            Event::UnitFinished(f) => self.finished(f, w)?,
            Event::Expanded {
                plan,
                task,
                selected,
                ..
            } => {
                self.plan = Arc::clone(plan);
                self.selected += selected.len();
                self.order.extend_from_slice(selected);
                let name = &plan.tasks[*task].name;
                if let Some(bar) = &mut self.bar {
                    bar.grow(name, selected.len());
                } else if verbose {
                    writeln!(
                        w,
                        "jobrun: task `{name}` expanded: {} units",
                        selected.len()
                    )?;
                }
            }
            Event::NotExpanded { task } => {
                self.not_expanded.push(self.plan.tasks[*task].name.clone());
            }
            Event::ExpandFailed { tasks, message } => {
                let names: Vec<String> = tasks
                    .iter()
                    .map(|&t| format!("`{}`", self.plan.tasks[t].name))
                    .collect();
                let names = names.join(", ");
                let what = if tasks.len() == 1 { "task" } else { "tasks" };
                // The message is a located diagnostic (file:line of the list).
                let message = message.strip_prefix("error: ").unwrap_or(message);
                writeln!(w, "jobrun: {what} {names} cannot expand: {message}")?;
                self.failures.push(FailureLine::expand(&names));
            }
            Event::Waiting { pools } => {
                self.waiting = waiting_text(pools);
            }
            Event::JobFinished {
                counts,
                wall,
                cancel,
                peaks,
                exit_code,
                ..
            } => {
                // keep_order: whatever is left (nothing, normally).
                let rest: Vec<Finished> = std::mem::take(&mut self.pending).into_values().collect();
                for f in rest {
                    self.output_block(&f)?;
                }
                write_summary(
                    w,
                    counts,
                    *wall,
                    *cancel,
                    &self.failures,
                    &self.slowest,
                    &self.unrecorded,
                )?;
                if self.flaky_count > 0 {
                    let named: Vec<String> = self
                        .flaky
                        .iter()
                        .map(|(id, n)| format!("{id} ok after {n} attempts"))
                        .collect();
                    let more = if self.flaky_count > self.flaky.len() {
                        ", ..."
                    } else {
                        ""
                    };
                    writeln!(
                        w,
                        "  needed retries (flaky): {}: {}{more}",
                        self.flaky_count,
                        named.join(", ")
                    )?;
                }
                if *exit_code == 0
                    && self.opts.verbosity != Verbosity::Quiet
                    && let Some(results) = results_line(&self.plan)
                {
                    writeln!(w, "  results: {results}")?;
                }
                if self.cancelled_count > 0 {
                    let more = if self.cancelled_count > self.cancelled.len() {
                        ", ... (-v for all)"
                    } else {
                        ""
                    };
                    writeln!(
                        w,
                        "  {} cancelled: {}{more}",
                        self.cancelled_count,
                        self.cancelled.join(", ")
                    )?;
                }
                if !self.not_expanded.is_empty() {
                    writeln!(
                        w,
                        "  not expanded, as a task they read from did not finish ok: {}",
                        self.not_expanded.join(", ")
                    )?;
                }
                if !self.plan.pools.is_empty() && self.opts.verbosity != Verbosity::Quiet {
                    writeln!(w, "  peak use: {}", peak_text(&self.plan, peaks))?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn finished(&mut self, f: &Finished, w: &mut Vec<u8>) -> io::Result<()> {
        self.counts.add(f.outcome);
        if f.unrecorded {
            self.unrecorded.add(f.outcome);
        }
        if f.attempts > 0 {
            self.running = self.running.saturating_sub(1);
        }
        let plan = Arc::clone(&self.plan);
        let id = &*plan.units[f.unit as usize].id;
        if f.attempts > 0 {
            self.note_duration(f.duration, id);
        }
        if f.outcome == Outcome::Cancelled {
            self.cancelled_count += 1;
            if self.cancelled.len() < CANCELLED_NAMED {
                self.cancelled.push(id.to_owned());
            }
        }
        let flaky = f.outcome == Outcome::Ok && f.attempts > 1;
        if flaky {
            self.flaky_count += 1;
            if self.flaky.len() < CANCELLED_NAMED {
                self.flaky.push((id.to_owned(), f.attempts));
            }
        }
        let failed = f.outcome.is_failure();
        if failed {
            self.failures.push(FailureLine {
                id: id.to_owned(),
                outcome: f.outcome,
                end: f.end.clone(),
                attempts: f.attempts,
                log: f.log.clone(),
                allowed: f.allowed,
            });
        }
        let quiet = self.opts.verbosity == Verbosity::Quiet;
        let verbose = self.opts.verbosity == Verbosity::Verbose;
        let noisy = matches!(f.outcome, Outcome::Cancelled | Outcome::UpToDate);
        let per_unit_lines = self.opts.display == Display::Plain && !quiet && (!noisy || verbose);
        if failed || per_unit_lines {
            let label = match f.outcome {
                Outcome::Ok => "ok  ",
                Outcome::Failed => "FAIL",
                Outcome::TimedOut => "TIME",
                Outcome::Killed => "KILL",
                Outcome::Skipped => "skip",
                Outcome::UpToDate => "done",
                Outcome::Cancelled => "cncl",
                Outcome::Filtered => "    ",
            };
            write!(w, "{label} {id}")?;
            if f.attempts > 0 {
                write!(w, " {}", fmt_duration(f.duration))?;
            }
            if flaky {
                write!(w, " (ok after {} attempts)", f.attempts)?;
            }
            if failed && let Some(end) = &f.end {
                write!(w, " ({end}")?;
                if f.allowed {
                    write!(w, ", allowed")?;
                }
                write!(w, ")")?;
            }
            if f.unrecorded {
                write!(w, " (not recorded in the journal)")?;
            }
            writeln!(w)?;
        }
        if failed && self.opts.github && !f.allowed {
            let end = f.end.as_ref().map(|e| format!(": {e}")).unwrap_or_default();
            writeln!(
                w,
                "::error title=jobrun {}::{id} {}{end}",
                self.plan.job.name, f.outcome
            )?;
        }
        if self.opts.keep_order && self.opts.output == OutputMode::All {
            self.pending.insert(f.unit, f.clone());
            while let Some(&next) = self.order.get(self.next) {
                let Some(done) = self.pending.remove(&next) else {
                    break;
                };
                self.next += 1;
                // Write what came before, so blocks and status lines stay in order.
                self.emit_err(w)?;
                w.clear();
                self.output_block(&done)?;
            }
        } else {
            self.emit_err(w)?;
            w.clear();
            self.output_block(f)?;
        }
        Ok(())
    }

    fn output_block(&mut self, f: &Finished) -> io::Result<()> {
        let failed = f.outcome.is_failure();
        let show = match self.opts.output {
            OutputMode::All => f.attempts > 0,
            OutputMode::Failed => failed,
            OutputMode::Line | OutputMode::None => false,
        };
        let Some(log) = f.log.as_ref().filter(|_| show) else {
            return Ok(());
        };
        let id = self.plan.units[f.unit as usize].id.to_string();
        let (body, truncated) = match read_tail(log, TAIL_BYTES, TAIL_LINES) {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("jobrun: cannot read `{}`: {e}\n", display_path(log));
                return self.emit_err(msg.as_bytes());
            }
        };
        if body.is_empty() {
            return Ok(());
        }
        let github = self.opts.github && failed;
        let mut block = Vec::with_capacity(body.len() + 128);
        if github {
            writeln!(block, "::group::{id} output")?;
        } else {
            writeln!(block, "--- {id} ---")?;
        }
        if truncated {
            writeln!(block, "[... earlier output in {}]", display_path(log))?;
        }
        block.extend_from_slice(&body);
        if !body.ends_with(b"\n") {
            block.push(b'\n');
        }
        if github {
            writeln!(block, "::endgroup::")?;
        }
        self.emit_out(&block)
    }

    /// jobrun's own lines. A stream that fails (closed pipe, gone terminal)
    /// is dropped on its own: unit output piped into `head` must not take
    /// the failure lines and the summary on stderr with it.
    fn emit_err(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() || self.err_closed {
            return Ok(());
        }
        let r = match &mut self.bar {
            Some(bar) => bar.suspend(|| self.err.write_all(bytes).and_then(|()| self.err.flush())),
            None => self.err.write_all(bytes),
        };
        self.err_closed = r.is_err();
        Ok(())
    }

    fn emit_out(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.out_closed {
            return Ok(());
        }
        let r = match &mut self.bar {
            Some(bar) => bar.suspend(|| self.out.write_all(bytes).and_then(|()| self.out.flush())),
            None => self.out.write_all(bytes).and_then(|()| self.out.flush()),
        };
        self.out_closed = r.is_err();
        Ok(())
    }

    fn note_duration(&mut self, d: Duration, id: &str) {
        if self.slowest.len() < SLOWEST || self.slowest.last().is_some_and(|(m, _)| d > *m) {
            self.slowest.push((d, id.to_owned()));
            self.slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
            self.slowest.truncate(SLOWEST);
        }
    }
}

/// "12 on cpu, 3 on s3" (ready units by the pool that holds them back).
pub fn waiting_text(pools: &[(String, usize)]) -> String {
    pools
        .iter()
        .map(|(p, n)| format!("{n} on {p}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "net 4 of 4, cpu 1.5 of 2, api (10/s)": each pool's peak against its capacity.
fn peak_text(plan: &Plan, peaks: &[u64]) -> String {
    use crate::plan::resources::show_amount;
    plan.pools
        .iter()
        .zip(peaks)
        .map(|(p, &m)| {
            let mut s = match p.capacity {
                Some(c) => format!("{} {} of {}", p.name, show_amount(m), show_amount(c)),
                None => p.name.clone(),
            };
            if let Some(r) = p.rate {
                s.push_str(&format!(" ({r})"));
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}
