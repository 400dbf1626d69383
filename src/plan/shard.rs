//! `--shard K/N`: a deterministic slice of the plan for one of N machines.
//!
//! Units are grouped into dependency-connected groups (a unit and everything
//! it needs or that needs it, within the selection). A group goes to shard
//! `xxh64(first unit id, seed 0) % N + 1`, where the first unit is the
//! group's lowest plan index. So shards are disjoint, their union is the
//! selection, and adding an input never moves another group to a new shard
//! (a group's first id does not depend on other groups).

use std::fmt;
use std::str::FromStr;

use xxhash_rust::xxh64::xxh64;

use super::Plan;
use crate::error::Error;

/// `K/N`, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub total: u32,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("invalid shard `{s}`: expected K/N with 1 <= K <= N, like `2/5`");
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let total: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || total == 0 || index > total {
            return Err(bad());
        }
        Ok(Shard { index, total })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

/// The documented, golden-tested hash of a group: xxh64 of its first unit id.
pub fn group_hash(first_id: &str) -> u64 {
    xxh64(first_id.as_bytes(), 0)
}

/// The 1-based shard a group with this first unit id belongs to.
pub fn shard_of(first_id: &str, total: u32) -> u32 {
    (group_hash(first_id) % u64::from(total)) as u32 + 1
}

/// For each unit, its group's representative: the lowest plan index in its
/// dependency-connected component among selected units (None if unselected).
pub fn groups(plan: &Plan, selected: &[bool]) -> Vec<Option<u32>> {
    let n = plan.units.len();
    let mut parent: Vec<u32> = (0..n as u32).collect();
    fn find(parent: &mut [u32], mut x: u32) -> u32 {
        while parent[x as usize] != x {
            let p = parent[x as usize];
            parent[x as usize] = parent[p as usize];
            x = p;
        }
        x
    }
    for (i, u) in plan.units.iter().enumerate() {
        if !selected[i] {
            continue;
        }
        for &d in u.needs.iter() {
            if selected[d as usize] {
                let (a, b) = (find(&mut parent, i as u32), find(&mut parent, d));
                // The root is always the lower index, so it is the group's first unit.
                let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                parent[hi as usize] = lo;
            }
        }
    }
    (0..n)
        .map(|i| selected[i].then(|| find(&mut parent, i as u32)))
        .collect()
}

/// A note when one group is too big for an even split (units that depend
/// on each other stay together, so that group makes one big shard).
pub fn balance_note(sizes: &[usize], largest_group: usize) -> Option<String> {
    let total: usize = sizes.iter().sum();
    let fair = total.div_ceil(sizes.len().max(1));
    (sizes.len() > 1 && largest_group > 1 && largest_group > 2 * fair).then(|| {
        let list = sizes
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "the shards are uneven (units per shard: {list}): one dependency-connected \
             group holds {largest_group} of the {total} units, and a group is never split"
        )
    })
}

/// Narrow `selected` to the units of `shard`. A selection that is a single
/// group cannot be split across more than one shard: that is an error
/// saying which task joins everything and what to do. Returns a note when
/// one group makes the split uneven (see `balance_note`).
pub fn apply(plan: &Plan, selected: &mut [bool], shard: Shard) -> Result<Option<String>, Error> {
    let groups = groups(plan, selected);
    // Per group (by its first unit): its shard and size, hashed once.
    let mut of_group: Vec<Option<(u32, usize)>> = vec![None; plan.units.len()];
    for &rep in groups.iter().flatten() {
        let slot = &mut of_group[rep as usize];
        let (_, size) =
            slot.get_or_insert_with(|| (shard_of(&plan.units[rep as usize].id, shard.total), 0));
        *size += 1;
    }
    let mut sizes = vec![0; shard.total as usize];
    let mut largest = 0;
    let mut count = 0;
    for &(k, size) in of_group.iter().flatten() {
        sizes[(k - 1) as usize] += size;
        largest = largest.max(size);
        count += 1;
    }
    if shard.total > 1 && count == 1 && largest > 1 {
        return Err(Error::Usage(unsplittable(plan, selected)));
    }
    for (i, g) in groups.iter().enumerate() {
        if let Some(rep) = g {
            selected[i] = of_group[*rep as usize].is_some_and(|(k, _)| k == shard.index);
        }
    }
    Ok(balance_note(&sizes, largest))
}

