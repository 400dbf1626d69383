//! One journal line: a finished attempt.

use serde::{Deserialize, Serialize};

use std::time::{Duration, SystemTime};

use super::fingerprint::{Fingerprint, InputStamp};
use crate::event::AttemptEnd;
use crate::outcome::Outcome;

/// A short string held inline (ids and outcomes mostly are): reading a
/// journal allocates nothing per record for them.
pub type Text = compact_str::CompactString;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: Text,
    pub attempt: u32,
    /// `ok`, `failed`, `timed_out` or `killed`.
    pub outcome: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Start, in milliseconds since the Unix epoch.
    pub start_ms: u64,
    pub duration_ms: u64,
    /// The fingerprint's hash and its command part (see `fingerprint`).
    pub fp: Digest,
    pub cmd: Digest,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputStamp>,
    /// Hash of the needed units' records it was made from (see `stamp`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub needs: String,
    /// The run that wrote it: one more than the highest number in the job's
    /// journals when that run started; 0 in records older than the field.
    /// Orders records across journal files without trusting the clock.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub run: u64,
    /// The 1-based worker slot that ran it (`{worker}`); 0 in records older
    /// than the field. For timelines (`jobrun report`), never for decisions.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub worker: u32,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// The outcome a record stands for when its line cannot be read: not `ok`,
/// so its unit runs again.
pub const UNREADABLE: &str = "unreadable";

/// Outcomes a record may have.
const RECORDED: [&str; 4] = ["ok", "failed", "timed_out", "killed"];

impl Record {
    /// The record of one finished attempt.
    pub fn attempt(
        id: &str,
        attempt: u32,
        outcome: Outcome,
        end: Option<&AttemptEnd>,
        started_at: SystemTime,
        duration: Duration,
        fp: &Fingerprint,
    ) -> Record {
        Record {
            id: id.into(),
            attempt,
            outcome: outcome.as_str().into(),
            exit: end.and_then(AttemptEnd::exit_code),
            signal: end.and_then(AttemptEnd::signal),
            start_ms: super::epoch_ms(started_at),
            duration_ms: duration.as_millis() as u64,
            fp: fp.hash.clone(),
            cmd: fp.command.clone(),
            inputs: fp.inputs.clone(),
            needs: fp.needs.clone(),
            run: 0,
            worker: 0,
        }
    }

    /// Stands for a line that names unit `id` but cannot be read otherwise.
    fn unreadable(id: Text, start_ms: u64, run: u64) -> Record {
        Record {
            id,
            attempt: 0,
            outcome: UNREADABLE.into(),
            exit: None,
            signal: None,
            start_ms,
            duration_ms: 0,
            fp: Digest::default(),
            cmd: Digest::default(),
            inputs: Vec::new(),
            needs: String::new(),
            run,
            worker: 0,
        }
    }
}

/// A hash as a journal line holds it: 64 lowercase hex digits are kept as
/// their 32 bytes (no allocation per record, a third of the memory), any
/// other text as it is, so every line reads back and writes out unchanged.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Digest {
    Bytes([u8; 32]),
    #[default]
    Empty,
    Other(Box<str>),
}

impl Digest {
    pub fn new(s: &str) -> Digest {
        if s.is_empty() {
            return Digest::Empty;
        }
        match hex32(s.as_bytes()) {
            Some(b) => Digest::Bytes(b),
            None => Digest::Other(s.into()),
        }
    }

    /// The text, for `f` (hex is rendered on the stack).
    pub fn with_str<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            Digest::Bytes(b) => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let mut buf = [0u8; 64];
                for (i, &x) in b.iter().enumerate() {
                    buf[2 * i] = HEX[usize::from(x >> 4)];
                    buf[2 * i + 1] = HEX[usize::from(x & 15)];
                }
                f(std::str::from_utf8(&buf).unwrap_or_default())
            }
            Digest::Empty => f(""),
            Digest::Other(s) => f(s),
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Digest::Empty)
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.with_str(|s| s == other)
    }
}

/// 64 lowercase hex digits as their 32 bytes.
fn hex32(b: &[u8]) -> Option<[u8; 32]> {
    if b.len() != 64 {
        return None;
    }
    let mut out = [0; 32];
    let mut bad = 0;
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let (h, l) = (NIBBLE[usize::from(pair[0])], NIBBLE[usize::from(pair[1])]);
        bad |= h | l;
        *o = h << 4 | l;
    }
    (bad & 0x80 == 0).then_some(out)
}

