//! Property tests, and a replay of the cargo-fuzz corpus (`fuzz/`). The fuzz
//! targets themselves need a nightly toolchain, so CI runs these instead: the
//! default number of cases, plus every input the fuzzers kept. A long run is
//! `PROPTEST_CASES=200000 cargo test --release --test cli props`.

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use jobrun::plan::template::{Lookup, Slot, Template, shell_quote};
use jobrun::plan::{PlanOptions, build};
use proptest::prelude::*;

/// Parse and plan; must return, never panic. True when it planned.
fn parse_and_plan(text: String) -> bool {
    // An empty folder of its own, so relative globs and `lines` files stay small.
    let dir = std::env::temp_dir().join("jobrun-props");
    let _ = std::fs::create_dir_all(&dir);
    let Ok(loaded) = jobrun::manifest::parse(dir.join("fuzz.toml"), text) else {
        return false;
    };
    let Ok(p) = build(&loaded, &PlanOptions::default()) else {
        return false;
    };
    for i in 0..p.units.len().min(50) {
        let _ = p.argv(
            i,
            Some(jobrun::plan::Start {
                worker: 1,
                held: &[],
            }),
        );
        let _ = p.dir(i);
        let _ = p.env(i, None);
    }
    true
}

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 ._/{}$'\"-]{0,12}".prop_map(|s| format!("{s:?}")),
        (-3i64..5).prop_map(|i| i.to_string()),
        Just("true".to_owned()),
        Just("1.5".to_owned()),
    ]
}

