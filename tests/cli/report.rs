//! Reports: plain lines and the summary, `--events`, `--junit`, the output
//! modes, GitHub annotations, and the memory a flood of output costs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use indoc::indoc;
use serde_json::Value;

use crate::support::{Job, jobrun, lines, stderr, stdout};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Two builds, two tests (the second fails after printing three lines), and a
/// deploy that needs the tests and so is skipped.
const FAILING: &str = indoc! {r#"
    [job]
    workers = 1
    on_failure = "continue"
    [[task]]
    name = "build"
    matrix.n = [1, 2]
    shell = "echo building {n}"
    [[task]]
    name = "test"
    matrix.n = [1, 2]
    needs = ["build"]
    shell = "echo testing {n}; echo line two; echo oops >&2; test {n} -ne 2"
    [[task]]
    name = "deploy"
    needs = ["test"]
    shell = "echo deploying"
"#};

// ---------------------------------------------------------------- plain mode

#[test]
fn plain_output_of_a_failing_run() {
    let job = Job::new(FAILING);
    let out = job.run(&["--progress", "plain"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let settings = |name: &str, text: String| {
        insta::with_settings!({
            omit_expression => true,
            prepend_module_to_snapshot => false,
            description => FAILING,
        }, {
            insta::assert_snapshot!(name.to_owned(), text);
        });
    };
    settings(
        "report_plain_failing_stderr",
        redact(&stderr(&out), job.path()),
    );
    settings(
        "report_plain_failing_stdout",
        redact(&stdout(&out), job.path()),
    );
}

/// Stable text: the temp dir is `[DIR]`, durations are `[DUR]`, and the
/// slowest units (whose order is a matter of timing) are left out.
fn redact(text: &str, dir: &Path) -> String {
    let mut text = text.to_owned();
    if let Ok(canonical) = dir.canonicalize() {
        text = text.replace(canonical.to_str().expect("utf-8 temp dir"), "[DIR]");
    }
    text = text.replace(dir.to_str().expect("utf-8 temp dir"), "[DIR]");
    let mut out = String::new();
    for line in text.lines() {
        match line.find("slowest: ") {
            Some(at) => out.push_str(&format!("{}slowest: [...]", &line[..at])),
            None => out.push_str(&redact_durations(line)),
        }
        out.push('\n');
    }
    out
}

/// `0.12s`, `12.3s` and `2m05s` become `[DUR]`.
fn redact_durations(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    let mut prev: Option<char> = None;
    while let Some(c) = rest.chars().next() {
        let starts_word = !prev.is_some_and(|p| p.is_ascii_alphanumeric() || p == '.');
        if starts_word && let Some(len) = duration_len(rest) {
            out.push_str("[DUR]");
            rest = &rest[len..];
            prev = Some('s');
            continue;
        }
        out.push(c);
        prev = Some(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The length of the duration `s` starts with, if it starts with one.
fn duration_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let whole = digits(0);
    if whole == 0 {
        return None;
    }
    let end = match b.get(whole) {
        Some(b'.') if digits(whole + 1) > 0 => whole + 1 + digits(whole + 1),
        Some(b'm') if digits(whole + 1) == 2 => whole + 3,
        _ => return None,
    };
    let after = b.get(end + 1);
    (b.get(end) == Some(&b's') && !after.is_some_and(u8::is_ascii_alphanumeric)).then_some(end + 1)
}

#[test]
fn redaction_finds_durations_only() {
    assert_eq!(
        redact_durations("ok   a[n=1] 0.01s (x 12.3s, 2m05s) 3s 1.5x v1.2s"),
        "ok   a[n=1] [DUR] (x [DUR], [DUR]) 3s 1.5x v1.2s"
    );
}

// ---------------------------------------------------------------- --events

fn events_validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schemas/events.schema.json"))
        .expect("schemas/events.schema.json");
    let schema: Value = serde_json::from_str(&text).expect("the events schema is JSON");
    jsonschema::draft7::new(&schema).expect("a valid draft-07 schema")
}

/// Parse JSON Lines, checking each against the committed schema.
fn parse_events(text: &str) -> Vec<Value> {
    let validator = events_validator();
    text.lines()
        .map(|line| {
            let ev: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: not JSON: {line}"));
            let errors: Vec<String> = validator
                .iter_errors(&ev)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{line}\n{}", errors.join("\n"));
            ev
        })
        .collect()
}

fn kind(ev: &Value) -> &str {
    ev["event"].as_str().expect("an event name")
}

/// The counts of a summary line: `jobrun: 5 units in 0.02s: 3 ok, 1 failed`.
fn summary_counts(err: &str) -> BTreeMap<String, u64> {
    let line = err
        .lines()
        .find(|l| l.starts_with("jobrun: ") && l.contains(" in "))
        .unwrap_or_else(|| panic!("no summary line:\n{err}"));
    let (_, counts) = line.split_once(": ").expect("jobrun: ");
    let (_, counts) = counts.split_once(": ").expect("counts after the time");
    counts
        .split(", ")
        .map(|part| {
            let (n, outcome) = part.split_once(' ').expect("N outcome");
            (outcome.to_owned(), n.parse().expect("a count"))
        })
        .collect()
}

/// Order and counts: job_started first, job_finished last, every unit
/// finished once and after its start, and the counts agree everywhere.
fn check_events(events: &[Value], err: &str) {
    assert!(events.len() >= 2, "{events:?}");
    assert_eq!(kind(&events[0]), "job_started");
    assert_eq!(kind(events.last().unwrap()), "job_finished");
    for ev in &events[1..events.len() - 1] {
        assert!(
            !matches!(kind(ev), "job_started" | "job_finished"),
            "{ev} in the middle"
        );
    }
    let mut started: BTreeMap<&str, usize> = BTreeMap::new();
    let mut finished: BTreeMap<&str, &Value> = BTreeMap::new();
    let mut by_outcome: BTreeMap<String, u64> = BTreeMap::new();
    for ev in events {
        match kind(ev) {
            "unit_started" => {
                let id = ev["id"].as_str().unwrap();
                assert!(!finished.contains_key(id), "{id} started after it finished");
                *started.entry(id).or_default() += 1;
            }
            "unit_finished" => {
                let id = ev["id"].as_str().unwrap();
                assert!(finished.insert(id, ev).is_none(), "{id} finished twice");
                let attempts = ev["attempts"].as_u64().unwrap();
                assert_eq!(
                    started.get(id).copied().unwrap_or(0) as u64,
                    attempts,
                    "{id}: one unit_started per attempt, before unit_finished"
                );
                let outcome = ev["outcome"].as_str().unwrap().to_owned();
                *by_outcome.entry(outcome).or_default() += 1;
            }
            _ => {}
        }
    }
    assert_eq!(
        finished.len() as u64,
        events[0]["units"].as_u64().unwrap(),
        "one unit_finished per selected unit"
    );
    let job_counts: BTreeMap<String, u64> = events.last().unwrap()["counts"]
        .as_object()
        .expect("counts")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(
        job_counts, by_outcome,
        "job_finished counts vs unit_finished"
    );
    assert_eq!(
        job_counts,
        summary_counts(err),
        "job_finished counts vs summary"
    );
}

#[test]
fn events_file_follows_the_schema_and_agrees_with_the_summary() {
    let job = Job::new(FAILING);
    let out = job.run(&["--progress", "plain", "--events", "events.jsonl"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let events = parse_events(&job.read("events.jsonl"));
    check_events(&events, &stderr(&out));
    let last = events.last().unwrap();
    assert_eq!(last["exit_code"], 1);
    assert_eq!(
        summary_counts(&stderr(&out)),
        BTreeMap::from([
            ("ok".to_owned(), 3),
            ("failed".to_owned(), 1),
            ("skipped".to_owned(), 1)
        ])
    );
    let failed: Vec<&Value> = events
        .iter()
        .filter(|e| kind(e) == "unit_finished" && e["outcome"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["id"], "test[n=2]");
    assert_eq!(failed[0]["exit_code"], 1);
    let log = failed[0]["log"].as_str().expect("a log path");
    assert!(
        std::fs::read_to_string(log).is_ok_and(|l| l.contains("oops")),
        "{log}"
    );
}

#[test]
fn events_to_stdout() {
    let job = Job::new(FAILING);
    let out = job.run(&["--progress", "plain", "--output", "none", "--events", "-"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let events = parse_events(&stdout(&out));
    check_events(&events, &stderr(&out));
    assert_eq!(
        events.iter().filter(|e| kind(e) == "unit_finished").count(),
        5
    );
}

#[test]
fn events_schema_command_matches_the_committed_file() {
    let out = jobrun()
        .args(["schema", "events"])
        .output()
        .expect("run jobrun");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let committed = std::fs::read_to_string(root().join("schemas/events.schema.json"))
        .expect("schemas/events.schema.json");
    assert!(
        stdout(&out) == committed,
        "schemas/events.schema.json is out of date; regenerate it with\n\n    \
         cargo run -- schema events > schemas/events.schema.json\n"
    );
}

// ---------------------------------------------------------------- --junit

#[test]
fn junit_report_has_a_suite_per_task_and_a_case_per_unit() {
    // check[i=2] fails and aborts the run (workers = 1): check[i=3],
    // summarize and lint are cancelled.
    let job = Job::new(indoc! {r#"
        [job]
        workers = 1
        [[task]]
        name = "check"
        matrix.i = [1, 2, 3]
        shell = "echo checking {i}; echo 'a <tag> & \"quote\"'; test {i} -ne 2"
        [[task]]
        name = "summarize"
        needs = ["check"]
        shell = "echo summary"
        [[task]]
        name = "lint"
        shell = "echo linting"
    "#});
    let out = job.run(&["--junit", "report.xml", "--events", "events.jsonl"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let events = parse_events(&job.read("events.jsonl"));
    let outcomes: BTreeMap<String, String> = events
        .iter()
        .filter(|e| kind(e) == "unit_finished")
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(outcomes["check[i=1]"], "ok");
    assert_eq!(outcomes["check[i=2]"], "failed");
    assert_eq!(outcomes["check[i=3]"], "cancelled");

    let xml = job.read("report.xml");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let attr = |n: roxmltree::Node, a: &str| -> usize {
        n.attribute(a)
            .unwrap_or_else(|| panic!("no {a}"))
            .parse()
            .unwrap()
    };
    let suites: Vec<roxmltree::Node> = root.children().filter(|n| n.is_element()).collect();
    let names: Vec<&str> = suites
        .iter()
        .map(|s| s.attribute("name").unwrap())
        .collect();
    assert_eq!(names, ["check", "summarize", "lint"]);
    let (mut failures, mut skipped, mut tests) = (0, 0, 0);
    let mut seen = Vec::new();
    for suite in &suites {
        assert_eq!(suite.tag_name().name(), "testsuite");
        let cases: Vec<roxmltree::Node> = suite.children().filter(|n| n.is_element()).collect();
        assert_eq!(attr(*suite, "tests"), cases.len());
        let (mut f, mut s) = (0, 0);
        for case in cases {
            assert_eq!(case.tag_name().name(), "testcase");
            let id = case.attribute("name").unwrap().to_owned();
            assert_eq!(case.attribute("classname"), suite.attribute("name"));
            let status: Vec<roxmltree::Node> = case.children().filter(|n| n.is_element()).collect();
            match outcomes[&id].as_str() {
                "ok" => assert!(status.is_empty(), "{id}: {status:?}"),
                "failed" | "timed_out" | "killed" => {
                    assert_eq!(status.len(), 1, "{id}");
                    assert_eq!(status[0].tag_name().name(), "failure");
                    assert_eq!(status[0].attribute("message"), Some("failed: exit code 1"));
                    let text = status[0].text().unwrap_or_default();
                    assert_eq!(text, "checking 2\na <tag> & \"quote\"\n", "{id}");
                    f += 1;
                }
                other => {
                    assert_eq!(status.len(), 1, "{id}");
                    assert_eq!(status[0].tag_name().name(), "skipped");
                    assert_eq!(status[0].attribute("message"), Some(other));
                    s += 1;
                }
            }
            seen.push(id);
        }
        assert_eq!(attr(*suite, "failures"), f, "{:?}", suite.attribute("name"));
        assert_eq!(attr(*suite, "skipped"), s, "{:?}", suite.attribute("name"));
        failures += f;
        skipped += s;
        tests += attr(*suite, "tests");
    }
    assert_eq!(attr(root, "tests"), tests);
    assert_eq!(attr(root, "failures"), failures);
    assert_eq!(attr(root, "skipped"), skipped);
    assert_eq!((tests, failures, skipped), (5, 1, 3));
    let mut ids: Vec<String> = outcomes.keys().cloned().collect();
    ids.sort();
    seen.sort();
    assert_eq!(seen, ids, "one testcase per unit");
}

// ---------------------------------------------------------------- output modes

#[test]
fn line_mode_never_mixes_units_within_a_line() {
    const UNITS: usize = 8;
    const LINES: usize = 2000;
    let filler = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(12);
    let job = Job::new(&format!(
        indoc! {r#"
            [job]
            workers = {units}
            output = "line"
            [[task]]
            name = "chatty"
            matrix.n = {{ range = [0, {units}] }}
            shell = "i=0; while [ $i -lt {lines} ]; do echo \"unit-{{n}} line-$i {filler}\"; i=$((i+1)); done"
        "#},
        units = UNITS,
        lines = LINES,
        filler = filler,
    ));
    // Streamed, not collected: the test stays small next to the RSS tests.
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("jobrun"))
        .current_dir(job.path())
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .args(["--progress", "none", "job.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jobrun");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let mut next = [0usize; UNITS];
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut raw = Vec::new();
    while reader.read_until(b'\n', &mut raw).expect("read stdout") > 0 {
        let line = String::from_utf8_lossy(&raw);
        let line = line.strip_suffix('\n').expect("whole lines");
        let (id, text) = line
            .strip_prefix("[chatty[n=")
            .and_then(|l| l.split_once("]] "))
            .unwrap_or_else(|| panic!("not `[unit-id] line`: {line:.120}"));
        let n: usize = id.parse().unwrap_or_else(|_| panic!("bad id: {line:.120}"));
        let want = format!("unit-{n} line-{} {filler}", next[n]);
        assert!(text == want, "unit {n}, line {}: {line:.200}", next[n]);
        next[n] += 1;
        raw.clear();
    }
    let status = child.wait().expect("wait");
    let err = err_reader.join().expect("stderr reader");
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(next, [LINES; UNITS], "every line of every unit, in order");
}

#[test]
fn keep_order_prints_blocks_in_plan_order() {
    // Units finish in reverse plan order: each `a` waits until the next one
    // has finished, a[i=3] waits for z (the last unit), a[i=1] prints nothing,
    // `slow` times out and `missing` cannot start.
    let job = Job::new(indoc! {r#"
        [job]
        workers = 8
        on_failure = "continue"
        output = "all"
        keep_order = true
        [[task]]
        name = "a"
        matrix.i = [0, 1, 2, 3]
        shell = """
        if [ {i} = 3 ]; then ./wait-for z; else ./wait-for a$(({i} + 1)); fi
        if [ {i} != 1 ]; then echo a{i} one; echo a{i} two; fi
        echo a{i} >> finished
        """
        [[task]]
        name = "slow"
        timeout = "500ms"
        shell = "echo slow before the timeout; sleep 30"
        [[task]]
        name = "missing"
        run = ["no-such-program-jobrun-test"]
        [[task]]
        name = "z"
        shell = "echo z only; echo z >> finished"
    "#});
    job.file(
        "wait-for",
        indoc! {r#"
            #!/bin/sh
            n=0
            until grep -qx "$1" finished 2>/dev/null; do
                n=$((n + 1)); [ $n -lt 1000 ] || exit 9
                sleep 0.01
            done
        "#},
    );
    std::fs::set_permissions(
        job.path().join("wait-for"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let out = job.run(&["--progress", "plain"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        lines(job.path().join("finished")),
        ["z", "a3", "a2", "a1", "a0"],
        "units finished out of plan order"
    );
    assert!(
        stderr(&out).contains("5 ok, 1 failed, 1 timed_out"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        stdout(&out),
        indoc! {"
            --- a[i=0] ---
            a0 one
            a0 two
            --- a[i=2] ---
            a2 one
            a2 two
            --- a[i=3] ---
            a3 one
            a3 two
            --- slow ---
            slow before the timeout
            --- missing ---
            jobrun: cannot start `no-such-program-jobrun-test`: command not found
            --- z ---
            z only
        "}
    );
}

#[test]
fn github_actions_annotations_and_groups() {
    let job = Job::new(FAILING);
    let out = job
        .cmd(&["--progress", "plain"])
        .env("GITHUB_ACTIONS", "true")
        .output()
        .expect("run jobrun");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("::error")).collect();
    assert_eq!(
        errors,
        ["::error title=jobrun job::test[n=2] failed: exit code 1"],
        "{err}"
    );
    assert_eq!(
        stdout(&out),
        "::group::test[n=2] output\ntesting 2\nline two\noops\n::endgroup::\n"
    );
}

// ---------------------------------------------------------------- memory

/// Bytes a unit writes in the memory tests.
const FLOOD: u64 = 300_000_000;
/// jobrun's own peak resident set must stay below this, whatever a unit prints.
const MAX_RSS_KIB: i64 = 50 * 1024;

/// Run `jobrun ARGS job.toml` in `job`, reap it with wait4, and return its exit
/// code and peak RSS in KiB. With `slow_reader`, stdout is a pipe nobody reads
/// for the first seconds, so output backs up inside jobrun.
///
/// Linux carries the parent's peak into a child's `ru_maxrss` when the child
/// execs, so this test process must stay small (the other tests here stream
/// what they read); the failure message shows its own peak to tell the two apart.
fn peak_rss(job: &Job, args: &[&str], slow_reader: bool) -> (i32, i64) {
    // Reaped below by wait4, which `Child::wait` cannot replace: it drops the rusage.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("jobrun"))
        .current_dir(job.path())
        .env("NO_COLOR", "1")
        .env_remove("GITHUB_ACTIONS")
        .args(args)
        .arg("job.toml")
        .stdout(if slow_reader {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn jobrun");
    let drain = child.stdout.take().map(|mut pipe| {
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(2));
            let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        })
    });
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waiting for our own child, with valid out-pointers.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "wait4: {e}");
    }
    if let Some(t) = drain {
        t.join().expect("stdout reader");
    }
    assert!(libc::WIFEXITED(status), "jobrun died: status {status}");
    (libc::WEXITSTATUS(status), usage.ru_maxrss)
}

/// This process's own peak RSS in KiB (`VmHWM`).
fn own_peak_kib() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .unwrap_or("VmHWM: unknown")
        .to_owned()
}

fn assert_small(what: &str, kib: i64) {
    assert!(
        kib < MAX_RSS_KIB,
        "{what}: jobrun's peak RSS was {kib} KiB (limit {MAX_RSS_KIB} KiB); the test \
         process's own peak, which counts too if it is larger ({}), grows when \
         another test panics and symbolizes a backtrace: run this test alone",
        own_peak_kib()
    );
}

#[test]
fn a_flood_of_output_costs_little_memory() {
    // Failing, so the output tail is read for the block and the JUnit report.
    let job = Job::new(&format!(
        "[[task]]\nname = \"flood\"\nshell = \"yes | head -c {FLOOD}; exit 1\"\n"
    ));
    let (code, kib) = peak_rss(&job, &["--progress", "plain", "--junit", "j.xml"], false);
    assert_eq!(code, 1);
    let log = job.path().join(".jobrun/logs/job/flood.log");
    assert_eq!(std::fs::metadata(&log).map(|m| m.len()).ok(), Some(FLOOD));
    assert_small("output = failed", kib);
}

#[test]
fn a_flood_of_lines_costs_little_memory_in_line_mode() {
    let job = Job::new(&format!(
        "[[task]]\nname = \"flood\"\nshell = \"yes {} | head -c {FLOOD}\"\n",
        "0123456789".repeat(10)
    ));
    let (code, kib) = peak_rss(&job, &["--progress", "plain", "--output", "line"], false);
    assert_eq!(code, 0);
    assert_small("output = line, 100-byte lines", kib);
}

#[test]
fn output_without_newlines_backing_up_costs_little_memory_in_line_mode() {
    // No newline at all: lines are cut into pieces, and those wait in the
    // event channel while stdout is not read.
    let job = Job::new(&format!(
        "[[task]]\nname = \"flood\"\nshell = \"head -c {FLOOD} /dev/zero\"\n"
    ));
    let (code, kib) = peak_rss(&job, &["--progress", "plain", "--output", "line"], true);
    assert_eq!(code, 0);
    assert_small("output = line, no newlines, slow reader", kib);
}

// ---------------------------------------------------------------- report files that cannot be written

#[test]
fn a_report_that_cannot_be_written_is_exit_3_after_the_run() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "t"
        matrix.i = [1, 2, 3]
        shell = "echo {i} >> ran"
    "#});
    for flag in ["--junit", "--events"] {
        std::fs::remove_dir_all(job.path().join(".jobrun")).ok();
        std::fs::remove_file(job.path().join("ran")).ok();
        let out = job.run(&["-q", flag, "/dev/full"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{flag}: {err}");
        assert!(
            err.contains("cannot write") && err.contains("`/dev/full`"),
            "{flag}: {err}"
        );
        assert!(err.contains("No space left on device"), "{flag}: {err}");
        // The units still ran and are journaled: a rerun has nothing to do.
        assert_eq!(job.read("ran").lines().count(), 3, "{flag}");
        let again = job.run(&["-q"]);
        assert_eq!(again.status.code(), Some(0), "{flag}: {}", stderr(&again));
        assert_eq!(job.read("ran").lines().count(), 3, "{flag}");
    }
}

#[test]
fn events_to_a_closed_pipe_keep_the_runs_exit_code() {
    // `jobrun --events - job.toml | head -c 10`: the reader goes away early.
    let job = Job::new(indoc! {r#"
        [job]
        workers = 1
        on_failure = "continue"
        [[task]]
        name = "t"
        matrix.i = [1, 2, 3]
        shell = "sleep 0.2; test {i} -ne 3"
    "#});
    let mut child = job
        .process(&["-q", "--events", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = [0u8; 10];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("the first event");
    // The pipe's read end is closed here; later events hit EPIPE.
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn printing_commands_end_quietly_on_a_closed_pipe_and_fail_cleanly_on_a_full_disk() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "t"
        run = ["true"]
    "#});
    for args in [
        &["schema"][..],
        &["schema", "events"],
        &["completions", "bash"],
        &["check", "job.toml"],
    ] {
        // stdout is a pipe whose read end is already closed.
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("jobrun"));
        c.current_dir(job.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{args:?}");

        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = Command::new(assert_cmd::cargo::cargo_bin("jobrun"))
            .current_dir(job.path())
            .args(args)
            .stdout(full)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("cannot write to stdout"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_closed_stdout_keeps_the_failure_lines_and_summary_on_stderr() {
    // `jobrun job.toml 2>log | head -1`: only unit output is cut short.
    let job = Job::new(indoc! {r#"
        [job]
        workers = 1
        output = "all"
        on_failure = "continue"
        [[task]]
        name = "t"
        matrix.i = [1, 2, 3, 4, 5]
        shell = "echo out-{i}; test {i} -ne 3"
    "#});
    let mut child = job
        .process(&["--progress", "plain"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("FAIL t[i=3]"), "{err}");
    assert!(err.contains("4 ok, 1 failed"), "{err}");
}

#[test]
fn line_mode_ends_a_unit_with_its_main_process_despite_a_chatty_background() {
    // A background process keeps the output pipe busy; as without capture,
    // the unit ends when its main process does, and the rest of its group goes.
    let job = Job::new(indoc! {r#"
        [job]
        output = "line"
        timeout = "60s"
        [[task]]
        name = "t"
        shell = "(while :; do echo x; sleep 0.01; done) & sleep 0.3; exit 0"
    "#});
    let mut child = job
        .process(&[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut status = None;
    for _ in 0..600 {
        if let Some(s) = child.try_wait().expect("try_wait") {
            status = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    if status.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("1 ok"), "{}", stderr(&out));
}
