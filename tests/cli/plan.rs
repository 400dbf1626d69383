//! `jobrun plan`, `plan --json`, `plan --count`, `check` and `--dry-run`:
//! they show the plan and never run or write anything.

use indoc::indoc;
use serde_json::{Value, json};

use crate::support::{Job, lines, stderr, stdout};

const PIPELINE: &str = indoc! {r#"
    [vars]
    src = "in"
    [[task]]
    name = "resize"
    matrix.file = { glob = "{src}/*.jpg" }
    matrix.size = [64, 256]
    run = ["convert", "{file}", "-resize", "{size}", "out/{file.stem}-{size}.png"]
    needs = ["fetch"]
    [[task]]
    name = "fetch"
    matrix.file = { glob = "{src}/*.jpg" }
    shell = "touch {file} > fetched"
    dir = "sub"
    [[task]]
    name = "report"
    run = ["echo", "done"]
    needs = ["resize"]
"#};

fn pipeline() -> Job {
    let job = Job::new(PIPELINE);
    job.file("in/b.jpg", "")
        .file("in/a b.jpg", "")
        .file("sub/.keep", "");
    job
}

fn json_lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn plan_table_lists_units_in_plan_order() {
    let job = pipeline();
    let out = job.sub("plan", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let ids: Vec<String> = stdout(&out)
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .nth(1)
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        ids,
        [
            "resize[file=in/a b.jpg,size=64]",
            "resize[file=in/a b.jpg,size=256]",
            "resize[file=in/b.jpg,size=64]",
            "resize[file=in/b.jpg,size=256]",
            "fetch[file=in/a b.jpg]",
            "fetch[file=in/b.jpg]",
            "report",
        ]
    );
    assert!(stdout(&out).contains("convert 'in/a b.jpg' -resize 64 'out/a b-64.png'"));
    assert!(!job.path().join(".jobrun").exists());
    assert!(!job.path().join("fetched").exists());
}

#[test]
fn plan_json_has_every_field() {
    let job = pipeline();
    let out = job.sub("plan", &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let units = json_lines(&stdout(&out));
    assert_eq!(units.len(), 7);
    let root = job.path().canonicalize().unwrap();
    let root = root.to_str().unwrap();
    assert_eq!(
        units[1],
        json!({
            "id": "resize[file=in/a b.jpg,size=256]",
            "task": "resize",
            "index": 1,
            "keys": { "file": "in/a b.jpg", "size": "256" },
            "argv": ["convert", "in/a b.jpg", "-resize", "256", "out/a b-256.png"],
            "dir": root,
            "needs": ["fetch[file=in/a b.jpg]"],
        })
    );
    assert_eq!(
        units[4],
        json!({
            "id": "fetch[file=in/a b.jpg]",
            "task": "fetch",
            "index": 4,
            "keys": { "file": "in/a b.jpg" },
            "shell": "touch 'in/a b.jpg' > fetched",
            "dir": format!("{root}/sub"),
            "needs": [],
        })
    );
    assert_eq!(units[6]["id"], "report");
    assert_eq!(units[6]["keys"], json!({}));
    assert_eq!(units[6]["needs"].as_array().unwrap().len(), 4);
    for (i, u) in units.iter().enumerate() {
        assert_eq!(u["index"], i);
    }
}

#[test]
fn plan_count_and_only() {
    let job = pipeline();
    let out = job.sub("plan", &["--count"]);
    assert_eq!(stdout(&out), "7\n");
    // Exactly the selection; with --with-deps, also what it needs.
    let out = job.sub(
        "plan",
        &["--count", "--only", "resize[file=in/b.jpg,size=64]"],
    );
    assert_eq!(stdout(&out), "1\n", "{}", stderr(&out));
    let out = job.sub(
        "plan",
        &[
            "--count",
            "--only",
            "resize[file=in/b.jpg,size=64]",
            "--with-deps",
        ],
    );
    assert_eq!(stdout(&out), "2\n", "{}", stderr(&out));
    let out = job.sub("plan", &["--json", "--only", "fetch"]);
    let ids: Vec<Value> = json_lines(&stdout(&out))
        .into_iter()
        .map(|u| u["id"].clone())
        .collect();
    assert_eq!(
        ids,
        [
            json!("fetch[file=in/a b.jpg]"),
            json!("fetch[file=in/b.jpg]")
        ]
    );
    let out = job.sub("plan", &["--only", "nothing*"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains("`--only nothing*` matches no unit"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn plan_var_override() {
    let job = pipeline();
    job.file("other/x.jpg", "");
    let out = job.sub("plan", &["--count", "--var", "src=other"]);
    assert_eq!(stdout(&out), "4\n", "{}", stderr(&out));
    let out = job.sub("plan", &["--var", "nope=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`--var nope=...` names no var"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_says_ok_and_writes_nothing() {
    let job = pipeline();
    let out = job.sub("check", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "job.toml: ok (7 units in 3 tasks)\n");
    assert!(!job.path().join(".jobrun").exists());
}

#[test]
fn dry_run_runs_and_writes_nothing() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "t"
        matrix.i = [1, 2]
        shell = "echo {i} >> ran"
    "#});
    let out = job.run(&["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("t[i=1]  runs: new"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("t[i=2]  runs: new"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("2 of 2 selected units would run"));
    assert!(!job.path().join("ran").exists());
    assert!(!job.path().join(".jobrun").exists());
    let entries: Vec<_> = std::fs::read_dir(job.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(entries, ["job.toml"]);

    // After a run, the journal says what is done; --fresh would run it all.
    assert_eq!(job.run(&[]).status.code(), Some(0));
    let out = job.run(&["--dry-run"]);
    assert!(
        stdout(&out).contains("t[i=1]  up to date"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("0 of 2 selected units would run"));
    let out = job.run(&["--dry-run", "--fresh", "--only", "t[i=2]"]);
    assert_eq!(stdout(&out), "    1  t[i=2]  runs: --fresh\n");
    assert_eq!(lines(job.path().join("ran")).len(), 2);
}

#[test]
fn plan_is_deterministic() {
    let job = pipeline();
    let a = stdout(&job.sub("plan", &["--json"]));
    let b = stdout(&job.sub("plan", &["--json"]));
    assert_eq!(a, b);
}

#[test]
fn floats_keep_the_text_they_are_written_with() {
    let job = Job::new(indoc! {r#"
        [vars]
        ratio = 0.50
        [[task]]
        name = "test"
        matrix.python = [3.9, 3.10, 1e3]
        exclude = [{ python = 3.9 }]
        run = ["py{python}", "{ratio}"]
    "#});
    let out = job.sub("plan", &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let units = json_lines(&stdout(&out));
    let ids: Vec<&str> = units.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["test[python=3.10]", "test[python=1e3]"]);
    assert_eq!(units[0]["argv"], json!(["py3.10", "0.50"]));
}
