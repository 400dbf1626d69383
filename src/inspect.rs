//! Looking back at a job: `status`, `logs`, `report` and the graph views
//! of `plan`. All read the manifest and the journal; none writes state.

use std::io::{BufReader, BufWriter, Write};

use crate::cli::{LogsArgs, PlanInput, ReportArgs, Selection, StatusArgs};
use crate::error::Error;
use crate::exec::{log_file_name, older_log};
use crate::journal;
use crate::plan::Plan;
use crate::plan::value::{display_path, printable};
use crate::report;

type Load<'a> = &'a dyn Fn(&PlanInput) -> Result<(Plan, Vec<bool>), Error>;

fn stdout_error(e: std::io::Error) -> Error {
    Error::io("cannot write to stdout", e)
}

pub fn status(args: &StatusArgs, load: Load<'_>) -> Result<i32, Error> {
    let (plan, selected) = load(&args.input)?;
    let prior = journal::read_prior(&plan, false);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let code = report::status::write_status(
        &mut out,
        &plan,
        &selected,
        &prior.last,
        args.failed,
        args.json,
    )
    .and_then(|c| out.flush().map(|()| c))
    .map_err(stdout_error)?;
    Ok(code)
}

pub fn logs(args: &LogsArgs, load: Load<'_>) -> Result<i32, Error> {
    let input = PlanInput {
        file: args.file.clone(),
        selection: Selection {
            vars: args.vars.clone(),
            resources: Vec::new(),
            only: Vec::new(),
            with_deps: false,
        },
        shard: None,
    };
    let (plan, _) = load(&input)?;
    let Some(unit) = find_unit(&plan, &args.unit)? else {
        return Ok(2);
    };
    let id = &*plan.units[unit].id;
    let latest = plan
        .job
        .state_dir
        .join("logs")
        .join(&plan.job.name)
        .join(log_file_name(id));
    let path = older_log(&latest, args.previous.unwrap_or(0));
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let what = match args.previous {
                None => "it has not run".to_owned(),
                Some(k) => format!("its logs go back fewer than {k} run(s) before the latest"),
            };
            return Err(Error::Usage(format!(
                "no log for `{id}` ({what}): `{}`",
                display_path(&path)
            )));
        }
        Err(e) => {
            return Err(Error::io(
                format!("cannot read `{}`", display_path(&path)),
                e,
            ));
        }
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut log = BufReader::new(file);
    let found = report::logs::copy_attempt(&mut log, args.attempt, &mut out)
        .map_err(|e| Error::io(format!("cannot copy `{}`", display_path(&path)), e))?;
    out.flush().map_err(stdout_error)?;
    if !found {
        return Err(Error::Usage(format!(
            "the log of `{id}` has no attempt {} (`{}`)",
            args.attempt.unwrap_or(1),
            display_path(&path)
        )));
    }
    Ok(0)
}

/// The one unit a `logs` argument names: its id, or a pattern or task name
/// that matches exactly one unit. More than one: they are listed on
/// stderr, and None (exit 2).
fn find_unit(plan: &Plan, pattern: &str) -> Result<Option<usize>, Error> {
    if let Some(u) = plan.units.iter().position(|u| &*u.id == pattern) {
        return Ok(Some(u));
    }
    let selected = crate::plan::select(plan, &[pattern.to_owned()], false).map_err(|_| {
        Error::Usage(format!(
            "`{pattern}` matches no unit; `jobrun plan` lists them, `jobrun status` shows what ran"
        ))
    })?;
    let hits: Vec<usize> = (0..plan.units.len()).filter(|&u| selected[u]).collect();
    match hits.as_slice() {
        [one] => Ok(Some(*one)),
        many => {
            const SHOWN: usize = 20;
            let mut list: Vec<String> = many
                .iter()
                .take(SHOWN)
                .map(|&u| format!("  {}", printable(&plan.units[u].id)))
                .collect();
            if many.len() > SHOWN {
                list.push(format!("  ... and {} more", many.len() - SHOWN));
            }
            // Listed by hand: error messages are one line, escaped.
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "error: `{}` matches {} units; name one:\n{}",
                printable(pattern),
                many.len(),
                list.join("\n")
            );
            Ok(None)
        }
    }
}

pub fn report(args: &ReportArgs, load: Load<'_>) -> Result<i32, Error> {
    if args.output.is_none() && args.trace.is_none() {
        return Err(Error::Usage(
            "nothing to write: give `-o report.html`, `--trace trace.json`, or both".into(),
        ));
    }
    let (plan, selected) = load(&args.input)?;
    let records: Vec<_> = journal::latest_run(&plan)
        .into_iter()
        .filter(|(u, _)| selected[*u as usize])
        .collect();
    if records.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "jobrun: warning: the journal holds no attempt of the selected units of `{}`: the \
             report is empty",
            printable(&plan.job.name)
        );
    }
    let write = |path: &std::path::Path, f: &dyn Fn(&mut dyn Write) -> std::io::Result<()>| {
        let cannot = |e| Error::io(format!("cannot write `{}`", display_path(path)), e);
        let file = std::fs::File::create(path).map_err(cannot)?;
        let mut out = BufWriter::new(file);
        f(&mut out).and_then(|()| out.flush()).map_err(cannot)
    };
    if let Some(path) = &args.output {
        let n = selected.iter().filter(|&&s| s).count();
        write(path, &|out| {
            report::html::write_html(out, &plan, &records, n)
        })?;
    }
    if let Some(path) = &args.trace {
        write(path, &|out| {
            report::trace::write_trace(out, &plan, &records)
        })?;
    }
    Ok(0)
}
