//! The job script of `jobrun sge`: one Grid Engine array job, one task per shard.
//!
//! Pure: `script` and `qsub_args` turn a [`Script`] into text and words and
//! touch nothing, so both are unit-tested. Task `i` (1-based, `-t 1-N`; Grid
//! Engine rejects task 0) runs shard `i` of N with an explicit `--shard`
//! (qsub may export the submitter's environment, which may hold another
//! `JOBRUN_SHARD`), writes its events to `<dir>/<job id>.<task>.events.jsonl`;
//! Grid Engine writes its output to `<dir>/jobrun-<job>.o<job id>.<task>`.
//! `JOBRUN_SHARD_TOTAL` is exported: `SGE_TASK_LAST` is the total only for a
//! `1-N` range, not for a resubmission of some tasks.
//!
//! The script is submitted as a file (`-S /bin/sh`), never with `-b y`,
//! which loses the quoting of `sh -c` words.

use std::fmt::Write as _;

use super::slurm::quote;

/// Everything the script and the qsub command depend on.
#[derive(Debug, Clone)]
pub struct Script<'a> {
    /// The job's name (letters, digits, `_`, `-`, `.`: checked by the planner).
    pub job: &'a str,
    /// Absolute path of the `jobrun` executable the tasks run.
    pub exe: &'a str,
    /// Absolute path of the manifest.
    pub manifest: &'a str,
    pub shards: u32,
    /// At most this many tasks at once (`-tc M`).
    pub array_limit: Option<u32>,
    /// Absolute directory for the script, task output and events files.
    pub dir: &'a str,
    /// Failures across all shards stop the job at this count (`on_failure`
    /// abort or kill): a failing task deletes the pending ones, and every
    /// shard counts failures in `<dir>/<job id>.failures`.
    pub job_failure_limit: Option<usize>,
    /// Extra `jobrun` arguments for every shard (`--var`, `--only`, ...).
    pub args: &'a [String],
    /// Extra `#$` lines, like `-l h_rt=1:00:00` or `-q all.q`.
    pub qsub_options: &'a [String],
    /// Comment lines, e.g. how the job's rates are shared by the shards.
    pub notes: &'a [String],
}

/// The script's file name inside [`Script::dir`].
pub const SCRIPT_FILE: &str = "job.sh";

/// Grid Engine's name for the job (its output files are named after it).
pub fn job_name(job: &str) -> String {
    format!("jobrun-{job}")
}

/// The file name of a task's events, as `jobrun sge` reads it back.
pub fn events_file(job_id: &str, task: u32) -> String {
    format!("{job_id}.{task}.events.jsonl")
}

/// The file name Grid Engine gives a task's output with `-o DIR`.
pub fn output_file(job: &str, job_id: &str, task: u32) -> String {
    format!("{}.o{job_id}.{task}", job_name(job))
}

/// The job-wide failures file of one submission.
pub fn failures_file(job_id: &str) -> String {
    format!("{job_id}.failures")
}

/// `qsub`'s arguments, the script path last; `-terse` makes it print only
/// the job id (`ID.1-N:1`).
pub fn qsub_args(s: &Script<'_>, script_path: &str) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "-terse".into(),
        "-N".into(),
        job_name(s.job),
        "-t".into(),
        format!("1-{}", s.shards),
    ];
    if let Some(m) = s.array_limit.filter(|&m| m < s.shards) {
        a.push("-tc".into());
        a.push(m.to_string());
    }
    for w in ["-S", "/bin/sh", "-o", s.dir, "-e", s.dir, script_path] {
        a.push(w.to_owned());
    }
    a
}

