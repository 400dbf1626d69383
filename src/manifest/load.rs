//! Reading a manifest file into the model, with located errors.

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Diagnostic, Error, Source, did_you_mean, io_reason};
use crate::plan::value::printable;
use crate::regular::{self, OpenError};

use super::Manifest;
use super::wording::{self, Place};

/// A parsed manifest and the source it came from (for later diagnostics).
#[derive(Debug)]
pub struct Loaded {
    pub manifest: Manifest,
    pub source: Source,
}

/// Manifests past this size are refused: no job file needs more, and a
/// mistaken path (a disk image, `/dev/zero`) must not be read whole.
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// Read and parse the manifest at `path`.
pub fn load(path: &Path) -> Result<Loaded, Error> {
    let bytes = read_bounded(path)?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            let source = Source {
                path: path.to_path_buf(),
                text: lossy.into(),
            };
            // Point at the first bad byte; in the lossy text it starts at the same offset.
            return Err(Diagnostic::new("the manifest is not valid UTF-8")
                .at(&source, offset..offset + 1)
                .label("invalid byte here")
                .help("TOML files must be UTF-8; re-save the file as UTF-8")
                .into());
        }
    };
    parse(path.to_path_buf(), text)
}

/// The bytes of a regular file of at most `MAX_MANIFEST_BYTES`.
fn read_bounded(path: &Path) -> Result<Vec<u8>, Error> {
    let refuse = |what: String, hint: &str| {
        Error::from(
            Diagnostic::new(format!("cannot read manifest `{}`: {what}", path.display()))
                .help(hint),
        )
    };
    let cannot = |e: std::io::Error| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            "check the path; job files usually live in `jobs/`"
        } else {
            "check that the file is readable"
        };
        refuse(io_reason(&e), hint)
    };
    let (file, meta) = match regular::open(path) {
        Ok(r) => r,
        Err(OpenError::Io(e)) => return Err(cannot(e)),
        Err(OpenError::NotRegular(kind)) => {
            return Err(refuse(
                format!("it is {kind}, not a regular file"),
                "a job file must be a regular file (its folder is the job dir); save it to one first",
            ));
        }
    };
    let too_big = || {
        refuse(
            format!("it is larger than {} MiB", MAX_MANIFEST_BYTES >> 20),
            "job files are small; generate the values into a `lines` file instead",
        )
    };
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Bounded even if the file grows while it is read.
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

/// Parse manifest text; `path` is only used in messages.
pub fn parse(path: PathBuf, text: String) -> Result<Loaded, Error> {
    let source = Source {
        path,
        text: Arc::from(text),
    };
    match toml::from_str::<Manifest>(&source.text) {
        Ok(manifest) => Ok(Loaded { manifest, source }),
        Err(e) => Err(toml_error(&source, &e).into()),
    }
}

