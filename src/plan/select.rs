//! `--only`: which units of a plan run. Pure; the same plan and patterns give
//! the same selection.

use super::Plan;
use crate::error::Error;

/// Units matching any pattern (by exact id, task name, or glob over the id),
/// plus everything they transitively need, so a selected unit never runs
/// before its inputs exist. No patterns selects everything.
pub fn select(plan: &Plan, patterns: &[String]) -> Result<Vec<bool>, Error> {
    let n = plan.units.len();
    if patterns.is_empty() {
        return Ok(vec![true; n]);
    }
    let mut selected = vec![false; n];
    for p in patterns {
        // Ids contain `[`, a glob class: an exact id or task name wins, and a
        // pattern that is not a valid glob is taken literally.
        let glob = glob::Pattern::new(p).ok();
        let mut any = false;
        for (i, u) in plan.units.iter().enumerate() {
            let task = &plan.tasks[u.task as usize].name;
            let hit = &*u.id == p.as_str()
                || task == p
                || glob
                    .as_ref()
                    .is_some_and(|g| g.matches(&u.id) || g.matches(task));
            if hit {
                selected[i] = true;
                any = true;
            }
        }
        if !any {
            let tasks: Vec<&str> = plan.tasks.iter().map(|t| t.name.as_str()).collect();
            let hint = match crate::error::did_you_mean(p, tasks.iter().copied()) {
                Some(t) => format!("did you mean `{t}`?"),
                None => format!("tasks: {}", tasks.join(", ")),
            };
            return Err(Error::Usage(format!(
                "`--only {p}` matches no unit; {hint}"
            )));
        }
    }
    // A task may need a later task, so close the set with a worklist.
    let mut stack: Vec<usize> = (0..n).filter(|&i| selected[i]).collect();
    while let Some(i) = stack.pop() {
        for &d in plan.units[i].needs.iter() {
            if !selected[d as usize] {
                selected[d as usize] = true;
                stack.push(d as usize);
            }
        }
    }
    Ok(selected)
}
