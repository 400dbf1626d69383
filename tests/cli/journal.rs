//! The journal: resume after failures and crashes, up-to-date skipping.

use std::collections::HashSet;
use std::time::Duration;

use indoc::indoc;

use crate::support::{Job, jobrun, lines, stderr, stdout};

/// Ids of the units recorded `ok` in the job's journal.
fn journal_ok(job: &Job, name: &str) -> HashSet<String> {
    let text = std::fs::read_to_string(job.path().join(format!(".jobrun/{name}.journal")))
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["outcome"] == "ok")
        .map(|v| v["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn rerun_after_a_fix_runs_only_what_is_not_done() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 1
        [[task]]
        name = "t"
        matrix.i = { range = [0, 20] }
        shell = "echo {i} >> ran; test {i} -ne 7 || test -e fixed"
        [[task]]
        name = "after"
        matrix.i = { range = [0, 20] }
        needs = ["t"]
        shell = "echo after-{i} >> ran"
    "#});
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(1));
    let first = lines(job.path().join("ran"));
    assert_eq!(first, (0..8).map(|i| i.to_string()).collect::<Vec<_>>());

    job.file("fixed", "");
    std::fs::remove_file(job.path().join("ran")).expect("rm");
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let second = lines(job.path().join("ran"));
    // Unit 7 and everything cancelled; units 0-6 are up to date.
    let mut expected: Vec<String> = (7..20).map(|i| i.to_string()).collect();
    expected.extend((0..20).map(|i| format!("after-{i}")));
    assert_eq!(second, expected);
    assert!(stderr(&out).contains("7 up_to_date"), "{}", stderr(&out));

    // Nothing left to do; --fresh runs everything again.
    let out = job.run(&[]);
    assert!(stderr(&out).contains("40 up_to_date"), "{}", stderr(&out));
    let out = job.run(&["--fresh"]);
    assert!(stderr(&out).contains("40 ok"), "{}", stderr(&out));
}

