//! jobrun itself dying or running short: `kill -9` mid-run, and limits on
//! file descriptors. What finished stays done; jobrun's own shortage is
//! never blamed on a unit.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use indoc::indoc;

use crate::support::{Job, lines, stderr};

/// Extra lines beyond one per unit id: units that ran more than once.
fn repeats(ran: &[String]) -> usize {
    ran.len() - ran.iter().collect::<HashSet<_>>().len()
}

#[test]
fn after_kill_9_only_units_running_at_that_moment_run_again() {
    const WORKERS: usize = 4;
    const UNITS: usize = 600;
    let job = Job::new(&format!(
        indoc! {r#"
            [job]
            workers = {}
            [[task]]
            name = "t"
            matrix.i = {{ range = [0, {}] }}
            shell = "sleep 0.01; echo {{i}} >> ran.txt"
        "#},
        WORKERS, UNITS
    ));
    let ran = job.path().join("ran.txt");
    for kill in 1..=10 {
        let before = lines(&ran);
        let mut child = job
            .process(&["-q"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn jobrun");
        let until = Instant::now() + Duration::from_secs(30);
        while lines(&ran).len() < before.len() + 20 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().expect("SIGKILL jobrun");
        let _ = child.wait();
        // The run after a kill repeats only units that were in flight at
        // the kill: at most one per worker. (Its own orphans, stopped by the
        // next run, may have appended once more, within the same bound.)
        let now = lines(&ran);
        let added = repeats(&now) - repeats(&before);
        assert!(
            added <= WORKERS,
            "kill {kill}: {added} units ran twice, more than the {WORKERS} that can be running"
        );
    }
    let unfinished = UNITS - lines(&ran).iter().collect::<HashSet<_>>().len();
    assert!(unfinished > 0, "the kills came before the job was done");
    let before = lines(&ran);
    let out = job.run(&["-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all = lines(&ran);
    assert!(
        repeats(&all) - repeats(&before) <= WORKERS,
        "{}",
        repeats(&all)
    );
    let ids: HashSet<&String> = all.iter().collect();
    assert_eq!(ids.len(), UNITS, "every unit ran");
    assert!(
        repeats(&all) <= 11 * WORKERS,
        "{} repeats over 10 kills",
        repeats(&all)
    );
    assert_eq!(job.orphans(), Vec::<i32>::new());
}

/// `jobrun ARGS job.toml` under `ulimit -n LIMIT`.
fn with_fd_limit(job: &Job, limit: u32, args: &str) -> std::process::Output {
    std::process::Command::new("sh")
        .current_dir(job.path())
        .env(crate::support::TAG, job.tag())
        .arg("-c")
        .arg(format!(
            "ulimit -n {limit} && exec '{}' {args} job.toml",
            assert_cmd::cargo::cargo_bin("jobrun").display()
        ))
        .output()
        .expect("run")
}

#[test]
fn many_workers_under_a_low_file_descriptor_limit_all_run() {
    // 100 units that wait for each other: only if all 100 run at once does
    // any of them succeed (each waits up to 60 s for all the others' marks).
    let job = Job::new(indoc! {r#"
        [job]
        [[task]]
        name = "t"
        matrix.i = { range = [0, 100] }
        shell = "touch at.{i}; n=0; while set -- at.*; [ $# -lt 100 ] && [ $n -lt 300 ]; do sleep 0.2; n=$((n+1)); done; [ $# -eq 100 ]"
    "#});
    let out = with_fd_limit(&job, 64, "-q -j 100");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("100 ok"), "{err}");
    assert!(!err.contains("Too many open files"), "{err}");
    assert_eq!(job.orphans(), Vec::<i32>::new());
}

#[test]
fn line_output_under_a_low_file_descriptor_limit_runs_fewer_at_once_and_says_so() {
    let job = Job::new(indoc! {r#"
        [job]
        output = "line"
        [[task]]
        name = "t"
        matrix.i = { range = [0, 40] }
        shell = "echo {i}"
    "#});
    let out = with_fd_limit(&job, 64, "--progress none -j 40");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: -j 40 with `output = \"line\"` needs about")
            && err.contains("the limit is 64: running at most"),
        "{err}"
    );
    assert!(err.contains("40 ok"), "{err}");
    // A limit that leaves no room for one unit: nothing runs, exit 3.
    let out = with_fd_limit(&job, 16, "-q --fresh");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("leaves jobrun no room to start a unit"),
        "{err}"
    );
}

#[test]
fn running_out_of_file_descriptors_mid_run_stops_the_run_and_blames_no_unit() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 2
        [[task]]
        name = "t"
        matrix.i = { range = [0, 200] }
        shell = "sleep 0.05; echo {i} >> ran"
    "#});
    let child = job
        .process(&["--progress", "plain"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn jobrun");
    let until = Instant::now() + Duration::from_secs(30);
    while lines(job.path().join("ran")).len() < 4 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Only stdin, stdout and stderr from now on: the next unit cannot start.
    let limit = libc::rlimit {
        rlim_cur: 3,
        rlim_max: 3,
    };
    // SAFETY: plain syscall on our own child, with a valid pointer.
    let r = unsafe {
        libc::prlimit(
            child.id() as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(r, 0, "prlimit");
    let out = child.wait_with_output().expect("jobrun ends");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("jobrun ran out of file descriptors"), "{err}");
    assert!(err.contains("ulimit -n") && err.contains("(-j)"), "{err}");
    assert!(err.contains("no new units start"), "{err}");
    // No unit failed: the one that could not start is cancelled, and the
    // journal holds only the units that ran.
    assert!(!err.contains("FAIL") && !err.contains("failed"), "{err}");
    assert!(err.contains("cancelled"), "{err}");
    let journal = job.read(".jobrun/job.journal");
    assert!(!journal.contains("\"failed\""), "{journal}");
    let recorded = journal.lines().count();
    assert_eq!(recorded, lines(job.path().join("ran")).len(), "{journal}");
    // With the limit back, the rerun does the rest.
    let out = job.run(&["-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(lines(job.path().join("ran")).len(), 200);
    assert_eq!(job.orphans(), Vec::<i32>::new());
}
