//! Looking back at a run: `status`, `logs`, `report` (HTML and trace),
//! `plan --dot/--mermaid`, retries in the summary and JUnit, `--keep-order`.
//!
//! The browser and Graphviz checks run with `JOBRUN_TEST_BROWSER=1` (set by
//! .ci/run), and then fail, never skip, when `chromium` or `dot` is missing.

use indoc::indoc;

use crate::support::{Job, stderr, stdout};

/// 30 units on 3 workers: `step[i=7]` fails both its attempts, `step[i=4]`
/// passes on its second: 32 attempts.
const THIRTY: &str = indoc! {r#"
    [job]
    workers = 3
    on_failure = "continue"
    retry_delay = "10ms"
    [vars]
    tag = "first"
    [[task]]
    name = "step"
    matrix.i = { range = [0, 30] }
    retries = 1
    shell = """
    echo step {i} attempt $JOBRUN_ATTEMPT {tag}
    if [ {i} = 7 ]; then exit 3; fi
    if [ {i} = 4 ] && [ $JOBRUN_ATTEMPT = 1 ]; then exit 1; fi
    true
    """
"#};

fn thirty() -> Job {
    let job = Job::new(THIRTY);
    let out = job.run(&["--progress", "plain"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    job
}

fn browser_tests() -> bool {
    std::env::var("JOBRUN_TEST_BROWSER").is_ok_and(|v| v == "1")
}

/// The program, or None (skip) when the browser tests are off; a missing
/// program with them on fails the test.
fn tool<'a>(program: &'a str, version_flag: &str) -> Option<&'a str> {
    if !browser_tests() {
        eprintln!("skipped: set JOBRUN_TEST_BROWSER=1 to run it with `{program}`");
        return None;
    }
    let here = std::process::Command::new(program)
        .arg(version_flag)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(here, "JOBRUN_TEST_BROWSER=1 but `{program}` cannot run");
    Some(program)
}

// ------------------------------------------------------------------ status

#[test]
fn status_before_any_run_says_not_run_and_exits_1() {
    let job = Job::new(THIRTY);
    let out = job.sub("status", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).ends_with("30 units: 30 not_run\n"),
        "{}",
        stdout(&out)
    );
    assert!(
        !job.path().join(".jobrun").exists(),
        "status writes nothing"
    );
}

