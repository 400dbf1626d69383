//! Compaction: a journal only grows (every attempt of every run, `--fresh`
//! runs included), and every run reads all of it. When most of its lines
//! are superseded, the run that holds the job's lock rewrites it with what
//! still counts (checked when a run closes its journal, from the counts it
//! read at the start, so a run pays nothing when there is nothing to gain):
//! - each unit's last line (within one file the later line wins, so the
//!   decisions of every later run are unchanged);
//! - every line of the file's latest run (the attempt history `status` and
//!   `report` show);
//! - lines are kept byte for byte and in their order; a line that names no
//!   unit (garbage, a torn tail) is dropped, as readers skip it anyway.
//!
//! Crash safety: the new journal is written to a temporary file beside it,
//! fsynced, then renamed over the old one (atomic), and the folder fsynced.
//! A kill at any instant leaves either the old journal or the new one, both
//! whole; a leftover temporary file is overwritten by the next compaction.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Journals smaller than this are left alone: reading them costs little.
pub const MIN_BYTES: u64 = 256 << 10;

/// The head of a record: what compaction decides by.
#[derive(serde::Deserialize)]
struct Head {
    id: String,
    #[serde(default)]
    run: u64,
}

/// What a compaction did: lines before and after.
#[derive(Debug, PartialEq, Eq)]
pub struct Compacted {
    pub before: usize,
    pub after: usize,
}

/// The lines of `text` to keep, by index, or `None` when fewer than half
/// would go (not worth a rewrite).
fn keep(text: &[u8]) -> (usize, Option<Vec<usize>>) {
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let heads: Vec<Option<Head>> = lines
        .iter()
        .map(|l| {
            // A line cut short has no newline: it was never a whole record.
            l.strip_suffix(b"\n")
                .and_then(|l| serde_json::from_slice::<Head>(l).ok())
        })
        .collect();
    let latest_run = heads.iter().flatten().map(|h| h.run).max().unwrap_or(0);
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, h) in heads.iter().enumerate() {
        if let Some(h) = h {
            last.insert(&h.id, i);
        }
    }
    let kept: Vec<usize> = heads
        .iter()
        .enumerate()
        .filter(|(i, h)| {
            h.as_ref().is_some_and(|h| {
                (latest_run > 0 && h.run == latest_run) || last[h.id.as_str()] == *i
            })
        })
        .map(|(i, _)| i)
        .collect();
    let n = lines.len();
    if kept.len() * 2 > n {
        (n, None)
    } else {
        (n, Some(kept))
    }
}

/// A quick look before the real one: more than twice as many lines as
/// units. Records start with `{"id":"`, so the id is read without parsing
/// the line (only an id with an escape in it is parsed; a line with no id
/// is taken as a unit of its own).
fn mostly_superseded(text: &[u8]) -> bool {
    use std::borrow::Cow;
    const HEAD: &[u8] = b"{\"id\":\"";
    let mut ids: std::collections::HashSet<Cow<'_, [u8]>> = std::collections::HashSet::new();
    let mut lines = 0usize;
    let mut other = 0usize;
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        lines += 1;
        let plain = line.strip_prefix(HEAD).and_then(|rest| {
            let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
            (rest[end] == b'"').then(|| &rest[..end])
        });
        let id = match plain {
            Some(id) => Some(Cow::Borrowed(id)),
            None => serde_json::from_slice::<Head>(line)
                .ok()
                .map(|h| Cow::Owned(h.id.into_bytes())),
        };
        match id {
            Some(id) => {
                ids.insert(id);
            }
            None => other += 1,
        }
    }
    lines > 2 * (ids.len() + other)
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".compacting");
    path.with_file_name(name)
}

/// Compact the journal at `path` when it is worth it. Only the holder of
/// the journal's lock may call this, after its last write.
pub fn compact(path: &Path) -> io::Result<Option<Compacted>> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if len < MIN_BYTES {
        return Ok(None);
    }
    let text = std::fs::read(path)?;
    if !mostly_superseded(&text) {
        return Ok(None);
    }
    let (before, Some(kept)) = keep(&text) else {
        return Ok(None);
    };
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let mut out = Vec::with_capacity(kept.iter().map(|&i| lines[i].len()).sum());
    for &i in &kept {
        out.extend_from_slice(lines[i]);
    }
    let tmp = temp_path(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    let written = f.write_all(&out).and_then(|()| f.sync_all());
    if let Err(e) = written {
        drop(f);
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)?.sync_all()?;
    }
    Ok(Some(Compacted {
        before,
        after: kept.len(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, run: u64, attempt: u32) -> String {
        format!("{{\"id\":\"{id}\",\"attempt\":{attempt},\"outcome\":\"ok\",\"run\":{run}}}\n")
    }

    #[test]
    fn keeps_each_units_last_line_and_the_latest_run_in_order() {
        let mut text = String::new();
        for run in 1..=4 {
            for id in ["a", "b", "c"] {
                text += &rec(id, run, 1);
            }
        }
        // Run 5 touched only `a`, which needed two attempts.
        text += &rec("a", 5, 1);
        text += &rec("a", 5, 2);
        text += "garbage\n";
        text += "{\"id\":\"b\",\"attempt\":1,\"outc"; // torn tail
        let (n, kept) = keep(text.as_bytes());
        assert_eq!(n, 16);
        // b and c from run 4, then both attempts of run 5.
        assert_eq!(kept.unwrap(), [10, 11, 12, 13]);
    }

    #[test]
    fn the_quick_look_counts_units_without_parsing() {
        let once = rec("a", 1, 1) + &rec("b", 1, 1) + &rec("c\\\"q", 1, 1);
        assert!(!mostly_superseded(once.as_bytes()));
        let thrice = once.repeat(3);
        assert!(mostly_superseded(thrice.as_bytes()));
    }

    #[test]
    fn a_journal_mostly_current_is_left_alone() {
        let text = rec("a", 1, 1) + &rec("b", 1, 1) + &rec("a", 2, 1);
        assert_eq!(keep(text.as_bytes()).1, None);
    }

    #[test]
    fn an_unreadable_record_that_names_a_unit_stays_its_latest() {
        // Another schema's record for `a` after its ok one: `a` must still
        // run again, so that line is what is kept for it.
        let mut text = String::new();
        for run in 1..=3 {
            text += &rec("a", run, 1);
            text += &rec("b", run, 1);
        }
        text += "{\"id\":\"a\",\"outcome\":\"from-the-future\",\"run\":3}\n";
        text += &rec("c", 4, 1);
        let lines: Vec<&str> = text.lines().collect();
        let kept = keep(text.as_bytes()).1.unwrap();
        let kept: Vec<&str> = kept.iter().map(|&i| lines[i]).collect();
        assert_eq!(kept, [lines[5], lines[6], lines[7]]);
    }

    #[test]
    fn rewrites_atomically_and_only_when_worth_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.journal");
        let mut text = String::new();
        let mut run = 0;
        while text.len() < MIN_BYTES as usize {
            run += 1;
            for i in 0..100 {
                text += &rec(&format!("unit-{i}"), run, 1);
            }
        }
        std::fs::write(&path, &text).unwrap();
        // A temporary file left by a compaction that was killed.
        std::fs::write(temp_path(&path), "half").unwrap();
        let done = compact(&path).unwrap().unwrap();
        assert_eq!(done.before, 100 * run as usize);
        assert_eq!(done.after, 100);
        let now = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            now,
            text.lines()
                .skip(100 * (run as usize - 1))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
        );
        assert!(!temp_path(&path).exists());
        // Small now: left alone.
        assert_eq!(compact(&path).unwrap(), None);
    }
}
