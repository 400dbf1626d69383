//! `jobrun sge`: the generated script through the CLI, and real array jobs
//! on a real one-node Grid Engine.
//!
//! The cluster tests need `qsub` on PATH and a qmaster that answers
//! (`.ci/run` starts one with `tests/sge/cluster.sh`). Without them they are
//! skipped with a message, unless JOBRUN_TEST_SGE=1, which makes a missing
//! cluster a failure.

use std::collections::BTreeSet;
use std::process::Command as StdCommand;
use std::sync::Mutex;
use std::time::Duration;

use crate::support::{Job, lines, stderr, stdout};

/// Whether a Grid Engine is there to test against; panics when one is
/// required (JOBRUN_TEST_SGE=1) and missing.
fn cluster() -> bool {
    let required = std::env::var("JOBRUN_TEST_SGE").is_ok_and(|v| v == "1");
    let why = match StdCommand::new("qstat").arg("-f").output() {
        Err(e) => format!("qstat (Grid Engine's client commands) cannot run: {e}"),
        Ok(o) if !o.status.success() => format!(
            "no Grid Engine qmaster answers: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Ok(_) => return true,
    };
    assert!(!required, "JOBRUN_TEST_SGE=1 but {why}");
    eprintln!("skipped: {why} (tests/sge/cluster.sh starts a local cluster)");
    false
}

/// The one-node cluster has 4 slots: one array job at a time keeps the
/// pending/running picture each test relies on.
static QUEUE: Mutex<()> = Mutex::new(());

const LIMIT: Duration = Duration::from_secs(240);

/// The shard (1-based) of `total` that holds unit `id`.
fn shard_of(job: &Job, id: &str, total: u32) -> u32 {
    (1..=total)
        .find(|k| {
            let out = job.sub("plan", &["--shard", &format!("{k}/{total}")]);
            stdout(&out)
                .lines()
                .any(|l| l.split_whitespace().any(|w| w == id))
        })
        .expect("some shard holds the unit")
}

#[test]
fn thirty_units_in_three_shards_with_one_failing() {
    if !cluster() {
        return;
    }
    let _q = QUEUE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let job = Job::new(
        r#"
[job]
on_failure = "continue"

[[task]]
name = "t"
matrix.i = { range = [0, 30] }
shell = "echo {unit.id} >> ran.txt; [ {i} != 7 ]"
"#,
    );
    let failing = shard_of(&job, "t[i=7]", 3);
    let out = job
        .cmd(&["sge", "--shards", "3"])
        .timeout(LIMIT)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let ran = lines(job.path().join("ran.txt"));
    let unique: BTreeSet<&String> = ran.iter().collect();
    assert_eq!(ran.len(), 30, "a unit ran twice or not at all: {ran:?}");
    assert_eq!(unique.len(), 30);
    // The failing shard's exit status is the one qacct recorded.
    let line = err
        .lines()
        .find(|l| l.starts_with(&format!("shard {failing}/3 (task ")))
        .unwrap_or_else(|| panic!("no line for shard {failing}:\n{err}"));
    assert!(line.contains("failed (exit 1 in qacct)"), "{err}");
    assert!(err.contains("failed units: t[i=7]"), "{err}");
    for k in (1..=3).filter(|&k| k != failing) {
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("shard {k}/3 (task ")) && l.contains(": ok: ")),
            "shard {k}:\n{err}"
        );
    }
    assert!(
        err.contains("2 of 3 shards ok, 1 failed, 0 never ran"),
        "{err}"
    );
    assert!(err.contains("units: 29 ok, 1 failed"), "{err}");
}

