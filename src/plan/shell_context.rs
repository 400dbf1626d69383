//! The quoting context of each placeholder in a `shell` template.
//!
//! A small lexer for POSIX sh (and the bash, ksh and zsh syntax that changes
//! quoting) reads the literal text of the template once, at parse time, and
//! gives every placeholder a [`Quoting`]: unquoted, inside `"..."`, inside
//! `'...'`, in a comment, in arithmetic `$((...))`, each possibly inside
//! `` `...` ``. `$( )` starts a fresh unquoted context, also inside double
//! quotes.
//!
//! Where no quoting can make the value read back as exactly its bytes
//! (inside `${...}`, a here-document, right after `$` or `\`) the
//! placeholder is refused with an error at its offset. The lexer is
//! conservative: after text whose reading differs between shells or that it
//! does not follow (`$'\''`, quotes inside `${...}`, `case` inside `$( )`),
//! every later placeholder is refused rather than guessed at; and a template
//! with placeholders whose quotes or substitutions are left open at the end
//! is refused too.

use super::quoting::{Context, Quoting};
use super::template::TemplateError;

/// The template text as the shell will see it: `{{` is a `{`, a placeholder
/// is a hole. `at` and `len` locate the token in the template text.
#[derive(Debug, Clone, Copy)]
struct Token {
    at: usize,
    len: usize,
    tok: Tok,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Byte(u8),
    Hole,
}

#[derive(Debug)]
enum Frame {
    /// Shell code: the whole string, or the inside of `$( )` opened at `subst`.
    Code {
        subst: Option<usize>,
        /// Open `(` inside this `$( )`.
        depth: u32,
        /// At a place where a new word begins, so `#` starts a comment.
        word_start: bool,
        /// Token index where the current word began.
        word: Option<usize>,
    },
    Double {
        at: usize,
        /// `$"..."`: bash looks the text up in a message catalog.
        locale: bool,
    },
    Single {
        at: usize,
    },
}

#[derive(Debug)]
struct HereDoc {
    delimiter: Vec<u8>,
    strip_tabs: bool,
    quoted: bool,
}

/// One [`Quoting`] per placeholder of `text` (a template that
/// [`super::template::Template::parse`] accepted), in order.
pub fn scan(text: &str) -> Result<Vec<Quoting>, TemplateError> {
    let toks = tokenize(text);
    let mut out = Vec::new();
    Lexer::new(text, &toks, false, &mut out).run()?;
    Ok(out)
}

fn tokenize(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut toks = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let (len, tok) = match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => (2, Tok::Byte(b'{')),
            b'}' if bytes.get(i + 1) == Some(&b'}') => (2, Tok::Byte(b'}')),
            b'{' => {
                let close = bytes[i..].iter().position(|&b| b == b'}');
                (close.map_or(bytes.len() - i, |c| c + 1), Tok::Hole)
            }
            b => (1, Tok::Byte(b)),
        };
        toks.push(Token { at: i, len, tok });
        i += len;
    }
    toks
}

struct Lexer<'a> {
    text: &'a str,
    toks: &'a [Token],
    pos: usize,
    in_backticks: bool,
    out: &'a mut Vec<Quoting>,
    frames: Vec<Frame>,
    here_docs: Vec<HereDoc>,
    /// The last token was an unquoted `~`.
    tilde: bool,
    /// Text this lexer cannot follow: refuse every later placeholder.
    lost: Option<&'static str>,
    /// A `${`, `$((`, `$'` or backtick left open at the end: (offset,
    /// length, shown).
    open: Option<(usize, usize, &'static str)>,
}

const ENV_HINT: &str =
    "or pass the value through `env` (`env = { F = \"{f}\" }`) and write `\"$F\"`";

impl<'a> Lexer<'a> {
    fn new(
        text: &'a str,
        toks: &'a [Token],
        in_backticks: bool,
        out: &'a mut Vec<Quoting>,
    ) -> Self {
        Lexer {
            text,
            toks,
            pos: 0,
            in_backticks,
            out,
            frames: vec![Frame::Code {
                subst: None,
                depth: 0,
                word_start: true,
                word: None,
            }],
            here_docs: Vec::new(),
            tilde: false,
            lost: None,
            open: None,
        }
    }

