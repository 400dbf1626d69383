//! Row sources (`csv`, `json`, `jsonl`): files whose rows give several
//! matrix keys at once, one key per column.
//!
//! Invariants: a value is the exact text of its cell (CSV fields after
//! unquoting, JSON strings unescaped, JSON numbers as written, never
//! reformatted); every row has the same columns; no more rows than the limit
//! are kept, and a CSV record or JSONL line is at most `MAX_LINE_BYTES`, so
//! a file without end is an error rather than all of memory.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

use csv_core::ReadRecordResult;
use serde::Deserialize;
use serde::de::{self, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::matrix::bad_key;
use super::source::{MAX_LINE_BYTES, read_line};
use super::value::{Value, display_bytes};
use crate::error::did_you_mean;

/// A `json` file is read whole: an array has no line to stop at.
pub const MAX_JSON_BYTES: u64 = 256 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Jsonl,
}

impl Format {
    pub const ALL: [(&'static str, Format); 3] = [
        ("csv", Format::Csv),
        ("json", Format::Json),
        ("jsonl", Format::Jsonl),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Jsonl => "jsonl",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Rows to keep; a file with more is read only this far.
    pub rows: usize,
    /// Values to keep in all, rows times columns.
    pub values: usize,
}

#[derive(Debug)]
pub struct Rows {
    /// Header order (CSV), or the first object's key order (JSON).
    pub columns: Vec<String>,
    /// A column of values per name, all as long.
    pub values: Vec<Vec<Value>>,
    /// Whether the file has more rows than the limit (the rest is not read).
    pub over: bool,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.values.first().map_or(0, Vec::len)
    }
}

#[derive(Debug)]
pub enum RowError {
    Io(io::Error),
    Bad(Bad),
}

/// What is wrong with the file, where, and how to fix it.
#[derive(Debug)]
pub struct Bad {
    /// 1-based; none when the problem is the whole file.
    pub line: Option<usize>,
    pub what: String,
    pub help: String,
}

fn bad(line: impl Into<Option<usize>>, what: String, help: impl Into<String>) -> RowError {
    RowError::Bad(Bad {
        line: line.into(),
        what,
        help: help.into(),
    })
}

impl From<io::Error> for RowError {
    fn from(e: io::Error) -> Self {
        RowError::Io(e)
    }
}

/// Reads the rows of `input`, at most `limits.rows` of them.
pub fn read(format: Format, input: impl Read, limits: Limits) -> Result<Rows, RowError> {
    let input = skip_bom(input)?;
    let mut table = Table::new(limits);
    match format {
        Format::Csv => csv(input, &mut table)?,
        Format::Json => json(input, &mut table)?,
        Format::Jsonl => jsonl(input, &mut table)?,
    }
    Ok(Rows {
        columns: table.columns,
        values: table.values,
        over: table.over,
    })
}

/// Spreadsheets often start a UTF-8 file with a byte order mark; it is not
/// part of the first column's name.
fn skip_bom(mut input: impl Read) -> io::Result<impl Read> {
    let mut head = [0u8; 3];
    let mut n = 0;
    while n < head.len() {
        match input.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let kept = if head[..n] == [0xef, 0xbb, 0xbf] {
        0
    } else {
        n
    };
    Ok(io::Cursor::new(head[..kept].to_vec()).chain(input))
}

/// The rows read so far, column by column.
struct Table {
    limits: Limits,
    columns: Vec<String>,
    index: HashMap<String, usize>,
    values: Vec<Vec<Value>>,
    rows: usize,
    over: bool,
}

impl Table {
    fn new(limits: Limits) -> Table {
        Table {
            limits,
            columns: Vec::new(),
            index: HashMap::new(),
            values: Vec::new(),
            rows: 0,
            over: false,
        }
    }

    fn has_columns(&self) -> bool {
        !self.columns.is_empty()
    }

    fn set_columns(&mut self, names: Vec<String>, line: usize) -> Result<(), RowError> {
        if names.is_empty() {
            return Err(bad(
                line,
                "the first row has no column".into(),
                "its columns name the matrix keys, like {\"file\": \"a.jpg\", \"width\": 100}",
            ));
        }
        for (i, name) in names.iter().enumerate() {
            if let Some(b) = bad_key(name) {
                return Err(bad(
                    line,
                    format!("column `{name}` {}", b.what()),
                    format!("each column becomes a matrix key: {}", b.help()),
                ));
            }
            if self.index.insert(name.clone(), i).is_some() {
                return Err(bad(
                    line,
                    format!("column `{name}` appears twice"),
                    "each column becomes a matrix key of its own; rename one of them",
                ));
            }
        }
        self.values = vec![Vec::new(); names.len()];
        self.columns = names;
        Ok(())
    }

    /// Whether one more row may be kept; past the row limit it may not, and
    /// reading stops.
    fn room(&mut self, line: usize) -> Result<bool, RowError> {
        if self.rows >= self.limits.rows {
            self.over = true;
            return Ok(false);
        }
        if (self.rows + 1).saturating_mul(self.columns.len()) > self.limits.values {
            return Err(bad(
                line,
                format!(
                    "{} rows of {} columns are more values than a plan keeps ({} in all)",
                    self.rows + 1,
                    self.columns.len(),
                    self.limits.values
                ),
                "split the file, or the job into several job files",
            ));
        }
        Ok(true)
    }

    fn push(&mut self, row: impl IntoIterator<Item = Value>) {
        for (column, v) in self.values.iter_mut().zip(row) {
            column.push(v);
        }
        self.rows += 1;
    }

    /// The columns for a help line: `a, b, c` (the first few of many).
    fn list(&self) -> String {
        const SHOWN: usize = 8;
        let mut s = self.columns[..self.columns.len().min(SHOWN)].join(", ");
        if self.columns.len() > SHOWN {
            s.push_str(&format!(", ... ({} in all)", self.columns.len()));
        }
        s
    }
}

fn too_long(line: usize, what: &str) -> RowError {
    bad(
        line,
        format!("{what} longer than {} MiB", MAX_LINE_BYTES >> 20),
        "a value this long is almost always a wrong file, or an unclosed quote",
    )
}

/// RFC 4180 CSV with a header row. `csv_core` parses; this loop keeps the
/// lines, so a record is reported where it starts (blank lines and quoted
/// newlines included), and bounds each record's bytes.
fn csv(input: impl Read, table: &mut Table) -> Result<(), RowError> {
    let mut reader = BufReader::new(input);
    let mut core = csv_core::Reader::new();
    let mut out = vec![0u8; 1024];
    let mut ends = vec![0usize; 16];
    let (mut outlen, mut endlen) = (0, 0);
    // Bytes of the record so far, and the line it starts at.
    let mut raw = 0usize;
    let mut start: Option<usize> = None;
    let mut line = 1usize;
    loop {
        let input = reader.fill_buf()?;
        if start.is_none() {
            // csv_core skips blank lines too, but would not say how many.
            let blank = input
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            if blank > 0 {
                line += input[..blank].iter().filter(|b| **b == b'\n').count();
                reader.consume(blank);
                continue;
            }
            if !input.is_empty() {
                start = Some(line);
            }
        }
        let (res, nin, nout, nend) =
            core.read_record(input, &mut out[outlen..], &mut ends[endlen..]);
        line += input[..nin].iter().filter(|b| **b == b'\n').count();
        reader.consume(nin);
        outlen += nout;
        endlen += nend;
        raw += nin;
        let at = start.unwrap_or(line);
        // One byte for the terminator (csv_core takes a `\r\n`'s `\n` later).
        if raw > MAX_LINE_BYTES + 1 {
            return Err(too_long(at, "a record"));
        }
        match res {
            ReadRecordResult::InputEmpty => {}
            ReadRecordResult::OutputFull => out.resize(out.len() * 2, 0),
            ReadRecordResult::OutputEndsFull => ends.resize(ends.len() * 2, 0),
            ReadRecordResult::Record => {
                csv_record(table, &out[..outlen], &ends[..endlen], at)?;
                if table.over {
                    return Ok(());
                }
                (outlen, endlen, raw, start) = (0, 0, 0, None);
            }
            ReadRecordResult::End => break,
        }
    }
    if !table.has_columns() {
        return Err(bad(
            None,
            "the file is empty: a csv source needs a header row".into(),
            "the first row names the columns, like `file,width,quality`; they become the matrix keys",
        ));
    }
    Ok(())
}

fn csv_record(table: &mut Table, out: &[u8], ends: &[usize], line: usize) -> Result<(), RowError> {
    let fields = ends.iter().scan(0, |from, &to| {
        let f = &out[*from..to];
        *from = to;
        Some(f)
    });
    if !table.has_columns() {
        let names = fields
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        return table.set_columns(names, line);
    }
    let n = table.columns.len();
    if ends.len() < n {
        return Err(bad(
            line,
            format!(
                "the row has no `{}` column ({} fields for {n} columns)",
                table.columns[ends.len()],
                ends.len()
            ),
            format!(
                "every row has a field per header column ({}); write an empty one as `,,`",
                table.list()
            ),
        ));
    }
    if ends.len() > n {
        let extra = fields.clone().nth(n).unwrap_or_default();
        return Err(bad(
            line,
            format!(
                "the row has a field `{}` past its last column `{}` ({} fields for {n} columns)",
                display_bytes(extra),
                table.columns[n - 1],
                ends.len()
            ),
            "quote a field that holds a comma: `\"a,b\"`",
        ));
    }
    if table.room(line)? {
        table.push(fields.map(Value::new));
    }
    Ok(())
}

/// One JSON array of objects, read whole.
fn json(input: impl Read, table: &mut Table) -> Result<(), RowError> {
    let mut bytes = Vec::new();
    input.take(MAX_JSON_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_JSON_BYTES {
        return Err(bad(
            None,
            format!(
                "the file is larger than {} MiB, and a json file is read whole",
                MAX_JSON_BYTES >> 20
            ),
            "write one object per line and use `jsonl`, which is read only as far as needed",
        ));
    }
    let text = utf8(&bytes, 1)?;
    match text.trim_start().as_bytes().first() {
        // What `jq` prints for no result: no rows.
        None => return Ok(()),
        Some(b'[') => {}
        Some(_) => {
            let kind =
                serde_json::from_str::<&RawValue>(text).map_or("no valid JSON", |v| kind(v.get()));
            let at = Lines::new(text).at(text.trim_start());
            return Err(bad(
                at,
                format!("the file holds {kind}, not an array of rows"),
                "write the rows as `[{\"file\": \"a.jpg\"}, {\"file\": \"b.jpg\"}]`, or use `jsonl` for one object per line",
            ));
        }
    }
    let mut lines = Lines::new(text);
    let mut failed = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let each = |raw: &RawValue| json_row(table, raw, &mut |s| lines.at(s));
    let parsed = (&mut de)
        .deserialize_seq(Elements {
            each,
            failed: &mut failed,
        })
        .and_then(|()| de.end());
    if let Some(e) = failed {
        return Err(e);
    }
    parsed.map_err(|e| syntax(&e, e.line()))
}

/// JSON Lines: an object per line, blank lines skipped.
fn jsonl(input: impl Read, table: &mut Table) -> Result<(), RowError> {
    let mut reader = BufReader::new(input);
    let mut buf = Vec::new();
    let mut line = 0usize;
    while read_line(&mut reader, &mut buf)? {
        line += 1;
        if buf.len() > MAX_LINE_BYTES {
            return Err(too_long(line, "a line"));
        }
        if buf.trim_ascii().is_empty() {
            continue;
        }
        let text = utf8(&buf, line)?;
        let raw: &RawValue = serde_json::from_str(text).map_err(|e| syntax(&e, line))?;
        if !json_row(table, raw, &mut |_| line)? {
            break;
        }
    }
    Ok(())
}

/// Takes one JSON row into the table: false once the table is full.
fn json_row(
    table: &mut Table,
    raw: &RawValue,
    line_of: &mut dyn FnMut(&str) -> usize,
) -> Result<bool, RowError> {
    let line = line_of(raw.get());
    let t = raw.get();
    if !t.starts_with('{') {
        return Err(bad(
            line,
            format!("the row is {}, not an object", kind(t)),
            "each row is an object of column names and values, like {\"file\": \"a.jpg\", \"width\": 100}",
        ));
    }
    let fields = serde_json::from_str::<Fields<'_>>(t)
        .map_err(|e| {
            bad(
                line,
                format!("invalid JSON: {}", message(&e)),
                "fix the JSON",
            )
        })?
        .0;
    if !table.has_columns() {
        table.set_columns(fields.iter().map(|(k, _)| k.to_string()).collect(), line)?;
    }
    let mut row: Vec<Option<Value>> = vec![None; table.columns.len()];
    for (k, v) in &fields {
        let Some(&c) = table.index.get(k.as_ref()) else {
            let mut what = format!("the row has a column `{k}` that the first row has not");
            if let Some(s) = did_you_mean(k, table.columns.iter().map(String::as_str)) {
                what.push_str(&format!(" (`{s}`?)"));
            }
            return Err(bad(
                line,
                what,
                format!(
                    "every row has exactly the first row's columns: {}",
                    table.list()
                ),
            ));
        };
        if row[c].is_some() {
            return Err(bad(
                line,
                format!("the row names `{k}` twice"),
                "give each column once per row",
            ));
        }
        let value = json_value(v.get())
            .map_err(|(what, help)| bad(line_of(v.get()), format!("`{k}` is {what}"), help))?;
        row[c] = Some(value);
    }
    if let Some(c) = row.iter().position(Option::is_none) {
        return Err(bad(
            line,
            format!("the row has no `{}` column", table.columns[c]),
            format!(
                "every row has the first row's columns: {}; write `\"\"` for an empty value",
                table.list()
            ),
        ));
    }
    if !table.room(line)? {
        return Ok(false);
    }
    table.push(row.into_iter().flatten());
    Ok(true)
}

/// A JSON value's text: strings unescaped, numbers and booleans as written.
fn json_value(t: &str) -> Result<Value, (String, String)> {
    match t.as_bytes().first() {
        Some(b'"') if !t.contains('\\') => Ok(Value::from(&t[1..t.len() - 1])),
        Some(b'"') => serde_json::from_str::<String>(t)
            .map(|s| Value::from(s.as_str()))
            .map_err(|e| {
                (
                    format!("not a valid string: {}", message(&e)),
                    "a `\\u` escape of half a UTF-16 pair needs its other half".into(),
                )
            }),
        Some(b'n') => Err((
            "null".into(),
            "a value is a string, a number or a boolean; write `\"\"` for an empty one".into(),
        )),
        Some(b'[' | b'{') => Err((
            kind(t).into(),
            "a value is a string, a number or a boolean: a row gives one value per column \
             (write a row per item, or join the items into one string)"
                .into(),
        )),
        _ => Ok(Value::from(t)),
    }
}

fn kind(t: &str) -> &'static str {
    match t.as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'[') => "an array",
        Some(b'{') => "an object",
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        _ => "a number",
    }
}

