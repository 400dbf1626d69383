//! Subcommand dispatch: what `main` calls. Returns the process exit code.

use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use clap::CommandFactory;

use crate::cli::{Cli, Command, PlanInput, RunArgs, SchemaKind};
use crate::error::Error;
use crate::event::Event;
use crate::exec::{self, ExecOptions};
use crate::journal::{self, Journal};
use crate::manifest::OutputMode;
use crate::plan::shard::Shard;
use crate::plan::{self, Plan};
use crate::report::events::EventWriter;
use crate::report::junit::JunitCollector;
use crate::report::{self, PlainReporter};
use crate::{manifest, options};

/// After handling events, the reporting thread sleeps this long before it
/// waits for more, so a burst (a no-op rerun finishes 20,000 units in tens
/// of milliseconds) is taken in batches: a sender only pays a futex wake and
/// a context switch when this thread is blocked waiting, not per event.
const NAP: Duration = Duration::from_millis(1);

pub fn run(cli: Cli) -> Result<i32, Error> {
    match cli.command {
        Command::Run(args) => run_job(&args),
        Command::Plan(args) => {
            let planned = load_plan_noting(&args.input)?;
            let (plan, selected) = preview(planned, &args.input.selection.only);
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            let graph = match (args.dot, args.mermaid) {
                (true, _) => Some(report::graph::Format::Dot),
                (_, true) => Some(report::graph::Format::Mermaid),
                _ if args.units => {
                    return Err(Error::Usage(
                        "--units draws the unit graph: give it with --dot or --mermaid".into(),
                    ));
                }
                _ => None,
            };
            let r = if let Some(format) = graph {
                report::graph::write_graph(&mut out, &plan, &selected, format, args.units)?
            } else if args.count {
                writeln!(out, "{}", selected.iter().filter(|&&s| s).count())
            } else if args.why {
                let prior = journal::read_prior(&plan, false);
                warn_skipped(&prior, false);
                let why = journal::explain_plan(&plan, &selected, &prior);
                report::plan::write_why(&mut out, &plan, &why)
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
            let units = selected.iter().filter(|&&s| s).count();
            let tasks = plan.tasks.len();
            let pending = plan.tasks.iter().filter(|t| t.pending.is_some()).count();
            let pending = match pending {
                0 => String::new(),
                1 => "; 1 task pending, its units come at run time".to_owned(),
                n => format!("; {n} tasks pending, their units come at run time"),
            };
            let text = format!(
                "{}: ok ({units} unit{} in {tasks} task{}{pending})\n",
                input.file.display(),
                if units == 1 { "" } else { "s" },
                if tasks == 1 { "" } else { "s" },
            );
            write_stdout(text.as_bytes())
        }
        Command::Status(args) => crate::inspect::status(&args, &load_plan),
        Command::Logs(args) => crate::inspect::logs(&args, &load_plan),
        Command::Report(args) => crate::inspect::report(&args, &load_plan),
        Command::Slurm(args) => {
            let (plan, selected) = load_for_shards(&args.input.plan_input())?;
            crate::engine::sbatch::slurm(&args, &plan, &selected)
        }
        Command::Sge(args) => {
            let (plan, selected) = load_for_shards(&args.input.plan_input())?;
            crate::engine::qsub::sge(&args, &plan, &selected)
        }
        Command::K8s(args) => {
            let (plan, selected) = load_for_shards(&args.input.plan_input())?;
            crate::engine::k8s::k8s(&args, &plan, &selected)
        }
        Command::Schema { which } => {
            let mut text = match which {
                SchemaKind::Manifest => schema(),
                SchemaKind::Events => report::events::schema(),
            };
            text.push('\n');
            write_stdout(text.as_bytes())
        }
        Command::Completions { shell } => {
            // Into a buffer: clap_complete panics on a failed write.
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "jobrun", &mut buf);
            write_stdout(&buf)
        }
    }
}

