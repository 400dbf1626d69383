//! The JSON Schema: `jobrun schema` is what is committed, and the example
//! jobs (and the schema-level mistakes among the bad fixtures) agree with it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{jobrun, stderr, stdout};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn committed() -> Value {
    let text = std::fs::read_to_string(root().join("schemas/jobrun.schema.json"))
        .expect("schemas/jobrun.schema.json");
    serde_json::from_str(&text).expect("the committed schema is JSON")
}

/// A TOML file as the JSON value editors validate.
fn toml_as_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

#[test]
fn schema_command_matches_the_committed_file() {
    let out = jobrun().arg("schema").output().expect("run jobrun");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let committed = std::fs::read_to_string(root().join("schemas/jobrun.schema.json"))
        .expect("schemas/jobrun.schema.json");
    assert!(
        stdout(&out) == committed,
        "schemas/jobrun.schema.json is out of date; regenerate it with\n\n    \
         cargo run -- schema > schemas/jobrun.schema.json\n"
    );
    let schema: Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
}

#[test]
fn example_jobs_validate() {
    let validator = jsonschema::draft7::new(&committed()).expect("a valid draft-07 schema");
    let mut jobs: Vec<PathBuf> = std::fs::read_dir(root().join("jobs"))
        .expect("jobs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    jobs.sort();
    assert!(!jobs.is_empty(), "no jobs/*.toml");
    for job in jobs {
        let instance = toml_as_json(&job);
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{job:?} does not match the schema:\n{}",
            errors.join("\n")
        );
    }
}

#[test]
fn schema_rejects_what_the_loader_rejects() {
    // Mistakes the schema can see: an editor flags them before jobrun runs.
    let validator = jsonschema::draft7::new(&committed()).expect("a valid draft-07 schema");
    let bad = root().join("tests/fixtures/bad");
    for file in [
        "unknown-key-worker.toml",
        "unknown-task-key.toml",
        "wrong-type-retries.toml",
        "wrong-type-run.toml",
        "workers-zero.toml",
        "workers-garbage.toml",
        "max-failures-zero.toml",
        "on-failure-typo.toml",
        "bad-task-name.toml",
        "missing-task-name.toml",
        "no-task.toml",
        "run-and-shell.toml",
        "neither-run-nor-shell.toml",
        "ok-codes-out-of-range.toml",
    ] {
        let instance = toml_as_json(&bad.join(file));
        assert!(!validator.is_valid(&instance), "{file} passes the schema");
    }
}