fn toml_error(source: &Source, e: &toml::de::Error) -> Diagnostic {
    let raw = e.message().trim();
    let span = e.span();
    let table = span.as_ref().map(|s| {
        let header = enclosing_table(&source.text, s.start);
        // `job = { worker = 1 }` or `job.worker = 1`: the table is on the line.
        match inline_table(&source.text, s.start) {
            Some(t) if header == "the top level" => format!("[{t}]"),
            Some(t) => format!("`{t}` of {header}"),
            None => header,
        }
    });
    let mut diag = if let Some((field, expected)) = parse_unknown_field(raw) {
        let place = table.map(|t| format!(" in {t}")).unwrap_or_default();
        let mut d = Diagnostic::new(format!("unknown key `{field}`{place}"));
        match did_you_mean(&field, expected.iter().map(String::as_str)) {
            Some(s) => d = d.label(format!("did you mean `{s}`?")),
            None => d = d.label("unknown key"),
        }
        if !expected.is_empty() {
            let list = expected
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            d = d.help(format!("valid keys here: {list}"));
        }
        d
    } else if let Some(field) = raw
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        let place = table.map(|t| format!(" in {t}")).unwrap_or_default();
        Diagnostic::new(format!("missing required key `{field}`{place}"))
            .label(format!("add `{field} = ...` here"))
    } else if let Some(rest) = raw.strip_prefix("unknown variant `") {
        let (value, expected) = rest.split_once("`, expected ").unwrap_or((rest, ""));
        let value = value.trim_end_matches('`');
        let choices: Vec<&str> = expected
            .split(['`', ',', ' '])
            .filter(|s| !s.is_empty() && *s != "or" && *s != "one" && *s != "of")
            .collect();
        let key = span
            .as_ref()
            .and_then(|s| key_before(&source.text, s.start));
        let mut d = Diagnostic::new(match key {
            Some(k) => format!("invalid value `{value}` for `{k}`"),
            None => format!("invalid value `{value}`"),
        });
        d = match did_you_mean(value, choices.iter().copied()) {
            Some(s) => d.label(format!("did you mean `{s}`?")),
            None => d.label("not a valid choice"),
        };
        d.help(format!("expected {}", expected.trim()))
    } else if let Some(w) = span.as_ref().and_then(|s| {
        let header = enclosing_table(&source.text, s.start);
        let key = key_at(&source.text, s.start);
        let place = Place {
            text: &source.text,
            span: s.clone(),
            header: &header,
            key: key.as_deref(),
        };
        wording::type_error(raw, &place)
    }) {
        let mut d = Diagnostic::new(w.message);
        if let Some(l) = w.label {
            d = d.label(l);
        }
        if let Some(h) = w.help {
            d = d.help(h);
        }
        d
    } else {
        let message = humanize(raw);
        let key = span
            .as_ref()
            .and_then(|s| key_before(&source.text, s.start));
        let mut d = Diagnostic::new(match &key {
            // Our own value types say `invalid workers `0`: why`; name the key once.
            Some(k) => match own_invalid(&message) {
                Some((value, why)) => format!("invalid value `{value}` for `{k}`: {why}"),
                None if message.contains(&format!("`{k}`")) => message,
                None => format!("invalid value for `{k}`: {message}"),
            },
            None => message,
        });
        let at = span
            .as_ref()
            .and_then(|s| source.text.get(s.clone()))
            .unwrap_or("");
        if raw == "duplicate key" && !at.is_empty() {
            d = Diagnostic::new(format!("duplicate key `{}`", at.trim_matches('"')))
                .help("a key may be set once per table: remove or merge one of them");
        }
        if raw.contains("cannot recurse further") {
            d = Diagnostic::new("the value is nested too deeply for a manifest");
        }
        d
    };
    // TOML allows no raw control character (but tab) anywhere.
    let control = span
        .as_ref()
        .and_then(|s| source.text.get(s.start..)?.chars().next())
        .filter(|c| c.is_control() && *c != '\t' && *c != '\n');
    if let Some(c) = control {
        diag = Diagnostic::new(format!(
            "a raw control character `{}` cannot be in a manifest",
            printable(&c.to_string())
        ))
        .label("control character")
        .help(format!(
            "in a string, write it as an escape: `\\u{:04x}`",
            c as u32
        ));
    }
    // The parser's limit on dotted key parts comes without a location.
    let span = match span {
        None if raw == "recursion limit" => {
            diag = Diagnostic::new("the key has too many dotted parts for a manifest")
                .label("too many parts")
                .help("a manifest needs a few levels at most, like `matrix.size` or `env.LANG`");
            longest_dotted_key(&source.text)
        }
        s => s,
    };
    diag = match span {
        Some(span) => diag.at(source, span),
        None => diag.in_file(source),
    };
    diag
}

/// The span of the key with the most dotted parts (`a.b.c`, in a header, a
/// key line or an inline table), strings, values and comments aside.
fn longest_dotted_key(text: &str) -> Option<Range<usize>> {
    let mut best: Option<(usize, Range<usize>)> = None;
    // (start, dots) of the dotted key being read, if any.
    let mut chain: Option<(usize, usize)> = None;
    let mut last_part_end = 0;
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    let mut comment = false;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if comment {
            comment = b != b'\n';
            continue;
        }
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' && q == b'"' {
                escaped = true;
            } else if b == q {
                quote = None;
                last_part_end = i + 1;
            }
            continue;
        }
        match b {
            b'"' | b'\'' => {
                quote = Some(b);
                chain.get_or_insert((i, 0));
            }
            b'.' => {
                if let Some((_, dots)) = chain.as_mut() {
                    *dots += 1;
                }
            }
            b' ' | b'\t' => {}
            b'#' => comment = true,
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => {
                chain.get_or_insert((i, 0));
                last_part_end = i + 1;
            }
            _ => {
                if let Some((start, dots)) = chain.take()
                    && best.as_ref().is_none_or(|(d, _)| dots > *d)
                {
                    best = Some((dots, start..last_part_end.max(start + 1)));
                }
            }
        }
    }
    if let Some((start, dots)) = chain
        && best.as_ref().is_none_or(|(d, _)| dots > *d)
    {
        best = Some((dots, start..last_part_end.max(start + 1)));
    }
    best.map(|(_, span)| span)
}

