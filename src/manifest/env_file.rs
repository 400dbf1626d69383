//! `env_file`: files of `KEY=VALUE` lines added to units' environments
//! (go-task's `dotenv`, just's `dotenv-load`).
//!
//! The values are secrets: nothing here (nor any error) ever holds a value
//! in a message; errors name the file and the line only.
//!
//! A small parser of our own rather than `dotenvy`: dotenvy expands `$VAR`
//! in values, so `pa$$word` would change, and its errors quote the line.

use schemars::JsonSchema;
use serde::Deserialize;

/// `".env"` or `{ path = ".env.local", optional = true }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    /// Relative to the manifest's folder.
    pub path: String,
    /// A missing file is skipped instead of an error.
    pub optional: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Repr {
    Path(String),
    Table(Table),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    path: String,
    #[serde(default)]
    optional: bool,
}

impl<'de> Deserialize<'de> for EnvFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Repr::deserialize(d) {
            Ok(Repr::Path(path)) => Ok(EnvFile {
                path,
                optional: false,
            }),
            Ok(Repr::Table(t)) => Ok(EnvFile {
                path: t.path,
                optional: t.optional,
            }),
            Err(_) => Err(serde::de::Error::custom(
                "an env file is a path like \".env\" or a table like \
                 { path = \".env.local\", optional = true }",
            )),
        }
    }
}

/// Schema-only: an entry of `env_file`.
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)]
pub enum EnvFileSchema {
    /// A file that must exist, relative to the manifest's folder.
    Path(String),
    Table(EnvFileTableSchema),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct EnvFileTableSchema {
    /// Relative to the manifest's folder.
    path: String,
    /// A missing file is skipped instead of an error (default false).
    #[serde(default)]
    optional: bool,
}

/// A problem on a line of an env file (1-based); the message never quotes it.
#[derive(Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: &'static str,
}

/// The `KEY=VALUE` pairs of an env file's text, in order (a repeated key:
/// the last wins when they are applied).
///
/// `export KEY=...` is accepted; `#` starts a comment at the start of a line
/// or after whitespace in an unquoted value; unquoted values are trimmed;
/// `'...'` is literal; `"..."` knows `\n`, `\t`, `\r`, `\"` and `\\` (any other
/// backslash stays). Quoted values may span lines. Nothing is expanded.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, LineError> {
    let mut pairs = Vec::new();
    let mut rest = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut line = 1;
    while !rest.is_empty() {
        let (current, after) = rest.split_once('\n').unwrap_or((rest, ""));
        let start_line = line;
        let trimmed = current.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            rest = after;
            line += 1;
            continue;
        }
        let err = |message| LineError {
            line: start_line,
            message,
        };
        let body = current.trim_start();
        let body = match body.strip_prefix("export") {
            Some(r) if r.starts_with([' ', '\t']) => r.trim_start(),
            _ => body,
        };
        let Some((key, value)) = body.split_once('=') else {
            return Err(err("expected `KEY=VALUE`"));
        };
        let key = key.trim_end();
        let mut chars = key.chars();
        let good_key = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !good_key {
            return Err(err(
                "invalid name before `=`: use letters, digits, `_` and `.`, not starting with a digit",
            ));
        }
        // The value starts in this line and may run on past it when quoted:
        // from here on work on the rest of the file.
        let offset = current.len() - value.len();
        let from_value = rest[offset..].trim_start_matches([' ', '\t']);
        let (value, tail) = match from_value.chars().next() {
            Some(q @ ('\'' | '"')) => {
                let (v, used) = quoted(&from_value[1..], q).ok_or(err("unclosed quote"))?;
                line += from_value[..1 + used].matches('\n').count();
                (v, &from_value[1 + used..])
            }
            _ => {
                let (v, tail) = from_value.split_once('\n').unwrap_or((from_value, ""));
                let v = match comment_start(v) {
                    Some(i) => &v[..i],
                    None => v,
                };
                pairs.push((key.to_owned(), v.trim().to_owned()));
                rest = tail;
                line += 1;
                continue;
            }
        };
        // After a closing quote: only whitespace and a comment.
        let (end, after) = tail.split_once('\n').unwrap_or((tail, ""));
        let end = end.trim();
        if !(end.is_empty() || end.starts_with('#')) {
            return Err(LineError {
                line,
                message: "text after the closing quote",
            });
        }
        pairs.push((key.to_owned(), value));
        rest = after;
        line += 1;
    }
    Ok(pairs)
}

/// Where a ` #comment` starts in an unquoted value.
fn comment_start(v: &str) -> Option<usize> {
    v.char_indices()
        .find(|&(i, c)| c == '#' && i > 0 && v[..i].ends_with([' ', '\t']))
        .map(|(i, _)| i)
}

/// The value up to the closing `quote`, and the bytes used including it.
fn quoted(text: &str, quote: char) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Some((out, i + 1)),
            '\\' if quote == '"' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, e @ ('"' | '\\'))) => out.push(e),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return None,
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap_or_else(|e| panic!("{e:?} for {text:?}"))
    }

    #[test]
    fn lines() {
        let text = concat!(
            "# a comment\n",
            "\n",
            "A=1\n",
            "  export B = two words  \n",
            "C='lit $X \\n # not a comment'\n",
            "D=\"q \\\"x\\\" \\\\ \\n \\t \\$ end\" # comment\n",
            "E=value # comment\n",
            "F=a#b\n",
            "G=\n",
            "H=\"multi\n",
            "line\"\n",
            "export=3\n",
            "I='' \r\n",
            "J=pa$$word\r\n",
        );
        let want = [
            ("A", "1"),
            ("B", "two words"),
            ("C", "lit $X \\n # not a comment"),
            ("D", "q \"x\" \\ \n \t \\$ end"),
            ("E", "value"),
            ("F", "a#b"),
            ("G", ""),
            ("H", "multi\nline"),
            ("export", "3"),
            ("I", ""),
            ("J", "pa$$word"),
        ];
        let got = pairs(text);
        let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn bad_lines_name_their_line() {
        let cases = [
            ("A=1\nnot a pair\n", 2, "expected `KEY=VALUE`"),
            ("A=1\n\n1X=2\n", 3, "invalid name"),
            ("=2\n", 1, "invalid name"),
            ("A B=2\n", 1, "invalid name"),
            ("A=\"open\nB=2\n", 1, "unclosed quote"),
            ("A='x' y\n", 1, "text after the closing quote"),
            ("A=\"x\ny\" z\n", 2, "text after the closing quote"),
            ("A=\"x\\", 1, "unclosed quote"),
        ];
        for (text, line, message) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}");
            assert!(e.message.starts_with(message), "{text:?}: {}", e.message);
        }
        // Line numbers count past multi-line values.
        let e = parse("A=\"x\ny\"\nB\n").unwrap_err();
        assert_eq!(e.line, 3);
    }

    #[test]
    fn entries() {
        #[derive(Deserialize)]
        struct T {
            env_file: Vec<EnvFile>,
        }
        let t: T =
            toml::from_str(r#"env_file = [".env", { path = ".env.local", optional = true }]"#)
                .unwrap();
        assert_eq!(
            t.env_file,
            [
                EnvFile {
                    path: ".env".into(),
                    optional: false
                },
                EnvFile {
                    path: ".env.local".into(),
                    optional: true
                }
            ]
        );
        assert!(toml::from_str::<T>(r#"env_file = [{ path = "a", opt = true }]"#).is_err());
        assert!(toml::from_str::<T>("env_file = [1]").is_err());
    }
}
