//! The executor: concurrency, failure policies, retries, timeouts, signals.

use std::time::Duration;

use indoc::indoc;

use crate::support::{Job, alive, lines, pids_in, stderr};

#[test]
fn peak_concurrency_is_exactly_workers() {
    // Each unit records start and end; the peak of starts minus ends is the
    // concurrency the units actually saw.
    let job = Job::new(indoc! {r#"
        [job]
        workers = 3
        [[task]]
        name = "t"
        matrix.i = { range = [0, 30] }
        shell = "echo start >> events; sleep 0.2; echo end >> events"
    "#});
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (mut cur, mut peak) = (0i32, 0i32);
    let ev = lines(job.path().join("events"));
    assert_eq!(ev.len(), 60);
    for l in ev {
        cur += if l == "start" { 1 } else { -1 };
        peak = peak.max(cur);
    }
    assert_eq!(peak, 3);
}

#[test]
fn abort_starts_nothing_after_a_failure() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 1
        on_failure = "abort"
        [[task]]
        name = "t"
        matrix.i = { range = [0, 10] }
        shell = "echo {i} >> started; test {i} -ne 2"
    "#});
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(job.path().join("started")), ["0", "1", "2"]);
    let err = stderr(&out);
    assert!(err.contains("2 ok, 1 failed, 7 cancelled"), "{err}");
}

#[test]
fn abort_lets_siblings_finish_and_kill_terminates_them() {
    let manifest = |policy: &str| {
        format!(
            indoc! {r#"
            [job]
            workers = 4
            on_failure = "{}"
            kill_grace = "1s"
            [[task]]
            name = "t"
            matrix.i = [0, 1, 2, 3]
            shell = """
            if [ {{i}} = 0 ]; then sleep 0.5; exit 1; fi
            sh -c 'echo $$ > {{i}}.pid; exec sleep 3' & wait; echo done >> {{i}}.done
            """
        "#},
            policy
        )
    };
    let job = Job::new(&manifest("abort"));
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    for i in 1..4 {
        assert_eq!(
            job.read(format!("{i}.done")),
            "done\n",
            "sibling {i} finished"
        );
    }

    let job = Job::new(&manifest("kill"));
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("1 failed, 3 killed"), "{err}");
    for i in 1..4 {
        assert_eq!(job.read(format!("{i}.done")), "", "sibling {i} was killed");
    }
    let pids = pids_in(job.path());
    assert_eq!(pids.len(), 3, "{pids:?}");
    assert_eq!(alive(&pids), Vec::<i32>::new());
}

#[test]
fn continue_runs_independent_units_and_skips_dependents() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 2
        on_failure = "continue"
        [[task]]
        name = "a"
        matrix.i = [1, 2, 3]
        shell = "test {i} -ne 2"
        [[task]]
        name = "b"
        matrix.i = [1, 2, 3]
        needs = ["a"]
        shell = "echo {i} >> b-ran"
    "#});
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let mut ran = lines(job.path().join("b-ran"));
    ran.sort();
    assert_eq!(ran, ["1", "3"]);
    assert!(
        stderr(&out).contains("4 ok, 1 failed, 1 skipped"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn retries_until_success_and_records_every_attempt() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "flaky"
        retries = 2
        retry_delay = "10ms"
        shell = "echo $JOBRUN_ATTEMPT >> attempts; test $JOBRUN_ATTEMPT -eq 3"
    "#});
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(lines(job.path().join("attempts")), ["1", "2", "3"]);
    let err = stderr(&out);
    assert_eq!(err.matches("RETRY flaky").count(), 2, "{err}");
}

#[test]
fn timeout_kills_the_whole_group() {
    let job = Job::new(indoc! {r#"
        [job]
        kill_grace = "1s"
        [[task]]
        name = "slow"
        timeout = "300ms"
        shell = "sh -c 'echo $$ >> s.pid; exec sleep 100' & sh -c 'echo $$ >> s.pid; exec sleep 100' & wait"
    "#});
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("1 timed_out"), "{}", stderr(&out));
    let pids = pids_in(job.path());
    assert_eq!(pids.len(), 2);
    assert_eq!(alive(&pids), Vec::<i32>::new());
}

#[test]
fn sigint_stops_the_run_with_130_and_no_survivors() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 2
        kill_grace = "1s"
        [[task]]
        name = "t"
        matrix.i = [1, 2, 3, 4]
        shell = "sh -c 'echo $$ > {i}.pid; exec sleep 100' & wait"
    "#});
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("jobrun"))
        .current_dir(job.path())
        .arg("job.toml")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait (by files, with a generous bound) until both workers run a unit.
    for _ in 0..200 {
        if pids_in(job.path()).len() == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(pids_in(job.path()).len(), 2, "two units started");
    send_signal(child.id() as i32, SIGINT);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    let pids = pids_in(job.path());
    assert_eq!(pids.len(), 2, "nothing new started: {pids:?}");
    assert_eq!(alive(&pids), Vec::<i32>::new());
}

#[test]
fn a_command_that_cannot_start_is_a_failed_unit() {
    let job = Job::new(indoc! {r#"
        [job]
        on_failure = "continue"
        [[task]]
        name = "missing"
        run = ["no-such-program-jobrun-test"]
        [[task]]
        name = "baddir"
        dir = "nowhere"
        run = ["true"]
        [[task]]
        name = "fine"
        run = ["true"]
    "#});
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("`no-such-program-jobrun-test`: command not found"),
        "{err}"
    );
    assert!(err.contains("does not exist"), "{err}");
    assert!(err.contains("1 ok, 2 failed"), "{err}");
}

const SIGINT: i32 = 2;

fn send_signal(pid: i32, sig: i32) {
    let st = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(st.success());
}

#[test]
fn the_example_job_runs_on_the_real_pool() {
    // Runs in place (the image tool's build is cached in jobs/.jobrun) with
    // the results redirected to a temp dir.
    let out_dir = tempfile::tempdir().expect("temp dir");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = crate::support::jobrun()
        .current_dir(repo)
        .args(["jobs/images.toml", "-j", "4", "--var"])
        .arg(format!("out={}", out_dir.path().display()))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let images = std::fs::read_dir(repo.join("jobs/images"))
        .expect("images")
        .count();
    for size in [64u32, 256] {
        for e in std::fs::read_dir(repo.join("jobs/images"))
            .expect("images")
            .flatten()
        {
            let stem = e
                .path()
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            for suffix in ["", "-gray"] {
                let p = out_dir.path().join(format!("{stem}-{size}{suffix}.png"));
                let png = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                assert_eq!(&png[1..4], b"PNG", "{}", p.display());
                let w = u32::from_be_bytes(png[16..20].try_into().expect("width"));
                let h = u32::from_be_bytes(png[20..24].try_into().expect("height"));
                assert!(w.max(h) == size, "{}: {w}x{h}", p.display());
            }
        }
    }
    let index = std::fs::read_to_string(out_dir.path().join("index.html")).expect("index");
    assert!(index.matches(".png").count() >= images * 4, "{index}");
}