/// The job script, or why a value cannot go into it.
pub fn script(s: &Script<'_>) -> Result<String, String> {
    let n = s.shards;
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "#!/bin/sh");
    let _ = writeln!(
        w,
        "# jobrun sge: job `{}` in {n} shards; array task i runs shard i of {n}.",
        s.job
    );
    for o in s.qsub_options {
        if o.contains(['\n', '\r']) || !o.starts_with('-') {
            return Err(format!(
                "`--qsub-option {o}` must be one qsub option, like `-l h_rt=1:00:00`"
            ));
        }
        let _ = writeln!(w, "#$ {o}");
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "# The total travels with the script: SGE_TASK_LAST is the total only for a 1-N range."
    );
    let _ = writeln!(w, "export JOBRUN_SHARD_TOTAL={n}");
    for note in s.notes {
        let _ = writeln!(w, "# {}", note.replace('\n', " "));
    }
    let _ = writeln!(w);
    let _ = write!(
        w,
        "{} {} --shard \"$SGE_TASK_ID/{n}\" --progress plain \\\n  --events {}/\"$JOB_ID.$SGE_TASK_ID.events.jsonl\"",
        quote(s.exe),
        quote(s.manifest),
        quote(s.dir),
    );
    if let Some(limit) = s.job_failure_limit {
        let _ = write!(
            w,
            " \\\n  --job-failures {}/\"$JOB_ID.failures\" --job-failure-limit {limit}",
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
            "# on_failure: a failed shard deletes the tasks that have not started."
        );
        let _ = writeln!(w, "if [ \"$code\" -ne 0 ]; then");
        let _ = writeln!(
            w,
            "  for t in $(qstat -s p -g d 2>/dev/null | awk -v j=\"$JOB_ID\" '$1 == j {{ print $NF }}'); do"
        );
        let _ = writeln!(w, "    qdel \"$JOB_ID\" -t \"$t\" >/dev/null 2>&1 || true");
        let _ = writeln!(w, "  done");
        let _ = writeln!(w, "fi");
    }
    let _ = writeln!(w, "exit \"$code\"");
    Ok(out)
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
            dir: "/home/me/jobs/.jobrun/sge/images",
            job_failure_limit: Some(1),
            args: &[],
            qsub_options: &[],
            notes: &[],
        }
    }

    #[test]
    fn the_whole_script() {
        let args = ["--var".to_owned(), "size=64 px".to_owned()];
        let opts = ["-l h_rt=1:00:00".to_owned()];
        let s = script(&Script {
            args: &args,
            qsub_options: &opts,
            ..base()
        })
        .unwrap();
        assert_eq!(
            s,
            r#"#!/bin/sh
# jobrun sge: job `images` in 3 shards; array task i runs shard i of 3.
#$ -l h_rt=1:00:00

# The total travels with the script: SGE_TASK_LAST is the total only for a 1-N range.
export JOBRUN_SHARD_TOTAL=3

/opt/bin/jobrun /home/me/jobs/images.toml --shard "$SGE_TASK_ID/3" --progress plain \
  --events /home/me/jobs/.jobrun/sge/images/"$JOB_ID.$SGE_TASK_ID.events.jsonl" \
  --job-failures /home/me/jobs/.jobrun/sge/images/"$JOB_ID.failures" --job-failure-limit 1 --var 'size=64 px'
code=$?
# on_failure: a failed shard deletes the tasks that have not started.
if [ "$code" -ne 0 ]; then
  for t in $(qstat -s p -g d 2>/dev/null | awk -v j="$JOB_ID" '$1 == j { print $NF }'); do
    qdel "$JOB_ID" -t "$t" >/dev/null 2>&1 || true
  done
fi
exit "$code"
"#
        );
    }

    #[test]
    fn continue_deletes_nothing() {
        let s = script(&Script {
            job_failure_limit: None,
            ..base()
        })
        .unwrap();
        assert!(!s.contains("qdel"), "{s}");
        assert!(!s.contains("--job-failures"), "{s}");
        assert!(s.contains("export JOBRUN_SHARD_TOTAL=3\n"), "{s}");
    }

    #[test]
    fn qsub_words() {
        let words = qsub_args(
            &Script {
                array_limit: Some(2),
                dir: "/s p/sge/images",
                ..base()
            },
            "/s p/sge/images/job.sh",
        );
        assert_eq!(
            words,
            [
                "-terse",
                "-N",
                "jobrun-images",
                "-t",
                "1-3",
                "-tc",
                "2",
                "-S",
                "/bin/sh",
                "-o",
                "/s p/sge/images",
                "-e",
                "/s p/sge/images",
                "/s p/sge/images/job.sh"
            ]
        );
        // A limit at or above N limits nothing.
        let words = qsub_args(
            &Script {
                array_limit: Some(3),
                ..base()
            },
            "x",
        );
        assert!(!words.contains(&"-tc".to_owned()), "{words:?}");
        assert_eq!(output_file("images", "7", 2), "jobrun-images.o7.2");
        assert_eq!(events_file("7", 2), "7.2.events.jsonl");
    }

    #[test]
    fn bad_options_and_hostile_paths() {
        assert!(
            script(&Script {
                qsub_options: &["q all.q".to_owned()],
                ..base()
            })
            .is_err()
        );
        let s = script(&Script {
            manifest: "/j/it's $(x).toml",
            ..base()
        })
        .unwrap();
        assert!(s.contains("'/j/it'\\''s $(x).toml' --shard"), "{s}");
    }
}
