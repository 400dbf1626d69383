//! What happened to a unit. Names equal their JSON strings.

use serde::Serialize;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Failed,
    TimedOut,
    /// Terminated by jobrun (on_failure = kill, or jobrun was interrupted).
    Killed,
    /// Never started: the run was stopped first.
    Cancelled,
    /// Never started: a dependency failed, was cancelled or skipped.
    Skipped,
    /// Not run: the journal shows it done with the same fingerprint.
    UpToDate,
    /// Not selected by `--only` or `--shard`.
    Filtered,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Ok,
        Outcome::Failed,
        Outcome::TimedOut,
        Outcome::Killed,
        Outcome::Cancelled,
        Outcome::Skipped,
        Outcome::UpToDate,
        Outcome::Filtered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed_out",
            Outcome::Killed => "killed",
            Outcome::Cancelled => "cancelled",
            Outcome::Skipped => "skipped",
            Outcome::UpToDate => "up_to_date",
            Outcome::Filtered => "filtered",
        }
    }

    /// Did the unit's work get done (so dependents may run)?
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Ok | Outcome::UpToDate)
    }

    /// Did the unit run and not succeed?
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::Failed | Outcome::TimedOut | Outcome::Killed)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counts by outcome, indexed like [`Outcome::ALL`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts([usize; 8]);

impl Counts {
    pub fn add(&mut self, o: Outcome) {
        self.0[o as usize] += 1;
    }
    pub fn get(&self, o: Outcome) -> usize {
        self.0[o as usize]
    }
    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }
    pub fn iter(&self) -> impl Iterator<Item = (Outcome, usize)> + '_ {
        Outcome::ALL.iter().map(|&o| (o, self.get(o)))
    }
}

/// Why the run is stopping. Only escalates (see `exec::pool`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// jobrun cannot go on (it could not write its journal): running units finish.
    Internal,
    /// max_failures reached with on_failure = abort: running units finish.
    FailureAbort,
    /// max_failures reached with on_failure = kill: running units are terminated.
    FailureKill,
    /// SIGHUP to jobrun (its terminal closed, an SSH session dropped).
    Sighup,
    /// SIGTERM to jobrun.
    Sigterm,
    /// SIGINT to jobrun.
    Sigint,
    /// A second SIGINT: KILL at once, no grace.
    SecondSigint,
}

impl CancelReason {
    /// Are running units terminated (rather than left to finish)?
    pub fn terminates(self) -> bool {
        self >= CancelReason::FailureKill
    }

    /// The process exit code this reason imposes, if any.
    pub fn exit_code(self) -> Option<i32> {
        match self {
            CancelReason::Internal | CancelReason::FailureAbort | CancelReason::FailureKill => None,
            CancelReason::Sighup => Some(129),
            CancelReason::Sigterm => Some(143),
            CancelReason::Sigint | CancelReason::SecondSigint => Some(130),
        }
    }
}
