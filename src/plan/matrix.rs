//! Matrix expansion: value sources, cartesian product, then GitHub Actions
//! `exclude` and `include` (SPEC 1.1).
//!
//! Invariants: combinations come out in matrix order (declared entries, the
//! last varying fastest; a row file is one entry whose columns are keys, in
//! its place), then the combinations includes add, in include order. No two
//! entries give the same key.
//! The number of units and of values they keep is known and checked against
//! the plan's budget before any combination is made. Each include or exclude
//! entry costs the combinations it names (one, when it gives every matrix
//! key), not a pass over all of them.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use indexmap::IndexMap;
use toml::Spanned;

use super::grid::{self, Grid, Positions};
use super::source::{self, Source as ValueSource};
use super::template::{Lookup, Template};
use super::value::{UnitValues, Value};
use crate::error::{Diagnostic, Source, did_you_mean};

/// Units a plan may have: it keeps every unit in memory (about 200 bytes each).
pub const MAX_UNITS: usize = 10_000_000;
/// Values a plan's units may keep in all, one per unit and key (16 bytes
/// each, whether the unit has a value for the key or not).
pub const MAX_SLOTS: usize = 200_000_000;

/// What is left of the plan's limits for the next task.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub units: usize,
    pub slots: usize,
}

impl Budget {
    pub const PLAN: Budget = Budget {
        units: MAX_UNITS,
        slots: MAX_SLOTS,
    };
}

/// One combination: a value per task key (None where an include-added unit
/// lacks a key), and for include-added units the keys its id lists.
#[derive(Debug, Clone)]
pub struct Combo {
    pub values: UnitValues,
    pub own_keys: Option<Box<[u32]>>,
}

#[derive(Debug)]
pub struct Expansion {
    /// Declared matrix keys first, then keys only includes bring.
    pub keys: Vec<String>,
    pub declared: usize,
    pub combos: Vec<Combo>,
}

/// Everything expansion needs from the surrounding plan.
/// Parses a template string found at a span, for a named field.
pub type ParseFn<'a> = dyn Fn(&str, Range<usize>, &str) -> Result<Template, Diagnostic> + 'a;

pub struct Scope<'a> {
    pub source: &'a Source,
    pub job_dir: &'a Path,
    pub task: &'a str,
    /// Renders templates that may use vars, env and job/task names only.
    pub lookup: &'a dyn Lookup,
    /// Parses such a template, mapping errors to diagnostics.
    pub parse: &'a ParseFn<'a>,
}

type Entry = Spanned<IndexMap<String, Spanned<toml::Value>>>;

/// An include entry, resolved against the matrix.
struct Extension {
    /// Declared keys it names: (key, the positions of its value).
    picks: Vec<(usize, Vec<u32>)>,
    /// Declared keys it names, with their values (for a unit it adds).
    matching: Vec<(usize, Value)>,
    /// Keys the matrix does not declare, with their values.
    extras: Vec<(usize, Value)>,
    /// Whether it extends a combination; if not, it adds one.
    extends: bool,
}

