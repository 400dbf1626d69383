//! The manifest's shape (SPEC section 1). Serde field names equal manifest keys;
//! `deny_unknown_fields` everywhere so a typo is an error, never ignored.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use super::{AllowFailure, DurationValue, EnvFile, MaxFailures, Workers};

/// A jobrun job file (manifest v1).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "jobrun manifest", extend("required" = ["task"]))]
pub struct Manifest {
    /// Accepted and ignored, for editors that look for it.
    #[serde(rename = "$schema", default)]
    pub schema: Option<String>,
    /// Job-wide settings.
    #[serde(default)]
    pub job: Job,
    /// Named strings usable in templates as `{name}`; overridable with `--var name=value`.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, ScalarSchema>")]
    pub vars: IndexMap<String, Spanned<toml::Value>>,
    /// Named pools that units take from while they run (per machine):
    /// a capacity, indexed ids, a start rate, or a capacity and a rate.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, ResourceSchema>")]
    pub resources: IndexMap<String, Spanned<toml::Value>>,
    /// The tasks, in plan order.
    #[serde(default, rename = "task")]
    #[schemars(rename = "task", length(min = 1))]
    pub tasks: Vec<Task>,
}

/// `[job]`: settings for the whole run.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// The job's name (default: the manifest's file stem).
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    /// Units run at once (default "auto"); `-j` overrides.
    pub workers: Option<Workers>,
    /// What happens when `max_failures` is reached (default "abort").
    pub on_failure: Option<OnFailure>,
    /// Failed units tolerated before `on_failure` fires (default 1).
    pub max_failures: Option<MaxFailures>,
    /// Extra attempts per unit (default 0).
    pub retries: Option<u32>,
    /// Delay before retry k is retry_delay * 2^(k-1), capped at one minute (default "1s").
    pub retry_delay: Option<DurationValue>,
    /// Time limit per attempt (default: none).
    pub timeout: Option<DurationValue>,
    /// Time between SIGTERM and SIGKILL (default "5s").
    pub kill_grace: Option<DurationValue>,
    /// The command that runs a task's `shell` string (default ["sh", "-c"]).
    #[schemars(with = "Option<Vec<String>>", length(min = 1))]
    pub shell: Option<Spanned<Vec<String>>>,
    /// Working directory, relative to the manifest's folder (default ".").
    #[schemars(with = "Option<String>")]
    pub dir: Option<Spanned<String>>,
    /// Added to every unit's environment; values are templates.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub env: IndexMap<String, Spanned<String>>,
    /// Files of `KEY=VALUE` lines added to every unit's environment, before
    /// `env` (which wins); relative to the manifest's folder. Values are secret.
    #[serde(default)]
    #[schemars(with = "Vec<super::env_file::EnvFileSchema>")]
    pub env_file: Vec<Spanned<EnvFile>>,
    /// Which unit output is printed (default "failed").
    pub output: Option<OutputMode>,
    /// With output = "all": print blocks in plan order.
    pub keep_order: Option<bool>,
    /// Keep the outputs of units that failed, timed out or were killed, for
    /// debugging (default false: they are removed).
    pub keep_failed_outputs: Option<bool>,
    /// Journal and logs, relative to the manifest's folder (default ".jobrun").
    #[schemars(with = "Option<String>")]
    pub state_dir: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Start nothing new; running units finish.
    #[default]
    Abort,
    /// Everything that does not depend on a failure still runs.
    Continue,
    /// As abort, and running units are terminated.
    Kill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputMode {
    /// A failed unit's output tail, as a block.
    #[default]
    Failed,
    /// Every unit's output as a block when it ends.
    All,
    /// Lines as they come, prefixed with the unit id.
    Line,
    /// No unit output.
    None,
}

