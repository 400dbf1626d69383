//! Matrix expansion: value sources, cartesian product, then GitHub Actions
//! `exclude` and `include` (SPEC 1.1).
//!
//! Invariant: combinations come out in matrix order (declared keys, the last
//! varying fastest), then the combinations includes add, in include order.

use std::collections::HashSet;
use std::io::{BufRead, Read};
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use indexmap::IndexMap;
use toml::Spanned;

use super::template::{Lookup, Template};
use super::value::Value;
use super::walk::{self, WalkError};
use crate::error::{Diagnostic, Source, did_you_mean, io_reason};

/// One combination: a value per task key (None where an include-added unit
/// lacks a key), and for include-added units the keys its id lists.
#[derive(Debug, Clone)]
pub struct Combo {
    pub values: Box<[Option<Value>]>,
    pub own_keys: Option<Box<[u16]>>,
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

pub fn expand(
    scope: &Scope<'_>,
    matrix: &IndexMap<String, Spanned<toml::Value>>,
    include: &[Entry],
    exclude: &[Entry],
) -> Result<Expansion, Diagnostic> {
    let mut keys: Vec<String> = Vec::new();
    let mut sources: Vec<Vec<Value>> = Vec::new();
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
        sources.push(source_values(scope, key, value)?);
        keys.push(key.clone());
    }
    let declared = keys.len();

    // Cartesian product, last key fastest.
    let mut combos: Vec<Combo> = Vec::new();
    if declared > 0 {
        let total = sources
            .iter()
            .try_fold(1usize, |acc, s| acc.checked_mul(s.len()));
        let Some(total) = total.filter(|t| *t <= 10_000_000) else {
            return Err(Diagnostic::new(format!(
                "task `{}`: the matrix has more than 10,000,000 combinations",
                scope.task
            ))
            .at(scope.source, matrix.values().last().map_or(0..0, |v| v.span()))
            .label("the product of all matrix keys is too large")
            .help("a plan keeps every unit in memory (about 200 bytes each): split the job into several job files"));
        };
        combos.reserve(total);
        let mut idx = vec![0usize; declared];
        for _ in 0..total {
            let values: Box<[Option<Value>]> = idx
                .iter()
                .zip(&sources)
                .map(|(&i, s)| Some(s[i].clone()))
                .collect();
            combos.push(Combo {
                values,
                own_keys: None,
            });
            for k in (0..declared).rev() {
                idx[k] += 1;
                if idx[k] < sources[k].len() {
                    break;
                }
                idx[k] = 0;
            }
        }
    }

