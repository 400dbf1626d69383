//! Planner benchmarks: a 1,000,000-unit matrix, a glob over 100,000 files,
//! many include and exclude entries, and rendering each unit's argv
//! (`Plan::argv`). Manifests far past the limits, and long literal arrays
//! (whose cost is mostly the TOML parser's), are in `benches/plan_scale.sh`.
//!
//! Run with `cargo bench --bench plan`.

use std::fmt::Write as _;

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use jobrun::manifest::{self, Loaded};
use jobrun::plan::{self, Plan, PlanOptions};

/// Parse `text` as a manifest located in `dir`.
fn loaded(dir: &Path, text: &str) -> Loaded {
    manifest::parse(dir.join("bench.toml"), text.to_string()).expect("manifest parses")
}

fn build(l: &Loaded) -> Plan {
    plan::build(l, &PlanOptions::default()).expect("plan builds")
}

const MATRIX_1M: &str = r#"
[[task]]
name = "t"
matrix.a = { range = [0, 1000] }
matrix.b = { range = [0, 1000] }
run = ["echo", "{a}", "{b}"]
"#;

fn plan_matrix(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let l = loaded(dir.path(), MATRIX_1M);
    assert_eq!(build(&l).units.len(), 1_000_000);
    let mut g = c.benchmark_group("plan");
    g.sample_size(10);
    g.bench_function("build 1000x1000 matrix (1,000,000 units)", |b| {
        b.iter(|| build(&l))
    });
    g.finish();
}

fn plan_glob(c: &mut Criterion) {
    const FILES: usize = 100_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let files = dir.path().join("files");
    std::fs::create_dir(&files).expect("files dir");
    for i in 0..FILES {
        std::fs::File::create(files.join(format!("f{i:06}.txt"))).expect("create file");
    }
    let l = loaded(
        dir.path(),
        r#"
[[task]]
name = "t"
matrix.f = { glob = "files/*.txt" }
run = ["wc", "-c", "{f}"]
"#,
    );
    assert_eq!(build(&l).units.len(), FILES);
    let mut g = c.benchmark_group("plan");
    g.sample_size(10);
    g.bench_function("build glob over 100,000 files", |b| b.iter(|| build(&l)));
    g.finish();
}

/// 100 x 1,000 combinations and `n` entries, each naming one of them.
fn entries(kind: &str, n: usize, extra: &str) -> String {
    let mut t = String::from(
        "[[task]]\nname = \"t\"\nrun = [\"true\"]\n\
         matrix.a = { range = [0, 100] }\nmatrix.b = { range = [0, 1000] }\n",
    );
    writeln!(t, "{kind} = [").unwrap();
    for i in 0..n {
        writeln!(t, "  {{ a = {}, b = {}{extra} }},", i % 100, i / 100).unwrap();
    }
    t.push_str("]\n");
    t
}

fn plan_entries(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let exclude = loaded(dir.path(), &entries("exclude", 50_000, ""));
    assert_eq!(build(&exclude).units.len(), 50_000);
    let include = loaded(dir.path(), &entries("include", 10_000, ", note = \"n\""));
    assert_eq!(build(&include).units.len(), 100_000);
    let mut g = c.benchmark_group("plan");
    g.sample_size(10);
    g.bench_function("build 50,000 excludes over 100,000 combinations", |b| {
        b.iter(|| build(&exclude))
    });
    g.bench_function("build 10,000 includes over 100,000 combinations", |b| {
        b.iter(|| build(&include))
    });
    g.finish();
}

fn render_argv(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let l = loaded(
        dir.path(),
        r#"
[vars]
out = "thumbs"

[[task]]
name = "thumbnail"
matrix.file = ["a.jpg", "b c.jpg", "photos/2024/d.jpg", "e.jpeg"]
matrix.size = { range = [0, 250] }
run = ["convert", "{file}", "-resize", "{size}x{size}", "{out}/{file.stem}-{size}-w{worker}.png"]

[[task]]
name = "shell"
matrix.i = { range = [0, 1000] }
shell = "echo {i} {out} > {out}/{i}.txt"
"#,
    );
    let p = build(&l);
    let n = p.units.len();
    assert_eq!(n, 2000);
    let mut g = c.benchmark_group("template");
    g.throughput(criterion::Throughput::Elements(n as u64));
    g.bench_function("Plan::argv, 2,000 units (run and shell)", |b| {
        b.iter(|| {
            let mut bytes = 0;
            for i in 0..n {
                for a in p.argv(
                    i,
                    Some(jobrun::plan::Start {
                        worker: 1,
                        held: &[],
                    }),
                ) {
                    bytes += a.len();
                }
            }
            bytes
        })
    });
    g.finish();
}

criterion_group!(benches, plan_matrix, plan_glob, plan_entries, render_argv);
criterion_main!(benches);
