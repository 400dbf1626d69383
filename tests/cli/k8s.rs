//! The Indexed Job of `jobrun k8s` against the real Kubernetes schemas,
//! offline, with PyPI `kubernetes-validate --strict` (`.ci/run` installs
//! it): for the oldest Kubernetes jobrun supports (1.29, where
//! `backoffLimitPerIndex` is on by default) and the newest the tool knows.
//!
//! The schemas do not check enum values (`completionMode: Indxed` passes),
//! so those are checked here. Without the tool the tests are skipped with a
//! message, unless JOBRUN_TEST_K8S_VALIDATE=1, which makes that a failure.

use std::process::Command as StdCommand;

use serde_json::Value;

use crate::support::{Job, jobrun, stderr};

const OLDEST: &str = "1.29.0";
const NEWEST: &str = "1.37.0";

fn validator() -> bool {
    let required = std::env::var("JOBRUN_TEST_K8S_VALIDATE").is_ok_and(|v| v == "1");
    match StdCommand::new("kubernetes-validate")
        .arg("--version")
        .output()
    {
        Ok(o) if o.status.success() => return true,
        Ok(o) => {
            let why = format!(
                "kubernetes-validate --version failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            assert!(!required, "JOBRUN_TEST_K8S_VALIDATE=1 but {why}");
            eprintln!("skipped: {why}");
        }
        Err(e) => {
            assert!(
                !required,
                "JOBRUN_TEST_K8S_VALIDATE=1 but kubernetes-validate cannot run: {e}"
            );
            eprintln!(
                "skipped: kubernetes-validate cannot run: {e} (pip install kubernetes-validate)"
            );
        }
    }
    false
}

/// `kubernetes-validate --strict -k VERSION`: whether it passed, and what it said.
fn validate(job: &Job, manifest: &Value, version: &str) -> (bool, String) {
    let path = job.path().join(format!("k8s-{version}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(manifest).unwrap()).unwrap();
    let out = StdCommand::new("kubernetes-validate")
        .args(["--strict", "-k", version])
        .arg(&path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// What the schemas leave out: the enum values an Indexed Job depends on.
fn enums_ok(m: &Value) -> Result<(), String> {
    let checks = [
        ("/spec/completionMode", "Indexed"),
        ("/spec/template/spec/restartPolicy", "Never"),
        (
            "/spec/template/spec/containers/0/env/0/name",
            "JOBRUN_SHARD_TOTAL",
        ),
    ];
    for (ptr, want) in checks {
        if m.pointer(ptr).and_then(Value::as_str) != Some(want) {
            return Err(format!("{ptr} is {:?}, not {want:?}", m.pointer(ptr)));
        }
    }
    Ok(())
}

fn k8s(job: &Job, extra: &[&str]) -> Value {
    let out = jobrun()
        .current_dir(job.path())
        .args(["k8s", "job.toml", "--image", "example/jobs:1"])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn jobs() -> (Job, Job) {
    // abort (maxFailedIndexes), a cpu pool (resources) and a rate (an annotation).
    let abort = Job::new(
        r#"
[job]
name = "thumbs"
on_failure = "abort"

[resources]
cpu = 4
net = { rate = "10/s" }

[[task]]
name = "t"
matrix.i = { range = [0, 8] }
uses = { net = 1 }
run = ["true"]
"#,
    );
    let cont = Job::new(
        "[job]\nname = \"My_Job\"\non_failure = \"continue\"\n[vars]\nx = \"y\"\n\
         [[task]]\nname = \"t\"\nmatrix.i = { range = [0, 8] }\nrun = [\"true\"]\n",
    );
    (abort, cont)
}

#[test]
fn the_indexed_job_validates_for_the_oldest_and_newest_kubernetes() {
    if !validator() {
        return;
    }
    let (abort, cont) = jobs();
    let cases = [
        (&abort, k8s(&abort, &["--shards", "4"])),
        (
            &cont,
            k8s(
                &cont,
                &[
                    "--shards",
                    "3",
                    "--parallelism",
                    "2",
                    "--var",
                    "x=a b",
                    "-j",
                    "2",
                ],
            ),
        ),
    ];
    assert!(cases[0].1["spec"].get("maxFailedIndexes").is_some());
    assert!(
        cases[0].1["spec"]["template"]["spec"]["containers"][0]
            .get("resources")
            .is_some()
    );
    for (job, m) in &cases {
        enums_ok(m).unwrap();
        for v in [OLDEST, NEWEST] {
            let (ok, text) = validate(job, m, v);
            assert!(ok, "Kubernetes {v}: {text}\n{m:#}");
            assert!(text.contains("passed"), "{text}");
        }
        // Below the floor the schema does not know backoffLimitPerIndex: the
        // validator is strict enough to tell versions apart.
        let (ok, text) = validate(job, m, "1.25.0");
        assert!(!ok && text.contains("backoffLimitPerIndex"), "{text}");
    }
}

/// One way to break a good manifest.
type Break = fn(&mut Value);

#[test]
fn a_broken_manifest_is_rejected() {
    if !validator() {
        return;
    }
    let (job, _) = jobs();
    let good = k8s(&job, &["--shards", "2"]);
    let breaks: [(&str, Break); 4] = [
        ("a misspelt key", |m| {
            let v = m["spec"]
                .as_object_mut()
                .unwrap()
                .remove("completionMode")
                .unwrap();
            m["spec"]["completionMod"] = v;
        }),
        ("a string for an integer", |m| {
            m["spec"]["completions"] = "2".into()
        }),
        ("no containers", |m| {
            m["spec"]["template"]["spec"]
                .as_object_mut()
                .unwrap()
                .remove("containers");
        }),
        ("an unknown field in the container", |m| {
            m["spec"]["template"]["spec"]["containers"][0]["cmd"] = "x".into();
        }),
    ];
    for (what, break_it) in breaks {
        let mut m = good.clone();
        break_it(&mut m);
        for v in [OLDEST, NEWEST] {
            let (ok, text) = validate(&job, &m, v);
            assert!(!ok, "{what} passed Kubernetes {v}: {text}");
        }
    }
    // What the schemas miss, and this file's own check catches.
    let mut m = good.clone();
    m["spec"]["completionMode"] = "Indxed".into();
    let (ok, text) = validate(&job, &m, NEWEST);
    assert!(
        ok,
        "kubernetes-validate now checks enums; enums_ok may go: {text}"
    );
    assert!(enums_ok(&m).is_err());
}
