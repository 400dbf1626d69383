//! How a job is split among the runs going on at once. Shards of one split
//! (`--shard K/N` with the same N) may run side by side, each with its own
//! journal; a run of the whole job, or shards of another split, would run
//! some of the same units a second time, so they are refused.
//!
//! Open-file-description byte-range locks on `<job>.lock`: the whole job
//! takes a write lock on the whole file, a shard of N a read lock on byte
//! N. The kernel drops them with the descriptor, so nothing is ever stale.
//! (Two different splits starting at the same instant may both be refused;
//! never both admitted.)

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::Error;

pub struct SplitLock {
    _file: File,
}

impl SplitLock {
    /// `shards`: N of `--shard K/N`, or None for a run of the whole job.
    pub fn acquire(path: &Path, job: &str, shards: Option<u32>) -> Result<SplitLock, Error> {
        let file = super::lock::open_lock_file(path)?;
        let fd = file.as_raw_fd();
        let (kind, start, len) = match shards {
            None => (libc::F_WRLCK, 0, 0),
            Some(n) => (libc::F_RDLCK, libc::off_t::from(n), 1),
        };
        if let Err(e) = set(fd, kind, start, len) {
            if !is_conflict(&e) {
                // A file system without byte-range locks (some FUSE mounts):
                // the per-journal lock still holds; only this check is lost.
                return Ok(SplitLock { _file: file });
            }
            // Whole-file write lock held: another run of the whole job.
            let whole = held_kind(fd, 0, 0) == Some(libc::F_WRLCK);
            return Err(Error::Usage(match shards {
                None if whole => format!(
                    "job `{job}` is already running (its lock `{}` is held by another \
                     jobrun); wait for that run to end, or give this run another `state_dir`",
                    path.display()
                ),
                None => format!(
                    "shards of job `{job}` are running (lock `{}`); a run of the whole job \
                     would run their units a second time: wait for them to end",
                    path.display()
                ),
                Some(_) => format!(
                    "job `{job}` is running unsharded (lock `{}`); wait for that run to end",
                    path.display()
                ),
            }));
        }
        if let Some(n) = shards {
            // Any other split holding a byte below or above ours?
            let n = libc::off_t::from(n);
            let below = if n > 1 { held(fd, 1, n - 1) } else { None };
            // Length 0: to the end of any file.
            let other = below.or_else(|| held(fd, n + 1, 0));
            if let Some(m) = other {
                return Err(Error::Usage(format!(
                    "job `{job}` is running split into {m} shards (lock `{}`); shards of \
                     another split would run some units twice: use `--shard K/{m}`, \
                     or wait for those runs to end",
                    path.display()
                )));
            }
        }
        Ok(SplitLock { _file: file })
    }
}

fn flock(kind: i32, start: libc::off_t, len: libc::off_t) -> libc::flock {
    // SAFETY: `flock` is plain data; all-zero is a valid value.
    let mut l: libc::flock = unsafe { std::mem::zeroed() };
    l.l_type = kind as libc::c_short;
    l.l_whence = libc::SEEK_SET as libc::c_short;
    l.l_start = start;
    l.l_len = len;
    l
}

fn set(fd: i32, kind: i32, start: libc::off_t, len: libc::off_t) -> std::io::Result<()> {
    let l = flock(kind, start, len);
    // SAFETY: plain syscall on a descriptor we own, with a valid `flock`.
    if unsafe { libc::fcntl(fd, libc::F_OFD_SETLK, &l) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The first byte of a lock someone else holds in the range, if any.
fn held(fd: i32, start: libc::off_t, len: libc::off_t) -> Option<libc::off_t> {
    conflicting(fd, start, len).map(|l| l.l_start)
}

/// The kind (`F_RDLCK`, `F_WRLCK`) of a lock someone else holds in the range.
fn held_kind(fd: i32, start: libc::off_t, len: libc::off_t) -> Option<i32> {
    conflicting(fd, start, len).map(|l| i32::from(l.l_type))
}

fn conflicting(fd: i32, start: libc::off_t, len: libc::off_t) -> Option<libc::flock> {
    let mut l = flock(libc::F_WRLCK, start, len);
    // SAFETY: as above; F_OFD_GETLK writes into `l`.
    let r = unsafe { libc::fcntl(fd, libc::F_OFD_GETLK, &mut l) };
    (r == 0 && i32::from(l.l_type) != libc::F_UNLCK).then_some(l)
}

fn is_conflict(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_of_one_split_share_the_job_everything_else_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("job.lock");
        let a = SplitLock::acquire(&p, "job", Some(3)).expect("first shard");
        let b = SplitLock::acquire(&p, "job", Some(3)).expect("second shard of 3");
        let other = SplitLock::acquire(&p, "job", Some(2))
            .err()
            .expect("split 2 refused");
        assert!(other.to_string().contains("split into 3 shards"), "{other}");
        let other = SplitLock::acquire(&p, "job", Some(4))
            .err()
            .expect("split 4 refused");
        assert!(other.to_string().contains("--shard K/3"), "{other}");
        let whole = SplitLock::acquire(&p, "job", None)
            .err()
            .expect("whole refused");
        assert!(whole.to_string().contains("shards of job"), "{whole}");
        drop((a, b));
        let whole = SplitLock::acquire(&p, "job", None).expect("whole, once shards ended");
        let again = SplitLock::acquire(&p, "job", None)
            .err()
            .expect("a second whole run");
        assert!(again.to_string().contains("is already running"), "{again}");
        let shard = SplitLock::acquire(&p, "job", Some(3))
            .err()
            .expect("shard refused");
        assert!(shard.to_string().contains("running unsharded"), "{shard}");
        drop(whole);
        SplitLock::acquire(&p, "job", Some(2)).expect("any split, once alone");
    }
}
