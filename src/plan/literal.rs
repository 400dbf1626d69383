//! Values as written in the manifest: the toml crate gives a float as an
//! `f64`, so `3.10` would become `3.1` and `1e3` would become `1000`. A
//! version number or a size is text to the user, so a float is rendered
//! from its literal text, which we find through the value's span.
//!
//! Invariant: the text is only used when it parses to the very float the
//! toml crate read, so a span that points elsewhere can never change a
//! value; it falls back to the shortest form instead.

use std::ops::Range;

use toml_parser::lexer::TokenKind;

/// The byte ranges, within `text`, of each top-level item of the TOML array
/// `text` (as `[1.0, "a,b", [2], { x = 3 }]`), trimmed of whitespace,
/// comments and commas. `None` when `text` is not one whole array.
pub fn array_items(text: &str) -> Option<Vec<Range<usize>>> {
    let mut depth = 0usize;
    let mut items = Vec::new();
    let mut item: Option<Range<usize>> = None;
    for token in toml_parser::Source::new(text).lex() {
        let span = token.span();
        let range = span.start()..span.end();
        let kind = token.kind();
        match kind {
            TokenKind::Whitespace | TokenKind::Newline | TokenKind::Comment => continue,
            TokenKind::Eof => return None,
            _ => {}
        }
        if depth == 0 {
            // Only the opening bracket may come before the items.
            if kind != TokenKind::LeftSquareBracket || !items.is_empty() {
                return None;
            }
            depth = 1;
            continue;
        }
        match kind {
            TokenKind::Comma if depth == 1 => {
                items.extend(item.take());
                continue;
            }
            TokenKind::RightSquareBracket if depth == 1 => {
                items.extend(item.take());
                let rest = &text[range.end..];
                return rest.trim().is_empty().then_some(items);
            }
            TokenKind::LeftSquareBracket | TokenKind::LeftCurlyBracket => depth += 1,
            TokenKind::RightSquareBracket | TokenKind::RightCurlyBracket => depth -= 1,
            _ => {}
        }
        item = Some(item.map_or(range.start, |r| r.start)..range.end);
    }
    None
}

/// A float as written (`raw`, the literal's text), or in shortest form when
/// `raw` is not a literal of `value`. Underscores are dropped (`1_000.5` is
/// `1000.5`), as they are for integers: they group digits for the reader
/// and are not part of the number.
pub fn float_text(raw: &str, value: f64) -> String {
    let text: String = raw.trim().chars().filter(|&c| c != '_').collect();
    let parsed = match text.trim_start_matches(['+', '-']) {
        "inf" | "nan" => text
            .replace("inf", "Infinity")
            .replace("nan", "NaN")
            .parse::<f64>(),
        _ => text.parse::<f64>(),
    };
    match parsed {
        Ok(f) if f.to_bits() == value.to_bits() || (f.is_nan() && value.is_nan()) => text,
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str) -> Option<Vec<&str>> {
        array_items(text).map(|rs| rs.into_iter().map(|r| &text[r]).collect())
    }

    #[test]
    fn items_of_arrays() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("[3.10, 1e3]", Some(&["3.10", "1e3"])),
            ("[]", Some(&[])),
            ("[ 1 , ]", Some(&["1"])),
            (
                r#"["a,b", 'c]', "d\"]", 2.50]"#,
                Some(&[r#""a,b""#, "'c]'", r#""d\"]""#, "2.50"]),
            ),
            (
                "[[1, 2], { x = 3.0, y = [4] }, 5]",
                Some(&["[1, 2]", "{ x = 3.0, y = [4] }", "5"]),
            ),
            (
                "[\n  3.10, # a comment, with [brackets]\n  # another\n  -0.5e-3\n]",
                Some(&["3.10", "-0.5e-3"]),
            ),
            (
                "[\"\"\"multi,\nline]\"\"\", '''x,]''', +inf, nan]",
                Some(&["\"\"\"multi,\nline]\"\"\"", "'''x,]'''", "+inf", "nan"]),
            ),
            (
                "[1_000.5, 1979-05-27T07:32:00Z]",
                Some(&["1_000.5", "1979-05-27T07:32:00Z"]),
            ),
            // Not one whole array.
            ("[1, 2", None),
            ("[1] [2]", None),
            ("1.5", None),
            ("{ a = 1 }", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(items(text).as_deref(), *want, "{text}");
        }
    }

    #[test]
    fn floats_as_written() {
        let cases = [
            ("3.10", 3.1, "3.10"),
            ("1e3", 1000.0, "1e3"),
            ("1E+3", 1000.0, "1E+3"),
            ("3.0", 3.0, "3.0"),
            ("+2.5", 2.5, "+2.5"),
            ("-0.0", -0.0, "-0.0"),
            ("1_000.5", 1000.5, "1000.5"),
            ("6.626e-34", 6.626e-34, "6.626e-34"),
            ("inf", f64::INFINITY, "inf"),
            ("-inf", f64::NEG_INFINITY, "-inf"),
            ("nan", f64::NAN, "nan"),
            (" 0.5 ", 0.5, "0.5"),
            // A span that is not this float's literal: the shortest form.
            ("[3.10]", 3.1, "3.1"),
            ("3.2", 3.1, "3.1"),
            ("0.0", -0.0, "-0"),
            ("", 2.5, "2.5"),
        ];
        for (raw, value, want) in cases {
            assert_eq!(float_text(raw, value), want, "{raw:?}");
        }
    }
}