/// `[[task]]`: one command, expanded over its matrix into units.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{ "required": ["run"] }, { "required": ["shell"] }]))]
pub struct Task {
    /// Unique name, [A-Za-z0-9_-]+.
    #[schemars(with = "String", regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub name: Spanned<String>,
    /// Value sources, combined as a cartesian product in declaration order
    /// (a row source: its rows, each giving a key per column).
    #[serde(default)]
    #[schemars(with = "IndexMap<String, MatrixSourceSchema>")]
    pub matrix: IndexMap<String, Spanned<toml::Value>>,
    /// GitHub Actions `include`: extend matching combinations or add new ones.
    #[serde(default)]
    #[schemars(with = "Vec<IndexMap<String, ScalarSchema>>")]
    pub include: Vec<Spanned<IndexMap<String, Spanned<toml::Value>>>>,
    /// GitHub Actions `exclude`: remove matching combinations.
    #[serde(default)]
    #[schemars(with = "Vec<IndexMap<String, ScalarSchema>>")]
    pub exclude: Vec<Spanned<IndexMap<String, Spanned<toml::Value>>>>,
    /// The argv, one template per element; no shell involved.
    #[schemars(with = "Option<Vec<String>>", length(min = 1))]
    pub run: Option<Spanned<Vec<Spanned<String>>>>,
    /// One command string run by `job.shell`; substituted values are shell-quoted.
    #[schemars(with = "Option<String>")]
    pub shell: Option<Spanned<String>>,
    /// Files the unit reads (fingerprinted).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub inputs: Vec<Spanned<String>>,
    /// Files the unit writes (checked for up-to-date, removed on failure).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub outputs: Vec<Spanned<String>>,
    /// Tasks whose matching units must succeed first.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub needs: Vec<Spanned<String>>,
    /// Overrides `job.retries`.
    pub retries: Option<u32>,
    /// Overrides `job.retry_delay`.
    pub retry_delay: Option<DurationValue>,
    /// Overrides `job.timeout`.
    pub timeout: Option<DurationValue>,
    /// Added to the job's env; values are templates.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub env: IndexMap<String, Spanned<String>>,
    /// Env files after the job's, before any `env` (which wins); relative to
    /// the manifest's folder. Values are secret.
    #[serde(default)]
    #[schemars(with = "Vec<super::env_file::EnvFileSchema>")]
    pub env_file: Vec<Spanned<EnvFile>>,
    /// Working directory, relative to the job's dir; a template.
    #[schemars(with = "Option<String>")]
    pub dir: Option<Spanned<String>>,
    /// Failures are reported but count neither toward max_failures nor the exit code:
    /// `true`, or a matrix key (`"{experimental}"`) whose value is `true` or `false` per unit.
    #[schemars(with = "Option<AllowFailureSchema>")]
    pub allow_failure: Option<Spanned<AllowFailure>>,
    /// Overrides `job.keep_failed_outputs`.
    pub keep_failed_outputs: Option<bool>,
    /// What each unit takes from the `[resources]` pools while it runs.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, UseSchema>")]
    pub uses: IndexMap<String, Spanned<toml::Value>>,
    /// At most this many units of this task run at once.
    #[schemars(with = "Option<u32>", range(min = 1))]
    pub max_parallel: Option<Spanned<i64>>,
    /// Exit codes that mean success (default [0]).
    #[schemars(length(min = 1), inner(range(min = 0, max = 255)))]
    pub ok_codes: Option<Vec<i32>>,
}

/// Schema-only: a string, integer, float or boolean.
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)]
pub enum ScalarSchema {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
}

/// Schema-only: `allow_failure`.
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)]
pub enum AllowFailureSchema {
    Fixed(bool),
    /// A matrix key whose value (`true` or `false`) decides for each unit.
    Key(#[schemars(regex(pattern = r"^\{\s*[A-Za-z0-9_-]+\s*\}$"))] String),
}

/// Schema-only: the value sources of `matrix.KEY`.
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)]
pub enum MatrixSourceSchema {
    /// Literal values.
    Values(Vec<ScalarSchema>),
    /// Matching paths relative to the job dir, sorted bytewise.
    Glob(GlobSchema),
    /// The non-empty lines of a file.
    Lines(LinesSchema),
    /// Integers START..END, END exclusive.
    Range(RangeSchema),
    /// Rows of a CSV file with a header row: each column is a key.
    Csv(CsvSchema),
    /// Rows of a JSON array of objects: each member is a key.
    Json(JsonArraySchema),
    /// Rows of a JSON Lines file, an object per line: each member is a key.
    Jsonl(JsonlSchema),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct GlobSchema {
    glob: String,
    /// Matching nothing is not an error.
    #[serde(default)]
    allow_empty: bool,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct LinesSchema {
    lines: String,
    /// An empty file is not an error.
    #[serde(default)]
    allow_empty: bool,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct CsvSchema {
    csv: String,
    /// A header without rows is not an error.
    #[serde(default)]
    allow_empty: bool,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct JsonArraySchema {
    json: String,
    /// An empty array is not an error.
    #[serde(default)]
    allow_empty: bool,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct JsonlSchema {
    jsonl: String,
    /// A file without an object is not an error.
    #[serde(default)]
    allow_empty: bool,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct RangeSchema {
    #[schemars(length(equal = 2))]
    range: Vec<i64>,
}

/// Schema-only: a pool in `[resources]`.
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)]
pub enum ResourceSchema {
    /// How many units' worth may be held at once.
    Capacity(#[schemars(range(min = 1))] u32),
    /// `"auto"` (the CPU count) or a percentage of the CPUs, like `"50%"`.
    Cpus(#[schemars(regex(pattern = r"^(auto|[0-9]+%)$"))] String),
    /// Indexed: the ids a unit can be given, like `["0", "1"]` for two GPUs.
    Ids(#[schemars(length(min = 1))] Vec<String>),
    /// A capacity, a start rate, or both.
    Table(PoolSchema),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct PoolSchema {
    /// An integer >= 1, `"auto"` or `"N%"` of the CPUs.
    capacity: Option<CapacitySchema>,
    /// At most this many attempt starts per period, like `"100/s"`.
    #[schemars(regex(pattern = r"^\s*[0-9]+\s*/\s*\S+\s*$"))]
    rate: Option<String>,
    /// Starts allowed at once before the rate applies (default 1).
    #[schemars(range(min = 1))]
    burst: Option<u32>,
}

#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)]
pub enum CapacitySchema {
    Count(#[schemars(range(min = 1))] u32),
    Cpus(#[schemars(regex(pattern = r"^(auto|[0-9]+%)$"))] String),
}

/// Schema-only: an amount taken from a pool (whole numbers for indexed pools).
#[derive(JsonSchema)]
#[allow(dead_code)]
pub struct UseSchema(#[schemars(range(min = 0.001))] f64);