/// What the user asked for, on stdout. A closed pipe (`| head`) ends
/// quietly in `main`; any other failure (`>/dev/full`) is an error.
fn write_stdout(bytes: &[u8]) -> Result<i32, Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("cannot write to stdout", e))?;
    Ok(0)
}

/// The manifest's JSON Schema (draft-07, what editors and SchemaStore use).
pub fn schema() -> String {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<manifest::Manifest>();
    // Serializing a schema value cannot fail.
    serde_json::to_string_pretty(&schema).unwrap_or_default()
}

fn load_plan(input: &PlanInput) -> Result<(Plan, Vec<bool>), Error> {
    load_plan_noting(input).map(|l| (l.plan, l.selected))
}

/// The plan a cluster engine splits into shards: pending tasks expanded
/// as the shards will see them, the setup (see `expand_for_shards`) not
/// selected.
fn load_for_shards(input: &PlanInput) -> Result<(Plan, Vec<bool>), Error> {
    load_selected(input, true).map(|l| (l.plan, l.selected))
}

/// A plan and what it was made from.
struct Planned {
    plan: Plan,
    selected: Vec<bool>,
    /// When a `--shard` split is uneven.
    note: Option<String>,
    loaded: Arc<manifest::Loaded>,
    options: plan::PlanOptions,
}

/// The plan and its selection, and a note when a `--shard` split is uneven.
fn load_plan_noting(input: &PlanInput) -> Result<Planned, Error> {
    let shard = shard_of(input)?;
    let mut planned = load_selected(input, shard.is_some())?;
    if let Some(shard) = shard {
        planned.note = plan::shard::apply(&planned.plan, &mut planned.selected, shard)?;
    }
    Ok(planned)
}

/// The plan and its `--only` selection; `for_shards`: with pending tasks
/// expanded as shards see them, and their setup not selected (it is done:
/// no shard runs it, and it ties no units together).
fn load_selected(input: &PlanInput, for_shards: bool) -> Result<Planned, Error> {
    let loaded = manifest::load(&input.file)?;
    let options = options::plan_options(&input.selection.vars, &input.selection.resources)?;
    let mut plan = plan::build(&loaded, &options)?;
    let mut setup = Vec::new();
    if for_shards && plan.tasks.iter().any(|t| t.pending.is_some()) {
        (plan, setup) = expand_for_shards(&loaded, &options, plan, &input.file)?;
    }
    let mut selected = plan::select(&plan, &input.selection.only, input.selection.with_deps)?;
    for u in setup {
        selected[u] = false;
    }
    Ok(Planned {
        plan,
        selected,
        note: None,
        loaded: Arc::new(loaded),
        options,
    })
}