fn unsplittable(plan: &Plan, selected: &[bool]) -> String {
    // The task whose units have the most needs is the barrier that joins everything.
    let mut best: Option<(usize, usize)> = None;
    for (i, u) in plan.units.iter().enumerate() {
        if selected[i] && best.is_none_or(|(_, n)| u.needs.len() > n) {
            best = Some((i, u.needs.len()));
        }
    }
    let mut fan_out = vec![0usize; plan.units.len()];
    for (i, u) in plan.units.iter().enumerate() {
        if selected[i] {
            for &d in u.needs.iter() {
                fan_out[d as usize] += 1;
            }
        }
    }
    let upstream = (0..plan.units.len())
        .filter(|&i| selected[i])
        .max_by_key(|&i| fan_out[i]);
    // A barrier (needs many) runs after the shards; a task many units need
    // (e.g. a build step) runs before them.
    let mut after: Vec<String> = Vec::new();
    let mut before: Vec<String> = Vec::new();
    if let Some((i, n)) = best
        && n > 1
    {
        after.push(plan.task_of(i).name.clone());
    }
    if let Some(i) = upstream
        && fan_out[i] > 1
    {
        let t = plan.task_of(i).name.clone();
        if !after.contains(&t) {
            before.push(t);
        }
    }
    let joiners: Vec<&String> = before.iter().chain(&after).collect();
    let names = match joiners.as_slice() {
        [one] => format!("task `{one}` joins"),
        _ => format!(
            "tasks {} join",
            joiners
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    };
    let only = |tasks: &mut dyn Iterator<Item = &str>| {
        tasks.map(|t| format!(" --only {t}")).collect::<String>()
    };
    let split = only(
        &mut plan
            .tasks
            .iter()
            .map(|t| t.name.as_str())
            .filter(|t| !joiners.iter().any(|j| j.as_str() == *t)),
    );
    let mut steps = Vec::new();
    if !before.is_empty() {
        steps.push(format!(
            "first `jobrun FILE{}`",
            only(&mut before.iter().map(String::as_str))
        ));
    }
    let then = if before.is_empty() { "" } else { "then " };
    steps.push(format!(
        "{then}`jobrun FILE --shard K/N{split}` on each machine"
    ));
    if !after.is_empty() {
        steps.push(format!(
            "then, when all shards are done, `jobrun FILE{}`",
            only(&mut after.iter().map(String::as_str))
        ));
    }
    format!(
        "the selected units form one dependency-connected group ({names} them), \
         so they cannot be split into shards; run the joining task(s) on their own: {}",
        steps.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n() {
        assert_eq!("2/5".parse::<Shard>(), Ok(Shard { index: 2, total: 5 }));
        for bad in ["0/3", "4/3", "1/0", "x/2", "3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    /// Pinned: changing the function would move every group to another
    /// shard mid-way through a distributed job.
    /// Pinned: changing the function would move every group to another
    /// shard in the middle of a distributed job.
    #[test]
    fn golden_hashes() {
        let golden = [
            ("", 0xef46db3751d8e999, 2),
            ("build", 0x6ed8a8e3caf5eae5, 2),
            ("t[i=0]", 0x9610678b8248b93d, 2),
            (
                "thumbnail[file=images/aurora.jpg,size=64]",
                0xc9acb61b6accd072,
                3,
            ),
        ];
        for (id, hash, shard) in golden {
            assert_eq!(group_hash(id), hash, "{id}");
            assert_eq!(shard_of(id, 4), shard, "{id}");
        }
    }

    /// Random pipelines: for every N, the shards are disjoint, cover the
    /// selection, and never split a dependency.
    #[test]
    fn shards_partition_random_plans() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for _ in 0..40 {
            let (a, b, c) = (next(6) + 1, next(4) + 1, next(3) + 1);
            let barrier = if next(3) == 0 {
                "\n[[task]]\nname = \"all\"\nneeds = [\"t2\"]\nrun = [\"true\"]\n"
            } else {
                ""
            };
            let toml = format!(
                "[[task]]\nname = \"t1\"\nmatrix.a = {{ range = [0, {a}] }}\nrun = [\"true\"]\n\
                 [[task]]\nname = \"t2\"\nmatrix.a = {{ range = [0, {a}] }}\nmatrix.b = {{ range = [0, {b}] }}\nneeds = [\"t1\"]\nrun = [\"true\"]\n\
                 [[task]]\nname = \"t3\"\nmatrix.c = {{ range = [0, {c}] }}\nrun = [\"true\"]\n{barrier}"
            );
            let plan = crate::plan::build::tests::plan(&toml);
            let all = vec![true; plan.units.len()];
            for total in 1..=5u32 {
                let mut owner = vec![0u32; plan.units.len()];
                for index in 1..=total {
                    let mut sel = all.clone();
                    apply(&plan, &mut sel, Shard { index, total }).unwrap();
                    for (i, s) in sel.iter().enumerate() {
                        if *s {
                            assert_eq!(owner[i], 0, "unit {i} in two shards");
                            owner[i] = index;
                        }
                    }
                }
                assert!(owner.iter().all(|&o| o > 0), "every unit in some shard");
                for (i, u) in plan.units.iter().enumerate() {
                    for &d in u.needs.iter() {
                        assert_eq!(owner[i], owner[d as usize], "a dependency crosses shards");
                    }
                }
            }
        }
    }

    #[test]
    fn uneven_splits_are_noted() {
        let note = balance_note(&[1, 7, 0, 0], 7).expect("a note");
        assert!(
            note.contains("1, 7, 0, 0") && note.contains("holds 7 of the 8"),
            "{note}"
        );
        // Uneven by chance, not by a big group: no note.
        assert_eq!(balance_note(&[0, 5, 2, 1], 1), None);
        assert_eq!(balance_note(&[3, 2, 3], 2), None);
        assert_eq!(balance_note(&[5], 5), None);
        let plan = crate::plan::build::tests::plan(
            "[[task]]\nname = \"t\"\nmatrix.i = { range = [0, 40] }\nrun = [\"true\"]\n",
        );
        let mut sel = vec![true; 40];
        let note = apply(&plan, &mut sel, Shard { index: 1, total: 4 }).expect("splits");
        assert_eq!(note, None);
    }

    #[test]
    fn one_group_cannot_be_split() {
        let plan = crate::plan::build::tests::plan(
            "[[task]]\nname = \"t\"\nmatrix.i = [1, 2, 3]\nrun = [\"true\"]\n\
             [[task]]\nname = \"index\"\nneeds = [\"t\"]\nrun = [\"true\"]\n",
        );
        let mut sel = vec![true; plan.units.len()];
        let e = apply(&plan, &mut sel, Shard { index: 1, total: 2 })
            .unwrap_err()
            .to_string();
        assert!(e.contains("task `index` joins them"), "{e}");
        assert!(e.contains("--shard K/N --only t"), "{e}");
        assert!(
            e.contains("then, when all shards are done, `jobrun FILE --only index`"),
            "{e}"
        );
        // A step everything needs runs first.
        let plan = crate::plan::build::tests::plan(
            "[[task]]\nname = \"build\"\nrun = [\"true\"]\n\
             [[task]]\nname = \"t\"\nneeds = [\"build\"]\nmatrix.i = [1, 2, 3]\nrun = [\"true\"]\n",
        );
        let mut sel = vec![true; plan.units.len()];
        let e = apply(&plan, &mut sel, Shard { index: 1, total: 2 })
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("first `jobrun FILE --only build`, then `jobrun FILE --shard K/N --only t`"),
            "{e}"
        );
        let plan = crate::plan::build::tests::plan(
            "[[task]]\nname = \"t\"\nmatrix.i = [1, 2, 3]\nrun = [\"true\"]\n\
             [[task]]\nname = \"index\"\nneeds = [\"t\"]\nrun = [\"true\"]\n",
        );
        let mut sel = vec![true; plan.units.len()];
        // The same plan as one shard is fine.
        apply(&plan, &mut sel, Shard { index: 1, total: 1 }).unwrap();
    }

    #[test]
    fn adding_an_input_moves_no_other_group() {
        let toml = |n: u32| {
            format!("[[task]]\nname = \"t\"\nmatrix.i = {{ range = [0, {n}] }}\nrun = [\"true\"]\n")
        };
        let shard_ids = |plan: &crate::plan::Plan| -> Vec<(String, u32)> {
            (1..=3)
                .flat_map(|k| {
                    let mut sel = vec![true; plan.units.len()];
                    apply(plan, &mut sel, Shard { index: k, total: 3 }).unwrap();
                    plan.units
                        .iter()
                        .zip(sel)
                        .filter(|(_, s)| *s)
                        .map(move |(u, _)| (u.id.to_string(), k))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let before = shard_ids(&crate::plan::build::tests::plan(&toml(20)));
        let after = shard_ids(&crate::plan::build::tests::plan(&toml(21)));
        for pair in &before {
            assert!(after.contains(pair), "{pair:?} moved");
        }
    }
}

/// Where `--shard auto` found its index and total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub shard: Shard,
    pub source: &'static str,
}

/// `--shard auto`: the shard from the environment, read through `lookup` so
/// tests are deterministic. An index without a total is an error, never
/// "run everything".
pub fn detect(lookup: impl Fn(&str) -> Option<String>) -> Result<Detected, String> {
    let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
    let num = |k: &str, v: &str| -> Result<u32, String> {
        v.trim()
            .parse::<u32>()
            .map_err(|_| format!("`{k}={v}` is not a whole number"))
    };
    let make = |index: u32, total: u32, source: &'static str| -> Result<Detected, String> {
        if total == 0 || index == 0 || index > total {
            return Err(format!(
                "{source}: shard {index} of {total} is out of range"
            ));
        }
        Ok(Detected {
            shard: Shard { index, total },
            source,
        })
    };
    if let Some(v) = get("JOBRUN_SHARD") {
        let shard: Shard = v
            .parse()
            .map_err(|e: String| format!("JOBRUN_SHARD: {e}"))?;
        return Ok(Detected {
            shard,
            source: "JOBRUN_SHARD",
        });
    }
    let total_from_jobrun = get("JOBRUN_SHARD_TOTAL");
    // 0-based indices whose total only jobrun's own variable can give.
    for (var, engine, hint) in [
        (
            "SLURM_ARRAY_TASK_ID",
            "SLURM",
            "SLURM_ARRAY_TASK_COUNT is only the size of one submission; `jobrun slurm` sets JOBRUN_SHARD_TOTAL",
        ),
        (
            "JOB_COMPLETION_INDEX",
            "Kubernetes",
            "an Indexed Job does not tell its completions; set JOBRUN_SHARD_TOTAL in the pod spec (`jobrun k8s` does)",
        ),
    ] {
        if let Some(i) = get(var) {
            let Some(total) = &total_from_jobrun else {
                return Err(format!(
                    "{var} is set but the number of shards is not: {hint}"
                ));
            };
            return make(
                num(var, &i)?.saturating_add(1),
                num("JOBRUN_SHARD_TOTAL", total)?,
                engine,
            );
        }
    }
    // Grid Engine: 1-based; SGE_TASK_LAST is the total only for a `1-N` range.
    if let Some(i) = get("SGE_TASK_ID") {
        let index = num("SGE_TASK_ID", &i)?;
        if let Some(total) = &total_from_jobrun {
            return make(index, num("JOBRUN_SHARD_TOTAL", total)?, "Grid Engine");
        }
        let first = get("SGE_TASK_FIRST");
        let step = get("SGE_TASK_STEPSIZE");
        let (Some(last), Some("1"), Some("1")) = (
            get("SGE_TASK_LAST"),
            first.as_deref().map(str::trim),
            step.as_deref().map(str::trim),
        ) else {
            return Err(
                "SGE_TASK_ID is set but the number of shards is not: SGE_TASK_LAST is the total \
                 only for a `-t 1-N` range; set JOBRUN_SHARD_TOTAL (`jobrun sge` does)"
                    .into(),
            );
        };
        return make(index, num("SGE_TASK_LAST", &last)?, "Grid Engine");
    }
    // Engines that give both; (index var, total var, index base).
    for (iv, tv, base, engine) in [
        ("CI_NODE_INDEX", "CI_NODE_TOTAL", 1, "GitLab"),
        ("CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0, "CircleCI"),
        (
            "BUILDKITE_PARALLEL_JOB",
            "BUILDKITE_PARALLEL_JOB_COUNT",
            0,
            "Buildkite",
        ),
    ] {
        if let Some(i) = get(iv) {
            let Some(t) = get(tv) else {
                return Err(format!(
                    "{iv} is set but {tv} is not: refusing to guess the number of shards"
                ));
            };
            return make(
                (num(iv, &i)? + 1).saturating_sub(base),
                num(tv, &t)?,
                engine,
            );
        }
    }
    Err(
        "--shard auto: no shard in the environment (looked for JOBRUN_SHARD, SLURM_ARRAY_TASK_ID, \
         JOB_COMPLETION_INDEX, SGE_TASK_ID, CI_NODE_INDEX, CIRCLE_NODE_INDEX, BUILDKITE_PARALLEL_JOB); \
         give `--shard K/N` instead"
            .into(),
    )
}

#[cfg(test)]
mod detect_tests {
    use super::*;

    fn run(vars: &[(&str, &str)]) -> Result<(u32, u32, &'static str), String> {
        detect(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
        .map(|d| (d.shard.index, d.shard.total, d.source))
    }

    type Vars<'a> = &'a [(&'a str, &'a str)];

    #[test]
    fn engine_table() {
        let ok: &[(Vars<'_>, (u32, u32, &str))] = &[
            (&[("JOBRUN_SHARD", "2/3")], (2, 3, "JOBRUN_SHARD")),
            (
                &[("SLURM_ARRAY_TASK_ID", "0"), ("JOBRUN_SHARD_TOTAL", "4")],
                (1, 4, "SLURM"),
            ),
            // The trap: the count of one submission is not the total.
            (
                &[
                    ("SLURM_ARRAY_TASK_ID", "5"),
                    ("SLURM_ARRAY_TASK_COUNT", "2"),
                    ("JOBRUN_SHARD_TOTAL", "8"),
                ],
                (6, 8, "SLURM"),
            ),
            (
                &[("JOB_COMPLETION_INDEX", "3"), ("JOBRUN_SHARD_TOTAL", "4")],
                (4, 4, "Kubernetes"),
            ),
            (
                &[("SGE_TASK_ID", "3"), ("JOBRUN_SHARD_TOTAL", "4")],
                (3, 4, "Grid Engine"),
            ),
            (
                &[
                    ("SGE_TASK_ID", "2"),
                    ("SGE_TASK_FIRST", "1"),
                    ("SGE_TASK_LAST", "3"),
                    ("SGE_TASK_STEPSIZE", "1"),
                ],
                (2, 3, "Grid Engine"),
            ),
            (
                &[("CI_NODE_INDEX", "1"), ("CI_NODE_TOTAL", "2")],
                (1, 2, "GitLab"),
            ),
            (
                &[("CIRCLE_NODE_INDEX", "0"), ("CIRCLE_NODE_TOTAL", "2")],
                (1, 2, "CircleCI"),
            ),
            (
                &[
                    ("BUILDKITE_PARALLEL_JOB", "1"),
                    ("BUILDKITE_PARALLEL_JOB_COUNT", "2"),
                ],
                (2, 2, "Buildkite"),
            ),
            // JOBRUN_SHARD wins over an engine's variables.
            (
                &[
                    ("JOBRUN_SHARD", "1/2"),
                    ("CI_NODE_INDEX", "2"),
                    ("CI_NODE_TOTAL", "2"),
                ],
                (1, 2, "JOBRUN_SHARD"),
            ),
        ];
        for (vars, want) in ok {
            assert_eq!(run(vars), Ok(*want), "{vars:?}");
        }
        let bad: &[(Vars<'_>, &str)] = &[
            (&[], "no shard in the environment"),
            (
                &[
                    ("SLURM_ARRAY_TASK_ID", "0"),
                    ("SLURM_ARRAY_TASK_COUNT", "4"),
                ],
                "only the size of one submission",
            ),
            (&[("JOB_COMPLETION_INDEX", "0")], "JOBRUN_SHARD_TOTAL"),
            // A resubmission of tasks 3-4: SGE_TASK_LAST is not the total.
            (
                &[
                    ("SGE_TASK_ID", "3"),
                    ("SGE_TASK_FIRST", "3"),
                    ("SGE_TASK_LAST", "4"),
                    ("SGE_TASK_STEPSIZE", "1"),
                ],
                "only for a `-t 1-N` range",
            ),
            (
                &[("SGE_TASK_ID", "0"), ("JOBRUN_SHARD_TOTAL", "2")],
                "out of range",
            ),
            (&[("CI_NODE_INDEX", "1")], "CI_NODE_TOTAL is not"),
            (
                &[("CI_NODE_INDEX", "0"), ("CI_NODE_TOTAL", "2")],
                "out of range",
            ),
            (
                &[("CIRCLE_NODE_INDEX", "2"), ("CIRCLE_NODE_TOTAL", "2")],
                "out of range",
            ),
            (&[("JOBRUN_SHARD", "3/2")], "invalid shard"),
            (
                &[("CI_NODE_INDEX", "x"), ("CI_NODE_TOTAL", "2")],
                "not a whole number",
            ),
        ];
        for (vars, msg) in bad {
            let e = run(vars).unwrap_err();
            assert!(e.contains(msg), "{vars:?}: {e}");
        }
    }
}