    fn run(mut self) -> Result<(), TemplateError> {
        while self.pos < self.toks.len() {
            if let Some(reason) = self.lost {
                return match self.toks[self.pos..].iter().find(|t| t.tok == Tok::Hole) {
                    Some(&h) => Err(self.refuse(
                        h,
                        &format!("cannot tell how to quote `{}`: {reason}", self.name(h)),
                        &format!("simplify the shell text before it, {ENV_HINT}"),
                    )),
                    None => Ok(()),
                };
            }
            match self.frames.last() {
                Some(Frame::Code { .. }) => self.code()?,
                Some(Frame::Double { .. }) => self.double()?,
                Some(Frame::Single { .. }) => self.single(),
                None => unreachable!("the outermost frame is never popped"),
            }
        }
        self.finish()
    }

    /// Open quotes or substitutions at the end: the shell would fail, and the
    /// contexts found may not be the shell's.
    fn finish(&self) -> Result<(), TemplateError> {
        let open = match self.frames.last() {
            Some(Frame::Double { at, locale }) => Some((*at, 1 + usize::from(*locale), "`\"`")),
            Some(Frame::Single { at }) => Some((*at, 1, "`'`")),
            Some(Frame::Code {
                subst: Some(at), ..
            }) => Some((*at, 2, "`$(`")),
            _ => self.open,
        };
        let holes = self.toks.iter().any(|t| t.tok == Tok::Hole);
        match open {
            Some((at, len, what)) if holes && self.lost.is_none() => Err(TemplateError {
                offset: at,
                len,
                message: format!("unterminated {what} in a shell command with placeholders"),
                hint: Some(
                    "close it: jobrun reads the shell text to quote each value for where it stands"
                        .into(),
                ),
            }),
            _ => Ok(()),
        }
    }

