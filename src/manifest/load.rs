//! Reading a manifest file into the model, with located errors.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Diagnostic, Error, Source, did_you_mean, io_reason};
use crate::regular::{self, OpenError};

use super::Manifest;

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
        if raw.contains("expected a sequence") && at.trim_start().starts_with("[task]") {
            d = d.help("a task is written `[[task]]`, with double brackets: one table per task");
        }
        if key.as_deref() == Some("run") && raw.contains("invalid type: string") {
            d = d.help(
                "`run` is an argv array, like [\"echo\", \"hi\"]; for a command line, use `shell = \"...\"`",
            );
        }
        d
    };
    diag = match span {
        Some(span) => diag.at(source, span),
        None => diag.in_file(source),
    };
    diag
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

/// The bare key on the line of `offset`, as in `key = value`.
fn key_before(text: &str, offset: usize) -> Option<String> {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let line_start = text[..end].rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = text[line_start..end].split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && !key.starts_with('[')).then(|| key.to_owned())
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

    #[test]
    fn syntax_error_is_located() {
        let e = err("[job\n");
        assert!(e.contains("m.toml:1:"), "{e}");
    }
}
