//! Quoting a value for the place it takes in a `shell` string.
//!
//! Each placeholder of a `shell` template carries a [`Quoting`], found once
//! at parse time by [`super::shell_context`]. Rendering then only appends the
//! value quoted for that context, so a unit's command costs no more to build
//! than before. Invariant: in every context, a POSIX shell reads the rendered
//! text back as exactly the value's bytes (NUL bytes, which no process can
//! receive, are dropped), and the value is never code.

use std::borrow::Cow;

use super::value::display_bytes;

/// Where the literal text around a placeholder puts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Context {
    /// Shell code, including the inside of `$( )`.
    #[default]
    Unquoted,
    /// Inside `"..."`.
    DoubleQuoted,
    /// Inside `'...'`.
    SingleQuoted,
    /// After `#` up to the end of the line: inert, as long as it holds no newline.
    Comment,
    /// Inside `$((...))` or `((...))`, where the shell evaluates the text:
    /// the planner lets only integers ([`is_integer`]) through.
    Arithmetic,
}

/// How a placeholder's value is quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quoting {
    pub context: Context,
    /// Inside `` `...` ``: the shell removes one level of backslashes before it
    /// parses the inside, so the quoted text gets one level added.
    pub in_backticks: bool,
}

impl Quoting {
    /// Append `v`, quoted for this context, to `out`.
    pub fn quote_into(self, v: &[u8], out: &mut Vec<u8>) {
        if !self.in_backticks {
            return self.context.quote_into(v, out);
        }
        let mut q = Vec::with_capacity(v.len() + 2);
        self.context.quote_into(v, &mut q);
        for b in q {
            if matches!(b, b'\\' | b'`' | b'$') {
                out.push(b'\\');
            }
            out.push(b);
        }
    }
}

impl Context {
    fn quote_into(self, v: &[u8], out: &mut Vec<u8>) {
        match self {
            Context::Unquoted => out.extend_from_slice(&shell_quote(v)),
            Context::DoubleQuoted => double_quoted(v, out),
            Context::SingleQuoted => single_quoted(v, out),
            // Escaped to one printable line, so it cannot end the comment; and
            // quoted as a word, so it stays data even where a shell would not
            // see a comment.
            Context::Comment => out.extend_from_slice(&shell_quote(display_bytes(v).as_bytes())),
            // In parentheses, so `5-{i}` with `-3` is `5-(-3)` and `1{i}` a
            // syntax error, not `1-3`. Only `{worker}` in plan output is not
            // an integer here; whatever else came through stays inert.
            Context::Arithmetic => {
                out.push(b'(');
                if is_integer(v) {
                    out.extend_from_slice(v);
                } else {
                    out.extend(
                        v.iter().copied().filter(|&b| {
                            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'{' | b'}')
                        }),
                    );
                }
                out.push(b')');
            }
        }
    }
}

/// A decimal integer as every shell reads it: an optional `-`, no leading
/// zero (bash and dash read `010` as octal), within 64 bits.
pub fn is_integer(v: &[u8]) -> bool {
    let digits = v.strip_prefix(b"-").unwrap_or(v);
    !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && (digits == b"0" || digits[0] != b'0')
        && std::str::from_utf8(v).is_ok_and(|s| s.parse::<i64>().is_ok())
}

/// POSIX-shell-quote a value so it is one word and never code, for an
/// unquoted context.
pub fn shell_quote(v: &[u8]) -> Vec<u8> {
    match shlex::bytes::try_quote(v) {
        // A bare word that the shell would take for a reserved word (`done`,
        // `if`, ...) where a command starts.
        Ok(Cow::Borrowed(w)) if RESERVED.contains(&w) => {
            let mut out = Vec::with_capacity(w.len() + 2);
            out.push(b'\'');
            out.extend_from_slice(w);
            out.push(b'\'');
            out
        }
        Ok(q) => q.into_owned(),
        // A NUL byte cannot be passed to a process at all; single quotes
        // still keep the rest from being code.
        Err(_) => {
            let mut out = vec![b'\''];
            single_quoted(v, &mut out);
            out.push(b'\'');
            out
        }
    }
}

/// Reserved words of sh, bash, ksh and zsh that shlex leaves bare.
const RESERVED: [&[u8]; 20] = [
    b"case",
    b"do",
    b"done",
    b"elif",
    b"else",
    b"esac",
    b"fi",
    b"for",
    b"if",
    b"in",
    b"then",
    b"until",
    b"while",
    b"function",
    b"select",
    b"time",
    b"coproc",
    b"foreach",
    b"end",
    b"repeat",
];