/// `unknown field `x`, expected one of `a`, `b`` -> ("x", ["a", "b"]).
fn parse_unknown_field(msg: &str) -> Option<(String, Vec<String>)> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    Some((field.to_owned(), expected))
}

/// Rust type names mean nothing to users.
fn humanize(msg: &str) -> String {
    let mut m = msg.to_owned();
    for (from, to) in [
        ("expected u32", "expected a non-negative integer"),
        ("expected i32", "expected an integer"),
        ("expected i64", "expected an integer"),
        ("expected usize", "expected a non-negative integer"),
        ("expected a boolean", "expected `true` or `false`"),
        ("a sequence", "an array"),
        ("expected a map", "expected a table"),
        ("invalid type: map", "invalid type: table"),
        ("invalid type: sequence", "invalid type: array"),
    ] {
        m = m.replace(from, to);
    }
    m
}

/// `invalid NOUN `VALUE`: WHY` -> (VALUE, WHY).
fn own_invalid(msg: &str) -> Option<(&str, &str)> {
    let rest = msg.strip_prefix("invalid ")?;
    let (noun, rest) = rest.split_once(" `")?;
    if noun.contains(' ') {
        return None;
    }
    let (value, why) = rest.split_once("`: ")?;
    Some((value, why))
}

/// The `[table]` or `[[table]]` header at or above `offset`'s line, if any.
fn enclosing_table(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let mut end = offset;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // The line of `offset` counts: an error may point at the header itself.
    let end = text[end..].find('\n').map_or(text.len(), |i| end + i);
    for line in text[..end].lines().rev() {
        let t = line.trim_start();
        if t.starts_with('[') {
            let header = t.split('#').next().unwrap_or(t).trim_end();
            return header.to_owned();
        }
    }
    "the top level".to_owned()
}

/// The table a key at `offset` sits in on its own line: `a` in `a = { k = 1 }`
/// and in `a.k = 1` (dotted keys name their table before the last dot).
fn inline_table(text: &str, offset: usize) -> Option<String> {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let line_start = text[..end].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..end];
    if let Some((key, rest)) = before.split_once('=')
        && rest.trim_start().starts_with('{')
    {
        let key = key.trim().trim_matches('"');
        return (!key.is_empty() && !key.starts_with('[')).then(|| key.to_owned());
    }
    let dotted = before.trim_start().strip_suffix('.')?;
    (!dotted.is_empty() && !dotted.contains(['=', '['])).then(|| dotted.to_owned())
}

/// The key whose value holds `offset`: on its line, or on a line above for
/// a value that spans lines (a multi-line array).
fn key_at(text: &str, offset: usize) -> Option<String> {
    if let Some(k) = key_before(text, offset) {
        return Some(k);
    }
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // In the key itself: a part of a dotted key.
    let start = text[..end].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[start..];
    if let Some((key, _)) = line.split('\n').next().and_then(|l| l.split_once('=')) {
        let key = key.trim();
        if !key.is_empty() && !key.starts_with('[') {
            return Some(key.to_owned());
        }
    }
    let mut line_end = text[..end].rfind('\n')?;
    loop {
        let line_start = text[..line_end].rfind('\n').map_or(0, |i| i + 1);
        let line = &text[line_start..line_end];
        if line.trim_start().starts_with('[') {
            return None;
        }
        if let Some(eq) = line.find('=')
            && !line.trim_start().starts_with('#')
        {
            // Inside that key's value only if a bracket it opened is still open.
            return (depth(&text[line_start + eq..end]) > 0)
                .then(|| key_before(text, line_start + eq + 1))
                .flatten();
        }
        line_end = line_start.checked_sub(1)?;
    }
}

