//! The plan's data: tasks, units, and rendering a unit's command.
//!
//! Units keep only their values; argv, env, dir, inputs and outputs are
//! rendered on demand, so a million-unit plan costs little memory.

use std::ffi::OsString;
use std::ops::Range;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::dynamic::Pending;
use super::resources::{Pool, Use};
use super::template::{Context, Lookup, Segment, Slot, Template};
use super::value::{UnitValues, Value};
use crate::manifest::{MaxFailures, OnFailure, OutputMode, Workers};

/// Job-wide settings after defaults.
#[derive(Debug, Clone)]
pub struct JobSettings {
    pub name: String,
    pub workers: Workers,
    pub on_failure: OnFailure,
    pub max_failures: MaxFailures,
    pub kill_grace: Duration,
    pub shell: Vec<String>,
    pub output: OutputMode,
    pub keep_order: bool,
    /// Absolute.
    pub state_dir: PathBuf,
    /// Absolute: the manifest's folder joined with `job.dir`.
    pub dir: PathBuf,
}

#[derive(Debug, Clone)]
pub enum CommandTemplate {
    Run(Vec<Template>),
    Shell(Template),
}

#[derive(Debug, Clone)]
pub struct TaskPlan {
    pub name: String,
    /// Declared matrix keys, then keys only includes bring.
    pub keys: Vec<String>,
    pub declared: usize,
    pub command: CommandTemplate,
    pub inputs: Vec<Template>,
    pub outputs: Vec<Template>,
    /// Job env first, then the task's (later entries win).
    pub env: Vec<(String, Template)>,
    /// Relative to the job dir.
    pub dir: Option<Template>,
    pub retries: u32,
    pub retry_delay: Duration,
    pub timeout: Option<Duration>,
    pub allow_failure: FailureAllowed,
    /// Leave a failed unit's outputs in place (for debugging).
    pub keep_failed_outputs: bool,
    pub ok_codes: Vec<i32>,
    /// Task indices this task needs.
    pub needs: Vec<usize>,
    /// What each unit takes from the plan's pools while it runs.
    pub uses: Vec<Use>,
    /// At most this many of the task's units run at once.
    pub max_parallel: Option<u32>,
    /// The task's units: a contiguous range of the plan.
    pub units: std::ops::Range<usize>,
    /// Its matrix reads a file that tasks it needs write: it has no units
    /// until they have finished (see `dynamic`).
    pub pending: Option<Pending>,
    /// Expanded from a list these tasks wrote: the edges to their units say
    /// when the list is ready, not what a unit is made from, so a rerun of
    /// them does not make this task's units stale (only a changed list does).
    pub reads_from: Vec<usize>,
}

/// Whether a task's failures are allowed: for all its units, or by the
/// value of one of its keys (checked at plan time to be `true` or `false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAllowed {
    Fixed(bool),
    Key(usize),
}

#[derive(Debug, Clone)]
pub struct Unit {
    pub task: u32,
    /// Inline up to 24 bytes (most ids): no allocation per unit.
    pub id: compact_str::CompactString,
    /// One value per task key; None where an include-added unit lacks it.
    pub values: UnitValues,
    /// Plan indices of the units this one waits for.
    pub needs: Box<[u32]>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub job: JobSettings,
    pub tasks: Vec<TaskPlan>,
    pub units: Vec<Unit>,
    pub var_values: Vec<Value>,
    /// `[resources]`, in declaration order.
    pub pools: Vec<Pool>,
}

/// What is known of a unit only once it starts: its worker slot and what it
/// holds of each pool (`held[pool]`, rendered: an amount or ids).
#[derive(Debug, Clone, Copy)]
pub struct Start<'a> {
    pub worker: usize,
    pub held: &'a [Option<String>],
}

/// A unit's rendered command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Argv(Vec<OsString>),
    /// The shell string; the program is `job.shell` followed by it.
    Shell(OsString),
}

impl Plan {
    pub fn task_of(&self, unit: usize) -> &TaskPlan {
        &self.tasks[self.units[unit].task as usize]
    }

    /// Does any task need another? Only then do units wait for units.
    pub fn has_needs(&self) -> bool {
        self.tasks.iter().any(|t| !t.needs.is_empty())
    }

    /// Whether a failure of `unit` is allowed (`allow_failure`).
    pub fn allows_failure(&self, unit: usize) -> bool {
        match self.task_of(unit).allow_failure {
            FailureAllowed::Fixed(b) => b,
            FailureAllowed::Key(k) => self.units[unit].values[k]
                .as_ref()
                .is_some_and(|v| v.as_bytes() == b"true"),
        }
    }

    fn cx<'a>(&'a self, unit: usize, start: Option<Start<'a>>) -> UnitCx<'a> {
        UnitCx {
            plan: self,
            unit,
            start,
        }
    }

    /// The command of `unit`; `start` is None when not running (plan output,
    /// fingerprints), and `{worker}` and `{resource.X}` then render as themselves.
    pub fn command(&self, unit: usize, start: Option<Start<'_>>) -> Command {
        let cx = self.cx(unit, start);
        match &self.task_of(unit).command {
            CommandTemplate::Run(argv) => Command::Argv(
                argv.iter()
                    .map(|t| OsString::from_vec(t.render(&cx, false)))
                    .collect(),
            ),
            CommandTemplate::Shell(t) => Command::Shell(OsString::from_vec(t.render(&cx, true))),
        }
    }

    /// `t` rendered for `unit` when not running (as `command` renders), into
    /// `out`, which is cleared first.
    pub fn render_to(&self, unit: usize, t: &Template, quote: bool, out: &mut Vec<u8>) {
        out.clear();
        t.render_into(&self.cx(unit, None), quote, out);
    }

