//! The command line as clap sees it: raw strings and flags, no validation
//! beyond syntax. `options.rs` turns these into checked options.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run declarative, version-controlled job files.
///
/// `jobrun FILE` runs the job; `jobrun plan FILE` shows its units; `jobrun check FILE` validates it.
#[derive(Debug, Parser)]
#[command(name = "jobrun", version, arg_required_else_help = true)]
#[command(
    override_usage = "jobrun [OPTIONS] <FILE>      (the same as `jobrun run`)\n       jobrun <COMMAND> [OPTIONS] ..."
)]
#[command(
    after_help = "Exit codes: 0 all selected units ok or up to date; 1 a unit failed, timed out or was killed; \
2 manifest or usage error (nothing ran); 3 jobrun could not read or write its own files; 129/130/143 interrupted (SIGHUP/SIGINT/SIGTERM)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommand names; anything else in first position is a job file for `run`.
const SUBCOMMANDS: [&str; 12] = [
    "run",
    "plan",
    "check",
    "status",
    "logs",
    "report",
    "slurm",
    "sge",
    "k8s",
    "schema",
    "completions",
    "help",
];

impl Cli {
    /// Parse, treating `jobrun [OPTIONS] FILE` as `jobrun run [OPTIONS] FILE`.
    /// (A job file named like a subcommand needs `jobrun run plan` or `./plan`.)
    pub fn parse_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Cli {
        let mut args: Vec<std::ffi::OsString> = args.into_iter().collect();
        if let Some(first) = args.get(1).and_then(|a| a.to_str())
            && !SUBCOMMANDS.contains(&first)
            && !matches!(first, "-h" | "--help" | "-V" | "--version")
        {
            // `jobrun plna x.toml`: a mistyped command, not a job file.
            if !first.starts_with('-')
                && !std::path::Path::new(first).exists()
                && let Some(cmd) = crate::error::did_you_mean(first, SUBCOMMANDS)
            {
                use clap::CommandFactory;
                Cli::command()
                    .error(
                        clap::error::ErrorKind::InvalidSubcommand,
                        format!(
                            "`{first}` is not a command, and no job file has that name; did you mean `{cmd}`?"
                        ),
                    )
                    .exit();
            }
            args.insert(1, "run".into());
        }
        Cli::parse_from(args)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a job (the same as `jobrun FILE`).
    Run(RunArgs),
    /// Show the units a job would run, in plan order; runs nothing, writes nothing.
    Plan(PlanArgs),
    /// Validate a job file and its plan; runs nothing, writes nothing.
    Check(PlanInput),
    /// Show each unit's last outcome, when it ran, its attempts and log, from the journal.
    ///
    /// Exit 0 when the last run of every selected unit was ok (or up to date), 1 otherwise.
    Status(StatusArgs),
    /// Print a unit's log (from its latest run, or an earlier one).
    Logs(LogsArgs),
    /// Write a self-contained HTML report of the latest run (timeline, slowest, failures).
    Report(ReportArgs),
    /// Run a job as a SLURM array job, one shard per array task; waits and reports.
    Slurm(SlurmArgs),
    /// Run a job as a Grid Engine array job, one shard per array task; waits and reports.
    Sge(SgeArgs),
    /// Print a Kubernetes Indexed Job (JSON, which kubectl accepts) that runs a job in shards.
    K8s(K8sArgs),
    /// Print a JSON Schema (draft-07): the manifest's, or the `--events` stream's.
    Schema {
        #[arg(value_enum, default_value_t)]
        which: SchemaKind,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell to generate for.
        shell: clap_complete::Shell,
    },
}

/// What changes the plan and which of its units are selected.
#[derive(Debug, Clone, Args)]
pub struct Selection {
    /// Override a `[vars]` entry: `--var key=value` (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// Override a `[resources]` pool's capacity on this machine:
    /// `--resource cpu=8`, or `--resource gpu=0,1` for an indexed pool (repeatable).
    #[arg(long = "resource", value_name = "NAME=VALUE")]
    pub resources: Vec<String>,
    /// Select units by id, task name, or a pattern over either with `*` and `?` (`[` is literal) (repeatable).
    /// Needs outside the selection count as done.
    #[arg(long, value_name = "PATTERN")]
    pub only: Vec<String>,
    /// With --only: select everything the selected units need, too.
    #[arg(long, requires = "only")]
    pub with_deps: bool,
}

/// The manifest and what changes its plan.
#[derive(Debug, Args)]
pub struct PlanInput {
    /// The job file (TOML).
    pub file: PathBuf,
    #[command(flatten)]
    pub selection: Selection,
    /// Run one slice of the plan: `K/N` (1-based), or `auto` to read the
    /// CI or cluster engine's variables (SLURM, Kubernetes, GitLab, CircleCI, Buildkite).
    #[arg(long, value_name = "K/N|auto")]
    pub shard: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub input: PlanInput,
    /// One JSON object per unit and line: id, task, index, keys, argv or shell, dir, needs.
    #[arg(long, conflicts_with = "count")]
    pub json: bool,
    /// Print only the number of units.
    #[arg(long, conflicts_with = "why")]
    pub count: bool,
    /// Say per unit whether a run would run it, and why (reads the journal, writes nothing).
    #[arg(long, conflicts_with = "json")]
    pub why: bool,
    /// Print the task graph in Graphviz DOT (edges labelled by the keys they match on).
    #[arg(long, conflicts_with_all = ["json", "count", "why", "mermaid"])]
    pub dot: bool,
    /// Print the task graph as a Mermaid flowchart.
    #[arg(long, conflicts_with_all = ["json", "count", "why"])]
    pub mermaid: bool,
    /// With --dot or --mermaid: the graph of units instead of tasks (at most 2,000 units).
    #[arg(long)]
    pub units: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub input: PlanInput,
    /// Only units whose last attempt did not succeed.
    #[arg(long)]
    pub failed: bool,
    /// One JSON document: the counts and one object per unit.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The job file (TOML).
    pub file: PathBuf,
    /// The unit: its id, or a pattern (`*`, `?`) or task name matching exactly one unit.
    pub unit: String,
    /// Only attempt N of that run (1-based, as `JOBRUN_ATTEMPT`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub attempt: Option<u32>,
    /// The log of the K-th run before the latest (the last 3 runs' logs are kept).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=2))]
    pub previous: Option<u32>,
    /// Override a `[vars]` entry: `--var key=value` (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub input: PlanInput,
    /// Write the HTML report to PATH.
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Write the run as Chrome trace event JSON to PATH (opens in Perfetto).
    #[arg(long, value_name = "PATH")]
    pub trace: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub input: PlanInput,
    /// How many units run at once: N (at most 4096), `auto` (one per CPU) or `N%` of the CPUs.
    #[arg(short = 'j', long = "workers", value_name = "N")]
    pub workers: Option<String>,
    /// Show which units would run and why (the journal considered), then
    /// stop; runs nothing, writes nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Ignore the journal: run every selected unit, even those up to date.
    #[arg(long)]
    pub fresh: bool,
    /// Which unit output is printed (default: the job's `output`, else `failed`).
    #[arg(long, value_enum, value_name = "MODE")]
    pub output: Option<OutputArg>,
    /// Progress display: a bar on a terminal, plain lines in CI and pipes.
    #[arg(long, value_enum, value_name = "MODE", default_value_t)]
    pub progress: crate::report::mode::ProgressFlag,
    /// Write events as JSON Lines to PATH (`-` for stdout) as they happen.
    #[arg(long, value_name = "PATH")]
    pub events: Option<std::path::PathBuf>,
    /// A failures file shared by the shards of one engine job (written
    /// by `jobrun slurm`/`sge` scripts): every failure is appended to it,
    /// and no unit starts once it holds `--job-failure-limit` lines.
    #[arg(long, value_name = "PATH", hide = true, requires = "job_failure_limit")]
    pub job_failures: Option<std::path::PathBuf>,
    #[arg(long, value_name = "N", hide = true, requires = "job_failures",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub job_failure_limit: Option<u64>,
    /// Write a JUnit XML report to PATH when the run ends.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<std::path::PathBuf>,
    /// Print less: only failures and the final summary.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more: one line per started unit too.
    #[arg(short, long)]
    pub verbose: bool,
    /// With `--output all`: print unit blocks in plan order (as `keep_order = true`).
    #[arg(long)]
    pub keep_order: bool,
}

/// What every shard of an engine job runs: the manifest, its selection and the shard count.
#[derive(Debug, Args)]
pub struct ShardedInput {
    /// The job file (TOML).
    pub file: PathBuf,
    /// How many shards (array tasks, pods) the job is split into.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: u32,
    #[command(flatten)]
    pub selection: Selection,
    /// Units run at once in each shard: N, `auto` or `N%` (default: the job's `workers`).
    #[arg(short = 'j', long = "workers", value_name = "N")]
    pub workers: Option<String>,
}

impl ShardedInput {
    /// The whole selection, before it is split into shards.
    pub fn plan_input(&self) -> PlanInput {
        PlanInput {
            file: self.file.clone(),
            selection: self.selection.clone(),
            shard: None,
        }
    }
}

#[derive(Debug, Args)]
pub struct SlurmArgs {
    #[command(flatten)]
    pub input: ShardedInput,
    /// At most M array tasks run at once (`--array=0-(N-1)%M`).
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u32).range(1..))]
    pub array_limit: Option<u32>,
    /// An extra `#SBATCH` option for the script, like `--partition=batch` (repeatable).
    #[arg(
        long = "sbatch-option",
        value_name = "OPTION",
        allow_hyphen_values = true
    )]
    pub sbatch_options: Vec<String>,
    /// Print the sbatch script to stdout; submit nothing, write nothing.
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, Args)]
pub struct SgeArgs {
    #[command(flatten)]
    pub input: ShardedInput,
    /// At most M array tasks run at once (`qsub -tc M`).
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u32).range(1..))]
    pub array_limit: Option<u32>,
    /// An extra `#$` line for the script, like `-l h_rt=1:00:00` or `-q all.q` (repeatable).
    #[arg(
        long = "qsub-option",
        value_name = "OPTION",
        allow_hyphen_values = true
    )]
    pub qsub_options: Vec<String>,
    /// Print the job script to stdout; submit nothing, write nothing.
    #[arg(long)]
    pub print: bool,
}

#[derive(Debug, Args)]
pub struct K8sArgs {
    #[command(flatten)]
    pub input: ShardedInput,
    /// The container image; it must hold `jobrun` on its PATH and FILE at the same path.
    #[arg(long, value_name = "IMAGE")]
    pub image: String,
    /// The Job's name (default: `jobrun-<job>`, made a valid DNS label).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Pods running at once (default: the number of shards).
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u32).range(1..))]
    pub parallelism: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    Failed,
    All,
    Line,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum SchemaKind {
    /// The job file format.
    #[default]
    Manifest,
    /// One line of `--events` output.
    Events,
}
