//! Errors jobrun itself reports (never a unit's failure: that is an `Outcome`).
//!
//! Every user-facing problem with a location is a [`Diagnostic`], rendered the
//! way rustc and just do: message, `--> file:line:col`, the line, a caret and a
//! hint. Exit codes live in one table: [`Error::exit_code`].

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use crate::plan::value::{printable, push_escaped};

/// The source text a diagnostic points into.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: Arc<str>,
}

/// A message about user input, with an optional location and hint.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub message: String,
    pub source: Option<Source>,
    pub span: Option<Range<usize>>,
    /// Printed under the caret.
    pub label: Option<String>,
    /// Printed as `= help: ...` after the snippet.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            source: None,
            span: None,
            label: None,
            help: None,
        }
    }

    pub fn at(mut self, source: &Source, span: Range<usize>) -> Self {
        self.source = Some(source.clone());
        self.span = Some(span);
        self
    }

    pub fn in_file(mut self, source: &Source) -> Self {
        self.source = Some(source.clone());
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = text[line_start..offset].chars().count() + 1;
        (line, col)
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Manifest text is shown, never acted on: an ESC or a U+202E in a
        // key must not colour or reorder the terminal (see `must_escape`).
        write!(f, "error: {}", printable(&self.message))?;
        let label = self.label.as_deref().map(printable);
        match (&self.source, &self.span) {
            (Some(src), Some(span)) => {
                let text = &*src.text;
                let (line, col) = Diagnostic::line_col(text, span.start);
                let line_start = floor_char_boundary(text, span.start.min(text.len()));
                let line_start = text[..line_start].rfind('\n').map_or(0, |i| i + 1);
                let line_end = text[line_start..]
                    .find('\n')
                    .map_or(text.len(), |i| line_start + i);
                let line_text = text[line_start..line_end].trim_end_matches('\r');
                let caret_start = col - 1;
                let span_chars = {
                    let end = floor_char_boundary(text, span.end.min(line_end).max(span.start));
                    let start = floor_char_boundary(text, span.start.min(text.len()));
                    text[start..end].chars().count().max(1)
                };
                // Very long lines (minified or generated input) are cut to a
                // window around the caret so it stays readable. Escapes widen
                // the line: the caret line widens with it, and a tab stays a
                // tab in both.
                let skip = caret_start.saturating_sub(100);
                let mut shown = String::new();
                let mut indent = String::new();
                if skip > 0 {
                    shown.push_str("...");
                    indent.push_str("   ");
                }
                let mut carets = 0;
                for (k, c) in line_text.chars().enumerate().skip(skip).take(200) {
                    let before = shown.len();
                    if c == '\t' {
                        shown.push('\t');
                    } else {
                        push_escaped(&mut shown, c);
                    }
                    let width = shown[before..].chars().count();
                    if k < caret_start {
                        if c == '\t' {
                            indent.push('\t');
                        } else {
                            indent.extend(std::iter::repeat_n(' ', width));
                        }
                    } else if k < caret_start + span_chars {
                        carets += width;
                    }
                }
                let width = line.to_string().len();
                let pad = " ".repeat(width);
                let path = src.path.display().to_string();
                write!(f, "\n{pad}--> {}:{line}:{col}", printable(&path))?;
                write!(f, "\n{pad} |\n{line} | {shown}")?;
                write!(f, "\n{pad} | {indent}{}", "^".repeat(carets.max(1)))?;
                if let Some(label) = &label {
                    write!(f, " {label}")?;
                }
            }
            (Some(src), None) => {
                let path = src.path.display().to_string();
                write!(f, "\n --> {}", printable(&path))?;
                if let Some(label) = &label {
                    write!(f, "\n  = note: {label}")?;
                }
            }
            _ => {
                if let Some(label) = &label {
                    write!(f, "\n  = note: {label}")?;
                }
            }
        }
        if let Some(help) = &self.help {
            // Our hints may span lines (an example to paste); values in them may not.
            let help: Vec<_> = help.split('\n').map(printable).collect();
            write!(f, "\n  = help: {}", help.join("\n"))?;
        }
        Ok(())
    }
}

