//! A unit's fingerprint: blake3 over its rendered command, env and dir (the
//! "command" part) and each input file's path and content.
//!
//! Content hashes are cached by (path, size, mtime): a rerun over 10,000
//! unchanged inputs stats them instead of reading them. The cache is seeded
//! from the journal, so it survives between runs without a file of its own.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::plan::{Command, Plan};

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
    /// Hex hash of everything below.
    pub hash: String,
    /// Hex hash of argv or shell string, env and dir.
    pub command: String,
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

    /// Stamp one input; a missing or unreadable file gets an empty hash (the
    /// unit then runs and reports the problem itself).
    pub fn stamp(&self, shown: String, abs: &Path) -> InputStamp {
        let Ok(meta) = std::fs::metadata(abs) else {
            return InputStamp {
                path: shown,
                size: 0,
                mtime_ns: 0,
                hash: String::new(),
            };
        };
        let size = meta.len();
        let mtime_ns = meta
            .mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(meta.mtime_nsec());
        let key = (abs.to_path_buf(), size, mtime_ns);
        if let Some(h) = self.lock().get(&key) {
            return InputStamp {
                path: shown,
                size,
                mtime_ns,
                hash: h.clone(),
            };
        }
        let hash = hash_file(abs).unwrap_or_default();
        if !hash.is_empty() {
            self.lock().insert(key, hash.clone());
        }
        InputStamp {
            path: shown,
            size,
            mtime_ns,
            hash,
        }
    }
}

fn hash_file(p: &Path) -> std::io::Result<String> {
    let mut h = blake3::Hasher::new();
    let f = std::fs::File::open(p)?;
    h.update_reader(f)?;
    Ok(h.finalize().to_hex().to_string())
}

fn put(h: &mut blake3::Hasher, bytes: &[u8]) {
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// The fingerprint of `unit` now (its inputs as they are on disk). `{worker}` is left unrendered so the same
/// unit fingerprints the same on any worker.
pub fn fingerprint(plan: &Plan, unit: usize, cache: &HashCache) -> Fingerprint {
    let mut h = blake3::Hasher::new();
    match plan.command(unit, None) {
        Command::Argv(argv) => {
            h.update(b"argv");
            for a in &argv {
                put(&mut h, a.as_bytes());
            }
        }
        Command::Shell(s) => {
            h.update(b"shell");
            for a in &plan.job.shell {
                put(&mut h, a.as_bytes());
            }
            put(&mut h, s.as_bytes());
        }
    }
    h.update(b"env");
    for (k, v) in plan.env(unit, None) {
        put(&mut h, k.as_bytes());
        put(&mut h, v.as_bytes());
    }
    // Relative, so moving the whole checkout does not make everything stale.
    h.update(b"dir");
    put(&mut h, plan.dir_rel(unit).as_os_str().as_bytes());
    let dir = plan.dir(unit);
    let command = h.finalize().to_hex().to_string();

    let task = plan.task_of(unit);
    let inputs: Vec<InputStamp> = plan
        .paths(unit, &task.inputs)
        .into_iter()
        .map(|rel| {
            let abs = dir.join(&rel);
            cache.stamp(display(rel.into_os_string()), &abs)
        })
        .collect();
    let mut h = blake3::Hasher::new();
    put(&mut h, command.as_bytes());
    for i in &inputs {
        put(&mut h, i.path.as_bytes());
        put(&mut h, i.hash.as_bytes());
    }
    Fingerprint {
        hash: h.finalize().to_hex().to_string(),
        command,
        inputs,
        needs: String::new(),
    }
}

fn display(p: OsString) -> String {
    crate::plan::value::display_bytes(p.as_bytes()).into_owned()
}
