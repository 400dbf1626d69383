//! Templates: `{name}`, `{name.accessor...}`, `{{` and `}}`.
//!
//! A template is parsed once per task field and its names resolved against
//! the task's scope, so an unknown name is a plan-time error and rendering a
//! unit cannot fail. A `shell` template also learns, once, how each
//! placeholder is quoted ([`Template::parse_shell`]).

use std::ops::Range;

use super::quoting::is_integer;
use super::shell_context;
use super::value::Accessor;

pub use super::quoting::{Context, Quoting, shell_quote};

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
        /// How the value is quoted when rendered with `quote`; unquoted
        /// unless the template was parsed with [`Template::parse_shell`].
        quoting: Quoting,
        /// Where `{...}` is in the template text.
        span: Range<usize>,
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
                    segments.push(Segment::Ref {
                        slot,
                        accessors,
                        quoting: Quoting::default(),
                        span: i..close + 1,
                    });
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

    /// Parse a `shell` template: as [`Template::parse`], and each placeholder
    /// learns its quoting context from the shell text around it; a
    /// placeholder no quoting can make safe is an error at its offset.
    pub fn parse_shell(
        text: &str,
        resolve: &dyn Fn(&str) -> Result<Slot, Option<String>>,
    ) -> Result<Template, TemplateError> {
        let mut t = Template::parse(text, resolve).map_err(|e| shell_brace_hint(text, e))?;
        let found = shell_context::scan(text)?;
        debug_assert_eq!(
            found.len(),
            t.slots().count(),
            "one quoting per placeholder"
        );
        let refs = t.segments.iter_mut().filter_map(|seg| match seg {
            Segment::Ref { quoting, .. } => Some(quoting),
            Segment::Literal(_) => None,
        });
        for (quoting, q) in refs.zip(found) {
            *quoting = q;
        }
        Ok(t)
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

    /// The first placeholder inside shell arithmetic whose value for `cx` is
    /// not an integer: where it is in the text, and the value.
    pub fn non_integer(&self, cx: &dyn Lookup) -> Option<(Range<usize>, Vec<u8>)> {
        self.segments.iter().find_map(|seg| match seg {
            Segment::Ref {
                slot,
                accessors,
                quoting,
                span,
            } if quoting.context == Context::Arithmetic => {
                let mut buf = Vec::new();
                cx.lookup(slot, &mut buf);
                let v = accessors.iter().fold(&buf[..], |v, a| a.apply(v));
                (!is_integer(v)).then(|| (span.clone(), v.to_vec()))
            }
            _ => None,
        })
    }

    /// Append the rendered template to `out`. With `quote`, every substituted
    /// value is shell-quoted for its context (literal text is the user's own
    /// shell code).
    pub fn render_into(&self, cx: &dyn Lookup, quote: bool, out: &mut Vec<u8>) {
        let mut buf = Vec::new();
        for seg in &self.segments {
            match seg {
                Segment::Literal(s) => out.extend_from_slice(s.as_bytes()),
                Segment::Ref {
                    slot,
                    accessors,
                    quoting,
                    ..
                } => {
                    buf.clear();
                    cx.lookup(slot, &mut buf);
                    let mut v: &[u8] = &buf;
                    for a in accessors {
                        v = a.apply(v);
                    }
                    if quote {
                        quoting.quote_into(v, out);
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

/// `${d}` in a shell string is almost always the shell's own expansion,
/// not a jobrun name: say how to write it, before any suggestion.
fn shell_brace_hint(text: &str, mut e: TemplateError) -> TemplateError {
    let at_dollar_brace = e.offset > 0
        && text.as_bytes()[e.offset - 1] == b'$'
        && text.as_bytes().get(e.offset) == Some(&b'{')
        && e.len >= 2;
    if !at_dollar_brace || e.message.starts_with("unclosed") {
        return e;
    }
    let inner = &text[e.offset + 1..e.offset + e.len - 1];
    let mut hint = format!(
        "`{{{{` and `}}}}` write literal braces: for the shell's own `${{{inner}}}`, write `${{{{{inner}}}}}`"
    );
    if let Some(h) = e.hint.as_deref().filter(|h| h.starts_with("did you mean")) {
        // Keep the suggestion (`${ot}` may be a typo of var `out`), not the list.
        let suggestion = h.split_once('?').map_or(h, |(s, _)| s);
        hint.push_str("; or, for a jobrun name, ");
        hint.push_str(suggestion);
        hint.push('?');
    }
    e.hint = Some(hint);
    e
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
            n if n.starts_with("fi") => Err(Some("did you mean `file`? known: ...".into())),
            _ => Err(Some("known: ...".into())),
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
    fn shell_templates_quote_each_value_for_its_context() {
        let t =
            Template::parse_shell("Y=\"{evil}\"; echo '{evil}' {evil} # {file}", &resolve).unwrap();
        assert_eq!(
            String::from_utf8(t.render(&Cx, true)).unwrap(),
            "Y=\"\"'$'\"(touch pwned).jpg\"; echo '$(touch pwned).jpg' '$(touch pwned).jpg' # 'imgs/a b.tar.gz'"
        );
        // Unquoted, as before, for templates that are not `shell`.
        let t = Template::parse("Y=\"{evil}\"", &resolve).unwrap();
        assert_eq!(t.render(&Cx, true), b"Y=\"'$(touch pwned).jpg'\"");
        let e = Template::parse_shell("echo ${{x:-{file}}}", &resolve).unwrap_err();
        assert_eq!((e.offset, e.len), (11, 6));
        // Template syntax errors come first.
        let e = Template::parse_shell("echo ${x:-{file}}", &resolve).unwrap_err();
        assert_eq!(e.message, "unclosed `{` in template");
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
    fn a_dollar_brace_in_shell_says_how_to_write_it() {
        let cases = [
            (
                "echo ${d}",
                Some(
                    "`{{` and `}}` write literal braces: for the shell's own `${d}`, write `${{d}}`",
                ),
            ),
            (
                "echo ${fil}",
                Some(
                    "`{{` and `}}` write literal braces: for the shell's own `${fil}`, write \
                     `${{fil}}`; or, for a jobrun name, did you mean `file`?",
                ),
            ),
            // Not after `$`: the resolver's own hint stays.
            ("echo {d}", None),
        ];
        for (text, want) in cases {
            let e = Template::parse_shell(text, &resolve).unwrap_err();
            match want {
                Some(w) => assert_eq!(e.hint.as_deref(), Some(w), "{text}"),
                None => assert!(
                    !e.hint.unwrap_or_default().contains("literal braces"),
                    "{text}"
                ),
            }
        }
        // Outside `shell` there is no shell to speak of.
        let e = Template::parse("${d}", &resolve).unwrap_err();
        assert!(!e.hint.unwrap_or_default().contains("shell"));
    }
}
