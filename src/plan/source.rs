//! Matrix value sources (SPEC 1.1): literal arrays, ranges, globs and lines
//! files, which give one key's values, and row files (csv, json, jsonl),
//! which give several keys' values, a row at a time (parsed in `rows`).
//!
//! Invariant: a source never keeps more values than the budget it is given.
//! Arrays and ranges tell their length without being expanded, so a matrix
//! can be counted first; lines and row files are read only as far as their
//! budget (a glob's listing and a json file are made whole, then dropped if
//! they are too long).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{BufRead, Read};
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;

use toml::Spanned;

use super::literal;
use super::matrix::Scope;
use super::rows::{self, Format, Limits, RowError};
use super::value::Value;
use super::walk::{self, WalkError};
use crate::error::{Diagnostic, did_you_mean, io_reason};

/// A `lines` value (or a CSV record, a JSONL line) longer than this is not a
/// value but a wrong file.
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Values one `range` or `lines` source may give (as many as a task's units).
pub const MAX_VALUES: usize = 10_000_000;

/// One `matrix.KEY`, checked for shape but not yet expanded.
pub struct Source<'m> {
    key: &'m str,
    pub span: Range<usize>,
    kind: Kind<'m>,
}

enum Kind<'m> {
    Array(&'m [toml::Value]),
    Range(i64, i64),
    Glob(&'m str, bool),
    Lines(&'m str, bool),
    Rows(Format, &'m str, bool),
}

/// What a source gives: its keys, and a column of values per key.
pub struct Values {
    /// The entry's name, or a row file's columns.
    pub keys: Vec<String>,
    /// One per key, all as long; `None` when there are more than the limit.
    pub columns: Option<Vec<Vec<Value>>>,
}

impl<'m> Source<'m> {
    /// Checks the source's shape; reads nothing and makes no value.
    pub fn new(
        scope: &Scope<'_>,
        key: &'m str,
        value: &'m Spanned<toml::Value>,
    ) -> Result<Source<'m>, Diagnostic> {
        let span = value.span();
        let err = |msg: String| Diagnostic::new(msg).at(scope.source, span.clone());
        let kind = match value.get_ref() {
            toml::Value::Array(items) if items.is_empty() => {
                return Err(err(format!(
                    "task `{}`: `matrix.{key}` has no values",
                    scope.task
                ))
                .help("give at least one value, or remove the key"));
            }
            toml::Value::Array(items) => Kind::Array(items),
            toml::Value::Table(t) => {
                const KEYS: [&str; 7] = [
                    "glob",
                    "lines",
                    "range",
                    "csv",
                    "json",
                    "jsonl",
                    "allow_empty",
                ];
                for k in t.keys() {
                    if !KEYS.contains(&k.as_str()) {
                        let mut d = err(format!("unknown key `{k}` in `matrix.{key}`"));
                        if let Some(s) = did_you_mean(k, KEYS) {
                            d = d.label(format!("did you mean `{s}`?"));
                        }
                        return Err(d.help("a value source is `{ glob = \"...\" }`, `{ lines = \"FILE\" }` or `{ range = [START, END] }`; a row source is `{ csv = \"FILE\" }`, `{ json = \"FILE\" }` or `{ jsonl = \"FILE\" }`"));
                    }
                }
                let kinds: Vec<&str> = KEYS[..6]
                    .iter()
                    .copied()
                    .filter(|k| t.contains_key(*k))
                    .collect();
                if kinds.len() != 1 {
                    return Err(err(format!(
                        "`matrix.{key}` must have exactly one of `glob`, `lines`, `range`, `csv`, `json` or `jsonl`"
                    )));
                }
                let allow_empty = match t.get("allow_empty") {
                    None => false,
                    Some(toml::Value::Boolean(b)) if kinds[0] != "range" => *b,
                    Some(_) => {
                        return Err(err(format!(
                            "`allow_empty` in `matrix.{key}` must be a boolean, and goes with `glob`, `lines`, `csv`, `json` or `jsonl`"
                        )));
                    }
                };
                let text = |k: &str| match t.get(k) {
                    Some(toml::Value::String(s)) => Ok(s.as_str()),
                    _ => Err(err(format!("`matrix.{key}.{k}` must be a string"))),
                };
                match kinds[0] {
                    "glob" => Kind::Glob(text("glob")?, allow_empty),
                    "lines" => Kind::Lines(text("lines")?, allow_empty),
                    "range" => {
                        let (start, end) = range_bounds(t.get("range"), &err, key)?;
                        Kind::Range(start, end)
                    }
                    name => {
                        let (_, format) = Format::ALL
                            .into_iter()
                            .find(|(n, _)| *n == name)
                            .expect("a row source's name");
                        Kind::Rows(format, text(name)?, allow_empty)
                    }
                }
            }
            other => {
                return Err(err(format!(
                    "`matrix.{key}` must be an array of values or a value source table, not {}",
                    other.type_str()
                ))
                .help("write `[1, 2]`, `{ glob = \"src/*.jpg\" }`, `{ lines = \"list.txt\" }`, `{ range = [0, 10] }` or `{ csv = \"rows.csv\" }`"));
            }
        };
        Ok(Source { key, span, kind })
    }

    /// The number of values, for sources that tell it without being read.
    pub fn len(&self) -> Option<usize> {
        match self.kind {
            Kind::Array(items) => Some(items.len()),
            // Within MAX_VALUES: checked by `range_bounds`.
            Kind::Range(start, end) => Some((i128::from(end) - i128::from(start)) as usize),
            Kind::Glob(..) | Kind::Lines(..) | Kind::Rows(..) => None,
        }
    }

    /// Whether the source may have no value (`allow_empty`).
    pub fn allows_empty(&self) -> bool {
        matches!(
            self.kind,
            Kind::Glob(_, true) | Kind::Lines(_, true) | Kind::Rows(_, _, true)
        )
    }

    /// Whether the source's keys are a row file's columns, not its name.
    pub fn has_rows(&self) -> bool {
        matches!(self.kind, Kind::Rows(..))
    }

    pub fn key(&self) -> &str {
        self.key
    }

    /// The keys and values, no columns when there are more than `limit`
    /// values (a row file: rows) or a row file has more than `cells` values
    /// in all. A source over its limit is only checked: arrays in full,
    /// globs, lines and row files as far as needed (a row file's columns
    /// always), ranges not at all.
    pub fn values(
        &self,
        scope: &Scope<'_>,
        limit: usize,
        cells: usize,
    ) -> Result<Values, Diagnostic> {
        let one = |values: Option<Vec<Value>>| Values {
            keys: vec![self.key.to_owned()],
            columns: values.map(|v| vec![v]),
        };
        let values = match self.kind {
            Kind::Array(items) => array_values(scope, self.key, items, &self.span)?,
            Kind::Range(..) if self.len() > Some(limit) => return Ok(one(None)),
            Kind::Range(start, end) => {
                let mut s = String::new();
                (start..end)
                    .map(|i| {
                        s.clear();
                        let _ = write!(s, "{i}");
                        Value::from(s.as_str())
                    })
                    .collect()
            }
            Kind::Glob(pattern, allow_empty) => {
                glob_values(scope, self.key, pattern, allow_empty, &self.span)?
            }
            Kind::Lines(file, allow_empty) => {
                return Ok(one(lines_values(
                    scope,
                    self.key,
                    file,
                    allow_empty,
                    &self.span,
                    limit,
                )?));
            }
            Kind::Rows(format, file, allow_empty) => {
                let limits = Limits {
                    rows: limit,
                    values: cells,
                };
                return row_values(
                    scope,
                    self.key,
                    format,
                    file,
                    allow_empty,
                    &self.span,
                    limits,
                );
            }
        };
        Ok(one((values.len() <= limit).then_some(values)))
    }
}

/// A literal value: strings are templates over vars and env.
pub fn scalar(scope: &Scope<'_>, v: &toml::Value, span: Range<usize>) -> Result<Value, Diagnostic> {
    Ok(match v {
        toml::Value::String(s) => {
            let t = (scope.parse)(s, span, "matrix value")?;
            Value::new(&t.render(scope.lookup, false))
        }
        toml::Value::Integer(i) => Value::from(i.to_string().as_str()),
        toml::Value::Float(f) => {
            let raw = scope.source.text.get(span).unwrap_or("");
            Value::from(literal::float_text(raw, *f).as_str())
        }
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

fn array_values(
    scope: &Scope<'_>,
    key: &str,
    items: &[toml::Value],
    span: &Range<usize>,
) -> Result<Vec<Value>, Diagnostic> {
    // Each item's own span, so a float keeps its text and an error points
    // at its item (the whole array if the text cannot be split).
    let spans = scope
        .source
        .text
        .get(span.clone())
        .and_then(literal::array_items)
        .filter(|s| s.len() == items.len());
    let item_span = |i: usize| match &spans {
        Some(s) => span.start + s[i].start..span.start + s[i].end,
        None => span.clone(),
    };
    let values = items
        .iter()
        .enumerate()
        .map(|(i, v)| scalar(scope, v, item_span(i)))
        .collect::<Result<Vec<_>, _>>()?;
    // Caught here, a repeat points at the array instead of a later unit id clash.
    let mut seen: HashSet<&[u8]> = HashSet::with_capacity(values.len());
    if let Some(v) = values.iter().find(|v| !seen.insert(v.as_bytes())) {
        return Err(Diagnostic::new(format!(
            "task `{}`: `matrix.{key}` lists `{}` twice",
            scope.task,
            v.display()
        ))
        .at(scope.source, span.clone())
        .help("each value gives units of its own; remove the repeat"));
    }
    Ok(values)
}

fn range_bounds(
    v: Option<&toml::Value>,
    err: &dyn Fn(String) -> Diagnostic,
    key: &str,
) -> Result<(i64, i64), Diagnostic> {
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
    if i128::from(end) - i128::from(start) > MAX_VALUES as i128 {
        return Err(err(format!(
            "`matrix.{key}.range` has more than 10,000,000 values"
        )));
    }
    Ok((start, end))
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

/// The file's non-empty lines, or `None` once there are more than `limit`.
fn lines_values(
    scope: &Scope<'_>,
    key: &str,
    file: &str,
    allow_empty: bool,
    span: &Range<usize>,
    limit: usize,
) -> Result<Option<Vec<Value>>, Diagnostic> {
    let (rendered, f) = open(scope, key, "lines", file, span)?;
    let too_much = |what: String| {
        Diagnostic::new(format!(
            "the lines file `{}` of `matrix.{key}` {what}",
            String::from_utf8_lossy(&rendered)
        ))
        .at(scope.source, span.clone())
    };
    let mut reader = std::io::BufReader::new(f);
    let mut values: Vec<Value> = Vec::new();
    let mut line = Vec::new();
    let mut line_no = 0usize;
    while read_line(&mut reader, &mut line)
        .map_err(|e| cannot_read(scope, key, "lines", &rendered, span, &e))?
    {
        line_no += 1;
        if line.len() > MAX_LINE_BYTES {
            return Err(too_much(format!(
                "has a line longer than {} MiB (line {line_no})",
                MAX_LINE_BYTES >> 20
            )));
        }
        if !line.is_empty() {
            if values.len() >= MAX_VALUES {
                return Err(too_much("has more than 10,000,000 lines".into()));
            }
            if values.len() >= limit {
                return Ok(None);
            }
            values.push(Value::new(&line));
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
    Ok(Some(values))
}

/// A row file's columns and rows; no rows once there are more than
/// `limits.rows`.
fn row_values(
    scope: &Scope<'_>,
    key: &str,
    format: Format,
    file: &str,
    allow_empty: bool,
    span: &Range<usize>,
    limits: Limits,
) -> Result<Values, Diagnostic> {
    let what = format.name();
    let (rendered, f) = open(scope, key, what, file, span)?;
    let name = String::from_utf8_lossy(&rendered);
    let rows = rows::read(format, f, limits).map_err(|e| match e {
        RowError::Io(e) => cannot_read(scope, key, what, &rendered, span, &e),
        RowError::Bad(b) => {
            let at = match b.line {
                Some(line) => format!("{name}:{line}"),
                None => name.to_string(),
            };
            Diagnostic::new(format!("{at}: {}", b.what))
                .at(scope.source, span.clone())
                .label(format!("the {what} file of `matrix.{key}`"))
                .help(b.help)
        }
    })?;
    if rows.len() == 0 && !rows.over && !allow_empty {
        return Err(Diagnostic::new(format!(
            "the {what} file `{name}` of `matrix.{key}` has no row"
        ))
        .at(scope.source, span.clone())
        .help("fill the file, or add `allow_empty = true`"));
    }
    Ok(Values {
        keys: rows.columns,
        columns: (!rows.over).then_some(rows.values),
    })
}

/// Opens the file a `lines` or row source names: its path as rendered, and
/// the file. Streamed by the callers with bounds: a pipe (`<(find ...)`)
/// works, and `/dev/zero` is an error rather than all of memory.
fn open(
    scope: &Scope<'_>,
    key: &str,
    what: &str,
    file: &str,
    span: &Range<usize>,
) -> Result<(Vec<u8>, std::fs::File), Diagnostic> {
    let t = (scope.parse)(file, span.clone(), what)?;
    let rendered = t.render(scope.lookup, false);
    let path = scope.job_dir.join(std::ffi::OsStr::from_bytes(&rendered));
    match std::fs::File::open(&path) {
        Ok(f) => Ok((rendered, f)),
        Err(e) => Err(cannot_read(scope, key, what, &rendered, span, &e)),
    }
}

fn cannot_read(
    scope: &Scope<'_>,
    key: &str,
    what: &str,
    rendered: &[u8],
    span: &Range<usize>,
    e: &std::io::Error,
) -> Diagnostic {
    Diagnostic::new(format!(
        "cannot read the {what} file `{}` of `matrix.{key}`: {}",
        String::from_utf8_lossy(rendered),
        io_reason(e)
    ))
    .at(scope.source, span.clone())
    .label(format!("looked in `{}`", scope.job_dir.display()))
    .help("the path is relative to the job's dir (the manifest's folder, or `job.dir`)")
}

/// Reads the next line into `buf`, without its `\n` or `\r\n`: false at the
/// end. A line longer than `MAX_LINE_BYTES` is cut just past it, so the
/// caller tells it apart without reading it whole.
pub fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    buf.clear();
    // One byte past the limit (and one for a `\r`) tells a long line apart.
    let n = Read::take(&mut *reader, MAX_LINE_BYTES as u64 + 2).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(true)
}
