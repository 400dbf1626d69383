//! `jobrun logs`: a unit's log, whole or one attempt of it, streamed (a
//! log of any size costs a line's worth of memory).

use std::io::{self, BufRead, Write};

/// The line before each later attempt's output (see `exec::pool::open_log`).
fn marker(attempt: u32) -> String {
    format!("--- jobrun: attempt {attempt} ---\n")
}

/// Copies attempt `attempt` of a log (all of it when None) to `out`.
/// Returns false when the log holds no such attempt.
pub fn copy_attempt(
    log: &mut impl BufRead,
    attempt: Option<u32>,
    out: &mut impl Write,
) -> io::Result<bool> {
    let Some(n) = attempt else {
        io::copy(log, out)?;
        return Ok(true);
    };
    let (start, next) = (marker(n), marker(n + 1));
    let mut inside = n == 1;
    let mut found = inside;
    // jobrun writes an empty line before each marker: held back until the
    // next line shows whether it was one.
    let mut held = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        if log.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line == start.as_bytes() {
            inside = true;
            found = true;
            held = false;
            continue;
        }
        if line == next.as_bytes() {
            break;
        }
        if !inside {
            continue;
        }
        if held {
            out.write_all(b"\n")?;
            held = false;
        }
        if line == b"\n" {
            held = true;
        } else {
            out.write_all(&line)?;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(text: &str, n: Option<u32>) -> (String, bool) {
        let mut out = Vec::new();
        let found = copy_attempt(&mut text.as_bytes(), n, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), found)
    }

    #[test]
    fn attempts_are_cut_at_their_markers() {
        let log =
            "one\n\n--- jobrun: attempt 2 ---\ntwo\n\nmore\n\n--- jobrun: attempt 3 ---\nthree\n";
        assert_eq!(attempt(log, Some(1)), ("one\n".into(), true));
        assert_eq!(attempt(log, Some(2)), ("two\n\nmore\n".into(), true));
        assert_eq!(attempt(log, Some(3)), ("three\n".into(), true));
        assert_eq!(attempt(log, Some(4)), ("".into(), false));
        assert_eq!(attempt(log, None), (log.into(), true));
    }
}