    for entry in exclude {
        let pairs = entry_values(scope, entry, "exclude")?;
        let mut wanted = Vec::new();
        for (key, value, span) in pairs {
            let Some(k) = keys.iter().position(|x| *x == key) else {
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
            wanted.push((k, value));
        }
        let before = combos.len();
        combos.retain(|c| !wanted.iter().all(|(k, v)| c.values[*k].as_ref() == Some(v)));
        if combos.len() == before {
            return Err(Diagnostic::new(format!(
                "task `{}`: this exclude entry removes nothing",
                scope.task
            ))
            .at(scope.source, entry.span())
            .label("matches no combination")
            .help("check the values against `jobrun plan`; an exclude that matches nothing is almost always a typo"));
        }
    }

    let originals = combos.len();
    for entry in include {
        let pairs = entry_values(scope, entry, "include")?;
        let mut matching: Vec<(usize, Value)> = Vec::new();
        let mut extras: Vec<(usize, Value)> = Vec::new();
        for (key, value, span) in pairs {
            check_key_name(scope, &key, span)?;
            match keys.iter().position(|x| *x == key) {
                Some(k) if k < declared => matching.push((k, value)),
                Some(k) => extras.push((k, value)),
                None => {
                    keys.push(key);
                    for c in &mut combos {
                        let mut v = std::mem::take(&mut c.values).into_vec();
                        v.push(None);
                        c.values = v.into_boxed_slice();
                    }
                    extras.push((keys.len() - 1, value));
                }
            }
        }
        let mut extended = false;
        for c in &mut combos[..originals] {
            if matching
                .iter()
                .all(|(k, v)| c.values[*k].as_ref() == Some(v))
            {
                extended = true;
                for (k, v) in &extras {
                    c.values[*k] = Some(v.clone());
                }
            }
        }
        if !extended {
            let mut values = vec![None; keys.len()];
            let mut own: Vec<u16> = Vec::new();
            for (k, v) in matching.iter().chain(&extras) {
                values[*k] = Some(v.clone());
                own.push(*k as u16);
            }
            // Declared keys first in declaration order, then extras in the order
            // the task's includes first name them, so all ids of a task agree.
            own.sort_unstable();
            combos.push(Combo {
                values: values.into_boxed_slice(),
                own_keys: Some(own.into_boxed_slice()),
            });
        }
    }
    // No matrix: one unit, unless includes alone define the units (GitHub
    // treats an include-only matrix as one job per entry).
    if declared == 0 && combos.is_empty() {
        combos.push(Combo {
            values: Box::from([]),
            own_keys: None,
        });
    }
    Ok(Expansion {
        keys,
        declared,
        combos,
    })
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
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Diagnostic::new(format!("invalid matrix key `{key}`"))
            .at(scope.source, span)
            .help("keys are made of letters, digits, `_` and `-`, so templates can name them"));
    }
    if RESERVED.contains(&key) {
        return Err(Diagnostic::new(format!("`{key}` is a reserved name"))
            .at(scope.source, span)
            .help(format!(
                "choose another key name; reserved: {}",
                RESERVED.join(", ")
            )));
    }
    Ok(())
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
        .map(|(k, v)| Ok((k.clone(), scalar(scope, v.get_ref(), v.span())?, v.span())))
        .collect()
}

/// A literal value: strings are templates over vars and env.
fn scalar(scope: &Scope<'_>, v: &toml::Value, span: Range<usize>) -> Result<Value, Diagnostic> {
    Ok(match v {
        toml::Value::String(s) => {
            let t = (scope.parse)(s, span, "matrix value")?;
            Value::new(&t.render(scope.lookup, false))
        }
        toml::Value::Integer(i) => Value::from(i.to_string().as_str()),
        toml::Value::Float(f) => Value::from(f.to_string().as_str()),
        toml::Value::Boolean(b) => Value::from(if *b { "true" } else { "false" }),
        other => {
            return Err(Diagnostic::new(format!(
                "task `{}`: a matrix value must be a string, integer, float or boolean, not {}",
                scope.task,
                other.type_str()
            ))
            .at(scope.source, span));
        }
    })
}

