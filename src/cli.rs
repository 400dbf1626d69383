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
2 manifest or usage error (nothing ran); 3 jobrun could not read or write its own files; 130/143 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommand names; anything else in first position is a job file for `run`.
const SUBCOMMANDS: [&str; 6] = ["run", "plan", "check", "schema", "completions", "help"];

impl Cli {
    /// Parse, treating `jobrun [OPTIONS] FILE` as `jobrun run [OPTIONS] FILE`.
    /// (A job file named like a subcommand needs `jobrun run plan` or `./plan`.)
    pub fn parse_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Cli {
        let mut args: Vec<std::ffi::OsString> = args.into_iter().collect();
        if let Some(first) = args.get(1).and_then(|a| a.to_str())
            && !SUBCOMMANDS.contains(&first)
            && !matches!(first, "-h" | "--help" | "-V" | "--version")
        {
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

/// The manifest and what changes its plan.
#[derive(Debug, Args)]
pub struct PlanInput {
    /// The job file (TOML).
    pub file: PathBuf,
    /// Override a `[vars]` entry: `--var key=value` (repeatable).
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
    /// Select units by id, task name, or a glob over either (repeatable).
    /// Needs outside the selection count as done.
    #[arg(long, value_name = "PATTERN")]
    pub only: Vec<String>,
    /// With --only: select everything the selected units need, too.
    #[arg(long, requires = "only")]
    pub with_deps: bool,
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
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub input: PlanInput,
    /// How many units run at once: N, `auto` (one per CPU) or `N%` of the CPUs.
    #[arg(short = 'j', long = "workers", value_name = "N")]
    pub workers: Option<String>,
    /// Show what would run, then stop; runs nothing, writes nothing.
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
    /// Write a JUnit XML report to PATH when the run ends.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<std::path::PathBuf>,
    /// Print less: only failures and the final summary.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more: one line per started unit too.
    #[arg(short, long)]
    pub verbose: bool,
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
