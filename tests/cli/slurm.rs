//! `jobrun slurm` and `jobrun k8s`: the generated script and manifest through
//! the CLI, and real array jobs on a real SLURM cluster.
//!
//! The cluster tests need `sbatch` on PATH and a controller that answers
//! (`.ci/run` starts one with `tests/slurm/cluster.sh` and exports
//! SLURM_CONF). Without them they are skipped with a message, unless
//! JOBRUN_TEST_SLURM=1, which makes a missing cluster a failure.

use std::collections::BTreeSet;
use std::process::Command as StdCommand;
use std::time::Duration;

use crate::support::{Job, jobrun, lines, stderr, stdout};

/// Whether a SLURM cluster is there to test against; panics when one is
/// required (JOBRUN_TEST_SLURM=1) and missing.
fn cluster() -> bool {
    let required = std::env::var("JOBRUN_TEST_SLURM").is_ok_and(|v| v == "1");
    let why = match StdCommand::new("scontrol").arg("ping").output() {
        Err(e) => format!("scontrol (SLURM's client commands) cannot run: {e}"),
        Ok(o) if !o.status.success() || !String::from_utf8_lossy(&o.stdout).contains("UP") => {
            format!(
                "no SLURM controller answers (SLURM_CONF={:?}): {}",
                std::env::var("SLURM_CONF").ok(),
                String::from_utf8_lossy(&o.stderr).trim()
            )
        }
        Ok(_) => {
            if StdCommand::new("sbatch").arg("--version").output().is_err() {
                "sbatch is not on PATH".to_owned()
            } else {
                return true;
            }
        }
    };
    assert!(!required, "JOBRUN_TEST_SLURM=1 but {why}");
    eprintln!("skipped: {why} (tests/slurm/cluster.sh starts a local cluster)");
    false
}

/// A shard of a real array job must never wait forever on a broken cluster.
const LIMIT: Duration = Duration::from_secs(180);

#[test]
fn every_unit_runs_exactly_once_across_the_shards() {
    if !cluster() {
        return;
    }
    let job = Job::new(
        r#"
[job]
on_failure = "abort"

[[task]]
name = "t"
matrix.i = { range = [0, 60] }
shell = "echo {unit.id} >> ran.txt"
"#,
    );
    let out = job
        .cmd(&["slurm", "--shards", "3"])
        .timeout(LIMIT)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let ran = lines(job.path().join("ran.txt"));
    let unique: BTreeSet<&String> = ran.iter().collect();
    let want: BTreeSet<String> = (0..60).map(|i| format!("t[i={i}]")).collect();
    assert_eq!(ran.len(), 60, "a unit ran twice: {ran:?}");
    assert_eq!(unique, want.iter().collect());
    for k in 1..=3 {
        assert!(err.contains(&format!("shard {k}/3 (task ")), "{err}");
    }
    assert!(err.contains("3 of 3 shards ok"), "{err}");
    assert!(err.contains("units: 60 ok"), "{err}");
    // Each shard kept its own journal.
    for k in 1..=3 {
        let j = job
            .path()
            .join(format!(".jobrun/job.shard-{k}-of-3.journal"));
        assert!(j.exists(), "{}", j.display());
    }

    // A second submission finds everything done.
    let out = job
        .cmd(&["slurm", "--shards", "3"])
        .timeout(LIMIT)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("units: 60 up_to_date"),
        "{}",
        stderr(&out)
    );
    assert_eq!(lines(job.path().join("ran.txt")).len(), 60);
}

#[test]
fn a_failed_shard_cancels_the_pending_ones() {
    if !cluster() {
        return;
    }
    // Every unit of the first array task fails; with one task at a time the
    // others are still pending when it ends.
    let job = Job::new(
        r#"
[job]
on_failure = "abort"

[[task]]
name = "t"
matrix.i = { range = [0, 40] }
shell = "echo {unit.id} $SLURM_ARRAY_TASK_ID >> ran.txt; [ $SLURM_ARRAY_TASK_ID != 0 ]"
"#,
    );
    let out = job
        .cmd(&["slurm", "--shards", "4", "--array-limit", "1"])
        .timeout(LIMIT)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("shard 1/4 (task "), "{err}");
    assert!(err.contains("failed (exit 1)"), "{err}");
    assert!(err.contains("failed units: t[i="), "{err}");
    for k in 2..=4 {
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("shard {k}/4")) && l.contains("never ran")),
            "shard {k} should have been cancelled:\n{err}"
        );
    }
    assert!(
        err.contains("0 of 4 shards ok, 1 failed, 3 never ran"),
        "{err}"
    );
    let ran = lines(job.path().join("ran.txt"));
    assert!(!ran.is_empty());
    assert!(ran.iter().all(|l| l.ends_with(" 0")), "{ran:?}");
}

#[test]
fn failures_across_shards_stop_the_job() {
    if !cluster() {
        return;
    }
    // The first unit of shards 1 and 2 fails: one failure each, two in all,
    // which is max_failures (per shard it would never fire). Two tasks at a
    // time, so 3 and 4 are pending when it does.
    let job = Job::new(
        r#"
[job]
on_failure = "abort"
max_failures = 2

[[task]]
name = "t"
matrix.i = { range = [0, 40] }
shell = """
echo {unit.id} $SLURM_ARRAY_TASK_ID >> ran.txt
if [ $SLURM_ARRAY_TASK_ID -lt 2 ] && mkdir first-$SLURM_ARRAY_TASK_ID 2>/dev/null; then exit 1; fi
sleep 0.5
"""
"#,
    );
    let out = job
        .cmd(&["slurm", "--shards", "4", "--array-limit", "2", "-j", "1"])
        .timeout(LIMIT)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for k in 3..=4 {
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("shard {k}/4")) && l.contains("never ran")),
            "shard {k} should have been cancelled while pending:\n{err}"
        );
    }
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
        ran.iter().all(|l| l.ends_with(" 0") || l.ends_with(" 1")),
        "{ran:?}"
    );
}