pub fn expand(
    scope: &Scope<'_>,
    matrix: &IndexMap<String, Spanned<toml::Value>>,
    include: &[Entry],
    exclude: &[Entry],
    budget: Budget,
) -> Result<Expansion, Diagnostic> {
    let mut sources: Vec<ValueSource<'_>> = Vec::new();
    for (key, value) in matrix {
        check_key_name(scope, key, value.span())?;
        if key == "include" || key == "exclude" {
            return Err(
                Diagnostic::new(format!("`matrix.{key}` is not a matrix key"))
                    .at(scope.source, value.span())
                    .help(format!(
                        "write `{key} = [...]` at the task level (next to `matrix`), not inside it"
                    )),
            );
        }
        sources.push(ValueSource::new(scope, key, value)?);
    }
    let last_key = || sources.last().map_or(0..0, |s| s.span.clone());
    let Some(axes) = source_values(scope, &sources, budget)? else {
        return Err(too_many(scope, budget, last_key()));
    };
    // Declared keys in declaration order, a row file's columns in its place.
    let mut keys: Vec<String> = Vec::new();
    // Where each declared key's values are: (axis, column).
    let mut at: Vec<(usize, usize)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (a, axis) in axes.iter().enumerate() {
        for (c, key) in axis.keys.iter().enumerate() {
            if let Some(&k) = index.get(key) {
                return Err(clash(scope, key, &sources[at[k].0], &sources[a]));
            }
            index.insert(key.clone(), keys.len());
            keys.push(key.clone());
            at.push((a, c));
        }
    }
    let declared = keys.len();
    let grid = Grid::new(axes.iter().map(|a| a.len).collect());
    // Built for the keys entries name, when they first name them.
    let mut positions: Vec<Option<Positions<'_>>> = (0..declared).map(|_| None).collect();
    let mut pick = |k: usize, v: &Value, picks: &mut Vec<(usize, Vec<u32>)>| {
        let (a, c) = at[k];
        let p = positions[k]
            .get_or_insert_with(|| Positions::new(&axes[a].columns[c]))
            .of(v);
        grid::narrow(picks, a, p);
    };

    // Exclude first, entry by entry: one that removes nothing is an error
    // even when an earlier entry removed what it names.
    let mut removed = vec![false; if exclude.is_empty() { 0 } else { grid.total() }];
    for entry in exclude {
        let mut picks = Vec::new();
        for (key, value, span) in entry_values(scope, entry, "exclude")? {
            let Some(&k) = index.get(&key) else {
                let mut d = Diagnostic::new(format!(
                    "task `{}`: exclude names `{key}`, which is not a matrix key",
                    scope.task
                ))
                .at(scope.source, span);
                d = match did_you_mean(&key, keys.iter().map(String::as_str)) {
                    Some(s) => d.label(format!("did you mean `{s}`?")),
                    None => d.label("not a matrix key"),
                };
                return Err(d.help(format!("matrix keys: {}", list(&keys))));
            };
            pick(k, &value, &mut picks);
        }
        let mut removes = false;
        grid.each(&picks, |i| {
            removes |= !removed[i];
            removed[i] = true;
            true
        });
        if !removes {
            return Err(Diagnostic::new(format!(
                "task `{}`: this exclude entry removes nothing",
                scope.task
            ))
            .at(scope.source, entry.span())
            .label("matches no combination")
            .help("check the values against `jobrun plan`; an exclude that matches nothing is almost always a typo"));
        }
    }
    let is_kept = |i: usize| removed.get(i) != Some(&true);
    let kept = grid.total() - removed.iter().filter(|r| **r).count();

    // Includes are resolved before any combination is made, so the plan's
    // size and width are known first.
    let mut extensions: Vec<Extension> = Vec::with_capacity(include.len());
    let mut widened_at = last_key();
    for entry in include {
        let mut ext = Extension {
            picks: Vec::new(),
            matching: Vec::new(),
            extras: Vec::new(),
            extends: false,
        };
        for (key, value, span) in entry_values(scope, entry, "include")? {
            check_key_name(scope, &key, span)?;
            match index.get(&key) {
                Some(&k) if k < declared => {
                    pick(k, &value, &mut ext.picks);
                    ext.matching.push((k, value));
                }
                Some(&k) => ext.extras.push((k, value)),
                None => {
                    index.insert(key.clone(), keys.len());
                    ext.extras.push((keys.len(), value));
                    keys.push(key);
                    widened_at = entry.span();
                }
            }
        }
        grid.each(&ext.picks, |i| {
            ext.extends |= is_kept(i);
            !ext.extends
        });
        extensions.push(ext);
    }
    let added = extensions.iter().filter(|e| !e.extends).count();
    // No matrix: one unit, unless includes alone define the units (GitHub
    // treats an include-only matrix as one job per entry).
    let lone = usize::from(sources.is_empty() && added == 0);
    let units = kept + added + lone;
    if units > budget.units {
        return Err(too_many(scope, budget, last_key()));
    }
    let width = keys.len();
    if units.checked_mul(width).is_none_or(|s| s > budget.slots) {
        return Err(Diagnostic::new(format!(
            "task `{}`: {units} units with {width} keys each are too many values to keep",
            scope.task
        ))
        .at(scope.source, widened_at)
        .label(if width > declared {
            "this entry's keys widen every unit"
        } else {
            "the matrix is this wide"
        })
        .help(format!(
            "a plan keeps a value for every unit and key, at most {MAX_SLOTS} in all; \
             give include entries keys in common, or split the job into several job files"
        )));
    }

    let mut combos: Vec<Combo> = Vec::with_capacity(units);
    // Where each kept combination is, when excludes removed some.
    let mut slot: Vec<u32> = Vec::new();
    // Each axis's row in combination `i`.
    let mut idx = vec![0usize; axes.len()];
    for i in 0..grid.total() {
        if !removed.is_empty() {
            slot.push(if is_kept(i) {
                combos.len() as u32
            } else {
                u32::MAX
            });
        }
        if is_kept(i) {
            let mut v = UnitValues::with_capacity(width);
            v.extend(
                at.iter()
                    .map(|&(a, c)| Some(axes[a].columns[c][idx[a]].clone())),
            );
            v.resize(width, None);
            combos.push(Combo {
                values: v,
                own_keys: None,
            });
        }
        for a in (0..axes.len()).rev() {
            idx[a] += 1;
            if idx[a] < axes[a].len {
                break;
            }
            idx[a] = 0;
        }
    }
    for ext in extensions {
        if ext.extends {
            // Original values are never overwritten, earlier includes' extras are.
            grid.each(&ext.picks, |i| {
                if is_kept(i) {
                    let c = if slot.is_empty() { i } else { slot[i] as usize };
                    for (k, v) in &ext.extras {
                        combos[c].values[*k] = Some(v.clone());
                    }
                }
                true
            });
            continue;
        }
        let mut values = UnitValues::from_elem(None, width);
        let mut own: Vec<u32> = Vec::new();
        for (k, v) in ext.matching.into_iter().chain(ext.extras) {
            own.push(k as u32);
            values[k] = Some(v);
        }
        // Declared keys first in declaration order, then extras in the order
        // the task's includes first name them, so all ids of a task agree.
        own.sort_unstable();
        combos.push(Combo {
            values,
            own_keys: Some(own.into_boxed_slice()),
        });
    }
    if lone == 1 {
        combos.push(Combo {
            values: UnitValues::new(),
            own_keys: None,
        });
    }
    Ok(Expansion {
        keys,
        declared,
        combos,
    })
}

/// One source's values, ready to combine: a column per key, all `len` long.
struct Axis {
    keys: Vec<String>,
    columns: Vec<Vec<Value>>,
    len: usize,
}

/// Every source's values, or `None` when their product is over the budget.
/// Arrays and ranges are counted before anything is read or made; globs,
/// lines and row files are then read with what they leave.
fn source_values(
    scope: &Scope<'_>,
    sources: &[ValueSource<'_>],
    budget: Budget,
) -> Result<Option<Vec<Axis>>, Diagnostic> {
    let mut product = 1usize;
    let mut over = false;
    for n in sources.iter().filter_map(ValueSource::len) {
        match product.checked_mul(n) {
            Some(p) if p <= budget.units => product = p,
            _ => over = true,
        }
    }
    // Past the budget only an empty source (allow_empty) can save the matrix,
    // making the product 0 however large the rest; the other sources are
    // then only checked, and not even opened unless one was empty.
    let mut empty = false;
    let mut unread = Vec::new();
    let mut read: Vec<Option<source::Values>> = sources.iter().map(|_| None).collect();
    for (i, s) in sources.iter().enumerate() {
        if s.len().is_some() {
            continue;
        }
        if over && !empty && !s.allows_empty() {
            unread.push(i);
            continue;
        }
        let limit = if over || empty {
            0
        } else {
            budget.units / product
        };
        let values = s.values(scope, limit, budget.slots)?;
        match values.columns.as_deref().map(length) {
            Some(0) => empty = true,
            Some(n) => product *= n,
            None => over = true,
        }
        read[i] = Some(values);
    }
    if over && !empty {
        return Ok(None);
    }
    for i in unread {
        read[i] = Some(sources[i].values(scope, 0, budget.slots)?);
    }
    let limit = if empty { 0 } else { budget.units };
    let mut out = Vec::with_capacity(sources.len());
    for (s, values) in sources.iter().zip(read) {
        let values = match values {
            Some(v) => v,
            None => s.values(scope, limit, budget.slots)?,
        };
        // Past its limit only beside an empty source: no combination is made.
        let columns = values
            .columns
            .unwrap_or_else(|| vec![Vec::new(); values.keys.len()]);
        out.push(Axis {
            len: length(&columns),
            keys: values.keys,
            columns,
        });
    }
    Ok(Some(out))
}

fn length(columns: &[Vec<Value>]) -> usize {
    columns.first().map_or(0, Vec::len)
}

/// Two sources give `key`; at least one is a row file (entry names are unique).
fn clash(
    scope: &Scope<'_>,
    key: &str,
    first: &ValueSource<'_>,
    second: &ValueSource<'_>,
) -> Diagnostic {
    let (rows, other) = if second.has_rows() {
        (second, first)
    } else {
        (first, second)
    };
    let with = if other.has_rows() {
        format!("column `{key}` of `matrix.{}`", other.key())
    } else {
        format!("`matrix.{key}`")
    };
    Diagnostic::new(format!(
        "task `{}`: column `{key}` of `matrix.{}` clashes with {with}",
        scope.task,
        rows.key()
    ))
    .at(scope.source, rows.span.clone())
    .help("each column is a matrix key of its own: rename the column, or the other key")
}

fn too_many(scope: &Scope<'_>, budget: Budget, at: Range<usize>) -> Diagnostic {
    let d = if budget.units == MAX_UNITS {
        Diagnostic::new(format!(
            "task `{}`: the matrix has more than 10,000,000 combinations",
            scope.task
        ))
        .at(scope.source, at)
        .label("the product of all matrix keys is too large")
    } else {
        Diagnostic::new(format!(
            "task `{}`: the plan has more than 10,000,000 units",
            scope.task
        ))
        .at(scope.source, at)
        .label(format!(
            "the tasks before this one have {} units, so this one may have {} at most",
            MAX_UNITS - budget.units,
            budget.units
        ))
    };
    d.help("a plan keeps every unit in memory (about 200 bytes each): split the job into several job files")
}

fn list(keys: &[String]) -> String {
    if keys.is_empty() {
        return "(none: the task has no matrix)".into();
    }
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub const RESERVED: [&str; 5] = ["env", "job", "task", "unit", "worker"];

pub fn check_key_name(scope: &Scope<'_>, key: &str, span: Range<usize>) -> Result<(), Diagnostic> {
    match bad_key(key) {
        None => Ok(()),
        Some(BadKey::Invalid) => Err(Diagnostic::new(format!("invalid matrix key `{key}`"))
            .at(scope.source, span)
            .help(BadKey::Invalid.help())),
        Some(BadKey::Reserved) => Err(Diagnostic::new(format!("`{key}` is a reserved name"))
            .at(scope.source, span)
            .help(BadKey::Reserved.help())),
    }
}

/// Why a name cannot be a matrix key.
#[derive(Debug, Clone, Copy)]
pub enum BadKey {
    Invalid,
    Reserved,
}

impl BadKey {
    /// Completes "column `x` ...".
    pub fn what(self) -> &'static str {
        match self {
            BadKey::Invalid => "is not a valid key name",
            BadKey::Reserved => "is a reserved name",
        }
    }

    pub fn help(self) -> String {
        match self {
            BadKey::Invalid => {
                "keys are made of letters, digits, `_` and `-`, so templates can name them".into()
            }
            BadKey::Reserved => {
                format!("choose another key name; reserved: {}", RESERVED.join(", "))
            }
        }
    }
}

pub fn bad_key(key: &str) -> Option<BadKey> {
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Some(BadKey::Invalid);
    }
    RESERVED.contains(&key).then_some(BadKey::Reserved)
}

