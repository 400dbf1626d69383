//! Units discovered at run time: a matrix over a file that an earlier task
//! writes, through the real binary. Local files stand in for a bucket: `list`
//! lists `bucket/`, `fetch` copies each object, `process` transforms it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use indoc::indoc;

use crate::support::{Job, lines, stderr, stdout};

const PIPELINE: &str = indoc! {r#"
    [job]
    workers = 2

    [[task]]
    name = "list"
    inputs = ["bucket.lst"]
    shell = "mkdir -p out && ls bucket > out/keys.txt && echo list >> ran.log"
    outputs = ["out/keys.txt"]

    [[task]]
    name = "fetch"
    needs = ["list"]
    matrix.key = { lines = "out/keys.txt" }
    shell = "mkdir -p out/raw && sleep 0.1 && cp bucket/{key} out/raw/{key} && echo fetch {key} >> ran.log"
    outputs = ["out/raw/{key}"]

    [[task]]
    name = "process"
    needs = ["fetch"]
    matrix.key = { lines = "out/keys.txt" }
    shell = "mkdir -p out/done && tr a-z A-Z < out/raw/{key} > out/done/{key} && echo process {key} >> ran.log"
    outputs = ["out/done/{key}"]

    [[task]]
    name = "index"
    needs = ["process"]
    shell = "cat out/done/* > out/index.txt && echo index >> ran.log"
    outputs = ["out/index.txt"]
"#};

/// A bucket of `n` objects; `bucket.lst` changes with the listing, so
/// `list` is rerun (not up to date) whenever the bucket changes.
fn bucket(job: &Job, keys: &[String]) {
    let _ = std::fs::remove_dir_all(job.path().join("bucket"));
    for k in keys {
        job.file(format!("bucket/{k}"), format!("object {k}\n"));
    }
    job.file("bucket.lst", keys.join("\n"));
}

fn keys(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("k{i:03}.txt")).collect()
}

/// How often each line occurs in `ran.log`.
fn ran(job: &Job) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for l in lines(job.path().join("ran.log")) {
        *m.entry(l).or_default() += 1;
    }
    m
}

