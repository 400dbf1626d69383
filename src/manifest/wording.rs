//! Serde's type errors in the manifest's words: `invalid type: integer `1`,
//! expected a sequence` becomes "`inputs` must be an array of paths, like
//! `["{file}"]`, not `1`". No Rust type name (`u32`, `i128`, `map`,
//! `sequence`, `struct`) reaches the user.

use std::ops::Range;

/// A message with its label and hint.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Words {
    pub message: String,
    pub label: Option<String>,
    pub help: Option<String>,
}

/// Where a type error points.
pub(super) struct Place<'a> {
    pub text: &'a str,
    pub span: Range<usize>,
    /// The `[table]` header above, or "the top level".
    pub header: &'a str,
    /// The key the value belongs to, as written (`retries`, `env.k.k`).
    pub key: Option<&'a str>,
}

impl Place<'_> {
    fn at(&self) -> &str {
        self.text.get(self.span.clone()).unwrap_or("").trim()
    }

    /// Where the span's line starts.
    fn line_start(&self) -> usize {
        let before = self.text.get(..self.span.start).unwrap_or("");
        before.rfind('\n').map_or(0, |i| i + 1)
    }
}

/// What the user wrote, as serde describes it.
enum Found {
    /// An integer past 64 bits.
    TooLarge(String),
    Other(String),
}

/// The words for a serde type error, or None for other messages.
pub(super) fn type_error(raw: &str, place: &Place<'_>) -> Option<Words> {
    let at = place.at();
    if let Some(name) = at
        .strip_prefix("[[")
        .and_then(|r| r.split(']').next())
        .map(str::trim)
        .filter(|n| *n != "task")
    {
        return Some(Words {
            message: format!(
                "`[{name}]` is a table, written `[{name}]`, not an array of tables `[[{name}]]`"
            ),
            label: Some("single brackets here".into()),
            help: None,
        });
    }
    if at.starts_with("[task]") {
        return Some(Words {
            message: "a task is written `[[task]]`, with double brackets, not `[task]`".into(),
            label: Some("double brackets here".into()),
            help: Some("each `[[task]]` header starts one more task".into()),
        });
    }
    let (found, expected) = if raw == "wanted string or table" {
        (Found::Other(format!("`{at}`")), "a string")
    } else {
        let rest = raw
            .strip_prefix("invalid type: ")
            .or_else(|| raw.strip_prefix("invalid value: "))?;
        let (unexpected, expected) = rest.rsplit_once(", expected ")?;
        (found(unexpected, at), expected)
    };
    let Some(key) = place.key else {
        let found = match found {
            Found::TooLarge(n) => return Some(too_large(&n, None, place)),
            Found::Other(f) => f,
        };
        return Some(Words {
            message: format!("expected {} here, not {found}", in_words(expected)),
            ..Words::default()
        });
    };
    let mut parts: Vec<&str> = key.split('.').map(|p| p.trim().trim_matches('"')).collect();
    let in_task = place.header.trim() == "[[task]]";
    if parts.len() > 1 && parts[0] == "job" && place.header == "the top level" {
        parts.remove(0);
    }
    let name = parts[0];
    let found = match found {
        Found::TooLarge(n) => return Some(too_large(&n, Some(name), place)),
        Found::Other(f) => f,
    };
    if let Some(w) = dotted_table(&found, expected, &parts, name, place) {
        return Some(w);
    }
    let scalar = found.starts_with('`');
    let quote = |w: Words| match scalar {
        true => Words {
            help: Some(format!("quote it: `\"{}\"`", at.trim_matches('`'))),
            ..w
        },
        false => w,
    };
    let element = match name {
        "run" | "inputs" | "outputs" | "needs" => Some("a string"),
        "shell" if !in_task => Some("a string"),
        "ok_codes" => Some("an integer from 0 to 255"),
        "include" | "exclude" => Some("a table, like `{ os = \"linux\" }`"),
        _ => None,
    };
    if let Some(element) = element
        && expected != "a sequence"
    {
        let w = Words {
            message: format!("each element of `{name}` must be {element}, not {found}"),
            ..Words::default()
        };
        return Some(if element == "a string" { quote(w) } else { w });
    }
    if name == "env" && expected != "a map" {
        return Some(quote(Words {
            message: format!("`env` values must be strings, not {found}"),
            ..Words::default()
        }));
    }
    let wanted = wanted(name, in_task).map_or_else(|| in_words(expected), str::to_owned);
    let mut w = Words {
        message: format!("`{name}` must be {wanted}, not {found}"),
        ..Words::default()
    };
    if found.starts_with("the string") && expected == "a sequence" && name == "run" {
        w.help = Some(format!(
            "`run` is one argv element per string; for a command line, write `shell = {at}`"
        ));
    } else if found.starts_with("the string")
        && expected == "a sequence"
        && matches!(name, "inputs" | "outputs" | "needs" | "shell")
    {
        w.help = Some(format!("write it as an array: `{name} = [{at}]`"));
    } else if wanted == "a string" {
        w = quote(w);
    }
    Some(w)
}

