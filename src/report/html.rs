//! `jobrun report -o report.html`: one self-contained page (no network, no
//! external scripts or fonts) about the latest run: a timeline drawn on a
//! canvas from embedded JSON (so 100,000 attempts cost no DOM nodes), units
//! running over time (bucketed), the slowest attempts, duration statistics
//! per task, and the failures with their log tails. Everything that grows
//! with the run is either drawn on a canvas or cut to a fixed number of rows.

use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::json;

use super::tail::read_tail;
use super::timeline::{self, end_text};
use crate::exec::log_file_name;
use crate::journal::Record;
use crate::plan::Plan;
use crate::plan::value::display_path;

const TEMPLATE: &str = include_str!("report.html");
const OUTCOMES: [&str; 4] = ["ok", "failed", "timed_out", "killed"];
const SLOWEST: usize = 15;
/// Failures shown with their tails; the rest are counted.
const FAILURES: usize = 50;
const TAIL_BYTES: u64 = 8 * 1024;
const TAIL_LINES: usize = 30;
/// Points of the running-units chart at most.
const BUCKETS: u64 = 1000;

/// `selected`: how many units the report is about (those without a record
/// in the run were up to date or never reached).
pub fn write_html(
    out: &mut dyn Write,
    plan: &Plan,
    records: &[(u32, Record)],
    selected: usize,
) -> io::Result<()> {
    let data = data(plan, records, selected);
    // `<` only occurs inside JSON strings, where `\u003c` means the same:
    // no `</script>` in a unit id or a log can end the data block.
    let data = serde_json::to_string(&data)?.replace('<', "\\u003c");
    let title = html_escape(&format!("jobrun report: {}", plan.job.name));
    let page = TEMPLATE
        .replace("__TITLE__", &title)
        .replacen("__DATA__", &data, 1);
    out.write_all(page.as_bytes())
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn outcome_index(o: &str) -> usize {
    OUTCOMES
        .iter()
        .position(|x| *x == o)
        .unwrap_or(OUTCOMES.len())
}

fn data(plan: &Plan, records: &[(u32, Record)], selected: usize) -> serde_json::Value {
    let (bars, t0) = timeline::bars(records);
    // Units that appear, numbered in plan order for `ids`.
    let mut units: Vec<u32> = bars.iter().map(|b| b.unit).collect();
    units.sort_unstable();
    units.dedup();
    let slot: HashMap<u32, usize> = units.iter().enumerate().map(|(i, &u)| (u, i)).collect();
    let ids: Vec<&str> = units.iter().map(|&u| &*plan.units[u as usize].id).collect();
    let wall = bars
        .iter()
        .map(|b| b.start + b.record.duration_ms)
        .max()
        .unwrap_or(0);
    let lanes = bars.iter().map(|b| b.lane).max().unwrap_or(0);

    // Columns, not objects: a third of the size at 100,000 attempts.
    let column = |f: &dyn Fn(&timeline::Bar<'_>) -> serde_json::Value| -> Vec<serde_json::Value> {
        bars.iter().map(f).collect()
    };
    let bars_json = json!({
        "unit": column(&|b| json!(slot[&b.unit])),
        "lane": column(&|b| json!(b.lane)),
        "start": column(&|b| json!(b.start)),
        "dur": column(&|b| json!(b.record.duration_ms)),
        "outcome": column(&|b| json!(outcome_index(&b.record.outcome))),
        "attempt": column(&|b| json!(b.record.attempt)),
        "end": column(&|b| {
            let e = end_text(b.record);
            if e.is_empty() { serde_json::Value::Null } else { json!(e) }
        }),
    });

    let (running, peak) = bucketed(&timeline::running(&bars), wall);

    let mut slowest: Vec<&timeline::Bar<'_>> = bars.iter().collect();
    slowest.sort_by_key(|b| std::cmp::Reverse(b.record.duration_ms));
    let slowest: Vec<serde_json::Value> = slowest
        .iter()
        .take(SLOWEST)
        .map(|b| {
            json!([
                slot[&b.unit],
                b.record.duration_ms,
                outcome_index(&b.record.outcome)
            ])
        })
        .collect();

    // The last attempt of each unit decides its outcome.
    let mut last: HashMap<u32, &Record> = HashMap::new();
    for (u, r) in records {
        let keep = last
            .get(u)
            .is_none_or(|old| (old.attempt, old.start_ms) <= (r.attempt, r.start_ms));
        if keep {
            last.insert(*u, r);
        }
    }
    let mut counts: Vec<(usize, usize)> = Vec::new();
    for r in last.values() {
        let o = outcome_index(&r.outcome);
        match counts.iter_mut().find(|(x, _)| *x == o) {
            Some((_, n)) => *n += 1,
            None => counts.push((o, 1)),
        }
    }
    counts.sort_unstable();
    let counts: serde_json::Map<String, serde_json::Value> = counts
        .iter()
        .map(|&(o, n)| (OUTCOMES.get(o).unwrap_or(&"other").to_string(), json!(n)))
        .collect();

    let logs = plan.job.state_dir.join("logs").join(&plan.job.name);
    let mut failed: Vec<(u32, &Record)> = last
        .iter()
        .filter(|(_, r)| r.outcome != "ok")
        .map(|(&u, &r)| (u, r))
        .collect();
    failed.sort_by_key(|(_, r)| r.start_ms + r.duration_ms);
    let failures: Vec<serde_json::Value> = failed
        .iter()
        .take(FAILURES)
        .map(|&(u, r)| {
            let id = &*plan.units[u as usize].id;
            let log = logs.join(log_file_name(id));
            let tail = match read_tail(&log, TAIL_BYTES, TAIL_LINES) {
                Ok((body, cut)) => {
                    let text = String::from_utf8_lossy(&body);
                    if cut {
                        format!("[... earlier output in the log]\n{text}")
                    } else {
                        text.into_owned()
                    }
                }
                Err(e) => format!("(cannot read the log: {e})"),
            };
            json!({
                "id": id,
                "outcome": r.outcome,
                "end": end_text(r),
                "attempts": r.attempt,
                "allowed": plan.allows_failure(u as usize),
                "log": display_path(&log),
                "tail": tail,
            })
        })
        .collect();

    let selected_run = last.len();
    json!({
        "job": plan.job.name,
        "started": super::status::when(t0),
        "start_ms": t0,
        "wall_ms": wall,
        "lanes": lanes,
        "attempts": bars.len(),
        "units_run": selected_run,
        "units_not_run": selected.saturating_sub(selected_run),
        "outcomes": OUTCOMES,
        "counts": counts,
        "ids": ids,
        "bars": bars_json,
        "running": running,
        "peak_running": peak,
        "slowest": slowest,
        "stats": stats(plan, &bars),
        "failures": failures,
        "failures_more": failed.len().saturating_sub(FAILURES),
    })
}

/// At most `BUCKETS` points: each the peak of the units running in its
/// time bucket, so a short burst still shows.
fn bucketed(changes: &[(u64, u32)], wall: u64) -> (Vec<[u64; 2]>, u32) {
    let peak = changes.iter().map(|c| c.1).max().unwrap_or(0);
    let width = wall.div_ceil(BUCKETS).max(1);
    let mut out: Vec<[u64; 2]> = Vec::new();
    // The level after the last change seen.
    let mut level = 0u64;
    for &(t, n) in changes {
        let (b, n) = (t / width * width, u64::from(n));
        match out.last().copied() {
            Some(last) if last[0] == b => {
                if let Some(l) = out.last_mut() {
                    l[1] = l[1].max(n);
                }
            }
            prev => {
                // Buckets with no change between hold the level carried in.
                if let Some(p) = prev
                    && p[0] + width < b
                    && p[1] != level
                {
                    out.push([p[0] + width, level]);
                }
                // A change after the bucket's start: what ran before it counts.
                out.push([b, if t > b { level.max(n) } else { n }]);
            }
        }
        level = n;
    }
    (out, peak)
}

fn stats(plan: &Plan, bars: &[timeline::Bar<'_>]) -> Vec<serde_json::Value> {
    let mut by_task: Vec<(Vec<u64>, usize)> = vec![(Vec::new(), 0); plan.tasks.len()];
    for b in bars {
        let t = &mut by_task[plan.units[b.unit as usize].task as usize];
        t.0.push(b.record.duration_ms);
        t.1 += usize::from(b.record.outcome != "ok");
    }
    by_task
        .into_iter()
        .enumerate()
        .filter(|(_, (d, _))| !d.is_empty())
        .map(|(t, (mut d, not_ok))| {
            d.sort_unstable();
            let at = |q: f64| d[((d.len() - 1) as f64 * q).round() as usize];
            json!({
                "task": plan.tasks[t].name,
                "n": d.len(),
                "not_ok": not_ok,
                "min": d[0],
                "median": at(0.5),
                "p90": at(0.9),
                "max": d[d.len() - 1],
                "total": d.iter().sum::<u64>(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_keep_the_peak_and_the_level_carried_in() {
        // Buckets of 2 ms: 3 running for a moment at 5, 1 until 2000, then
        // 2 from 2001.
        let changes = [(0, 1), (5, 3), (6, 1), (2000, 0), (2001, 2)];
        let (points, peak) = bucketed(&changes, 2000);
        assert_eq!(peak, 3);
        assert_eq!(points, vec![[0, 1], [4, 3], [6, 1], [2000, 2]]);
    }
}