#[test]
fn changes_rerun_exactly_the_affected_units() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 2
        [[task]]
        name = "copy"
        matrix.f = { glob = "in/*.txt" }
        run = ["cp", "{f}", "out-{f.name}"]
        inputs = ["{f}"]
        outputs = ["out-{f.name}"]
        [[task]]
        name = "log"
        matrix.f = { glob = "in/*.txt" }
        needs = ["copy"]
        shell = "echo {f.name} >> ran"
    "#});
    for n in ["a", "b", "c"] {
        job.file(format!("in/{n}.txt"), n);
    }
    assert_eq!(job.run(&[]).status.code(), Some(0));
    let rerun = |job: &Job| {
        let _ = std::fs::remove_file(job.path().join("ran"));
        let out = job.run(&[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let mut r = lines(job.path().join("ran"));
        r.sort();
        r
    };
    // A new input file: only its units run (adding a file shifts plan positions).
    job.file("in/0.txt", "zero");
    assert_eq!(rerun(&job), ["0.txt"]);
    // Changed content: that unit and its dependent.
    job.file("in/b.txt", "B");
    assert_eq!(rerun(&job), ["b.txt"]);
    assert_eq!(job.read("out-b.txt"), "B");
    // A deleted output reruns its unit.
    std::fs::remove_file(job.path().join("out-c.txt")).expect("rm");
    assert_eq!(rerun(&job), ["c.txt"]);
    // Same content, new mtime: nothing runs.
    job.file("in/a.txt", "a");
    assert_eq!(rerun(&job), Vec::<String>::new());
    // `plan --why` says why, and writes nothing.
    job.file("in/a.txt", "A");
    let out = job.sub("plan", &["--why"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("copy[f=in/a.txt]  runs: input changed: in/a.txt"),
        "{text}"
    );
    assert!(
        text.contains("log[f=in/a.txt]  runs: needs copy[f=in/a.txt], which runs"),
        "{text}"
    );
    assert!(text.contains("copy[f=in/b.txt]  up to date"), "{text}");
    assert_eq!(rerun(&job), ["a.txt"]);

    // A changed command or env reruns that task's units (and their
    // dependents), not the units they need.
    let copied_at = || {
        std::fs::metadata(job.path().join("out-b.txt"))
            .and_then(|m| m.modified())
            .expect("out-b.txt")
    };
    let before = copied_at();
    let manifest = job.read("job.toml");
    job.file(
        "job.toml",
        manifest.replace("echo {f.name} >> ran", "echo {f.name} >>ran"),
    );
    assert_eq!(rerun(&job), ["0.txt", "a.txt", "b.txt", "c.txt"]);
    assert_eq!(rerun(&job), Vec::<String>::new());
    let manifest = job.read("job.toml");
    job.file(
        "job.toml",
        manifest.replace(
            "needs = [\"copy\"]",
            "needs = [\"copy\"]\nenv = { MODE = \"v2\" }",
        ),
    );
    assert_eq!(rerun(&job), ["0.txt", "a.txt", "b.txt", "c.txt"]);
    assert_eq!(copied_at(), before, "copy did not run again");
    // An env change in a needed task reruns it and its dependents.
    let manifest = job.read("job.toml");
    job.file(
        "job.toml",
        manifest.replace(
            "outputs = [\"out-{f.name}\"]",
            "outputs = [\"out-{f.name}\"]\nenv = { MODE = \"v2\" }",
        ),
    );
    assert_eq!(rerun(&job), ["0.txt", "a.txt", "b.txt", "c.txt"]);
    assert_ne!(copied_at(), before, "copy ran again");
}

/// A need rerun by a run that stopped before its dependent (abort, a crash,
/// `--only`) still makes the dependent run next time.
#[test]
fn a_dependent_runs_after_its_need_ran_again_in_a_run_that_stopped_early() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 1
        [vars]
        v = "1"
        [[task]]
        name = "gen"
        shell = "echo {v} > data"
        [[task]]
        name = "flaky"
        shell = "test ! -e broken # v{v}"
        [[task]]
        name = "use"
        needs = ["gen"]
        shell = "cp data result; echo use >> ran"
    "#});
    assert_eq!(job.run(&[]).status.code(), Some(0));
    assert_eq!(job.read("result"), "1\n");

    // gen reruns with v=2, flaky fails, the abort cancels `use`.
    job.file("broken", "");
    let out = job.run(&["--var", "v=2"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("cancelled"), "{}", stderr(&out));
    assert_eq!(job.read("result"), "1\n");

    std::fs::remove_file(job.path().join("broken")).expect("rm");
    let why = job.sub("plan", &["--why", "--var", "v=2"]);
    let text = stdout(&why);
    assert!(text.contains("gen  up to date"), "{text}");
    assert!(
        text.contains("use  runs: needs gen, which ran since"),
        "{text}"
    );
    let out = job.run(&["--var", "v=2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(job.read("result"), "2\n", "use ran with the new data");
    assert_eq!(lines(job.path().join("ran")), ["use", "use"]);

    // The same through --only: gen alone, then the whole job.
    let out = job.run(&["--only", "gen", "--var", "v=3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = job.run(&["--var", "v=3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(job.read("result"), "3\n");
    // And once done, nothing runs again.
    let out = job.run(&["--var", "v=3"]);
    assert!(stderr(&out).contains("3 up_to_date"), "{}", stderr(&out));
    assert_eq!(lines(job.path().join("ran")).len(), 3);

    // Records from before needs were recorded are taken as they are.
    let journal = job.path().join(".jobrun/job.journal");
    let old: String = std::fs::read_to_string(&journal)
        .expect("journal")
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("record");
            v.as_object_mut().expect("object").remove("needs");
            format!("{v}\n")
        })
        .collect();
    std::fs::write(&journal, old).expect("write");
    let out = job.run(&["--var", "v=3"]);
    assert!(stderr(&out).contains("3 up_to_date"), "{}", stderr(&out));
}

#[test]
fn failed_outputs_are_removed() {
    let job = Job::new(indoc! {r#"
        [job]
        on_failure = "continue"
        [[task]]
        name = "half"
        shell = "echo partial > result; exit 1"
        outputs = ["result"]
        [[task]]
        name = "timeout"
        timeout = "200ms"
        shell = "echo partial > slow; touch slow-written; exec sleep 10"
        outputs = ["slow"]
        [[task]]
        name = "kept"
        keep_failed_outputs = true
        shell = "echo partial > kept; exit 1"
        outputs = ["kept"]
    "#});
    assert_eq!(job.run(&[]).status.code(), Some(1));
    assert!(!job.path().join("result").exists());
    // (The marker shows the output was there before the timeout hit.)
    assert!(job.path().join("slow-written").exists());
    assert!(!job.path().join("slow").exists());
    // Kept for debugging, yet never taken for a result: the rerun runs it again.
    assert_eq!(job.read("kept"), "partial\n");
    let out = job.sub("plan", &["--why"]);
    let why = stdout(&out);
    assert!(
        why.lines()
            .any(|l| l.contains("kept") && l.contains("failed")),
        "{why}"
    );
}

#[test]
fn keep_failed_outputs_is_a_job_default() {
    let job = Job::new(indoc! {r#"
        [job]
        keep_failed_outputs = true
        [[task]]
        name = "half"
        shell = "echo partial > result; exit 1"
        outputs = ["result"]
    "#});
    assert_eq!(job.run(&[]).status.code(), Some(1));
    assert_eq!(job.read("result"), "partial\n");
}

#[test]
fn a_second_concurrent_run_is_refused() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "wait"
        shell = "touch started; while [ ! -e go ]; do sleep 0.05; done"
    "#});
    let mut first = job
        .process(&["--events", "ev.jsonl"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    for _ in 0..400 {
        if job.path().join("started").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let out = job.run(&["--events", "ev.jsonl", "--junit", "ev.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is already running"),
        "{}",
        stderr(&out)
    );
    // A shard has a journal of its own, but its units are the running job's.
    let out = job.run(&["--shard", "1/1"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is running unsharded"),
        "{}",
        stderr(&out)
    );
    assert!(!job.path().join("go").exists());
    job.file("go", "");
    assert_eq!(first.wait().expect("wait").code(), Some(0));
    // The refused runs left the first run's report alone.
    let events = job.read("ev.jsonl");
    assert!(events.starts_with("{\"event\":\"job_started\""), "{events}");
    for line in events.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("whole JSON lines");
    }
    // The lock died with the first run: no stale lock to delete.
    assert_eq!(job.run(&[]).status.code(), Some(0));
}

#[test]
fn plan_check_and_dry_run_write_no_state() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "t"
        run = ["touch", "ran"]
    "#});
    for args in [&["plan"][..], &["plan", "--why"], &["check"]] {
        let out = jobrun()
            .current_dir(job.path())
            .args(args)
            .arg("job.toml")
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(job.run(&["--dry-run"]).status.code(), Some(0));
    assert!(!job.path().join(".jobrun").exists());
    assert!(!job.path().join("ran").exists());
}

#[test]
fn crash_safety_sigkill_at_several_points() {
    // 300 short units; jobrun is SIGKILLed at random points, then rerun until done.
    let job = Job::new(indoc! {r#"
        [job]
        workers = 4
        [[task]]
        name = "t"
        matrix.i = { range = [0, 300] }
        shell = "echo {unit.id} >> ran; sleep 0.01"
    "#});
    // Random kill points (shown on failure so a run can be replayed by hand).
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.subsec_nanos() as u64);
    let mut rng = seed;
    let mut next = |n: u64| {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 33) % n
    };
    let mut done_before_kill: HashSet<String> = HashSet::new();
    for round in 0..4 {
        let before = lines(job.path().join("ran")).len();
        let wait_for = before + 1 + next(70) as usize;
        let mut child = job
            .process(&[])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        for _ in 0..2000 {
            if lines(job.path().join("ran")).len() >= wait_for {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        // Orphans of the killed run finish their one short command; let them.
        std::thread::sleep(Duration::from_millis(200));
        let ctx = format!("seed {seed}, round {round}, killed after {wait_for} starts");
        // The journal stays readable: every line but possibly a torn last one parses.
        let text =
            std::fs::read_to_string(job.path().join(".jobrun/job.journal")).unwrap_or_default();
        let bad = text
            .lines()
            .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_err())
            .count();
        assert!(bad <= 1, "{ctx}: {bad} unreadable lines");
        // Nothing recorded ok before this round ran again in it.
        let ran = lines(job.path().join("ran"));
        for id in &ran[before..] {
            assert!(
                !done_before_kill.contains(id.as_str()),
                "{ctx}: {id} was recorded ok and ran again"
            );
        }
        let ok_now = journal_ok(&job, "job");
        assert!(
            ok_now.is_superset(&done_before_kill),
            "{ctx}: records are never lost once synced"
        );
        done_before_kill = ok_now;
    }
    let before_final = lines(job.path().join("ran")).len();
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all = lines(job.path().join("ran"));
    let rerun: Vec<&String> = all[before_final..].iter().collect();
    for id in &rerun {
        assert!(
            !done_before_kill.contains(id.as_str()),
            "{id} was recorded ok and ran again"
        );
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), 300, "every unit ran at least once");
    assert_eq!(journal_ok(&job, "job").len(), 300);
}

#[test]
fn shards_split_the_work_and_any_later_run_reads_their_journals() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "t"
        matrix.i = { range = [0, 40] }
        shell = "echo {i} >> ran; sleep 0.02"
    "#});
    // Two shards at the same time, on one file system: each keeps its own
    // journal and lock, so neither is refused.
    let spawn = |shard: &str| {
        job.process(&["-q", "--shard", shard])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn("1/2"), spawn("2/2"));
    for child in [a, b] {
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let ran = lines(job.path().join("ran"));
    let distinct: HashSet<&String> = ran.iter().collect();
    assert_eq!(
        (ran.len(), distinct.len()),
        (40, 40),
        "disjoint and complete"
    );
    assert!(job.path().join(".jobrun/job.shard-1-of-2.journal").exists());
    assert!(job.path().join(".jobrun/job.shard-2-of-2.journal").exists());

    // Unsharded, or sharded differently: everything is already done.
    for args in [&[][..], &["--shard", "2/3"][..]] {
        let out = job.run(args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stderr(&out).contains("up_to_date"), "{}", stderr(&out));
        assert_eq!(lines(job.path().join("ran")).len(), 40, "{args:?}");
    }
}

#[test]
fn a_plan_joined_by_a_barrier_cannot_be_sharded_and_says_what_to_do() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "t"
        matrix.i = { range = [0, 6] }
        shell = "echo {i} >> ran"
        [[task]]
        name = "all"
        needs = ["t"]
        shell = "echo all >> ran"
    "#});
    let out = job.run(&["--shard", "1/2"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("task `all` joins them"), "{err}");
    assert!(err.contains("--shard K/N --only t"), "{err}");
    assert!(!job.path().join("ran").exists(), "nothing ran");
    // What the message suggests works.
    let out = job.run(&["--shard", "1/2", "--only", "t"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn unchanged_inputs_are_not_read_again() {
    // The content hash is cached by (path, size, mtime): a file whose bytes
    // change but whose size and mtime are restored is not re-read (that is
    // the cache at work, like make's mtime check); a new mtime re-reads it.
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "t"
        matrix.f = { glob = "in/*.txt" }
        inputs = ["{f}"]
        shell = "echo {f} >> ran"
    "#});
    job.file("in/a.txt", "aaaa");
    job.file("in/b.txt", "bbbb");
    assert_eq!(job.run(&["-q"]).status.code(), Some(0));
    let path = job.path().join("in/a.txt");
    let mtime = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .expect("mtime");
    std::fs::write(&path, "AAAA").expect("write");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(mtime))
        .expect("restore mtime");
    let out = job.run(&["-q"]);
    assert!(stderr(&out).contains("2 up_to_date"), "{}", stderr(&out));
    assert_eq!(lines(job.path().join("ran")).len(), 2, "nothing ran again");
    // A new mtime: the file is hashed again, and its unit runs.
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(std::time::SystemTime::now()))
        .expect("touch");
    let out = job.run(&["-q"]);
    assert!(
        stderr(&out).contains("1 ok, 1 up_to_date"),
        "{}",
        stderr(&out)
    );
    assert_eq!(lines(job.path().join("ran"))[2], "in/a.txt");
}

#[test]
fn unreadable_journal_lines_are_warned_about_once_and_their_units_run_again() {
    let job = Job::new(indoc! {r#"
        [job]
        [[task]]
        name = "t"
        matrix.i = [1, 2, 3]
        shell = "echo {i} >> ran"
    "#});
    assert_eq!(job.run(&["-q"]).status.code(), Some(0));
    let path = job.path().join(".jobrun/job.journal");
    let mut text = std::fs::read_to_string(&path).expect("journal");
    // Garbage, a record of another schema that names t[i=2], an unknown
    // outcome for t[i=3], and a record cut short at the end (a crash).
    text.push_str("\u{0}\u{0}garbage\n");
    text.push_str("{\"id\":\"t[i=2]\",\"state\":\"done\"}\n");
    let three = text
        .lines()
        .find(|l| l.contains("\"t[i=3]\""))
        .expect("a record of t[i=3]");
    let mut odd: serde_json::Value = serde_json::from_str(three).expect("record");
    odd["outcome"] = "finished".into();
    text.push_str(&format!("{odd}\n"));
    text.push_str("{\"id\":\"t[i=1]\",\"attempt\":");
    std::fs::write(&path, text).expect("write");

    let out = job.run(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let warning = format!(
        "jobrun: warning: skipped 3 unreadable lines in `{}` (first at line 4); a unit such a line names runs again\n",
        path.display()
    );
    assert_eq!(err.matches("warning:").count(), 1, "{err}");
    assert!(err.contains(&warning), "{err}");
    // The torn record is expected after a crash: mentioned only with -v.
    assert!(!err.contains("cut short"), "{err}");
    // t[i=1] stays done; the units the unreadable lines name ran again.
    assert!(err.contains("2 ok, 1 up_to_date"), "{err}");
    let ran = lines(job.path().join("ran"));
    assert_eq!(ran.len(), 5, "{ran:?}");
    assert_eq!(ran[3..].iter().collect::<HashSet<_>>().len(), 2);
    assert!(!ran[3..].contains(&"1".to_owned()), "{ran:?}");

    let out = job.run(&["-v"]);
    let err = stderr(&out);
    assert!(
        err.contains("skipped 1 record cut short in") && err.contains("(first at line 7)"),
        "{err}"
    );
    assert!(err.contains("3 up_to_date"), "{err}");
    // `plan --why` warns the same way; -q does not.
    let out = job.sub("plan", &["--why"]);
    assert!(stderr(&out).contains(&warning), "{}", stderr(&out));
    let out = job.run(&["-q"]);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn a_record_stamped_in_the_future_does_not_hide_a_later_failure() {
    // The clock was ahead when the unit passed, then set back; it failed
    // since. The later line wins, whatever the start times say.
    let job = Job::new(indoc! {r#"
        [job]
        [[task]]
        name = "t"
        shell = "echo ran >> ran; test -e fixed"
    "#});
    job.file("fixed", "");
    assert_eq!(job.run(&["-q"]).status.code(), Some(0));
    let path = job.path().join(".jobrun/job.journal");
    let text = std::fs::read_to_string(&path).expect("journal");
    let mut ok: serde_json::Value = serde_json::from_str(text.trim()).expect("record");
    let now = ok["start_ms"].as_u64().expect("start_ms");
    ok["start_ms"] = (now + 86_400_000).into();
    let mut failed = ok.clone();
    failed["outcome"] = "failed".into();
    failed["exit"] = 1.into();
    failed["start_ms"] = now.into();
    std::fs::write(&path, format!("{ok}\n{failed}\n")).expect("write");
    let out = job.run(&["-q"]);
    assert!(stderr(&out).contains("1 ok"), "{}", stderr(&out));
    assert_eq!(lines(job.path().join("ran")).len(), 2, "it ran again");
    // That run's record is the latest now, though its start is earlier.
    let out = job.run(&["-q"]);
    assert!(stderr(&out).contains("1 up_to_date"), "{}", stderr(&out));
}

#[test]
fn repeated_fresh_runs_keep_the_journal_bounded_and_its_decisions() {
    // 1,500 units write ~380 KB a run: past the size where compaction starts.
    let job = Job::new(indoc! {r#"
        [job]
        workers = 2

        [[task]]
        name = "t"
        matrix.i = { range = [0, 1500] }
        run = ["true"]

        [[task]]
        name = "flaky"
        retries = 2
        retry_delay = "0s"
        shell = "n=$(cat n 2>/dev/null || echo 0); echo $((n + 1)) > n; [ $n -ge 2 ]"
    "#});
    let journal = job.path().join(".jobrun/job.journal");
    let count = || lines(&journal).len();
    assert_eq!(job.run(&[]).status.code(), Some(0));
    let mut most = count();
    for _ in 0..4 {
        std::fs::remove_file(job.path().join("n")).unwrap();
        let out = job.run(&["--fresh"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        most = most.max(count());
    }
    // Without compaction: 5 x 1,503 lines. With it: at most two runs' worth.
    assert!(most <= 2 * 1503, "{most} lines");
    // The latest run's three attempts of `flaky` are all still there.
    let status = job.sub("status", &["--json"]);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    let flaky = doc["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == "flaky")
        .unwrap()
        .clone();
    assert_eq!(flaky["attempts"], 3, "{flaky}");
    // And what is done is still done.
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("1501 units in") && stderr(&out).contains(": 1501 up_to_date"),
        "{}",
        stderr(&out)
    );
}