fn source_values(
    scope: &Scope<'_>,
    key: &str,
    value: &Spanned<toml::Value>,
) -> Result<Vec<Value>, Diagnostic> {
    let span = value.span();
    let err = |msg: String| Diagnostic::new(msg).at(scope.source, span.clone());
    let values = match value.get_ref() {
        toml::Value::Array(items) => {
            if items.is_empty() {
                return Err(err(format!(
                    "task `{}`: `matrix.{key}` has no values",
                    scope.task
                ))
                .help("give at least one value, or remove the key"));
            }
            let values = items
                .iter()
                .map(|v| scalar(scope, v, span.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            // Caught here, a repeat points at the array instead of a later unit id clash.
            let mut seen: HashSet<&[u8]> = HashSet::with_capacity(values.len());
            if let Some(v) = values.iter().find(|v| !seen.insert(v.as_bytes())) {
                return Err(err(format!(
                    "task `{}`: `matrix.{key}` lists `{}` twice",
                    scope.task,
                    v.display()
                ))
                .help("each value gives units of its own; remove the repeat"));
            }
            values
        }
        toml::Value::Table(t) => {
            let kinds: Vec<&str> = ["glob", "lines", "range"]
                .into_iter()
                .filter(|k| t.contains_key(*k))
                .collect();
            for k in t.keys() {
                if !["glob", "lines", "range", "allow_empty"].contains(&k.as_str()) {
                    let mut d = err(format!("unknown key `{k}` in `matrix.{key}`"));
                    if let Some(s) = did_you_mean(k, ["glob", "lines", "range", "allow_empty"]) {
                        d = d.label(format!("did you mean `{s}`?"));
                    }
                    return Err(d.help("a value source is `{ glob = \"...\" }`, `{ lines = \"FILE\" }` or `{ range = [START, END] }`"));
                }
            }
            if kinds.len() != 1 {
                return Err(err(format!(
                    "`matrix.{key}` must have exactly one of `glob`, `lines` or `range`"
                )));
            }
            let allow_empty = match t.get("allow_empty") {
                None => false,
                Some(toml::Value::Boolean(b)) if kinds[0] != "range" => *b,
                Some(_) => {
                    return Err(err(format!(
                        "`allow_empty` in `matrix.{key}` must be a boolean, and goes with `glob` or `lines`"
                    )));
                }
            };
            let text = |k: &str| match t.get(k) {
                Some(toml::Value::String(s)) => Ok(s.clone()),
                _ => Err(err(format!("`matrix.{key}.{k}` must be a string"))),
            };
            match kinds[0] {
                "glob" => glob_values(scope, key, &text("glob")?, allow_empty, &span)?,
                "lines" => lines_values(scope, key, &text("lines")?, allow_empty, &span)?,
                _ => range_values(t.get("range"), &err, key)?,
            }
        }
        other => {
            return Err(err(format!(
                "`matrix.{key}` must be an array of values or a value source table, not {}",
                other.type_str()
            ))
            .help("write `[1, 2]`, `{ glob = \"src/*.jpg\" }`, `{ lines = \"list.txt\" }` or `{ range = [0, 10] }`"));
        }
    };
    Ok(values)
}

fn range_values(
    v: Option<&toml::Value>,
    err: &dyn Fn(String) -> Diagnostic,
    key: &str,
) -> Result<Vec<Value>, Diagnostic> {
    let bounds = match v {
        Some(toml::Value::Array(a)) if a.len() == 2 => match (&a[0], &a[1]) {
            (toml::Value::Integer(s), toml::Value::Integer(e)) => Some((*s, *e)),
            _ => None,
        },
        _ => None,
    };
    let Some((start, end)) = bounds else {
        return Err(err(format!(
            "`matrix.{key}.range` must be two integers `[START, END]`"
        ))
        .help("END is exclusive: `[0, 3]` gives 0, 1, 2"));
    };
    if end <= start {
        return Err(err(format!(
            "`matrix.{key}.range` is empty: END ({end}) must be greater than START ({start})"
        ))
        .help("END is exclusive: `[0, 3]` gives 0, 1, 2"));
    }
    // i128: the width of [i64::MIN, i64::MAX] does not fit an i64.
    if i128::from(end) - i128::from(start) > 10_000_000 {
        return Err(err(format!(
            "`matrix.{key}.range` has more than 10,000,000 values"
        )));
    }
    Ok((start..end)
        .map(|i| Value::from(i.to_string().as_str()))
        .collect())
}

fn glob_values(
    scope: &Scope<'_>,
    key: &str,
    pattern: &str,
    allow_empty: bool,
    span: &Range<usize>,
) -> Result<Vec<Value>, Diagnostic> {
    let t = (scope.parse)(pattern, span.clone(), "glob")?;
    let rendered = t.render(scope.lookup, false);
    let Ok(rendered) = String::from_utf8(rendered) else {
        return Err(Diagnostic::new(format!(
            "`matrix.{key}.glob` is not valid UTF-8 after substitution"
        ))
        .at(scope.source, span.clone()));
    };
    let paths = walk::glob(scope.job_dir, &rendered).map_err(|e| match e {
        WalkError::Pattern(e) => Diagnostic::new(format!("invalid glob `{rendered}`: {}", e.msg))
            .at(scope.source, span.clone())
            .help("globs use `*`, `?`, `[abc]` and `**`; `[[]` matches a literal `[`"),
        WalkError::Io(dir, e) => Diagnostic::new(format!(
            "cannot read `{}` while globbing: {}",
            dir.display(),
            io_reason(&e)
        ))
        .at(scope.source, span.clone()),
    })?;
    let values: Vec<Value> = paths.iter().map(|p| Value::new(p)).collect();
    if values.is_empty() && !allow_empty {
        return Err(Diagnostic::new(format!("glob `{rendered}` matches no file"))
            .at(scope.source, span.clone())
            .label(format!("searched in `{}`", scope.job_dir.display()))
            .help("check the pattern (it is relative to the job's dir), or add `allow_empty = true`"));
    }
    Ok(values)
}

/// A `lines` value longer than this is not a value but a wrong file.
const MAX_LINE_BYTES: usize = 1 << 20;
/// As for every value source (see `range`).
const MAX_VALUES: usize = 10_000_000;

fn lines_values(
    scope: &Scope<'_>,
    key: &str,
    file: &str,
    allow_empty: bool,
    span: &Range<usize>,
) -> Result<Vec<Value>, Diagnostic> {
    let t = (scope.parse)(file, span.clone(), "lines")?;
    let rendered = t.render(scope.lookup, false);
    let path = scope.job_dir.join(std::ffi::OsStr::from_bytes(&rendered));
    let cannot_read = |e: std::io::Error| {
        Diagnostic::new(format!(
            "cannot read the lines file `{}` of `matrix.{key}`: {}",
            String::from_utf8_lossy(&rendered),
            io_reason(&e)
        ))
        .at(scope.source, span.clone())
        .label(format!("looked in `{}`", scope.job_dir.display()))
        .help("the path is relative to the job's dir (the manifest's folder, or `job.dir`)")
    };
    let too_much = |what: String| {
        Diagnostic::new(format!(
            "the lines file `{}` of `matrix.{key}` {what}",
            String::from_utf8_lossy(&rendered)
        ))
        .at(scope.source, span.clone())
    };
    // Streamed with bounds: a pipe (`<(find ...)`) works, and `/dev/zero`
    // is an error rather than all of memory.
    let mut reader = std::io::BufReader::new(std::fs::File::open(&path).map_err(cannot_read)?);
    let mut values: Vec<Value> = Vec::new();
    let mut line = Vec::new();
    let mut line_no = 0usize;
    loop {
        line.clear();
        // One byte past the limit (and one for a `\r`) tells a long line apart.
        let n = Read::take(&mut reader, MAX_LINE_BYTES as u64 + 2)
            .read_until(b'\n', &mut line)
            .map_err(cannot_read)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let l = line.strip_suffix(b"\r").unwrap_or(&line);
        if l.len() > MAX_LINE_BYTES {
            return Err(too_much(format!(
                "has a line longer than {} MiB (line {line_no})",
                MAX_LINE_BYTES >> 20
            )));
        }
        if !l.is_empty() {
            if values.len() >= MAX_VALUES {
                return Err(too_much("has more than 10,000,000 lines".into()));
            }
            values.push(Value::new(l));
        }
    }
    if values.is_empty() && !allow_empty {
        return Err(Diagnostic::new(format!(
            "the lines file `{}` of `matrix.{key}` has no non-empty line",
            String::from_utf8_lossy(&rendered)
        ))
        .at(scope.source, span.clone())
        .help("fill the file, or add `allow_empty = true`"));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;

    use indoc::indoc;

    use crate::plan::build::tests::{error, files, ids, plan, plan_in};
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
}