/// Lowercase hex digit values; 0x80 marks any other byte.
const NIBBLE: [u8; 256] = {
    let mut t = [0x80; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with_str(|s| write!(f, "{s:?}"))
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with_str(|s| f.write_str(s))
    }
}

impl From<&str> for Digest {
    fn from(s: &str) -> Self {
        Digest::new(s)
    }
}

impl From<String> for Digest {
    fn from(s: String) -> Self {
        Digest::new(&s)
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.with_str(|t| s.serialize_str(t))
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Digest;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a hash as a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Digest, E> {
                Ok(Digest::new(v))
            }
        }
        d.deserialize_str(V)
    }
}

/// Lines of a journal that gave no record.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Skipped {
    /// Lines that are not a record: garbage, another schema, an unknown outcome.
    pub unreadable: usize,
    /// The 1-based line number of the first of them (0 if none).
    pub first_unreadable: usize,
    /// Records cut short: a run was killed while writing one (expected).
    pub torn: usize,
    /// The 1-based line number of the first of them (0 if none).
    pub first_torn: usize,
}

/// What can still be read of a line that is not a record.
#[derive(Deserialize)]
struct Named {
    id: Text,
    #[serde(default)]
    start_ms: u64,
    #[serde(default)]
    run: u64,
}

/// Parse journal text: one record per line. Nothing is fatal: a record cut
/// short (a crash while writing it) is skipped; an unreadable line that
/// still names a unit (another schema, an unknown outcome) stands for a
/// record that is not `ok`, so that unit runs again rather than passing for
/// done on an older record; any other line is skipped. All are counted.
pub fn parse_lines(text: &[u8]) -> (Vec<Record>, Skipped) {
    let (pieces, skipped) = parse_pieces(text);
    if pieces.len() == 1 {
        return (pieces.into_iter().flatten().collect(), skipped);
    }
    let mut out = Vec::with_capacity(pieces.iter().map(Vec::len).sum());
    for p in pieces {
        out.extend(p);
    }
    (out, skipped)
}

