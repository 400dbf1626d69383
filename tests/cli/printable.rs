//! Control and bidi characters in manifests and file names are shown
//! escaped, never sent raw to the terminal: an ESC could recolour or clear
//! it, a U+202E reorder a line, a NUL cut it. Asserted on bytes.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use indoc::indoc;

use crate::support::Job;

const ESC: &[u8] = b"\x1b";
const RLO: &[u8] = "\u{202e}".as_bytes();
const NUL: &[u8] = b"\0";

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn assert_printable(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for (raw, name) in [(ESC, "ESC"), (RLO, "U+202E"), (NUL, "NUL")] {
        assert!(!contains(bytes, raw), "{what}: raw {name} in\n{text}");
    }
}

#[test]
fn manifest_text_in_errors_is_escaped() {
    let cases: &[(&[u8], &str)] = &[
        // A raw bidi override in a key, TOML allows it in quoted keys.
        (
            b"[job]\n\"wo\xe2\x80\xaerkers\" = 1\n[[task]]\nname = \"t\"\nrun = [\"true\"]\n",
            "unknown key `wo\\u{202e}rkers` in [job]",
        ),
        // A raw ESC, which TOML refuses: the excerpt shows it escaped.
        (
            b"[[task]]\nname = \"t\x1b[2J\"\nrun = [\"true\"]\n",
            "2 | name = \"t\\u{1b}[2J\"",
        ),
        // Escapes in strings, quoted back in the message.
        (
            b"[[task]]\nname = \"t\"\nrun = [\"true\"]\nneeds = [\"x\\u001b[31m\\u0000\\u202e\"]\n",
            "needs `x\\u{1b}[31m\\0\\u{202e}`, which is not a task",
        ),
        (
            b"[[task]]\nname = \"t\\u202egpj.exe\"\nrun = [\"true\"]\n",
            "invalid task name `t\\u{202e}gpj.exe`",
        ),
        (
            b"[[task]]\nname = \"t\"\nrun = [\"{a\\u001b}\"]\n",
            "unknown name `a\\u{1b}` in template",
        ),
    ];
    for (toml, expected) in cases {
        let job = Job::new("");
        job.file("job.toml", toml);
        let out = job.sub("check", &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_printable(expected, &out.stderr);
        assert!(err.contains(expected), "expected {expected:?} in\n{err}");
    }
}

#[test]
fn the_caret_stays_under_an_escaped_character() {
    let job = Job::new("");
    job.file(
        "job.toml",
        b"[job]\n\t\"a\x1b\" = 1\n[[task]]\nname = \"t\"\nrun = [\"true\"]\n",
    );
    let out = job.sub("check", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2 | \t\"a\\u{1b}\" = 1\n  | \t  ^^^^^^"),
        "{err}"
    );
}

#[test]
fn a_usage_error_quotes_escaped() {
    let job = Job::new(indoc! {r#"
        [[task]]
        name = "t"
        run = ["true"]
    "#});
    let out = job.sub("plan", &["--only", "x\x1b[31m\u{202e}"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_printable("--only", &out.stderr);
    assert!(err.contains("x\\u{1b}[31m\\u{202e}"), "{err}");
}

#[test]
fn ids_from_file_names_are_escaped_in_every_report() {
    let job = Job::new(indoc! {r#"
        [job]
        on_failure = "continue"
        [[task]]
        name = "t"
        matrix.f = { glob = "in/*" }
        inputs = ["{f}"]
        outputs = ["{f}.out"]
        run = ["sh", "-c", "echo failing; exit 1", "{f}"]
    "#});
    for name in [&b"in/a\x1b[31m"[..], "in/b\u{202e}gpj.exe".as_bytes()] {
        job.file(OsStr::from_bytes(name), "x");
    }
    let run = job.run(&["--progress", "plain", "--output", "failed"]);
    assert_eq!(run.status.code(), Some(1));
    assert_printable("run stderr", &run.stderr);
    assert_printable("run stdout", &run.stdout);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("t[f=in/a\\u{1b}[31m]"), "{err}");
    assert!(err.contains("t[f=in/b\\u{202e}gpj.exe]"), "{err}");
    for args in [&["plan"][..], &["plan", "--json"], &["plan", "--why"]] {
        let (sub, rest) = args.split_first().unwrap();
        let out = job.sub(sub, rest);
        assert_eq!(out.status.code(), Some(0));
        assert_printable(&args.join(" "), &out.stdout);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("\\u{202e}"), "{args:?}: {text}");
    }
}