/// Manifests built from the real keys with random values, to get past the
/// parser into the planner.
fn manifest() -> impl Strategy<Value = String> {
    let key = prop_oneof![8 => Just("a"), 8 => Just("b"), 8 => Just("file"), 1 => Just("worker")];
    let fragment = prop_oneof![
        "[a-z .$'-]{0,6}",
        Just("{a}".to_owned()),
        Just("{b.stem}".to_owned()),
        Just("{file.noext}".to_owned()),
        Just("{unit.id}".to_owned()),
        Just("{worker}".to_owned()),
        Just("{{x}}".to_owned()),
        Just("{env.HOME}".to_owned()),
        Just("{".to_owned()),
    ];
    let template = prop::collection::vec(fragment, 1..4).prop_map(|f| format!("{:?}", f.concat()));
    let source = prop_oneof![
        prop::collection::vec(scalar(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
        (0i64..4, -1i64..6).prop_map(|(a, b)| format!("{{ range = [{a}, {b}] }}")),
        "[a-z*/{}]{0,8}".prop_map(|g| format!("{{ glob = {g:?}, allow_empty = true }}")),
    ];
    let task = (
        "[a-c]",
        prop::collection::vec((key.clone(), source), 0..3),
        prop::collection::vec(template.clone(), 1..4),
        prop::collection::vec("[a-c]", 0..2),
        prop::option::of(prop::collection::vec((key.clone(), scalar()), 1..3)),
        any::<bool>(),
    )
        .prop_map(|(name, matrix, run, needs, include, shell)| {
            let mut t = format!("[[task]]\nname = {name:?}\n");
            for (k, v) in matrix {
                t.push_str(&format!("matrix.{k} = {v}\n"));
            }
            if shell {
                t.push_str(&format!("shell = {}\n", run[0]));
            } else {
                t.push_str(&format!("run = [{}]\n", run.join(", ")));
            }
            if !needs.is_empty() {
                t.push_str(&format!("needs = {needs:?}\n"));
            }
            if let Some(inc) = include {
                let entry: Vec<String> = inc.iter().map(|(k, v)| format!("{k} = {v}")).collect();
                t.push_str(&format!("include = [{{ {} }}]\n", entry.join(", ")));
            }
            t
        });
    (
        prop::collection::vec(("[a-z]{1,4}", scalar()), 0..3),
        prop::collection::vec(task, 1..4),
    )
        .prop_map(|(vars, tasks)| {
            let mut m = String::from("[vars]\n");
            for (k, v) in vars {
                m.push_str(&format!("{k} = {v}\n"));
            }
            m.push_str(&tasks.concat());
            m
        })
}

struct One(Vec<u8>);

impl Lookup for One {
    fn lookup(&self, _slot: &Slot, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
}

proptest! {
    #[test]
    fn any_text_parses_or_errors(text in ".{0,400}") {
        parse_and_plan(text);
    }

    #[test]
    fn generated_manifests_plan_or_error(text in manifest()) {
        parse_and_plan(text);
    }
}

/// The generator must mostly get past the parser into the planner, and
/// sometimes all the way to a plan.
#[test]
fn generated_manifests_reach_the_planner() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut parsed, mut planned) = (0, 0);
    for _ in 0..300 {
        let text = manifest().new_tree(&mut runner).expect("tree").current();
        if jobrun::manifest::parse(std::env::temp_dir().join("fuzz.toml"), text.clone()).is_ok() {
            parsed += 1;
        }
        if parse_and_plan(text) {
            planned += 1;
        }
    }
    assert!(
        parsed > 150 && planned > 5,
        "parsed {parsed}, planned {planned} of 300"
    );
}

proptest! {

    #[test]
    fn any_template_parses_or_errors(text in ".{0,60}") {
        let resolve = |name: &str| -> Result<Slot, Option<String>> {
            if name == "v" { Ok(Slot::Key(0)) } else { Err(None) }
        };
        if let Ok(t) = Template::parse(&text, &resolve) {
            let _ = t.render(&One(b"x y".to_vec()), true);
        }
    }

    /// Shell-like text as a `shell` template: parsed and every placeholder
    /// given a context, or a located error; never a panic. A text that
    /// parses as a template but not as a shell template fails only for its
    /// quoting, at a placeholder or an opening quote.
    #[test]
    fn any_shell_template_parses_or_errors(
        text in prop::collection::vec(
            prop_oneof![
                Just("{v}"), Just("{{"), Just("}}"), Just("'"), Just("\""), Just("`"),
                Just("\\"), Just("$"), Just("$("), Just("$(("), Just(")"), Just("("),
                Just("#"), Just(" "), Just("\n"), Just("<<"), Just("EOF"), Just("x"),
                Just(";"), Just("case"), Just("~"), Just("-"),
            ],
            0..24,
        ).prop_map(|p| p.concat())
    ) {
        let resolve = |name: &str| -> Result<Slot, Option<String>> {
            if name == "v" { Ok(Slot::Key(0)) } else { Err(None) }
        };
        let plain = Template::parse(&text, &resolve);
        match Template::parse_shell(&text, &resolve) {
            Ok(t) => {
                prop_assert!(plain.is_ok());
                let _ = t.render(&One(b"x y".to_vec()), true);
            }
            Err(e) => {
                prop_assert!(e.offset + e.len <= text.len(), "{e:?}");
                prop_assert!(text.is_char_boundary(e.offset));
            }
        }
    }

    /// A shell-quoted value is one word that a POSIX shell reads back as
    /// exactly the value, whatever its bytes.
    #[test]
    fn shell_quoting_round_trips(value in prop::collection::vec(1u8..=255, 0..40)) {
        let quoted = shell_quote(&value);
        let words = shlex::bytes::split(&quoted).expect("quoted text splits");
        prop_assert_eq!(words, vec![value]);
    }
}

/// The same round trip through a real shell, for the nastiest values.
#[test]
fn shell_quoting_through_sh() {
    let values: &[&[u8]] = &[
        b"$(touch pwned)",
        b"`id`",
        b"a b",
        b"it's",
        b"-rf",
        b"\n",
        b"caf\xe9",
        b"'\"\\$",
    ];
    let dir = tempfile::tempdir().expect("temp");
    for v in values {
        let q = shell_quote(v);
        let mut script = b"printf %s ".to_vec();
        script.extend_from_slice(&q);
        let out = std::process::Command::new("sh")
            .current_dir(dir.path())
            .arg("-c")
            .arg(std::ffi::OsStr::from_bytes(&script))
            .output()
            .expect("sh");
        assert_eq!(out.stdout, *v, "{:?}", String::from_utf8_lossy(&q));
    }
    assert!(!PathBuf::from(dir.path()).join("pwned").exists());
}

/// Every input the fuzzers kept (`fuzz/corpus/`) still parses, plans and
/// renders without a panic, on the stable toolchain. The replay runs in a
/// child process: some inputs plan millions of units, and the memory they
/// leave mapped in this process would count toward the peak RSS of every
/// process it spawns later (which the memory tests of `report.rs` measure).
#[test]
fn fuzz_corpus_replays_cleanly() {
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--ignored",
            "--exact",
            "props::fuzz_corpus_replay",
            "--test-threads",
            "1",
        ])
        .output()
        .expect("run the replay");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
#[ignore = "run by fuzz_corpus_replays_cleanly in a child process"]
fn fuzz_corpus_replay() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let files = |target: &str| -> Vec<Vec<u8>> {
        let mut v: Vec<_> = std::fs::read_dir(root.join(target))
            .expect("fuzz corpus")
            .map(|e| std::fs::read(e.expect("entry").path()).expect("corpus file"))
            .collect();
        v.sort();
        v
    };
    let manifests = files("manifest");
    assert!(manifests.len() >= 40, "{} manifests", manifests.len());
    for data in manifests {
        if let Ok(text) = String::from_utf8(data) {
            parse_and_plan(text);
        }
    }
    let templates = files("template");
    assert!(!templates.is_empty());
    let resolve = |name: &str| -> Result<Slot, Option<String>> {
        match name {
            "v" | "file" | "file.stem" => Ok(Slot::Key(0)),
            _ => Err(None),
        }
    };
    for data in templates {
        let (text, value) = match data.iter().position(|&b| b == b'\n') {
            Some(i) => (&data[..i], &data[i + 1..]),
            None => (&data[..], &b"x y"[..]),
        };
        if let Ok(text) = std::str::from_utf8(text)
            && let Ok(t) = Template::parse(text, &resolve)
        {
            let _ = t.render(&One(value.to_vec()), true);
            let _ = t.render(&One(value.to_vec()), false);
        }
    }
}
