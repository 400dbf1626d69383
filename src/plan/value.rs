//! A matrix or var value: raw bytes, because file names need not be UTF-8.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

/// A unit's values, one per task key: inline for the common single key (no
/// allocation per unit).
pub type UnitValues = smallvec::SmallVec<[Option<Value>; 1]>;

/// An immutable byte string, cheap to clone: short ones (most matrix values:
/// numbers, names) are held inline, longer ones shared by every unit using
/// them. Inline saves a 32-byte allocation per unit of a large range matrix.
#[derive(Clone)]
pub struct Value(Repr);

const INLINE: usize = 22;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Arc<[u8]>),
}

impl Value {
    pub fn new(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE {
            let mut b = [0; INLINE];
            b[..bytes.len()].copy_from_slice(bytes);
            Value(Repr::Inline {
                len: bytes.len() as u8,
                bytes: b,
            })
        } else {
            Value(Repr::Shared(Arc::from(bytes)))
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, bytes } => &bytes[..*len as usize],
            Repr::Shared(a) => a,
        }
    }

    pub fn as_os_str(&self) -> &OsStr {
        OsStr::from_bytes(self.as_bytes())
    }

    /// The value for display: UTF-8 as is, every other byte and every control
    /// or bidi character escaped (see [`must_escape`]), so the result is one line and never ambiguous about
    /// which bytes the value holds.
    pub fn display(&self) -> Cow<'_, str> {
        display_bytes(self.as_bytes())
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Value {}

impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.display())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::new(s.as_bytes())
    }
}

/// See [`Value::display`].
pub fn display_bytes(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes)
        && !s.chars().any(|c| c == '\\' || must_escape(c))
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c => push_escaped(&mut out, c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    Cow::Owned(out)
}

/// A path for display, as [`display_bytes`] shows it.
pub fn display_path(p: &Path) -> Cow<'_, str> {
    display_bytes(p.as_os_str().as_bytes())
}

/// Text for the terminal: control and bidi characters escaped as in
/// [`display_bytes`], everything else (backslashes included) as is, for
/// messages that quote the manifest or values already shown escaped.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(must_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

/// Characters that would act on a terminal or a log viewer rather than be
/// shown: C0 and C1 controls, DEL, the bidi controls that reorder a line
/// (a U+202E in a name makes `gpj.exe` read as `exe.jpg`), and the line
/// and paragraph separators some viewers break lines at.
pub fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// `c`, escaped if [`must_escape`] says so: `\n`, `\t`, `\r`, `\0`, else `\u{1b}`.
pub fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\0' => out.push_str("\\0"),
        c if must_escape(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// Path accessors usable in templates: `{file.stem}` and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accessor {
    /// File name: `a/b.tar.gz` -> `b.tar.gz`.
    Name,
    /// Name without its last extension: `b.tar`.
    Stem,
    /// Last extension without the dot: `gz` (empty if none).
    Ext,
    /// Parent folder: `a` (`.` if none).
    Dir,
    /// Path without its last extension: `a/b.tar`.
    NoExt,
}

