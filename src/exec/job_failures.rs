//! `max_failures` across the shards of one engine job.
//!
//! The shards share the state dir (as their journals already assume), so
//! they count failures in one file per submission: each failure appends a
//! line with one `write` on an `O_APPEND` descriptor (atomic on a local
//! file system; on NFS a torn count only errs by a line), and before a unit
//! starts, a shard compares the file's line count with the limit. A `stat`
//! decides whether the file changed, so the check is cheap; runs without
//! `--job-failures` never get here.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// One shard's view of the job-wide failure count.
#[derive(Debug)]
pub struct JobFailures {
    path: PathBuf,
    limit: u64,
    /// Who fails, written on each line (`shard 2/3`).
    tag: String,
    file: File,
    /// The size last read, and the lines it held.
    seen: Mutex<(u64, u64)>,
}

impl JobFailures {
    /// Open (or create) the shared file.
    pub fn open(path: &Path, limit: u64, tag: String) -> std::io::Result<JobFailures> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(JobFailures {
            path: path.to_owned(),
            limit,
            tag,
            file,
            seen: Mutex::new((0, 0)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Count one failure of this shard.
    pub fn record(&self) {
        let line = format!("{}\n", self.tag);
        let _ = (&self.file).write_all(line.as_bytes());
    }

    /// Whether the failures of all shards reached the limit.
    pub fn reached(&self) -> bool {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return false;
        };
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if meta.len() != seen.0 {
            let mut text = Vec::new();
            if File::open(&self.path)
                .and_then(|mut f| f.read_to_end(&mut text))
                .is_ok()
            {
                let lines = text.iter().filter(|&&b| b == b'\n').count() as u64;
                *seen = (text.len() as u64, lines);
            }
        }
        seen.1 >= self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_share_one_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("7.failures");
        let a = JobFailures::open(&path, 3, "shard 1/2".into()).unwrap();
        let b = JobFailures::open(&path, 3, "shard 2/2".into()).unwrap();
        assert!(!a.reached());
        a.record();
        b.record();
        assert!(!a.reached() && !b.reached());
        b.record();
        assert!(a.reached() && b.reached());
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
    }
}
