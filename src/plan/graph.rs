//! `needs`: task-level resolution and cycle detection, then unit-level edges
//! (SPEC 1.3): a unit waits for the units of a needed task that agree on every
//! declared matrix key both tasks have; with no shared key, for all of them.

use std::collections::HashMap;

use super::unit::{TaskPlan, Unit};
use super::value::Value;

/// Find a cycle in the task graph, as task indices `a -> b -> ... -> a`.
pub fn find_cycle(tasks: &[TaskPlan]) -> Option<Vec<usize>> {
    // 0 = unvisited, 1 = on the stack, 2 = done
    let mut state = vec![0u8; tasks.len()];
    let mut stack: Vec<usize> = Vec::new();
    fn visit(
        t: usize,
        tasks: &[TaskPlan],
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[t] = 1;
        stack.push(t);
        for &n in &tasks[t].needs {
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
