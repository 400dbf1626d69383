//! `needs`: task-level resolution and cycle detection, then unit-level edges
//! (SPEC 1.3): a unit waits for the units of a needed task that agree on every
//! declared matrix key both tasks have; with no shared key, for all of them.

use std::collections::HashMap;

use super::unit::{TaskPlan, Unit};
use super::value::Value;

/// Find a cycle in the task graph, as task indices `a -> b -> ... -> a`.
pub fn find_cycle(tasks: &[Vec<usize>]) -> Option<Vec<usize>> {
    // 0 = unvisited, 1 = on the stack, 2 = done
    let mut state = vec![0u8; tasks.len()];
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        t: usize,
        tasks: &[Vec<usize>],
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[t] = 1;
        stack.push(t);
        for &n in &tasks[t] {
            if state[n] == 1 {
                let from = stack.iter().position(|&x| x == n).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(n);
                return Some(cycle);
            }
            if state[n] == 0
                && let Some(c) = visit(n, tasks, state, stack)
            {
                return Some(c);
            }
        }
        stack.pop();
        state[t] = 2;
        None
    }
    for t in 0..tasks.len() {
        if state[t] == 0
            && let Some(c) = visit(t, tasks, &mut state, &mut stack)
        {
            return Some(c);
        }
    }
    None
}

/// Fill every unit's `needs` with plan indices, in plan order.
pub fn link(tasks: &[TaskPlan], units: &mut [Unit]) {
    for task in tasks.iter() {
        for &a in &task.needs {
            let needed = &tasks[a];
            // (key index in b, key index in a) for declared keys both have.
            let shared: Vec<(usize, usize)> = task.keys[..task.declared]
                .iter()
                .enumerate()
                .filter_map(|(kb, name)| {
                    needed.keys[..needed.declared]
                        .iter()
                        .position(|n| n == name)
                        .map(|ka| (kb, ka))
                })
                .collect();
            let range = needed.units.clone();
            if shared.is_empty() {
                let all: Vec<u32> = range.map(|i| i as u32).collect();
                for u in &mut units[task.units.clone()] {
                    extend(u, &all);
                }
                continue;
            }
            // Units of `a` by their shared values; units lacking a shared key
            // (include-added) match anything on that key.
            let mut by_values: HashMap<Vec<&Value>, Vec<u32>> = HashMap::new();
            let mut partial: Vec<u32> = Vec::new();
            for i in range {
                let vals: Option<Vec<&Value>> = shared
                    .iter()
                    .map(|&(_, ka)| units[i].values[ka].as_ref())
                    .collect();
                match vals {
                    Some(v) => by_values.entry(v).or_default().push(i as u32),
                    None => partial.push(i as u32),
                }
            }
            // Clone the lookup result so `units` can be borrowed mutably below.
            let mut edges: Vec<Vec<u32>> = Vec::with_capacity(task.units.len());
            for ub in task.units.clone() {
                let vals: Option<Vec<&Value>> = shared
                    .iter()
                    .map(|&(kb, _)| units[ub].values[kb].as_ref())
                    .collect();
                let mut e: Vec<u32> = match &vals {
                    Some(v) => by_values.get(v).cloned().unwrap_or_default(),
                    None => needed
                        .units
                        .clone()
                        .filter(|&ia| agree(&units[ub], &units[ia], &shared))
                        .map(|i| i as u32)
                        .collect(),
                };
                if vals.is_some() {
                    e.extend(
                        partial
                            .iter()
                            .copied()
                            .filter(|&ia| agree(&units[ub], &units[ia as usize], &shared)),
                    );
                    e.sort_unstable();
                }
                edges.push(e);
            }
            drop(by_values);
            for (ub, e) in task.units.clone().zip(edges) {
                extend(&mut units[ub], &e);
            }
        }
    }
}

fn agree(b: &Unit, a: &Unit, shared: &[(usize, usize)]) -> bool {
    shared
        .iter()
        .all(|&(kb, ka)| match (&b.values[kb], &a.values[ka]) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        })
}

fn extend(u: &mut Unit, more: &[u32]) {
    if more.is_empty() {
        return;
    }
    let mut v = std::mem::take(&mut u.needs).into_vec();
    v.extend_from_slice(more);
    v.sort_unstable();
    v.dedup();
    u.needs = v.into_boxed_slice();
}

#[cfg(test)]
mod tests {
    use indoc::indoc;

    use crate::plan::Plan;
    use crate::plan::build::tests::{error, plan};

    /// Each unit's needs, as ids.
    fn needs(p: &Plan) -> Vec<(&str, Vec<&str>)> {
        p.units
            .iter()
            .map(|u| {
                let n = u.needs.iter().map(|&i| &*p.units[i as usize].id).collect();
                (&*u.id, n)
            })
            .collect()
    }