/// [`parse_lines`], its records left in pieces, in file order.
pub(super) fn parse_pieces(text: &[u8]) -> (Vec<Vec<Record>>, Skipped) {
    // Parsing is most of what a rerun of up-to-date units costs: a large
    // journal is cut at line ends and its pieces parsed on all CPUs.
    const PIECE: usize = 1 << 20;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pieces = (text.len() / PIECE).clamp(1, cpus.min(8));
    if pieces == 1 {
        let (records, skipped) = parse_piece(text, 0);
        return (vec![records], skipped);
    }
    let mut cuts = vec![0];
    for k in 1..pieces {
        let from = (text.len() * k / pieces).max(*cuts.last().unwrap_or(&0));
        let cut = text[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(text.len(), |p| from + p + 1);
        cuts.push(cut);
    }
    cuts.push(text.len());
    let parts: Vec<&[u8]> = cuts.windows(2).map(|w| &text[w[0]..w[1]]).collect();
    let mut first_line = 0;
    let starts: Vec<usize> = parts
        .iter()
        .map(|p| {
            let at = first_line;
            first_line += memchr::memchr_iter(b'\n', p).count();
            at
        })
        .collect();
    let done: Vec<(Vec<Record>, Skipped)> = std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .iter()
            .zip(&starts)
            .map(|(p, &at)| s.spawn(move || parse_piece(p, at)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut out = Vec::with_capacity(done.len());
    let mut skipped = Skipped::default();
    for (records, sk) in done {
        out.push(records);
        skipped.unreadable += sk.unreadable;
        skipped.torn += sk.torn;
        if skipped.first_unreadable == 0 {
            skipped.first_unreadable = sk.first_unreadable;
        }
        if skipped.first_torn == 0 {
            skipped.first_torn = sk.first_torn;
        }
    }
    (out, skipped)
}

/// [`parse_lines`] for a piece of a journal whose first line is line
/// `first_line` (0-based) of the file.
fn parse_piece(text: &[u8], first_line: usize) -> (Vec<Record>, Skipped) {
    let mut out = Vec::new();
    let mut skipped = Skipped::default();
    let mut from = 0;
    let ends = memchr::memchr_iter(b'\n', text).chain(std::iter::once(text.len()));
    for (n, end) in ends.enumerate() {
        let line = &text[from..end];
        from = end + 1;
        let n = n + first_line;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = match fast::record(line) {
            Some(r) => Ok(r),
            None => serde_json::from_slice::<Record>(line),
        };
        let e = match parsed {
            Ok(r) if RECORDED.contains(&r.outcome.as_str()) => {
                out.push(r);
                continue;
            }
            Ok(r) => {
                out.push(Record::unreadable(r.id, r.start_ms, r.run));
                None
            }
            Err(e) => Some(e),
        };
        // A proper prefix of a JSON object only ever fails at its end.
        if e.as_ref().is_some_and(serde_json::Error::is_eof) {
            skipped.torn += 1;
            if skipped.first_torn == 0 {
                skipped.first_torn = n + 1;
            }
            continue;
        }
        if e.is_some()
            && let Ok(named) = serde_json::from_slice::<Named>(line)
        {
            out.push(Record::unreadable(named.id, named.start_ms, named.run));
        }
        skipped.unreadable += 1;
        if skipped.first_unreadable == 0 {
            skipped.first_unreadable = n + 1;
        }
    }
    (out, skipped)
}

/// Lines as jobrun writes them, read without serde: the fields in their
/// order, no whitespace, no escapes, no input list. Anything else (an older
/// or hand-edited line, a torn one) gives `None` and is left to serde_json,
/// so what a line reads as never depends on which path read it.
mod fast {
    use super::{Digest, Record, Text};

    struct Cursor<'a> {
        s: &'a [u8],
        at: usize,
    }

    impl<'a> Cursor<'a> {
        fn eat(&mut self, lit: &[u8]) -> Option<()> {
            let end = self.at.checked_add(lit.len())?;
            (self.s.get(self.at..end)? == lit).then(|| self.at = end)
        }

        /// `,"key":` if it comes next.
        fn key(&mut self, key: &[u8]) -> bool {
            let rest = &self.s[self.at..];
            let hit = rest.len() > key.len() + 4
                && rest[0] == b','
                && rest[1] == b'"'
                && rest[2..].starts_with(key)
                && rest[2 + key.len()..].starts_with(b"\":");
            if hit {
                self.at += key.len() + 4;
            }
            hit
        }

        /// The bytes of a string with no escape in it (control bytes unchecked).
        fn raw(&mut self) -> Option<&'a [u8]> {
            self.eat(b"\"")?;
            let rest = &self.s[self.at..];
            let len = memchr::memchr2(b'"', b'\\', rest)?;
            if rest[len] != b'"' {
                return None;
            }
            self.at += len + 1;
            Some(&rest[..len])
        }

        /// A string with nothing JSON would escape in it.
        fn str(&mut self) -> Option<&'a str> {
            text(self.raw()?)
        }

        fn digest(&mut self) -> Option<Digest> {
            let raw = self.raw()?;
            // Hex digits are no control bytes: only other text is checked.
            match super::hex32(raw) {
                Some(b) => Some(Digest::Bytes(b)),
                None => text(raw).map(Digest::new),
            }
        }

        /// A JSON number that is a u64: no sign, no leading zero, no fraction.
        fn u64(&mut self) -> Option<u64> {
            let rest = &self.s[self.at..];
            let len = rest
                .iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(rest.len());
            if len == 0
                || (len > 1 && rest[0] == b'0')
                || matches!(rest.get(len), Some(b'.' | b'e' | b'E'))
            {
                return None;
            }
            let mut n: u64 = 0;
            for &d in &rest[..len] {
                n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            }
            self.at += len;
            Some(n)
        }

        fn i32(&mut self) -> Option<i32> {
            let neg = self.eat(b"-").is_some();
            let n = i64::try_from(self.u64()?).ok()?;
            // serde_json reads `-0` as a float, which no i32 field takes.
            if neg && n == 0 {
                return None;
            }
            i32::try_from(if neg { -n } else { n }).ok()
        }
    }

    fn text(raw: &[u8]) -> Option<&str> {
        if raw.iter().any(|&b| b < 0x20) {
            return None;
        }
        std::str::from_utf8(raw).ok()
    }

    pub(super) fn record(line: &[u8]) -> Option<Record> {
        let mut c = Cursor { s: line, at: 0 };
        c.eat(b"{\"id\":")?;
        let id = Text::from(c.str()?);
        c.key(b"attempt").then_some(())?;
        let attempt = u32::try_from(c.u64()?).ok()?;
        c.key(b"outcome").then_some(())?;
        let outcome = Text::from(c.str()?);
        let exit = if c.key(b"exit") { Some(c.i32()?) } else { None };
        let signal = if c.key(b"signal") {
            Some(c.i32()?)
        } else {
            None
        };
        c.key(b"start_ms").then_some(())?;
        let start_ms = c.u64()?;
        c.key(b"duration_ms").then_some(())?;
        let duration_ms = c.u64()?;
        c.key(b"fp").then_some(())?;
        let fp = c.digest()?;
        c.key(b"cmd").then_some(())?;
        let cmd = c.digest()?;
        let needs = if c.key(b"needs") {
            c.str()?.to_owned()
        } else {
            String::new()
        };
        let run = if c.key(b"run") { c.u64()? } else { 0 };
        let worker = if c.key(b"worker") {
            u32::try_from(c.u64()?).ok()?
        } else {
            0
        };
        c.eat(b"}")?;
        (c.at == line.len()).then_some(Record {
            id,
            attempt,
            outcome,
            exit,
            signal,
            start_ms,
            duration_ms,
            fp,
            cmd,
            inputs: Vec::new(),
            needs,
            run,
            worker,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str) -> Record {
        Record {
            id: id.into(),
            attempt: 1,
            outcome: "ok".into(),
            exit: Some(0),
            signal: None,
            start_ms: 1,
            duration_ms: 2,
            fp: "f".into(),
            cmd: "c".into(),
            inputs: vec![],
            needs: String::new(),
            run: 0,
            worker: 0,
        }
    }

    fn line(r: &Record) -> Vec<u8> {
        let mut l = serde_json::to_vec(r).unwrap();
        l.push(b'\n');
        l
    }

    #[test]
    fn torn_last_line_is_ignored() {
        let mut text = line(&rec("a"));
        let full = serde_json::to_vec(&rec("b")).unwrap();
        text.extend_from_slice(&full[..full.len() / 2]);
        let (records, skipped) = parse_lines(&text);
        assert_eq!(records, vec![rec("a")]);
        assert_eq!(
            skipped,
            Skipped {
                torn: 1,
                first_torn: 2,
                ..Skipped::default()
            }
        );
    }

    #[test]
    fn a_torn_record_followed_by_more_is_still_only_torn() {
        // The next run starts its records on a line of their own.
        let full = serde_json::to_vec(&rec("a")).unwrap();
        let mut text = full[..10].to_vec();
        text.push(b'\n');
        text.extend_from_slice(&line(&rec("b")));
        let (records, skipped) = parse_lines(&text);
        assert_eq!(records, vec![rec("b")]);
        assert_eq!((skipped.torn, skipped.unreadable), (1, 0));
    }

    #[test]
    fn unreadable_lines_are_counted_and_a_named_unit_is_not_taken_as_done() {
        let mut text = line(&rec("a"));
        text.extend_from_slice(b"\n  \n");
        text.extend_from_slice(b"not json at all\n");
        let mut odd = rec("b");
        odd.outcome = "okay".into();
        odd.run = 4;
        text.extend_from_slice(&line(&odd));
        text.extend_from_slice(b"{\"id\":\"c\",\"outcome\":\"ok\",\"start_ms\":9}\n");
        text.extend_from_slice(b"[1,2]\n");
        let (records, skipped) = parse_lines(&text);
        let got: Vec<(&str, &str, u64, u64)> = records
            .iter()
            .map(|r| (&*r.id, &*r.outcome, r.start_ms, r.run))
            .collect();
        assert_eq!(
            got,
            [
                ("a", "ok", 1, 0),
                ("b", UNREADABLE, 1, 4),
                ("c", UNREADABLE, 9, 0)
            ]
        );
        assert_eq!(
            skipped,
            Skipped {
                unreadable: 4,
                first_unreadable: 4,
                ..Skipped::default()
            }
        );
    }

    #[test]
    fn digests_read_back_and_write_out_unchanged() {
        let hex = "f7963efc0b910d14ca30b292acd7eced962112294c8cf553ead13349b96d866a";
        for text in [hex, "", "f", &hex.to_uppercase(), &hex[..63], "zz"] {
            let d = Digest::new(text);
            assert_eq!(d.to_string(), text);
            assert_eq!(d, *text);
            assert_eq!(matches!(d, Digest::Bytes(_)), text == hex);
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        }
        assert!(Digest::new(hex) != *hex.replace('f', "e"));
    }

    #[test]
    fn the_run_number_is_written_only_when_known() {
        let old = serde_json::to_string(&rec("a")).unwrap();
        assert!(!old.contains("\"run\""), "{old}");
        let mut r = rec("a");
        r.run = 7;
        let text = line(&r);
        assert!(String::from_utf8_lossy(&text).contains("\"run\":7"));
        assert_eq!(parse_lines(&text).0, vec![r]);
    }

    #[test]
    fn the_worker_slot_is_optional_both_ways() {
        let old = serde_json::to_string(&rec("a")).unwrap();
        assert!(!old.contains("\"worker\""), "{old}");
        assert_eq!(parse_lines(old.as_bytes()).0[0].worker, 0);
        let mut r = rec("a");
        r.worker = 3;
        assert_eq!(parse_lines(&line(&r)).0, vec![r]);
    }

    #[test]
    fn the_fast_reader_reads_what_serde_reads_or_leaves_it() {
        let hex = "f7963efc0b910d14ca30b292acd7eced962112294c8cf553ead13349b96d866a";
        let mut full = rec("t[i=1, s=\u{e9}t\u{e9}]");
        full.fp = hex.into();
        full.cmd = hex.into();
        full.signal = Some(-9);
        full.exit = None;
        full.needs = "ab".into();
        full.run = 12;
        full.worker = 1000;
        let mut with_input = rec("b");
        with_input.inputs.push(InputStamp {
            path: "in/a".into(),
            size: 1,
            mtime_ns: -2,
            hash: hex.into(),
        });
        let mut lines: Vec<Vec<u8>> = [rec("a"), full, with_input, rec("q\"uote"), rec("tab\t")]
            .iter()
            .map(|r| serde_json::to_vec(r).unwrap())
            .collect();
        for odd in [
            &br#"{"id":"a","attempt":1,"outcome":"ok","exit":0,"start_ms":1,"duration_ms":2,"fp":"f","cmd":"c"} "#[..],
            br#"{"id":"a","attempt":01,"outcome":"ok","start_ms":1,"duration_ms":2,"fp":"f","cmd":"c"}"#,
            br#"{"id":"a","attempt":1,"outcome":"ok","start_ms":1.5,"duration_ms":2,"fp":"f","cmd":"c"}"#,
            br#"{"id":"a","attempt":1,"outcome":"ok","start_ms":18446744073709551616,"duration_ms":2,"fp":"f","cmd":"c"}"#,
            br#"{"id":"a","attempt":1,"outcome":"ok","exit":-2147483649,"start_ms":1,"duration_ms":2,"fp":"f","cmd":"c"}"#,
            br#"{"id":"a","attempt":1,"outcome":"ok","exit":-0,"start_ms":1,"duration_ms":2,"fp":"f","cmd":"c"}"#,
            br#"{"id":"a","attempt":1,"outcome":"ok","start_ms":1,"duration_ms":2,"fp":"f","cmd":"c","extra":1}"#,
            br#"{"id":"a","attempt":1,"outcome":"ok","start_ms":1,"duration_ms":2,"fp":"f","cmd":"c","run":1,"run":2}"#,
            br#"{"id":"a","attempt":1,"outcome":"ok","start_ms":1,"duration_ms":2,"fp":"f","cmd":"c"#,
            b"{\"id\":\"a\xff\",\"attempt\":1,\"outcome\":\"ok\",\"start_ms\":1,\"duration_ms\":2,\"fp\":\"f\",\"cmd\":\"c\"}",
            b"{\"id\":\"a\x01\",\"attempt\":1,\"outcome\":\"ok\",\"start_ms\":1,\"duration_ms\":2,\"fp\":\"f\",\"cmd\":\"c\"}",
        ] {
            lines.push(odd.to_vec());
        }
        let mut fast_read = 0;
        for line in &lines {
            let by_serde = serde_json::from_slice::<Record>(line).ok();
            if let Some(r) = fast::record(line) {
                fast_read += 1;
                assert_eq!(Some(r), by_serde, "{}", String::from_utf8_lossy(line));
            }
        }
        // The two plain lines jobrun writes; the rest went to serde_json.
        assert_eq!(fast_read, 2);
    }
}