    fn name(&self, t: Token) -> &'a str {
        &self.text[t.at..t.at + t.len]
    }

    fn refuse(&self, t: Token, message: &str, hint: &str) -> TemplateError {
        TemplateError {
            offset: t.at,
            len: t.len,
            message: message.to_owned(),
            hint: Some(hint.replace("{f}", self.name(t))),
        }
    }

    fn quoting(&self, context: Context) -> Quoting {
        Quoting {
            context,
            in_backticks: self.in_backticks,
        }
    }

    fn peek(&self) -> Option<Token> {
        self.toks.get(self.pos).copied()
    }

    fn peek_byte(&self) -> Option<u8> {
        match self.peek()?.tok {
            Tok::Byte(b) => Some(b),
            Tok::Hole => None,
        }
    }

    fn code_frame(&mut self) -> (&mut bool, &mut Option<usize>) {
        match self.frames.last_mut() {
            Some(Frame::Code {
                word_start, word, ..
            }) => (word_start, word),
            _ => unreachable!("called in a code frame"),
        }
    }

    /// The token before `pos` continues (or starts) a word.
    fn word_char(&mut self) {
        let start = self.pos - 1;
        if let Some(Frame::Code {
            word_start, word, ..
        }) = self.frames.last_mut()
        {
            *word_start = false;
            word.get_or_insert(start);
        }
    }

    /// The token before `pos` ends a word.
    fn word_end(&mut self) {
        let end = self.pos - 1;
        let toks = self.toks;
        let in_subst = matches!(self.frames.last(), Some(Frame::Code { subst: Some(_), .. }));
        let (word_start, word) = self.code_frame();
        *word_start = true;
        if let Some(begin) = word.take() {
            let spelled: Option<Vec<u8>> = toks[begin..end]
                .iter()
                .map(|t| match t.tok {
                    Tok::Byte(b) => Some(b),
                    Tok::Hole => None,
                })
                .collect();
            // A `case` pattern's `)` would look like the end of the `$( )`.
            if in_subst && spelled.as_deref() == Some(b"case") {
                self.lost = Some("`case` inside `$( )` (its patterns end in `)`)");
            }
        }
    }

    fn code(&mut self) -> Result<(), TemplateError> {
        let t = self.toks[self.pos];
        let tilde = std::mem::take(&mut self.tilde);
        self.pos += 1;
        let Tok::Byte(b) = t.tok else {
            if tilde {
                return Err(self.refuse(
                    t,
                    &format!(
                        "`~` right before `{}`: whether the shell expands it would depend on the value",
                        self.name(t)
                    ),
                    "write `~/{f}` or `\"$HOME\"/{f}`, or quote the tilde: `'~'{f}`",
                ));
            }
            self.out.push(self.quoting(Context::Unquoted));
            self.word_char();
            return Ok(());
        };
        let word_start = *self.code_frame().0;
        match b {
            b'\\' => match self.peek() {
                Some(Token { tok: Tok::Hole, .. }) => return Err(self.after_backslash()),
                // A line continuation: the two bytes vanish.
                Some(Token {
                    tok: Tok::Byte(b'\n'),
                    ..
                }) => self.pos += 1,
                Some(_) => {
                    self.pos += 1;
                    self.word_char();
                }
                None => self.word_char(),
            },
            b'\'' => {
                self.word_char();
                self.frames.push(Frame::Single { at: t.at });
            }
            b'"' => {
                self.word_char();
                self.frames.push(Frame::Double {
                    at: t.at,
                    locale: false,
                });
            }
            b'`' => {
                self.word_char();
                self.backticks(t.at, false)?;
            }
            b'$' => {
                self.word_char();
                self.dollar(t.at, false)?;
            }
            b'#' if word_start => self.comment(),
            b'\n' => {
                self.word_end();
                self.here_doc_bodies()?;
            }
            b' ' | b'\t' | b';' | b'&' | b'|' | b'>' => self.word_end(),
            b'(' => {
                self.word_end();
                if word_start && self.peek_byte() == Some(b'(') {
                    // bash's `(( ... ))` arithmetic command.
                    self.pos += 1;
                    self.arithmetic(t.at)?;
                } else if let Some(Frame::Code {
                    subst: Some(_),
                    depth,
                    ..
                }) = self.frames.last_mut()
                {
                    *depth += 1;
                }
            }
            b')' => {
                self.word_end();
                if let Some(Frame::Code {
                    subst: Some(_),
                    depth,
                    ..
                }) = self.frames.last_mut()
                {
                    if *depth == 0 {
                        self.frames.pop();
                        self.word_char();
                    } else {
                        *depth -= 1;
                    }
                }
            }
            b'<' => {
                self.word_end();
                if self.peek_byte() == Some(b'<') {
                    self.pos += 1;
                    match self.peek_byte() {
                        // `<<<`: a here-string, an ordinary word follows.
                        Some(b'<') => self.pos += 1,
                        Some(b'-') => {
                            self.pos += 1;
                            self.here_doc_word(true)?;
                        }
                        _ => self.here_doc_word(false)?,
                    }
                }
            }
            b'~' => {
                self.word_char();
                self.tilde = true;
            }
            _ => self.word_char(),
        }
        Ok(())
    }

    fn double(&mut self) -> Result<(), TemplateError> {
        let t = self.toks[self.pos];
        self.pos += 1;
        let locale = matches!(self.frames.last(), Some(Frame::Double { locale: true, .. }));
        let Tok::Byte(b) = t.tok else {
            if locale {
                return Err(self.refuse(
                    t,
                    &format!(
                        "`{}` inside `$\"...\"`: bash would look the text up in a message catalog",
                        self.name(t)
                    ),
                    "use plain double quotes: `\"{f}\"`",
                ));
            }
            self.out.push(self.quoting(Context::DoubleQuoted));
            return Ok(());
        };
        match b {
            b'"' => {
                self.frames.pop();
            }
            b'\\' => match self.peek() {
                Some(Token { tok: Tok::Hole, .. }) => return Err(self.after_backslash()),
                Some(_) => self.pos += 1,
                None => {}
            },
            b'$' => self.dollar(t.at, true)?,
            b'`' => self.backticks(t.at, true)?,
            _ => {}
        }
        Ok(())
    }

    fn single(&mut self) {
        let t = self.toks[self.pos];
        self.pos += 1;
        match t.tok {
            Tok::Hole => self.out.push(self.quoting(Context::SingleQuoted)),
            Tok::Byte(b'\'') => {
                self.frames.pop();
            }
            Tok::Byte(_) => {}
        }
    }

    fn after_backslash(&self) -> TemplateError {
        let h = self.toks[self.pos];
        self.refuse(
            h,
            &format!(
                "`{}` right after a backslash: the backslash would escape the quoting of the value",
                self.name(h)
            ),
            "remove the backslash, or quote it: `'\\'{f}`",
        )
    }

    fn dollar_before(&self, hole: Token) -> TemplateError {
        self.refuse(
            hole,
            &format!(
                "`$` right before `{}`: the shell would join them into a variable or a `$'...'` string",
                self.name(hole)
            ),
            "for a shell variable write `${{NAME}}`; for a literal `$` before the value, quote it: `'$'{f}`",
        )
    }

    /// After a `$` (at `at`).
    fn dollar(&mut self, at: usize, in_double: bool) -> Result<(), TemplateError> {
        let Some(next) = self.peek() else {
            return Ok(());
        };
        let Tok::Byte(b) = next.tok else {
            return Err(self.dollar_before(next));
        };
        match b {
            b'(' => {
                self.pos += 1;
                if self.peek_byte() == Some(b'(') {
                    self.pos += 1;
                    self.arithmetic(at)?;
                } else {
                    self.frames.push(Frame::Code {
                        subst: Some(at),
                        depth: 0,
                        word_start: true,
                        word: None,
                    });
                }
            }
            b'{' => {
                self.pos += 1;
                self.parameter(at)?;
            }
            b'\'' if !in_double => {
                self.pos += 1;
                self.ansi_c(at)?;
            }
            b'"' if !in_double => {
                self.pos += 1;
                self.frames.push(Frame::Double { at, locale: true });
            }
            // bash's old arithmetic; literal text in dash.
            b'[' => self.lost = Some("`$[` (read differently by bash and dash)"),
            // `$#` is not a comment, `$$` not the start of another expansion.
            b'#' | b'?' | b'$' | b'!' | b'@' | b'*' | b'-' | b'0'..=b'9' => self.pos += 1,
            _ => {}
        }
        Ok(())
    }

    /// Inside `${`, up to its `}`.
    fn parameter(&mut self, at: usize) -> Result<(), TemplateError> {
        let mut depth = 1u32;
        while let Some(t) = self.peek() {
            self.pos += 1;
            match t.tok {
                Tok::Hole => {
                    return Err(self.refuse(
                        t,
                        &format!(
                            "`{}` inside `${{...}}`: jobrun cannot quote a value inside a parameter expansion",
                            self.name(t)
                        ),
                        &format!(
                            "set a shell variable first and expand that: `v={{f}}; echo \"${{{{x:-$v}}}}\"`, {ENV_HINT}"
                        ),
                    ));
                }
                Tok::Byte(b'{') => depth += 1,
                Tok::Byte(b'}') => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Tok::Byte(b'\'' | b'"' | b'`' | b'\\') => {
                    self.lost = Some("quotes inside `${...}` (shells read them differently)");
                    return Ok(());
                }
                Tok::Byte(b'$') if self.peek_byte() == Some(b'(') => {
                    self.lost = Some("`$(` inside `${...}`");
                    return Ok(());
                }
                Tok::Byte(_) => {}
            }
        }
        self.open = Some((at, 2, "`${`"));
        Ok(())
    }

    /// Inside `$((` or `((` (at `at`), up to the matching `))`. A value there
    /// is evaluated as an expression: it must be an integer, which the
    /// planner checks for every unit.
    fn arithmetic(&mut self, at: usize) -> Result<(), TemplateError> {
        let mut depth = 2u32;
        let mut dollar = false;
        while let Some(t) = self.peek() {
            self.pos += 1;
            let after_dollar = std::mem::replace(&mut dollar, t.tok == Tok::Byte(b'$'));
            match t.tok {
                Tok::Hole if after_dollar => return Err(self.dollar_before(t)),
                Tok::Hole => self.out.push(self.quoting(Context::Arithmetic)),
                Tok::Byte(b'(') => depth += 1,
                Tok::Byte(b')') => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                Tok::Byte(b'\'' | b'"' | b'`' | b'\\') => {
                    self.lost = Some("quotes inside arithmetic `((...))`");
                    return Ok(());
                }
                Tok::Byte(_) => {}
            }
        }
        self.open = Some((at, 2, "`((`"));
        Ok(())
    }

    /// Inside `$'`, up to its `'`.
    fn ansi_c(&mut self, at: usize) -> Result<(), TemplateError> {
        while let Some(t) = self.peek() {
            self.pos += 1;
            match t.tok {
                Tok::Hole => {
                    return Err(self.refuse(
                        t,
                        &format!(
                            "`{}` inside `$'...'`: bash reads backslash escapes there, dash does not",
                            self.name(t)
                        ),
                        "use plain quotes: `'{f}'` or `\"{f}\"`",
                    ));
                }
                Tok::Byte(b'\\') => {
                    if self.peek_byte() == Some(b'\'') {
                        self.lost = Some(
                            "`\\'` inside `$'...'` (bash and dash end the string at different places)",
                        );
                        return Ok(());
                    }
                    if self.peek_byte().is_some() {
                        self.pos += 1;
                    }
                }
                Tok::Byte(b'\'') => return Ok(()),
                Tok::Byte(_) => {}
            }
        }
        self.open = Some((at, 2, "`$'`"));
        Ok(())
    }

    /// From a `#` that starts a word to the end of the line.
    fn comment(&mut self) {
        while let Some(t) = self.peek() {
            match t.tok {
                Tok::Byte(b'\n') => return,
                Tok::Byte(_) => {}
                Tok::Hole => self.out.push(self.quoting(Context::Comment)),
            }
            self.pos += 1;
        }
    }

    /// Inside `` ` `` (opened at `at`): the shell finds the closing backtick
    /// first (the first one not escaped, whatever the quotes), removes one
    /// backslash before `\`, `` ` `` and `$` (and `"` within double quotes),
    /// then parses what is left: so does this lexer.
    fn backticks(&mut self, at: usize, in_double: bool) -> Result<(), TemplateError> {
        let mut inner = Vec::new();
        let mut closed = false;
        while let Some(t) = self.peek() {
            self.pos += 1;
            match t.tok {
                Tok::Byte(b'`') => {
                    closed = true;
                    break;
                }
                Tok::Byte(b'\\') => match self.peek() {
                    Some(Token {
                        len,
                        tok: Tok::Byte(c @ (b'\\' | b'`' | b'$' | b'"')),
                        ..
                    }) if c != b'"' || in_double => {
                        self.pos += 1;
                        inner.push(Token {
                            at: t.at,
                            len: t.len + len,
                            tok: Tok::Byte(c),
                        });
                    }
                    _ => inner.push(t),
                },
                _ => inner.push(t),
            }
        }
        if !closed {
            self.open = Some((at, 1, "`` ` ``"));
        }
        let Some(&hole) = inner.iter().find(|t| t.tok == Tok::Hole) else {
            return Ok(());
        };
        if in_double || self.in_backticks {
            let place = if in_double {
                "backticks within double quotes"
            } else {
                "nested backticks"
            };
            return Err(self.refuse(
                hole,
                &format!(
                    "`{}` inside {place}: shells differ on how quotes nest there",
                    self.name(hole)
                ),
                "use `$( )` instead of backticks: `\"$(cmd {f})\"`",
            ));
        }
        Lexer::new(self.text, &inner, true, &mut *self.out).run()
    }

    /// After `<<` or `<<-`: the delimiter word.
    fn here_doc_word(&mut self, strip_tabs: bool) -> Result<(), TemplateError> {
        while matches!(self.peek_byte(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        let mut delimiter = Vec::new();
        let mut quoted = false;
        let mut quote: Option<u8> = None;
        while let Some(t) = self.peek() {
            let Tok::Byte(b) = t.tok else {
                return Err(self.refuse(
                    t,
                    &format!("`{}` in a here-document delimiter", self.name(t)),
                    "write the delimiter literally, like `<<EOF`",
                ));
            };
            match (quote, b) {
                (None, b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>') => {
                    break;
                }
                (None | Some(b'"'), b'$' | b'`') => {
                    self.lost = Some("an expansion in a here-document delimiter");
                    return Ok(());
                }
                (None, b'\'' | b'"') => {
                    quote = Some(b);
                    quoted = true;
                }
                (Some(q), _) if q == b => quote = None,
                (None | Some(b'"'), b'\\') => {
                    quoted = true;
                    self.pos += 1;
                    match self.peek_byte() {
                        Some(c) => delimiter.push(c),
                        None => continue,
                    }
                }
                _ => delimiter.push(b),
            }
            self.pos += 1;
        }
        if delimiter.is_empty() || quote.is_some() {
            self.lost = Some("a here-document delimiter it cannot read");
            return Ok(());
        }
        self.here_docs.push(HereDoc {
            delimiter,
            strip_tabs,
            quoted,
        });
        self.word_char();
        Ok(())
    }

    /// After the newline that ends a line with `<<` on it: the bodies, up to
    /// their delimiter lines.
    fn here_doc_bodies(&mut self) -> Result<(), TemplateError> {
        for doc in std::mem::take(&mut self.here_docs) {
            while self.pos < self.toks.len() {
                let rest = &self.toks[self.pos..];
                let end = rest
                    .iter()
                    .position(|t| t.tok == Tok::Byte(b'\n'))
                    .unwrap_or(rest.len());
                let mut line = &rest[..end];
                if doc.strip_tabs {
                    let tabs = line
                        .iter()
                        .take_while(|t| t.tok == Tok::Byte(b'\t'))
                        .count();
                    line = &line[tabs..];
                }
                self.pos += (end + 1).min(rest.len());
                if line.len() == doc.delimiter.len()
                    && line
                        .iter()
                        .zip(&doc.delimiter)
                        .all(|(t, &d)| t.tok == Tok::Byte(d))
                {
                    break;
                }
                if let Some(&h) = line.iter().find(|t| t.tok == Tok::Hole) {
                    return Err(self.refuse(
                        h,
                        &format!(
                            "`{}` inside a here-document: a value holding the delimiter line would end it early",
                            self.name(h)
                        ),
                        "pipe the value in instead: `printf '%s\\n' {f} | cmd`",
                    ));
                }
                // bash and dash join the next line to this one before they
                // compare it with the delimiter.
                if !doc.quoted && line.last().is_some_and(|t| t.tok == Tok::Byte(b'\\')) {
                    self.lost = Some("a here-document line ending in `\\`");
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(text: &str) -> bool {
        super::super::template::Template::parse(text, &|_| {
            Ok(super::super::template::Slot::JobName)
        })
        .is_ok()
    }

    /// The contexts of `text`'s placeholders, one letter each: `u`nquoted,
    /// `d`ouble, `s`ingle, `c`omment; `b` before it for backticks.
    fn contexts(text: &str) -> String {
        assert!(valid(text), "{text} is not a template");
        let found = scan(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        found
            .iter()
            .map(|q| {
                let c = match q.context {
                    Context::Unquoted => "u",
                    Context::DoubleQuoted => "d",
                    Context::SingleQuoted => "s",
                    Context::Comment => "c",
                    Context::Arithmetic => "a",
                };
                if q.in_backticks {
                    format!("b{c}")
                } else {
                    c.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn finds_the_context_of_each_placeholder() {
        let cases = [
            (
                "convert {file} -resize {size}x{size} {out}/{file.stem}.png",
                "u u u u u",
            ),
            ("echo \"{x}\"", "d"),
            ("echo '{x}'", "s"),
            ("for f in {a} {b}; do echo \"$f\"; done", "u u"),
            ("cd {dir} && make", "u"),
            ("X=\"$(basename {f})\"", "u"),
            ("Y=\"{f.name}\"; echo \"$Y\"", "d"),
            ("echo \"a $(echo \"{x}\" '{y}') {z}\"", "d s d"),
            ("echo \"it's {x}\" 'say \"{y}\"'", "d s"),
            (
                "echo `basename {f}` `echo '{g}'` `echo \"{h}\"`",
                "bu bs bd",
            ),
            ("echo `echo \\`date\\`` {x}", "u"),
            ("echo `printf '%s\\\\n' {x}`", "bu"),
            ("test ! -e broken # v{v}", "c"),
            ("echo a#{x} $#{y} ${{#z}}{w}", "u u u"),
            ("echo hi # {x} \"\nls {y}", "c u"),
            ("echo {x} ;# {y}\necho {z}", "u c u"),
            ("x=$(echo a # ) {x}\n) {y}", "c u"),
            ("cat <<EOF > {out}\nbody $HOME\nEOF\necho {x}", "u u"),
            ("cat <<'EOF'\n'\nEOF\necho {x}", "u"),
            ("cat <<-EOF\n\t\"\n\tEOF\necho {x}", "u"),
            ("cat <<< {x}", "u"),
            ("echo ${{HOME:-/}} ${{x%.*}} {f}", "u"),
            ("echo $((1 + 2)) {f}", "u"),
            ("(( i++ )); echo {f}", "u"),
            ("echo \"$(( {a} % (2 + {b}) ))\" {c}", "a a u"),
            ("(( {a} > 2 )) && echo `expr $(({b}))`", "a ba"),
            ("case {x} in a) echo {y};; esac", "u u"),
            ("echo \\\"{x}\\\"", "u"),
            ("echo \\\n{x}", "u"),
            ("echo $'a\\tb' {x}", "u"),
            ("diff <(sort {a}) >(cat {b})", "u u"),
            ("echo ~/{f} {{a,b}}", "u"),
            ("f() {{ echo {x}; }}; f", "u"),
            ("echo \"$(printf '%s' \"$(echo {x})\")\"", "u"),
            ("echo unterminated \"but no placeholders", ""),
            ("", ""),
        ];
        for (text, want) in cases {
            assert_eq!(contexts(text), want, "{text}");
        }
    }

    #[test]
    fn refuses_where_no_quoting_is_safe() {
        let cases = [
            ("echo ${{x:-{v}}}", "{v}", "inside `${...}`"),
            ("echo \"${{x:-{v}}}\"", "{v}", "inside `${...}`"),
            ("echo $(( $x + ${v} ))", "{v}", "`$` right before"),
            ("echo ${v}", "{v}", "`$` right before"),
            ("echo \"${v}\"", "{v}", "`$` right before"),
            ("echo \\{v}", "{v}", "right after a backslash"),
            ("echo \"\\{v}\"", "{v}", "right after a backslash"),
            ("echo ~{v}", "{v}", "`~` right before"),
            ("echo $'{v}'", "{v}", "inside `$'...'`"),
            ("echo $\"{v}\"", "{v}", "inside `$\"...\"`"),
            (
                "echo \"`echo {v}`\"",
                "{v}",
                "backticks within double quotes",
            ),
            ("echo `echo \\`echo {v}\\``", "{v}", "nested backticks"),
            ("cat <<EOF\n{v}\nEOF", "{v}", "inside a here-document"),
            ("cat <<'EOF'\nx {v}\nEOF", "{v}", "inside a here-document"),
            ("cat <<{v}\nx\n", "{v}", "here-document delimiter"),
            (
                "echo $'it\\'s' {v}",
                "{v}",
                "cannot tell how to quote `{v}`",
            ),
            ("echo ${{x:-'}}'}} {v}", "{v}", "cannot tell"),
            ("x=$(case a in a) echo;; esac) {v}", "{v}", "cannot tell"),
            ("cat <<E\na\\\nE\nE\n{v}", "{v}", "cannot tell"),
            ("echo $[1+1] {v}", "{v}", "cannot tell"),
        ];
        for (text, hole, msg) in cases {
            assert!(valid(text), "{text} is not a template");
            let e = scan(text).expect_err(text);
            assert_eq!(&text[e.offset..e.offset + e.len], hole, "{text}");
            assert!(e.message.contains(msg), "{text}: {}", e.message);
            assert!(e.hint.is_some(), "{text}");
        }
    }

    #[test]
    fn refuses_open_quotes_only_with_placeholders() {
        let cases = [
            ("echo {x} \"oops", 9, "`\"`"),
            ("echo '{x}", 5, "`'`"),
            ("echo $(ls {x}", 5, "`$(`"),
            ("echo `ls {x}", 5, "`` ` ``"),
            ("echo {x} ${{y", 9, "`${`"),
            ("echo {x} $((1", 9, "`((`"),
            ("echo {x} $'a", 9, "`$'`"),
        ];
        for (text, offset, what) in cases {
            let e = scan(text).expect_err(text);
            assert_eq!(e.offset, offset, "{text}");
            assert_eq!(
                e.message,
                format!("unterminated {what} in a shell command with placeholders"),
                "{text}"
            );
        }
        assert!(scan("echo 'no placeholder").is_ok());
    }
}
