//! jobrun itself dying: `kill -9` mid-run. What finished stays done.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use indoc::indoc;

use crate::support::{Job, lines, stderr};

/// Extra lines beyond one per unit id: units that ran more than once.
fn repeats(ran: &[String]) -> usize {
    ran.len() - ran.iter().collect::<HashSet<_>>().len()
}

#[test]
fn after_kill_9_only_units_running_at_that_moment_run_again() {
    const WORKERS: usize = 4;
    const UNITS: usize = 600;
    let job = Job::new(&format!(
        indoc! {r#"
            [job]
            workers = {}
            [[task]]
            name = "t"
            matrix.i = {{ range = [0, {}] }}
            shell = "sleep 0.01; echo {{i}} >> ran.txt"
        "#},
        WORKERS, UNITS
    ));
    let ran = job.path().join("ran.txt");
    for kill in 1..=10 {
        let before = lines(&ran);
        let mut child = job
            .process(&["-q"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn jobrun");
        let until = Instant::now() + Duration::from_secs(30);
        while lines(&ran).len() < before.len() + 20 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().expect("SIGKILL jobrun");
        let _ = child.wait();
        // The run after a kill repeats only units that were in flight at
        // the kill: at most one per worker. (Its own orphans, stopped by the
        // next run, may have appended once more, within the same bound.)
        let now = lines(&ran);
        let added = repeats(&now) - repeats(&before);
        assert!(
            added <= WORKERS,
            "kill {kill}: {added} units ran twice, more than the {WORKERS} that can be running"
        );
    }
    let unfinished = UNITS - lines(&ran).iter().collect::<HashSet<_>>().len();
    assert!(unfinished > 0, "the kills came before the job was done");
    let before = lines(&ran);
    let out = job.run(&["-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all = lines(&ran);
    assert!(
        repeats(&all) - repeats(&before) <= WORKERS,
        "{}",
        repeats(&all)
    );
    let ids: HashSet<&String> = all.iter().collect();
    assert_eq!(ids.len(), UNITS, "every unit ran");
    assert!(
        repeats(&all) <= 11 * WORKERS,
        "{} repeats over 10 kills",
        repeats(&all)
    );
    assert_eq!(job.orphans(), Vec::<i32>::new());
}
