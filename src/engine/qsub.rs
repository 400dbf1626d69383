//! `jobrun sge`: build the Grid Engine job script; Grid Engine's commands for `submit`.
//!
//! `qsub -terse` submits, `qstat -j ID` tells whether the job is still
//! there (`qsub -sync y` is not trusted: it returns 0 when tasks were
//! deleted), `qdel ID` stops it when jobrun is interrupted, and each task's
//! exit status comes from `qacct -j ID`. Accounting is written a little
//! after a task ends ("job id not found" right after the end is normal), so
//! `qacct` is asked until every task that started is in it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::sge::{self, Script};
use super::submit::{self, Engine, Queued, Submission, utf8};
use crate::cli::SgeArgs;
use crate::error::Error;
use crate::plan::Plan;

/// How long finished tasks may take to reach `qacct` (the default
/// `flush_time` is 15 s).
const ACCOUNTING_PATIENCE: Duration = Duration::from_secs(60);

/// Run `jobrun sge`: the plan is already built and selected.
pub fn sge(args: &SgeArgs, plan: &Plan, selected: &[bool]) -> Result<i32, Error> {
    super::check_workers(&args.input)?;
    let n = args.input.shards;
    let sizes = super::shard_sizes(plan, selected, n)?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::io("cannot find the path of the jobrun executable", e))?;
    let manifest = std::path::absolute(&args.input.file)
        .map_err(|e| Error::io(format!("cannot resolve `{}`", args.input.file.display()), e))?;
    let dir = plan.job.state_dir.join("sge").join(&plan.job.name);
    let passthrough = super::passthrough_args(&args.input);
    let script = Script {
        job: &plan.job.name,
        exe: utf8(&exe, "the jobrun executable's path")?,
        manifest: utf8(&manifest, "the manifest's path")?,
        shards: n,
        array_limit: args.array_limit,
        dir: utf8(&dir, "the state dir")?,
        job_failure_limit: super::job_failure_limit(plan, &sizes),
        args: &passthrough,
        qsub_options: &args.qsub_options,
        notes: &super::rate_notes(plan, n),
    };
    let text = sge::script(&script).map_err(Error::Usage)?;
    if args.print {
        return submit::print(&text);
    }
    let script_path = dir.join(sge::SCRIPT_FILE);
    let engine = Sge {
        job: plan.job.name.clone(),
        qsub_args: sge::qsub_args(&script, utf8(&script_path, "the state dir")?),
    };
    submit::run(
        &engine,
        &Submission {
            plan,
            dir: &dir,
            script_file: sge::SCRIPT_FILE,
            script: &text,
            sizes: &sizes,
        },
    )
}

/// Grid Engine's client commands for one job.
pub struct Sge {
    job: String,
    qsub_args: Vec<String>,
}

impl Engine for Sge {
    fn name(&self) -> &'static str {
        "sge"
    }

    fn submit(&self, script: &Path) -> Result<String, Error> {
        submit::submit_with(
            Command::new("qsub").args(&self.qsub_args),
            ("qsub", "sge", "Grid Engine"),
            script,
            job_id,
        )
    }

    fn queued(&self, id: &str) -> std::io::Result<Option<Queued>> {
        let out = Command::new("qstat").args(["-j", id]).output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            // One `usage N:` line per running task.
            let running = stdout.lines().filter(|l| l.starts_with("usage ")).count();
            Ok(Some(Queued {
                running,
                pending: false,
            }))
        } else if stdout.contains("do not exist") || stderr.contains("do not exist") {
            Ok(None)
        } else {
            Err(std::io::Error::other(format!(
                "qstat failed: {}",
                stderr.trim()
            )))
        }
    }

    fn cancel(&self, id: &str) {
        let _ = Command::new("qdel").arg(id).output();
    }

    fn task(&self, k: u32) -> u32 {
        k
    }

    fn label(&self, id: &str, task: u32) -> String {
        format!("{id}.{task}")
    }

    fn events_file(&self, id: &str, task: u32) -> String {
        sge::events_file(id, task)
    }

    fn output_file(&self, id: &str, task: u32) -> String {
        sge::output_file(&self.job, id, task)
    }

    fn accounting(&self) -> &'static str {
        "qacct"
    }

    fn exit_statuses(&self, id: &str, started: &[u32]) -> Option<BTreeMap<u32, i32>> {
        let give_up = Instant::now() + ACCOUNTING_PATIENCE;
        loop {
            let found = match Command::new("qacct").args(["-j", id]).output() {
                Ok(out) => exit_statuses(&String::from_utf8_lossy(&out.stdout)),
                Err(_) => return None,
            };
            if started.iter().all(|t| found.contains_key(t)) || Instant::now() >= give_up {
                return Some(found);
            }
            std::thread::sleep(submit::POLL);
        }
    }
}

/// The job id in `qsub -terse`'s output (`ID.1-N:1` for an array job).
fn job_id(stdout: &str) -> Option<String> {
    let id = stdout.trim().split('.').next()?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_owned())
}

/// Task id to exit status from `qacct -j ID`: one block per finished task,
/// `taskid` and `exit_status` lines among others. A task listed twice
/// (rescheduled) keeps its last record.
fn exit_statuses(qacct: &str) -> BTreeMap<u32, i32> {
    let mut map = BTreeMap::new();
    let mut task: Option<u32> = None;
    for line in qacct.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some(w), _) if w.starts_with("====") => task = None,
            (Some("taskid"), Some(t)) => task = t.parse().ok(),
            (Some("exit_status"), Some(c)) => {
                if let (Some(t), Ok(c)) = (task, c.parse()) {
                    map.insert(t, c);
                }
            }
            _ => {}
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qsub_ids() {
        assert_eq!(job_id("12.1-3:1\n").as_deref(), Some("12"));
        assert_eq!(job_id("12\n").as_deref(), Some("12"));
        assert_eq!(job_id(""), None);
        assert_eq!(job_id("Your job 12 has been submitted"), None);
    }

    #[test]
    fn qacct_blocks() {
        let text = "==============================================================\n\
qname        all.q\n\
jobnumber    1\n\
taskid       1                   \n\
failed       0    \n\
exit_status  1                   \n\
==============================================================\n\
qname        all.q\n\
taskid       3\n\
exit_status  0\n\
==============================================================\n\
taskid       undefined\n\
exit_status  5\n";
        let m = exit_statuses(text);
        assert_eq!(m, BTreeMap::from([(1, 1), (3, 0)]));
        assert!(exit_statuses("error: job id 9 not found\n").is_empty());
    }
}
