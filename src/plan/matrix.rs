//! Matrix expansion: value sources, cartesian product, then GitHub Actions
//! `exclude` and `include` (SPEC 1.1).
//!
//! Invariant: combinations come out in matrix order (declared keys, the last
//! varying fastest), then the combinations includes add, in include order.

use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use indexmap::IndexMap;
use toml::Spanned;

use super::template::{Lookup, Template};
use super::value::Value;
use crate::error::{Diagnostic, Source, did_you_mean};

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
        let Some(total) = total.filter(|t| *t <= 50_000_000) else {
            return Err(Diagnostic::new(format!(
                "task `{}`: the matrix has more than 50,000,000 combinations",
                scope.task
            ))
            .in_file(scope.source)
            .help("split the job, or use `--shard` to run it in slices"));
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
            // Declared keys keep declaration order in the id; extras follow in entry order.
            own.sort_by_key(|k| {
                if (*k as usize) < declared {
                    (0, *k)
                } else {
                    (1, 0)
                }
            });
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
            items
                .iter()
                .map(|v| scalar(scope, v, span.clone()))
                .collect::<Result<Vec<_>, _>>()?
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
    if end - start > 50_000_000 {
        return Err(err(format!(
            "`matrix.{key}.range` has more than 50,000,000 values"
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
    let absolute = Path::new(&rendered).is_absolute();
    let base = scope.job_dir.to_string_lossy();
    let full = if absolute {
        rendered.clone()
    } else {
        format!("{}/{}", glob::Pattern::escape(&base), rendered)
    };
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let paths = glob::glob_with(&full, options).map_err(|e| {
        Diagnostic::new(format!("invalid glob `{rendered}`: {}", e.msg))
            .at(scope.source, span.clone())
            .help("globs use `*`, `?`, `[abc]` and `**`; `[[]` matches a literal `[`")
    })?;
    let mut values = Vec::new();
    for entry in paths {
        let path = entry.map_err(|e| {
            Diagnostic::new(format!(
                "cannot read `{}` while globbing: {}",
                e.path().display(),
                e.error()
            ))
            .at(scope.source, span.clone())
        })?;
        let shown = if absolute {
            path.as_path()
        } else {
            path.strip_prefix(scope.job_dir).unwrap_or(&path)
        };
        values.push(Value::new(shown.as_os_str().as_bytes()));
    }
    values.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    values.dedup();
    if values.is_empty() && !allow_empty {
        return Err(Diagnostic::new(format!("glob `{rendered}` matches no file"))
            .at(scope.source, span.clone())
            .label(format!("searched in `{}`", scope.job_dir.display()))
            .help("check the pattern (it is relative to the job's dir), or add `allow_empty = true`"));
    }
    Ok(values)
}

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
    let bytes = std::fs::read(&path).map_err(|e| {
        Diagnostic::new(format!(
            "cannot read `matrix.{key}` lines file `{}`: {e}",
            path.display()
        ))
        .at(scope.source, span.clone())
        .help("the path is relative to the job's dir")
    })?;
    let values: Vec<Value> = bytes
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(Value::new)
        .collect();
    if values.is_empty() && !allow_empty {
        return Err(Diagnostic::new(format!(
            "lines file `{}` has no non-empty line",
            path.display()
        ))
        .at(scope.source, span.clone())
        .help("fill the file, or add `allow_empty = true`"));
    }
    Ok(values)
}
