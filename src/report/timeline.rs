//! The attempts of a run laid out in time, shared by `report` and `--trace`:
//! one bar per attempt on its worker slot's lane, and the number of units
//! running over time.

use crate::journal::Record;
use crate::plan::Plan;

pub struct Bar<'a> {
    pub unit: u32,
    pub record: &'a Record,
    /// Milliseconds since the run's first start.
    pub start: u64,
    /// The worker slot (1-based).
    pub lane: u32,
}

/// Bars in start order, and the run's start (ms since the epoch). Records
/// from before worker slots were journaled get a lane by first fit, which
/// is what a pool of that many workers would have done.
pub fn bars(records: &[(u32, Record)]) -> (Vec<Bar<'_>>, u64) {
    let t0 = records.iter().map(|(_, r)| r.start_ms).min().unwrap_or(0);
    let mut bars: Vec<Bar<'_>> = records
        .iter()
        .map(|(u, r)| Bar {
            unit: *u,
            record: r,
            start: r.start_ms - t0,
            lane: r.worker,
        })
        .collect();
    bars.sort_by_key(|b| (b.start, b.unit));
    // The end of the last bar on each fitted lane.
    let mut free_at: Vec<u64> = Vec::new();
    for b in bars.iter_mut().filter(|b| b.lane == 0) {
        let end = b.start + b.record.duration_ms;
        match free_at.iter().position(|&t| t <= b.start) {
            Some(i) => {
                free_at[i] = end;
                b.lane = i as u32 + 1;
            }
            None => {
                free_at.push(end);
                b.lane = free_at.len() as u32;
            }
        }
    }
    (bars, t0)
}

/// (ms since the run's start, units running from then on), at every change.
pub fn running(bars: &[Bar<'_>]) -> Vec<(u64, u32)> {
    let mut edges: Vec<(u64, i32)> = Vec::with_capacity(bars.len() * 2);
    for b in bars {
        edges.push((b.start, 1));
        edges.push((b.start + b.record.duration_ms, -1));
    }
    // Ends before starts at the same instant: a worker handing over.
    edges.sort_unstable();
    let mut out: Vec<(u64, u32)> = Vec::new();
    let mut n: i32 = 0;
    for (t, d) in edges {
        n += d;
        match out.last_mut() {
            Some(last) if last.0 == t => last.1 = n.max(0) as u32,
            _ => out.push((t, n.max(0) as u32)),
        }
    }
    out
}

/// A short name for how an attempt ended: `exit 3`, `signal 9`.
pub fn end_text(r: &Record) -> String {
    match (r.exit, r.signal) {
        (_, Some(s)) => format!("signal {s}"),
        (Some(e), None) => format!("exit {e}"),
        (None, None) => String::new(),
    }
}

/// The task name of a bar.
pub fn task<'p>(plan: &'p Plan, b: &Bar<'_>) -> &'p str {
    &plan.task_of(b.unit as usize).name
}
