//! `jobrun report --trace PATH`: the run as Chrome trace event JSON, which
//! Perfetto and chrome://tracing open: a complete event (`X`) per attempt on
//! its worker slot's thread, and a counter (`C`) of the units running.

use std::io::{self, Write};

use serde_json::json;

use super::timeline::{self, Bar};
use crate::journal::Record;
use crate::plan::Plan;

const PID: u32 = 1;

/// Written event by event: a 100,000-unit run never sits in memory as JSON.
pub fn write_trace(out: &mut dyn Write, plan: &Plan, records: &[(u32, Record)]) -> io::Result<()> {
    let (bars, t0) = timeline::bars(records);
    writeln!(out, "{{\"displayTimeUnit\":\"ms\",\"traceEvents\":[")?;
    let mut first = true;
    let mut event = |out: &mut dyn Write, v: serde_json::Value| -> io::Result<()> {
        if !first {
            out.write_all(b",\n")?;
        }
        first = false;
        serde_json::to_writer(&mut *out, &v).map_err(io::Error::from)
    };
    event(
        out,
        json!({"ph": "M", "name": "process_name", "pid": PID, "tid": 0,
               "args": {"name": format!("jobrun {}", plan.job.name)}}),
    )?;
    let lanes = bars.iter().map(|b| b.lane).max().unwrap_or(0);
    for lane in 1..=lanes {
        event(
            out,
            json!({"ph": "M", "name": "thread_name", "pid": PID, "tid": lane,
                   "args": {"name": format!("worker {lane}")}}),
        )?;
    }
    for b in &bars {
        event(out, attempt(plan, b))?;
    }
    for (t, n) in timeline::running(&bars) {
        event(
            out,
            json!({"ph": "C", "name": "running", "pid": PID, "tid": 0,
                   "ts": t * 1000, "args": {"running": n}}),
        )?;
    }
    writeln!(out, "\n],\"otherData\":{{\"start_ms\":{t0}}}}}")
}

fn attempt(plan: &Plan, b: &Bar<'_>) -> serde_json::Value {
    let r = b.record;
    let mut args = json!({"outcome": r.outcome, "attempt": r.attempt});
    if let Some(e) = r.exit {
        args["exit"] = json!(e);
    }
    if let Some(s) = r.signal {
        args["signal"] = json!(s);
    }
    json!({
        "ph": "X",
        "name": r.id,
        "cat": timeline::task(plan, b),
        "pid": PID,
        "tid": b.lane,
        "ts": b.start * 1000,
        "dur": r.duration_ms * 1000,
        "args": args,
    })
}