/// Everything that stops jobrun itself. Messages may quote the manifest
/// (a path in `state_dir`, an `--only` pattern): shown escaped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A manifest or plan problem: nothing ran.
    #[error("{0}")]
    Manifest(Box<Diagnostic>),
    /// Bad command-line usage: nothing ran.
    #[error("error: {}", printable(.0))]
    Usage(String),
    /// Independent problems, all reported (at most [`MAX_ERRORS`]).
    #[error("{}", several(.0))]
    Several(Vec<Error>),
    /// jobrun could not do its own I/O (state dir, report files, ...).
    #[error("error: {}: {source}", printable(.context))]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The process exit code for this error (see docs/exit-codes in README).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Manifest(_) | Error::Usage(_) => 2,
            Error::Several(all) => all.iter().map(Error::exit_code).max().unwrap_or(2),
            Error::Io { .. } => 3,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// The most errors gathered before planning stops: enough to fix a
/// manifest in one go, few enough to read.
pub const MAX_ERRORS: usize = 20;

fn several(all: &[Error]) -> String {
    let mut out: Vec<String> = all.iter().map(ToString::to_string).collect();
    out.push(if all.len() >= MAX_ERRORS {
        format!("error: {} errors (checking stopped there)", all.len())
    } else {
        format!("error: {} errors", all.len())
    });
    out.join("\n\n")
}

/// Independent errors, gathered so that one run reports them all, as rustc
/// and just do. A stage whose error makes later checks meaningless returns
/// at once instead.
#[derive(Debug, Default)]
pub struct Errors(Vec<Error>);

impl Errors {
    /// The value, or `None` with its error kept.
    pub fn take<T, E: Into<Error>>(&mut self, r: Result<T, E>) -> Option<T> {
        r.map_err(|e| self.push(e.into())).ok()
    }

    pub fn push(&mut self, e: Error) {
        match e {
            Error::Several(all) => all.into_iter().for_each(|e| self.push(e)),
            e if self.0.len() < MAX_ERRORS => self.0.push(e),
            _ => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Enough gathered: stop checking.
    pub fn is_full(&self) -> bool {
        self.0.len() >= MAX_ERRORS
    }

    /// `Ok` when there was none; one error as itself.
    pub fn finish(mut self) -> Result<(), Error> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(self.0.remove(0)),
            _ => Err(Error::Several(self.0)),
        }
    }
}

impl From<Diagnostic> for Error {
    fn from(d: Diagnostic) -> Self {
        Error::Manifest(Box::new(d))
    }
}

/// An I/O error as a message part: `no such file or directory`, without the
/// `(os error 2)` that means nothing to users.
pub fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" (os error ") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Suggest the closest candidate for a misspelt name, if any is close enough.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // Jaro-Winkler finds long near-misses; one edit (a swap counts as one)
    // finds the short ones it scores too low (`nte` for `net`, `ot` for `out`).
    // Both need two characters in common: a one-letter name is one edit from
    // every two-letter name, and `ab` is one edit from `cb`, so those
    // suggestions would be noise.
    let len = name.chars().count();
    candidates
        .into_iter()
        .filter(|&c| c != name)
        .map(|c| {
            let edits = strsim::osa_distance(name, c);
            let common = shared_chars(name, c);
            (strsim::jaro_winkler(name, c), edits, common, c)
        })
        .filter(|&(score, edits, common, _)| len >= 2 && common >= 2 && (score > 0.8 || edits <= 1))
        .map(|(score, edits, _, c)| (score, edits, c))
        .max_by(|a, b| b.1.cmp(&a.1).then(a.0.total_cmp(&b.0)))
        .map(|(_, _, c)| c)
}

