//! `jobrun status`: each selected unit's latest journal record, as a table
//! or one JSON document. Reads the journal only; writes nothing.

use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::json;

use super::summary::fmt_duration;
use crate::exec::log_file_name;
use crate::journal::Record;
use crate::plan::Plan;
use crate::plan::value::display_path;

/// What a unit without a record shows.
const NEVER: &str = "not_run";

/// A unit counts as done when its latest record is `ok` (so it is up to
/// date or will be rerun only for a changed input), or it failed in an
/// `allow_failure` task.
fn done(plan: &Plan, unit: usize, r: Option<&Record>) -> bool {
    match r {
        Some(r) if r.outcome == "ok" => true,
        Some(_) => plan.allows_failure(unit),
        None => false,
    }
}

/// RFC 3339, to the second, in UTC.
pub fn when(start_ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(start_ms)).to_string()
}

/// Writes the status and returns the exit code: 0 when every selected
/// unit is done (see `done`), 1 otherwise.
pub fn write_status(
    out: &mut impl Write,
    plan: &Plan,
    selected: &[bool],
    last: &crate::journal::Latest,
    failed_only: bool,
    as_json: bool,
) -> io::Result<i32> {
    let logs = plan.job.state_dir.join("logs").join(&plan.job.name);
    let mut counts: Vec<(&str, usize)> = Vec::new();
    let mut all_done = true;
    let mut rows = Vec::new();
    for (u, unit) in plan.units.iter().enumerate() {
        if !selected.get(u).copied().unwrap_or(false) {
            continue;
        }
        let r = last.get(&unit.id);
        let outcome = r.map_or(NEVER, |r| r.outcome.as_str());
        match counts.iter_mut().find(|(o, _)| *o == outcome) {
            Some((_, n)) => *n += 1,
            None => counts.push((outcome, 1)),
        }
        let ok = done(plan, u, r);
        all_done &= ok;
        if failed_only && (r.is_none() || r.is_some_and(|r| r.outcome == "ok")) {
            continue;
        }
        rows.push((u, r));
    }
    if as_json {
        let units: Vec<serde_json::Value> = rows
            .iter()
            .map(|&(u, r)| {
                let id = &*plan.units[u].id;
                let mut o = json!({
                    "id": id,
                    "task": plan.task_of(u).name,
                    "outcome": r.map_or(NEVER, |r| r.outcome.as_str()),
                });
                if let Some(r) = r {
                    o["attempts"] = json!(r.attempt);
                    o["started"] = json!(when(r.start_ms));
                    o["start_ms"] = json!(r.start_ms);
                    o["duration_ms"] = json!(r.duration_ms);
                    if let Some(e) = r.exit {
                        o["exit"] = json!(e);
                    }
                    if let Some(s) = r.signal {
                        o["signal"] = json!(s);
                    }
                    o["log"] = json!(display_path(&logs.join(log_file_name(id))));
                }
                if plan.allows_failure(u) {
                    o["allowed"] = json!(true);
                }
                o
            })
            .collect();
        let counts: serde_json::Map<String, serde_json::Value> = counts
            .iter()
            .map(|(o, n)| ((*o).to_owned(), json!(n)))
            .collect();
        let doc = json!({
            "job": plan.job.name,
            "ok": all_done,
            "counts": counts,
            "units": units,
        });
        serde_json::to_writer(&mut *out, &doc)?;
        writeln!(out)?;
    } else {
        write_table(out, plan, &rows, &logs)?;
        let total: usize = counts.iter().map(|(_, n)| n).sum();
        let parts: Vec<String> = counts.iter().map(|(o, n)| format!("{n} {o}")).collect();
        writeln!(
            out,
            "{total} unit{}: {}",
            if total == 1 { "" } else { "s" },
            parts.join(", ")
        )?;
    }
    Ok(if all_done { 0 } else { 1 })
}

fn write_table(
    out: &mut impl Write,
    plan: &Plan,
    rows: &[(usize, Option<&Record>)],
    logs: &Path,
) -> io::Result<()> {
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|&(u, r)| {
            let id = &*plan.units[u].id;
            match r {
                None => [
                    id.to_owned(),
                    NEVER.to_owned(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ],
                Some(r) => {
                    let mut outcome = r.outcome.to_string();
                    if let Some(e) = r.exit.filter(|&e| e != 0) {
                        outcome.push_str(&format!(" (exit {e})"));
                    } else if let Some(s) = r.signal {
                        outcome.push_str(&format!(" (signal {s})"));
                    }
                    if r.outcome != "ok" && plan.allows_failure(u) {
                        outcome.push_str(" allowed");
                    }
                    [
                        id.to_owned(),
                        outcome,
                        r.attempt.to_string(),
                        when(r.start_ms),
                        fmt_duration(Duration::from_millis(r.duration_ms)),
                        display_path(&logs.join(log_file_name(id))).into_owned(),
                    ]
                }
            }
        })
        .collect();
    let head = ["UNIT", "OUTCOME", "ATTEMPTS", "STARTED", "DURATION", "LOG"];
    let mut width = head.map(str::len);
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut dyn Write, row: [&str; 6]| -> io::Result<()> {
        let mut s = String::new();
        for (i, c) in row.iter().enumerate() {
            if i == row.len() - 1 {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(width[i] - c.chars().count() + 2));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, head)?;
    for row in &cells {
        line(out, row.each_ref().map(String::as_str))?;
    }
    Ok(())
}
