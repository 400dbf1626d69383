//! `jobrun k8s`: a Kubernetes Indexed Job that runs a job in N shards.
//!
//! Pure: `manifest` builds the Job as a `serde_json::Value` and `k8s`
//! prints it as JSON (kubectl reads JSON wherever it reads YAML:
//! `jobrun k8s ... | kubectl apply -f -`), so no YAML library is needed.
//!
//! Each pod gets `JOB_COMPLETION_INDEX` (0-based) from Kubernetes and
//! `JOBRUN_SHARD_TOTAL=N` from the manifest, and runs `jobrun FILE --shard
//! auto`, which turns them into shard `index+1` of N. A pod is not retried
//! (`backoffLimitPerIndex: 0`, `restartPolicy: Never`): jobrun retries
//! units itself, and a rerun resumes from the journal. With `on_failure`
//! abort or kill, the first failed index fails the whole Job
//! (`maxFailedIndexes: 0`), which stops the other pods.
//!
//! `backoffLimitPerIndex` and `maxFailedIndexes` need Kubernetes 1.29 or
//! later (beta, on by default; GA in 1.33). `tests/cli/k8s.rs` validates the
//! Job against the real schemas of 1.29 and the newest kubernetes-validate
//! knows, and checks the enum values the schemas do not.

use std::io::Write;

use serde_json::{Value, json};

use crate::cli::K8sArgs;
use crate::error::Error;
use crate::manifest::OnFailure;
use crate::plan::Plan;

/// Everything the Job depends on.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    pub name: &'a str,
    pub image: &'a str,
    /// The manifest's path inside the image, as given on the command line.
    pub manifest: &'a str,
    pub shards: u32,
    pub parallelism: Option<u32>,
    /// The first failed shard fails the Job (`on_failure` abort or kill).
    pub fail_fast: bool,
    /// Extra `jobrun` arguments for every shard (`--var`, `--only`, ...).
    pub args: &'a [String],
    /// CPUs each pod requests: the job's `cpu` pool, when it has one.
    pub cpus: Option<u32>,
    /// How the job's rates are shared by the shards (an annotation).
    pub notes: &'a [String],
}

/// The Indexed Job.
pub fn manifest(s: &Spec<'_>) -> Value {
    let mut command = vec![
        "jobrun".to_owned(),
        s.manifest.to_owned(),
        "--shard".to_owned(),
        "auto".to_owned(),
        "--progress".to_owned(),
        "plain".to_owned(),
    ];
    command.extend(s.args.iter().cloned());
    let mut spec = json!({
        "completionMode": "Indexed",
        "completions": s.shards,
        "parallelism": s.parallelism.unwrap_or(s.shards).min(s.shards),
        "backoffLimitPerIndex": 0,
    });
    if s.fail_fast {
        spec["maxFailedIndexes"] = json!(0);
    }
    spec["template"] = json!({
        "spec": {
            "restartPolicy": "Never",
            "containers": [{
                "name": "jobrun",
                "image": s.image,
                "command": command,
                "env": [{ "name": "JOBRUN_SHARD_TOTAL", "value": s.shards.to_string() }],
            }],
        },
    });
    if let Some(c) = s.cpus {
        spec["template"]["spec"]["containers"][0]["resources"] =
            json!({ "requests": { "cpu": c.to_string() } });
    }
    let mut metadata = json!({ "name": s.name });
    if !s.notes.is_empty() {
        metadata["annotations"] = json!({ "jobrun/rates": s.notes.join("; ") });
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": spec,
    })
}

/// `jobrun-<job>` as a DNS label: lowercase letters, digits and `-`, at most 63.
pub fn default_name(job: &str) -> String {
    let mut name: String = format!("jobrun-{job}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(63);
    name.trim_end_matches('-').to_owned()
}

/// Kubernetes names an Indexed Job's pods (and hostnames) after the Job:
/// a DNS label.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--name `{name}`: a Job name must be lowercase letters, digits and `-`, \
             at most 63, starting and ending with a letter or digit"
        ))
    }
}

