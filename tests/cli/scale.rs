//! Plan-time size: matrices past the cap are refused before they are made,
//! and long arrays and many include/exclude entries plan in time linear in
//! their size. Manifests are generated; the bounds on time are loose on
//! purpose (these are not benchmarks, see docs/BENCHMARKS.md).

use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use crate::support::{Job, stderr, stdout};

const HEAD: &str = "[[task]]\nname = \"t\"\nrun = [\"true\"]\n";

/// `jobrun plan --count` with its address space capped at `limit_mib`, so a
/// planner that made the matrix before counting it fails for want of memory.
fn plan_count(job: &Job, limit_mib: u64) -> std::process::Output {
    let mut c = job.process(&["plan", "--count"]);
    let bytes = limit_mib << 20;
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
    unsafe {
        c.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: bytes,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.output().expect("run jobrun")
}

/// Runs `plan --count` and checks it planned `want` units within a minute.
fn counts(job: &Job, want: usize) {
    let start = Instant::now();
    let out = job.sub("plan", &["--count"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), want.to_string());
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn thirty_huge_ranges_fail_at_once_in_little_memory() {
    // 10,000,000^30 combinations; making even one key's values takes 400 MB.
    let mut toml = String::from(HEAD);
    for i in 1..=30 {
        writeln!(toml, "matrix.k{i} = {{ range = [0, 10000000] }}").unwrap();
    }
    let job = Job::new(&toml);
    let out = plan_count(&job, 256);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error: task `t`: the matrix has more than 10,000,000 combinations"),
        "{err}"
    );
    assert!(err.contains("job.toml:33:14"), "{err}");
}

#[test]
fn a_million_value_array_plans() {
    let mut toml = String::from(HEAD);
    toml.push_str("matrix.v = [\n");
    for i in 0..1_000_000 {
        write!(toml, "{i},{}", if i % 10 == 9 { "\n" } else { " " }).unwrap();
    }
    toml.push_str("]\n");
    counts(&Job::new(&toml), 1_000_000);
}

#[test]
fn fifty_thousand_excludes_plan() {
    let mut toml = String::from(HEAD);
    toml.push_str(
        "matrix.a = { range = [0, 100] }\nmatrix.b = { range = [0, 1000] }\nexclude = [\n",
    );
    for i in 0..50_000 {
        writeln!(toml, "  {{ a = {}, b = {} }},", i % 100, i / 100).unwrap();
    }
    toml.push_str("]\n");
    counts(&Job::new(&toml), 50_000);
}

#[test]
fn ten_thousand_includes_plan() {
    // Half extend one combination each, half add one.
    let mut toml = String::from(HEAD);
    toml.push_str(
        "matrix.a = { range = [0, 100] }\nmatrix.b = { range = [0, 1000] }\ninclude = [\n",
    );
    for i in 0..10_000 {
        let a = if i % 2 == 0 { i % 100 } else { 100 + i % 100 };
        writeln!(toml, "  {{ a = {a}, b = {}, note = \"n{i}\" }},", i / 100).unwrap();
    }
    toml.push_str("]\n");
    counts(&Job::new(&toml), 105_000);
}