#[test]
fn a_listing_fans_out_and_every_stage_follows_it() {
    let job = Job::new(PIPELINE);
    bucket(&job, &keys(0..6));
    let plan = job.sub("plan", &[]);
    let text = stdout(&plan);
    assert!(plan.status.success(), "{}", stderr(&plan));
    // Before the list exists: pending, with its producer.
    assert!(
        text.contains(
            "fetch  pending: expands when `list` has finished (matrix.key reads `out/keys.txt`)"
        ),
        "{text}"
    );
    let json = stdout(&job.sub("plan", &["--json"]));
    let first: serde_json::Value =
        serde_json::from_str(json.lines().next().expect("a line")).expect("json");
    assert_eq!(first["task"], "fetch");
    assert_eq!(first["pending"]["producers"][0], "list");
    assert!(first["units"].is_null(), "{json}");
    let check = job.sub("check", &[]);
    assert!(
        stdout(&check).contains("2 tasks pending"),
        "{}",
        stdout(&check)
    );

    let dry = stdout(&job.run(&["--dry-run"]));
    assert!(
        dry.contains("-  fetch  pending: expands when `list`"),
        "{dry}"
    );
    let out = job.run(&["--progress", "none", "--events", "events.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("14 units"), "{}", stderr(&out));
    assert_eq!(
        job.read("out/index.txt"),
        (0..6)
            .map(|i| format!("OBJECT K{i:03}.TXT\n"))
            .collect::<String>()
    );
    // The events say when each task grew, before its units start.
    let events = lines(job.path().join("events.jsonl"));
    let at = |pat: &str| {
        events
            .iter()
            .position(|l| l.contains(pat))
            .unwrap_or_else(|| panic!("no `{pat}` in {events:#?}"))
    };
    assert!(at(r#""task_expanded","time""#) < at(r#""id":"fetch[key=k000.txt]""#));
    assert!(
        events
            .iter()
            .any(|l| l.contains(r#""task":"process","units":6,"total":6"#))
    );
    // Once the list exists, `plan` shows the units it gives.
    let text = stdout(&job.sub("plan", &[]));
    assert!(text.contains("as its files are now, 6 units:"), "{text}");
    assert!(text.contains("fetch[key=k005.txt]"), "{text}");
    // A rerun: nothing to do.
    let again = job.run(&["--progress", "none"]);
    assert!(
        stderr(&again).contains("14 up_to_date"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn killed_mid_way_the_rerun_repeats_no_finished_unit() {
    let job = Job::new(PIPELINE);
    bucket(&job, &keys(0..30));
    let mut child = job
        .process(&["--progress", "none", "-q"])
        .spawn()
        .expect("start jobrun");
    // Until some fetches are done, but not all (30 x 0.1 s at 2 workers).
    let until = Instant::now() + Duration::from_secs(60);
    while ran(&job).keys().filter(|k| k.starts_with("fetch")).count() < 6 {
        assert!(Instant::now() < until, "no fetch finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL jobrun");
    child.wait().expect("reap");
    let before = ran(&job);
    assert!(before.len() < 62, "the kill came after the end: {before:?}");
    let out = job.run(&["--progress", "none"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let after = ran(&job);
    // Everything ran; what had finished before the kill did not run again,
    // except units in flight at the kill (at most one per worker).
    assert_eq!(after.len(), 62, "{after:?}");
    let repeated: Vec<_> = after
        .iter()
        .filter(|&(_, &n)| n > 1)
        .map(|(k, _)| k.clone())
        .collect();
    assert!(repeated.len() <= 2, "ran again: {repeated:?}");
    assert_eq!(after["list"], 1, "the list was rerun: {after:?}");
}

#[test]
fn the_list_grows_and_shrinks_between_runs() {
    let job = Job::new(PIPELINE);
    bucket(&job, &keys(0..4));
    assert!(job.run(&["--progress", "none"]).status.success());
    // k000 leaves the bucket, k004 and k005 arrive.
    bucket(&job, &keys(1..6));
    let out = job.run(&["--progress", "none", "-v"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    let mut started: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix("start "))
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    started.sort_unstable();
    // Only the new keys, and what reads all of them: not the keys that
    // were there before, though `list` ran again.
    assert_eq!(
        started,
        [
            "fetch[key=k004.txt]",
            "fetch[key=k005.txt]",
            "index",
            "list",
            "process[key=k004.txt]",
            "process[key=k005.txt]",
        ],
        "{err}"
    );
    assert!(!err.contains("k000"), "a key that left the list: {err}");
    // (Outputs of a key that left stay where they are: jobrun deletes no result.)
    assert!(job.read("out/index.txt").contains("OBJECT K005.TXT"));
}

#[test]
fn a_failed_producer_skips_what_would_read_its_list() {
    let job = Job::new(&PIPELINE.replace("echo list >> ran.log", "exit 4"));
    bucket(&job, &keys(0..3));
    let out = job.run(&["--progress", "none"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("not expanded, as a task they read from did not finish ok: fetch, process"),
        "{err}"
    );
    assert!(err.contains("1 skipped"), "index is skipped: {err}");
}

#[test]
fn a_bad_line_fails_the_expansion_with_its_place_and_the_rest_goes_on() {
    let job = Job::new(indoc! {r#"
        [job]
        on_failure = "continue"
        [[task]]
        name = "list"
        shell = "printf 'a\n%01100000d\n' 0 > keys.txt"
        outputs = ["keys.txt"]
        [[task]]
        name = "fetch"
        needs = ["list"]
        matrix.key = { lines = "keys.txt" }
        run = ["true"]
        [[task]]
        name = "other"
        shell = "sleep 1; touch other.done"
    "#});
    let out = job.run(&["--progress", "none"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("task `fetch` cannot expand"), "{err}");
    assert!(err.contains("line longer than 1 MiB (line 2)"), "{err}");
    assert!(err.contains("job.toml:10:14"), "{err}");
    // Work that does not need the list is not lost.
    assert!(job.path().join("other.done").exists(), "{err}");
}

#[test]
fn shards_of_a_job_with_a_run_time_task_cover_every_unit_once() {
    let job = Job::new(PIPELINE);
    bucket(&job, &keys(0..12));
    // Before the list exists, no shard can know the units.
    let refused = job.run(&["--shard", "1/3", "--progress", "none"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("--only list --with-deps"),
        "{}",
        stderr(&refused)
    );
    let setup = job.run(&["--only", "list", "--with-deps", "--progress", "none"]);
    assert!(setup.status.success(), "{}", stderr(&setup));
    // `index` joins every unit: it runs on its own after the shards.
    for k in 1..=3 {
        let s = format!("{k}/3");
        let out = job.run(&[
            "--shard",
            &s,
            "--only",
            "fetch",
            "--only",
            "process",
            "--progress",
            "none",
        ]);
        assert_eq!(out.status.code(), Some(0), "shard {s}: {}", stderr(&out));
    }
    let index = job.run(&["--only", "index", "--progress", "none"]);
    assert_eq!(index.status.code(), Some(0), "{}", stderr(&index));
    let after = ran(&job);
    // 12 fetch, 12 process, one index, one list: each once.
    assert_eq!(after.len(), 26, "{after:?}");
    assert!(after.values().all(|&n| n == 1), "{after:?}");
}

#[test]
fn a_csv_written_at_run_time_drives_a_key_matched_pipeline() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 2
        [[task]]
        name = "list"
        shell = "printf 'name,size,label\na,10,\"x, y\"\nb,20,z\nc,3.10,w\n' > rows.csv"
        outputs = ["rows.csv"]
        [[task]]
        name = "make"
        needs = ["list"]
        matrix.row = { csv = "rows.csv" }
        shell = "echo {size} > {name}.made"
        outputs = ["{name}.made"]
        [[task]]
        name = "label"
        needs = ["make"]
        matrix.row = { csv = "rows.csv" }
        shell = "echo {label} $(cat {name}.made) >> labels.txt"
    "#});
    // The columns are not known before the file exists: pending, unchecked.
    let plan = stdout(&job.sub("plan", &[]));
    assert!(plan.contains("make  pending"), "{plan}");
    let out = job.run(&["--progress", "none", "--events", "ev.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut labels = lines(job.path().join("labels.txt"));
    labels.sort();
    // Values keep their exact text (3.10 stays 3.10).
    assert_eq!(labels, ["w 3.10", "x, y 10", "z 20"]);
    // Each label waited for its own row's make, found by all three keys.
    let events = lines(job.path().join("ev.jsonl"));
    let at = |event: &str, id: &str| {
        let id = format!(r#""id":"{id}""#);
        events
            .iter()
            .position(|l| l.contains(event) && l.contains(&id))
            .unwrap_or_else(|| panic!("no {event} of {id} in {events:#?}"))
    };
    for row in [
        "name=a,size=10,label=x, y",
        "name=b,size=20,label=z",
        "name=c,size=3.10,label=w",
    ] {
        assert!(
            at("unit_finished", &format!("make[{row}]"))
                < at("unit_started", &format!("label[{row}]")),
            "{row}"
        );
    }
}

#[test]
fn a_bad_csv_row_written_at_run_time_names_its_file_and_line() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "list"
        shell = "printf 'name,size\na,1\nb\n' > rows.csv"
        outputs = ["rows.csv"]
        [[task]]
        name = "make"
        needs = ["list"]
        matrix.row = { csv = "rows.csv" }
        run = ["true", "{name}", "{size}"]
    "#});
    let out = job.run(&["--progress", "none"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("task `make` cannot expand"), "{err}");
    assert!(err.contains("rows.csv:3"), "{err}");
}
