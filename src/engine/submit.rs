//! `jobrun slurm`: write the array job's script, submit it, wait, report.
//!
//! The only engine code that starts processes: `sbatch --parsable` to
//! submit, `squeue -h -j ID` every half second to wait (not `sbatch --wait`,
//! which polls slowly), `scancel ID` when jobrun itself is interrupted while
//! waiting. Results come from the files the shards wrote into the job's
//! `slurm` dir (see `results`), not from accounting (`sacct` needs slurmdbd,
//! which many clusters, and every small test cluster, do not run).
//!
//! Exit code: 0 when every shard finished ok; 1 when a unit failed or a
//! shard did not finish; 2 for usage errors (nothing submitted, including a
//! missing `sbatch`); 130/143 when interrupted (the array job is cancelled).

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::results::{self, Counts, ShardState, ShardSummary};
use super::slurm::{self, Script};
use crate::cli::SlurmArgs;
use crate::error::Error;
use crate::manifest::OnFailure;
use crate::plan::Plan;

/// How often `squeue` is asked whether the array job is still there.
const POLL: Duration = Duration::from_millis(500);
/// How often a waiting line is printed.
const STATUS_EVERY: Duration = Duration::from_secs(10);
/// How long `squeue` may keep failing (controller restarting) before we give up.
const SQUEUE_PATIENCE: Duration = Duration::from_secs(60);

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
        cancel_pending_on_failure: plan.job.on_failure != OnFailure::Continue,
        args: &passthrough,
        sbatch_options: &args.sbatch_options,
        cpus: super::cpus_per_shard(plan),
        notes: &super::rate_notes(plan, n),
    })
    .map_err(Error::Usage)?;
    if args.print {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("cannot write to stdout", e))?;
        return Ok(0);
    }

    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::io(format!("cannot create `{}`", dir.display()), e))?;
    let script_path = dir.join(slurm::SCRIPT_FILE);
    std::fs::write(&script_path, &text)
        .map_err(|e| Error::io(format!("cannot write `{}`", script_path.display()), e))?;

    // Interruptions while waiting cancel the array job rather than orphan it.
    let signal = Arc::new(AtomicUsize::new(0));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize);
    }

    let id = submit(&script_path)?;
    let sizes_text = sizes
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        std::io::stderr(),
        "jobrun slurm: submitted array job {id}: {n} shards of `{}` ({sizes_text} units); output in {}",
        plan.job.name,
        dir.display()
    );
    let started = Instant::now();
    let interrupted = wait(&id, &signal)?;
    let summaries: Vec<ShardSummary> = (0..n)
        .map(|task| {
            std::fs::read_to_string(dir.join(slurm::events_file(&id, task)))
                .map_or_else(|_| ShardSummary::never_ran(), |t| results::summarize(&t))
        })
        .collect();
    let all_ok = report(&id, &dir, &sizes, &summaries, started.elapsed());
    Ok(match interrupted {
        Some(sig) => 128 + sig as i32,
        None if all_ok => 0,
        None => 1,
    })
}

fn utf8<'a>(p: &'a Path, what: &str) -> Result<&'a str, Error> {
    p.to_str().ok_or_else(|| {
        Error::Usage(format!(
            "{what} `{}` is not valid UTF-8, which the sbatch script cannot carry",
            p.display()
        ))
    })
}

/// `sbatch --parsable SCRIPT`: the array job's id.
fn submit(script: &Path) -> Result<String, Error> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(script)
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::Usage(format!(
                "`sbatch` is not on PATH: `jobrun slurm` needs SLURM's client commands \
                 (run it where you would run sbatch); the script is in `{}`, or print it with --print",
                script.display()
            )),
            _ => Error::io("cannot run `sbatch`", e),
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "sbatch refused the job: {}",
            stderr.trim()
        )));
    }
    // `--parsable` prints `ID` or `ID;CLUSTER`.
    let id = stdout.trim().split(';').next().unwrap_or("").to_owned();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::io(
            "sbatch printed no job id",
            std::io::Error::other(format!(
                "stdout: `{}`, stderr: `{}`",
                stdout.trim(),
                stderr.trim()
            )),
        ));
    }
    Ok(id)
}

