//! Row sources (`csv`, `json`, `jsonl`) on the real binary: columns as
//! keys, rows matched across tasks by `needs`, and bad rows at plan time.

use indoc::indoc;

use crate::support::{Job, lines, stderr, stdout};

const PHOTOS: &str = "file,width,quality\nslow.jpg,100,80\nfast.jpg,200,\"9,0\"\n";

/// B's unit for a row waits for A's unit for that row only: A's `slow.jpg`
/// unit waits until B has done `fast.jpg`, which would never happen (it
/// gives up after 10 s) if B waited for all of A.
#[test]
fn a_pipeline_over_one_csv_waits_row_by_row() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 4
        [[task]]
        name = "A"
        matrix.photo = { csv = "photos.csv" }
        shell = """
        if [ {file} = slow.jpg ]; then
          i=0
          while [ ! -e done-fast.jpg ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
        fi
        echo "A {file} {width} {quality}" >> log
        """
        [[task]]
        name = "B"
        needs = ["A"]
        matrix.photo = { csv = "photos.csv" }
        shell = "echo 'B {file}' >> log; touch done-{file}"
    "#});
    job.file("photos.csv", PHOTOS);

    let out = job.sub("plan", &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = stdout(&out);
    assert!(
        plan.contains(
            r#""id":"B[file=fast.jpg,width=200,quality=9,0]","task":"B","index":3,"keys":{"file":"fast.jpg","width":"200","quality":"9,0"}"#
        ),
        "{plan}"
    );
    assert!(
        plan.contains(r#""needs":["A[file=fast.jpg,width=200,quality=9,0]"]"#),
        "{plan}"
    );

    let out = job.run(&["--events", "events.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        lines(job.path().join("log")),
        [
            "A fast.jpg 200 9,0",
            "B fast.jpg",
            "A slow.jpg 100 80",
            "B slow.jpg"
        ]
    );
    let events = job.read("events.jsonl");
    let finished = |id: &str| {
        events
            .lines()
            .position(|l| l.contains(r#""event":"unit_finished""#) && l.contains(id))
            .unwrap_or_else(|| panic!("{id} did not finish:\n{events}"))
    };
    let started = |id: &str| {
        events
            .lines()
            .position(|l| l.contains(r#""event":"unit_started""#) && l.contains(id))
            .unwrap_or_else(|| panic!("{id} did not start:\n{events}"))
    };
    let b_fast = started(r#""id":"B[file=fast.jpg,width=200,quality=9,0]""#);
    assert!(finished(r#""id":"A[file=fast.jpg,width=200,quality=9,0]""#) < b_fast);
    assert!(b_fast < finished(r#""id":"A[file=slow.jpg,width=100,quality=80]""#));
}

#[test]
fn json_and_jsonl_rows_keep_their_text() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "build"
        matrix.target = { json = "targets.json" }
        matrix.cc = { jsonl = "compilers.jsonl" }
        run = ["sh", "-c", "echo \"$0 $1 $2 $3\" >> out", "{os}", "{version}", "{cc}", "{flags}"]
    "#});
    job.file(
        "targets.json",
        indoc! {r#"
            [
              { "os": "linux", "version": 3.10 },
              { "version": 1e3, "os": "m\u00e4c os" }
            ]
        "#},
    );
    job.file(
        "compilers.jsonl",
        "{\"cc\": \"gcc\", \"flags\": \"-O2 -g\"}\n\n{\"flags\": \"\", \"cc\": \"clang\"}\n",
    );
    let out = job.sub("plan", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = stdout(&out);
    for id in [
        "build[os=linux,version=3.10,cc=gcc,flags=-O2 -g]",
        "build[os=mäc os,version=1e3,cc=clang,flags=]",
    ] {
        assert!(plan.contains(id), "{id} not in\n{plan}");
    }
    let out = job.run(&["--workers", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        lines(job.path().join("out")),
        [
            "linux 3.10 gcc -O2 -g",
            "linux 3.10 clang ",
            "mäc os 1e3 gcc -O2 -g",
            "mäc os 1e3 clang ",
        ]
    );
}

#[test]
fn a_bad_row_fails_the_plan_with_its_file_and_line() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "resize"
        matrix.photo = { csv = "photos.csv" }
        run = ["convert", "{file}", "-resize", "{width}"]
    "#});
    job.file(
        "photos.csv",
        "file,width,quality\na.jpg,100,80\n\nb.jpg,200\n",
    );
    for sub in ["check", "plan", "run"] {
        let out = job.sub(sub, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{sub}: {err}");
        assert!(
            err.starts_with(
                "error: photos.csv:4: the row has no `quality` column (2 fields for 3 columns)\n --> job.toml:3:16"
            ),
            "{sub}: {err}"
        );
        assert!(
            err.contains("= help: every row has a field per header column"),
            "{err}"
        );
    }
    assert!(!job.path().join(".jobrun").exists(), "nothing ran");

    job.file(
        "photos.json",
        "[\n  {\"file\": \"a.jpg\", \"width\": 100},\n  {\"file\": \"b.jpg\", \"width\": null}\n]\n",
    );
    std::fs::write(
        job.manifest(),
        "[[task]]\nname = \"t\"\nmatrix.photo = { json = \"photos.json\" }\nrun = [\"true\"]\n",
    )
    .unwrap();
    let out = job.sub("check", &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("error: photos.json:3: `width` is null\n"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
