//! Events from `exec` to `report` (and the journal). `exec` never prints: it
//! sends these, in the order things happen, on one channel.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::journal::Fingerprint;
use crate::outcome::{CancelReason, Counts, Outcome};

#[derive(Debug)]
pub enum Event {
    JobStarted {
        /// Units that will be considered (selected by --only / --shard).
        selected: usize,
        /// Units in the plan.
        total: usize,
        workers: usize,
        at: SystemTime,
    },
    UnitStarted {
        unit: u32,
        attempt: u32,
        /// 1-based worker slot.
        worker: u32,
        at: SystemTime,
        /// What the attempt holds of each pool of the plan (amount or ids);
        /// empty when the job has no pools.
        resources: Vec<Option<String>>,
    },
    /// Ready units wait for these pools (name, units), because that is what
    /// keeps them from starting; sent when it changes.
    Waiting {
        pools: Vec<(String, usize)>,
    },
    /// An attempt failed; another follows after `retry_in`.
    AttemptFailed {
        unit: u32,
        attempt: u32,
        end: AttemptEnd,
        started_at: SystemTime,
        duration: Duration,
        retry_in: Duration,
        timed_out: bool,
        fingerprint: Option<Arc<Fingerprint>>,
    },
    /// One line of a unit's output (only with `output = "line"`), without its newline.
    OutputLine {
        unit: u32,
        line: Vec<u8>,
    },
    /// The run stops starting units (and maybe terminates running ones).
    Cancelling {
        reason: CancelReason,
        at: SystemTime,
    },
    UnitFinished(Box<Finished>),
    /// A pending task's list was read: the plan grew by `units`, of which
    /// `selected` run. Sent before any of them starts.
    Expanded {
        plan: Arc<crate::plan::Plan>,
        task: usize,
        units: std::ops::Range<usize>,
        selected: Vec<u32>,
    },
    /// A pending task will not expand: a producer did not finish ok.
    NotExpanded {
        task: usize,
    },
    /// The lists of these pending tasks could not be used (a run-time
    /// failure: they and what needs them are skipped).
    ExpandFailed {
        tasks: Vec<usize>,
        message: String,
    },
    JobFinished {
        counts: Counts,
        /// The most each pool of the plan had in use at once, in thousandths.
        peaks: Vec<u64>,
        wall: Duration,
        exit_code: i32,
        cancel: Option<CancelReason>,
        at: SystemTime,
    },
}

/// A unit's final record.
#[derive(Debug, Clone)]
pub struct Finished {
    pub unit: u32,
    pub outcome: Outcome,
    /// Attempts made (0 for units that never started).
    pub attempts: u32,
    /// How the last attempt ended, if one ran.
    pub end: Option<AttemptEnd>,
    /// Wall time of the last attempt.
    pub duration: Duration,
    pub started_at: Option<SystemTime>,
    pub ended_at: SystemTime,
    pub log: Option<PathBuf>,
    /// Failure of a task with `allow_failure = true`: reported, not counted.
    pub allowed: bool,
    /// Computed when the journal is on and the unit was considered for running.
    pub fingerprint: Option<Arc<Fingerprint>>,
    /// It ran, but its record could not be written to the journal (the run
    /// stops, exit 3): the next run does not know it ran.
    pub unrecorded: bool,
}

/// How one attempt's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptEnd {
    Exited(i32),
    Signaled(i32),
    /// The process could not be started at all.
    SpawnFailed(String),
}

impl AttemptEnd {
    /// The exit code, with 127 (as a shell reports it) for a command that could not start.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            AttemptEnd::Exited(c) => Some(*c),
            AttemptEnd::SpawnFailed(_) => Some(127),
            AttemptEnd::Signaled(_) => None,
        }
    }

    pub fn signal(&self) -> Option<i32> {
        match self {
            AttemptEnd::Signaled(s) => Some(*s),
            _ => None,
        }
    }
}

impl std::fmt::Display for AttemptEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttemptEnd::Exited(c) => write!(f, "exit code {c}"),
            AttemptEnd::Signaled(s) => write!(f, "signal {}", signal_name(*s)),
            // Names a program or a folder, which may come from file names.
            AttemptEnd::SpawnFailed(m) => f.write_str(&crate::plan::value::printable(m)),
        }
    }
}

/// `SIGKILL` for 9, and so on; the number for signals without a common name.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => return format!("signal {sig}"),
    };
    name.to_owned()
}
