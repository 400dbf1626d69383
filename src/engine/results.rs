//! What each shard of an engine job did, read back from its `--events` file.
//!
//! `summarize` is pure (text in, summary out). A shard with no events file
//! never started (cancelled while pending, or lost); one with events but no
//! `job_finished` line was stopped from outside (time limit, scancel, node
//! failure). Only a shard whose `job_finished` says exit 0 is ok.

use std::collections::BTreeMap;
use std::fmt;

/// One shard's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardState {
    /// No events: the shard's jobrun never started.
    NeverRan,
    /// jobrun started but did not report its end.
    Unfinished,
    /// jobrun ended with this exit code.
    Finished(i32),
}

/// The units of one shard by outcome, and which failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSummary {
    pub state: ShardState,
    /// Outcome name (`ok`, `failed`, ...) to count, for every finished unit.
    pub counts: BTreeMap<String, usize>,
    /// Ids of units that failed, timed out or were killed, in finishing order.
    pub failed: Vec<String>,
    /// The task's exit status in the engine's accounting (Grid Engine's
    /// `qacct`), when it keeps one.
    pub engine_exit: Option<i32>,
}

impl ShardSummary {
    pub fn never_ran() -> ShardSummary {
        ShardSummary {
            state: ShardState::NeverRan,
            counts: BTreeMap::new(),
            failed: Vec::new(),
            engine_exit: None,
        }
    }

    pub fn is_ok(&self) -> bool {
        self.state == ShardState::Finished(0)
    }

    pub fn count(&self, outcome: &str) -> usize {
        self.counts.get(outcome).copied().unwrap_or(0)
    }
}

/// Outcomes that make a run fail (the exit-code-1 ones).
pub const FAILING: [&str; 3] = ["failed", "timed_out", "killed"];

/// Summarize one shard's events (JSON Lines; lines that do not parse, like
/// a torn last line, are skipped).
pub fn summarize(events: &str) -> ShardSummary {
    let mut s = ShardSummary {
        state: ShardState::Unfinished,
        counts: BTreeMap::new(),
        failed: Vec::new(),
        engine_exit: None,
    };
    for line in events.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match v.get("event").and_then(|e| e.as_str()) {
            Some("unit_finished") => {
                let outcome = v.get("outcome").and_then(|o| o.as_str()).unwrap_or("?");
                *s.counts.entry(outcome.to_owned()).or_default() += 1;
                if FAILING.contains(&outcome)
                    && let Some(id) = v.get("id").and_then(|i| i.as_str())
                {
                    s.failed.push(id.to_owned());
                }
            }
            Some("job_finished") => {
                let code = v.get("exit_code").and_then(serde_json::Value::as_i64);
                s.state = ShardState::Finished(code.map_or(-1, |c| c as i32));
            }
            _ => {}
        }
    }
    s
}

/// `3 ok, 1 failed, 2 cancelled` (outcomes in a fixed order), or `no units`.
pub struct Counts<'a>(pub &'a BTreeMap<String, usize>);

impl fmt::Display for Counts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ORDER: [&str; 8] = [
            "ok",
            "up_to_date",
            "failed",
            "timed_out",
            "killed",
            "cancelled",
            "skipped",
            "filtered",
        ];
        let mut parts: Vec<String> = Vec::new();
        for o in ORDER {
            if let Some(n) = self.0.get(o).filter(|&&n| n > 0) {
                parts.push(format!("{n} {o}"));
            }
        }
        for (o, n) in self.0 {
            if !ORDER.contains(&o.as_str()) && *n > 0 {
                parts.push(format!("{n} {o}"));
            }
        }
        if parts.is_empty() {
            f.write_str("no units")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_shard() {
        let s = summarize(concat!(
            r#"{"event":"job_started","job":"j","units":3,"total":9,"workers":2}"#,
            "\n",
            r#"{"event":"unit_finished","id":"t[i=1]","task":"t","outcome":"ok"}"#,
            "\n",
            r#"{"event":"unit_finished","id":"t[i=2]","task":"t","outcome":"failed"}"#,
            "\n",
            r#"{"event":"unit_finished","id":"t[i=3]","task":"t","outcome":"cancelled"}"#,
            "\n",
            r#"{"event":"job_finished","exit_code":1,"counts":{}}"#,
            "\n",
        ));
        assert_eq!(s.state, ShardState::Finished(1));
        assert_eq!(s.failed, ["t[i=2]"]);
        assert_eq!(Counts(&s.counts).to_string(), "1 ok, 1 failed, 1 cancelled");
        assert!(!s.is_ok());
    }

    #[test]
    fn torn_and_unfinished() {
        let s = summarize(concat!(
            r#"{"event":"unit_finished","id":"a","task":"a","outcome":"ok"}"#,
            "\n",
            r#"{"event":"unit_fini"#
        ));
        assert_eq!(s.state, ShardState::Unfinished);
        assert_eq!(s.count("ok"), 1);
        assert_eq!(summarize("").state, ShardState::Unfinished);
        assert_eq!(Counts(&BTreeMap::new()).to_string(), "no units");
    }

    #[test]
    fn ok_only_with_exit_zero() {
        let s = summarize("{\"event\":\"job_finished\",\"exit_code\":0}\n");
        assert!(s.is_ok());
        assert!(!ShardSummary::never_ran().is_ok());
    }
}
