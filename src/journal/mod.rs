//! The journal: `state_dir/<job>.journal`, append-only JSON Lines, one record
//! per finished attempt. It makes reruns skip what is done (`up_to_date`).
//!
//! Invariants: records are only appended, each with one `write` (O_APPEND)
//! as soon as its attempt ends and before its unit counts as finished, so a
//! `kill -9` of jobrun loses no record the kernel has taken: only units
//! running at that moment run again. fsync is batched (group commit): at
//! most 100 ms after a record is written, and at exit; it only matters when
//! the machine itself goes down. A torn line is skipped (and a newline is
//! written before appending after one); one run per job at a time, enforced
//! by an OS lock that dies with the process. Identity is the unit id, never
//! a position in the plan. Which record of a unit is its latest never
//! depends on the clock: within a file, the later line; across the files of
//! a sharded job, the higher run number (see `read_prior`).

mod compact;
mod fingerprint;
mod history;
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
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub use fingerprint::{Fingerprint, HashCache, InputError, InputStamp, fingerprint};
pub use history::latest_run;
pub use lock::JobLock;
pub use record::{Digest, Record, Skipped, Text, UNREADABLE, parse_lines};
pub use split::SplitLock;
pub use stamp::{NO_STAMP, Stamp, epoch_ms, needs_hash, stamp};
pub use why::{OutputLookup, Why, explain, explain_plan, needs_of};

use crate::error::Error;
use crate::plan::Plan;

/// At most this long between a record's write and its fsync.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// Disk space held for the journal beyond its end, so records still fit
/// when unit logs fill the disk. ~4,000 records.
const RESERVE: u64 = 1 << 20;
/// Renew the reservation when less than this is left.
const RESERVE_LOW: u64 = 256 << 10;

/// The latest record per unit id: the records in one vector, an index by
/// id beside it (a map of the records themselves rounds up to a power of
/// two of them: 8 MB instead of 4.5 for 20,000). The ids come from jobrun's
/// own journal: a fast hash, not a flood-resistant one.
#[derive(Default)]
pub struct Latest {
    records: Vec<Record>,
    index: HashMap<Text, u32, foldhash::fast::RandomState>,
}