impl Accessor {
    pub const ALL: [(&'static str, Accessor); 5] = [
        ("name", Accessor::Name),
        ("stem", Accessor::Stem),
        ("ext", Accessor::Ext),
        ("dir", Accessor::Dir),
        ("noext", Accessor::NoExt),
    ];

    pub fn parse(s: &str) -> Option<Accessor> {
        Accessor::ALL.iter().find(|(n, _)| *n == s).map(|(_, a)| *a)
    }

    pub fn apply(self, v: &[u8]) -> &[u8] {
        let path = Path::new(OsStr::from_bytes(v));
        match self {
            Accessor::Name => path.file_name().map_or(b"", |n| n.as_bytes()),
            Accessor::Stem => path.file_stem().map_or(b"", |n| n.as_bytes()),
            Accessor::Ext => path.extension().map_or(b"", |n| n.as_bytes()),
            Accessor::Dir => match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.as_os_str().as_bytes(),
                // The root is its own folder.
                None if path.has_root() => b"/",
                _ => b".",
            },
            Accessor::NoExt => match path.extension() {
                Some(ext) => {
                    // Path normalizes `a.gz/` and `a.gz/.` to `a.gz`; so do we.
                    let mut t = v;
                    while let Some(x) = t.strip_suffix(b"/").or_else(|| t.strip_suffix(b"/.")) {
                        t = x;
                    }
                    let e = ext.as_bytes();
                    match t.strip_suffix(e).and_then(|x| x.strip_suffix(b".")) {
                        Some(x) => x,
                        None => v,
                    }
                }
                None => v,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_values_behave_alike() {
        assert_eq!(std::mem::size_of::<Option<Value>>(), 24);
        let long = [b'x'; INLINE + 1];
        for bytes in [&b""[..], b"7", &long[..INLINE], &long[..]] {
            let v = Value::new(bytes);
            assert_eq!(v.as_bytes(), bytes);
            assert_eq!(v.clone(), v);
            assert!(matches!(v.0, Repr::Shared(_)) == (bytes.len() > INLINE));
        }
        assert!(Value::from("a") < Value::new(&long));
        assert!(Value::new(&long[..INLINE]) < Value::new(&long));
    }

    #[test]
    fn accessors() {
        type Case<'a> = (&'a [u8], &'a [u8], &'a [u8], &'a [u8], &'a [u8], &'a [u8]);
        let cases: &[Case<'_>] = &[
            // value, name, stem, ext, dir, noext
            (
                b"a/b.tar.gz",
                b"b.tar.gz",
                b"b.tar",
                b"gz",
                b"a",
                b"a/b.tar",
            ),
            (b"b.jpg", b"b.jpg", b"b", b"jpg", b".", b"b"),
            (b"x/y/z", b"z", b"z", b"", b"x/y", b"x/y/z"),
            (b".bashrc", b".bashrc", b".bashrc", b"", b".", b".bashrc"),
            (b"/abs/p.q", b"p.q", b"p", b"q", b"/abs", b"/abs/p"),
            (b"d/a b.jpg", b"a b.jpg", b"a b", b"jpg", b"d", b"d/a b"),
            (
                b"d/\xff\xfe.png",
                b"\xff\xfe.png",
                b"\xff\xfe",
                b"png",
                b"d",
                b"d/\xff\xfe",
            ),
            (b"64", b"64", b"64", b"", b".", b"64"),
            (b"/", b"", b"", b"", b"/", b"/"),
            (b"x.tar.gz/.", b"x.tar.gz", b"x.tar", b"gz", b".", b"x.tar"),
            (b"d/a.gz/", b"a.gz", b"a", b"gz", b"d", b"d/a"),
        ];
        for (v, name, stem, ext, dir, noext) in cases {
            assert_eq!(Accessor::Name.apply(v), *name);
            assert_eq!(Accessor::Stem.apply(v), *stem);
            assert_eq!(Accessor::Ext.apply(v), *ext);
            assert_eq!(Accessor::Dir.apply(v), *dir);
            assert_eq!(Accessor::NoExt.apply(v), *noext);
        }
    }

    #[test]
    fn display_escapes_only_what_it_must() {
        assert_eq!(display_bytes(b"a b.jpg"), "a b.jpg");
        assert_eq!(display_bytes("é.jpg".as_bytes()), "é.jpg");
        assert_eq!(display_bytes(b"a\nb"), "a\\nb");
        assert_eq!(display_bytes(b"\xffx"), "\\xffx");
        assert_eq!(display_bytes(b"a\\b"), "a\\\\b");
        assert_eq!(display_bytes(b"a\x1b[31mb\0"), "a\\u{1b}[31mb\\0");
        assert_eq!(
            display_bytes("a\u{202e}b\u{85}".as_bytes()),
            "a\\u{202e}b\\u{85}"
        );
    }

    #[test]
    fn printable_keeps_backslashes_and_escapes_controls() {
        assert_eq!(printable("a\\nb é"), "a\\nb é");
        assert_eq!(
            printable("\x1b[2J\u{202e}\u{2066}\0\u{7f}\n"),
            "\\u{1b}[2J\\u{202e}\\u{2066}\\0\\u{7f}\\n"
        );
    }
}