/// A sharded run of a plan with pending tasks: every shard must see the
/// same units, so the producers (and what they need: the setup) must have
/// run, once, before the shards, and the pending tasks are expanded from
/// their files now. The plan, and the setup's units.
fn expand_for_shards(
    loaded: &manifest::Loaded,
    options: &plan::PlanOptions,
    mut plan: Plan,
    file: &std::path::Path,
) -> Result<(Plan, Vec<usize>), Error> {
    let producers: Vec<usize> = plan
        .tasks
        .iter()
        .filter_map(|t| t.pending.as_ref())
        .flat_map(|p| p.producers.iter().copied())
        .collect();
    let needs: Vec<Vec<usize>> = plan.tasks.iter().map(|t| t.needs.clone()).collect();
    let mut in_setup = plan::dynamic::needed_by(&needs, &producers);
    for &p in &producers {
        in_setup[p] = true;
    }
    let setup_tasks: Vec<usize> = (0..plan.tasks.len())
        .filter(|&t| in_setup[t] && plan.tasks[t].pending.is_none())
        .collect();
    let names: Vec<&str> = setup_tasks
        .iter()
        .map(|&t| plan.tasks[t].name.as_str())
        .collect();
    let how = format!(
        "run it once first, unsharded: `jobrun {} --only {} --with-deps`; every shard then reads \
         the same lists",
        file.display(),
        names.join(" --only ")
    );
    if setup_tasks.len() < in_setup.iter().filter(|&&b| b).count() {
        return Err(Error::Usage(format!(
            "--shard: a task whose units come at run time reads from another such task, so the \
             shards cannot agree on the units; run the job unsharded, or {how}"
        )));
    }
    let mut selected = vec![false; plan.units.len()];
    for &t in &setup_tasks {
        selected[plan.tasks[t].units.clone()].fill(true);
    }
    let prior = journal::read_prior(&plan, false);
    let why = journal::explain_plan(&plan, &selected, &prior);
    if let Some((u, w)) = why.iter().enumerate().find_map(|(u, w)| {
        w.as_ref()
            .filter(|w| **w != journal::Why::UpToDate)
            .map(|w| (u, w))
    }) {
        return Err(Error::Usage(format!(
            "--shard: the tasks whose units come at run time read what {} write{}, which is not \
             done (`{}`: {w}); {how}",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if names.len() == 1 { "s" } else { "" },
            plan.units[u].id
        )));
    }
    let setup: Vec<usize> = (0..plan.units.len()).filter(|&u| selected[u]).collect();
    let pending: Vec<usize> = (0..plan.tasks.len())
        .filter(|&t| plan.tasks[t].pending.is_some())
        .collect();
    plan = plan::expand(loaded, options, &plan, &pending)?;
    Ok((plan, setup))
}

/// `jobrun plan`: pending tasks expanded as far as their files exist now,
/// still marked pending (`Pending::preview`).
fn preview(planned: Planned, only: &[String]) -> (Plan, Vec<bool>) {
    let Planned {
        mut plan,
        mut selected,
        loaded,
        options,
        ..
    } = planned;
    let pending: Vec<_> = plan.tasks.iter().map(|t| t.pending.clone()).collect();
    loop {
        let ready: Vec<usize> = (0..plan.tasks.len())
            .filter(|&t| {
                plan.tasks[t].pending.as_ref().is_some_and(|p| {
                    !p.preview
                        && p.producers
                            .iter()
                            .all(|&q| plan.tasks[q].pending.as_ref().is_none_or(|q| q.preview))
                })
            })
            .collect();
        let mut grew = false;
        for t in ready {
            let from = plan.units.len();
            // Not written yet, or not usable yet: shown as pending.
            if let Ok(mut next) = plan::expand(&loaded, &options, &plan, &[t]) {
                selected.extend(plan::select_new(&next, only, from));
                next.tasks[t].pending = pending[t]
                    .clone()
                    .map(|p| plan::dynamic::Pending { preview: true, ..p });
                plan = next;
                grew = true;
            }
        }
        if !grew {
            return (plan, selected);
        }
    }
}

/// Expands a run's pending tasks (see `ExecOptions::expand`), selecting
/// their units by the run's `--only` patterns.
fn expander(planned: &Planned, only: &[String]) -> Box<exec::Expander> {
    let loaded = Arc::clone(&planned.loaded);
    let options = planned.options.clone();
    let only = only.to_vec();
    Box::new(move |plan: &Plan, ready: &[usize]| {
        let from = plan.units.len();
        let next = plan::expand(&loaded, &options, plan, ready).map_err(|e| e.to_string())?;
        let selected = plan::select_new(&next, &only, from);
        Ok((next, selected))
    })
}

/// `--shard K/N|auto`, resolved.
fn shard_of(input: &PlanInput) -> Result<Option<Shard>, Error> {
    match input.shard.as_deref() {
        None => Ok(None),
        Some("auto") => plan::shard::detect(|k| std::env::var(k).ok())
            .map(|d| Some(d.shard))
            .map_err(Error::Usage),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|e: String| Error::Usage(format!("--shard: {e}"))),
    }
}

