//! The end-of-run summary: counts, wall time, slowest units, failures.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use crate::event::AttemptEnd;
use crate::outcome::{CancelReason, Counts, Outcome};
use crate::plan::value::display_path;

/// A failure worth listing, in the order failures happened.
pub struct FailureLine {
    pub id: String,
    pub outcome: Outcome,
    pub end: Option<AttemptEnd>,
    pub attempts: u32,
    pub log: Option<PathBuf>,
    pub allowed: bool,
}

impl FailureLine {
    /// A pending task whose list could not be used.
    pub fn expand(tasks: &str) -> FailureLine {
        FailureLine {
            id: format!("task {tasks}: its list cannot be used (see above)"),
            outcome: Outcome::Failed,
            end: None,
            attempts: 0,
            log: None,
            allowed: false,
        }
    }
}

pub fn write_summary(
    out: &mut impl Write,
    counts: &Counts,
    wall: Duration,
    cancel: Option<CancelReason>,
    failures: &[FailureLine],
    slowest: &[(Duration, String)],
    unrecorded: &Counts,
) -> io::Result<()> {
    let parts: Vec<String> = counts
        .iter()
        .filter(|&(o, c)| c > 0 && o != Outcome::Filtered)
        .map(|(o, c)| format!("{c} {o}"))
        .collect();
    let ran = counts.total() - counts.get(Outcome::Filtered);
    write!(
        out,
        "jobrun: {ran} unit{} in {}",
        plural(ran),
        fmt_duration(wall)
    )?;
    if !parts.is_empty() {
        write!(out, ": {}", parts.join(", "))?;
    }
    let filtered = counts.get(Outcome::Filtered);
    if filtered > 0 {
        write!(out, " ({filtered} not selected)")?;
    }
    writeln!(out)?;
    if let Some(reason) = cancel {
        let why = match reason {
            CancelReason::Internal => "stopped: jobrun could not go on (see the error above)",
            CancelReason::FailureAbort => "stopped after a failure (on_failure = \"abort\")",
            CancelReason::FailureKill => "stopped after a failure (on_failure = \"kill\")",
            CancelReason::Sighup => "interrupted by SIGHUP (the terminal closed?)",
            CancelReason::Sigterm => "interrupted by SIGTERM",
            CancelReason::Sigint | CancelReason::SecondSigint => "interrupted by SIGINT",
        };
        writeln!(out, "  {why}")?;
    }
    // Counted above as they ended, but a rerun cannot know they ran.
    if unrecorded.total() > 0 {
        let parts: Vec<String> = unrecorded
            .iter()
            .filter(|&(_, c)| c > 0)
            .map(|(o, c)| format!("{c} {o}"))
            .collect();
        writeln!(
            out,
            "  not recorded in the journal (see the error above): {}; the next run will run \
             {} again",
            parts.join(", "),
            if unrecorded.total() == 1 {
                "it"
            } else {
                "them"
            }
        )?;
    }
    if slowest.len() > 1 {
        let s: Vec<String> = slowest
            .iter()
            .map(|(d, id)| format!("{id} {}", fmt_duration(*d)))
            .collect();
        writeln!(out, "  slowest: {}", s.join(", "))?;
    }
    // Units jobrun itself stopped (kill policy, an interrupt) are listed on
    // their own: they are consequences, never the root cause.
    let (killed, failed): (Vec<&FailureLine>, Vec<&FailureLine>) =
        failures.iter().partition(|f| f.outcome == Outcome::Killed);
    write_failures(out, "failed (first = root cause)", &failed)?;
    write_failures(out, "killed by jobrun", &killed)?;
    Ok(())
}

fn write_failures(out: &mut impl Write, title: &str, list: &[&FailureLine]) -> io::Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    writeln!(out, "  {title}:")?;
    for f in list.iter().take(MAX_LISTED) {
        write!(out, "    {}  {}", f.id, f.outcome)?;
        if let Some(end) = &f.end {
            write!(out, ", {end}")?;
        }
        if f.attempts > 1 {
            write!(out, ", {} attempts", f.attempts)?;
        }
        if f.allowed {
            write!(out, " (allowed)")?;
        }
        if let Some(log) = &f.log {
            write!(out, "  log: {}", display_path(log))?;
        }
        writeln!(out)?;
    }
    if list.len() > MAX_LISTED {
        writeln!(
            out,
            "    ... and {} more (see the log folder)",
            list.len() - MAX_LISTED
        )?;
    }
    Ok(())
}

/// Failures listed by name; the rest are counted.
const MAX_LISTED: usize = 20;

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `0.12s`, `12.3s`, `2m05s`.
pub fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.2}s")
    } else if s < 60.0 {
        format!("{s:.1}s")
    } else {
        let m = d.as_secs() / 60;
        format!("{m}m{:02}s", d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(fmt_duration(Duration::from_millis(120)), "0.12s");
        assert_eq!(fmt_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(fmt_duration(Duration::from_secs(125)), "2m05s");
    }

    #[test]
    fn summary_lists_counts_and_failures() {
        let mut c = Counts::default();
        c.add(Outcome::Ok);
        c.add(Outcome::Failed);
        c.add(Outcome::Skipped);
        let f = [FailureLine {
            id: "t[x=1]".into(),
            outcome: Outcome::Failed,
            end: Some(AttemptEnd::Exited(3)),
            attempts: 1,
            log: None,
            allowed: false,
        }];
        let mut out = Vec::new();
        let none = Counts::default();
        write_summary(
            &mut out,
            &c,
            Duration::from_millis(1500),
            None,
            &f,
            &[],
            &none,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "jobrun: 3 units in 1.50s: 1 ok, 1 failed, 1 skipped\n  failed (first = root cause):\n    t[x=1]  failed, exit code 3\n"
        );
    }

    #[test]
    fn units_jobrun_killed_are_not_listed_as_the_root_cause() {
        let mut c = Counts::default();
        c.add(Outcome::Killed);
        c.add(Outcome::Failed);
        let line = |id: &str, outcome, end| FailureLine {
            id: id.into(),
            outcome,
            end: Some(end),
            attempts: 1,
            log: None,
            allowed: false,
        };
        let f = [
            line("sib", Outcome::Killed, AttemptEnd::Signaled(15)),
            line("bad", Outcome::Failed, AttemptEnd::Exited(1)),
        ];
        let mut out = Vec::new();
        let kill = Some(CancelReason::FailureKill);
        write_summary(
            &mut out,
            &c,
            Duration::ZERO,
            kill,
            &f,
            &[],
            &Counts::default(),
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with(
                "  failed (first = root cause):\n    bad  failed, exit code 1\n  killed by jobrun:\n    sib  killed, signal SIGTERM\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn units_the_journal_did_not_record_are_not_passed_off_as_done() {
        let mut c = Counts::default();
        let mut lost = Counts::default();
        for _ in 0..2 {
            c.add(Outcome::Ok);
            lost.add(Outcome::Ok);
        }
        c.add(Outcome::Ok);
        c.add(Outcome::Cancelled);
        let mut out = Vec::new();
        let stop = Some(CancelReason::Internal);
        write_summary(&mut out, &c, Duration::ZERO, stop, &[], &[], &lost).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "jobrun: 4 units in 0.00s: 3 ok, 1 cancelled\n  stopped: jobrun could not go on (see the error above)\n  not recorded in the journal (see the error above): 2 ok; the next run will run them again\n"
        );
    }
}