/// Brackets and braces opened and not closed in `s`, strings and comments aside.
fn depth(s: &str) -> i64 {
    let mut d = 0;
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut escaped = false;
    for c in s.chars() {
        match (quote, c) {
            _ if comment => comment = c != '\n',
            (Some('"'), '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (Some(q), c) if c == q && !escaped => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => comment = true,
            (None, '[' | '{') => d += 1,
            (None, ']' | '}') => d -= 1,
            _ => {}
        }
        escaped = false;
    }
    d
}

/// The key on the line of `offset` whose value holds it, as in `key = value`;
/// inside an inline table, with the keys that open it: `job.workers` in
/// `job = { workers = "x" }`.
fn key_before(text: &str, offset: usize) -> Option<String> {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let line_start = text[..end].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..end];
    // The tables and arrays open at `offset` (with the key each belongs
    // to), and the key whose value is being read.
    enum Open {
        Table(Option<String>),
        Array(Option<String>),
    }
    let mut open: Vec<Open> = Vec::new();
    let mut current: Option<String> = None;
    let mut token_start = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in before.char_indices() {
        if let Some(q) = quote {
            match c {
                '\\' if q == '"' && !escaped => {
                    escaped = true;
                    continue;
                }
                c if c == q && !escaped => quote = None,
                _ => {}
            }
            escaped = false;
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '#' => break,
            '=' if current.is_none() => {
                current = Some(before[token_start..i].trim().replace('"', ""));
            }
            '{' => {
                open.push(Open::Table(current.take()));
                token_start = i + 1;
            }
            '[' if current.is_some() || matches!(open.last(), Some(Open::Array(_))) => {
                open.push(Open::Array(current.clone()));
            }
            ']' => {
                if let Some(Open::Array(k)) = open.pop() {
                    current = k;
                }
            }
            '}' | ',' => {
                if c == '}' {
                    open.pop();
                }
                // In an array the next value belongs to the same key; in a
                // table a new key comes.
                current = match open.last() {
                    Some(Open::Array(k)) => k.clone(),
                    _ => None,
                };
                token_start = i + 1;
            }
            _ => {}
        }
    }
    let mut path: Vec<String> = open
        .into_iter()
        .filter_map(|o| match o {
            Open::Table(k) => k,
            Open::Array(_) => None,
        })
        .collect();
    path.extend(current);
    let key = path.join(".");
    (!key.is_empty() && !key.starts_with('[')).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse("m.toml".into(), text.to_owned()) {
            Ok(_) => panic!("expected an error for {text:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unknown_key_suggests() {
        let e = err("[job]\nworker = 8\n");
        assert!(e.contains("unknown key `worker` in [job]"), "{e}");
        assert!(e.contains("m.toml:2:1"), "{e}");
        assert!(e.contains("did you mean `workers`?"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = err("[job]\nretries = \"two\"\n");
        assert!(e.contains("`retries`"), "{e}");
        assert!(e.contains("m.toml:2:11"), "{e}");
    }

    #[test]
    fn bad_choice_suggests() {
        let e = err("[job]\non_failure = \"abrot\"\n");
        assert!(e.contains("did you mean `abort`?"), "{e}");
    }

    #[test]
    fn inline_and_dotted_tables_are_named() {
        let e = err("job = { worker = 1 }\n");
        assert!(e.contains("unknown key `worker` in [job]"), "{e}");
        let e = err("job.worker = 1\n");
        assert!(e.contains("unknown key `worker` in [job]"), "{e}");
    }

    #[test]
    fn single_bracket_task_and_duplicate_keys_get_hints() {
        let e = err("[task]\nname = \"t\"\nrun = [\"true\"]\n");
        assert!(e.contains("`[[task]]`, with double brackets"), "{e}");
        let e = err("[job]\nworkers = 1\nworkers = 2\n");
        assert!(e.contains("duplicate key `workers`"), "{e}");
    }

    /// A wrong type for every key, in every table: no Rust or serde words.
    #[test]
    fn type_errors_speak_the_manifest_s_words() {
        const T: &str = "[[task]]\nname = \"t\"\nrun = [\"true\"]\n";
        let job = [
            "name = 1",
            "workers = true",
            "workers = 1.5",
            "on_failure = 1",
            "max_failures = true",
            "retries = \"x\"",
            "retries = -1",
            "retries = 99999999999999999999",
            "retry_delay = [1]",
            "timeout = true",
            "kill_grace = {}",
            "shell = \"sh\"",
            "shell = [1]",
            "dir = 1",
            "env = [\"a\"]",
            "env = { A = 1 }",
            "env.k.k = \"1\"",
            "output = false",
            "keep_order = \"yes\"",
            "keep_failed_outputs = 0",
            "state_dir = 1979-05-27",
        ];
        let task = [
            "retries = 1.5",
            "timeout = 5.5",
            "env = { A = [1] }",
            "env.A.B = \"x\"",
            "dir = []",
            "allow_failure = \"no\"",
            "allow_failure = 1",
            "keep_failed_outputs = 1",
            "ok_codes = \"0\"",
            "ok_codes = [\"0\"]",
            "ok_codes = [99999999999999999999]",
            "needs = \"a\"",
            "needs = [1]",
            "inputs = 1",
            "outputs = { a = 1 }",
            "include = { a = 1 }",
            "exclude = [\"a\"]",
            "matrix.n = { range = [0, 99999999999999999999] }",
        ];
        let mut texts: Vec<String> = Vec::new();
        texts.extend(job.iter().map(|l| format!("[job]\n{l}\n{T}")));
        texts.extend(task.iter().map(|l| format!("{T}{l}\n")));
        texts.extend(
            [
                "[[job]]\n",
                "[[vars]]\n",
                "vars = 1\n",
                "job = 1\n",
                "task = \"x\"\n",
                "job = { workers = 1, retries = \"x\" }\n",
            ]
            .iter()
            .map(|h| format!("{h}{T}")),
        );
        texts.push("[[task]]\nname = 5\nrun = [\"true\"]\n".into());
        texts.push("[[task]]\nname = \"t\"\nrun = \"echo\"\n".into());
        texts.push("[[task]]\nname = \"t\"\nrun = [\n  \"echo\",\n  1,\n]\n".into());
        texts.push("[[task]]\nname = \"t\"\nshell = [\"a\"]\n".into());
        for text in texts {
            let e = err(&text);
            for word in [
                "invalid type",
                "invalid value:",
                "expected a sequence",
                "sequence",
                "i128",
                "u32",
                "u64",
                "i32",
                "map",
                "struct",
                "wanted",
                "any valid TOML value",
            ] {
                assert!(!e.contains(word), "{word:?} in the error for\n{text}\n{e}");
            }
            assert!(e.contains("m.toml:"), "not located:\n{text}\n{e}");
        }
    }

    #[test]
    fn keys_inside_inline_tables_and_arrays() {
        let key = |line: &str, at: &str| key_before(line, line.find(at).expect("at"));
        assert_eq!(key("retries = 1", "1").as_deref(), Some("retries"));
        assert_eq!(
            key("job = { workers = 1, retries = \"x\" }", "\"x").as_deref(),
            Some("job.retries")
        );
        assert_eq!(key("run = [\"a, b\", 1]", "1").as_deref(), Some("run"));
        assert_eq!(
            key("include = [{ a = 1 }, { b = [2] }]", "2").as_deref(),
            Some("include.b")
        );
        assert_eq!(key("env.k.k = \"1\"", "k.k"), None);
    }

    #[test]
    fn too_many_dotted_parts_are_located() {
        let key = format!("a{}", ".a".repeat(99));
        let e = err(&format!("# a.b.c\nx = 1.5\n{key} = 1\n"));
        assert!(e.contains("too many dotted parts"), "{e}");
        assert!(e.contains("m.toml:3:1"), "{e}");
        let e = err(&format!("[{key}]\n"));
        assert!(e.contains("m.toml:1:2"), "{e}");
    }

    #[test]
    fn syntax_error_is_located() {
        let e = err("[job\n");
        assert!(e.contains("m.toml:1:"), "{e}");
    }
}
