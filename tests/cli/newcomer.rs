//! What a new user hits in the first hour, through the real binary.

use indoc::indoc;

use crate::support::{Job, jobrun, stderr};

#[test]
fn the_folders_of_outputs_are_made_before_a_unit_runs() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "t"
        matrix.i = [1, 2, 3]
        shell = "echo {i} > out/a/b/{i}.txt"
        outputs = ["out/a/b/{i}.txt"]
    "#});
    let out = job.run(&["--progress", "none"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(job.read("out/a/b/2.txt"), "2\n");
    // With the folder gone, the units run again and make it again: no mkdir
    // task that would be up to date with its folder gone.
    std::fs::remove_dir_all(job.path().join("out")).expect("rm");
    let again = job.run(&["--progress", "none"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(stderr(&again).contains("3 ok"), "{}", stderr(&again));
    assert_eq!(job.read("out/a/b/3.txt"), "3\n");
}

#[test]
fn a_mistyped_command_is_named_with_the_command_meant() {
    let job = Job::new("[[task]]\nname = \"t\"\nrun = [\"true\"]\n");
    let out = jobrun()
        .current_dir(job.path())
        .args(["plna", "job.toml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("`plna` is not a command"), "{err}");
    assert!(err.contains("did you mean `plan`?"), "{err}");
    // `jobrun FILE` still runs the job.
    let out = jobrun()
        .current_dir(job.path())
        .args(["job.toml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn only_takes_brackets_as_they_are_in_ids() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "thumbnail"
        matrix.file = ["images/red.jpg", "images/rings.jpg", "images/blue.jpg"]
        run = ["true"]
    "#});
    let out = job.sub("plan", &["--count", "--only", "thumbnail[file=images/r*"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(crate::support::stdout(&out).trim(), "2");
}

#[test]
fn the_summary_names_the_first_cancelled_units() {
    let job = Job::new(indoc! {r#"
        [job]
        workers = 1
        [[task]]
        name = "step"
        matrix.i = [1, 2, 3, 4, 5, 6, 7, 8]
        shell = "test {i} -ne 2"
    "#});
    let out = job.run(&["--progress", "none"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("6 cancelled: step[i=3], step[i=4], step[i=5], ... (-v for all)"),
        "{err}"
    );
}

#[test]
fn the_last_line_says_where_the_results_are() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "make"
        matrix.i = [1, 2]
        shell = "echo {i} > part-{i}.txt"
        outputs = ["part-{i}.txt"]
        [[task]]
        name = "index"
        needs = ["make"]
        shell = "cat part-*.txt > site/index.html"
        outputs = ["site/index.html"]
    "#});
    let out = job.run(&["--progress", "none"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.lines().last(),
        Some("  results: site/index.html"),
        "{err}"
    );
}

/// The bar under a pseudo-terminal: in every frame, done = ok + failed +
/// skipped (the counts come from one message, made at once).
#[test]
fn every_frame_of_the_bar_adds_up() {
    if !crate::support::has_script() {
        return;
    }
    let job = Job::new(indoc! {r#"
        [job]
        workers = 2
        on_failure = "continue"
        [[task]]
        name = "t"
        matrix.i = { range = [0, 60] }
        shell = "sleep 0.02; test $(({i} % 7)) -ne 3"
    "#});
    let bin = assert_cmd::cargo::cargo_bin("jobrun");
    let cmd = format!("'{}' --progress bar job.toml", bin.display());
    std::process::Command::new("script")
        .args(["-qfec", &cmd, "typescript"])
        .current_dir(job.path())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script");
    let text = String::from_utf8_lossy(&std::fs::read(job.path().join("typescript")).expect("ts"))
        .into_owned();
    let mut frames = 0;
    for part in text.split(['\r', '\n']) {
        // "17/60 ok 14  failed 2  skipped 1"
        let Some(at) = part.find(" ok ") else {
            continue;
        };
        let head = &part[..at];
        let Some(done) = head.rsplit(' ').next().and_then(|d| d.split('/').next()) else {
            continue;
        };
        let nums: Vec<u32> = part[at..]
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .take(3)
            .collect();
        let (Ok(done), [ok, failed, skipped]) = (done.parse::<u32>(), nums.as_slice()) else {
            continue;
        };
        frames += 1;
        assert_eq!(done, ok + failed + skipped, "frame `{part}`");
    }
    assert!(frames > 0, "no bar frame in {text:?}");
}
