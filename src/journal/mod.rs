//! The journal: `state_dir/<job>.journal`, append-only JSON Lines, one record
//! per finished attempt. It makes reruns skip what is done (`up_to_date`).
//!
//! Invariants: records are only appended; a torn last line is ignored (and a
//! newline is written before appending after one); the file is fsynced at
//! most 100 ms after a record is written (group commit) and at exit; one run
//! per job at a time, enforced by an OS lock that dies with the process.
//! Identity is the unit id, never a position in the plan. Which record of a
//! unit is its latest never depends on the clock: within a file, the later
//! line; across the files of a sharded job, the higher run number (see
//! `read_prior`).

mod fingerprint;
mod lock;
mod record;
mod split;
mod stamp;
mod why;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use fingerprint::{Fingerprint, HashCache, InputStamp, fingerprint};
pub use lock::JobLock;
pub use record::{Record, Skipped, UNREADABLE, parse_lines};
pub use split::SplitLock;
pub use stamp::{NO_STAMP, Stamp, epoch_ms, needs_hash, stamp};
pub use why::{Why, explain, explain_plan, needs_of};

use crate::error::Error;
use crate::plan::Plan;

/// At most this long between a record's write and its fsync.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// Disk space held for the journal beyond its end, so records still fit
/// when unit logs fill the disk (records wait in memory up to 100 ms, and
/// would be lost with a write that fails). ~4,000 records.
const RESERVE: u64 = 1 << 20;
/// Renew the reservation when less than this is left.
const RESERVE_LOW: u64 = 256 << 10;

/// What earlier runs recorded, for deciding what is up to date.
#[derive(Default)]
pub struct Prior {
    /// The latest record per unit id (see `read_prior`).
    pub last: HashMap<String, Record>,
    pub cache: HashCache,
    /// Ignore the records (`--fresh`); they still seed the hash cache.
    pub fresh: bool,
    /// The stamp of each plan unit's latest record (`NO_STAMP` if none),
    /// computed once: dependents hash their needs' stamps.
    pub stamps: Vec<Stamp>,
    /// The number of this run's records: one more than any in the journals.
    pub run: u64,
    /// Journal files with lines that gave no record, for a warning.
    pub skipped: Vec<(PathBuf, Skipped)>,
}

impl Prior {
    pub fn stamp_of(&self, unit: u32) -> Stamp {
        self.stamps.get(unit as usize).copied().unwrap_or(NO_STAMP)
    }
}

