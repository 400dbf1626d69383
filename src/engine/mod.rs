//! Engines: running one job as N shards on a cluster or batch system.
//!
//! jobrun does not schedule across machines itself. It writes the job for a
//! real engine (a SLURM or Grid Engine array job, a Kubernetes Indexed Job)
//! whose every task runs `jobrun FILE --shard K/N` (see `plan::shard`); for
//! SLURM and Grid Engine it also submits it, waits and reports per shard
//! (`submit`, with the engine's commands in `sbatch` and `qsub`).
//!
//! Invariants:
//! - Generating a script or manifest is pure (`slurm::script`,
//!   `sge::script`, `k8s::manifest`): no process, no file, so it is
//!   unit-tested; only `submit`, `sbatch` and `qsub` start processes and
//!   only `results` reads what the shards wrote.
//! - With `on_failure` abort or kill, `max_failures` counts across the
//!   shards: each shard appends to one failures file per submission in the
//!   shared state dir (`exec::job_failures`), and a failed shard cancels
//!   the tasks still pending.
//! - A job is checked to split into N shards before anything is written or
//!   submitted: a job one barrier joins fails fast with the shard error.
//! - The total number of shards always travels with the job
//!   (`JOBRUN_SHARD_TOTAL`, or an explicit `--shard K/N`): engines do not
//!   reliably give it (`SLURM_ARRAY_TASK_COUNT` is the size of one submission).
//! - Every shard runs the same manifest, vars and selection; each keeps its
//!   own journal, and every run reads all of them, so nothing done is redone.

pub mod k8s;
pub mod qsub;
pub mod results;
pub mod sbatch;
pub mod sge;
pub mod slurm;
pub mod submit;

use crate::cli::ShardedInput;
use crate::error::Error;
use crate::plan::Plan;
use crate::plan::shard::{self, Shard};

/// The options every shard passes on to its `jobrun` run, as arguments.
pub fn passthrough_args(input: &ShardedInput) -> Vec<String> {
    let mut args = Vec::new();
    for v in &input.selection.vars {
        args.push("--var".to_owned());
        args.push(v.clone());
    }
    for r in &input.selection.resources {
        args.push("--resource".to_owned());
        args.push(r.clone());
    }
    for o in &input.selection.only {
        args.push("--only".to_owned());
        args.push(o.clone());
    }
    if input.selection.with_deps {
        args.push("--with-deps".to_owned());
    }
    if let Some(w) = &input.workers {
        args.push("--workers".to_owned());
        args.push(w.clone());
    }
    args
}

/// The CPUs each shard asks its engine for: the `cpu` pool's capacity.
pub fn cpus_per_shard(plan: &Plan) -> Option<u32> {
    use crate::plan::resources::MILLI;
    let pool = plan.pools.iter().find(|p| p.name == "cpu")?;
    let c = pool.capacity?;
    u32::try_from(c.div_ceil(MILLI)).ok()
}

/// One line per rated pool: a rate is for the whole job, so each of
/// `shards` machines gets its share.
pub fn rate_notes(plan: &Plan, shards: u32) -> Vec<String> {
    plan.pools
        .iter()
        .filter_map(|p| {
            let r = p.rate?;
            Some(format!(
                "pool `{}`: {r} for the whole job, so {} per shard",
                p.name,
                r.split(shards)
            ))
        })
        .collect()
}

/// The number of selected units in each of `total` shards, or the error
/// that says why the selection cannot be split that way.
pub fn shard_sizes(plan: &Plan, selected: &[bool], total: u32) -> Result<Vec<usize>, Error> {
    (1..=total)
        .map(|index| {
            let mut sel = selected.to_vec();
            shard::apply(plan, &mut sel, Shard { index, total })?;
            Ok(sel.iter().filter(|&&s| s).count())
        })
        .collect()
}

/// The job-wide failure count that stops every shard (`max_failures` over
/// all the shards' units), when `on_failure` stops anything.
pub fn job_failure_limit(plan: &Plan, sizes: &[usize]) -> Option<usize> {
    (plan.job.on_failure != crate::manifest::OnFailure::Continue)
        .then(|| plan.job.max_failures.threshold(sizes.iter().sum()))
}

/// `-j` is checked here, where the user typed it, not in N shards later.
pub fn check_workers(input: &ShardedInput) -> Result<(), Error> {
    if let Some(w) = &input.workers {
        w.parse::<crate::manifest::Workers>()
            .map_err(|e| Error::Usage(format!("-j: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Plan `toml` as if it were a `job.toml` in the temp dir (it reads no files).
    pub(crate) fn plan(toml: &str) -> Plan {
        let path = std::env::temp_dir().join("job.toml");
        let loaded = crate::manifest::parse(path, toml.to_owned()).unwrap();
        crate::plan::build(&loaded, &crate::plan::PlanOptions::default()).unwrap()
    }

    #[test]
    fn sizes_cover_the_selection() {
        let plan =
            plan("[[task]]\nname = \"t\"\nmatrix.i = { range = [0, 20] }\nrun = [\"true\"]\n");
        let all = vec![true; plan.units.len()];
        let sizes = shard_sizes(&plan, &all, 3).unwrap();
        assert_eq!(sizes.len(), 3);
        assert_eq!(sizes.iter().sum::<usize>(), 20);
    }

    #[test]
    fn a_barrier_fails_fast() {
        let plan = plan(
            "[[task]]\nname = \"t\"\nmatrix.i = [1, 2]\nrun = [\"true\"]\n\
             [[task]]\nname = \"index\"\nneeds = [\"t\"]\nrun = [\"true\"]\n",
        );
        let all = vec![true; plan.units.len()];
        let e = shard_sizes(&plan, &all, 2).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("cannot be split"), "{e}");
    }
}