fn utf8(bytes: &[u8], first_line: usize) -> Result<&str, RowError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        bad(
            first_line + before.iter().filter(|b| **b == b'\n').count(),
            "not valid UTF-8".into(),
            "JSON is UTF-8 text; convert the file (for example with `iconv -t UTF-8`)",
        )
    })
}

fn syntax(e: &serde_json::Error, line: usize) -> RowError {
    bad(
        line,
        format!("invalid JSON: {} (column {})", message(e), e.column()),
        "fix the JSON (a trailing comma, a comment or a single quote is not JSON)",
    )
}

/// serde_json's message without its ` at line L column C`, which we say apart.
fn message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Line numbers of places in a text, counted on from the last one asked.
struct Lines<'t> {
    text: &'t str,
    offset: usize,
    line: usize,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Lines<'t> {
        Lines {
            text,
            offset: 0,
            line: 1,
        }
    }

    /// The line `part` (a slice of the text) starts at.
    fn at(&mut self, part: &str) -> usize {
        // Slices serde_json borrowed from the text: their distance is their offset.
        let offset = (part.as_ptr() as usize).saturating_sub(self.text.as_ptr() as usize);
        let offset = offset.min(self.text.len());
        if offset < self.offset {
            (self.offset, self.line) = (0, 1);
        }
        self.line += self.text.as_bytes()[self.offset..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.offset = offset;
        self.line
    }
}

