//! The executor: concurrency, failure policies, retries, timeouts, signals.

use std::time::Duration;

use indoc::indoc;

use crate::support::{Job, lines, pids_in, stderr, survivors};

/// Run `units` units that record start and end with `args`; the peak of
/// starts minus ends is the concurrency the units actually saw.
fn peak_concurrency(workers: &str, units: u32, args: &[&str], secs: &str) -> i32 {
    let job = Job::new(&format!(
        indoc! {r#"
        [job]
        workers = {}
        [[task]]
        name = "t"
        matrix.i = {{ range = [0, {}] }}
        shell = "echo start >> events; sleep {}; echo end >> events"
    "#},
        workers, units, secs
    ));
    let out = job.run(args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (mut cur, mut peak) = (0i32, 0i32);
    let ev = lines(job.path().join("events"));
    assert_eq!(ev.len(), 2 * units as usize);
    for l in ev {
        cur += if l == "start" { 1 } else { -1 };
        peak = peak.max(cur);
    }
    peak
}

#[test]
fn peak_concurrency_is_exactly_workers() {
    assert_eq!(peak_concurrency("3", 30, &[], "0.2"), 3);
}

#[test]
fn workers_as_auto_and_percent_of_cpus() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as i32;
    // Units long enough for every worker to overlap, even with many CPUs.
    assert_eq!(
        peak_concurrency("\"auto\"", 2 * cpus as u32, &[], "1"),
        cpus
    );
    // -j overrides the manifest; N% of the CPUs, at least 1.
    assert_eq!(
        peak_concurrency("1", 4 * cpus as u32, &["-j", "200%"], "1"),
        2 * cpus
    );
    assert_eq!(peak_concurrency("4", 6, &["-j", "1%"], "0.2"), 1);
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
fn max_failures_as_count_and_percent() {
    // Units 1, 3 and 5 fail; abort fires at the second failure (unit 3).
    for max in ["2", "\"20%\""] {
        let job = Job::new(&format!(
            indoc! {r#"
            [job]
            workers = 1
            max_failures = {}
            [[task]]
            name = "t"
            matrix.i = {{ range = [0, 10] }}
            shell = "echo {{i}} >> started; test $(( {{i}} % 2 )) -eq 0 || test {{i}} -gt 5"
        "#},
            max
        ));
        let out = job.run(&[]);
        assert_eq!(out.status.code(), Some(1), "{max}");
        assert_eq!(
            lines(job.path().join("started")),
            ["0", "1", "2", "3"],
            "{max}"
        );
        let err = stderr(&out);
        assert!(err.contains("2 ok, 2 failed, 6 cancelled"), "{max}: {err}");
    }
}

#[test]
fn ok_codes_and_allow_failure() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 1
        [[task]]
        name = "grep"
        ok_codes = [0, 1]
        run = ["grep", "-q", "needle", "job.toml.missing-is-2-not-1"]
        [[task]]
        name = "nomatch"
        ok_codes = [0, 1]
        shell = "exit 1"
        [[task]]
        name = "flaky"
        allow_failure = true
        shell = "exit 7"
        [[task]]
        name = "after"
        needs = ["flaky", "nomatch"]
        shell = "touch after-ran"
    "#});
    let out = job.run(&[]);
    let err = stderr(&out);
    // grep's 2 (no such file) is not in ok_codes: a real failure, exit 1.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("grep") && err.contains("exit code 2"), "{err}");
    assert!(!job.path().join("after-ran").exists(), "abort after grep");

    // Without the real failure: an allowed failure neither fails the run nor
    // holds back its dependents.
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "nomatch"
        ok_codes = [0, 1]
        shell = "exit 1"
        [[task]]
        name = "flaky"
        allow_failure = true
        shell = "exit 7"
        [[task]]
        name = "after"
        needs = ["flaky", "nomatch"]
        shell = "touch after-ran"
    "#});
    let out = job.run(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(job.path().join("after-ran").exists(), "{err}");
    assert!(
        err.contains("exit code 7"),
        "the allowed failure is reported: {err}"
    );
}

#[test]
fn allow_failure_per_combination() {
    // GitHub Actions' `continue-on-error: ${{ matrix.experimental }}`.
    let manifest = |nightly_fails: &str| {
        format!(
            indoc! {r#"
                [job]
                on_failure = "continue"
                [[task]]
                name = "test"
                matrix.rust = ["stable", "nightly"]
                include = [
                    {{ rust = "stable", experimental = false }},
                    {{ rust = "nightly", experimental = true }},
                ]
                allow_failure = "{{experimental}}"
                shell = "test {{rust}} = {}"
                [[task]]
                name = "after"
                needs = ["test"]
                shell = "touch after-ran"
            "#},
            nightly_fails
        )
    };
    // Only nightly fails: it is allowed, the run passes, dependents run.
    let job = Job::new(&manifest("stable"));
    let out = job.run(&["--junit", "junit.xml"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(job.path().join("after-ran").exists(), "{err}");
    assert!(job.read("junit.xml").contains("allowed to fail"), "{err}");
    // Only stable fails: not allowed, exit 1.
    let job = Job::new(&manifest("nightly"));
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!job.path().join("after-ran").exists());
}

#[test]
fn units_see_their_id_worker_and_attempt() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 1
        retry_delay = "10ms"
        [[task]]
        name = "t"
        matrix.i = ["a b"]
        retries = 1
        shell = "echo \"$JOBRUN_UNIT_ID|$JOBRUN_WORKER|$JOBRUN_ATTEMPT\" >> env.txt; test $JOBRUN_ATTEMPT = 2"
    "#});
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        lines(job.path().join("env.txt")),
        ["t[i=a b]|1|1", "t[i=a b]|1|2"]
    );
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
    assert_eq!(survivors(&pids), Vec::<i32>::new());
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
    assert_eq!(survivors(&pids), Vec::<i32>::new());
}

#[test]
fn sigint_stops_the_run_with_130_and_no_survivors() {
    signal_stops_the_run(SIGINT, 130);
}

#[test]
fn sigterm_stops_the_run_with_143_and_no_survivors() {
    signal_stops_the_run(SIGTERM, 143);
}

/// A closed terminal or a dropped SSH session: the units' groups do not get
/// the hangup, so jobrun must stop them.
#[test]
fn sighup_stops_the_run_with_129_and_no_survivors() {
    signal_stops_the_run(SIGHUP, 129);
}

/// Wait (by their pid files, with a generous bound) until `n` units run.
fn wait_for_units(job: &Job, n: usize) {
    for _ in 0..200 {
        if pids_in(job.path()).len() == n {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert_eq!(pids_in(job.path()).len(), n, "{n} units started");
}

fn signal_stops_the_run(sig: i32, code: i32) {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 2
        kill_grace = "1s"
        [[task]]
        name = "t"
        matrix.i = [1, 2, 3, 4]
        shell = "sh -c 'echo $$ > {i}.pid; exec sleep 100' & wait"
    "#});
    let mut child = job
        .process(&[])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for_units(&job, 2);
    send_signal(child.id() as i32, sig);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(code));
    let pids = pids_in(job.path());
    assert_eq!(pids.len(), 2, "nothing new started: {pids:?}");
    assert_eq!(survivors(&pids), Vec::<i32>::new());
}

/// `nohup jobrun ...`: SIGHUP is ignored on purpose, and stays ignored.
#[test]
fn under_nohup_a_hangup_changes_nothing() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "t"
        shell = "touch started; while [ ! -e go ]; do sleep 0.02; done"
    "#});
    let child = std::process::Command::new("nohup")
        .arg(assert_cmd::cargo::cargo_bin("jobrun"))
        .arg("job.toml")
        .current_dir(job.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn nohup");
    for _ in 0..400 {
        if job.path().join("started").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(job.path().join("started").exists(), "the unit started");
    send_signal(child.id() as i32, SIGHUP);
    std::thread::sleep(Duration::from_millis(200));
    job.file("go", "");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The real thing: the terminal jobrun draws its bar on goes away (`script`
/// gives it a pseudo-terminal; killing `script` closes it). jobrun must stop
/// the units, finish its reports and exit 129, with the bar's writes failing.
#[test]
fn a_closed_terminal_stops_the_run_and_the_reports_are_complete() {
    if !crate::support::has_script() {
        return;
    }
    let job = Job::new(indoc! {r#"
        [job]
        workers = 2
        kill_grace = "1s"
        [[task]]
        name = "t"
        matrix.i = [1, 2, 3, 4]
        shell = "sh -c 'echo $$ > {i}.pid; exec sleep 100' & wait"
    "#});
    let bin = assert_cmd::cargo::cargo_bin("jobrun");
    let cmd = format!(
        "exec '{}' --progress bar --events ev.jsonl job.toml",
        bin.display()
    );
    let mut script = std::process::Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .current_dir(job.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn script");
    wait_for_units(&job, 2);
    // SIGKILL: `script` cannot pass anything on; the kernel hangs up the terminal.
    let _ = script.kill();
    let _ = script.wait();
    let events = job.path().join("ev.jsonl");
    let mut last = String::new();
    for _ in 0..400 {
        last = std::fs::read_to_string(&events)
            .unwrap_or_default()
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned();
        if last.contains("job_finished") {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(last.contains("\"exit_code\":129"), "{last}");
    let pids = pids_in(job.path());
    assert_eq!(pids.len(), 2, "nothing new started: {pids:?}");
    assert_eq!(survivors(&pids), Vec::<i32>::new());
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
        name = "noshebang"
        run = ["./script"]
        [[task]]
        name = "notexec"
        run = ["./plain"]
        [[task]]
        name = "folder"
        run = ["./sub"]
        [[task]]
        name = "fine"
        run = ["true"]
    "#});
    job.file("script", "echo hi\n")
        .file("plain", "echo hi\n")
        .file("sub/x", "");
    let exec = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(job.path().join("script"), exec).expect("chmod");
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("`no-such-program-jobrun-test`: command not found"),
        "{err}"
    );
    assert!(err.contains("does not exist"), "{err}");
    assert!(
        err.contains(
            "`./script`: not a program the system can run (a script needs a `#!` first line"
        ),
        "{err}"
    );
    assert!(
        err.contains("`./plain`: permission denied (is it executable?"),
        "{err}"
    );
    assert!(err.contains("`./sub`: it is a directory"), "{err}");
    assert!(err.contains("1 ok, 5 failed"), "{err}");
}

const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

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
    // A copy of jobs/ under cargo's own scratch dir, so the user's
    // jobs/.jobrun journal is never touched; the copy's state dir persists
    // there between test runs, which keeps the image tool's build cached.
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let copy = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("example-job");
    mirror(&repo.join("jobs"), &copy);
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = crate::support::jobrun()
        .current_dir(&copy)
        .args(["images.toml", "-j", "4", "--var"])
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

/// Copy the tracked files of `from` into `to`, rewriting only those that
/// differ (unchanged mtimes keep cargo's and jobrun's caches warm); what the
/// job writes (`out/`, `.jobrun/`) is not copied.
fn mirror(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let name = e.file_name();
        if name == "out" || name == ".jobrun" || name == "target" {
            continue;
        }
        let (src, dst) = (e.path(), to.join(&name));
        if e.file_type().expect("file type").is_dir() {
            mirror(&src, &dst);
        } else {
            let data = std::fs::read(&src).expect("read");
            if std::fs::read(&dst).ok().as_ref() != Some(&data) {
                std::fs::write(&dst, data).expect("write");
            }
        }
    }
}

#[test]
fn a_rerun_keeps_the_two_logs_before_it() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 2
        [[task]]
        name = "t"
        matrix.i = { range = [0, 2] }
        shell = "cat count 2>/dev/null; echo . >> count; echo run {i}"
    "#});
    let logs = job.path().join(".jobrun/logs/job");
    let read = |name: &str| std::fs::read_to_string(logs.join(name)).unwrap_or_default();
    for _ in 0..4 {
        let out = job.run(&["--fresh"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    // Each run's log holds the dots written before it: 3, 2, 1 for the
    // last three runs of unit 0 (with unit 1's dots in between).
    let dots = |s: String| s.matches('.').count();
    let (now, one, two) = (
        read("t[i=0].log"),
        read("t[i=0].log.1"),
        read("t[i=0].log.2"),
    );
    assert!(now.contains("run 0") && one.contains("run 0") && two.contains("run 0"));
    assert!(
        dots(now) > dots(one.clone()) && dots(one) > dots(two),
        "logs out of order"
    );
    assert!(!logs.join("t[i=0].log.3").exists());
}