/// Inside `'...'` only `'` is special: it becomes `'\''` (close, an escaped
/// quote, reopen).
fn single_quoted(v: &[u8], out: &mut Vec<u8>) {
    for &b in v {
        match b {
            0 => {}
            b'\'' => out.extend_from_slice(b"'\\''"),
            b => out.push(b),
        }
    }
}

/// Inside `"..."`: printable ASCII other than `$`, `` ` ``, `"`, `\` and `!`
/// as is; any other run closes the double quotes and sits in single quotes
/// (`"a"'$b'"c"`, still one word). Single quotes rather than backslashes:
/// nothing in them is special, even to an interactive bash's `!`, and no
/// byte of the value can pair with a backslash in a multibyte locale.
fn double_quoted(v: &[u8], out: &mut Vec<u8>) {
    let plain =
        |b: u8| (b' '..=b'~').contains(&b) && !matches!(b, b'$' | b'`' | b'"' | b'\\' | b'!');
    let mut rest = v;
    while let Some(&first) = rest.first() {
        let n = rest
            .iter()
            .position(|&b| plain(b) != plain(first))
            .unwrap_or(rest.len());
        let (run, tail) = rest.split_at(n);
        if plain(first) {
            out.extend_from_slice(run);
        } else {
            // A `'` is plain, so the run holds none.
            out.extend_from_slice(b"\"'");
            out.extend(run.iter().copied().filter(|&b| b != 0));
            out.extend_from_slice(b"'\"");
        }
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(context: Context, in_backticks: bool, v: &[u8]) -> String {
        let mut out = Vec::new();
        Quoting {
            context,
            in_backticks,
        }
        .quote_into(v, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn each_context_quotes_as_documented() {
        use Context::*;
        let cases: &[(Context, bool, &[u8], &str)] = &[
            (Unquoted, false, b"plain", "plain"),
            (Unquoted, false, b"a b", "'a b'"),
            (Unquoted, false, b"it's", "\"it's\""),
            (Unquoted, false, b"done", "'done'"),
            (Unquoted, false, b"", "''"),
            (Unquoted, false, b"a\0b", "'ab'"),
            (DoubleQuoted, false, b"a b's", "a b's"),
            (DoubleQuoted, false, b"$(x)", "\"'$'\"(x)"),
            (DoubleQuoted, false, b"\\\"", "\"'\\\"'\""),
            (DoubleQuoted, false, b"", ""),
            (DoubleQuoted, false, b"n\nl", "n\"'\n'\"l"),
            (SingleQuoted, false, b"it's", "it'\\''s"),
            (SingleQuoted, false, b"$x \\ \"", "$x \\ \""),
            (SingleQuoted, false, b"", ""),
            (Comment, false, b"a\nb", "\"a\\\\nb\""),
            (Comment, false, b"v1", "v1"),
            (Arithmetic, false, b"-3", "(-3)"),
            (Arithmetic, false, b"{worker}", "({worker})"),
            (Arithmetic, false, b"$(x)", "(x)"),
            (Unquoted, true, b"`x` $y", "'\\`x\\` \\$y'"),
            (Unquoted, true, b"\\", "\"\\\\\\\\\""),
            (SingleQuoted, true, b"it's", "it'\\\\''s"),
        ];
        for &(c, bt, v, want) in cases {
            assert_eq!(
                q(c, bt, v),
                want,
                "{c:?} {bt} {:?}",
                String::from_utf8_lossy(v)
            );
        }
    }

    #[test]
    fn integers_are_what_shells_read_as_such() {
        for v in [
            "0",
            "7",
            "-12",
            "9223372036854775807",
            "-9223372036854775808",
        ] {
            assert!(is_integer(v.as_bytes()), "{v}");
        }
        for v in [
            "",
            "-",
            "010",
            "-0x1",
            "1.5",
            "+1",
            " 1",
            "1e3",
            "9223372036854775808",
            "a",
        ] {
            assert!(!is_integer(v.as_bytes()), "{v}");
        }
    }

    #[test]
    fn shell_quote_handles_hostile_bytes() {
        assert_eq!(shell_quote(b"plain"), b"plain");
        assert_eq!(shell_quote(b"it's"), b"\"it's\"".to_vec());
        assert_eq!(shell_quote(b"-rf"), b"-rf".to_vec());
        assert_eq!(shell_quote(b"a\0b"), b"'ab'".to_vec());
    }
}