/// The journal files of a job: its own and any shard's.
pub fn journal_files(state_dir: &Path, job: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let own = format!("{job}.journal");
    let shard_prefix = format!("{job}.shard-");
    if let Ok(rd) = std::fs::read_dir(state_dir) {
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if name == own || name.starts_with(&shard_prefix) && name.ends_with(".journal") {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Read every journal of the job (read-only: `plan --why` uses this too).
///
/// A unit's latest record is, within one file, its last line: lines are
/// appended in the order attempts end, whatever the clock said (a record
/// stamped in the future by a clock that was later set back must not hide a
/// newer failure). Runs that write different files (shards, or shards and
/// whole-job runs) never overlap in time, and each numbers its records one
/// higher than any it read, so across files the higher run number wins;
/// records older than run numbers (0) fall back to their start time, then
/// to the file name order.
pub fn read_prior(plan: &Plan, fresh: bool) -> Prior {
    let mut prior = Prior {
        fresh,
        ..Prior::default()
    };
    let index: HashMap<&str, usize> = plan
        .units
        .iter()
        .enumerate()
        .map(|(i, u)| (&*u.id, i))
        .collect();
    let mut highest = 0;
    for path in journal_files(&plan.job.state_dir, &plan.job.name) {
        let Ok(text) = std::fs::read(&path) else {
            continue;
        };
        let (records, skipped) = parse_lines(&text);
        if skipped != Skipped::default() {
            prior.skipped.push((path.clone(), skipped));
        }
        let mut latest: HashMap<String, Record> = HashMap::new();
        for r in records {
            highest = highest.max(r.run);
            if let Some(&i) = index.get(r.id.as_str()) {
                let dir = plan.dir(i);
                for s in &r.inputs {
                    if !s.hash.is_empty() {
                        prior
                            .cache
                            .seed(dir.join(&s.path), s.size, s.mtime_ns, s.hash.clone());
                    }
                }
            }
            latest.insert(r.id.clone(), r);
        }
        if prior.last.is_empty() {
            prior.last = latest;
            continue;
        }
        for (id, r) in latest {
            match prior.last.get(&id) {
                Some(old) if (old.run, old.start_ms) > (r.run, r.start_ms) => {}
                _ => {
                    prior.last.insert(id, r);
                }
            }
        }
    }
    prior.run = highest.saturating_add(1);
    prior.stamps = plan
        .units
        .iter()
        .map(|u| prior.last.get(&*u.id).map_or(NO_STAMP, Record::stamp))
        .collect();
    prior
}

/// The open journal of a running job.
pub struct Journal {
    file: File,
    path: PathBuf,
    buf: Vec<u8>,
    unsynced: Option<Instant>,
    /// The file's length, and how far disk space is held for it.
    len: u64,
    reserved_to: u64,
    lock: JobLock,
    _split: SplitLock,
}

impl Journal {
    /// Lock the job and open its journal for appending. `name` is the
    /// journal's file name (`<job>.journal`, or a shard's); `shards` is N
    /// of `--shard K/N`.
    pub fn open(
        state_dir: &Path,
        job: &str,
        name: &str,
        shards: Option<u32>,
    ) -> Result<Journal, Error> {
        std::fs::create_dir_all(state_dir).map_err(|e| {
            Error::io(
                format!("cannot create the state dir `{}`", state_dir.display()),
                e,
            )
        })?;
        // The split first: a run it refuses never touches the journal's lock
        // file, which may still say that the last run was killed.
        let split = SplitLock::acquire(&state_dir.join(format!("{job}.lock")), job, shards)?;
        let lock = JobLock::acquire(&state_dir.join(format!("{name}.lock")), job)?;
        let path = state_dir.join(name);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot open the journal `{}`", path.display()), e))?;
        // After a crash the last line may be torn: start the next record on a line of its own.
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len > 0 {
            let mut last = [0u8; 1];
            let ends_with_newline = file
                .seek(SeekFrom::Start(len - 1))
                .and_then(|_| file.read_exact(&mut last))
                .map(|()| last[0] == b'\n')
                .unwrap_or(false);
            if !ends_with_newline {
                file.write_all(b"\n").map_err(|e| {
                    Error::io(format!("cannot write the journal `{}`", path.display()), e)
                })?;
            }
        }
        let len = file.metadata().map(|m| m.len()).unwrap_or(len);
        let mut journal = Journal {
            file,
            path,
            buf: Vec::with_capacity(64 * 1024),
            unsynced: None,
            len,
            reserved_to: len,
            lock,
            _split: split,
        };
        journal.reserve();
        Ok(journal)
    }

    /// Hold disk space past the end (best effort: a file system without
    /// `fallocate`, or one already full, just gets no reservation).
    fn reserve(&mut self) {
        if self.reserved_to >= self.len + RESERVE_LOW {
            return;
        }
        // A small disk gets a small reservation rather than none.
        for size in [RESERVE, RESERVE / 16] {
            // SAFETY: plain syscall on our own open file.
            let r = unsafe {
                libc::fallocate(
                    self.file.as_raw_fd(),
                    libc::FALLOC_FL_KEEP_SIZE,
                    self.len as libc::off_t,
                    size as libc::off_t,
                )
            };
            if r == 0 {
                self.reserved_to = self.len + size;
                return;
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Did the last run of this journal end without a clean exit (killed)?
    pub fn killed_before(&self) -> bool {
        self.lock.killed_before()
    }

    /// Queue a record; it reaches the disk by the next `sync_if_due`.
    pub fn append(&mut self, r: &Record) -> Result<(), Error> {
        serde_json::to_writer(&mut self.buf, r)
            .map_err(|e| Error::io("cannot encode a journal record", e.into()))?;
        self.buf.push(b'\n');
        self.unsynced.get_or_insert_with(Instant::now);
        if self.buf.len() >= 64 * 1024 {
            self.write_out()?;
        }
        Ok(())
    }

    /// When the oldest unsynced record is due for fsync, if any.
    pub fn due(&self) -> Option<Instant> {
        self.unsynced.map(|t| t + SYNC_INTERVAL)
    }

    /// Write and fsync if the oldest unsynced record is 100 ms old (or `force`).
    pub fn sync_if_due(&mut self, force: bool) -> Result<(), Error> {
        match self.due() {
            Some(due) if force || Instant::now() >= due => {
                self.write_out()?;
                self.file.sync_data().map_err(|e| {
                    Error::io(
                        format!("cannot sync the journal `{}`", self.path.display()),
                        e,
                    )
                })?;
                self.unsynced = None;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn write_out(&mut self) -> Result<(), Error> {
        if !self.buf.is_empty() {
            // One write per batch: O_APPEND keeps whole records together.
            let mut done = 0;
            while done < self.buf.len() {
                match self.file.write(&self.buf[done..]) {
                    Ok(0) => break,
                    Ok(n) => done += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // Keep only what did not reach the file, so a later
                        // try appends it once; a record cut in two is written
                        // again whole, on a line of its own (the torn piece
                        // is ignored when read).
                        self.len += done as u64;
                        if done > 0 && self.buf[done - 1] != b'\n' {
                            let start = self.buf[..done]
                                .iter()
                                .rposition(|&b| b == b'\n')
                                .map_or(0, |i| i + 1);
                            let mut rest = b"\n".to_vec();
                            rest.extend_from_slice(&self.buf[start..]);
                            self.buf = rest;
                        } else {
                            self.buf.drain(..done);
                        }
                        return Err(Error::io(
                            format!("cannot write the journal `{}`", self.path.display()),
                            e,
                        ));
                    }
                }
            }
            self.len += done as u64;
            if done < self.buf.len() {
                self.buf.drain(..done);
                return Err(Error::io(
                    format!("cannot write the journal `{}`", self.path.display()),
                    std::io::Error::from(std::io::ErrorKind::WriteZero),
                ));
            }
            self.buf.clear();
            self.reserve();
        }
        Ok(())
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.sync_if_due(true);
        // Give the unused reservation back. Only past the real end of file,
        // never past a count that a failed write may have left behind.
        let Ok(end) = self.file.metadata().map(|m| m.len()) else {
            return;
        };
        if self.reserved_to > end {
            // Truncating to the same length frees blocks past the end (ext4
            // will not punch a hole there).
            let _ = self.file.set_len(end);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn rec(id: &str, outcome: &str, start_ms: u64, run: u64) -> Record {
        Record {
            id: id.into(),
            attempt: 1,
            outcome: outcome.into(),
            exit: None,
            signal: None,
            start_ms,
            duration_ms: 1,
            fp: "f".into(),
            cmd: "c".into(),
            inputs: vec![],
            needs: String::new(),
            run,
        }
    }

    fn lines_of(records: &[Record]) -> String {
        records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect()
    }

    /// A plan of units `t[i=0]`, `t[i=1]`, ... with its state dir in `dir`.
    fn plan_in(dir: &Path, units: usize) -> Plan {
        let toml = format!(
            "[job]\nname = \"job\"\nstate_dir = \"{}\"\n[[task]]\nname = \"t\"\n\
             matrix.i = {{ range = [0, {units}] }}\nrun = [\"true\"]\n",
            dir.display()
        );
        let path = dir.join("job.toml");
        std::fs::write(&path, toml).expect("manifest");
        let loaded = crate::manifest::load(&path).expect("load");
        crate::plan::build(&loaded, &crate::plan::PlanOptions::default()).expect("plan")
    }

    #[test]
    fn disk_space_is_held_while_open_and_given_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut j = Journal::open(dir.path(), "job", "job.journal", None).expect("open");
        let path = j.path().to_owned();
        let blocks = || std::fs::metadata(&path).expect("journal").blocks() * 512;
        assert!(blocks() >= RESERVE, "held: {}", blocks());
        j.buf.extend_from_slice(b"{\"a\":1}\n");
        j.unsynced = Some(Instant::now());
        j.sync_if_due(true).expect("sync");
        drop(j);
        // The record stays; the space past it is free again.
        assert_eq!(std::fs::read(&path).expect("journal"), b"{\"a\":1}\n");
        assert!(blocks() <= 64 << 10, "after: {}", blocks());
    }

    #[test]
    fn a_partial_write_is_finished_once_and_a_cut_record_is_written_again_whole() {
        // A non-blocking pipe takes 64 KiB and then refuses: a partial write.
        let mut fds = [0; 2];
        // SAFETY: fds is valid for two descriptors.
        assert_eq!(
            unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) },
            0
        );
        // SAFETY: both are fresh descriptors owned by nothing else.
        let (mut reader, writer) = unsafe {
            use std::os::fd::FromRawFd;
            (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1]))
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let mut j = Journal {
            file: writer,
            path: dir.path().join("pipe"),
            buf: Vec::new(),
            unsynced: None,
            len: 0,
            reserved_to: 0,
            lock: JobLock::acquire(&dir.path().join("lock"), "job").expect("lock"),
            _split: SplitLock::acquire(&dir.path().join("split"), "job", None).expect("lock"),
        };
        let records: Vec<String> = (0..2000)
            .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(40)))
            .collect();
        for r in &records {
            j.buf.extend_from_slice(r.as_bytes());
        }
        assert!(j.write_out().is_err(), "the pipe is full part-way");
        // Both ends are non-blocking: read what is there.
        let mut got = Vec::new();
        let _ = reader.read_to_end(&mut got);
        j.write_out().expect("the rest fits now");
        let _ = reader.read_to_end(&mut got);
        // Every record arrives whole exactly once; at most one torn piece.
        let text = String::from_utf8(got).expect("utf-8");
        let whole: Vec<&str> = text
            .lines()
            .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
            .collect();
        let expected: Vec<&str> = records.iter().map(|r| r.trim_end()).collect();
        assert_eq!(whole, expected);
        assert!(text.lines().count() <= records.len() + 1);
    }

    #[test]
    fn the_later_line_wins_whatever_the_clock_said() {
        let dir = tempfile::tempdir().expect("temp dir");
        let plan = plan_in(dir.path(), 2);
        // An `ok` stamped in the future (the clock was set back since),
        // then a newer failure with an earlier start time.
        let text = lines_of(&[
            rec("t[i=0]", "ok", 9_000_000, 1),
            rec("t[i=0]", "failed", 1_000, 2),
            rec("t[i=1]", "failed", 5, 1),
            rec("t[i=1]", "ok", 4, 1),
        ]);
        std::fs::write(dir.path().join("job.journal"), text).expect("journal");
        let prior = read_prior(&plan, false);
        assert_eq!(prior.last["t[i=0]"].outcome, "failed");
        assert_eq!(prior.last["t[i=1]"].outcome, "ok");
        assert_eq!(prior.run, 3);
        assert!(prior.skipped.is_empty());
    }

    #[test]
    fn across_journal_files_the_higher_run_wins_then_the_start_time() {
        let dir = tempfile::tempdir().expect("temp dir");
        let plan = plan_in(dir.path(), 3);
        let main = lines_of(&[
            rec("t[i=0]", "ok", 9_000, 5),
            rec("t[i=1]", "ok", 1_000, 0),
            rec("t[i=2]", "failed", 1_000, 0),
        ]);
        let shard = lines_of(&[
            // A later run whose clock was behind.
            rec("t[i=0]", "failed", 10, 6),
            // Both from before run numbers: the start time decides.
            rec("t[i=1]", "failed", 500, 0),
            rec("t[i=2]", "ok", 2_000, 0),
        ]);
        std::fs::write(dir.path().join("job.journal"), main).expect("journal");
        std::fs::write(dir.path().join("job.shard-1-of-2.journal"), shard).expect("journal");
        let prior = read_prior(&plan, false);
        assert_eq!(prior.last["t[i=0]"].outcome, "failed");
        assert_eq!(prior.last["t[i=1]"].outcome, "ok");
        assert_eq!(prior.last["t[i=2]"].outcome, "ok");
        assert_eq!(prior.run, 7);
    }

    #[test]
    fn unreadable_lines_are_reported_per_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let plan = plan_in(dir.path(), 1);
        let text = lines_of(&[rec("t[i=0]", "ok", 1, 1)]) + "garbage\n{\"id\":\"t[i=0]\"}\n";
        let path = dir.path().join("job.journal");
        std::fs::write(&path, text).expect("journal");
        let prior = read_prior(&plan, false);
        assert_eq!(prior.skipped.len(), 1);
        let (at, skipped) = &prior.skipped[0];
        assert_eq!(at, &path);
        assert_eq!((skipped.unreadable, skipped.first_unreadable), (2, 2));
        // The unreadable line names the unit, so its older `ok` is not trusted.
        assert_eq!(prior.last["t[i=0]"].outcome, UNREADABLE);
    }
}