#[test]
fn failures_across_shards_stop_the_job() {
    if !cluster() {
        return;
    }
    let _q = QUEUE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // The first unit of shards 1 and 2 fails: one failure each, two in all,
    // which is max_failures. Two tasks at a time, so 3 and 4 are pending.
    let job = Job::new(
        r#"
[job]
on_failure = "abort"
max_failures = 2

[[task]]
name = "t"
matrix.i = { range = [0, 40] }
shell = """
echo {unit.id} $SGE_TASK_ID >> ran.txt
if [ $SGE_TASK_ID -le 2 ] && mkdir first-$SGE_TASK_ID 2>/dev/null; then exit 1; fi
sleep 0.5
"""
"#,
    );
    let out = job
        .cmd(&["sge", "--shards", "4", "--array-limit", "2", "-j", "1"])
        .timeout(LIMIT)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for k in 3..=4 {
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("shard {k}/4")) && l.contains("never ran")),
            "shard {k} should have been deleted while pending:\n{err}"
        );
    }
    // Neither running shard went on after the second failure.
    for k in 1..=2 {
        let line = err
            .lines()
            .find(|l| l.starts_with(&format!("shard {k}/4")))
            .unwrap_or_else(|| panic!("{err}"));
        assert!(
            line.contains("1 failed") && line.contains("cancelled"),
            "{err}"
        );
    }
    let ran = lines(job.path().join("ran.txt"));
    assert!(ran.len() < 20, "{ran:?}");
    assert!(
        ran.iter().all(|l| l.ends_with(" 1") || l.ends_with(" 2")),
        "{ran:?}"
    );
}

#[test]
fn print_shows_the_script_and_writes_nothing() {
    let job = Job::new(
        "[job]\nname = \"imgs\"\n[vars]\nx = \"y\"\n[[task]]\nname = \"t\"\nmatrix.i = { range = [0, 10] }\nrun = [\"true\"]\n",
    );
    let out = job.sub(
        "sge",
        &[
            "--shards",
            "3",
            "--print",
            "--var",
            "x=a b",
            "--qsub-option=-l h_rt=60",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let script = stdout(&out);
    let exe = assert_cmd::cargo::cargo_bin("jobrun");
    for want in [
        "#!/bin/sh\n".to_owned(),
        "#$ -l h_rt=60\n".to_owned(),
        "export JOBRUN_SHARD_TOTAL=3\n".to_owned(),
        format!(
            "{} {} --shard \"$SGE_TASK_ID/3\" --progress plain",
            exe.display(),
            job.manifest().display()
        ),
        "--job-failure-limit 1".to_owned(),
        "--var 'x=a b'\n".to_owned(),
        "qdel \"$JOB_ID\" -t \"$t\"".to_owned(),
    ] {
        assert!(script.contains(&want), "missing {want:?} in\n{script}");
    }
    assert!(!job.path().join(".jobrun").exists(), "--print wrote state");
    let bad = job.sub("sge", &["--shards", "3", "--print", "--qsub-option", "q"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

#[test]
fn without_qsub_it_says_so() {
    let job = Job::new("[[task]]\nname = \"t\"\nmatrix.i = [1, 2]\nrun = [\"true\"]\n");
    let out = job
        .cmd(&["sge", "--shards", "2"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("`qsub` is not on PATH"), "{err}");
}

#[test]
fn shard_auto_reads_grid_engine() {
    let job =
        Job::new("[[task]]\nname = \"t\"\nmatrix.i = { range = [0, 12] }\nrun = [\"true\"]\n");
    let auto = job
        .cmd(&["plan", "--count", "--shard", "auto"])
        .env("SGE_TASK_ID", "2")
        .env("JOBRUN_SHARD_TOTAL", "3")
        .output()
        .unwrap();
    let explicit = job.sub("plan", &["--count", "--shard", "2/3"]);
    assert_eq!(auto.status.code(), Some(0), "{}", stderr(&auto));
    assert_eq!(stdout(&auto), stdout(&explicit));
    let no_total = job
        .cmd(&["plan", "--count", "--shard", "auto"])
        .env("SGE_TASK_ID", "2")
        .output()
        .unwrap();
    assert_eq!(no_total.status.code(), Some(2));
    assert!(
        stderr(&no_total).contains("JOBRUN_SHARD_TOTAL"),
        "{}",
        stderr(&no_total)
    );
}
