//! Faults: units that crash or misbehave, jobrun's own files failing, and no
//! process outliving the run in any of these paths.

use indoc::indoc;

use crate::support::{Job, alive, lines, stderr, stdout, survivors};

#[test]
fn units_killed_by_signals_are_reported_by_name() {
    let job = Job::new(indoc! {r#"
        [job]
        on_failure = "continue"
        [[task]]
        name = "sig"
        matrix.s = ["KILL", "SEGV"]
        shell = "kill -{s} $$"
    "#});
    let out = job.run(&["--progress", "plain"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("sig[s=KILL]") && err.contains("signal SIGKILL"),
        "{err}"
    );
    assert!(err.contains("signal SIGSEGV"), "{err}");
    assert_eq!(job.orphans(), Vec::<i32>::new());
}

#[test]
fn odd_output_is_kept_exactly() {
    // Closed stdout, no final newline, invalid UTF-8: all fine, all logged.
    let job = Job::new(indoc! {r#"
        [job]
        output = "all"
        keep_order = true
        workers = 1
        [[task]]
        name = "closed"
        shell = "exec 1>&-; sleep 30 & echo to-stderr >&2"
        [[task]]
        name = "bytes"
        shell = "printf 'caf\\351 no newline'"
    "#});
    let out = job.run(&["-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        out.stdout,
        b"--- closed ---\nto-stderr\n--- bytes ---\ncaf\xe9 no newline\n"
    );
    let log = std::fs::read(job.path().join(".jobrun/logs/job/bytes.log")).expect("log");
    assert_eq!(log, b"caf\xe9 no newline");

    let out = job.run(&["-q", "--fresh", "--output", "line"]);
    assert_eq!(out.status.code(), Some(0));
    let text = out.stdout;
    assert!(
        text.windows(7).any(|w| w == b"[bytes]"),
        "{}",
        String::from_utf8_lossy(&text)
    );
    assert!(
        text.ends_with(b"[bytes] caf\xe9 no newline\n"),
        "{}",
        String::from_utf8_lossy(&text)
    );
    // The `sleep` left behind in the background went with its unit's group.
    assert_eq!(job.orphans(), Vec::<i32>::new());
}

#[test]
fn journal_write_failure_stops_cleanly_with_the_journal_intact() {
    // A file-size limit makes the journal's writes fail (EFBIG) part-way.
    let job = Job::new(indoc! {r#"
        [job]
        workers = 1
        [[task]]
        name = "t"
        matrix.i = { range = [0, 400] }
        run = ["true"]
    "#});
    let out = std::process::Command::new("sh")
        .current_dir(job.path())
        .env(crate::support::TAG, job.tag())
        .arg("-c")
        .arg(format!(
            "ulimit -f 20; exec '{}' -q job.toml",
            assert_cmd::cargo::cargo_bin("jobrun").display()
        ))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot write the journal"), "{err}");
    assert!(err.contains("no new units start"), "{err}");
    // The unit whose record did not fit ran, and the summary says the
    // journal does not know it.
    assert!(
        err.contains("not recorded in the journal (see the error above): 1 ok; the next run will run it again"),
        "{err}"
    );
    // Every complete line still parses; the rerun (no limit) finishes the job.
    let text = std::fs::read(job.path().join(".jobrun/job.journal")).expect("journal");
    let parsed = text
        .split(|&b| b == b'\n')
        .filter(|l| serde_json::from_slice::<serde_json::Value>(l).is_ok())
        .count();
    assert!(parsed > 0 && parsed < 400, "{parsed}");
    let out = job.run(&["-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("up_to_date"), "{}", stderr(&out));
    assert_eq!(job.orphans(), Vec::<i32>::new());
}

#[test]
fn state_dir_not_writable_is_a_clear_error() {
    let job = Job::new(indoc! {r#"
        [job]
        state_dir = "blocked/state"
        [[task]]
        name = "t"
        run = ["touch", "ran"]
    "#});
    job.file("blocked", "a file where a folder should be");
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("cannot create the state dir"),
        "{}",
        stderr(&out)
    );
    assert!(!job.path().join("ran").exists(), "nothing ran");
    assert_eq!(job.orphans(), Vec::<i32>::new());
}

#[test]
fn manifest_deleted_mid_run_changes_nothing() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 1
        [[task]]
        name = "a"
        run = ["rm", "job.toml"]
        [[task]]
        name = "b"
        needs = ["a"]
        run = ["touch", "b-ran"]
    "#});
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(job.path().join("b-ran").exists());
    assert_eq!(job.orphans(), Vec::<i32>::new());
}

#[test]
fn ten_thousand_units_five_hundred_failing_under_continue() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 4
        on_failure = "continue"
        [[task]]
        name = "t"
        matrix.i = { range = [0, 10000] }
        run = ["test", "{i}", "-lt", "9500"]
    "#});
    let out = job.run(&["-q", "--events", "events.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("10000 units") && err.contains("9500 ok, 500 failed"),
        "{err}"
    );
    assert!(err.contains("... and 480 more"), "{err}");
    let finished = lines(job.path().join("events.jsonl"))
        .iter()
        .filter(|l| l.contains("\"unit_finished\""))
        .count();
    assert_eq!(finished, 10000);
    assert_eq!(
        stdout(&out),
        "",
        "`test` prints nothing, so there are no output blocks"
    );
    assert_eq!(job.orphans(), Vec::<i32>::new());
}

#[test]
fn no_orphans_after_timeout_kill_and_abort() {
    for policy in ["abort", "kill"] {
        let job = Job::new(&format!(
            indoc! {r#"
            [job]
            workers = 3
            on_failure = "{}"
            kill_grace = "200ms"
            [[task]]
            name = "t"
            matrix.i = [0, 1, 2]
            timeout = "2s"
            shell = "if [ {{i}} = 0 ]; then exit 1; fi; sleep 30 & sleep 30 & wait"
        "#},
            policy
        ));
        let out = job.run(&["-q"]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(job.orphans(), Vec::<i32>::new(), "{policy}");
    }
}

/// Run `script` with `sh` in a private mount namespace (so it may mount a
/// tmpfs without touching the machine), in the job's folder.
fn in_mount_namespace(job: &Job, script: &str) -> std::process::Output {
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = std::process::Command::new("unshare");
    // Root needs no user namespace (and CI may forbid one); others do.
    cmd.arg(if root { "-m" } else { "-rm" });
    cmd.args(["--propagation", "private", "sh", "-ec", script])
        .current_dir(job.path())
        .env(crate::support::TAG, job.tag())
        .env("JOBRUN", assert_cmd::cargo::cargo_bin("jobrun"));
    cmd.output().expect("unshare (util-linux) runs")
}

#[test]
fn disk_full_while_writing_logs_stops_cleanly_with_the_journal_intact() {
    // 16 units of 100 KB of output each; the state dir is a 2 MiB tmpfs (of
    // which the journal holds 1 MiB in reserve), so the logs fill it part-way
    // through the first run.
    let job = Job::new(indoc! {r#"
        [job]
        workers = 1
        state_dir = "state"
        [[task]]
        name = "t"
        matrix.i = { range = [0, 16] }
        shell = "echo {i} >> ran; head -c 100000 /dev/zero"
    "#});
    let out = in_mount_namespace(
        &job,
        r#"
        mkdir state
        mount -t tmpfs -o size=2m jobrun-test state
        set +e
        "$JOBRUN" -q --output none job.toml 2> err1; echo $? > code1
        cp state/job.journal journal1
        cp ran ran1
        # Free the space (the logs), then the rerun finishes the job.
        rm -rf state/logs
        "$JOBRUN" -q --output none job.toml 2> err2; echo $? > code2
        "#,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err1 = job.read("err1");
    assert_eq!(job.read("code1").trim(), "3", "{err1}");
    assert!(err1.contains("is full"), "{err1}");
    assert!(err1.contains("no new units start"), "{err1}");
    assert!(err1.contains("jobrun could not go on"), "{err1}");
    let first: Vec<String> = lines(job.path().join("ran1"));
    assert!(first.len() < 16, "the first run stopped early: {first:?}");

    // Every line of the journal is whole and parses.
    let journal = job.read("journal1");
    let records: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).expect("a whole journal record"))
        .collect();
    let ok_ids: Vec<&str> = records
        .iter()
        .filter(|r| r["outcome"] == "ok")
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(!ok_ids.is_empty(), "{journal}");

    let err2 = job.read("err2");
    assert_eq!(job.read("code2").trim(), "0", "{err2}");
    let all = lines(job.path().join("ran"));
    let mut seen: Vec<&str> = all.iter().map(String::as_str).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 16, "every unit ran: {all:?}");
    // No unit recorded ok in the first run ran again.
    let reran = &all[first.len()..];
    for id in ok_ids {
        let i = id.trim_start_matches("t[i=").trim_end_matches(']');
        assert!(!reran.iter().any(|r| r == i), "{id} ran again: {reran:?}");
    }
    assert_eq!(job.orphans(), Vec::<i32>::new());
}

#[test]
fn a_disk_already_full_is_refused_before_anything_runs() {
    let job = Job::new(indoc! {r#"
        [job]
        state_dir = "state"
        [[task]]
        name = "t"
        matrix.i = [1, 2]
        shell = "echo {i} >> ran"
    "#});
    let out = in_mount_namespace(
        &job,
        r#"
        mkdir state
        mount -t tmpfs -o size=1m jobrun-test state
        set +e
        head -c 2000000 /dev/zero > state/fill 2> /dev/null
        "$JOBRUN" -q job.toml 2> err1; echo $? > code1
        rm state/fill
        "$JOBRUN" -q job.toml 2> err2; echo $? > code2
        "#,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err1 = job.read("err1");
    assert_eq!(job.read("code1").trim(), "3", "{err1}");
    assert!(
        err1.contains("no room for the journal") && err1.contains("free some space"),
        "{err1}"
    );
    assert!(!err1.contains(" ok"), "nothing passes for done: {err1}");
    assert_eq!(job.read("code2").trim(), "0", "{}", job.read("err2"));
    // Nothing ran the first time; both units ran once the second.
    assert_eq!(lines(job.path().join("ran")).len(), 2);
    assert_eq!(job.orphans(), Vec::<i32>::new());
}

#[test]
fn units_orphaned_by_a_killed_run_are_stopped_by_the_next_run() {
    let job = Job::new(indoc! {r#"
        [job]
        kill_grace = "1s"
        [[task]]
        name = "t"
        shell = "if [ -e second ]; then exit 0; fi; echo $$ > unit.pid; exec sleep 100"
    "#});
    let mut first = job
        .process(&["-q"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    for _ in 0..400 {
        if !job.read("unit.pid").trim().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let pid: i32 = job.read("unit.pid").trim().parse().expect("the unit's pid");
    first.kill().expect("SIGKILL jobrun");
    let _ = first.wait();
    assert_eq!(alive(&[pid]), [pid], "the unit outlived its killed jobrun");

    // The next run stops it before anything starts, then does the work.
    job.file("second", "");
    let out = job.run(&["-q"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("left running by an earlier run"), "{err}");
    assert_eq!(survivors(&[pid]), Vec::<i32>::new());
    assert_eq!(job.orphans(), Vec::<i32>::new());
}