#[test]
fn status_shows_each_units_last_outcome_attempts_and_log() {
    let job = thirty();
    let out = job.sub("status", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("UNIT"), "{text}");
    assert_eq!(lines.len(), 32, "header, 30 units, counts: {text}");
    let row = |id: &str| -> Vec<&str> {
        let l = lines
            .iter()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no {id} in {text}"));
        l.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect()
    };
    let failed = row("step[i=7]");
    assert_eq!(failed[1..3], ["failed (exit 3)", "2"], "{failed:?}");
    assert!(
        failed[5].ends_with(".jobrun/logs/job/step[i=7].log"),
        "{failed:?}"
    );
    assert_eq!(row("step[i=4]")[1..3], ["ok", "2"]);
    assert_eq!(row("step[i=0]")[1..3], ["ok", "1"]);
    assert!(text.ends_with("30 units: 29 ok, 1 failed\n"), "{text}");

    let out = job.sub("status", &["--failed"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("step[i=7]"), "{text}");

    // What is selected decides the exit code.
    let out = job.sub("status", &["--only", "step[i=1*"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn status_json_has_the_counts_and_one_object_per_unit() {
    let job = thirty();
    let out = job.sub("status", &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["counts"]["ok"], 29);
    assert_eq!(doc["counts"]["failed"], 1);
    let units = doc["units"].as_array().expect("units");
    assert_eq!(units.len(), 30);
    let seven = units
        .iter()
        .find(|u| u["id"] == "step[i=7]")
        .expect("step[i=7]");
    assert_eq!(seven["outcome"], "failed");
    assert_eq!(seven["attempts"], 2);
    assert_eq!(seven["exit"], 3);
    assert!(seven["start_ms"].as_u64().is_some() && seven["log"].is_string());
}

#[test]
fn status_of_a_bad_manifest_is_a_usage_error() {
    let job = Job::new("[job]\nworker = 2\n");
    let out = job.sub("status", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("workers"), "{}", stderr(&out));
}

// -------------------------------------------------------------------- logs

#[test]
fn logs_prints_a_units_log_or_one_attempt_of_it() {
    let job = thirty();
    let all = job.sub("logs", &[]); // no unit: clap's usage error
    assert_eq!(all.status.code(), Some(2));

    let logs = |args: &[&str]| {
        let mut c = crate::support::jobrun();
        c.current_dir(job.path())
            .arg("logs")
            .arg("job.toml")
            .args(args);
        c.output().expect("run jobrun")
    };
    let out = logs(&["step[i=4]"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("step 4 attempt 1 first\n") && text.contains("step 4 attempt 2 first"),
        "{text}"
    );
    let out = logs(&["step[i=4]", "--attempt", "1"]);
    assert_eq!(stdout(&out), "step 4 attempt 1 first\n");
    let out = logs(&["step[i=4]", "--attempt", "2"]);
    assert_eq!(stdout(&out), "step 4 attempt 2 first\n");
    let out = logs(&["step[i=4]", "--attempt", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no attempt 3"), "{}", stderr(&out));

    // A pattern that matches one unit names it; more lists them.
    let out = logs(&["step[i=2?]", "--attempt", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("matches 10 units") && err.contains("\n  step[i=29]"),
        "{err}"
    );
    let out = logs(&["st*[i=29]"]);
    assert_eq!(
        stdout(&out),
        "step 29 attempt 1 first\n",
        "{}",
        stderr(&out)
    );
    let out = logs(&["nothing-like-it"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("matches no unit"), "{}", stderr(&out));
}

#[test]
fn logs_of_earlier_runs_are_kept_three_runs_deep() {
    let job = thirty();
    for tag in ["second", "third", "fourth"] {
        let var = format!("tag={tag}");
        let out = job.run(&["--only", "step[i=1]", "--var", &var]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let logs = |args: &[&str]| {
        let mut c = crate::support::jobrun();
        c.current_dir(job.path())
            .args(["logs", "job.toml", "step[i=1]"])
            .args(args);
        c.output().expect("run jobrun")
    };
    assert_eq!(stdout(&logs(&[])), "step 1 attempt 1 fourth\n");
    assert_eq!(
        stdout(&logs(&["--previous", "1"])),
        "step 1 attempt 1 third\n"
    );
    assert_eq!(
        stdout(&logs(&["--previous", "2"])),
        "step 1 attempt 1 second\n"
    );
    assert_eq!(
        logs(&["--previous", "3"]).status.code(),
        Some(2),
        "at most 2 back"
    );
    let kept = std::fs::read_dir(job.path().join(".jobrun/logs/job"))
        .expect("logs")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("step[i=1]."))
        .count();
    assert_eq!(kept, 3, "the oldest log is dropped");
    // An old log is cut into attempts as well.
    let out = crate::support::jobrun()
        .current_dir(job.path())
        .args([
            "logs",
            "job.toml",
            "step[i=1]",
            "--previous",
            "2",
            "--attempt",
            "2",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

// ------------------------------------------------------- retries, keep-order

#[test]
fn the_summary_and_junit_name_units_that_needed_retries() {
    let job = Job::new(THIRTY);
    let out = job.run(&["--progress", "plain", "--junit", "j.xml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("ok   step[i=4] "), "{err}");
    assert!(err.contains("(ok after 2 attempts)"), "{err}");
    assert!(
        err.contains("needed retries (flaky): 1: step[i=4] ok after 2 attempts"),
        "{err}"
    );
    let xml = job.read("j.xml");
    let doc = roxmltree::Document::parse(&xml).expect("xml");
    let case = |id: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(id))
            .unwrap_or_else(|| panic!("no {id}"))
    };
    let flaky: Vec<_> = case("step[i=4]")
        .children()
        .filter(|n| n.has_tag_name("flakyFailure"))
        .collect();
    assert_eq!(flaky.len(), 1, "{xml}");
    assert!(
        case("step[i=4]")
            .children()
            .all(|n| !n.has_tag_name("failure"))
    );
    let seven = case("step[i=7]");
    assert!(seven.children().any(|n| n.has_tag_name("failure")), "{xml}");
    assert!(
        seven.children().any(|n| n.has_tag_name("rerunFailure")),
        "{xml}"
    );
}

#[test]
fn keep_order_is_a_run_flag_too() {
    // The first unit ends last; with --keep-order its block still comes first.
    let job = Job::new(indoc! {r#"
        [job]
        workers = 3
        [[task]]
        name = "t"
        matrix.i = [0, 1, 2]
        shell = "if [ {i} = 0 ]; then until [ -e done2 ]; do sleep 0.01; done; fi; echo out{i}; touch done{i}"
    "#});
    let out = job.run(&["--output", "all", "--keep-order"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let blocks: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| l.starts_with("out"))
        .map(str::to_owned)
        .collect();
    assert_eq!(blocks, ["out0", "out1", "out2"]);
}

// ------------------------------------------------------------------- graphs

const PIPELINE: &str = indoc! {r#"
    [[task]]
    name = "fetch"
    matrix.file = ["a b", "c\"d"]
    run = ["true"]
    [[task]]
    name = "resize"
    matrix.file = ["a b", "c\"d"]
    matrix.size = [64, 256]
    needs = ["fetch"]
    run = ["true"]
    [[task]]
    name = "report"
    needs = ["resize"]
    run = ["true"]
"#};

#[test]
fn plan_dot_and_mermaid_draw_the_task_graph_with_matched_keys() {
    let job = Job::new(PIPELINE);
    let out = job.sub("plan", &["--dot"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dot = stdout(&out);
    assert!(dot.starts_with("digraph \"job\" {"), "{dot}");
    assert!(dot.contains("n0 [label=\"fetch\\n2 units\"];"), "{dot}");
    assert!(dot.contains("n0 -> n1 [label=\"file\"];"), "{dot}");
    assert!(dot.contains("n1 -> n2 [label=\"all\"];"), "{dot}");

    let out = job.sub("plan", &["--mermaid"]);
    let mermaid = stdout(&out);
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    assert!(mermaid.contains("n0 -->|\"file\"| n1"), "{mermaid}");

    let out = job.sub("plan", &["--mermaid", "--units"]);
    let units = stdout(&out);
    assert!(
        units.contains("[\"resize[file=c#quot;d,size=64]\"]"),
        "{units}"
    );
    assert_eq!(units.matches("-->").count(), 4 + 4, "{units}");

    let out = job.sub("plan", &["--units"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--dot or --mermaid"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_unit_graph_too_big_to_draw_is_refused() {
    let job =
        Job::new("[[task]]\nname = \"t\"\nmatrix.i = { range = [0, 2001] }\nrun = [\"true\"]\n");
    let out = job.sub("plan", &["--dot", "--units"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("too many to draw"),
        "{}",
        stderr(&out)
    );
    assert_eq!(job.sub("plan", &["--dot"]).status.code(), Some(0));
}

#[test]
fn graphviz_accepts_the_dot_output() {
    let Some(dot) = tool("dot", "-V") else { return };
    let job = Job::new(PIPELINE);
    for args in [&["--dot"][..], &["--dot", "--units"]] {
        let out = job.sub("plan", args);
        let file = job.path().join("graph.dot");
        std::fs::write(&file, &out.stdout).expect("write");
        let svg = std::process::Command::new(dot)
            .arg("-Tsvg")
            .arg(&file)
            .output()
            .expect("dot");
        assert!(
            svg.status.success(),
            "{}",
            String::from_utf8_lossy(&svg.stderr)
        );
        assert!(String::from_utf8_lossy(&svg.stdout).contains("<svg"));
    }
}

// ------------------------------------------------------------ report, trace

#[test]
fn report_needs_somewhere_to_write() {
    let job = thirty();
    let out = job.sub("report", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("-o report.html"), "{}", stderr(&out));
    let out = job.sub("report", &["-o", "no/such/dir/r.html"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn a_report_before_any_run_is_empty_and_says_so() {
    let job = Job::new(THIRTY);
    let out = job.sub("report", &["-o", "r.html"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("report is empty"), "{}", stderr(&out));
    assert!(job.read("r.html").contains("\"attempts\":0"));
}

#[test]
fn the_trace_has_an_event_per_attempt_on_its_worker_and_a_running_counter() {
    let job = thirty();
    let out = job.sub("report", &["--trace", "trace.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let trace: serde_json::Value =
        serde_json::from_str(&job.read("trace.json")).expect("trace JSON");
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    let of = |ph: &'static str| events.iter().filter(move |e| e["ph"] == ph);
    assert_eq!(of("X").count(), 32, "one per attempt");
    for e in of("X") {
        for field in ["ts", "dur", "pid", "tid"] {
            assert!(e[field].is_u64(), "{field} in {e}");
        }
        let tid = e["tid"].as_u64().unwrap_or(0);
        assert!((1..=3).contains(&tid), "tid is the worker slot: {e}");
        assert!(e["name"].as_str().is_some_and(|n| n.starts_with("step[i=")));
    }
    assert_eq!(
        of("X").filter(|e| e["name"] == "step[i=4]").count(),
        2,
        "both attempts"
    );
    let counters: Vec<u64> = of("C")
        .map(|e| {
            assert!(e["ts"].is_u64() && e["pid"].is_u64(), "{e}");
            e["args"]["running"].as_u64().expect("running")
        })
        .collect();
    assert!(!counters.is_empty());
    assert!(counters.iter().all(|&n| n <= 3), "{counters:?}");
    assert_eq!(counters.last(), Some(&0));
}

#[test]
fn the_report_is_one_self_contained_file() {
    let job = thirty();
    let out = job.sub("report", &["-o", "report.html"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = job.read("report.html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    for outside in ["http://", "https://", "src=", "@import", "url("] {
        assert!(!html.contains(outside), "refers outside: {outside}");
    }
    assert!(html.contains("<canvas id=\"timeline\""));
    // The failure's log tail is in the page.
    assert!(html.contains("step 7 attempt 2 first"));
}

/// A run of 100,000 units, written straight into the journal: the page
/// stays a fixed set of elements (the timeline is a canvas) and its size
/// linear and modest.
#[test]
fn a_report_of_100000_units_aggregates() {
    let job =
        Job::new("[[task]]\nname = \"t\"\nmatrix.i = { range = [0, 100000] }\nrun = [\"true\"]\n");
    let mut journal = String::new();
    for i in 0..100_000u64 {
        let outcome = if i % 1000 == 7 { "failed" } else { "ok" };
        journal.push_str(&format!(
            "{{\"id\":\"t[i={i}]\",\"attempt\":1,\"outcome\":\"{outcome}\",\"exit\":0,\
             \"start_ms\":{},\"duration_ms\":{},\"fp\":\"f\",\"cmd\":\"c\",\"run\":1,\"worker\":{}}}\n",
            1_700_000_000_000 + i * 5,
            20 + i % 17,
            i % 4 + 1
        ));
    }
    job.file(".jobrun/job.journal", journal);
    let out = job.sub("report", &["-o", "big.html", "--trace", "big.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = job.read("big.html");
    assert!(html.len() < 12 << 20, "{} bytes", html.len());
    assert!(html.matches("<tr").count() < 200, "rows are capped");
    assert!(
        html.matches("<pre").count() < 10,
        "tails are drawn by script, capped"
    );
    if let Some(chromium) = tool("chromium", "--version") {
        let dom = dump_dom(chromium, &job.path().join("big.html"));
        assert_eq!(bar_count(&dom), Some(100_000));
        assert_eq!(page_errors(&dom), "");
    }
}

fn dump_dom(chromium: &str, page: &std::path::Path) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "{}", stderr(&out));
    // Console messages (errors included) are logged as `CONSOLE(...)`.
    let log = stderr(&out);
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console output: {console:?}");
    stdout(&out)
}

fn bar_count(dom: &str) -> Option<usize> {
    let at = dom.find("data-bars=\"")? + "data-bars=\"".len();
    dom[at..].split('"').next()?.parse().ok()
}

/// What the page's error handler wrote.
fn page_errors(dom: &str) -> &str {
    let open = "<pre id=\"errors\">";
    dom.find(open)
        .and_then(|at| dom[at + open.len()..].split("</pre>").next())
        .unwrap_or("no error element")
}

#[test]
fn the_report_loads_in_chromium_with_a_bar_per_attempt() {
    let Some(chromium) = tool("chromium", "--version") else {
        return;
    };
    let job = thirty();
    let out = job.sub("report", &["-o", "report.html"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dom = dump_dom(chromium, &job.path().join("report.html"));
    assert_eq!(page_errors(&dom), "");
    assert_eq!(
        bar_count(&dom),
        Some(32),
        "30 units, one retried, one failed twice"
    );
    assert!(
        dom.contains("step[i=7] — failed, exit 3, 2 attempts"),
        "{dom}"
    );
}
