//! Looking back at what the journals recorded (`jobrun status`, `report`):
//! read-only, never used to decide what runs.

use std::collections::HashMap;

use super::{Record, journal_files, parse_lines};
use crate::plan::Plan;

/// The attempts of the job's latest run, by plan unit, in the order they
/// ended: every record with the highest run number in the job's journals.
/// Journals older than run numbers (all 0) give all their records.
/// Records of units no longer in the plan are left out.
pub fn latest_run(plan: &Plan) -> Vec<(u32, Record)> {
    let index: HashMap<&str, u32> = plan
        .units
        .iter()
        .enumerate()
        .map(|(i, u)| (&*u.id, i as u32))
        .collect();
    let mut all = Vec::new();
    for path in journal_files(&plan.job.state_dir, &plan.job.name) {
        let Ok(text) = std::fs::read(&path) else {
            continue;
        };
        all.extend(
            parse_lines(&text)
                .0
                .into_iter()
                .filter(|r| r.outcome != super::UNREADABLE),
        );
    }
    let run = all.iter().map(|r| r.run).max().unwrap_or(0);
    let mut out: Vec<(u32, Record)> = all
        .into_iter()
        .filter(|r| r.run == run)
        .filter_map(|r| index.get(r.id.as_str()).map(|&u| (u, r)))
        .collect();
    // Shards' files interleave in time: order by when each attempt ended.
    out.sort_by_key(|(_, r)| r.start_ms + r.duration_ms);
    out
}
