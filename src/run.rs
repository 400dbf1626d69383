//! Subcommand dispatch: what `main` calls. Returns the process exit code.

use std::io::{BufWriter, Write};
use std::sync::mpsc;

use clap::CommandFactory;

use crate::cli::{Cli, Command, PlanInput, RunArgs};
use crate::error::Error;
use crate::exec::{self, ExecOptions};
use crate::plan::{self, Plan};
use crate::report::{self, PlainReporter};
use crate::{manifest, options};

pub fn run(cli: Cli) -> Result<i32, Error> {
    match cli.command {
        Command::Run(args) => run_job(&args),
        Command::Plan(args) => {
            let (plan, selected) = load_plan(&args.input)?;
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            let r = if args.count {
                writeln!(out, "{}", selected.iter().filter(|&&s| s).count())
            } else if args.json {
                report::plan::write_json(&mut out, &plan, &selected)
            } else {
                report::plan::write_table(&mut out, &plan, &selected)
            };
            r.and_then(|()| out.flush())
                .map_err(|e| Error::io("cannot write to stdout", e))?;
            Ok(0)
        }
        Command::Check(input) => {
            let (plan, selected) = load_plan(&input)?;
            println!(
                "{}: ok ({} units in {} tasks)",
                input.file.display(),
                selected.iter().filter(|&&s| s).count(),
                plan.tasks.len()
            );
            Ok(0)
        }
        Command::Schema => {
            println!("{}", schema());
            Ok(0)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "jobrun", &mut std::io::stdout());
            Ok(0)
        }
    }
}

/// The manifest's JSON Schema (draft-07, what editors and SchemaStore use).
pub fn schema() -> String {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<manifest::Manifest>();
    // Serializing a schema value cannot fail.
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

fn load_plan(input: &PlanInput) -> Result<(Plan, Vec<bool>), Error> {
    let loaded = manifest::load(&input.file)?;
    let plan = plan::build(&loaded, &options::plan_options(&input.vars)?)?;
    let selected = plan::select(&plan, &input.only)?;
    Ok((plan, selected))
}

fn run_job(args: &RunArgs) -> Result<i32, Error> {
    let (plan, selected) = load_plan(&args.input)?;
    let workers = options::workers(args, &plan)?;
    if args.dry_run {
        let stdout = std::io::stdout();
        let mut out = BufWriter::new(stdout.lock());
        report::plan::write_table(&mut out, &plan, &selected)
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("cannot write to stdout", e))?;
        return Ok(0);
    }
    let report_opts = options::report(args, &plan);
    let opts = ExecOptions {
        workers,
        selected,
        logs_dir: plan.job.state_dir.join("logs").join(&plan.job.name),
        handle_signals: true,
    };
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let plan = &plan;
        let reporter = scope.spawn(move || {
            let mut r = PlainReporter::new(plan, report_opts, std::io::stderr(), std::io::stdout());
            let mut broken = false;
            for ev in rx {
                // A closed terminal must not stop the run; keep draining events.
                if !broken && r.handle(&ev).is_err() {
                    broken = true;
                }
            }
        });
        let result = exec::execute(plan, &opts, &tx);
        drop(tx);
        let _ = reporter.join();
        result.map(|r| r.exit_code)
    })
}