/// Hands each element of the array to `each` as it is parsed, so only the
/// rows kept are ever made. `each` says false when no more are wanted; the
/// rest is then only checked.
struct Elements<'f, F> {
    each: F,
    failed: &'f mut Option<RowError>,
}

impl<'de, F> Visitor<'de> for Elements<'_, F>
where
    F: FnMut(&'de RawValue) -> Result<bool, RowError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            match (self.each)(raw) {
                Ok(true) => {}
                Ok(false) => {
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    break;
                }
                Err(e) => {
                    *self.failed = Some(e);
                    return Err(de::Error::custom("a bad row"));
                }
            }
        }
        Ok(())
    }
}

/// An object's members in file order, values unparsed; keys borrowed where
/// they hold no escape.
struct Fields<'de>(Vec<(Cow<'de, str>, &'de RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Fields<'de>, M::Error> {
                let mut fields = Vec::new();
                while let Some(Key(k)) = map.next_key()? {
                    fields.push((k, map.next_value()?));
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(V)
    }
}

struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a column name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: Limits = Limits {
        rows: 1000,
        values: 10_000,
    };

    fn rows_of(format: Format, text: &[u8], limits: Limits) -> Result<Rows, String> {
        read(format, text, limits).map_err(|e| match e {
            RowError::Io(e) => format!("io: {e}"),
            RowError::Bad(b) => format!("{}: {} (help: {})", b.line.unwrap_or(0), b.what, b.help),
        })
    }

    /// Each row as `k=v` pairs in column order.
    fn table(format: Format, text: &[u8]) -> Vec<String> {
        let rows = rows_of(format, text, ROOMY).unwrap_or_else(|e| panic!("{e}"));
        assert!(!rows.over);
        (0..rows.len())
            .map(|r| {
                rows.columns
                    .iter()
                    .zip(&rows.values)
                    .map(|(k, col)| format!("{k}={}", col[r].display()))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    fn error(format: Format, text: &[u8]) -> String {
        match rows_of(format, text, ROOMY) {
            Ok(rows) => panic!("no error, got {:?}", rows.columns),
            Err(e) => e,
        }
    }

    #[test]
    fn csv_fields_keep_their_text_after_unquoting() {
        let text = b"\xef\xbb\xbffile,width,note\r\n\
            a.jpg,100,plain\r\n\
            \"b, c.jpg\",200,\"say \"\"hi\"\"\"\r\n\
            \n\
            \" lead\", 3.10 ,\n\
            \"two\nlines\",1e3,caf\xe9";
        assert_eq!(
            table(Format::Csv, text),
            [
                "file=a.jpg width=100 note=plain",
                "file=b, c.jpg width=200 note=say \"hi\"",
                "file= lead width= 3.10  note=",
                "file=two\\nlines width=1e3 note=caf\\xe9",
            ]
        );
        // A header alone: the columns, no rows.
        let rows = rows_of(Format::Csv, b"a,b\n", ROOMY).unwrap();
        assert_eq!(
            (rows.len(), rows.columns),
            (0, vec!["a".to_owned(), "b".to_owned()])
        );
    }

    #[test]
    fn csv_errors_name_the_line_a_record_starts_at() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "0: the file is empty: a csv source needs a header row"),
            (b"\n\r\n", "0: the file is empty"),
            (
                b"a,b,c\n1,2,3\n\n\"x\ny\",2\n",
                "4: the row has no `c` column (2 fields for 3 columns)",
            ),
            (
                b"a,b\n1,2\n1,2,zz\n",
                "3: the row has a field `zz` past its last column `b` (3 fields for 2 columns)",
            ),
            (b"file,a b\n", "1: column `a b` is not a valid key name"),
            (b"x,job\n", "1: column `job` is a reserved name"),
            (b"x,\n", "1: column `` is not a valid key name"),
            (b"x,y,x\n", "1: column `x` appears twice"),
            (
                b"caf\xe9\n",
                "1: column `caf\u{fffd}` is not a valid key name",
            ),
        ];
        for (text, want) in cases {
            let e = error(Format::Csv, text);
            assert!(e.starts_with(want), "{want:?} is not the start of {e:?}");
        }
    }

    #[test]
    fn a_csv_record_is_at_most_a_mebibyte() {
        let mut text = b"a\nshort\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES));
        text.push(b'\n');
        assert_eq!(rows_of(Format::Csv, &text, ROOMY).unwrap().len(), 2);
        text.truncate(text.len() - 1);
        text.extend(b"x\n");
        assert!(error(Format::Csv, &text).starts_with("3: a record longer than 1 MiB"));
        // An unclosed quote makes the rest of an endless input one record.
        let endless = b"a\n\"".chain(std::io::repeat(b'x'));
        match read(Format::Csv, endless, ROOMY) {
            Err(RowError::Bad(b)) => assert_eq!(b.line, Some(2)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn json_values_keep_their_text() {
        let text = br#"[
            {"file": "a.jpg", "version": 3.10, "big": 1e3, "neg": -0.0, "ok": true},
            {"ok": false, "big": 123456789012345678901234567890, "neg": -1, "version": "3.10",
             "file": "q\"\u00e9\n\ud83d\ude00"}
        ]"#;
        assert_eq!(
            table(Format::Json, text),
            [
                "file=a.jpg version=3.10 big=1e3 neg=-0.0 ok=true",
                "file=q\"é\\n😀 version=3.10 big=123456789012345678901234567890 neg=-1 ok=false",
            ]
        );
        for empty in [&b""[..], b" \n", b"[]", b"\xef\xbb\xbf[ ]"] {
            let rows = rows_of(Format::Json, empty, ROOMY).unwrap();
            assert_eq!((rows.columns.len(), rows.len()), (0, 0));
        }
    }

    #[test]
    fn json_errors() {
        let cases: &[(&[u8], &str)] = &[
            (
                br#"{"a": 1}"#,
                "1: the file holds an object, not an array of rows (help: write the rows as",
            ),
            (
                b"\n\n  nope",
                "3: the file holds no valid JSON, not an array",
            ),
            (
                b"[\n{\"a\": 1},\n2]",
                "3: the row is a number, not an object",
            ),
            (
                b"[{\"a\": 1},\n\n\"x\"]",
                "3: the row is a string, not an object",
            ),
            (
                b"[{\"a\": 1,\n \"b\": null}]",
                "2: `b` is null (help: a value is a string, a number or a boolean; write `\"\"`",
            ),
            (b"[{\"a\": [1, 2]}]", "1: `a` is an array"),
            (b"[{\"a\": {}}]", "1: `a` is an object"),
            (
                b"[{\"file\": 1, \"size\": 2},\n{\"file\": 1}]",
                "2: the row has no `size` column (help: every row has the first row's columns: file, size;",
            ),
            (
                b"[{\"file\": 1},\n{\"file\": 1, \"fil\": 2}]",
                "2: the row has a column `fil` that the first row has not (`file`?)",
            ),
            (b"[{\"a\": 1, \"a\": 2}]", "1: column `a` appears twice"),
            (
                b"[{\"a\": 1},\n{\"a\": 1, \"a\": 2}]",
                "2: the row names `a` twice",
            ),
            (b"[{}]", "1: the first row has no column"),
            (b"[{\"a b\": 1}]", "1: column `a b` is not a valid key name"),
            (
                b"[\n{\"a\": 1},\n]",
                "3: invalid JSON: trailing comma (column 1) (help: fix the JSON",
            ),
            (b"[{\"a\": 1}", "1: invalid JSON: EOF while parsing a list"),
            (b"[{\"a\": 1}] x", "1: invalid JSON: trailing characters"),
            (b"[{\"a\": \"\\ud800\"}]", "1: `a` is not a valid string"),
            (b"[\n{\"a\": \"caf\xe9\"}]", "2: not valid UTF-8"),
        ];
        for (text, want) in cases {
            let e = error(Format::Json, text);
            assert!(e.starts_with(want), "{want:?} is not the start of {e:?}");
        }
    }

    #[test]
    fn jsonl_reads_an_object_per_line() {
        let text = b"{\"a\": \"x\", \"b\": 1.50}\r\n\n   \n{\"b\": 2, \"a\": \"y\"}";
        assert_eq!(table(Format::Jsonl, text), ["a=x b=1.50", "a=y b=2"]);
        let cases: &[(&[u8], &str)] = &[
            (
                b"{\"a\": 1}\n\n{\"a\": 1,}\n",
                "3: invalid JSON: key must be a string (column 9)",
            ),
            (
                b"{\"a\": 1}\n[1]\n",
                "2: the row is an array, not an object",
            ),
            (
                b"{\"a\": 1}\n{\"a\": 1} {\"a\": 2}\n",
                "2: invalid JSON: trailing characters",
            ),
            (
                b"{\"a\": 1}\n{\"b\": 1}\n",
                "2: the row has a column `b` that the first row has not",
            ),
            (b"{\"a\": 1}\n{\"a\": \xff}\n", "2: not valid UTF-8"),
        ];
        for (text, want) in cases {
            let e = error(Format::Jsonl, text);
            assert!(e.starts_with(want), "{want:?} is not the start of {e:?}");
        }
        let mut long = b"{\"a\": \"".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES));
        long.extend(b"\"}\n");
        assert!(error(Format::Jsonl, &long).starts_with("1: a line longer than 1 MiB"));
    }

    #[test]
    fn rows_past_the_limit_are_not_read() {
        let limits = Limits {
            rows: 2,
            values: 100,
        };
        // Past the limit, a CSV or JSONL file is not even read: its bad row goes unseen.
        for (format, text) in [
            (Format::Csv, &b"a,b\n1,2\n3,4\n5,6\nbad\n"[..]),
            (Format::Jsonl, b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\nbad\n"),
            (
                Format::Json,
                b"[{\"a\":1},{\"a\":2},{\"a\":3},{\"a\":null}]",
            ),
        ] {
            let rows = rows_of(format, text, limits).unwrap();
            assert!(rows.over, "{format:?}");
            assert_eq!(rows.len(), 2);
        }
        // A json file is still checked whole.
        let e = rows_of(Format::Json, b"[{\"a\":1},{\"a\":2},{\"a\":3},]", limits).unwrap_err();
        assert!(e.starts_with("1: invalid JSON: trailing comma"), "{e}");
        // A limit of 0 still reads the columns.
        let rows = rows_of(Format::Csv, b"a,b\n1,2\n", Limits { rows: 0, ..limits }).unwrap();
        assert_eq!((rows.columns.len(), rows.over), (2, true));
        // Rows times columns are bounded too.
        let e = rows_of(
            Format::Csv,
            b"a,b\n1,2\n3,4\n",
            Limits {
                rows: 10,
                values: 3,
            },
        )
        .unwrap_err();
        assert!(
            e.starts_with("3: 2 rows of 2 columns are more values than a plan keeps (3 in all)"),
            "{e}"
        );
    }

    #[test]
    fn lines_are_counted_on_from_the_last_asked() {
        let text = "a\nb\nc\nd";
        let mut lines = Lines::new(text);
        assert_eq!(lines.at(&text[4..]), 3);
        assert_eq!(lines.at(&text[6..]), 4);
        assert_eq!(lines.at(&text[2..]), 2);
        assert_eq!(lines.at(&text[0..]), 1);
    }
}