fn entry_values(
    scope: &Scope<'_>,
    entry: &Entry,
    what: &str,
) -> Result<Vec<(String, Value, Range<usize>)>, Diagnostic> {
    if entry.get_ref().is_empty() {
        return Err(
            Diagnostic::new(format!("task `{}`: empty {what} entry", scope.task))
                .at(scope.source, entry.span())
                .help("give at least one `key = value`"),
        );
    }
    entry
        .get_ref()
        .iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                source::scalar(scope, v.get_ref(), v.span())?,
                v.span(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;

    use indoc::indoc;

    use std::ops::Range;
    use std::path::Path;

    use proptest::prelude::*;

    use super::{Budget, Expansion, Scope, expand};
    use crate::error::Diagnostic;
    use crate::plan::build::tests::{error, files, ids, plan, plan_in};
    use crate::plan::template::{Lookup, Slot, Template};
    use crate::plan::{Plan, Value};

    /// A task `t` with these matrix lines, run = ["true"].
    fn task(lines: &str) -> String {
        format!("[[task]]\nname = \"t\"\nrun = [\"true\"]\n{lines}")
    }

    /// Every unit's values by key name, in key order, skipping absent ones.
    fn values(p: &Plan) -> Vec<String> {
        p.units
            .iter()
            .map(|u| {
                let t = &p.tasks[u.task as usize];
                t.keys
                    .iter()
                    .zip(u.values.iter())
                    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", v.display())))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn last_key_varies_fastest() {
        let p = plan(&task(indoc! {r#"
            matrix.b = [2, 1]
            matrix.a = ["y", "x"]
            matrix.c = [false]
        "#}));
        // Declaration order, not alphabetical; values in the order written.
        assert_eq!(
            ids(&p),
            [
                "t[b=2,a=y,c=false]",
                "t[b=2,a=x,c=false]",
                "t[b=1,a=y,c=false]",
                "t[b=1,a=x,c=false]",
            ]
        );
    }

    #[test]
    fn sources() {
        let dir = files(&[
            ("in/b.jpg", b""),
            ("in/a.jpg", b""),
            ("in/B.jpg", b""),
            ("in/.hidden.jpg", b""),
            ("in/c.png", b""),
            ("in/sub/d.jpg", b""),
            ("in/sub/deeper/e.jpg", b""),
            ("list.txt", b"one\n\ntwo words\r\n\nthree"),
        ]);
        let cases: &[(&str, &[&str])] = &[
            ("matrix.i = { range = [2, 5] }", &["i=2", "i=3", "i=4"]),
            ("matrix.i = { range = [-1, 1] }", &["i=-1", "i=0"]),
            (
                // Bytewise: upper case before lower case; no dotfiles.
                r#"matrix.f = { glob = "in/*.jpg" }"#,
                &["f=in/B.jpg", "f=in/a.jpg", "f=in/b.jpg"],
            ),
            (
                r#"matrix.f = { glob = "in/.*.jpg" }"#,
                &["f=in/.hidden.jpg"],
            ),
            (
                r#"matrix.f = { glob = "in/**/*.jpg" }"#,
                &[
                    "f=in/B.jpg",
                    "f=in/a.jpg",
                    "f=in/b.jpg",
                    "f=in/sub/d.jpg",
                    "f=in/sub/deeper/e.jpg",
                ],
            ),
            (r#"matrix.f = { glob = "./in/?.png" }"#, &["f=in/c.png"]),
            (
                // A final `**`: everything below, files and folders.
                r#"matrix.f = { glob = "in/sub/**" }"#,
                &["f=in/sub/d.jpg", "f=in/sub/deeper", "f=in/sub/deeper/e.jpg"],
            ),
            // A trailing `/`: folders only.
            (r#"matrix.f = { glob = "in/*/" }"#, &["f=in/sub"]),
            (
                r#"matrix.f = { glob = "in/a.jpg/", allow_empty = true }"#,
                &[],
            ),
            (
                r#"matrix.f = { glob = "in/*.gif", allow_empty = true }"#,
                &[],
            ),
            (
                r#"matrix.l = { lines = "list.txt" }"#,
                &["l=one", "l=two words", "l=three"],
            ),
        ];
        for (src, want) in cases {
            let p = plan_in(dir.path(), &task(src), &[]).unwrap_or_else(|e| panic!("{src}: {e}"));
            assert_eq!(values(&p), *want, "{src}");
        }
    }

    #[test]
    fn glob_keeps_any_file_name_byte_for_byte() {
        let dir = files(&[]);
        let names: [&[u8]; 6] = [
            b"a b.jpg",
            b"it's.jpg",
            b"$(touch pwned).jpg",
            b"-rf.jpg",
            b"new\nline.jpg",
            b"caf\xe9.jpg",
        ];
        for n in names {
            std::fs::write(dir.path().join(std::ffi::OsStr::from_bytes(n)), b"").unwrap();
        }
        let p = plan_in(dir.path(), &task(r#"matrix.f = { glob = "*.jpg" }"#), &[]).unwrap();
        let mut want: Vec<&[u8]> = names.to_vec();
        want.sort();
        let got: Vec<&[u8]> = p
            .units
            .iter()
            .map(|u| u.values[0].as_ref().unwrap().as_bytes())
            .collect();
        assert_eq!(got, want);
        assert!(ids(&p).contains(&"t[f=caf\\xe9.jpg]"));
        assert!(ids(&p).contains(&"t[f=new\\nline.jpg]"));
    }

    #[test]
    fn absolute_glob_gives_absolute_paths() {
        let dir = files(&[("x/a.txt", b"")]);
        let root = dir.path().canonicalize().unwrap();
        let toml = task(&format!(
            "matrix.f = {{ glob = \"{}/x/*.txt\" }}",
            root.display()
        ));
        let p = plan_in(dir.path(), &toml, &[]).unwrap();
        assert_eq!(
            p.units[0].values[0],
            Some(Value::new(root.join("x/a.txt").as_os_str().as_bytes()))
        );
    }

    #[test]
    fn include_and_exclude() {
        // (matrix/include/exclude lines, units as key=value lists, ids)
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                // The GitHub Actions documentation example, verbatim.
                indoc! {r#"
                    matrix.fruit = ["apple", "pear"]
                    matrix.animal = ["cat", "dog"]
                    include = [
                        { color = "green" },
                        { color = "pink", animal = "cat" },
                        { fruit = "apple", shape = "circle" },
                        { fruit = "banana" },
                        { fruit = "banana", animal = "cat" },
                    ]
                "#},
                &[
                    "fruit=apple animal=cat color=pink shape=circle",
                    "fruit=apple animal=dog color=green shape=circle",
                    "fruit=pear animal=cat color=pink",
                    "fruit=pear animal=dog color=green",
                    "fruit=banana",
                    "fruit=banana animal=cat",
                ],
                &[
                    "t[fruit=apple,animal=cat]",
                    "t[fruit=apple,animal=dog]",
                    "t[fruit=pear,animal=cat]",
                    "t[fruit=pear,animal=dog]",
                    "t[fruit=banana]",
                    "t[fruit=banana,animal=cat]",
                ],
            ),
            (
                // Extends every combination it does not contradict.
                indoc! {r#"
                    matrix.os = ["linux", "mac"]
                    matrix.v = [1, 2]
                    include = [{ os = "mac", sdk = "x" }]
                "#},
                &[
                    "os=linux v=1",
                    "os=linux v=2",
                    "os=mac v=1 sdk=x",
                    "os=mac v=2 sdk=x",
                ],
                &[
                    "t[os=linux,v=1]",
                    "t[os=linux,v=2]",
                    "t[os=mac,v=1]",
                    "t[os=mac,v=2]",
                ],
            ),
            (
                // Extends none: a new combination, its keys in declaration order then extras.
                indoc! {r#"
                    matrix.os = ["linux"]
                    matrix.v = [1]
                    include = [{ extra = "e", v = 3, os = "bsd" }]
                "#},
                &["os=linux v=1", "os=bsd v=3 extra=e"],
                &["t[os=linux,v=1]", "t[os=bsd,v=3,extra=e]"],
            ),
            (
                // Original values are never overwritten; include-added ones are.
                indoc! {r#"
                    matrix.os = ["linux"]
                    include = [{ cc = "gcc" }, { cc = "clang" }]
                "#},
                &["os=linux cc=clang"],
                &["t[os=linux]"],
            ),
            (
                // Include-only task: one unit per entry.
                indoc! {r#"
                    include = [{ os = "linux", arch = "x86" }, { os = "mac" }]
                "#},
                &["os=linux arch=x86", "os=mac"],
                &["t[os=linux,arch=x86]", "t[os=mac]"],
            ),
            (
                // Exclude first, then include: an include may re-add what was excluded.
                indoc! {r#"
                    matrix.os = ["linux", "mac"]
                    matrix.v = [1, 2]
                    exclude = [{ os = "mac", v = 2 }, { v = 1, os = "linux" }]
                    include = [{ os = "mac", v = 2, note = "back" }]
                "#},
                &["os=linux v=2", "os=mac v=1", "os=mac v=2 note=back"],
                &[
                    "t[os=linux,v=2]",
                    "t[os=mac,v=1]",
                    "t[os=mac,v=2,note=back]",
                ],
            ),
            (
                // A partial exclude removes every combination it matches.
                indoc! {r#"
                    matrix.os = ["linux", "mac"]
                    matrix.v = [1, 2]
                    exclude = [{ os = "mac" }]
                "#},
                &["os=linux v=1", "os=linux v=2"],
                &["t[os=linux,v=1]", "t[os=linux,v=2]"],
            ),
            (
                // Integers in an entry match integer values (and templates render first).
                indoc! {r#"
                    matrix.size = [64, 256]
                    matrix.f = ["{src}/a"]
                    exclude = [{ size = 64, f = "{src}/a" }]
                "#},
                &["size=256 f=s/a"],
                &["t[size=256,f=s/a]"],
            ),
        ];
        for (lines, want_values, want_ids) in cases {
            let toml = format!("[vars]\nsrc = \"s\"\n{}", task(lines));
            let p = plan(&toml);
            assert_eq!(values(&p), *want_values, "{lines}");
            assert_eq!(ids(&p), *want_ids, "{lines}");
        }
    }

    #[test]
    fn include_extras_reach_templates() {
        let p = plan(indoc! {r#"
            [[task]]
            name = "t"
            matrix.os = ["linux", "mac"]
            include = [{ os = "linux", cc = "gcc" }, { os = "mac", cc = "clang" }]
            run = ["{cc}", "{os}"]
        "#});
        assert_eq!(
            crate::plan::build::tests::argvs(&p),
            [["gcc", "linux"], ["clang", "mac"]]
        );
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &[&str])] = &[
            (
                r#"matrix.os = ["linux"]
exclude = [{ os = "linux", sdk = "x" }]"#,
                &[
                    "task `t`: exclude names `sdk`, which is not a matrix key",
                    "job.toml:5:34",
                    "matrix keys: `os`",
                ],
            ),
            (
                r#"matrix.os = ["linux"]
exclude = [{ os = "linx" }]"#,
                &["this exclude entry removes nothing", "job.toml:5:12"],
            ),
            (
                // Excluding an include-only key is an error: exclude runs first.
                r#"matrix.os = ["linux"]
include = [{ cc = "gcc" }]
exclude = [{ cc = "gcc" }]"#,
                &["exclude names `cc`, which is not a matrix key"],
            ),
            (
                r#"matrix.f = { glob = "*.nothing" }"#,
                &["glob `*.nothing` matches no file", "allow_empty = true"],
            ),
            (
                r#"matrix.f = { lines = "missing.txt" }"#,
                &[
                    "cannot read the lines file `missing.txt` of `matrix.f`: no such file or directory",
                ],
            ),
            (
                r#"matrix.f = { range = [3, 3] }"#,
                &["`matrix.f.range` is empty"],
            ),
            (r#"matrix.f = { range = [1] }"#, &["must be two integers"]),
            (
                r#"matrix.f = { glob = "a", lines = "b" }"#,
                &["exactly one of"],
            ),
            (
                r#"matrix.f = { glb = "a" }"#,
                &["unknown key `glb`", "did you mean `glob`?"],
            ),
            (r#"matrix.f = []"#, &["`matrix.f` has no values"]),
            (r#"matrix.f = [1, 2, 1]"#, &["`matrix.f` lists `1` twice"]),
            (
                r#"matrix.f = "a""#,
                &["must be an array of values or a value source table"],
            ),
            (r#"matrix.job = [1]"#, &["`job` is a reserved name"]),
            (r#"matrix."a b" = [1]"#, &["invalid matrix key `a b`"]),
            (r#"matrix.f = [[1]]"#, &["a matrix value must be a string"]),
            (
                r#"matrix.f = { glob = "a/**b" }"#,
                &["invalid glob `a/**b`"],
            ),
            (r#"include = [{}]"#, &["empty include entry"]),
        ];
        for (lines, wants) in cases {
            let e = error(&task(lines));
            for want in *wants {
                assert!(
                    e.contains(want),
                    "{want:?} not in:\n{e}\n--- for ---\n{lines}"
                );
            }
        }
    }

    /// Files for the row source tests.
    fn row_files() -> tempfile::TempDir {
        files(&[
            ("photos.csv", b"file,width\na.jpg,100\nb.jpg,200\n"),
            ("sizes.csv", b"width\n100\n"),
            (
                "rows.json",
                br#"[{"os": "linux", "v": 3.10}, {"v": 1e3, "os": "mac"}]"#,
            ),
            ("rows.jsonl", b"{\"cc\": \"gcc\"}\n\n{\"cc\": \"clang\"}\n"),
            ("empty.csv", b"file,width\n"),
            ("empty.json", b"[]"),
            ("bad.csv", b"file,width\na.jpg,100\n\nb.jpg\n"),
        ])
    }

    #[test]
    fn a_row_source_is_one_axis_with_a_key_per_column() {
        let dir = row_files();
        let lines = indoc! {r#"
            matrix.n = [1, 2]
            matrix.photo = { csv = "photos.csv" }
            matrix.f = ["jpg", "webp"]
        "#};
        let p = plan_in(dir.path(), &task(lines), &[]).unwrap();
        assert_eq!(
            ids(&p),
            [
                "t[n=1,file=a.jpg,width=100,f=jpg]",
                "t[n=1,file=a.jpg,width=100,f=webp]",
                "t[n=1,file=b.jpg,width=200,f=jpg]",
                "t[n=1,file=b.jpg,width=200,f=webp]",
                "t[n=2,file=a.jpg,width=100,f=jpg]",
                "t[n=2,file=a.jpg,width=100,f=webp]",
                "t[n=2,file=b.jpg,width=200,f=jpg]",
                "t[n=2,file=b.jpg,width=200,f=webp]",
            ]
        );
        // JSON numbers as written; the columns in the first object's order.
        let lines = indoc! {r#"
            matrix.target = { json = "rows.json" }
            matrix.compiler = { jsonl = "rows.jsonl" }
        "#};
        let p = plan_in(dir.path(), &task(lines), &[]).unwrap();
        assert_eq!(
            ids(&p),
            [
                "t[os=linux,v=3.10,cc=gcc]",
                "t[os=linux,v=3.10,cc=clang]",
                "t[os=mac,v=1e3,cc=gcc]",
                "t[os=mac,v=1e3,cc=clang]",
            ]
        );
        // Columns reach templates; the path is a template too.
        let toml = indoc! {r#"
            [vars]
            src = "."
            [[task]]
            name = "t"
            matrix.photo = { csv = "{src}/photos.csv" }
            run = ["convert", "{file}", "-resize", "{width}", "{file.stem}.png"]
        "#};
        let p = plan_in(dir.path(), toml, &[]).unwrap();
        assert_eq!(
            crate::plan::build::tests::argvs(&p),
            [
                ["convert", "a.jpg", "-resize", "100", "a.png"],
                ["convert", "b.jpg", "-resize", "200", "b.png"],
            ]
        );
        // The entry's name only names the axis: it may be a column's too.
        let p = plan_in(
            dir.path(),
            &task("matrix.file = { csv = \"photos.csv\" }"),
            &[],
        )
        .unwrap();
        assert_eq!(
            ids(&p),
            ["t[file=a.jpg,width=100]", "t[file=b.jpg,width=200]"]
        );
    }

    #[test]
    fn include_and_exclude_name_columns() {
        let dir = row_files();
        let rows = "matrix.photo = { csv = \"photos.csv\" }\nmatrix.f = [\"jpg\", \"webp\"]\n";
        let cases: &[(&str, &[&str])] = &[
            (
                "exclude = [{ file = \"a.jpg\" }]",
                &["file=b.jpg width=200 f=jpg", "file=b.jpg width=200 f=webp"],
            ),
            // Two columns of one row: the rows that have both.
            (
                "exclude = [{ width = 200, file = \"b.jpg\", f = \"jpg\" }]",
                &[
                    "file=a.jpg width=100 f=jpg",
                    "file=a.jpg width=100 f=webp",
                    "file=b.jpg width=200 f=webp",
                ],
            ),
            (
                "include = [{ width = 100, f = \"webp\", q = 9 }, { file = \"c.jpg\", width = 1 }]",
                &[
                    "file=a.jpg width=100 f=jpg",
                    "file=a.jpg width=100 f=webp q=9",
                    "file=b.jpg width=200 f=jpg",
                    "file=b.jpg width=200 f=webp",
                    "file=c.jpg width=1",
                ],
            ),
            // A row that is not in the file matches nothing: a unit of its own.
            (
                "include = [{ file = \"a.jpg\", width = 200, f = \"jpg\" }]",
                &[
                    "file=a.jpg width=100 f=jpg",
                    "file=a.jpg width=100 f=webp",
                    "file=b.jpg width=200 f=jpg",
                    "file=b.jpg width=200 f=webp",
                    "file=a.jpg width=200 f=jpg",
                ],
            ),
        ];
        for (entries, want) in cases {
            let toml = task(&format!("{rows}{entries}\n"));
            let p = plan_in(dir.path(), &toml, &[]).unwrap_or_else(|e| panic!("{entries}: {e}"));
            assert_eq!(values(&p), *want, "{entries}");
        }
        let toml = task(&format!(
            "{rows}exclude = [{{ file = \"a.jpg\", width = 200 }}]\n"
        ));
        let e = plan_in(dir.path(), &toml, &[]).unwrap_err().to_string();
        assert!(e.contains("this exclude entry removes nothing"), "{e}");
        let toml = task(&format!("{rows}exclude = [{{ photo = \"a.jpg\" }}]\n"));
        let e = plan_in(dir.path(), &toml, &[]).unwrap_err().to_string();
        assert!(
            e.contains("exclude names `photo`, which is not a matrix key"),
            "{e}"
        );
        assert!(e.contains("matrix keys: `file`, `width`, `f`"), "{e}");
    }

    #[test]
    fn empty_row_files() {
        let dir = row_files();
        let e = plan_in(dir.path(), &task("matrix.p = { csv = \"empty.csv\" }"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the csv file `empty.csv` of `matrix.p` has no row"),
            "{e}"
        );
        assert!(e.contains("or add `allow_empty = true`"), "{e}");
        // A header names the columns even without rows, so templates may use them.
        let toml = indoc! {r#"
            [[task]]
            name = "t"
            matrix.p = { csv = "empty.csv", allow_empty = true }
            run = ["{file}", "{width}"]
        "#};
        assert_eq!(plan_in(dir.path(), toml, &[]).unwrap().units.len(), 0);
        // No rows is no unit, not the one unit of a task without a matrix.
        let toml = task("matrix.p = { json = \"empty.json\", allow_empty = true }");
        assert_eq!(plan_in(dir.path(), &toml, &[]).unwrap().units.len(), 0);
        let toml = task(
            "matrix.p = { csv = \"empty.csv\", allow_empty = true }\n\
             include = [{ file = \"x\", width = 1 }]\n",
        );
        let p = plan_in(dir.path(), &toml, &[]).unwrap();
        assert_eq!(ids(&p), ["t[file=x,width=1]"]);
    }

    #[test]
    fn row_source_errors() {
        let dir = row_files();
        let cases: &[(&str, &[&str])] = &[
            (
                "matrix.file = [\"x\"]\nmatrix.photo = { csv = \"photos.csv\" }",
                &[
                    "task `t`: column `file` of `matrix.photo` clashes with `matrix.file`",
                    "job.toml:5:16",
                    "rename the column, or the other key",
                ],
            ),
            (
                "matrix.photo = { csv = \"photos.csv\" }\nmatrix.file = [\"x\"]",
                &[
                    "column `file` of `matrix.photo` clashes with `matrix.file`",
                    "job.toml:4:16",
                ],
            ),
            (
                "matrix.a = { csv = \"photos.csv\" }\nmatrix.b = { csv = \"sizes.csv\" }",
                &[
                    "column `width` of `matrix.b` clashes with column `width` of `matrix.a`",
                    "job.toml:5:12",
                ],
            ),
            (
                "matrix.p = { csv = \"bad.csv\" }",
                &[
                    "error: bad.csv:4: the row has no `width` column (1 fields for 2 columns)",
                    "job.toml:4:12",
                    "the csv file of `matrix.p`",
                ],
            ),
            (
                "matrix.p = { json = \"missing.json\" }",
                &["cannot read the json file `missing.json` of `matrix.p`: no such file"],
            ),
            (
                "matrix.p = { cvs = \"photos.csv\" }",
                &["unknown key `cvs` in `matrix.p`", "did you mean `csv`?"],
            ),
            (
                "matrix.p = { csv = \"a\", jsonl = \"b\" }",
                &["must have exactly one of `glob`, `lines`, `range`, `csv`, `json` or `jsonl`"],
            ),
            (
                "matrix.p = { csv = 1 }",
                &["`matrix.p.csv` must be a string"],
            ),
            (
                "matrix.p = { csv = \"{nope}.csv\" }",
                &["unknown name `nope`"],
            ),
        ];
        for (lines, wants) in cases {
            let e = match plan_in(dir.path(), &task(lines), &[]) {
                Ok(_) => panic!("no error for {lines}"),
                Err(e) => e.to_string(),
            };
            for want in *wants {
                assert!(
                    e.contains(want),
                    "{want:?} not in:\n{e}\n--- for ---\n{lines}"
                );
            }
        }
        let toml = indoc! {r#"
            [vars]
            width = 1
            [[task]]
            name = "t"
            matrix.p = { csv = "photos.csv" }
            run = ["true"]
        "#};
        let e = plan_in(dir.path(), toml, &[]).unwrap_err().to_string();
        assert!(
            e.contains("matrix key `width` has the same name as a var"),
            "{e}"
        );
    }

    #[test]
    fn a_row_file_is_read_only_as_far_as_the_budget() {
        let dir = row_files();
        // 5,000,000 x 2 rows fit; x 3 rows do not, and a bad row past them goes unread.
        std::fs::write(dir.path().join("three.csv"), "a\n1\n2\n3\n4,bad\n").unwrap();
        let toml =
            task("matrix.n = { range = [0, 5000000] }\nmatrix.p = { csv = \"three.csv\" }\n");
        let e = plan_in(dir.path(), &toml, &[]).unwrap_err().to_string();
        assert!(e.contains("more than 10,000,000 combinations"), "{e}");
        // Past the budget a row file still gives its columns, for an empty
        // source elsewhere to save the matrix.
        let toml = task(
            "matrix.n = { range = [0, 10000000] }\nmatrix.m = { range = [0, 10000000] }\n\
             matrix.p = { csv = \"photos.csv\" }\n\
             matrix.e = { json = \"empty.json\", allow_empty = true }\n",
        );
        let p = plan_in(dir.path(), &toml, &[]).unwrap();
        assert_eq!(p.units.len(), 0);
        assert_eq!(p.tasks[0].keys, ["n", "m", "file", "width"]);
    }

    #[test]
    fn a_key_only_some_units_have_cannot_be_used() {
        let e = error(indoc! {r#"
            [[task]]
            name = "t"
            matrix.os = ["linux"]
            include = [{ os = "linux", cc = "gcc" }, { os = "bsd" }]
            run = ["{cc}"]
        "#});
        assert!(
            e.contains("unit `t[os=bsd]` has no value for `cc`, which its templates use"),
            "{e}"
        );
    }

    /// Expand the first task of `task(lines)` with this budget left.
    fn expand_with(lines: &str, budget: Budget) -> Result<Expansion, String> {
        struct Nothing;
        impl Lookup for Nothing {
            fn lookup(&self, _: &Slot, _: &mut Vec<u8>) {}
        }
        let loaded = crate::manifest::parse("job.toml".into(), task(lines)).expect("parses");
        let t = &loaded.manifest.tasks[0];
        let parse = |text: &str, _: Range<usize>, _: &str| {
            Template::parse(text, &|_| Err(None)).map_err(|e| Diagnostic::new(e.message))
        };
        let scope = Scope {
            source: &loaded.source,
            job_dir: Path::new("."),
            task: "t",
            lookup: &Nothing,
            parse: &parse,
        };
        expand(&scope, &t.matrix, &t.include, &t.exclude, budget).map_err(|d| d.to_string())
    }

    #[test]
    fn the_matrix_is_counted_before_any_value_is_made() {
        // Each range is within its own limit; making their values would take
        // 400 MB each (12 GB for 30), so an answer at all shows nothing was made.
        let huge = "{ range = [0, 10000000] }";
        let thirty: String = (1..=30)
            .map(|i| format!("matrix.k{i} = {huge}\n"))
            .collect();
        for (lines, at) in [
            (thirty.as_str(), "job.toml:33:14"),
            (
                &format!("matrix.a = {huge}\nmatrix.b = {huge}\n"),
                "job.toml:5:12",
            ),
            // Counted before the lines file is even opened.
            (
                &format!(
                    "matrix.a = {huge}\nmatrix.l = {{ lines = \"missing.txt\" }}\nmatrix.b = {huge}\n"
                ),
                "job.toml:6:12",
            ),
        ] {
            let e = error(&task(lines));
            assert!(
                e.contains("task `t`: the matrix has more than 10,000,000 combinations"),
                "{e}"
            );
            assert!(e.contains(at), "{at} not in {e}");
        }
    }

    #[test]
    fn lines_files_are_read_only_as_far_as_the_budget() {
        let dir = files(&[("three.txt", b"x\ny\nz\n"), ("empty.txt", b"")]);
        let toml =
            task("matrix.a = { range = [0, 5000000] }\nmatrix.l = { lines = \"three.txt\" }\n");
        let e = plan_in(dir.path(), &toml, &[]).unwrap_err().to_string();
        assert!(e.contains("more than 10,000,000 combinations"), "{e}");
        // An empty source empties the product, however large the rest.
        let toml = task(
            "matrix.a = { range = [0, 10000000] }\nmatrix.b = { range = [0, 10000000] }\n\
             matrix.l = { lines = \"empty.txt\", allow_empty = true }\n",
        );
        let p = plan_in(dir.path(), &toml, &[]).unwrap();
        assert_eq!(p.units.len(), 0);
        // Then the other sources are checked after all.
        let toml = task(
            "matrix.a = { range = [0, 10000000] }\nmatrix.b = { range = [0, 10000000] }\n\
             matrix.m = { lines = \"missing.txt\" }\n\
             matrix.l = { lines = \"empty.txt\", allow_empty = true }\n",
        );
        let e = plan_in(dir.path(), &toml, &[]).unwrap_err().to_string();
        assert!(
            e.contains("cannot read the lines file `missing.txt`"),
            "{e}"
        );
    }

    #[test]
    fn the_budget_is_plan_wide() {
        let left = Budget {
            units: 5,
            slots: 100,
        };
        let e = expand_with("matrix.a = [1, 2]\nmatrix.b = [1, 2, 3]\n", left).unwrap_err();
        assert!(
            e.contains("task `t`: the plan has more than 10,000,000 units"),
            "{e}"
        );
        assert!(
            e.contains(
                "the tasks before this one have 9999995 units, so this one may have 5 at most"
            ),
            "{e}"
        );
        let exp = expand_with("matrix.a = [1, 2]\nmatrix.b = [1, 2]\n", left).unwrap();
        assert_eq!(exp.combos.len(), 4);
        // Units an include adds count too, and so does the lone unit of a task without a matrix.
        let e = expand_with(
            "matrix.a = [1, 2]\nmatrix.b = [1, 2]\ninclude = [{ a = 3 }, { a = 4 }]\n",
            left,
        )
        .unwrap_err();
        assert!(e.contains("the plan has more than 10,000,000 units"), "{e}");
        let none = Budget {
            units: 0,
            slots: 100,
        };
        assert!(
            expand_with("", none)
                .unwrap_err()
                .contains("may have 0 at most")
        );
    }

    #[test]
    fn units_times_keys_is_bounded() {
        // Include entries that each bring a key of their own widen every unit.
        let entries: String = (0..20).map(|i| format!("{{ k{i} = {i} }},")).collect();
        let left = Budget {
            units: 100,
            slots: 399,
        };
        let e = expand_with(&format!("include = [{entries}]\n"), left).unwrap_err();
        assert!(
            e.contains("task `t`: 20 units with 20 keys each are too many values to keep"),
            "{e}"
        );
        assert!(e.contains("job.toml:4:"), "{e}");
        let exp = expand_with(
            &format!("include = [{entries}]\n"),
            Budget { slots: 400, ..left },
        )
        .unwrap();
        assert_eq!(exp.combos.len(), 20);
    }

    #[test]
    fn excludes_and_includes_name_every_copy_of_a_repeated_line() {
        let dir = files(&[("l.txt", b"a\nb\na\n")]);
        let toml = task(
            "matrix.l = { lines = \"l.txt\" }\nmatrix.n = [1, 2]\nexclude = [{ l = \"a\" }]\n",
        );
        let p = plan_in(dir.path(), &toml, &[]).unwrap();
        assert_eq!(ids(&p), ["t[l=b,n=1]", "t[l=b,n=2]"]);
        let toml = task("matrix.l = { lines = \"l.txt\" }\ninclude = [{ l = \"a\", x = 1 }]\n");
        let e = plan_in(dir.path(), &toml, &[]).unwrap_err().to_string();
        assert!(e.contains("duplicate unit id `t[l=a]`"), "{e}");
    }

    /// An include or exclude entry: (key, value).
    type Pairs = Vec<(&'static str, u8)>;

    /// The semantics spelled out naively (a pass over every combination per
    /// entry), to check the indexed expansion against: (values, ids) or the
    /// error it must give.
    fn reference(
        matrix: &[(&'static str, Vec<u8>)],
        exclude: &[Pairs],
        include: &[Pairs],
    ) -> Result<(Vec<String>, Vec<String>), &'static str> {
        let mut keys: Vec<&str> = matrix.iter().map(|(k, _)| *k).collect();
        let declared = keys.len();
        // (a value per key, the keys the id of a unit an include adds lists)
        type Naive = (Vec<Option<u8>>, Option<Vec<usize>>);
        let mut combos: Vec<Naive> = Vec::new();
        if declared > 0 {
            combos.push((Vec::new(), None));
            for (_, vs) in matrix {
                combos = combos
                    .into_iter()
                    .flat_map(|(c, _)| {
                        vs.iter().map(move |v| {
                            let mut c = c.clone();
                            c.push(Some(*v));
                            (c, None)
                        })
                    })
                    .collect();
            }
        }
        for e in exclude {
            let mut want = Vec::new();
            for (k, v) in e {
                let k = keys
                    .iter()
                    .position(|x| x == k)
                    .ok_or("which is not a matrix key")?;
                want.push((k, *v));
            }
            let before = combos.len();
            combos.retain(|(c, _)| !want.iter().all(|(k, v)| c[*k] == Some(*v)));
            if combos.len() == before {
                return Err("this exclude entry removes nothing");
            }
        }
        let originals = combos.len();
        for e in include {
            let (mut matching, mut extras) = (Vec::new(), Vec::new());
            for (k, v) in e {
                match keys.iter().position(|x| x == k) {
                    Some(i) if i < declared => matching.push((i, *v)),
                    Some(i) => extras.push((i, *v)),
                    None => {
                        keys.push(k);
                        combos.iter_mut().for_each(|(c, _)| c.push(None));
                        extras.push((keys.len() - 1, *v));
                    }
                }
            }
            let mut extended = false;
            for (c, _) in &mut combos[..originals] {
                if matching.iter().all(|(k, v)| c[*k] == Some(*v)) {
                    extended = true;
                    extras.iter().for_each(|(k, v)| c[*k] = Some(*v));
                }
            }
            if !extended {
                let mut c = vec![None; keys.len()];
                let mut own: Vec<usize> = matching.iter().chain(&extras).map(|(k, _)| *k).collect();
                matching
                    .iter()
                    .chain(&extras)
                    .for_each(|(k, v)| c[*k] = Some(*v));
                own.sort_unstable();
                combos.push((c, Some(own)));
            }
        }
        if declared == 0 && combos.is_empty() {
            combos.push((Vec::new(), None));
        }
        let show = |c: &[Option<u8>], ks: &mut dyn Iterator<Item = usize>, sep: &str| {
            ks.filter_map(|k| {
                c.get(k)
                    .copied()
                    .flatten()
                    .map(|v| format!("{}={v}", keys[k]))
            })
            .collect::<Vec<_>>()
            .join(sep)
        };
        let mut ids: Vec<String> = Vec::new();
        for (c, own) in &combos {
            let inner = match own {
                Some(own) => show(c, &mut own.iter().copied(), ","),
                None => show(c, &mut (0..declared), ","),
            };
            let id = if inner.is_empty() {
                "t".to_owned()
            } else {
                format!("t[{inner}]")
            };
            if ids.contains(&id) {
                return Err("duplicate unit id");
            }
            ids.push(id);
        }
        let values = combos
            .iter()
            .map(|(c, _)| show(c, &mut (0..keys.len()), " "))
            .collect();
        Ok((values, ids))
    }

    /// Up to `most` entries naming 1 to 3 of `keys` (distinct), values 0 to 2.
    fn entries(keys: Vec<&'static str>, most: usize) -> impl Strategy<Value = Vec<Pairs>> {
        let named = prop::sample::subsequence(keys.clone(), 1..=keys.len().min(3));
        let entry = named.prop_flat_map(|ks| {
            prop::collection::vec(0u8..3, ks.len())
                .prop_map(move |vs| ks.iter().copied().zip(vs).collect::<Pairs>())
        });
        prop::collection::vec(entry, 0..=most)
    }

    fn inline(entries: &[Pairs]) -> String {
        let each: Vec<String> = entries
            .iter()
            .map(|e| {
                format!(
                    "{{ {} }}",
                    e.iter()
                        .map(|(k, v)| format!("{k} = {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        format!("[{}]", each.join(", "))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        #[test]
        fn indexed_expansion_agrees_with_the_naive_one(
            case in prop::sample::subsequence(&["a", "b", "c"][..], 0..=3).prop_flat_map(|ks| {
                // Key `a` may repeat a value: it is then read from a lines file.
                let values = prop::collection::vec(prop::collection::vec(0u8..3, 1..4), ks.len());
                // Declared keys, so that most cases plan (`errors` tests the others).
                let exclude = entries(if ks.is_empty() { vec!["x"] } else { ks.clone() }, 2);
                (Just(ks), values, exclude, entries(vec!["a", "b", "c", "x", "y"], 4))
            }),
        ) {
            let (ks, vss, exclude, include) = case;
            let matrix: Vec<(&'static str, Vec<u8>)> = ks.into_iter().zip(vss).map(|(k, mut vs)| {
                if k != "a" {
                    vs.sort_unstable();
                    vs.dedup();
                }
                (k, vs)
            }).collect();
            let dir = files(&[]);
            let mut lines = String::new();
            for (k, vs) in &matrix {
                if *k == "a" {
                    let text: String = vs.iter().map(|v| format!("{v}\n")).collect();
                    std::fs::write(dir.path().join("a.txt"), text).unwrap();
                    lines.push_str("matrix.a = { lines = \"a.txt\" }\n");
                } else {
                    let list: Vec<String> = vs.iter().map(u8::to_string).collect();
                    lines.push_str(&format!("matrix.{k} = [{}]\n", list.join(", ")));
                }
            }
            lines.push_str(&format!("exclude = {}\ninclude = {}\n", inline(&exclude), inline(&include)));
            let got = plan_in(dir.path(), &task(&lines), &[]);
            match (reference(&matrix, &exclude, &include), got) {
                (Ok((want_values, want_ids)), Ok(p)) => {
                    prop_assert_eq!(values(&p), want_values, "{}", lines);
                    prop_assert_eq!(ids(&p), want_ids, "{}", lines);
                }
                (Err(want), Err(e)) => prop_assert!(e.to_string().contains(want), "{} not in {}\n{}", want, e, lines),
                (want, got) => prop_assert!(false, "want {:?}, got {:?}\n{}", want.map(|_| ()), got.map(|p| p.units.len()), lines),
            }
        }
    }
}
