//! Run-time units: a matrix source (a lines, glob or row source) that reads
//! what a task it needs writes is expanded when those producers have
//! finished, not when the plan is built.
//!
//! A source reads a producer's output when its file is one of the
//! producer's declared `outputs`, or lies below one (an output folder); a
//! glob reads it when the glob's folder holds such an output or lies below
//! it. Output templates are compared as patterns: a matrix key in an
//! output (`{out}/raw/{key}`) matches any text. Only tasks in the source
//! task's `needs`, directly or transitively, count: a file some unrelated
//! task writes is read at plan time, as before.

use std::path::{Component, Path, PathBuf};

use indexmap::IndexMap;
use toml::Spanned;

use super::build::Context;
use super::template::{Lookup, Slot, Template};

/// Why a task has no units yet.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The tasks whose outputs its matrix reads (task indices, in order).
    pub producers: Vec<usize>,
    /// The matrix entries that read them.
    pub reads: Vec<Read>,
    /// `jobrun plan` only: the task's units are shown as its files are now.
    pub preview: bool,
}

#[derive(Debug, Clone)]
pub struct Read {
    /// The matrix entry (`matrix.NAME`).
    pub entry: String,
    /// The file or glob, as written after vars.
    pub path: String,
    /// A row source: several keys, named in the file.
    pub rows: bool,
}

/// Sources that read a file, and the key naming that file.
const FILE_SOURCES: [(&str, bool); 5] = [
    ("lines", false),
    ("glob", false),
    ("csv", true),
    ("json", true),
    ("jsonl", true),
];