    /// The full argv to execute, with `job.shell` for shell tasks.
    pub fn argv(&self, unit: usize, start: Option<Start<'_>>) -> Vec<OsString> {
        match self.command(unit, start) {
            Command::Argv(a) => a,
            Command::Shell(s) => {
                let mut a: Vec<OsString> = self.job.shell.iter().map(OsString::from).collect();
                a.push(s);
                a
            }
        }
    }

    /// The unit's working directory, relative to the job dir ("." for the job dir).
    pub fn dir_rel(&self, unit: usize) -> PathBuf {
        match &self.task_of(unit).dir {
            Some(t) => PathBuf::from(OsString::from_vec(t.render(&self.cx(unit, None), false))),
            None => PathBuf::from("."),
        }
    }

    /// The unit's working directory, absolute.
    pub fn dir(&self, unit: usize) -> PathBuf {
        let rel = self.dir_rel(unit);
        if rel == Path::new(".") {
            self.job.dir.clone()
        } else {
            self.job.dir.join(rel)
        }
    }

    pub fn env(&self, unit: usize, start: Option<Start<'_>>) -> Vec<(String, OsString)> {
        let cx = self.cx(unit, start);
        self.task_of(unit)
            .env
            .iter()
            .map(|(k, t)| (k.clone(), OsString::from_vec(t.render(&cx, false))))
            .collect()
    }

    /// Input or output paths, relative to the unit's dir.
    pub fn paths(&self, unit: usize, templates: &[Template]) -> Vec<PathBuf> {
        let cx = self.cx(unit, None);
        templates
            .iter()
            .map(|t| PathBuf::from(OsString::from_vec(t.render(&cx, false))))
            .collect()
    }

    /// The first unit with a value inside shell arithmetic (`$((...))`) that
    /// is not an integer: the unit, where the placeholder is in the task's
    /// `shell`, and the value.
    pub fn non_integer_in_arithmetic(&self) -> Option<(usize, Range<usize>, Vec<u8>)> {
        for t in &self.tasks {
            let CommandTemplate::Shell(s) = &t.command else {
                continue;
            };
            let arithmetic = s.segments.iter().any(|seg| {
                matches!(seg, Segment::Ref { quoting, .. } if quoting.context == Context::Arithmetic)
            });
            if !arithmetic {
                continue;
            }
            // Any worker and any whole amount: both are integers.
            let held = vec![Some("1".to_owned()); self.pools.len()];
            let start = Start {
                worker: 1,
                held: &held,
            };
            for u in t.units.clone() {
                if let Some((span, v)) = s.non_integer(&self.cx(u, Some(start))) {
                    return Some((u, span, v));
                }
            }
        }
        None
    }

    /// Is `need` one of `unit`'s needs only because it wrote its list (see
    /// `TaskPlan::reads_from`)? Such needs do not make `unit` stale.
    pub fn list_edge(&self, unit: usize, need: u32) -> bool {
        let from = &self.task_of(unit).reads_from;
        !from.is_empty() && from.contains(&(self.units[need as usize].task as usize))
    }

    /// Does any template of this task use `{worker}` or `{resource.X}`?
    /// Then it renders per start.
    pub fn uses_worker(&self, task: usize) -> bool {
        let t = &self.tasks[task];
        let cmd: Box<dyn Iterator<Item = &Template>> = match &t.command {
            CommandTemplate::Run(a) => Box::new(a.iter()),
            CommandTemplate::Shell(s) => Box::new(std::iter::once(s)),
        };
        cmd.chain(t.env.iter().map(|(_, t)| t)).any(|t| {
            t.slots()
                .any(|s| matches!(s, Slot::Worker | Slot::Resource(_)))
        })
    }
}

/// Template lookups for one unit.
pub struct UnitCx<'a> {
    plan: &'a Plan,
    unit: usize,
    start: Option<Start<'a>>,
}

impl Lookup for UnitCx<'_> {
    fn lookup(&self, slot: &Slot, out: &mut Vec<u8>) {
        let unit = &self.plan.units[self.unit];
        match slot {
            Slot::Var(i) => out.extend_from_slice(self.plan.var_values[*i].as_bytes()),
            Slot::Key(k) => {
                if let Some(Some(v)) = unit.values.get(*k) {
                    out.extend_from_slice(v.as_bytes());
                }
            }
            Slot::Env(name) => {
                if let Some(v) = std::env::var_os(name) {
                    out.extend_from_slice(&v.into_vec());
                }
            }
            Slot::JobName => out.extend_from_slice(self.plan.job.name.as_bytes()),
            Slot::TaskName => out.extend_from_slice(self.plan.task_of(self.unit).name.as_bytes()),
            Slot::UnitId => out.extend_from_slice(unit.id.as_bytes()),
            Slot::UnitIndex => out.extend_from_slice(self.unit.to_string().as_bytes()),
            Slot::Worker => match self.start {
                Some(s) => out.extend_from_slice(s.worker.to_string().as_bytes()),
                None => out.extend_from_slice(b"{worker}"),
            },
            Slot::Resource(p) => match self.start {
                Some(s) => {
                    if let Some(Some(v)) = s.held.get(*p) {
                        out.extend_from_slice(v.as_bytes());
                    }
                }
                None => {
                    out.extend_from_slice(b"{resource.");
                    out.extend_from_slice(self.plan.pools[*p].name.as_bytes());
                    out.push(b'}');
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_unit_stays_small() {
        // 200,000 units are 16 MB at this size; each byte more is 200 KB.
        assert!(
            std::mem::size_of::<super::Unit>() <= 80,
            "{}",
            std::mem::size_of::<super::Unit>()
        );
    }
}
