//! The end of a log file, read without loading the whole file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// At most the last `max_lines` lines within the last `max_bytes` bytes of
/// the file at `path`, and whether anything before them was left out.
pub fn read_tail(
    path: &Path,
    max_bytes: u64,
    max_lines: usize,
) -> std::io::Result<(Vec<u8>, bool)> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(max_bytes);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    f.take(max_bytes).read_to_end(&mut buf)?;
    let mut cut = 0;
    let mut truncated = start > 0;
    if truncated && let Some(nl) = buf.iter().position(|&b| b == b'\n') {
        // Drop the partial first line.
        cut = nl + 1;
    }
    let body = &buf[cut..];
    let trimmed = body.strip_suffix(b"\n").unwrap_or(body);
    let lines = trimmed.iter().filter(|&&b| b == b'\n').count() + usize::from(!trimmed.is_empty());
    if lines > max_lines {
        let skip = lines - max_lines;
        let mut seen = 0;
        for (i, &b) in body.iter().enumerate() {
            if b == b'\n' {
                seen += 1;
                if seen == skip {
                    cut += i + 1;
                    break;
                }
            }
        }
        truncated = true;
    }
    buf.drain(..cut);
    Ok((buf, truncated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, "a\nb\nc\nd\n").unwrap();
        assert_eq!(read_tail(&p, 1000, 2).unwrap(), (b"c\nd\n".to_vec(), true));
        assert_eq!(
            read_tail(&p, 1000, 10).unwrap(),
            (b"a\nb\nc\nd\n".to_vec(), false)
        );
        assert_eq!(read_tail(&p, 5, 10).unwrap(), (b"c\nd\n".to_vec(), true));
        std::fs::write(&p, "").unwrap();
        assert_eq!(read_tail(&p, 100, 10).unwrap(), (Vec::new(), false));
    }
}
