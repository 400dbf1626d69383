//! One run per job: an OS file lock (flock) that the kernel releases when
//! the process dies, so there is never a stale lock file to delete by hand.
//! While a run holds it, the file holds the run's pid, and a clean exit
//! empties it: a pid found there by the next run means the last one was
//! killed (and may have left units running).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::Error;

pub struct JobLock {
    file: File,
    killed_before: bool,
}

impl Drop for JobLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

impl JobLock {
    pub fn acquire(path: &Path, job: &str) -> Result<JobLock, Error> {
        let mut file = open_lock_file(path)?;
        // SAFETY: plain syscall on a descriptor we own.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::WouldBlock {
                return Err(Error::Usage(format!(
                    "job `{job}` is already running (its lock `{}` is held by another jobrun); \
                     wait for that run to end, or give this run another `state_dir`",
                    path.display()
                )));
            }
            return Err(Error::io(format!("cannot lock `{}`", path.display()), e));
        }
        let mut before = Vec::new();
        let _ = file.read_to_end(&mut before);
        let killed_before = before.iter().any(|b| !b.is_ascii_whitespace());
        let _ = file
            .set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| writeln!(file, "{}", std::process::id()));
        Ok(JobLock {
            file,
            killed_before,
        })
    }

    /// Did the previous holder end without releasing the lock cleanly?
    pub fn killed_before(&self) -> bool {
        self.killed_before
    }
}

/// Open (creating, never truncating) a lock file.
pub(super) fn open_lock_file(path: &Path) -> Result<File, Error> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io(format!("cannot open the lock file `{}`", path.display()), e))
}
