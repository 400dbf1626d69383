//! Processes left running by an earlier run of the same job that was itself
//! killed (SIGKILL, OOM killer, power to the terminal): its units were
//! orphaned, and running them again beside the old ones would have two
//! writers on the same outputs. Every unit carries `JOBRUN_JOURNAL=<journal
//! path>` in its environment; a new run, once it holds the job's lock (so no
//! live run of this job exists), stops every process group still carrying
//! its journal's marker before it starts anything.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

/// The environment variable naming the run's journal in every unit.
pub const MARKER: &str = "JOBRUN_JOURNAL";

/// Process groups whose members carry `MARKER=journal` (other than us).
pub fn find(journal: &OsStr) -> Vec<libc::pid_t> {
    let mut needle = Vec::with_capacity(MARKER.len() + 1 + journal.len() + 1);
    needle.extend_from_slice(MARKER.as_bytes());
    needle.push(b'=');
    needle.extend_from_slice(journal.as_bytes());
    needle.push(0);
    let me = std::process::id() as libc::pid_t;
    let mut groups = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return groups;
    };
    for e in dir.flatten() {
        let Some(pid) = e
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        // Other users' processes are unreadable, and never ours to stop.
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        let marked = env.starts_with(&needle[..])
            || env
                .windows(needle.len() + 1)
                .any(|w| w[0] == 0 && w[1..] == needle[..]);
        if marked
            && let Some(pgid) = group_of(pid)
            && pgid > 1
            && !groups.contains(&pgid)
        {
            groups.push(pgid);
        }
    }
    groups
}

/// The state letter and process group of `pid`, from /proc/PID/stat (after
/// the parenthesized command name, which may itself contain spaces or ')').
fn stat_of(pid: &str) -> Option<(char, libc::pid_t)> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    // state ppid pgrp ...
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let pgrp = fields.nth(1)?.parse().ok()?;
    Some((state, pgrp))
}

fn group_of(pid: libc::pid_t) -> Option<libc::pid_t> {
    stat_of(&pid.to_string()).map(|(_, g)| g)
}

/// Does the group have a member that is not a zombie? (Orphans are reaped by
/// whoever adopted them, which in a container may be nobody.)
fn group_alive(pgid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the group exists.
    if unsafe { libc::kill(-pgid, 0) } != 0 {
        return false;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return true;
    };
    dir.flatten().any(|e| {
        e.file_name()
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(stat_of)
            .is_some_and(|(state, g)| g == pgid && state != 'Z')
    })
}

/// SIGTERM each group, SIGKILL what is left after `grace`. Returns how many
/// groups there were.
pub fn stop(groups: &[libc::pid_t], grace: Duration) -> usize {
    for &g in groups {
        // SAFETY: plain syscall; a negative pid addresses the group.
        unsafe { libc::kill(-g, libc::SIGTERM) };
    }
    let until = Instant::now() + grace;
    while groups.iter().any(|&g| group_alive(g)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    for &g in groups {
        if group_alive(g) {
            // SAFETY: as above.
            unsafe { libc::kill(-g, libc::SIGKILL) };
        }
    }
    groups.len()
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;

    use super::*;

    #[test]
    fn finds_only_marked_processes_and_stops_their_groups() {
        // A marker of this test process's own: another copy of this suite
        // running at the same time must not see our processes, nor we its.
        let journal = format!("/tmp/jobrun-leftovers-{}/job.journal", std::process::id());
        let spawn = |marker: &str| {
            std::process::Command::new("sleep")
                .arg("30")
                .env(MARKER, marker)
                .process_group(0)
                .spawn()
                .expect("spawn")
        };
        let mut marked = spawn(&journal);
        let mut other = spawn(&format!("{journal}.other"));
        // /proc shows the new environment only once the child has exec'd,
        // which a loaded machine can delay past spawn's return.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut found = find(OsStr::new(&journal));
        while found.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            found = find(OsStr::new(&journal));
        }
        assert_eq!(found, vec![marked.id() as libc::pid_t]);
        assert_eq!(stop(&found, Duration::from_secs(2)), 1);
        assert!(marked.wait().expect("wait").code().is_none(), "killed");
        assert!(other.try_wait().expect("try_wait").is_none(), "untouched");
        let _ = other.kill();
        let _ = other.wait();
    }
}
