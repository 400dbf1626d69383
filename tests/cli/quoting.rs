//! Quoting contexts in `shell`: a value is quoted for where it stands (bare,
//! in `"..."`, in `'...'`, in `$( )`, in backticks, in a comment) and reads
//! back as exactly its bytes through real shells; where no quoting is safe,
//! `check` and `run` refuse with a located error.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use indoc::indoc;
use jobrun::plan::template::{Lookup, Slot, Template};
use proptest::prelude::*;

use crate::support::{Job, stderr, stdout};

/// Each line: a shell template using `{v}` once or more, and what it must
/// print around the value: `(prefix, suffix)`, printed with `printf '%s\0'`.
const CONTEXTS: [(&str, &[u8], &[u8]); 12] = [
    ("printf '%s\\0' {v}", b"", b""),
    ("printf '%s\\0' x{v}y", b"x", b"y"),
    ("printf '%s\\0' \"a {v} b\"", b"a ", b" b"),
    ("Y=\"{v}\"; printf '%s\\0' \"$Y\"", b"", b""),
    ("printf '%s\\0' 'a {v} b'", b"a ", b" b"),
    ("X={v}; printf '%s\\0' \"$X\"", b"", b""),
    ("printf '%s\\0' \"$(printf '%s.' {v})\"", b"", b"."),
    ("printf '%s\\0' \"$(printf '%s.' \"<{v}>\")\"", b"<", b">."),
    ("X=`printf '%s.' {v}`; printf '%s\\0' \"$X\"", b"", b"."),
    ("X=`printf '%s.' '{v}'`; printf '%s\\0' \"$X\"", b"", b"."),
    ("X=`printf '%s.' \"{v}\"`; printf '%s\\0' \"$X\"", b"", b"."),
    ("printf '%s\\0' {v}{v}", b"", b""),
];

/// A comment holding the value must end where the line ends.
const COMMENT: &str = ": # {v} '\nprintf '%s\\0' after";

struct One<'a>(&'a [u8]);

impl Lookup for One<'_> {
    fn lookup(&self, _slot: &Slot, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0);
    }
}

fn render(template: &str, value: &[u8]) -> Vec<u8> {
    let resolve = |name: &str| -> Result<Slot, Option<String>> {
        match name {
            "v" => Ok(Slot::Key(0)),
            _ => Err(None),
        }
    };
    let t =
        Template::parse_shell(template, &resolve).unwrap_or_else(|e| panic!("{template}: {e:?}"));
    t.render(&One(value), true)
}

/// Every context's script, joined, with what the shell must print.
fn script_for(value: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut script, mut want) = (Vec::new(), Vec::new());
    for (t, pre, post) in CONTEXTS {
        script.extend(render(t, value));
        script.push(b'\n');
        want.extend_from_slice(pre);
        want.extend_from_slice(value);
        if t.ends_with("{v}{v}") {
            want.extend_from_slice(value);
        }
        want.extend_from_slice(post);
        want.push(0);
    }
    script.extend(render(COMMENT, value));
    want.extend_from_slice(b"after\0");
    (script, want)
}

/// The shells to check: `sh` (dash on Debian), and bash where installed.
fn shells() -> Vec<&'static str> {
    let mut v = vec!["sh"];
    if Path::new("/bin/bash").exists() || Path::new("/usr/bin/bash").exists() {
        v.push("bash");
    }
    v
}

fn run_in(shell: &str, dir: &Path, script: &[u8]) -> std::process::Output {
    Command::new(shell)
        .current_dir(dir)
        .arg("-c")
        .arg(OsStr::from_bytes(script))
        .output()
        .expect("run the shell")
}

fn assert_reads_back(value: &[u8]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (script, want) = script_for(value);
    for shell in shells() {
        let out = run_in(shell, dir.path(), &script);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&want),
            "{shell}, value {:?}, script:\n{}\nstderr: {}",
            String::from_utf8_lossy(value),
            String::from_utf8_lossy(&script),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, want, "{shell}, value {value:?}");
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "{shell}: value {value:?} created a file"
        );
    }
}

const HOSTILE: [&[u8]; 22] = [
    b"'",
    b"\"",
    b"$(touch PWNED)",
    b"`touch PWNED`",
    b"\\",
    b"\\\\\"",
    b"\n",
    b"a\nb\n",
    b"$HOME",
    b"!",
    b"!!",
    b"*",
    b"-rf",
    b"\xff\xe9",
    b"caf\xe9",
    b"",
    b"'; touch PWNED; '",
    b"\"; touch PWNED; \"",
    b"done",
    b"~root",
    b"a b\tc",
    b"\x01^x^y\x7f",
];

#[test]
fn hostile_values_read_back_in_every_context() {
    for v in HOSTILE {
        assert_reads_back(v);
    }
}

fn hostile_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(b"'\"$`\\\n\t !*?#;&|(){}[]~=-^%".to_vec()),
        1 => 1u8..=255,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random values, every context, real shells: byte for byte.
    #[test]
    fn random_values_read_back_in_every_context(
        value in prop::collection::vec(hostile_byte(), 0..24)
    ) {
        assert_reads_back(&value);
    }
}

/// Inside `$((...))` only integers are let in, and they count as numbers,
/// also when negative and next to an operator.
#[test]
fn integers_in_arithmetic_are_numbers() {
    let t = "printf '%s ' $(( 5-{v} )) \"$(( {v} * 2 ))\" `expr $(( {v} )) + 0`";
    for v in [0i64, 7, -3, -4_000_000_000] {
        let script = render(t, v.to_string().as_bytes());
        let want = format!("{} {} {} ", 5 - v, v * 2, v);
        for shell in shells() {
            let out = run_in(shell, Path::new("."), &script);
            assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{shell} {v}");
        }
    }
}

