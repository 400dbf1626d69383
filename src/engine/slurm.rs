//! The sbatch script of `jobrun slurm`: one array job, one task per shard.
//!
//! Pure: `script` turns a [`Script`] into text and touches nothing, so the
//! exact script is unit-tested. Array task `i` (0-based, `--array=0-(N-1)`)
//! runs shard `i+1` of N with an explicit `--shard` (never `--shard auto`:
//! sbatch exports the submitter's environment, which may hold another
//! `JOBRUN_SHARD`), writes its events to `<dir>/<array job>_<task>.events.jsonl`
//! and its terminal output to `<dir>/%A_%a.out`, where `<dir>` is
//! [`Script::dir`]. `JOBRUN_SHARD_TOTAL` is exported too, so anything the
//! units start with `--shard auto` sees the total (`SLURM_ARRAY_TASK_COUNT`
//! is only the size of one submission).
//!
//! Every value that comes from the user is single-quoted for bash; values in
//! `#SBATCH` lines (which sbatch parses itself) are checked instead.

use std::fmt::Write as _;

/// Everything the script depends on.
#[derive(Debug, Clone)]
pub struct Script<'a> {
    /// The job's name (letters, digits, `_`, `-`, `.`: checked by the planner).
    pub job: &'a str,
    /// Absolute path of the `jobrun` executable the tasks run.
    pub exe: &'a str,
    /// Absolute path of the manifest.
    pub manifest: &'a str,
    pub shards: u32,
    /// At most this many tasks at once (`%M`).
    pub array_limit: Option<u32>,
    /// Absolute directory for the script, task output and events files.
    pub dir: &'a str,
    /// Failures across all shards stop the job at this count (`on_failure`
    /// abort or kill): a failing task cancels the pending ones, and every
    /// shard counts failures in `<dir>/<array job>.failures`.
    pub job_failure_limit: Option<usize>,
    /// Extra `jobrun` arguments for every shard (`--var`, `--only`, ...).
    pub args: &'a [String],
    /// Extra `#SBATCH` options, like `--partition=batch`.
    pub sbatch_options: &'a [String],
    /// `--cpus-per-task`: the job's `cpu` pool, when it has one.
    pub cpus: Option<u32>,
    /// Comment lines, e.g. how the job's rates are shared by the shards.
    pub notes: &'a [String],
}

/// The `--array` value: `0-(N-1)`, with `%M` when limited.
pub fn array_spec(shards: u32, limit: Option<u32>) -> String {
    let mut s = format!("0-{}", shards.saturating_sub(1));
    if let Some(m) = limit.filter(|&m| m < shards) {
        let _ = write!(s, "%{m}");
    }
    s
}

/// The file name of a task's events, as `jobrun slurm` reads it back.
pub fn events_file(array_job: &str, task: u32) -> String {
    format!("{array_job}_{task}.events.jsonl")
}

/// The file name of a task's terminal output.
pub fn output_file(array_job: &str, task: u32) -> String {
    format!("{array_job}_{task}.out")
}

/// The script's file name inside [`Script::dir`].
pub const SCRIPT_FILE: &str = "job.sbatch";

/// The sbatch script, or why a value cannot go into it.
pub fn script(s: &Script<'_>) -> Result<String, String> {
    let n = s.shards;
    let output = format!("{}/%A_%a.out", sbatch_pattern(s.dir)?);
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "#!/bin/bash");
    let _ = writeln!(
        w,
        "# jobrun slurm: job `{}` in {n} shards; array task i runs shard i+1 of {n}.",
        s.job
    );
    let _ = writeln!(w, "#SBATCH --job-name=jobrun-{}", s.job);
    let _ = writeln!(w, "#SBATCH --array={}", array_spec(n, s.array_limit));
    let _ = writeln!(w, "#SBATCH --output={}", directive_value(&output)?);
    if let Some(c) = s.cpus {
        let _ = writeln!(w, "#SBATCH --cpus-per-task={c}");
    }
    for o in s.sbatch_options {
        if o.contains('\n') || !o.starts_with('-') {
            return Err(format!(
                "`--sbatch-option {o}` must be one sbatch option, like `--partition=batch`"
            ));
        }
        let _ = writeln!(w, "#SBATCH {o}");
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "# The total travels with the script: SLURM_ARRAY_TASK_COUNT is only the size of one submission."
    );
    let _ = writeln!(w, "export JOBRUN_SHARD_TOTAL={n}");
    for note in s.notes {
        let _ = writeln!(w, "# {}", note.replace('\n', " "));
    }
    let _ = writeln!(w);
    let _ = write!(
        w,
        "{} {} --shard \"$((SLURM_ARRAY_TASK_ID+1))/{n}\" --progress plain \\\n  --events {}/\"${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}.events.jsonl\"",
        quote(s.exe),
        quote(s.manifest),
        quote(s.dir),
    );
    if let Some(limit) = s.job_failure_limit {
        let _ = write!(
            w,
            " \\\n  --job-failures {}/\"$SLURM_ARRAY_JOB_ID.failures\" --job-failure-limit {limit}",
            quote(s.dir)
        );
    }
    for a in s.args {
        let _ = write!(w, " {}", quote(a));
    }
    let _ = writeln!(w);
    let _ = writeln!(w, "code=$?");
    if s.job_failure_limit.is_some() {
        let _ = writeln!(
            w,
            "# on_failure: a failed shard cancels the shards that have not started."
        );
        let _ = writeln!(w, "if [ \"$code\" -ne 0 ]; then");
        let _ = writeln!(
            w,
            "  scancel --state=PENDING \"$SLURM_ARRAY_JOB_ID\" 2>/dev/null || true"
        );
        let _ = writeln!(w, "fi");
    }
    let _ = writeln!(w, "exit \"$code\"");
    Ok(out)
}

