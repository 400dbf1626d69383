//! File names that break naive tools: spaces, quotes, `$(...)`, backticks, a
//! leading dash, a newline, bytes that are not UTF-8, a name near the 255-byte
//! limit. Each must reach the command as
//! exactly one argument, never as code, never split or dropped.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use indoc::indoc;
use serde_json::Value;

use crate::support::{Job, stderr, stdout};

/// 245 x `x` + `.jpg`: 249 bytes, near the usual 255-byte NAME_MAX.
const LONG: &[u8; 249] = &{
    let mut n = [b'x'; 249];
    n[245] = b'.';
    n[246] = b'j';
    n[247] = b'p';
    n[248] = b'g';
    n
};

const NAMES: [&[u8]; 9] = [
    b"a b.jpg",
    b"it's.jpg",
    b"\"q\".jpg",
    b"$(touch pwned).jpg",
    b"`touch pwned`.jpg",
    b"-rf.jpg",
    b"new\nline.jpg",
    b"caf\xe9.jpg",
    LONG,
];

/// A job over `in/*.jpg` holding the hostile names (and a dotfile `*` must skip).
fn hostile(toml: &str) -> Job {
    let job = Job::new(toml);
    for n in NAMES {
        let mut rel = b"in/".to_vec();
        rel.extend_from_slice(n);
        // Each file holds its own name, so a copy shows which file it came from.
        job.file(Path::new(OsStr::from_bytes(&rel)), n);
    }
    job.file("in/.hidden.jpg", "");
    std::fs::create_dir(job.path().join("out")).unwrap();
    job
}

/// The names in plan order: sorted bytewise, as the planner sorts them.
fn sorted() -> Vec<&'static [u8]> {
    let mut v = NAMES.to_vec();
    v.sort();
    v
}

fn assert_no_pwned(job: &Job) {
    for dir in [job.path(), &job.path().join("out"), &job.path().join("in")] {
        assert!(
            !dir.join("pwned").exists(),
            "a file name ran as code in {dir:?}"
        );
    }
}

#[test]
fn plan_json_lists_exactly_the_files() {
    let job = hostile(indoc! {r#"
        [[task]]
        name = "t"
        matrix.file = { glob = "in/*.jpg" }
        run = ["cp", "--", "{file}", "out/"]
    "#});
    let out = job.sub("plan", &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let files: Vec<String> = stdout(&out)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["keys"]["file"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        files,
        [
            "in/\"q\".jpg".to_owned(),
            "in/$(touch pwned).jpg".to_owned(),
            "in/-rf.jpg".to_owned(),
            "in/`touch pwned`.jpg".to_owned(),
            "in/a b.jpg".to_owned(),
            "in/caf\\xe9.jpg".to_owned(),
            "in/it's.jpg".to_owned(),
            "in/new\\nline.jpg".to_owned(),
            format!("in/{}", String::from_utf8_lossy(LONG)),
        ]
    );
    assert_no_pwned(&job);
}

#[test]
fn run_task_gets_each_name_as_one_argument() {
    let job = hostile(indoc! {r#"
        [job]
        workers = 2
        [[task]]
        name = "copy"
        matrix.file = { glob = "in/*.jpg" }
        run = ["cp", "--", "{file}", "out/"]
    "#});
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut copied: Vec<Vec<u8>> = std::fs::read_dir(job.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().as_bytes().to_vec())
        .collect();
    copied.sort();
    assert_eq!(copied, sorted());
    for n in NAMES {
        let body = std::fs::read(job.path().join("out").join(OsStr::from_bytes(n))).unwrap();
        assert_eq!(
            body,
            n,
            "the copy of {:?} has the wrong content",
            String::from_utf8_lossy(n)
        );
    }
    assert_no_pwned(&job);
}

#[test]
fn shell_task_quotes_each_name() {
    let job = hostile(indoc! {r#"
        [job]
        workers = 1
        [[task]]
        name = "list"
        matrix.file = { glob = "in/*.jpg" }
        shell = "printf '%s\n' {file} >> seen; printf '%s\n' {file.name} >> out/names"
    "#});
    let out = job.run(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // One worker: plan order, so the exact bytes are known.
    let mut seen = Vec::new();
    let mut names = Vec::new();
    for n in sorted() {
        seen.extend_from_slice(b"in/");
        seen.extend_from_slice(n);
        seen.push(b'\n');
        names.extend_from_slice(n);
        names.push(b'\n');
    }
    assert_eq!(
        String::from_utf8_lossy(&std::fs::read(job.path().join("seen")).unwrap()),
        String::from_utf8_lossy(&seen)
    );
    assert_eq!(std::fs::read(job.path().join("seen")).unwrap(), seen);
    assert_eq!(std::fs::read(job.path().join("out/names")).unwrap(), names);
    assert_no_pwned(&job);
}

#[test]
fn hostile_vars_are_data_in_shell_too() {
    let job = Job::new(indoc! {r#"
        [vars]
        msg = "x"
        [[task]]
        name = "t"
        shell = "printf '%s' {msg} > said"
    "#});
    let out = job.run(&["--var", "msg=$(touch pwned); `touch pwned` 'q\" \\"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(job.read("said"), "$(touch pwned); `touch pwned` 'q\" \\");
    assert!(!job.path().join("pwned").exists());
}
