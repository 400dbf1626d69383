//! `env_file`: values reach the units' environments and nothing jobrun
//! writes itself (output, plan, events, JUnit, journal, logs).

use indoc::indoc;

use crate::support::{Job, stderr, stdout};

const SECRET: &str = "hunter2-s3cret";

/// Every file below `dir`, as text, that holds the secret.
fn leaks(dir: &std::path::Path, skip: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                stack.push(p);
            } else if !skip.contains(&name.as_str())
                && String::from_utf8_lossy(&std::fs::read(&p).unwrap()).contains(SECRET)
            {
                found.push(name);
            }
        }
    }
    found
}

#[test]
fn env_file_values_reach_units_and_no_report() {
    let job = Job::new(indoc! {r#"
        [job]
        env_file = [".env", { path = ".env.local", optional = true }]
        [[task]]
        name = "use"
        matrix.n = [1, 2]
        env_file = ["conf/task.env"]
        env = { MODE = "explicit" }
        shell = "printf '%s %s %s\n' \"$TOKEN\" \"$MODE\" \"$EXTRA\" > got-{n}.txt"
        [[task]]
        name = "fails"
        shell = "exit 3"
        allow_failure = true
    "#});
    job.file(
        ".env",
        format!("# secrets\nexport TOKEN='{SECRET}'\nMODE=from-file\n"),
    )
    .file("conf/task.env", "EXTRA=\"a\\nb\"\n");
    let out = job.run(&[
        "--events",
        "events.jsonl",
        "--junit",
        "junit.xml",
        "--output",
        "all",
        "--progress",
        "plain",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(job.read("got-1.txt"), format!("{SECRET} explicit a\nb\n"));
    assert!(
        !stdout(&out).contains(SECRET) && !err.contains(SECRET),
        "{err}"
    );
    for sub in [&["--json"][..], &[][..]] {
        let plan = job.sub("plan", sub);
        assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
        assert!(!stdout(&plan).contains(SECRET), "{}", stdout(&plan));
    }
    let check = job.sub("check", &[]);
    assert_eq!(check.status.code(), Some(0));
    assert!(!stdout(&check).contains(SECRET) && !stderr(&check).contains(SECRET));
    // The units' own outputs are theirs; everything else is jobrun's.
    let found = leaks(job.path(), &[".env", "got-1.txt", "got-2.txt"]);
    assert!(found.is_empty(), "the secret is in {found:?}");
    assert!(!job.read("events.jsonl").is_empty() && !job.read("junit.xml").is_empty());
}

#[test]
fn a_bad_env_file_line_names_the_file_and_line_only() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "t"
        env_file = ["app.env"]
        run = ["true"]
    "#});
    job.file("app.env", format!("A=1\n\nB=\"{SECRET}\n"));
    let out = job.sub("check", &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("error: app.env:3: unclosed quote"), "{err}");
    assert!(err.contains("--> job.toml:3:13"), "{err}");
    assert!(!err.contains(SECRET), "{err}");

    std::fs::remove_file(job.path().join("app.env")).unwrap();
    let out = job.run(&[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot read env file `app.env`"), "{err}");
}
