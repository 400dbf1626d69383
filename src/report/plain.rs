//! Plain, line-oriented reporting (CI logs, pipes): never a `\r` redraw.
//! jobrun's own lines go to stderr; unit output blocks go to stdout.

use std::io::{self, Write};
use std::time::Duration;

use super::summary::{FailureLine, fmt_duration, write_summary};
use super::tail::read_tail;
use crate::event::{Event, Finished};
use crate::manifest::OutputMode;
use crate::outcome::Outcome;
use crate::plan::Plan;

const TAIL_BYTES: u64 = 64 * 1024;
const TAIL_LINES: usize = 50;
const SLOWEST: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

#[derive(Debug, Clone, Copy)]
pub struct ReportOptions {
    pub output: OutputMode,
    pub verbosity: Verbosity,
}

pub struct PlainReporter<'a, E: Write, O: Write> {
    plan: &'a Plan,
    opts: ReportOptions,
    err: E,
    out: O,
    failures: Vec<FailureLine>,
    slowest: Vec<(Duration, String)>,
}

impl<'a, E: Write, O: Write> PlainReporter<'a, E, O> {
    pub fn new(plan: &'a Plan, opts: ReportOptions, err: E, out: O) -> Self {
        PlainReporter {
            plan,
            opts,
            err,
            out,
            failures: Vec::new(),
            slowest: Vec::new(),
        }
    }

    pub fn handle(&mut self, ev: &Event) -> io::Result<()> {
        let verbose = self.opts.verbosity == Verbosity::Verbose;
        match ev {
            Event::JobStarted {
                selected, workers, ..
            } if verbose => {
                writeln!(
                    self.err,
                    "jobrun: {} ({selected} units, {workers} workers)",
                    self.plan.job.name
                )?;
            }
            Event::UnitStarted {
                unit,
                attempt,
                worker,
                ..
            } if verbose => {
                let id = &self.plan.units[*unit as usize].id;
                writeln!(self.err, "start {id} (attempt {attempt}, worker {worker})")?;
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
                    self.err,
                    "RETRY {id}: attempt {attempt} ended with {end}; next in {}",
                    fmt_duration(*retry_in)
                )?;
            }
            Event::Cancelling { reason } if self.opts.verbosity != Verbosity::Quiet => {
                let msg = if reason.terminates() {
                    "stopping: no new units start; running units are terminated"
                } else {
                    "stopping: no new units start; running units finish"
                };
                writeln!(self.err, "jobrun: {msg}")?;
            }
            Event::UnitFinished(f) => self.finished(f)?,
            Event::JobFinished {
                counts,
                wall,
                cancel,
                ..
            } => {
                write_summary(
                    &mut self.err,
                    counts,
                    *wall,
                    *cancel,
                    &self.failures,
                    &self.slowest,
                )?;
            }
            _ => {}
        }
        Ok(())
    }

    fn finished(&mut self, f: &Finished) -> io::Result<()> {
        let id = &*self.plan.units[f.unit as usize].id;
        if f.attempts > 0 {
            self.note_duration(f.duration, id);
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
        if failed || !quiet && (!noisy || verbose) {
            let label = match f.outcome {
                Outcome::Ok => "ok  ",
                Outcome::Failed => "FAIL",
                Outcome::TimedOut => "TIME",
                Outcome::Killed => "KILL",
                Outcome::Skipped => "skip",
                Outcome::UpToDate => "done",
                _ => "    ",
            };
            write!(self.err, "{label} {id}")?;
            if f.attempts > 0 {
                write!(self.err, " {}", fmt_duration(f.duration))?;
            }
            if failed && let Some(end) = &f.end {
                write!(self.err, " ({end}")?;
                if f.allowed {
                    write!(self.err, ", allowed")?;
                }
                write!(self.err, ")")?;
            }
            writeln!(self.err)?;
        }
        let show = match self.opts.output {
            OutputMode::All => f.attempts > 0,
            OutputMode::Failed => failed,
            OutputMode::Line | OutputMode::None => false,
        };
        if show && let Some(log) = &f.log {
            self.block(id, log)?;
        }
        Ok(())
    }

    fn block(&mut self, id: &str, log: &std::path::Path) -> io::Result<()> {
        let (body, truncated) = match read_tail(log, TAIL_BYTES, TAIL_LINES) {
            Ok(t) => t,
            Err(e) => {
                writeln!(self.err, "jobrun: cannot read `{}`: {e}", log.display())?;
                return Ok(());
            }
        };
        if body.is_empty() {
            return Ok(());
        }
        writeln!(self.out, "--- {id} ---")?;
        if truncated {
            writeln!(self.out, "[... earlier output in {}]", log.display())?;
        }
        self.out.write_all(&body)?;
        if !body.ends_with(b"\n") {
            writeln!(self.out)?;
        }
        self.out.flush()
    }

    fn note_duration(&mut self, d: Duration, id: &str) {
        if self.slowest.len() < SLOWEST || self.slowest.last().is_some_and(|(m, _)| d > *m) {
            self.slowest.push((d, id.to_owned()));
            self.slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
            self.slowest.truncate(SLOWEST);
        }
    }
}
