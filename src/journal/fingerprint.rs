//! A unit's fingerprint: blake3 over its rendered command, env and dir (the
//! "command" part) and each input file's path and content.
//!
//! Content hashes are cached by (path, size, mtime): a rerun over 10,000
//! unchanged inputs stats them instead of reading them. The cache is seeded
//! from the journal, so it survives between runs without a file of its own.
//!
//! Only regular files are read: a FIFO, device, socket or directory is an
//! error for its unit (opening or reading one may block or never end), and
//! hashing looks at a stop flag between chunks, so a signal is never held
//! up by a huge input.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::record::Digest;
use crate::plan::{CommandTemplate, Plan};
use crate::regular::{self, OpenError};

/// An input file as it was hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputStamp {
    /// As rendered from the template (relative to the unit's dir, or absolute).
    pub path: String,
    pub size: u64,
    pub mtime_ns: i64,
    /// Hex blake3 of the content; empty when the file is missing.
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Hash of everything below (written in hex).
    pub hash: Digest,
    /// Hash of argv or shell string, env and dir.
    pub command: Digest,
    pub inputs: Vec<InputStamp>,
    /// Which runs of its needs the unit is made from (see `stamp`); empty
    /// for a unit without needs. Set by the caller, who knows them.
    pub needs: String,
}

type CacheKey = (PathBuf, u64, i64);

/// Content hashes by (path, size, mtime); shared by all workers.
#[derive(Default)]
pub struct HashCache {
    map: Mutex<HashMap<CacheKey, String>>,
}

impl HashCache {
    pub fn seed(&self, abs: PathBuf, size: u64, mtime_ns: i64, hash: String) {
        self.lock().insert((abs, size, mtime_ns), hash);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, String>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stamp one input. A missing or unreadable file gets an empty hash (the
    /// unit then runs and reports the problem itself); a file that is not a
    /// regular one is refused, since reading it could block or never end.
    /// `stop` ends a long hash early.
    pub fn stamp(
        &self,
        shown: String,
        abs: &Path,
        stop: &AtomicBool,
    ) -> Result<InputStamp, InputError> {
        let missing = |shown| InputStamp {
            path: shown,
            size: 0,
            mtime_ns: 0,
            hash: String::new(),
        };
        // A stat first: an unchanged input is found in the cache unopened.
        let Ok(meta) = std::fs::metadata(abs) else {
            return Ok(missing(shown));
        };
        if let Some(kind) = regular::kind(&meta) {
            return Err(InputError::NotRegular { path: shown, kind });
        }
        let key = (abs.to_path_buf(), meta.len(), mtime_ns(&meta));
        if let Some(h) = self.lock().get(&key) {
            return Ok(InputStamp {
                path: shown,
                size: key.1,
                mtime_ns: key.2,
                hash: h.clone(),
            });
        }
        let (hash, meta) = match hash_file(abs, stop) {
            Ok(r) => r,
            Err(HashError::NotRegular(kind)) => {
                return Err(InputError::NotRegular { path: shown, kind });
            }
            Err(HashError::Stopped) => return Err(InputError::Stopped),
            Err(HashError::Io) => return Ok(missing(shown)),
        };
        // What was read, which may be newer than the first stat.
        let (size, mtime_ns) = (meta.len(), mtime_ns(&meta));
        self.lock()
            .insert((abs.to_path_buf(), size, mtime_ns), hash.clone());
        Ok(InputStamp {
            path: shown,
            size,
            mtime_ns,
            hash,
        })
    }
}

/// Why an input could not be stamped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// A FIFO, device, socket or directory: jobrun hashes regular files only.
    NotRegular { path: String, kind: &'static str },
    /// The run is stopping.
    Stopped,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::NotRegular { path, kind } => write!(
                f,
                "input `{path}` is {kind}, not a regular file; only regular files can be inputs"
            ),
            InputError::Stopped => f.write_str("stopped while hashing the inputs"),
        }
    }
}

enum HashError {
    NotRegular(&'static str),
    Stopped,
    Io,
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec())
}

/// Read and hashed between two looks at the stop flag (well under a millisecond).
const CHUNK: usize = 64 << 10;

/// The content hash of a regular file and its metadata as read.
fn hash_file(p: &Path, stop: &AtomicBool) -> Result<(String, std::fs::Metadata), HashError> {
    let (mut f, meta) = regular::open(p).map_err(|e| match e {
        OpenError::Io(_) => HashError::Io,
        OpenError::NotRegular(kind) => HashError::NotRegular(kind),
    })?;
    let mut buf = vec![0u8; CHUNK];
    let hash = with_hasher(|h| {
        loop {
            if stop.load(Ordering::Relaxed) {
                return Err(HashError::Stopped);
            }
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    h.update(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Err(HashError::Io),
            }
        }
        Ok(h.finalize().to_hex().to_string())
    })?;
    Ok((hash, meta))
}

