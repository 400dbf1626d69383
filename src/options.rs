//! Checked options: the raw command line combined with the manifest's settings.

use crate::cli::{OutputArg, RunArgs};
use crate::error::Error;
use crate::manifest::{OutputMode, Workers};
use crate::plan::{Plan, PlanOptions};
use crate::report::{ReportOptions, Verbosity};

/// `--var key=value` and `--resource name=value` pairs.
pub fn plan_options(vars: &[String], resources: &[String]) -> Result<PlanOptions, Error> {
    let pairs = |items: &[String], flag: &str, what: &str| {
        items
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
                _ => Err(Error::Usage(format!(
                    "`{flag} {kv}` must look like `{flag} {what}=value`"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(PlanOptions {
        vars: pairs(vars, "--var", "key")?,
        resources: pairs(resources, "--resource", "name")?,
    })
}

/// Worker threads: `-j` over the manifest's `workers`, resolved against the CPUs.
pub fn workers(args: &RunArgs, plan: &Plan) -> Result<usize, Error> {
    let w = match &args.workers {
        Some(s) => s
            .parse::<Workers>()
            .map_err(|e| Error::Usage(format!("-j: {e}")))?,
        None => plan.job.workers,
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(w.resolve(cpus))
}

pub fn report(args: &RunArgs, plan: &Plan) -> ReportOptions {
    let output = match args.output {
        Some(OutputArg::Failed) => OutputMode::Failed,
        Some(OutputArg::All) => OutputMode::All,
        Some(OutputArg::Line) => OutputMode::Line,
        Some(OutputArg::None) => OutputMode::None,
        None => plan.job.output,
    };
    let verbosity = if args.quiet {
        Verbosity::Quiet
    } else if args.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let env = crate::report::mode::Env::detect();
    ReportOptions {
        output,
        keep_order: args.keep_order || plan.job.keep_order,
        verbosity,
        display: crate::report::mode::choose(args.progress, &env),
        github: std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true"),
    }
}