impl Latest {
    fn with_capacity(n: usize) -> Latest {
        Latest {
            records: Vec::with_capacity(n),
            index: HashMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

    pub fn get(&self, id: &str) -> Option<&Record> {
        self.index.get(id).map(|&i| &self.records[i as usize])
    }

    /// Add `r`, in place of any record of its unit.
    fn insert(&mut self, r: Record) {
        match self.index.get(r.id.as_str()) {
            Some(&i) => self.records[i as usize] = r,
            None => {
                self.index.insert(r.id.clone(), self.records.len() as u32);
                self.records.push(r);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

impl std::ops::Index<&str> for Latest {
    type Output = Record;
    fn index(&self, id: &str) -> &Record {
        self.get(id).expect("a unit with a record")
    }
}

/// What earlier runs recorded, for deciding what is up to date.
#[derive(Default)]
pub struct Prior {
    /// The latest record per unit id (see `read_prior`).
    pub last: Latest,
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
    /// Per journal file: its lines and the units they name (compaction).
    pub sizes: Vec<(PathBuf, usize, usize)>,
    pub outputs: OutputLookup,
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
        outputs: OutputLookup::new(&plan.job.dir),
        ..Prior::default()
    };
    // Built on the first record with input hashes: most journals have none.
    let mut index: Option<HashMap<&str, usize>> = None;
    let mut highest = 0;
    for path in journal_files(&plan.job.state_dir, &plan.job.name) {
        let Ok(text) = std::fs::read(&path) else {
            continue;
        };
        let (pieces, skipped) = record::parse_pieces(&text);
        drop(text);
        if skipped != Skipped::default() {
            prior.skipped.push((path.clone(), skipped));
        }
        let records: usize = pieces.iter().map(Vec::len).sum();
        let lines = records + skipped.unreadable + skipped.torn;
        let mut latest = Latest::with_capacity(records);
        // Piece by piece, in file order (the later line wins), each given
        // back once taken in.
        for r in pieces.into_iter().flatten() {
            highest = highest.max(r.run);
            if r.inputs.iter().any(|s| !s.hash.is_empty()) {
                let index = index.get_or_insert_with(|| {
                    plan.units
                        .iter()
                        .enumerate()
                        .map(|(i, u)| (&*u.id, i))
                        .collect()
                });
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
            }
            latest.insert(r);
        }
        prior.sizes.push((path.clone(), lines, latest.len()));
        if prior.last.is_empty() {
            prior.last = latest;
            continue;
        }
        for r in latest.records {
            match prior.last.get(&r.id) {
                Some(old) if (old.run, old.start_ms) > (r.run, r.start_ms) => {}
                _ => prior.last.insert(r),
            }
        }
    }
    prior.run = highest.saturating_add(1);
    // Only dependents hash their needs' stamps.
    if plan.has_needs() {
        prior.stamps = plan
            .units
            .iter()
            .map(|u| prior.last.get(&u.id).map_or(NO_STAMP, Record::stamp))
            .collect();
    }
    prior
}

/// The open journal of a running job. Workers append to it as their units
/// end; the run's reporting thread syncs it (`sync_if_due`).
pub struct Journal {
    file: File,
    path: PathBuf,
    tail: Mutex<Tail>,
    /// Lines and units of the file when the run read it (`note_prior`).
    before: Mutex<(usize, usize)>,
    lock: JobLock,
    _split: SplitLock,
}

/// The writing end, one writer at a time.
struct Tail {
    /// Reused for each record's line.
    line: Vec<u8>,
    unsynced: Option<Instant>,
    /// The file's length, and how far disk space is held for it.
    len: u64,
    reserved_to: u64,
    /// A write stopped inside a record: the next one starts a new line.
    torn: bool,
    /// Records this run wrote.
    appended: usize,
}

impl Journal {
    /// Lock the job and open its journal for appending. `name` is the
    /// journal's file name (`<job>.journal`, or a shard's); `shards` is N
    /// of `--shard K/N`. A disk with no room for a record is refused here,
    /// before any unit runs whose record would be lost.
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
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut torn = false;
        if len > 0 {
            let mut last = [0u8; 1];
            torn = !file
                .seek(SeekFrom::Start(len - 1))
                .and_then(|_| file.read_exact(&mut last))
                .map(|()| last[0] == b'\n')
                .unwrap_or(false);
        }
        let journal = Journal {
            file,
            path,
            tail: Mutex::new(Tail {
                line: Vec::with_capacity(1024),
                unsynced: None,
                len,
                reserved_to: len,
                // After a crash the last line may be torn: the next record
                // starts on a line of its own.
                torn,
                appended: 0,
            }),
            before: Mutex::new((0, 0)),
            lock,
            _split: split,
        };
        if let Err(e) = journal.reserve(&mut journal.tail())
            && e.raw_os_error() == Some(libc::ENOSPC)
        {
            return Err(Error::io(
                format!(
                    "no room for the journal `{}` (free some space, then run again)",
                    journal.path.display()
                ),
                e,
            ));
        }
        Ok(journal)
    }

    fn tail(&self) -> MutexGuard<'_, Tail> {
        self.tail.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hold disk space past the end. Best effort: a file system without
    /// `fallocate` just gets no reservation; the error is the last size's.
    fn reserve(&self, t: &mut Tail) -> std::io::Result<()> {
        if t.reserved_to >= t.len + RESERVE_LOW {
            return Ok(());
        }
        let mut err = None;
        // A small disk gets a small reservation rather than none.
        for size in [RESERVE, RESERVE / 16, 4096] {
            // SAFETY: plain syscall on our own open file.
            let r = unsafe {
                libc::fallocate(
                    self.file.as_raw_fd(),
                    libc::FALLOC_FL_KEEP_SIZE,
                    t.len as libc::off_t,
                    size as libc::off_t,
                )
            };
            if r == 0 {
                t.reserved_to = t.len + size;
                return Ok(());
            }
            err = Some(std::io::Error::last_os_error());
        }
        err.map_or(Ok(()), Err)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What this journal held when the run read it, and the plan's size:
    /// at close, a journal mostly superseded is compacted (see `compact`).
    pub fn note_prior(&self, prior: &Prior, units: usize) {
        if let Some((_, lines, named)) = prior.sizes.iter().find(|(p, _, _)| *p == self.path) {
            *self.before.lock().unwrap_or_else(|e| e.into_inner()) = (*lines, (*named).max(units));
        }
    }

    /// Did the last run of this journal end without a clean exit (killed)?
    pub fn killed_before(&self) -> bool {
        self.lock.killed_before()
    }

    /// Write one record to the file now (one `write`: O_APPEND keeps it
    /// whole among others); it is fsynced by a later `sync_if_due`. On an
    /// error the record is not in the journal, and its unit runs again.
    pub fn append(&self, r: &Record) -> Result<(), Error> {
        let mut guard = self.tail();
        let t = &mut *guard;
        t.line.clear();
        if t.torn {
            t.line.push(b'\n');
        }
        serde_json::to_writer(&mut t.line, r)
            .map_err(|e| Error::io("cannot encode a journal record", e.into()))?;
        t.line.push(b'\n');
        let mut done = 0;
        let written = loop {
            if done == t.line.len() {
                break Ok(());
            }
            match (&self.file).write(&t.line[done..]) {
                Ok(0) => break Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        t.len += done as u64;
        t.appended += 1;
        if done > 0 {
            t.torn = t.line[done - 1] != b'\n';
            t.unsynced.get_or_insert_with(Instant::now);
        }
        written.map_err(|e| {
            Error::io(
                format!("cannot write the journal `{}`", self.path.display()),
                e,
            )
        })?;
        let _ = self.reserve(t);
        Ok(())
    }

    /// When the oldest unsynced record is due for fsync, if any.
    pub fn due(&self) -> Option<Instant> {
        self.tail().unsynced.map(|t| t + SYNC_INTERVAL)
    }

    /// fsync if the oldest unsynced record is 100 ms old (or `force`). The
    /// sync runs outside the lock, so workers never wait for the disk.
    pub fn sync_if_due(&self, force: bool) -> Result<(), Error> {
        let due = {
            let mut t = self.tail();
            match t.unsynced {
                Some(at) if force || Instant::now() >= at + SYNC_INTERVAL => {
                    t.unsynced = None;
                    true
                }
                _ => false,
            }
        };
        if due {
            self.file.sync_data().map_err(|e| {
                Error::io(
                    format!("cannot sync the journal `{}`", self.path.display()),
                    e,
                )
            })?;
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
        if self.tail().reserved_to > end {
            // Truncating to the same length frees blocks past the end (ext4
            // will not punch a hole there).
            let _ = self.file.set_len(end);
        }
        // Still under the job's lock (dropped after this). Best effort: a
        // journal that could not be compacted is as good as before.
        let (lines, units) = *self.before.lock().unwrap_or_else(|e| e.into_inner());
        let appended = self.tail().appended;
        if lines + appended > 2 * units.max(appended) {
            let _ = compact::compact(&self.path);
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
            worker: 0,
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
        let j = Journal::open(dir.path(), "job", "job.journal", None).expect("open");
        let path = j.path().to_owned();
        let blocks = || std::fs::metadata(&path).expect("journal").blocks() * 512;
        assert!(blocks() >= RESERVE, "held: {}", blocks());
        let r = rec("a", "ok", 1, 1);
        j.append(&r).expect("append");
        drop(j);
        // The record stays; the space past it is free again.
        assert_eq!(
            std::fs::read_to_string(&path).expect("journal"),
            lines_of(&[r])
        );
        assert!(blocks() <= 64 << 10, "after: {}", blocks());
    }

    #[test]
    fn a_record_reaches_the_file_when_appended_and_is_synced_later() {
        let dir = tempfile::tempdir().expect("temp dir");
        let j = Journal::open(dir.path(), "job", "job.journal", None).expect("open");
        assert_eq!(j.due(), None);
        let r = rec("a", "ok", 1, 1);
        j.append(&r).expect("append");
        // In the kernel's hands already: a `kill -9` now loses nothing.
        let text = std::fs::read_to_string(j.path()).expect("journal");
        assert_eq!(text, lines_of(std::slice::from_ref(&r)));
        let due = j.due().expect("an fsync is due");
        assert!(due <= Instant::now() + SYNC_INTERVAL);
        j.sync_if_due(true).expect("sync");
        assert_eq!(j.due(), None);
    }

    #[test]
    fn after_a_torn_line_the_next_record_starts_a_line_of_its_own() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("job.journal");
        let whole = rec("a", "ok", 1, 1);
        let cut = serde_json::to_string(&rec("b", "ok", 2, 1)).unwrap();
        std::fs::write(&path, lines_of(std::slice::from_ref(&whole)) + &cut[..20]).expect("write");
        let j = Journal::open(dir.path(), "job", "job.journal", None).expect("open");
        let next = rec("c", "ok", 3, 2);
        j.append(&next).expect("append");
        drop(j);
        let (records, skipped) = parse_lines(&std::fs::read(&path).expect("journal"));
        assert_eq!(records, vec![whole, next]);
        assert_eq!((skipped.torn, skipped.unreadable), (1, 0));
    }

    #[test]
    fn a_record_cut_by_a_failed_write_is_followed_by_a_whole_one() {
        // A non-blocking pipe with little room left takes part of a big
        // record and then refuses: a partial write.
        let mut fds = [0; 2];
        // SAFETY: fds is valid for two descriptors.
        assert_eq!(
            unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) },
            0
        );
        // SAFETY: both are fresh descriptors owned by nothing else.
        let (mut reader, mut writer) = unsafe {
            use std::os::fd::FromRawFd;
            (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1]))
        };
        let mut filler = 0;
        while let Ok(n) = writer.write(&[b'\n'; 1024]) {
            filler += n;
        }
        let mut drained = vec![0u8; 8 * 1024];
        reader
            .read_exact(&mut drained)
            .expect("room for part of a record");
        let dir = tempfile::tempdir().expect("temp dir");
        let j = Journal {
            file: writer,
            path: dir.path().join("pipe"),
            tail: Mutex::new(Tail {
                line: Vec::new(),
                unsynced: None,
                len: 0,
                reserved_to: u64::MAX / 2,
                torn: false,
                appended: 0,
            }),
            before: Mutex::new((0, 0)),
            lock: JobLock::acquire(&dir.path().join("lock"), "job").expect("lock"),
            _split: SplitLock::acquire(&dir.path().join("split"), "job", None).expect("lock"),
        };
        let mut big = rec("big", "ok", 1, 1);
        big.cmd = "x".repeat(32 * 1024).into();
        assert!(j.append(&big).is_err(), "the pipe is full part-way");
        assert!(j.tail().torn);
        let mut got = Vec::new();
        let _ = reader.read_to_end(&mut got);
        let small = rec("small", "ok", 2, 1);
        j.append(&small).expect("room now");
        let _ = reader.read_to_end(&mut got);
        assert!(
            got.len() > filler - drained.len(),
            "part of the big record arrived"
        );
        let (records, skipped) = parse_lines(&got);
        assert_eq!(records, vec![small]);
        assert_eq!(skipped.torn, 1);
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