/// `env.k.k = "1"` where `env.k` must be a string: the dotted key made it a table.
fn dotted_table(
    found: &str,
    expected: &str,
    parts: &[&str],
    name: &str,
    place: &Place<'_>,
) -> Option<Words> {
    if found != "a table" || parts.len() < 2 || expected == "a map" {
        return None;
    }
    let line_start = place.line_start();
    let line = place.text.get(line_start..)?.split('\n').next()?;
    let (key, value) = line.split_once('=')?;
    // The span must be in the key, not in an inline table after `=`.
    let prefix = place
        .text
        .get(line_start..place.span.end)
        .filter(|p| p.len() <= key.len())?
        .trim();
    let key = key.trim();
    let value = value.split('#').next().unwrap_or("").trim();
    let (wanted, help) = if name == "env" {
        ("a string".to_owned(), "env values are strings: write")
    } else {
        (in_words(expected), "write")
    };
    Some(Words {
        message: format!("`{prefix}` must be {wanted}, not a table"),
        label: Some(format!("`{key}` makes `{prefix}` a table")),
        help: Some(format!("{help} `{prefix} = {value}`")),
    })
}

fn too_large(n: &str, name: Option<&str>, place: &Place<'_>) -> Words {
    let size = if n.starts_with('-') {
        "too small"
    } else {
        "too large"
    };
    let before = place
        .text
        .get(place.line_start()..place.span.start)
        .unwrap_or("");
    let (message, help) = match name.and_then(|k| wanted(k, place.header.trim() == "[[task]]")) {
        _ if before.contains("range") => (
            format!("the number `{n}` is {size}: range ends must fit in 64 bits"),
            "a range holds at most 10,000,000 values anyway".to_owned(),
        ),
        Some(w) => (
            format!(
                "the number `{n}` is {size} for `{}`",
                name.unwrap_or_default()
            ),
            format!("`{}` must be {w}", name.unwrap_or_default()),
        ),
        None => (
            format!("the number `{n}` is {size}: integers must fit in 64 bits"),
            format!("to use it as text, quote it: `\"{n}\"`"),
        ),
    };
    Words {
        message,
        label: Some(size.into()),
        help: Some(help),
    }
}

/// Serde's `unexpected` part: `integer `1``, `string "a"`, `map`, ...
fn found(unexpected: &str, at: &str) -> Found {
    if let Some(n) = unexpected
        .strip_prefix("integer `")
        .and_then(|r| r.strip_suffix("` as i128"))
    {
        return Found::TooLarge(n.to_owned());
    }
    let text = if let Some(v) = ["integer ", "floating point ", "boolean "]
        .iter()
        .find_map(|p| unexpected.strip_prefix(p))
    {
        v.to_owned()
    } else if let Some(s) = unexpected.strip_prefix("string ") {
        format!("the string `{s}`")
    } else if unexpected == "map" && at.starts_with(|c: char| c.is_ascii_digit()) {
        // A TOML date-time reaches serde as a map.
        format!("the date-time `{at}`")
    } else {
        in_words(unexpected)
    };
    Found::Other(text)
}

