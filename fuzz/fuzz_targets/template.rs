//! Any text as a template, rendered with any value, quoted and not, and as
//! a `shell` template (each value quoted for its context).
#![no_main]

use jobrun::plan::template::{Lookup, Slot, Template};
use libfuzzer_sys::fuzz_target;

struct One<'a>(&'a [u8]);

impl Lookup for One<'_> {
    fn lookup(&self, _slot: &Slot, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0);
    }
}

fuzz_target!(|data: &[u8]| {
    // First line: the template; the rest: the value substituted into it.
    let (text, value) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"x y"[..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let resolve = |name: &str| -> Result<Slot, Option<String>> {
        match name {
            "v" | "file" | "file.stem" => Ok(Slot::Key(0)),
            _ => Err(None),
        }
    };
    if let Ok(t) = Template::parse(text, &resolve) {
        let _ = t.render(&One(value), true);
        let _ = t.render(&One(value), false);
    }
    if let Ok(t) = Template::parse_shell(text, &resolve) {
        let _ = t.render(&One(value), true);
    }
});
