//! One journal line: a finished attempt.

use serde::{Deserialize, Serialize};

use std::time::{Duration, SystemTime};

use super::fingerprint::{Fingerprint, InputStamp};
use crate::event::AttemptEnd;
use crate::outcome::Outcome;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub attempt: u32,
    /// `ok`, `failed`, `timed_out` or `killed`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Start, in milliseconds since the Unix epoch.
    pub start_ms: u64,
    pub duration_ms: u64,
    /// The fingerprint's hash and its command part (see `fingerprint`).
    pub fp: String,
    pub cmd: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputStamp>,
    /// Hash of the needed units' records it was made from (see `stamp`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub needs: String,
}

impl Record {
    /// The record of one finished attempt.
    pub fn attempt(
        id: &str,
        attempt: u32,
        outcome: Outcome,
        end: Option<&AttemptEnd>,
        started_at: SystemTime,
        duration: Duration,
        fp: &Fingerprint,
    ) -> Record {
        Record {
            id: id.to_owned(),
            attempt,
            outcome: outcome.as_str().to_owned(),
            exit: end.and_then(AttemptEnd::exit_code),
            signal: end.and_then(AttemptEnd::signal),
            start_ms: super::epoch_ms(started_at),
            duration_ms: duration.as_millis() as u64,
            fp: fp.hash.clone(),
            cmd: fp.command.clone(),
            inputs: fp.inputs.clone(),
            needs: fp.needs.clone(),
        }
    }
}

/// Parse journal text: one record per line; lines that do not parse (a torn
/// last line after a crash) are skipped, never fatal.
pub fn parse_lines(text: &[u8]) -> (Vec<Record>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.split(|&b| b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Record>(line) {
            Ok(r) => out.push(r),
            Err(_) => bad += 1,
        }
    }
    (out, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str) -> Record {
        Record {
            id: id.into(),
            attempt: 1,
            outcome: "ok".into(),
            exit: Some(0),
            signal: None,
            start_ms: 1,
            duration_ms: 2,
            fp: "f".into(),
            cmd: "c".into(),
            inputs: vec![],
            needs: String::new(),
        }
    }

    #[test]
    fn torn_last_line_is_ignored() {
        let mut text = serde_json::to_vec(&rec("a")).unwrap();
        text.push(b'\n');
        let full = serde_json::to_vec(&rec("b")).unwrap();
        text.extend_from_slice(&full[..full.len() / 2]);
        let (records, bad) = parse_lines(&text);
        assert_eq!(records, vec![rec("a")]);
        assert_eq!(bad, 1);
    }
}