    #[test]
    fn shared_keys_give_per_unit_edges() {
        let p = plan(indoc! {r#"
            [[task]]
            name = "fetch"
            matrix.file = ["a", "b"]
            run = ["true"]
            [[task]]
            name = "resize"
            matrix.size = [1, 2]
            matrix.file = ["a", "b"]
            run = ["true"]
            needs = ["fetch"]
            [[task]]
            name = "report"
            run = ["true"]
            needs = ["resize"]
        "#});
        assert_eq!(
            needs(&p),
            [
                ("fetch[file=a]", vec![]),
                ("fetch[file=b]", vec![]),
                ("resize[size=1,file=a]", vec!["fetch[file=a]"]),
                ("resize[size=1,file=b]", vec!["fetch[file=b]"]),
                ("resize[size=2,file=a]", vec!["fetch[file=a]"]),
                ("resize[size=2,file=b]", vec!["fetch[file=b]"]),
                (
                    "report",
                    vec![
                        "resize[size=1,file=a]",
                        "resize[size=1,file=b]",
                        "resize[size=2,file=a]",
                        "resize[size=2,file=b]",
                    ]
                ),
            ]
        );
    }

    #[test]
    fn no_shared_key_is_a_barrier() {
        let p = plan(indoc! {r#"
            [[task]]
            name = "a"
            matrix.x = [1, 2]
            run = ["true"]
            [[task]]
            name = "b"
            matrix.y = [1, 2]
            run = ["true"]
            needs = ["a"]
        "#});
        assert_eq!(
            needs(&p)[2..],
            [
                ("b[y=1]", vec!["a[x=1]", "a[x=2]"]),
                ("b[y=2]", vec!["a[x=1]", "a[x=2]"]),
            ]
        );
    }

    #[test]
    fn a_task_may_need_a_later_task() {
        let p = plan(indoc! {r#"
            [[task]]
            name = "upload"
            matrix.f = ["a", "b"]
            run = ["true"]
            needs = ["build", "build"]
            [[task]]
            name = "build"
            matrix.f = ["b", "a"]
            run = ["true"]
        "#});
        assert_eq!(
            needs(&p),
            [
                ("upload[f=a]", vec!["build[f=a]"]),
                ("upload[f=b]", vec!["build[f=b]"]),
                ("build[f=b]", vec![]),
                ("build[f=a]", vec![]),
            ]
        );
    }

    #[test]
    fn include_added_units_match_on_the_keys_they_have() {
        let p = plan(indoc! {r#"
            [[task]]
            name = "a"
            matrix.os = ["linux", "mac"]
            matrix.v = [1]
            include = [{ os = "bsd" }]
            run = ["true"]
            [[task]]
            name = "b"
            matrix.os = ["linux", "bsd"]
            matrix.v = [1]
            run = ["true"]
            needs = ["a"]
        "#});
        assert_eq!(
            needs(&p)[3..],
            [
                ("b[os=linux,v=1]", vec!["a[os=linux,v=1]"]),
                ("b[os=bsd,v=1]", vec!["a[os=bsd]"]),
            ]
        );
    }

    #[test]
    fn bad_needs() {
        let cases: &[(&str, &[&str])] = &[
            (
                indoc! {r#"
                    [[task]]
                    name = "a"
                    run = ["true"]
                    needs = ["a"]
                "#},
                &["dependency cycle: `a` -> `a`", "job.toml:4:10"],
            ),
            (
                indoc! {r#"
                    [[task]]
                    name = "a"
                    run = ["true"]
                    needs = ["c"]
                    [[task]]
                    name = "b"
                    run = ["true"]
                    needs = ["a"]
                    [[task]]
                    name = "c"
                    run = ["true"]
                    needs = ["b"]
                "#},
                &[
                    "dependency cycle: `a` -> `c` -> `b` -> `a`",
                    "job.toml:4:10",
                ],
            ),
            (
                indoc! {r#"
                    [[task]]
                    name = "fetch"
                    run = ["true"]
                    [[task]]
                    name = "b"
                    run = ["true"]
                    needs = ["fecth"]
                "#},
                &[
                    "task `b` needs `fecth`, which is not a task",
                    "did you mean `fetch`?",
                    "job.toml:7:10",
                ],
            ),
        ];
        for (toml, wants) in cases {
            let e = error(toml);
            for want in *wants {
                assert!(
                    e.contains(want),
                    "{want:?} not in:\n{e}\n--- for ---\n{toml}"
                );
            }
        }
    }
}