impl Pending {
    /// The matrix with each read list standing in for one value, for
    /// checking a task before its list exists; None if a row source's
    /// columns (its keys) cannot be known yet.
    pub fn stand_in(
        &self,
        matrix: &IndexMap<String, Spanned<toml::Value>>,
    ) -> Option<IndexMap<String, Spanned<toml::Value>>> {
        let mut out = IndexMap::with_capacity(matrix.len());
        for (k, v) in matrix {
            match self.reads.iter().find(|r| r.entry == *k) {
                Some(r) if r.rows => return None,
                Some(_) => {
                    let one = toml::Value::Array(vec![toml::Value::String("-".into())]);
                    out.insert(k.clone(), Spanned::new(v.span(), one));
                }
                None => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        Some(out)
    }

    /// "pending: expands when `list` has finished (matrix.key reads
    /// `out/keys.txt`)".
    pub fn describe(&self, tasks: &[super::TaskPlan]) -> String {
        let reads: Vec<String> = self
            .reads
            .iter()
            .map(|r| format!("matrix.{} reads `{}`", r.entry, r.path))
            .collect();
        format!(
            "pending: expands when {} {} finished ({})",
            self.producer_names(tasks),
            if self.producers.len() == 1 {
                "has"
            } else {
                "have"
            },
            reads.join(", ")
        )
    }

    /// The producers' names, for messages: "`list`" or "`a`, `b`".
    pub fn producer_names(&self, tasks: &[super::TaskPlan]) -> String {
        self.producers
            .iter()
            .map(|&p| format!("`{}`", tasks[p].name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// For each task, what makes it pending, if anything.
pub(crate) fn find(cx: &Context<'_>, needs: &[Vec<usize>]) -> Vec<Option<Pending>> {
    let tasks = &cx.loaded.manifest.tasks;
    // Output patterns per task, made once.
    let mut outputs: Vec<Option<Vec<String>>> = vec![None; tasks.len()];
    let mut out = Vec::with_capacity(tasks.len());
    for (ti, task) in tasks.iter().enumerate() {
        let upstream = needed_by(needs, &[ti]);
        let mut pending = Pending {
            producers: Vec::new(),
            reads: Vec::new(),
            preview: false,
        };
        for (entry, v) in &task.matrix {
            let Some((path, glob, rows)) = file_of(v.get_ref()) else {
                continue;
            };
            let Some(rendered) = render(cx, task.name.get_ref(), path, false) else {
                continue;
            };
            let abs = normalize(&cx.job.dir.join(&rendered));
            let mut hit = false;
            for p in (0..tasks.len()).filter(|&p| upstream[p]) {
                let pats = outputs[p].get_or_insert_with(|| output_patterns(cx, p));
                if pats.iter().any(|o| reads(o, &abs, glob)) {
                    hit = true;
                    if !pending.producers.contains(&p) {
                        pending.producers.push(p);
                    }
                }
            }
            if hit {
                pending.reads.push(Read {
                    entry: entry.clone(),
                    path: rendered,
                    rows,
                });
            }
        }
        pending.producers.sort_unstable();
        out.push((!pending.producers.is_empty()).then_some(pending));
    }
    out
}

/// Per task: is it needed, directly or through others, by a task of
/// `from`? (`needs[t]` are the tasks `t` needs; the graph has no cycle.)
pub fn needed_by(needs: &[Vec<usize>], from: &[usize]) -> Vec<bool> {
    let mut seen = vec![false; needs.len()];
    let mut stack: Vec<usize> = from
        .iter()
        .flat_map(|&t| needs[t].iter().copied())
        .collect();
    while let Some(n) = stack.pop() {
        if !std::mem::replace(&mut seen[n], true) {
            stack.extend(&needs[n]);
        }
    }
    seen
}

/// The file (or glob) a source table reads: (path, is a glob, is a row source).
fn file_of(v: &toml::Value) -> Option<(&str, bool, bool)> {
    let t = v.as_table()?;
    FILE_SOURCES.iter().find_map(|&(k, rows)| {
        t.get(k)
            .and_then(toml::Value::as_str)
            .map(|p| (p, k == "glob", rows))
    })
}

/// WILD stands for a matrix key's value in a rendered output path.
const WILD: char = '\u{0}';

/// Render a template over vars, env and names; other names (matrix keys,
/// `unit.id`, ...) become WILD when `wild`, else the template is not
/// rendered. None for a template that does not parse (the planner reports it).
fn render(cx: &Context<'_>, task: &str, text: &str, wild: bool) -> Option<String> {
    let resolve = |name: &str| -> Result<Slot, Option<String>> {
        match cx.static_slot(name) {
            Some(s) => Ok(s),
            None if wild => Ok(Slot::Key(0)),
            None => Err(None),
        }
    };
    let t = Template::parse(text, &resolve).ok()?;
    let lookup = Wild(cx.static_cx(task));
    String::from_utf8(t.render(&lookup, false)).ok()
}

struct Wild<'a>(super::build::StaticCx<'a>);

impl Lookup for Wild<'_> {
    fn lookup(&self, slot: &Slot, out: &mut Vec<u8>) {
        match slot {
            Slot::Key(_) => out.push(0),
            s => self.0.lookup(s, out),
        }
    }
}

/// A task's outputs as absolute paths with WILD for what varies per unit.
fn output_patterns(cx: &Context<'_>, ti: usize) -> Vec<String> {
    let task = &cx.loaded.manifest.tasks[ti];
    let name = task.name.get_ref();
    let dir = match &task.dir {
        Some(d) => match render(cx, name, d.get_ref(), true) {
            Some(d) => cx.job.dir.join(d),
            None => return Vec::new(),
        },
        None => cx.job.dir.clone(),
    };
    task.outputs
        .iter()
        .filter_map(|o| render(cx, name, o.get_ref(), true))
        .map(|o| normalize(&dir.join(o)).to_string_lossy().into_owned())
        .collect()
}

/// Does a source at `abs` (a file, or a glob when `glob`) read what output
/// pattern `out` names?
fn reads(out: &str, abs: &Path, glob: bool) -> bool {
    let abs = abs.to_string_lossy();
    if !glob {
        return covers(out, &abs);
    }
    // The glob's folder: its text up to the last `/` before any wildcard.
    let first_wild = abs.find(['*', '?', '[', '{']).unwrap_or(abs.len());
    let base = match abs[..first_wild].rfind('/') {
        Some(0) => "/",
        Some(i) => &abs[..i],
        None => return false,
    };
    let literal = &out[..out.find(WILD).unwrap_or(out.len())];
    covers(out, base)
        || literal.starts_with(&format!("{}/", base.trim_end_matches('/')))
        || (out.contains(WILD) && base.starts_with(literal))
}

/// Does output pattern `out` name `path` or a folder above it?
fn covers(out: &str, path: &str) -> bool {
    let mut p = Path::new(path);
    loop {
        if matches(out, &p.to_string_lossy()) {
            return true;
        }
        match p.parent() {
            Some(parent) => p = parent,
            None => return false,
        }
    }
}

/// `out` matches `s`, WILD matching any text (including `/`).
fn matches(out: &str, s: &str) -> bool {
    let mut parts = out.split(WILD);
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = s.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    if parts.is_empty() {
        return rest.is_empty();
    }
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// `a/./b/../c` -> `a/c`, without touching the file system (the files may
/// not exist yet).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let w = |s: &str| s.replace('*', "\u{0}");
        assert!(matches(&w("/j/out/keys.txt"), "/j/out/keys.txt"));
        assert!(!matches(&w("/j/out/keys.txt"), "/j/out/keys.txt2"));
        assert!(matches(&w("/j/raw/*"), "/j/raw/a/b.jpg"));
        assert!(matches(&w("/j/*/x-*.txt"), "/j/a/x-1.txt"));
        assert!(!matches(&w("/j/*/x-*.txt"), "/j/a/y-1.txt"));
        // An output folder covers the files below it.
        assert!(covers("/j/out", "/j/out/keys.txt"));
        assert!(!covers("/j/out", "/j/outside/keys.txt"));
        // Globs.
        assert!(reads(&w("/j/raw/*"), Path::new("/j/raw/*.jpg"), true));
        assert!(reads("/j/raw", Path::new("/j/raw/**/*.jpg"), true));
        assert!(reads(&w("/j/*/done"), Path::new("/j/raw/*.jpg"), true));
        assert!(!reads(&w("/j/thumbs/*"), Path::new("/j/raw/*.jpg"), true));
        assert_eq!(normalize(Path::new("/j/./a/../b")), PathBuf::from("/j/b"));
    }
}