/// A word for bash: single-quoted unless it is plainly safe.
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@%".contains(&b));
    if safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A literal path in an sbatch file-name pattern: `%` doubled.
fn sbatch_pattern(path: &str) -> Result<String, String> {
    if path.contains('\\') {
        return Err(format!(
            "the state dir `{path}` holds a backslash, which sbatch output patterns cannot carry"
        ));
    }
    Ok(path.replace('%', "%%"))
}

/// A value on an `#SBATCH` line: double-quoted when it holds blanks, which
/// sbatch understands; characters it cannot carry are an error.
fn directive_value(v: &str) -> Result<String, String> {
    if v.contains(['"', '\n', '\r']) {
        return Err(format!(
            "`{v}` cannot go on an #SBATCH line (it holds a quote or a newline); choose another state_dir"
        ));
    }
    Ok(if v.contains(char::is_whitespace) {
        format!("\"{v}\"")
    } else {
        v.to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Script<'static> {
        Script {
            job: "images",
            exe: "/opt/bin/jobrun",
            manifest: "/home/me/jobs/images.toml",
            shards: 3,
            array_limit: None,
            dir: "/home/me/jobs/.jobrun/slurm/images",
            job_failure_limit: Some(1),
            args: &[],
            sbatch_options: &[],
            cpus: None,
            notes: &[],
        }
    }

    #[test]
    fn array_specs() {
        assert_eq!(array_spec(3, None), "0-2");
        assert_eq!(array_spec(10, Some(4)), "0-9%4");
        // A limit at or above N limits nothing.
        assert_eq!(array_spec(3, Some(3)), "0-2");
        assert_eq!(array_spec(1, None), "0-0");
    }

    #[test]
    fn the_whole_script() {
        let args = ["--var".to_owned(), "size=64 px".to_owned()];
        let opts = ["--partition=batch".to_owned()];
        let s = script(&Script {
            array_limit: Some(2),
            args: &args,
            sbatch_options: &opts,
            ..base()
        })
        .unwrap();
        assert_eq!(
            s,
            r#"#!/bin/bash
# jobrun slurm: job `images` in 3 shards; array task i runs shard i+1 of 3.
#SBATCH --job-name=jobrun-images
#SBATCH --array=0-2%2
#SBATCH --output=/home/me/jobs/.jobrun/slurm/images/%A_%a.out
#SBATCH --partition=batch

# The total travels with the script: SLURM_ARRAY_TASK_COUNT is only the size of one submission.
export JOBRUN_SHARD_TOTAL=3

/opt/bin/jobrun /home/me/jobs/images.toml --shard "$((SLURM_ARRAY_TASK_ID+1))/3" --progress plain \
  --events /home/me/jobs/.jobrun/slurm/images/"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}.events.jsonl" \
  --job-failures /home/me/jobs/.jobrun/slurm/images/"$SLURM_ARRAY_JOB_ID.failures" --job-failure-limit 1 --var 'size=64 px'
code=$?
# on_failure: a failed shard cancels the shards that have not started.
if [ "$code" -ne 0 ]; then
  scancel --state=PENDING "$SLURM_ARRAY_JOB_ID" 2>/dev/null || true
fi
exit "$code"
"#
        );
    }

    #[test]
    fn continue_cancels_nothing() {
        let s = script(&Script {
            job_failure_limit: None,
            ..base()
        })
        .unwrap();
        assert!(!s.contains("scancel"), "{s}");
        assert!(!s.contains("--job-failures"), "{s}");
        assert!(s.contains("#SBATCH --array=0-2\n"), "{s}");
        assert!(s.contains("export JOBRUN_SHARD_TOTAL=3\n"), "{s}");
    }

    #[test]
    fn hostile_paths_are_quoted() {
        let s = script(&Script {
            exe: "/o p/jobrun",
            manifest: "/j/it's $(x).toml",
            dir: "/s 100%/slurm/images",
            ..base()
        })
        .unwrap();
        assert!(
            s.contains("#SBATCH --output=\"/s 100%%/slurm/images/%A_%a.out\"\n"),
            "{s}"
        );
        assert!(
            s.contains("'/o p/jobrun' '/j/it'\\''s $(x).toml' --shard"),
            "{s}"
        );
        assert!(
            s.contains("--events '/s 100%/slurm/images'/\"${SLURM_ARRAY_JOB_ID}"),
            "{s}"
        );
        for bad in ["/s\"q", "/s\nq", "/s\\q"] {
            assert!(script(&Script { dir: bad, ..base() }).is_err(), "{bad:?}");
        }
        assert!(
            script(&Script {
                sbatch_options: &["partition=x".to_owned()],
                ..base()
            })
            .is_err()
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a/b-c.toml"), "a/b-c.toml");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("*"), "'*'");
    }
}
