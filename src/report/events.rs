//! `--events PATH|-`: JSON Lines, one object per event, written as events
//! happen. The shape is `JsonEvent`; `schemas/events.schema.json` is
//! generated from it (`jobrun schema events`).

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use schemars::JsonSchema;
use serde::Serialize;

use crate::event::{AttemptEnd, Event, signal_name};
use crate::outcome::{CancelReason, Outcome};
use crate::plan::Plan;

/// One line of the events stream. `time` is RFC 3339 UTC with milliseconds.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
#[schemars(title = "jobrun event")]
pub enum JsonEvent {
    JobStarted {
        time: String,
        job: String,
        /// Units that will be considered (after --only).
        units: usize,
        /// Units in the plan.
        total: usize,
        workers: usize,
    },
    UnitStarted {
        time: String,
        id: String,
        task: String,
        attempt: u32,
        worker: u32,
        /// What the attempt holds of each pool it uses: an amount, or the
        /// ids of an indexed pool, comma-separated.
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(default)]
        resources: BTreeMap<String, String>,
    },
    /// Ready units wait on these pools (units per pool); sent when it changes.
    Waiting {
        time: String,
        pools: BTreeMap<String, usize>,
    },
    /// An attempt failed and the unit will be retried.
    AttemptFailed {
        time: String,
        id: String,
        attempt: u32,
        outcome: Outcome,
        exit_code: Option<i32>,
        signal: Option<String>,
        error: Option<String>,
        duration_s: f64,
        retry_in_s: f64,
    },
    Cancelling {
        time: String,
        reason: CancelReason,
    },
    /// A pending task's list was read (its producers finished): the plan
    /// grew by `total` units, `units` of them selected to run.
    TaskExpanded {
        time: String,
        task: String,
        units: usize,
        total: usize,
    },
    /// A pending task will not expand, because a task it reads from did
    /// not finish ok: what needs it is skipped.
    TaskSkipped {
        time: String,
        task: String,
    },
    /// The lists of these pending tasks could not be used: they and what
    /// needs them are skipped, and the run fails.
    TaskExpandFailed {
        time: String,
        tasks: Vec<String>,
        error: String,
    },
    UnitFinished {
        time: String,
        id: String,
        task: String,
        outcome: Outcome,
        /// 0 for units that never started.
        attempts: u32,
        exit_code: Option<i32>,
        signal: Option<String>,
        /// Why the process could not be started.
        error: Option<String>,
        duration_s: f64,
        log: Option<String>,
        /// Present (true) when the unit ran but its record could not be
        /// written to the journal: the next run does not know it ran.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        unrecorded: bool,
    },
    JobFinished {
        time: String,
        wall_s: f64,
        exit_code: i32,
        /// Units by outcome; only outcomes that occurred.
        counts: BTreeMap<String, usize>,
        /// The most each pool had in use at once (absent without pools).
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        #[schemars(default)]
        pool_peaks: BTreeMap<String, f64>,
    },
}

pub fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn end_fields(end: Option<&AttemptEnd>) -> (Option<i32>, Option<String>, Option<String>) {
    match end {
        Some(AttemptEnd::Exited(c)) => (Some(*c), None, None),
        Some(AttemptEnd::Signaled(s)) => (None, Some(signal_name(*s)), None),
        Some(AttemptEnd::SpawnFailed(m)) => (Some(127), None, Some(m.clone())),
        None => (None, None, None),
    }
}