/// How many characters two names have in common, counted with repeats.
fn shared_chars(a: &str, b: &str) -> usize {
    let mut rest: Vec<char> = b.chars().collect();
    a.chars()
        .filter(|c| {
            rest.iter()
                .position(|r| r == c)
                .map(|i| rest.swap_remove(i))
                .is_some()
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_span() {
        let src = Source {
            path: "jobs/x.toml".into(),
            text: "[job]\nworker = 8\n".into(),
        };
        let d = Diagnostic::new("unknown key `worker` in [job]")
            .at(&src, 6..12)
            .label("did you mean `workers`?");
        assert_eq!(
            d.to_string(),
            "error: unknown key `worker` in [job]\n --> jobs/x.toml:2:1\n  |\n2 | worker = 8\n  | ^^^^^^ did you mean `workers`?"
        );
    }

    #[test]
    fn escapes_keep_the_caret_in_place() {
        let src = Source {
            path: "j\u{1b}.toml".into(),
            text: "k = \"\u{202e}\" y\n".into(),
        };
        let d = Diagnostic::new("bad `\u{202e}`")
            .at(&src, 10..11)
            .label("here\u{0}")
            .help("one\ntwo \u{1b}");
        assert_eq!(
            d.to_string(),
            "error: bad `\\u{202e}`\n --> j\\u{1b}.toml:1:9\n  |\n1 | k = \"\\u{202e}\" y\n  |                ^ here\\0\n  = help: one\ntwo \\u{1b}"
        );
    }

    #[test]
    fn a_long_line_is_shown_around_the_caret() {
        let text = format!("{}x\n", "a".repeat(500));
        let src = Source {
            path: "j.toml".into(),
            text: text.into(),
        };
        let d = Diagnostic::new("m").at(&src, 500..501);
        let shown = d.to_string();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines[3], format!("1 | ...{}x", "a".repeat(100)));
        assert_eq!(lines[4], format!("  | {}^", " ".repeat(103)));
    }

    #[test]
    fn line_col_counts_chars() {
        assert_eq!(Diagnostic::line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(Diagnostic::line_col("", 5), (1, 1));
    }

    #[test]
    fn io_reasons_read_like_messages() {
        let e = std::io::Error::from_raw_os_error(2);
        assert_eq!(io_reason(&e), "no such file or directory");
        let e = std::io::Error::other("Weird");
        assert_eq!(io_reason(&e), "weird");
    }

    #[test]
    fn several_errors_are_all_shown_and_counted() {
        let mut errors = Errors::default();
        assert_eq!(errors.take(Ok::<_, Error>(1)), Some(1));
        assert!(errors.is_empty());
        errors.take::<(), _>(Err(Diagnostic::new("one")));
        errors.push(Error::Several(vec![
            Error::Usage("two".into()),
            Diagnostic::new("three").into(),
        ]));
        let e = errors.finish().unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert_eq!(
            e.to_string(),
            "error: one\n\nerror: two\n\nerror: three\n\nerror: 3 errors"
        );
        let mut errors = Errors::default();
        for i in 0..30 {
            errors.push(Diagnostic::new(format!("e{i}")).into());
        }
        assert!(errors.is_full());
        let shown = errors.finish().unwrap_err().to_string();
        assert!(
            shown.ends_with("error: 20 errors (checking stopped there)"),
            "{shown}"
        );
        assert!(shown.contains("e19") && !shown.contains("e20"));
        let mut one = Errors::default();
        one.push(Error::Usage("only".into()));
        assert_eq!(one.finish().unwrap_err().to_string(), "error: only");
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("worker", ["workers", "name"]), Some("workers"));
        assert_eq!(did_you_mean("zzz", ["workers", "name"]), None);
        assert_eq!(did_you_mean("nte", ["cpu", "net"]), Some("net"));
        assert_eq!(did_you_mean("ot", ["src", "out"]), Some("out"));
        assert_eq!(did_you_mean("a", ["b"]), None);
        // Short names: close ones are suggested, nonsense is not.
        let vars = ["out", "src", "id", "os", "x"];
        let cases = [
            ("ot", Some("out")),
            ("ou", Some("out")),
            ("sr", Some("src")),
            ("OS", None),
            ("so", Some("os")),
            ("d", None),
            ("i", None),
            ("o", None),
            ("X", None),
            ("ab", None),
            ("xy", None),
            ("is", None),
        ];
        for (name, want) in cases {
            assert_eq!(did_you_mean(name, vars), want, "{name}");
        }
    }
}