#[test]
fn print_shows_the_script_and_writes_nothing() {
    let job = Job::new(
        r#"
[job]
name = "imgs"

[vars]
x = "y"

[[task]]
name = "t"
matrix.i = { range = [0, 10] }
run = ["true"]
"#,
    );
    let out = job.sub(
        "slurm",
        &[
            "--shards",
            "3",
            "--array-limit",
            "2",
            "--print",
            "--var",
            "x=a b",
            "--sbatch-option=--time=10",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let script = stdout(&out);
    let exe = assert_cmd::cargo::cargo_bin("jobrun");
    let manifest = job.manifest();
    let dir = job.path().join(".jobrun/slurm/imgs");
    for want in [
        "#!/bin/bash\n".to_owned(),
        "#SBATCH --array=0-2%2\n".to_owned(),
        format!("#SBATCH --output={}/%A_%a.out\n", dir.display()),
        "#SBATCH --time=10\n".to_owned(),
        "export JOBRUN_SHARD_TOTAL=3\n".to_owned(),
        format!(
            "{} {} --shard \"$((SLURM_ARRAY_TASK_ID+1))/3\" --progress plain",
            exe.display(),
            manifest.display()
        ),
        "--var 'x=a b'\n".to_owned(),
        "scancel --state=PENDING \"$SLURM_ARRAY_JOB_ID\"".to_owned(),
    ] {
        assert!(script.contains(&want), "missing {want:?} in\n{script}");
    }
    assert!(!job.path().join(".jobrun").exists(), "--print wrote state");
}

#[test]
fn an_unsplittable_job_fails_before_submitting() {
    let job = Job::new(
        r#"
[[task]]
name = "t"
matrix.i = [1, 2, 3]
run = ["true"]

[[task]]
name = "index"
needs = ["t"]
run = ["true"]
"#,
    );
    // PATH without sbatch: the split is checked first, so this is not about sbatch.
    let out = job
        .cmd(&["slurm", "--shards", "2"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot be split"), "{}", stderr(&out));
    assert!(!job.path().join(".jobrun").exists());
    // `--only` leaves the barrier out, and then it splits.
    let out = job.sub("slurm", &["--shards", "2", "--print", "--only", "t"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains(" --only t\n"), "{}", stdout(&out));
}

#[test]
fn without_sbatch_it_says_so() {
    let job = Job::new("[[task]]\nname = \"t\"\nmatrix.i = [1, 2]\nrun = [\"true\"]\n");
    let out = job
        .cmd(&["slurm", "--shards", "2"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("`sbatch` is not on PATH"), "{err}");
    assert!(err.contains("--print"), "{err}");
}

#[test]
fn k8s_prints_an_indexed_job() {
    let job = Job::new(
        "[job]\nname = \"My_Job\"\non_failure = \"continue\"\n\
         [[task]]\nname = \"t\"\nmatrix.i = { range = [0, 8] }\nrun = [\"true\"]\n",
    );
    let out = jobrun()
        .current_dir(job.path())
        .args([
            "k8s",
            "job.toml",
            "--shards",
            "4",
            "--image",
            "example/jobs:1",
            "--parallelism",
            "2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(m["apiVersion"], "batch/v1");
    assert_eq!(m["kind"], "Job");
    assert_eq!(m["metadata"]["name"], "jobrun-my-job");
    assert_eq!(m["spec"]["completionMode"], "Indexed");
    assert_eq!(m["spec"]["completions"], 4);
    assert_eq!(m["spec"]["parallelism"], 2);
    assert_eq!(m["spec"]["backoffLimitPerIndex"], 0);
    // on_failure = "continue": one failed index does not stop the others.
    assert!(m["spec"].get("maxFailedIndexes").is_none());
    let c = &m["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(m["spec"]["template"]["spec"]["restartPolicy"], "Never");
    assert_eq!(c["command"][0], "jobrun");
    assert_eq!(c["command"][1], "job.toml");
    assert_eq!(c["command"][2], "--shard");
    assert_eq!(c["command"][3], "auto");
    assert_eq!(
        c["env"],
        serde_json::json!([{ "name": "JOBRUN_SHARD_TOTAL", "value": "4" }])
    );

    // The shard each pod would run is what `--shard auto` reads from it.
    let out = job
        .cmd(&["plan", "--count", "--shard", "auto"])
        .env("JOB_COMPLETION_INDEX", "3")
        .env("JOBRUN_SHARD_TOTAL", "4")
        .output()
        .unwrap();
    let explicit = job.sub("plan", &["--count", "--shard", "4/4"]);
    assert_eq!(stdout(&out), stdout(&explicit));

    let bad = jobrun()
        .current_dir(job.path())
        .args([
            "k8s", "job.toml", "--shards", "2", "--image", "x", "--name", "Bad_Name",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