impl JsonEvent {
    /// None for events the stream does not carry (output lines).
    pub fn from_event(plan: &Plan, ev: &Event) -> Option<JsonEvent> {
        let id = |u: u32| plan.units[u as usize].id.to_string();
        let task = |u: u32| plan.task_of(u as usize).name.clone();
        Some(match ev {
            Event::OutputLine { .. } => return None,
            Event::Expanded {
                plan,
                task,
                units,
                selected,
            } => JsonEvent::TaskExpanded {
                time: time(SystemTime::now()),
                task: plan.tasks[*task].name.clone(),
                units: selected.len(),
                total: units.len(),
            },
            Event::NotExpanded { task } => JsonEvent::TaskSkipped {
                time: time(SystemTime::now()),
                task: plan.tasks[*task].name.clone(),
            },
            Event::ExpandFailed { tasks, message } => JsonEvent::TaskExpandFailed {
                time: time(SystemTime::now()),
                tasks: tasks.iter().map(|&t| plan.tasks[t].name.clone()).collect(),
                error: message.clone(),
            },
            Event::JobStarted {
                selected,
                total,
                workers,
                at,
            } => JsonEvent::JobStarted {
                time: time(*at),
                job: plan.job.name.clone(),
                units: *selected,
                total: *total,
                workers: *workers,
            },
            Event::UnitStarted {
                unit,
                attempt,
                worker,
                at,
                resources,
            } => JsonEvent::UnitStarted {
                time: time(*at),
                id: id(*unit),
                task: task(*unit),
                attempt: *attempt,
                worker: *worker,
                resources: resources
                    .iter()
                    .enumerate()
                    .filter_map(|(p, v)| Some((plan.pools[p].name.clone(), v.clone()?)))
                    .collect(),
            },
            Event::Waiting { pools } => JsonEvent::Waiting {
                time: time(SystemTime::now()),
                pools: pools.iter().cloned().collect(),
            },
            Event::AttemptFailed {
                unit,
                attempt,
                end,
                started_at,
                duration,
                retry_in,
                timed_out,
                ..
            } => {
                let (exit_code, signal, error) = end_fields(Some(end));
                JsonEvent::AttemptFailed {
                    time: time(*started_at + *duration),
                    id: id(*unit),
                    attempt: *attempt,
                    outcome: if *timed_out {
                        Outcome::TimedOut
                    } else {
                        Outcome::Failed
                    },
                    exit_code,
                    signal,
                    error,
                    duration_s: secs(*duration),
                    retry_in_s: secs(*retry_in),
                }
            }
            Event::Cancelling { reason, at } => JsonEvent::Cancelling {
                time: time(*at),
                reason: *reason,
            },
            Event::UnitFinished(f) => {
                let (exit_code, signal, error) = end_fields(f.end.as_ref());
                JsonEvent::UnitFinished {
                    time: time(f.ended_at),
                    id: id(f.unit),
                    task: task(f.unit),
                    outcome: f.outcome,
                    attempts: f.attempts,
                    exit_code,
                    signal,
                    error,
                    duration_s: secs(f.duration),
                    log: f.log.as_ref().map(|p| p.display().to_string()),
                    unrecorded: f.unrecorded,
                }
            }
            Event::JobFinished {
                counts,
                wall,
                exit_code,
                at,
                peaks,
                ..
            } => JsonEvent::JobFinished {
                time: time(*at),
                wall_s: secs(*wall),
                exit_code: *exit_code,
                counts: counts
                    .iter()
                    .filter(|&(_, c)| c > 0)
                    .map(|(o, c)| (o.as_str().to_owned(), c))
                    .collect(),
                pool_peaks: plan
                    .pools
                    .iter()
                    .zip(peaks)
                    .map(|(p, &m)| (p.name.clone(), m as f64 / 1000.0))
                    .collect(),
            },
        })
    }
}

/// Writes each event as one line and flushes it, so a reader tailing the
/// file sees events as they happen.
pub struct EventWriter<W: Write> {
    out: W,
}

impl<W: Write> EventWriter<W> {
    pub fn new(out: W) -> Self {
        EventWriter { out }
    }

    pub fn handle(&mut self, plan: &Plan, ev: &Event) -> io::Result<()> {
        let Some(j) = JsonEvent::from_event(plan, ev) else {
            return Ok(());
        };
        serde_json::to_writer(&mut self.out, &j)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

/// The events schema (draft-07).
pub fn schema() -> String {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<JsonEvent>();
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}