fn run_job(args: &RunArgs) -> Result<i32, Error> {
    let planned = load_plan_noting(&args.input)?;
    let expand = expander(&planned, &args.input.selection.only);
    let Planned {
        plan,
        selected,
        note,
        ..
    } = planned;
    if let Some(note) = note
        && !args.quiet
    {
        let _ = writeln!(std::io::stderr(), "jobrun: warning: {note}");
    }
    let workers = options::workers(args, &plan)?;
    if args.dry_run {
        // What this run would do, journal included (read-only, as `plan --why`).
        let prior = journal::read_prior(&plan, args.fresh);
        if !args.quiet {
            warn_skipped(&prior, args.verbose);
        }
        let why = journal::explain_plan(&plan, &selected, &prior);
        let stdout = std::io::stdout();
        let mut out = BufWriter::new(stdout.lock());
        report::plan::write_why(&mut out, &plan, &why)
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("cannot write to stdout", e))?;
        let runs = why.iter().flatten().filter(|w| w.runs()).count();
        let fails = why
            .iter()
            .flatten()
            .filter(|w| matches!(w, journal::Why::Fails(_)))
            .count();
        let considered = why.iter().flatten().count();
        let fails = match fails {
            0 => String::new(),
            n => format!(", {n} would fail on their inputs"),
        };
        let _ = writeln!(
            std::io::stderr(),
            "jobrun: dry run: {runs} of {considered} selected units would run{fails}; nothing was run"
        );
        return Ok(0);
    }
    // Shards running at once on one file system each keep their own journal
    // (and lock); every run reads all of them.
    let shard = shard_of(&args.input)?;
    let journal_name = match shard {
        Some(s) => format!("{}.shard-{}-of-{}.journal", plan.job.name, s.index, s.total),
        None => format!("{}.journal", plan.job.name),
    };
    // Past a file-size limit a write must fail with an error we report, not
    // kill jobrun (a handler, unlike SIG_IGN, is not inherited by units).
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        Arc::new(AtomicBool::new(false)),
    );
    // Lock first, then read: no other run appends while we decide what is done.
    let journal = Arc::new(Journal::open(
        &plan.job.state_dir,
        &plan.job.name,
        &journal_name,
        shard.map(|s| s.total),
    )?);
    let report_opts = options::report(args, &plan);
    // Report files are opened before anything runs (a bad path fails fast),
    // and after the lock: a run refused as a duplicate must not truncate
    // the running one's reports.
    let mut events = match &args.events {
        None => None,
        Some(p) if p.as_os_str() == "-" => Some(EventWriter::new(
            Box::new(std::io::stdout()) as Box<dyn Write + Send>
        )),
        Some(p) => {
            let f = std::fs::File::create(p)
                .map_err(|e| Error::io(format!("cannot create `{}`", p.display()), e))?;
            Some(EventWriter::new(
                Box::new(BufWriter::new(f)) as Box<dyn Write + Send>
            ))
        }
    };
    let junit_file = match &args.junit {
        None => None,
        Some(p) => Some((
            p.clone(),
            std::fs::File::create(p)
                .map_err(|e| Error::io(format!("cannot create `{}`", p.display()), e))?,
        )),
    };
    let mut junit = junit_file.as_ref().map(|_| JunitCollector::default());
    // With the lock held no other run of this job is alive: whatever still
    // carries this journal's marker was orphaned by a run that was killed.
    let marker = journal
        .path()
        .canonicalize()
        .unwrap_or_else(|_| journal.path().to_owned())
        .into_os_string();
    let left = if journal.killed_before() {
        exec::leftovers::find(&marker)
    } else {
        Vec::new()
    };
    if !left.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "jobrun: stopping {} process group(s) left running by an earlier run of this job that was killed",
            left.len()
        );
        exec::leftovers::stop(&left, plan.job.kill_grace);
    }
    let prior = journal::read_prior(&plan, args.fresh);
    journal.note_prior(&prior, plan.units.len());
    if !args.quiet {
        warn_skipped(&prior, args.verbose);
    }
    let units = selected.iter().filter(|&&s| s).count();
    // A pending task may bring any number of units: no cap then.
    let units = if plan.tasks.iter().any(|t| t.pending.is_some()) {
        usize::MAX
    } else {
        units
    };
    let line_output = report_opts.output == OutputMode::Line;
    let fds = exec::limits::fit(workers.min(units.max(1)), line_output)?;
    if let Some(note) = &fds.note
        && !args.quiet
    {
        let _ = writeln!(std::io::stderr(), "jobrun: warning: {note}");
    }
    let job_failures = match (&args.job_failures, args.job_failure_limit) {
        (Some(path), Some(limit)) => {
            let tag = shard.map_or_else(|| "run".to_owned(), |s| format!("shard {s}"));
            let j = exec::job_failures::JobFailures::open(path, limit, tag)
                .map_err(|e| Error::io(format!("cannot open `{}`", path.display()), e))?;
            Some(Arc::new(j))
        }
        _ => None,
    };
    let opts = ExecOptions {
        workers: fds.workers,
        selected,
        logs_dir: plan.job.state_dir.join("logs").join(&plan.job.name),
        handle_signals: true,
        prior: Some(prior),
        line_output,
        journal_marker: Some(marker),
        stop: Arc::new(AtomicBool::new(false)),
        rate_split: shard.map_or(1, |s| s.total),
        job_failures,
        journal: Some(Arc::clone(&journal)),
        start_slots: fds.start_slots,
        expand: Some(expand),
    };
    let stop = Arc::clone(&opts.stop);
    // Bounded: a unit flooding output in line mode waits for the terminal
    // instead of piling lines up in memory.
    let (tx, rx) = mpsc::sync_channel::<Event>(1024);
    // `--events -` owns stdout: unit output goes to stderr then, so the
    // stream stays pure JSON Lines.
    let events_on_stdout = args.events.as_ref().is_some_and(|p| p.as_os_str() == "-");
    let unit_out: Box<dyn Write + Send> = if events_on_stdout {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let plan = Arc::new(plan);
    let mut reporter =
        PlainReporter::new(Arc::clone(&plan), report_opts, std::io::stderr(), unit_out);
    reporter.set_selected(&opts.selected);
    let mut last_plan = Arc::clone(&plan);
    let outcome = std::thread::scope(|scope| {
        let mut current = Arc::clone(&plan);
        let journal = &*journal;
        let events = &mut events;
        let junit = &mut junit;
        let reporter = &mut reporter;
        let consumer = scope.spawn(move || {
            let mut broken = false;
            let mut journal_error: Option<Error> = None;
            let mut events_error: Option<std::io::Error> = None;
            let mut next_tick = Instant::now() + reporter.tick_every();
            // Events since this thread last napped (see NAP).
            let mut busy = false;
            loop {
                let mut wake = next_tick;
                if let Some(due) = journal.due() {
                    wake = wake.min(due);
                }
                let ev = match rx.try_recv() {
                    Ok(ev) => Some(ev),
                    Err(mpsc::TryRecvError::Disconnected) => break,
                    Err(mpsc::TryRecvError::Empty) if busy => {
                        busy = false;
                        std::thread::sleep(NAP.min(wake.saturating_duration_since(Instant::now())));
                        continue;
                    }
                    Err(mpsc::TryRecvError::Empty) => {
                        match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                            Ok(ev) => Some(ev),
                            Err(mpsc::RecvTimeoutError::Timeout) => None,
                            Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        }
                    }
                };
                busy |= ev.is_some();
                // Workers write the records; they are synced here.
                if journal_error.is_none()
                    && let Err(e) = journal.sync_if_due(false)
                {
                    // Records not durable could be lost with the machine:
                    // stop cleanly (running units finish).
                    let _ = writeln!(std::io::stderr(), "{e}; no new units start");
                    stop.store(true, Ordering::Release);
                    journal_error = Some(e);
                }
                if let Some(ev) = &ev {
                    if let Event::Expanded { plan, .. } = ev {
                        current = Arc::clone(plan);
                    }
                    if let Some(w) = events.as_mut()
                        && events_error.is_none()
                        && let Err(e) = w.handle(&current, ev)
                    {
                        // The run goes on (its journal is what matters for a
                        // rerun); the exit code says the report is incomplete.
                        if e.kind() != std::io::ErrorKind::BrokenPipe {
                            let _ = writeln!(std::io::stderr(), "error: cannot write events: {e}");
                        }
                        events_error = Some(e);
                    }
                    if let Some(j) = junit.as_mut() {
                        j.handle(ev);
                    }
                    // A closed terminal must not stop the run; keep draining events.
                    if !broken && reporter.handle(ev).is_err() {
                        broken = true;
                    }
                }
                if Instant::now() >= next_tick {
                    if !broken && reporter.tick().is_err() {
                        broken = true;
                    }
                    next_tick = Instant::now() + reporter.tick_every();
                }
            }
            match (journal_error, events_error) {
                (Some(e), _) => Err(e),
                // A reader that went away (`--events - | head`) is not
                // jobrun failing; the run's own exit code stands.
                (None, Some(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    journal.sync_if_due(true)
                }
                (None, Some(e)) => {
                    journal.sync_if_due(true)?;
                    let to = match &args.events {
                        Some(p) if p.as_os_str() != "-" => format!("`{}`", p.display()),
                        _ => "stdout".into(),
                    };
                    Err(Error::io(format!("cannot write the events to {to}"), e))
                }
                (None, None) => journal.sync_if_due(true),
            }
        });
        let result = exec::execute(Arc::clone(&plan), &opts, &tx);
        drop(tx);
        let journal_result = consumer.join().unwrap_or(Ok(()));
        let code = match result {
            Ok(r) => {
                last_plan = r.plan;
                r.exit_code
            }
            Err(e) => {
                if let Err(j) = journal_result {
                    let _ = writeln!(std::io::stderr(), "{j}");
                }
                return Err(e);
            }
        };
        match journal_result {
            // An interruption's code wins; otherwise jobrun's own failure does.
            Err(e) if !matches!(code, 129 | 130 | 143) => Err(e),
            _ => Ok(code),
        }
    });
    // The JUnit report is written even when jobrun stopped on its own error:
    // the units that ran are worth reporting.
    if let (Some(j), Some((path, file))) = (junit.as_mut(), junit_file) {
        let cannot = |e: std::io::Error| Error::io(format!("cannot write `{}`", path.display()), e);
        let mut out = BufWriter::new(file);
        let written = j
            .write(&last_plan, &mut out)
            .map_err(|e| cannot(std::io::Error::other(e)))
            // Without this, a full disk would lose the report's tail silently.
            .and_then(|()| out.flush().map_err(cannot));
        match (written, &outcome) {
            (Err(e), Ok(_)) => return Err(e),
            (Err(e), Err(_)) => {
                let _ = writeln!(std::io::stderr(), "{e}");
            }
            (Ok(()), _) => {}
        }
    }
    outcome
}

/// Say once per journal file what could not be read in it; records cut
/// short by a killed run only with `-v` (they are expected then).
fn warn_skipped(prior: &journal::Prior, verbose: bool) {
    let mut err = std::io::stderr().lock();
    for (path, s) in &prior.skipped {
        if s.unreadable > 0 {
            let _ = writeln!(
                err,
                "jobrun: warning: skipped {} unreadable line{} in `{}` (first at line {}); \
                 a unit such a line names runs again",
                s.unreadable,
                if s.unreadable == 1 { "" } else { "s" },
                path.display(),
                s.first_unreadable
            );
        }
        if s.torn > 0 && verbose {
            let _ = writeln!(
                err,
                "jobrun: skipped {} record{} cut short in `{}` (first at line {}), left by a \
                 run that was killed or could not write them whole",
                s.torn,
                if s.torn == 1 { "" } else { "s" },
                path.display(),
                s.first_torn
            );
        }
    }
}
