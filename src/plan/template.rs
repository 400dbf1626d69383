//! Templates: `{name}`, `{name.accessor...}`, `{{` and `}}`.
//!
//! A template is parsed once per task field and its names resolved against
//! the task's scope, so an unknown name is a plan-time error and rendering a
//! unit cannot fail.

use super::value::Accessor;

/// What a `{name}` refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// Index into the plan's vars.
    Var(usize),
    /// Index into the task's keys (matrix keys, then include extras).
    Key(usize),
    /// `env.NAME`: the invoking environment.
    Env(String),
    JobName,
    TaskName,
    UnitId,
    UnitIndex,
    /// 1-based worker slot; only known when the unit starts.
    Worker,
    /// `resource.NAME`: what the unit holds of pool NAME (index into the
    /// plan's pools); only known when the unit starts.
    Resource(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Ref {
        slot: Slot,
        accessors: Vec<Accessor>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    pub segments: Vec<Segment>,
}

/// A template problem at a byte offset within the template string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub len: usize,
    pub message: String,
    pub hint: Option<String>,
}

/// The value a slot has for one unit.
pub trait Lookup {
    fn lookup(&self, slot: &Slot, out: &mut Vec<u8>);
}

impl Template {
    /// Parse `text`; `resolve` maps a name (the part before accessors, or the
    /// whole dotted name for `env.X`, `job.name`, ...) to a slot, or gives the
    /// hint to show when it is unknown.
    pub fn parse(
        text: &str,
        resolve: &dyn Fn(&str) -> Result<Slot, Option<String>>,
    ) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut lit = String::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'{' if bytes.get(i + 1) == Some(&b'{') => {
                    lit.push('{');
                    i += 2;
                }
                b'}' if bytes.get(i + 1) == Some(&b'}') => {
                    lit.push('}');
                    i += 2;
                }
                b'}' => {
                    return Err(TemplateError {
                        offset: i,
                        len: 1,
                        message: "unmatched `}` in template".into(),
                        hint: Some("write `}}` for a literal brace".into()),
                    });
                }
                b'{' => {
                    let Some(close) = text[i + 1..].find(['}', '{']).map(|j| i + 1 + j) else {
                        return Err(unclosed(i));
                    };
                    if bytes[close] == b'{' {
                        return Err(unclosed(i));
                    }
                    let inner = &text[i + 1..close];
                    let (slot, accessors) =
                        resolve_ref(inner, resolve).map_err(|(msg, hint)| TemplateError {
                            offset: i,
                            len: close + 1 - i,
                            message: msg,
                            hint,
                        })?;
                    if !lit.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut lit)));
                    }
                    segments.push(Segment::Ref { slot, accessors });
                    i = close + 1;
                }
                _ => {
                    // Copy the run up to the next brace in one go (keeps UTF-8 intact).
                    let next = text[i..].find(['{', '}']).map_or(text.len(), |j| i + j);
                    lit.push_str(&text[i..next]);
                    i = next;
                }
            }
        }
        if !lit.is_empty() {
            segments.push(Segment::Literal(lit));
        }
        Ok(Template { segments })
    }

    /// A template with no references.
    pub fn literal(text: &str) -> Template {
        Template {
            segments: if text.is_empty() {
                vec![]
            } else {
                vec![Segment::Literal(text.to_owned())]
            },
        }
    }

    pub fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Ref { slot, .. } => Some(slot),
            Segment::Literal(_) => None,
        })
    }

    /// Append the rendered template to `out`. With `quote`, every substituted
    /// value is shell-quoted (literal text is the user's own shell code).
    pub fn render_into(&self, cx: &dyn Lookup, quote: bool, out: &mut Vec<u8>) {
        let mut buf = Vec::new();
        for seg in &self.segments {
            match seg {
                Segment::Literal(s) => out.extend_from_slice(s.as_bytes()),
                Segment::Ref { slot, accessors } => {
                    buf.clear();
                    cx.lookup(slot, &mut buf);
                    let mut v: &[u8] = &buf;
                    for a in accessors {
                        v = a.apply(v);
                    }
                    if quote {
                        out.extend_from_slice(&shell_quote(v));
                    } else {
                        out.extend_from_slice(v);
                    }
                }
            }
        }
    }

    pub fn render(&self, cx: &dyn Lookup, quote: bool) -> Vec<u8> {
        let mut out = Vec::new();
        self.render_into(cx, quote, &mut out);
        out
    }
}

fn unclosed(i: usize) -> TemplateError {
    TemplateError {
        offset: i,
        len: 1,
        message: "unclosed `{` in template".into(),
        hint: Some("close it with `}`, or write `{{` for a literal brace".into()),
    }
}

type RefError = (String, Option<String>);

