//! Glob matching over the file system, for `{ glob = "..." }` matrix sources.
//!
//! The `glob` crate's walker panics on (or skips) file names that are not
//! UTF-8, so the walk is done here, one path component at a time, with
//! `glob::Pattern` matching each name. A name that is not UTF-8 is matched
//! lossily (each bad byte is one `?`), but the path it yields keeps its exact
//! bytes. Invariant: results are paths relative to the base (or absolute for
//! an absolute pattern), sorted bytewise, without duplicates; `*`, `?` and
//! `[..]` never match a leading `.`.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use glob::{MatchOptions, Pattern, PatternError};

const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// A walk problem: a bad pattern, or a folder that could not be read.
#[derive(Debug)]
pub enum WalkError {
    Pattern(PatternError),
    Io(PathBuf, io::Error),
}

/// The paths matching `pattern`, relative to `base` unless the pattern is absolute.
pub fn glob(base: &Path, pattern: &str) -> Result<Vec<Vec<u8>>, WalkError> {
    // Validates the whole pattern (e.g. `**` must be a whole component).
    Pattern::new(pattern).map_err(WalkError::Pattern)?;
    let absolute = pattern.starts_with('/');
    let comps: Vec<&str> = pattern
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let comps = comps
        .iter()
        .map(|c| Comp::new(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(WalkError::Pattern)?;
    let (start, shown) = if absolute {
        (PathBuf::from("/"), b"/".to_vec())
    } else {
        (base.to_path_buf(), Vec::new())
    };
    let mut out = Vec::new();
    walk(&start, shown, &comps, &mut out)?;
    // `d*/` matches folders only, as in a shell.
    if pattern.ends_with('/') {
        out.retain(|p| {
            let p = Path::new(std::ffi::OsStr::from_bytes(p));
            if absolute {
                p.is_dir()
            } else {
                base.join(p).is_dir()
            }
        });
    }
    out.sort();
    out.dedup();
    Ok(out)
}

enum Comp<'a> {
    Literal(&'a str),
    Pattern(Pattern),
    Recursive,
}

impl<'a> Comp<'a> {
    fn new(c: &'a str) -> Result<Comp<'a>, PatternError> {
        Ok(if c == "**" {
            Comp::Recursive
        } else if c.contains(['*', '?', '[']) {
            Comp::Pattern(Pattern::new(c)?)
        } else {
            Comp::Literal(c)
        })
    }
}

fn join(shown: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = shown.to_vec();
    if !v.is_empty() && !v.ends_with(b"/") {
        v.push(b'/');
    }
    v.extend_from_slice(name);
    v
}

/// Entries of `dir`, or none when it is missing or not a folder.
fn entries(dir: &Path) -> Result<Vec<(Vec<u8>, PathBuf)>, WalkError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(WalkError::Io(dir.to_path_buf(), e)),
    };
    let mut v = Vec::new();
    for e in rd {
        let e = e.map_err(|e| WalkError::Io(dir.to_path_buf(), e))?;
        v.push((e.file_name().as_bytes().to_vec(), e.path()));
    }
    Ok(v)
}

fn walk(
    dir: &Path,
    shown: Vec<u8>,
    comps: &[Comp<'_>],
    out: &mut Vec<Vec<u8>>,
) -> Result<(), WalkError> {
    let Some((first, rest)) = comps.split_first() else {
        if !shown.is_empty() {
            out.push(shown);
        }
        return Ok(());
    };
    match first {
        Comp::Literal(name) => {
            let path = dir.join(name);
            // `symlink_metadata` so a dangling link still matches, as a name.
            if rest.is_empty() {
                if path.symlink_metadata().is_ok() {
                    out.push(join(&shown, name.as_bytes()));
                }
            } else if path.is_dir() || *name == ".." {
                walk(&path, join(&shown, name.as_bytes()), rest, out)?;
            }
        }
        Comp::Pattern(p) => {
            for (name, path) in entries(dir)? {
                if !p.matches_with(&String::from_utf8_lossy(&name), OPTIONS) {
                    continue;
                }
                if rest.is_empty() {
                    out.push(join(&shown, &name));
                } else if path.is_dir() {
                    walk(&path, join(&shown, &name), rest, out)?;
                }
            }
        }
        // A final `**` (`sub/**`) is everything below: files and folders.
        Comp::Recursive if rest.is_empty() => {
            for (name, path) in entries(dir)? {
                if name.starts_with(b".") {
                    continue;
                }
                let entry = join(&shown, &name);
                if path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                    walk(&path, entry.clone(), comps, out)?;
                }
                out.push(entry);
            }
        }
        Comp::Recursive => {
            // Zero folders, then one more level of non-hidden folders.
            walk(dir, shown.clone(), rest, out)?;
            for (name, path) in entries(dir)? {
                // Symlinked folders are not entered, so a link cycle cannot loop.
                let is_dir = path.symlink_metadata().is_ok_and(|m| m.is_dir());
                if !name.starts_with(b".") && is_dir {
                    walk(&path, join(&shown, &name), comps, out)?;
                }
            }
        }
    }
    Ok(())
}
