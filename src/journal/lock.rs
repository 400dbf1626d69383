//! One run per job: an OS file lock (flock) that the kernel releases when
//! the process dies, so there is never a stale lock file to delete by hand.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::error::Error;

pub struct JobLock {
    _file: File,
}

impl JobLock {
    pub fn acquire(path: &Path, job: &str) -> Result<JobLock, Error> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(format!("cannot open the lock file `{}`", path.display()), e))?;
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
        Ok(JobLock { _file: file })
    }
}
