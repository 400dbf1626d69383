//! Where a byte of a TOML string's value is in the manifest text, so a
//! template error can point at the placeholder itself, also in strings with
//! escapes (`"echo \"{x}\""`) and in multi-line strings.

use std::ops::Range;

/// The range of `raw` (a TOML string as written, quotes included) that holds
/// bytes `at` of its value `text`; None when `raw` does not decode to `text`
/// (then the caller points at the whole string).
pub fn locate(raw: &str, text: &str, at: Range<usize>) -> Option<Range<usize>> {
    let map = decode(raw)?;
    // map[i]: where value byte i starts in `raw`; one more entry for the end.
    if map.value != text.as_bytes() || at.end > text.len() || at.start > at.end {
        return None;
    }
    Some(map.offsets[at.start]..map.offsets[at.end])
}

struct Decoded {
    value: Vec<u8>,
    offsets: Vec<usize>,
}

fn decode(raw: &str) -> Option<Decoded> {
    let (delim, basic) = if raw.starts_with("\"\"\"") {
        ("\"\"\"", true)
    } else if raw.starts_with("'''") {
        ("'''", false)
    } else if raw.starts_with('"') {
        ("\"", true)
    } else if raw.starts_with('\'') {
        ("'", false)
    } else {
        return None;
    };
    if raw.len() < 2 * delim.len() || !raw.ends_with(delim) {
        return None;
    }
    let mut i = delim.len();
    let end = raw.len() - delim.len();
    // A newline right after the opening delimiter of a multi-line string is trimmed.
    if delim.len() == 3 {
        if raw[i..end].starts_with("\r\n") {
            i += 2;
        } else if raw[i..end].starts_with('\n') {
            i += 1;
        }
    }
    let b = raw.as_bytes();
    let mut d = Decoded {
        value: Vec::with_capacity(end - i),
        offsets: Vec::with_capacity(end - i + 1),
    };
    while i < end {
        if !(basic && b[i] == b'\\') {
            d.value.push(b[i]);
            d.offsets.push(i);
            i += 1;
            continue;
        }
        let start = i;
        let c = *b.get(i + 1)?;
        let (ch, len) = match c {
            b'b' => ('\u{8}', 2),
            b't' => ('\t', 2),
            b'n' => ('\n', 2),
            b'f' => ('\u{c}', 2),
            b'r' => ('\r', 2),
            b'e' => ('\u{1b}', 2),
            b'"' => ('"', 2),
            b'\\' => ('\\', 2),
            b'x' | b'u' | b'U' => {
                let n = match c {
                    b'x' => 2,
                    b'u' => 4,
                    _ => 8,
                };
                let hex = raw.get(i + 2..i + 2 + n)?;
                (char::from_u32(u32::from_str_radix(hex, 16).ok()?)?, 2 + n)
            }
            // A line-ending backslash in a multi-line string: it and the
            // whitespace and newlines after it vanish.
            b' ' | b'\t' | b'\r' | b'\n' if delim.len() == 3 => {
                i += 1;
                while i < end && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
                    i += 1;
                }
                continue;
            }
            _ => return None,
        };
        let mut buf = [0u8; 4];
        for &byte in ch.encode_utf8(&mut buf).as_bytes() {
            d.value.push(byte);
            d.offsets.push(start);
        }
        i += len;
    }
    d.offsets.push(end);
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_into_every_kind_of_string() {
        // (raw, value, the value's bytes to find, what raw holds there)
        let cases = [
            (r#""a {x} b""#, "a {x} b", 2..5, "{x}"),
            (r#""Y=\"{f}\"""#, "Y=\"{f}\"", 3..6, "{f}"),
            (r#""\u00e9 {f}""#, "é {f}", 3..6, "{f}"),
            (r#""\t{f}""#, "\t{f}", 0..1, "\\t"),
            ("'a \\ {f}'", "a \\ {f}", 4..7, "{f}"),
            ("'''\ncat <<E\n{f}\nE'''", "cat <<E\n{f}\nE", 8..11, "{f}"),
            ("\"\"\"\nx \\\n   {f}\"\"\"", "x {f}", 2..5, "{f}"),
        ];
        for (raw, text, at, want) in cases {
            let r = locate(raw, text, at).unwrap_or_else(|| panic!("{raw}"));
            assert_eq!(&raw[r], want, "{raw}");
        }
    }

    #[test]
    fn gives_up_when_the_text_differs() {
        assert_eq!(locate("\"abc\"", "abd", 0..1), None);
        assert_eq!(locate("abc", "abc", 0..1), None);
        assert_eq!(locate("\"\\q\"", "q", 0..1), None);
    }
}
