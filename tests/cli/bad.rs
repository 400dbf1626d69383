//! Malformed manifests: each file in `tests/fixtures/bad/` must fail `check`
//! with exit 2 and a located, helpful message (snapshots in `snapshots/`).

use std::path::{Path, PathBuf};

use crate::support::{jobrun, stderr, stdout};

/// Files whose problem has no line to point at.
const NO_LOCATION: [&str; 2] = ["empty.toml", "no-task.toml"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad")
}

#[test]
fn bad_manifests() {
    let dir = fixtures();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/bad")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 25, "only {} bad manifests", files.len());
    let root = dir.canonicalize().expect("canonical fixtures dir");
    for path in files {
        let file = path.file_name().unwrap().to_str().unwrap().to_owned();
        let out = jobrun()
            .current_dir(&dir)
            .arg("check")
            .arg(&file)
            .output()
            .expect("run jobrun");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{file}: exit code\n{err}");
        assert_eq!(stdout(&out), "", "{file}: nothing on stdout");
        assert!(!err.contains("panicked"), "{file}: panic\n{err}");
        assert!(err.starts_with("error: "), "{file}\n{err}");
        if NO_LOCATION.contains(&file.as_str()) {
            assert!(err.contains(&format!("--> {file}\n")), "{file}\n{err}");
        } else {
            let located = format!("--> {file}:");
            let at = err
                .find(&located)
                .unwrap_or_else(|| panic!("{file}: no location\n{err}"));
            let rest = &err[at + located.len()..];
            let (line, rest) = rest.split_once(':').expect("line:col");
            let col: String = rest.chars().take_while(char::is_ascii_digit).collect();
            assert!(
                line.parse::<u32>().is_ok() && !col.is_empty(),
                "{file}: bad location\n{err}"
            );
        }
        let shown = err.replace(root.to_str().unwrap(), "[FIXTURES]");
        let text = std::fs::read(&path).unwrap();
        let name = file.trim_end_matches(".toml").to_owned();
        insta::with_settings!({
            snapshot_suffix => name,
            description => String::from_utf8_lossy(&text).into_owned(),
            omit_expression => true,
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!("bad", shown);
        });
    }
}

/// A 10 MB manifest with a mistake on its last line: found, located, exit 2.
#[test]
fn ten_megabyte_manifest() {
    let mut text = String::from("[[task]]\nname = \"t\"\nrun = [\"true\"]\n");
    let filler = "# filler comment line to make the manifest large...........................\n";
    while text.len() < 10 * 1024 * 1024 {
        text.push_str(filler);
    }
    let lines = text.lines().count();
    text.push_str("worker = 8\n");
    let job = crate::support::Job::new(&text);
    let out = job.sub("check", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = crate::support::stderr(&out);
    assert!(
        err.contains(&format!("job.toml:{}:1", lines + 1)),
        "{}",
        &err[..err.len().min(500)]
    );
    assert!(
        err.contains("unknown key `worker`"),
        "{}",
        &err[..err.len().min(500)]
    );
}
