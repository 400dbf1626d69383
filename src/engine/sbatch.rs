//! `jobrun slurm`: build the sbatch script; SLURM's commands for `submit`.
//!
//! `sbatch --parsable` submits, `squeue -h -j ID` tells whether the array
//! job is still there (not `sbatch --wait`, which polls slowly), `scancel
//! ID` stops it when jobrun is interrupted. Results come from the files the
//! shards wrote (see `results`), not from accounting (`sacct` needs
//! slurmdbd, which many clusters, and every small test cluster, do not run).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use super::slurm::{self, Script};
use super::submit::{self, Engine, Queued, Submission, utf8};
use crate::cli::SlurmArgs;
use crate::error::Error;
use crate::plan::Plan;

/// Run `jobrun slurm`: the plan is already built and selected.
pub fn slurm(args: &SlurmArgs, plan: &Plan, selected: &[bool]) -> Result<i32, Error> {
    super::check_workers(&args.input)?;
    let n = args.input.shards;
    let sizes = super::shard_sizes(plan, selected, n)?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::io("cannot find the path of the jobrun executable", e))?;
    let manifest = std::path::absolute(&args.input.file)
        .map_err(|e| Error::io(format!("cannot resolve `{}`", args.input.file.display()), e))?;
    let dir = plan.job.state_dir.join("slurm").join(&plan.job.name);
    let passthrough = super::passthrough_args(&args.input);
    let text = slurm::script(&Script {
        job: &plan.job.name,
        exe: utf8(&exe, "the jobrun executable's path")?,
        manifest: utf8(&manifest, "the manifest's path")?,
        shards: n,
        array_limit: args.array_limit,
        dir: utf8(&dir, "the state dir")?,
        job_failure_limit: super::job_failure_limit(plan, &sizes),
        args: &passthrough,
        sbatch_options: &args.sbatch_options,
        cpus: super::cpus_per_shard(plan),
        notes: &super::rate_notes(plan, n),
    })
    .map_err(Error::Usage)?;
    if args.print {
        return submit::print(&text);
    }
    submit::run(
        &Slurm,
        &Submission {
            plan,
            dir: &dir,
            script_file: slurm::SCRIPT_FILE,
            script: &text,
            sizes: &sizes,
        },
    )
}

/// SLURM's client commands.
pub struct Slurm;

impl Engine for Slurm {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn submit(&self, script: &Path) -> Result<String, Error> {
        sbatch(script)
    }

    fn queued(&self, id: &str) -> std::io::Result<Option<Queued>> {
        let states = squeue(id)?;
        if states.is_empty() {
            return Ok(None);
        }
        // Pending tasks share one line (`ID_[3-9%2]`): say only that some wait.
        Ok(Some(Queued {
            running: states.iter().filter(|s| *s == "R").count(),
            pending: states.iter().any(|s| s == "PD"),
        }))
    }

    fn cancel(&self, id: &str) {
        let _ = Command::new("scancel").arg(id).status();
    }

    fn task(&self, k: u32) -> u32 {
        k - 1
    }

    fn label(&self, id: &str, task: u32) -> String {
        format!("{id}_{task}")
    }

    fn events_file(&self, id: &str, task: u32) -> String {
        slurm::events_file(id, task)
    }

    fn output_file(&self, id: &str, task: u32) -> String {
        slurm::output_file(id, task)
    }

    fn exit_statuses(&self, _: &str, _: &[u32]) -> Option<BTreeMap<u32, i32>> {
        None
    }
}

/// `sbatch --parsable SCRIPT`: the array job's id.
fn sbatch(script: &Path) -> Result<String, Error> {
    submit::submit_with(
        Command::new("sbatch").arg("--parsable").arg(script),
        ("sbatch", "slurm", "SLURM"),
        script,
        |stdout| {
            // `--parsable` prints `ID` or `ID;CLUSTER`.
            let id = stdout.trim().split(';').next().unwrap_or("");
            (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_owned())
        },
    )
}

/// empty once it is gone.
fn squeue(id: &str) -> std::io::Result<Vec<String>> {
    let out = Command::new("squeue")
        .args(["-h", "-o", "%t", "-j", id])
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect())
    } else if stderr.contains("Invalid job id") {
        // Finished long enough ago that the controller forgot it.
        Ok(Vec::new())
    } else {
        Err(std::io::Error::other(format!(
            "squeue failed: {}",
            stderr.trim()
        )))
    }
}