/// Names for real files: no `/`, no NUL, not empty.
const NAMES: [&[u8]; 16] = [
    b"it's",
    b"\"q\"",
    b"$(touch PWNED)",
    b"`touch PWNED`",
    b"back\\slash",
    b"\\\\\"",
    b"new\nline",
    b"trail\n",
    b"$HOME",
    b"!bang",
    b"*",
    b"-rf",
    b"caf\xe9",
    b"\xff\xe9",
    b"'; touch PWNED; '",
    b"\"; touch PWNED; \"",
];

/// One task per context over `in/*`, each unit appending to `out/TASK`.
const JOB: &str = indoc! {r#"
    [job]
    workers = 1
    [[task]]
    name = "unquoted"
    matrix.f = { glob = "in/*" }
    shell = "printf '%s\\0' {f.name} >> out/unquoted"
    [[task]]
    name = "double"
    matrix.f = { glob = "in/*" }
    shell = "Y=\"{f.name}\"; printf '%s\\0' \"$Y\" >> out/double"
    [[task]]
    name = "single"
    matrix.f = { glob = "in/*" }
    shell = "printf '%s\\0' '{f.name}' >> out/single"
    [[task]]
    name = "subst"
    matrix.f = { glob = "in/*" }
    shell = "X=\"$(printf '%s.' {f.name})\"; printf '%s\\0' \"${{X%.}}\" >> out/subst"
    [[task]]
    name = "backticks"
    matrix.f = { glob = "in/*" }
    shell = "X=`printf '%s.' {f.name}`; printf '%s\\0' \"${{X%.}}\" >> out/backticks"
    [[task]]
    name = "comment"
    matrix.f = { glob = "in/*" }
    shell = "printf '%s\\0' ok >> out/comment # {f.name}"
"#};

fn hostile_files(shell: &str) -> Job {
    let job = Job::new(JOB);
    if shell != "sh" {
        let text = JOB.replacen(
            "[job]\n",
            &format!("[job]\nshell = [{shell:?}, \"-c\"]\n"),
            1,
        );
        std::fs::write(job.manifest(), text).unwrap();
    }
    for n in NAMES {
        let mut rel = b"in/".to_vec();
        rel.extend_from_slice(n);
        job.file(Path::new(OsStr::from_bytes(&rel)), "");
    }
    std::fs::create_dir(job.path().join("out")).unwrap();
    job
}

#[test]
fn hostile_file_names_are_data_in_every_context() {
    let mut sorted = NAMES.to_vec();
    sorted.sort();
    for shell in shells() {
        let job = hostile_files(shell);
        let out = job.run(&[]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", stderr(&out));
        let names: Vec<u8> = sorted
            .iter()
            .flat_map(|n| n.iter().chain(b"\0"))
            .copied()
            .collect();
        for task in ["unquoted", "double", "single", "subst", "backticks"] {
            let got = std::fs::read(job.path().join("out").join(task)).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&names),
                "{shell}, task {task}"
            );
            assert_eq!(got, names, "{shell}, task {task}");
        }
        let comment = std::fs::read(job.path().join("out/comment")).unwrap();
        assert_eq!(comment, b"ok\0".repeat(NAMES.len()), "{shell}");
        for dir in ["", "in", "out"] {
            assert!(
                !job.path().join(dir).join("PWNED").exists(),
                "{shell}: a file name ran as code"
            );
        }
    }
}

/// Where no quoting is safe, the plan is refused before anything runs, at
/// the placeholder, by `check` and `run` alike (`((` is bash; the plan is
/// refused before any shell could see it).
#[test]
fn unsafe_contexts_are_located_errors() {
    let cases = [
        (
            "echo $(( {i} + 1 ))",
            "{i}",
            "not an integer, inside shell arithmetic",
        ),
        (
            "(( {i} > 1 ))",
            "{i}",
            "not an integer, inside shell arithmetic",
        ),
        ("echo ${{x:-{i}}}", "{i}", "inside `${...}`"),
        ("cat <<EOF\n{i}\nEOF", "{i}", "inside a here-document"),
        (
            "echo \"`echo {i}`\"",
            "{i}",
            "backticks within double quotes",
        ),
        ("echo ${i}", "{i}", "`$` right before `{i}`"),
    ];
    for (shell, hole, msg) in cases {
        let toml = format!(
            "[[task]]\nname = \"t\"\nmatrix.i = [\"$(touch PWNED)\"]\nshell = {}\n",
            toml_string(shell)
        );
        let job = Job::new(&toml);
        // Where the placeholder is in the manifest, 1-based.
        let lit = toml_string(shell);
        let at = toml.find(&lit).unwrap() + lit.find(shell).unwrap() + shell.find(hole).unwrap();
        let line = toml[..at].matches('\n').count() + 1;
        let col = at - toml[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
        for sub in ["check", "run"] {
            let out = job.sub(sub, &[]);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{sub} {shell:?}: {err}");
            assert_eq!(stdout(&out), "", "{sub} {shell:?}");
            assert!(err.starts_with("error: task `t`, field `shell`: "), "{err}");
            assert!(err.contains(msg), "{sub} {shell:?}: {err}");
            assert!(
                err.contains(&format!("--> job.toml:{line}:{col}\n")),
                "{sub} {shell:?}: want {line}:{col}\n{err}"
            );
            assert!(err.contains("= help: "), "{sub} {shell:?}: {err}");
        }
        assert!(!job.path().join("PWNED").exists());
    }
}

/// A TOML literal string holding `s` (which has no `'`).
fn toml_string(s: &str) -> String {
    if s.contains('\n') {
        format!("'''\n{s}'''")
    } else {
        format!("'{s}'")
    }
}
