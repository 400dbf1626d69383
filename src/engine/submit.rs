//! Submit an engine's array job, wait for it, report per shard.
//!
//! The engine-independent half of `jobrun slurm` and `jobrun sge`: an
//! [`Engine`] knows its commands (`sbatch`/`squeue`/`scancel`,
//! `qsub`/`qstat`/`qdel`/`qacct`) and its file names; this module writes
//! the script, submits it, polls the queue every half second (with a line
//! every 10 s), cancels the job when jobrun itself is interrupted while
//! waiting, and reports one line per shard from the events files the shards
//! wrote (see `results`), with the exit status the engine recorded when it
//! keeps one (Grid Engine's `qacct`).
//!
//! Exit code: 0 when every shard finished ok; 1 when a unit failed or a
//! shard did not finish; 2 for usage errors (nothing submitted, including a
//! missing submit command); 130/143 when interrupted (the job is cancelled).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::results::{self, Counts, ShardState, ShardSummary};
use crate::error::Error;
use crate::plan::Plan;

/// How often the queue is asked whether the job is still there.
pub const POLL: Duration = Duration::from_millis(500);
/// How often a waiting line is printed.
const STATUS_EVERY: Duration = Duration::from_secs(10);
/// How long the queue may keep failing to answer (controller restarting) before we give up.
const QUEUE_PATIENCE: Duration = Duration::from_secs(60);

/// What the queue says about a job still in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Queued {
    pub running: usize,
    pub pending: bool,
}

/// One batch system: its commands and file names.
pub trait Engine {
    /// `slurm` or `sge`, as in `jobrun slurm`.
    fn name(&self) -> &'static str;
    /// Submit the script; the job's id.
    fn submit(&self, script: &Path) -> Result<String, Error>;
    /// None once the job has left the queue.
    fn queued(&self, id: &str) -> std::io::Result<Option<Queued>>;
    /// Cancel the whole job (jobrun was interrupted).
    fn cancel(&self, id: &str);
    /// The engine's task number of shard `k` (1-based).
    fn task(&self, k: u32) -> u32;
    /// How users name a task: `7_0`, `7.1`.
    fn label(&self, id: &str, task: u32) -> String;
    fn events_file(&self, id: &str, task: u32) -> String;
    fn output_file(&self, id: &str, task: u32) -> String;
    /// Where exit statuses come from, for the report (`qacct`).
    fn accounting(&self) -> &'static str {
        "accounting"
    }
    /// Each finished task's exit status, from the engine's accounting,
    /// waiting until `started` are all there; None when it keeps none.
    fn exit_statuses(&self, id: &str, started: &[u32]) -> Option<BTreeMap<u32, i32>>;
}

/// What the submission needs besides the engine.
pub struct Submission<'a> {
    pub plan: &'a Plan,
    pub dir: &'a Path,
    pub script_file: &'a str,
    pub script: &'a str,
    /// Selected units per shard.
    pub sizes: &'a [usize],
}

/// Write the script, submit it, wait, report; the exit code.
pub fn run(engine: &dyn Engine, s: &Submission<'_>) -> Result<i32, Error> {
    let dir = s.dir;
    let n = s.sizes.len() as u32;
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("cannot create `{}`", dir.display()), e))?;
    let script_path = dir.join(s.script_file);
    std::fs::write(&script_path, s.script)
        .map_err(|e| Error::io(format!("cannot write `{}`", script_path.display()), e))?;

    // Interruptions while waiting cancel the job rather than orphan it.
    let signal = Arc::new(AtomicUsize::new(0));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize);
    }

    let id = engine.submit(&script_path)?;
    let sizes_text = s
        .sizes
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        std::io::stderr(),
        "jobrun {}: submitted array job {id}: {n} shards of `{}` ({sizes_text} units); output in {}",
        engine.name(),
        s.plan.job.name,
        dir.display()
    );
    let started = Instant::now();
    let interrupted = wait(engine, &id, &signal)?;
    let tasks: Vec<u32> = (1..=n).map(|k| engine.task(k)).collect();
    let ran: Vec<u32> = tasks
        .iter()
        .copied()
        .filter(|&t| {
            dir.join(engine.events_file(&id, t)).exists()
                || dir.join(engine.output_file(&id, t)).exists()
        })
        .collect();
    let statuses = engine.exit_statuses(&id, &ran);
    let summaries: Vec<ShardSummary> = tasks
        .iter()
        .map(|&task| {
            let mut s = std::fs::read_to_string(dir.join(engine.events_file(&id, task)))
                .map_or_else(|_| ShardSummary::never_ran(), |t| results::summarize(&t));
            s.engine_exit = statuses.as_ref().and_then(|m| m.get(&task).copied());
            s
        })
        .collect();
    let all_ok = report(engine, &id, dir, s.sizes, &summaries, started.elapsed());
    Ok(match interrupted {
        Some(sig) => 128 + sig as i32,
        None if all_ok => 0,
        None => 1,
    })
}