/// Run `jobrun k8s`: print the Job for the already built and selected plan.
pub fn k8s(args: &K8sArgs, plan: &Plan, selected: &[bool]) -> Result<i32, Error> {
    super::check_workers(&args.input)?;
    super::shard_sizes(plan, selected, args.input.shards)?;
    let name = match &args.name {
        Some(n) => {
            check_name(n).map_err(Error::Usage)?;
            n.clone()
        }
        None => default_name(&plan.job.name),
    };
    let file = args.input.file.to_str().ok_or_else(|| {
        Error::Usage(format!(
            "the manifest path `{}` is not valid UTF-8",
            args.input.file.display()
        ))
    })?;
    let passthrough = super::passthrough_args(&args.input);
    let job = manifest(&Spec {
        name: &name,
        image: &args.image,
        manifest: file,
        shards: args.input.shards,
        parallelism: args.parallelism,
        fail_fast: plan.job.on_failure != OnFailure::Continue,
        args: &passthrough,
        cpus: super::cpus_per_shard(plan),
        notes: &super::rate_notes(plan, args.input.shards),
    });
    // Serializing a Value cannot fail.
    let text = serde_json::to_string_pretty(&job).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("cannot write to stdout", e))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec<'static> {
        Spec {
            name: "jobrun-images",
            image: "registry.example/jobs:1",
            manifest: "jobs/images.toml",
            shards: 4,
            parallelism: None,
            fail_fast: true,
            args: &[],
            cpus: None,
            notes: &[],
        }
    }

    #[test]
    fn the_cpu_pool_is_requested_and_rates_are_noted() {
        let notes = ["pool `s3`: 100/s for the whole job, so 100/4s per shard".to_owned()];
        let job = manifest(&Spec {
            cpus: Some(2),
            notes: &notes,
            ..spec()
        });
        let c = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["resources"], json!({ "requests": { "cpu": "2" } }));
        assert_eq!(
            job["metadata"]["annotations"]["jobrun/rates"],
            json!(notes[0])
        );
    }

    #[test]
    fn an_indexed_job() {
        let args = ["--var".to_owned(), "size=64".to_owned()];
        let m = manifest(&Spec {
            args: &args,
            ..spec()
        });
        assert_eq!(m["apiVersion"], "batch/v1");
        assert_eq!(m["kind"], "Job");
        assert_eq!(m["metadata"]["name"], "jobrun-images");
        let s = &m["spec"];
        assert_eq!(s["completionMode"], "Indexed");
        assert_eq!(s["completions"], 4);
        assert_eq!(s["parallelism"], 4);
        assert_eq!(s["backoffLimitPerIndex"], 0);
        assert_eq!(s["maxFailedIndexes"], 0);
        let pod = &s["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        let c = &pod["containers"][0];
        assert_eq!(c["image"], "registry.example/jobs:1");
        assert_eq!(
            c["command"],
            json!([
                "jobrun",
                "jobs/images.toml",
                "--shard",
                "auto",
                "--progress",
                "plain",
                "--var",
                "size=64"
            ])
        );
        assert_eq!(
            c["env"],
            json!([{ "name": "JOBRUN_SHARD_TOTAL", "value": "4" }])
        );
    }

    #[test]
    fn parallelism_and_continue() {
        let m = manifest(&Spec {
            parallelism: Some(2),
            fail_fast: false,
            ..spec()
        });
        assert_eq!(m["spec"]["parallelism"], 2);
        assert!(m["spec"].get("maxFailedIndexes").is_none());
        // More pods than shards would only idle.
        let m = manifest(&Spec {
            parallelism: Some(9),
            ..spec()
        });
        assert_eq!(m["spec"]["parallelism"], 4);
    }

    #[test]
    fn names() {
        assert_eq!(default_name("Images_v2.1"), "jobrun-images-v2-1");
        assert_eq!(default_name(&"x".repeat(80)).len(), 63);
        assert!(check_name("jobrun-images").is_ok());
        for bad in ["", "Big", "-a", "a-", "a_b", &"a".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