fn resolve_ref(
    inner: &str,
    resolve: &dyn Fn(&str) -> Result<Slot, Option<String>>,
) -> Result<(Slot, Vec<Accessor>), RefError> {
    let inner = inner.trim();
    if inner.is_empty() {
        return Err((
            "empty `{}` in template".into(),
            Some("write a name inside, like `{file}`, or `{{}}` for literal braces".into()),
        ));
    }
    let parts: Vec<&str> = inner.split('.').collect();
    // Dotted built-ins take two parts; everything else one.
    let head_len = match parts[0] {
        "env" | "job" | "task" | "unit" | "resource" if parts.len() >= 2 => 2,
        _ => 1,
    };
    let head = parts[..head_len].join(".");
    let slot =
        resolve(&head).map_err(|hint| (format!("unknown name `{head}` in template"), hint))?;
    let mut accessors = Vec::new();
    for acc in &parts[head_len..] {
        match Accessor::parse(acc) {
            Some(a) => accessors.push(a),
            None => {
                let names: Vec<&str> = Accessor::ALL.iter().map(|(n, _)| *n).collect();
                let hint = match crate::error::did_you_mean(acc, names.iter().copied()) {
                    Some(s) => format!("did you mean `.{s}`? accessors: .{}", names.join(", .")),
                    None => format!("accessors: .{}", names.join(", .")),
                };
                return Err((format!("unknown accessor `.{acc}` on `{head}`"), Some(hint)));
            }
        }
    }
    Ok((slot, accessors))
}

/// POSIX-shell-quote a value so it is one word and never code.
pub fn shell_quote(v: &[u8]) -> Vec<u8> {
    match shlex::bytes::try_quote(v) {
        Ok(q) => q.into_owned(),
        // A NUL byte cannot be passed to a process at all; single quotes
        // still keep the rest from being code.
        Err(_) => {
            let mut out = vec![b'\''];
            for &b in v.iter().filter(|&&b| b != 0) {
                if b == b'\'' {
                    out.extend_from_slice(b"'\\''");
                } else {
                    out.push(b);
                }
            }
            out.push(b'\'');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Cx;
    impl Lookup for Cx {
        fn lookup(&self, slot: &Slot, out: &mut Vec<u8>) {
            match slot {
                Slot::Var(0) => out.extend_from_slice(b"imgs"),
                Slot::Key(0) => out.extend_from_slice(b"imgs/a b.tar.gz"),
                Slot::Key(1) => out.extend_from_slice(b"$(touch pwned).jpg"),
                Slot::Env(n) => out.extend_from_slice(format!("ENV:{n}").as_bytes()),
                Slot::JobName => out.extend_from_slice(b"images"),
                Slot::Worker => out.extend_from_slice(b"3"),
                _ => out.extend_from_slice(b"?"),
            }
        }
    }

    fn resolve(name: &str) -> Result<Slot, Option<String>> {
        match name {
            "src" => Ok(Slot::Var(0)),
            "file" => Ok(Slot::Key(0)),
            "evil" => Ok(Slot::Key(1)),
            "job.name" => Ok(Slot::JobName),
            "worker" => Ok(Slot::Worker),
            n if n.starts_with("env.") => Ok(Slot::Env(n[4..].into())),
            _ => Err(Some("did you mean `file`?".into())),
        }
    }

    fn render(t: &str, quote: bool) -> String {
        let t = Template::parse(t, &resolve).unwrap();
        String::from_utf8(t.render(&Cx, quote)).unwrap()
    }

    #[test]
    fn renders_names_and_accessors() {
        let cases = [
            ("{src}/x", "imgs/x"),
            ("{file}", "imgs/a b.tar.gz"),
            ("{file.name}", "a b.tar.gz"),
            ("{file.stem}", "a b.tar"),
            ("{file.ext}", "gz"),
            ("{file.dir}", "imgs"),
            ("{file.noext}", "imgs/a b.tar"),
            ("{file.stem.stem}", "a b"),
            ("{file.dir.name}", "imgs"),
            ("{{literal}} {{{src}}}", "{literal} {imgs}"),
            ("{env.HOME}", "ENV:HOME"),
            ("{env.HOME.name}", "ENV:HOME"),
            ("{job.name}-{worker}", "images-3"),
            ("no refs", "no refs"),
            ("", ""),
            ("é{src}ü", "éimgsü"),
        ];
        for (t, want) in cases {
            assert_eq!(render(t, false), want, "{t}");
        }
    }

    #[test]
    fn quotes_values_in_shell_mode_only() {
        assert_eq!(
            render("cat {evil} > out", true),
            "cat '$(touch pwned).jpg' > out"
        );
        assert_eq!(render("echo {file.name}", true), "echo 'a b.tar.gz'");
        assert_eq!(render("echo {src}", true), "echo imgs");
    }

    #[test]
    fn errors_point_at_the_problem() {
        let cases = [
            ("x {nope} y", 2, "unknown name `nope` in template"),
            ("{file.stme}", 0, "unknown accessor `.stme` on `file`"),
            ("a { b", 2, "unclosed `{` in template"),
            ("a {b {file}", 2, "unclosed `{` in template"),
            ("a } b", 2, "unmatched `}` in template"),
            ("{}", 0, "empty `{}` in template"),
        ];
        for (t, offset, msg) in cases {
            let e = Template::parse(t, &resolve).unwrap_err();
            assert_eq!((e.offset, e.message.as_str()), (offset, msg), "{t}");
        }
        let e = Template::parse("{file.stme}", &resolve).unwrap_err();
        assert!(e.hint.unwrap().contains("did you mean `.stem`?"));
    }

    #[test]
    fn shell_quote_handles_hostile_bytes() {
        assert_eq!(shell_quote(b"plain"), b"plain");
        assert_eq!(shell_quote(b"it's"), b"\"it's\"".to_vec());
        assert_eq!(shell_quote(b"-rf"), b"-rf".to_vec());
        assert_eq!(shell_quote(b"a\0b"), b"'ab'".to_vec());
    }
}