/// A path the job script must carry as text.
/// Run `cmd`, the engine's submit command (`program`: `sbatch`, `qsub`), and
/// take the job id from what it prints (`id_of`). `system` names the engine
/// for messages ("SLURM"), `engine` is the jobrun command (`slurm`).
pub fn submit_with(
    cmd: &mut std::process::Command,
    (program, engine, system): (&str, &str, &str),
    script: &Path,
    id_of: impl Fn(&str) -> Option<String>,
) -> Result<String, Error> {
    let out = cmd.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Usage(format!(
            "`{program}` is not on PATH: `jobrun {engine}` needs {system}'s client commands \
             (run it where you would run {program}); the script is in `{}`, or print it with --print",
            script.display()
        )),
        _ => Error::io(format!("cannot run `{program}`"), e),
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "{program} refused the job: {}",
            stderr.trim()
        )));
    }
    id_of(&stdout).ok_or_else(|| {
        Error::io(
            format!("{program} printed no job id"),
            std::io::Error::other(format!(
                "stdout: `{}`, stderr: `{}`",
                stdout.trim(),
                stderr.trim()
            )),
        )
    })
}

pub fn utf8<'a>(p: &'a Path, what: &str) -> Result<&'a str, Error> {
    p.to_str().ok_or_else(|| {
        Error::Usage(format!(
            "{what} `{}` is not valid UTF-8, which the job script cannot carry",
            p.display()
        ))
    })
}

/// Print the script instead of submitting it (`--print`).
pub fn print(text: &str) -> Result<i32, Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("cannot write to stdout", e))?;
    Ok(0)
}

/// Wait until the job leaves the queue. On SIGINT/SIGTERM: cancel it,
/// wait briefly for its tasks to end, and return the signal.
fn wait(engine: &dyn Engine, id: &str, signal: &AtomicUsize) -> Result<Option<usize>, Error> {
    let name = engine.name();
    let start = Instant::now();
    let mut next_status = start + STATUS_EVERY;
    let mut failing_since: Option<Instant> = None;
    let mut cancelled: Option<(usize, Instant)> = None;
    loop {
        let sig = signal.load(Ordering::Acquire);
        if sig != 0 && cancelled.is_none() {
            let _ = writeln!(
                std::io::stderr(),
                "jobrun {name}: interrupted; cancelling array job {id}"
            );
            engine.cancel(id);
            cancelled = Some((sig, Instant::now()));
        }
        if let Some((sig, at)) = cancelled
            && at.elapsed() > Duration::from_secs(30)
        {
            return Ok(Some(sig));
        }
        match engine.queued(id) {
            Ok(None) => return Ok(cancelled.map(|(s, _)| s)),
            Ok(Some(q)) => {
                failing_since = None;
                if Instant::now() >= next_status {
                    let _ = writeln!(
                        std::io::stderr(),
                        "jobrun {name}: array job {id}: {} shards running{} ({}s)",
                        q.running,
                        if q.pending { ", more pending" } else { "" },
                        start.elapsed().as_secs()
                    );
                    next_status = Instant::now() + STATUS_EVERY;
                }
            }
            Err(e) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                if since.elapsed() > QUEUE_PATIENCE {
                    return Err(Error::io(
                        format!(
                            "cannot ask the queue about array job {id} (the array job may still run)"
                        ),
                        e,
                    ));
                }
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Print one line per shard and a total; true when every shard is ok.
fn report(
    engine: &dyn Engine,
    id: &str,
    dir: &Path,
    sizes: &[usize],
    shards: &[ShardSummary],
    wall: Duration,
) -> bool {
    let n = shards.len();
    let mut total = BTreeMap::<String, usize>::new();
    let (mut ok, mut failed, mut never, mut never_units) = (0, 0, 0, 0);
    let mut err = std::io::stderr().lock();
    for (i, s) in shards.iter().enumerate() {
        let task = engine.task(i as u32 + 1);
        let size = sizes.get(i).copied().unwrap_or(0);
        let mut counts = s.counts.clone();
        if s.state == ShardState::Unfinished {
            // Stopped from outside (cancel, time limit): what never ended was not run.
            let ended: usize = counts.values().sum();
            if size > ended {
                *counts.entry("cancelled".to_owned()).or_default() += size - ended;
            }
        }
        for (o, c) in &counts {
            *total.entry(o.clone()).or_default() += c;
        }
        let out_file: PathBuf = dir.join(engine.output_file(id, task));
        let head = format!("shard {}/{n} (task {})", i + 1, engine.label(id, task));
        let acct = match s.engine_exit {
            Some(code) => format!(" (exit {code} in {})", engine.accounting()),
            None => String::new(),
        };
        let counts_text = Counts(&counts);
        let _ = match (&s.state, s.engine_exit) {
            (ShardState::Finished(0), None | Some(0)) => {
                ok += 1;
                writeln!(err, "{head}: ok: {counts_text}")
            }
            (ShardState::Finished(code), engine_exit) => {
                failed += 1;
                match engine_exit {
                    Some(c) => writeln!(
                        err,
                        "{head}: failed (exit {c} in {}): {counts_text}",
                        engine.accounting()
                    ),
                    None => writeln!(err, "{head}: failed (exit {code}): {counts_text}"),
                }
            }
            (ShardState::Unfinished, _) => {
                failed += 1;
                writeln!(
                    err,
                    "{head}: did not finish{acct} (stopped by {}: time limit, cancel or node failure): {counts_text}",
                    engine.name()
                )
            }
            (ShardState::NeverRan, engine_exit) if out_file.exists() || engine_exit.is_some() => {
                failed += 1;
                writeln!(err, "{head}: started but ran no units{acct}")
            }
            (ShardState::NeverRan, _) => {
                never += 1;
                never_units += size;
                writeln!(err, "{head}: never ran ({})", units(size))
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
        let shard_ok = s.is_ok() && s.engine_exit.is_none_or(|c| c == 0);
        if !shard_ok && out_file.exists() {
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