/// Wait until the array job leaves the queue. On SIGINT/SIGTERM: cancel it,
/// wait briefly for its tasks to end, and return the signal.
fn wait(id: &str, signal: &AtomicUsize) -> Result<Option<usize>, Error> {
    let start = Instant::now();
    let mut next_status = start + STATUS_EVERY;
    let mut failing_since: Option<Instant> = None;
    let mut cancelled: Option<(usize, Instant)> = None;
    loop {
        let sig = signal.load(Ordering::Acquire);
        if sig != 0 && cancelled.is_none() {
            let _ = writeln!(
                std::io::stderr(),
                "jobrun slurm: interrupted; cancelling array job {id}"
            );
            let _ = Command::new("scancel").arg(id).status();
            cancelled = Some((sig, Instant::now()));
        }
        if let Some((sig, at)) = cancelled
            && at.elapsed() > Duration::from_secs(30)
        {
            return Ok(Some(sig));
        }
        match squeue(id) {
            Ok(states) if states.is_empty() => return Ok(cancelled.map(|(s, _)| s)),
            Ok(states) => {
                failing_since = None;
                if Instant::now() >= next_status {
                    let running = states.iter().filter(|s| *s == "R").count();
                    let pending = states.iter().filter(|s| *s == "PD").count();
                    // Pending tasks share one line (`ID_[3-9%2]`): say only that some wait.
                    let _ = writeln!(
                        std::io::stderr(),
                        "jobrun slurm: array job {id}: {running} shards running{} ({}s)",
                        if pending > 0 { ", more pending" } else { "" },
                        start.elapsed().as_secs()
                    );
                    next_status = Instant::now() + STATUS_EVERY;
                }
            }
            Err(e) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > SQUEUE_PATIENCE {
                    return Err(Error::io(
                        format!(
                            "cannot ask squeue about array job {id} (the array job may still run)"
                        ),
                        e,
                    ));
                }
            }
        }
        std::thread::sleep(POLL);
    }
}

/// The states (`R`, `PD`, `CG`, ...) of the array job's lines in the queue;
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

/// Print one line per shard and a total; true when every shard is ok.
fn report(id: &str, dir: &Path, sizes: &[usize], shards: &[ShardSummary], wall: Duration) -> bool {
    let n = shards.len();
    let mut total = std::collections::BTreeMap::<String, usize>::new();
    let (mut ok, mut failed, mut never, mut never_units) = (0, 0, 0, 0);
    let mut err = std::io::stderr().lock();
    for (task, s) in shards.iter().enumerate() {
        for (o, c) in &s.counts {
            *total.entry(o.clone()).or_default() += c;
        }
        let out_file: PathBuf = dir.join(slurm::output_file(id, task as u32));
        let head = format!("shard {}/{n} (task {id}_{task})", task + 1);
        let counts = Counts(&s.counts);
        let _ = match &s.state {
            ShardState::Finished(0) => {
                ok += 1;
                writeln!(err, "{head}: ok: {counts}")
            }
            ShardState::Finished(code) => {
                failed += 1;
                writeln!(err, "{head}: failed (exit {code}): {counts}")
            }
            ShardState::Unfinished => {
                failed += 1;
                writeln!(
                    err,
                    "{head}: did not finish (stopped by SLURM: time limit, cancel or node failure): {counts}"
                )
            }
            ShardState::NeverRan if out_file.exists() => {
                failed += 1;
                writeln!(err, "{head}: started but ran no units")
            }
            ShardState::NeverRan => {
                never += 1;
                never_units += sizes.get(task).copied().unwrap_or(0);
                writeln!(
                    err,
                    "{head}: never ran ({})",
                    units(sizes.get(task).copied().unwrap_or(0))
                )
            }
        };
        if !s.failed.is_empty() {
            let shown: Vec<&str> = s.failed.iter().take(10).map(String::as_str).collect();
            let more = s.failed.len().saturating_sub(shown.len());
            let _ = write!(err, "  failed units: {}", shown.join(", "));
            let _ = if more > 0 {
                writeln!(err, " and {more} more")
            } else {
                writeln!(err)
            };
        }
        if !s.is_ok() && out_file.exists() {
            let _ = writeln!(err, "  output: {}", out_file.display());
            if s.state == ShardState::NeverRan {
                for line in tail(&out_file, 5) {
                    let _ = writeln!(err, "  | {line}");
                }
            }
        }
    }
    let _ = write!(
        err,
        "array job {id}: {ok} of {n} shards ok, {failed} failed, {never} never ran"
    );
    if never_units > 0 {
        let _ = write!(err, " ({} not run)", units(never_units));
    }
    let _ = writeln!(
        err,
        "; units: {}; {:.1}s",
        Counts(&total),
        wall.as_secs_f64()
    );
    ok == n
}

fn units(n: usize) -> String {
    if n == 1 {
        "1 unit".to_owned()
    } else {
        format!("{n} units")
    }
}

/// The last `n` lines of a small file.
fn tail(path: &Path, n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}
