//! `[resources]`, `uses` and `max_parallel` on real processes. Concurrency is
//! read from files the units append to; rates get lower bounds only.

use std::collections::HashMap;

use indoc::indoc;

use crate::support::{Job, lines, stderr, stdout};

/// The peak of concurrent holders per pool, from `start POOL` / `end POOL` lines.
fn peaks(events: &[String]) -> HashMap<String, i32> {
    let mut cur: HashMap<String, i32> = HashMap::new();
    let mut peak: HashMap<String, i32> = HashMap::new();
    for l in events {
        let (what, pool) = l.split_once(' ').expect("`start POOL` or `end POOL`");
        let c = cur.entry(pool.to_owned()).or_default();
        *c += if what == "start" { 1 } else { -1 };
        let p = peak.entry(pool.to_owned()).or_default();
        *p = (*p).max(*c);
    }
    peak
}

#[test]
fn each_stage_runs_as_wide_as_its_pool() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 16
        [resources]
        net = 4
        cpu = 2
        [[task]]
        name = "download"
        matrix.item = { range = [0, 40] }
        uses = { net = 1 }
        shell = "echo start net >> ev; sleep 0.2; echo end net >> ev"
        [[task]]
        name = "resize"
        matrix.item = { range = [0, 40] }
        needs = ["download"]
        uses = { cpu = 1 }
        shell = "echo start cpu >> ev; sleep 0.2; echo end cpu >> ev"
        [[task]]
        name = "upload"
        matrix.item = { range = [0, 40] }
        needs = ["resize"]
        uses = { net = 1 }
        shell = "echo start net >> ev; sleep 0.2; echo end net >> ev"
    "#});
    let out = job.run(&["--events", "events.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("120 ok"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("peak use: net 4 of 4, cpu 2 of 2"),
        "{}",
        stderr(&out)
    );
    let ev = lines(job.path().join("ev"));
    assert_eq!(ev.len(), 240);
    let p = peaks(&ev);
    assert_eq!((p["net"], p["cpu"]), (4, 2), "{p:?}");
    // Events carry what each attempt held, and the end the peaks.
    let events = job.read("events.jsonl");
    assert!(events.contains(r#""resources":{"net":"1"}"#), "{events}");
    assert!(
        events.contains(r#""pool_peaks":{"cpu":2.0,"net":4.0}"#),
        "{events}"
    );
    // And which pool held ready units back while they waited.
    assert!(
        events
            .lines()
            .any(|l| l.contains(r#""event":"waiting""#) && l.contains(r#""net":"#)),
        "{events}"
    );
}

#[test]
fn an_indexed_pool_hands_each_id_to_one_unit_at_a_time() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 8
        [resources]
        gpu = ["0", "1"]
        [[task]]
        name = "infer"
        matrix.i = { range = [0, 10] }
        uses = { gpu = 1 }
        shell = "echo start {resource.gpu} >> ev; echo $JOBRUN_RESOURCE_GPU >> seen; sleep 0.1; echo end {resource.gpu} >> ev"
    "#});
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ev = lines(job.path().join("ev"));
    assert_eq!(ev.len(), 20);
    let p = peaks(&ev);
    assert_eq!(p.len(), 2, "both ids used: {p:?}");
    assert!(p.values().all(|&n| n == 1), "an id held twice: {p:?}");
    let seen = lines(job.path().join("seen"));
    assert_eq!(seen.len(), 10);
    assert!(seen.iter().all(|s| s == "0" || s == "1"), "{seen:?}");
}

#[test]
fn a_rate_spaces_the_starts() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 20
        [resources]
        api = { rate = "10/s" }
        [[task]]
        name = "call"
        matrix.i = { range = [0, 20] }
        uses = { api = 1 }
        shell = "date +%s%N >> starts"
    "#});
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let starts: Vec<u128> = lines(job.path().join("starts"))
        .iter()
        .map(|l| l.parse().expect("nanoseconds"))
        .collect();
    assert_eq!(starts.len(), 20);
    let spread = starts.iter().max().unwrap() - starts.iter().min().unwrap();
    // 19 tokens after the first, 100 ms apart (the first start's own time
    // to `date` gives a few ms of slack).
    assert!(spread >= 1_850_000_000, "spread {spread} ns");
}

#[test]
fn a_big_unit_starts_before_a_stream_of_small_ones_ends() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 8
        [resources]
        cpu = 4
        [[task]]
        name = "small"
        matrix.i = { range = [0, 50] }
        uses = { cpu = 1 }
        shell = "echo small >> starts; sleep 0.05"
        [[task]]
        name = "big"
        uses = { cpu = 4 }
        shell = "echo big >> starts; sleep 0.05"
    "#});
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let starts = lines(job.path().join("starts"));
    assert_eq!(starts.len(), 51);
    let big = starts.iter().position(|s| s == "big").expect("big ran");
    // Passed by a poolful, it reserves the pool: far from last.
    assert!(big < 25, "big started {big}th of 51");
}

#[test]
fn max_parallel_caps_one_task_and_a_retry_delay_holds_nothing() {
    // max_parallel = 1: while the flaky unit waits out its 2 s delay, the
    // task's other units run in its place.
    let job = Job::new(indoc! {r#"
        [job]
        workers = 4
        [[task]]
        name = "t"
        matrix.i = [0, 1, 2, 3]
        max_parallel = 1
        retries = 1
        retry_delay = "2s"
        shell = "echo start t >> ev; echo {i} >> order; sleep 0.1; echo end t >> ev; test {i} != 0 || test -e again || {{ touch again; exit 1; }}"
    "#});
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(peaks(&lines(job.path().join("ev")))["t"], 1);
    assert_eq!(lines(job.path().join("order")), ["0", "1", "2", "3", "0"]);
}

#[test]
fn resource_overrides_and_plan_json() {
    let job = Job::new(indoc! {r#"
        [resources]
        cpu = 1
        gpu = ["0"]
        [[task]]
        name = "t"
        matrix.i = { range = [0, 6] }
        uses = { cpu = 0.5, gpu = 1 }
        shell = "echo start cpu >> ev; echo $JOBRUN_RESOURCE_CPU {resource.gpu} >> held; sleep 0.2; echo end cpu >> ev"
    "#});
    let plan = job.sub("plan", &["--json"]);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    assert!(
        stdout(&plan).contains(r#""uses":{"cpu":0.5,"gpu":1}"#),
        "{}",
        stdout(&plan)
    );
    let out = job.run(&["--resource", "cpu=3", "--resource", "gpu=a,b,c", "-j", "6"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // cpu 3 / 0.5 = 6, but three gpu ids: at most three at once.
    assert_eq!(peaks(&lines(job.path().join("ev")))["cpu"], 3);
    let held = lines(job.path().join("held"));
    assert!(held.iter().all(|h| h.starts_with("0.5 ")), "{held:?}");
    // A pool that is not there, and a capacity that is not one: exit 2.
    for (arg, want) in [
        ("gpus=1", "did you mean `gpu`?"),
        ("cpu=lots", "invalid capacity"),
        ("cpu=0", "must be from 1"),
    ] {
        let out = job.run(&["--resource", arg]);
        assert_eq!(out.status.code(), Some(2), "{arg}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{arg}: {}", stderr(&out));
    }
}

#[test]
fn engines_request_the_cpu_pool_and_share_rates() {
    let job = Job::new(indoc! {r#"
        [resources]
        cpu = 3
        s3 = { capacity = 8, rate = "100/s" }
        [[task]]
        name = "t"
        matrix.i = { range = [0, 8] }
        uses = { cpu = 1, s3 = 1 }
        run = ["true"]
    "#});
    let out = job.sub("slurm", &["--shards", "4", "--print"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let script = stdout(&out);
    assert!(script.contains("#SBATCH --cpus-per-task=3\n"), "{script}");
    assert!(
        script.contains("# pool `s3`: 100/s for the whole job, so 100/4s per shard\n"),
        "{script}"
    );
    let out = job.sub("k8s", &["--shards", "4", "--image", "img:1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let k: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        k["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"],
        "3"
    );
    assert!(
        k["metadata"]["annotations"]["jobrun/rates"]
            .as_str()
            .is_some_and(|s| s.contains("100/4s per shard")),
        "{k}"
    );
}