/// A serde expectation or type name in the manifest's words.
fn in_words(serde: &str) -> String {
    match serde {
        "a sequence" | "sequence" => "an array",
        "a map" | "map" => "a table",
        "u8" | "u16" | "u32" | "u64" | "usize" => "an integer >= 0",
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer",
        "a boolean" => "`true` or `false`",
        "any valid TOML value" => "a value",
        other => other,
    }
    .to_owned()
}

/// What a key takes, as the manifest reference says it.
fn wanted(key: &str, in_task: bool) -> Option<&'static str> {
    Some(match key {
        "workers" => "an integer >= 1, `\"auto\"` or a percentage like `\"50%\"`",
        "max_failures" => "an integer >= 1 or a percentage like `\"10%\"`",
        "on_failure" => "`\"abort\"`, `\"continue\"` or `\"kill\"`",
        "output" => "`\"failed\"`, `\"all\"`, `\"line\"` or `\"none\"`",
        "retries" => "an integer >= 0",
        "retry_delay" | "timeout" | "kill_grace" => {
            "a duration like `\"500ms\"`, `\"30s\"` or `\"10m\"`"
        }
        "shell" if in_task => "a string: one command line",
        "shell" => "an array of strings, like `[\"sh\", \"-c\"]`",
        "name" | "dir" | "state_dir" | "$schema" => "a string",
        "env" => "a table of strings, like `{ LANG = \"C\" }`",
        "env_file" => {
            "an array of paths, like `[\".env\"]`, or tables like `{ path = \".env.local\", optional = true }`"
        }
        "keep_order" | "keep_failed_outputs" => "`true` or `false`",
        "allow_failure" => "`true`, `false` or a matrix key like `\"{experimental}\"`",
        "run" => "an array of strings, like `[\"echo\", \"hi\"]`",
        "inputs" | "outputs" => "an array of paths, like `[\"{file}\"]`",
        "needs" => "an array of task names, like `[\"fetch\"]`",
        "ok_codes" => "an array of exit codes, like `[0, 1]`",
        "include" | "exclude" => "an array of tables, like `[{ os = \"linux\" }]`",
        "task" => "one or more tables, each written `[[task]]`",
        "vars" => "a table, written `[vars]`",
        "job" => "a table, written `[job]`",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(raw: &str, text: &str, at: &str, header: &str, key: Option<&str>) -> Words {
        let start = text.find(at).expect("at");
        let place = Place {
            text,
            span: start..start + at.len(),
            header,
            key,
        };
        type_error(raw, &place).expect("a type error")
    }

    #[test]
    fn no_rust_types_in_the_words() {
        let w = words(
            "invalid type: string \"x\", expected u32",
            "[job]\nretries = \"x\"\n",
            "\"x\"",
            "[job]",
            Some("retries"),
        );
        assert_eq!(
            w.message,
            "`retries` must be an integer >= 0, not the string `\"x\"`"
        );
        let w = words(
            "invalid type: integer `99999999999999999999` as i128, expected u32",
            "[job]\nretries = 99999999999999999999\n",
            "99999999999999999999",
            "[job]",
            Some("retries"),
        );
        assert_eq!(
            w.message,
            "the number `99999999999999999999` is too large for `retries`"
        );
        let w = words(
            "invalid type: integer `1`, expected a string",
            "[[task]]\nrun = [\"echo\", 1]\n",
            "1",
            "[[task]]",
            Some("run"),
        );
        assert_eq!(w.message, "each element of `run` must be a string, not `1`");
        assert_eq!(w.help.as_deref(), Some("quote it: `\"1\"`"));
    }

    #[test]
    fn a_dotted_key_that_makes_a_table() {
        let w = words(
            "invalid type: map, expected a string",
            "[job]\nenv.k.k = \"1\"\n",
            "k",
            "[job]",
            Some("env.k.k"),
        );
        assert_eq!(w.message, "`env.k` must be a string, not a table");
        assert_eq!(
            w.help.as_deref(),
            Some("env values are strings: write `env.k = \"1\"`")
        );
    }
}