thread_local! {
    static HASHER: std::cell::Cell<Option<Box<blake3::Hasher>>> = const { std::cell::Cell::new(None) };
}

/// `f` with a reset hasher kept off the stack (~1.9 KB: a worker thread keeps
/// every stack page it ever touched, and at -j 1000 each page is 4 MB) and
/// made once per thread (a no-op rerun hashes every unit).
pub(crate) fn with_hasher<R>(f: impl FnOnce(&mut blake3::Hasher) -> R) -> R {
    let mut h = HASHER
        .take()
        .unwrap_or_else(|| Box::new(blake3::Hasher::new()));
    h.reset();
    let r = f(&mut h);
    HASHER.set(Some(h));
    r
}

fn put(h: &mut blake3::Hasher, bytes: &[u8]) {
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// The fingerprint of `unit` now (its inputs as they are on disk). `{worker}` is left unrendered so the same
/// unit fingerprints the same on any worker. Hashing ends early when `stop` is set.
pub fn fingerprint(
    plan: &Plan,
    unit: usize,
    cache: &HashCache,
    stop: &AtomicBool,
) -> Result<Fingerprint, InputError> {
    let task = plan.task_of(unit);
    // Each part rendered into one buffer and hashed from there: the same
    // bytes as `Plan::command`, `env` and `dir_rel` give, without their
    // allocations (a no-op rerun fingerprints every unit).
    let mut buf = Vec::new();
    let command = with_hasher(|h| {
        match &task.command {
            CommandTemplate::Run(argv) => {
                h.update(b"argv");
                for t in argv {
                    plan.render_to(unit, t, false, &mut buf);
                    put(h, &buf);
                }
            }
            CommandTemplate::Shell(t) => {
                h.update(b"shell");
                for a in &plan.job.shell {
                    put(h, a.as_bytes());
                }
                plan.render_to(unit, t, true, &mut buf);
                put(h, &buf);
            }
        }
        h.update(b"env");
        for (k, t) in &task.env {
            put(h, k.as_bytes());
            plan.render_to(unit, t, false, &mut buf);
            put(h, &buf);
        }
        // Relative, so moving the whole checkout does not make everything stale.
        h.update(b"dir");
        match &task.dir {
            Some(t) => {
                plan.render_to(unit, t, false, &mut buf);
                put(h, &buf);
            }
            None => put(h, b"."),
        }
        Digest::Bytes(*h.finalize().as_bytes())
    });

    let dir = if task.inputs.is_empty() {
        PathBuf::new()
    } else {
        plan.dir(unit)
    };
    let inputs: Vec<InputStamp> = plan
        .paths(unit, &task.inputs)
        .into_iter()
        .map(|rel| {
            let abs = dir.join(&rel);
            cache.stamp(display(rel.into_os_string()), &abs, stop)
        })
        .collect::<Result<_, _>>()?;
    // The hex text, as records have always held it: a stored fingerprint
    // stays comparable.
    let hash = with_hasher(|h| {
        command.with_str(|c| put(h, c.as_bytes()));
        for i in &inputs {
            put(h, i.path.as_bytes());
            put(h, i.hash.as_bytes());
        }
        Digest::Bytes(*h.finalize().as_bytes())
    });
    Ok(Fingerprint {
        hash,
        command,
        inputs,
        needs: String::new(),
    })
}

fn display(p: OsString) -> String {
    crate::plan::value::display_bytes(p.as_bytes()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_regular_files_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = HashCache::default();
        let go = AtomicBool::new(false);
        let file = dir.path().join("a");
        std::fs::write(&file, b"hello").expect("write");
        let s = cache.stamp("a".into(), &file, &go).expect("regular file");
        assert_eq!(s.hash, blake3::hash(b"hello").to_hex().to_string());
        assert_eq!(s.size, 5);
        let missing = cache.stamp("b".into(), &dir.path().join("b"), &go);
        assert_eq!(missing.expect("missing is no error").hash, "");
        let e = cache.stamp("/dev/null".into(), Path::new("/dev/null"), &go);
        assert_eq!(
            e.expect_err("a device").to_string(),
            "input `/dev/null` is a character device, not a regular file; only regular files can be inputs"
        );
    }

    #[test]
    fn a_set_stop_flag_ends_hashing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("a");
        std::fs::write(&file, vec![7u8; 3 * CHUNK]).expect("write");
        let stop = AtomicBool::new(true);
        let e = HashCache::default().stamp("a".into(), &file, &stop);
        assert_eq!(e, Err(InputError::Stopped));
    }
}
