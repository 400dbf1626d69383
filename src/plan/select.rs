//! `--only`: which units of a plan run. Pure; the same plan and patterns give
//! the same selection.

use super::Plan;
use crate::error::Error;

/// Units matching any pattern (by exact id, task name, or glob over the id),
/// and with `with_deps` everything they transitively need. Without it, needs
/// outside the selection are taken as done (the journal says whether they
/// are), which is what lets a barrier task run on its own after the shards.
/// No patterns selects everything.
pub fn select(plan: &Plan, patterns: &[String], with_deps: bool) -> Result<Vec<bool>, Error> {
    let n = plan.units.len();
    if patterns.is_empty() {
        return Ok(vec![true; n]);
    }
    let mut selected = vec![false; n];
    // Tasks whose units come at run time, that a pattern names.
    let mut pending_named: Vec<usize> = Vec::new();
    for p in patterns {
        let hit = matcher(plan, p);
        let mut any = false;
        for (i, u) in plan.units.iter().enumerate() {
            if hit(&u.id, &plan.tasks[u.task as usize].name) {
                selected[i] = true;
                any = true;
            }
        }
        for (t, task) in plan.tasks.iter().enumerate() {
            if task.pending.is_some() && names_pending(p, &task.name, &hit) {
                pending_named.push(t);
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
    if !with_deps {
        return Ok(selected);
    }
    // A pending task's deps are its tasks' units (what its units will need).
    let needs: Vec<Vec<usize>> = plan.tasks.iter().map(|t| t.needs.clone()).collect();
    let upstream = super::dynamic::needed_by(&needs, &pending_named);
    for (t, task) in plan.tasks.iter().enumerate() {
        if upstream[t] {
            selected[task.units.clone()].fill(true);
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

/// Which of the units from `from` on (a pending task's, just expanded)
/// the patterns select; all with none. Their needs were decided at start.
pub fn select_new(plan: &Plan, patterns: &[String], from: usize) -> Vec<bool> {
    let hits: Vec<_> = patterns.iter().map(|p| matcher(plan, p)).collect();
    plan.units[from..]
        .iter()
        .map(|u| {
            let task = &plan.tasks[u.task as usize].name;
            hits.is_empty() || hits.iter().any(|h| h(&u.id, task))
        })
        .collect()
}

/// Does pattern `p` select units a pending task `task` will have: its
/// name, a glob over it, or a glob over its ids (`task[key=a*`)?
fn names_pending(p: &str, task: &str, hit: &impl Fn(&str, &str) -> bool) -> bool {
    hit(task, task)
        || p.strip_prefix(task)
            .is_some_and(|rest| rest.starts_with('[') || rest.starts_with('*'))
}

/// `[` and `]` as glob literals (`[[]`, `[]]`).
fn literal_brackets(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 8);
    for c in p.chars() {
        match c {
            '[' => out.push_str("[[]"),
            ']' => out.push_str("[]]"),
            c => out.push(c),
        }
    }
    out
}

/// The test for one pattern: exact id, task name, or glob over either.
fn matcher(plan: &Plan, p: &str) -> impl Fn(&str, &str) -> bool + use<> {
    // Ids contain `[` and `]`, which a glob would read as a class: in
    // `--only` they are literal, so `task[key=a*` works; `*` and `?` are the
    // wildcards. A pattern equal to an id or a task name is taken exactly.
    let exact = plan
        .units
        .iter()
        .any(|u| &*u.id == p || plan.tasks[u.task as usize].name == *p)
        || plan.tasks.iter().any(|t| t.name == *p);
    let glob = if exact {
        None
    } else {
        glob::Pattern::new(&literal_brackets(p)).ok()
    };
    let p = p.to_owned();
    move |id: &str, task: &str| {
        id == p
            || task == p
            || glob
                .as_ref()
                .is_some_and(|g| g.matches(id) || g.matches(task))
    }
}

#[cfg(test)]
mod tests {
    use indoc::indoc;

    use super::select;
    use crate::plan::Plan;
    use crate::plan::build::tests::plan;

    fn job() -> Plan {
        plan(indoc! {r#"
            [[task]]
            name = "report"
            run = ["true"]
            needs = ["resize"]
            [[task]]
            name = "fetch"
            matrix.file = ["a.jpg", "b.jpg"]
            run = ["true"]
            [[task]]
            name = "resize"
            matrix.file = ["a.jpg", "b.jpg"]
            matrix.size = [64, 256]
            run = ["true"]
            needs = ["fetch"]
        "#})
    }

    fn chosen(p: &Plan, patterns: &[&str]) -> Vec<String> {
        let pats: Vec<String> = patterns.iter().map(|s| (*s).to_owned()).collect();
        let sel = select(p, &pats, true).unwrap_or_else(|e| panic!("{patterns:?}: {e}"));
        p.units
            .iter()
            .zip(sel)
            .filter(|(_, s)| *s)
            .map(|(u, _)| u.id.to_string())
            .collect()
    }

    #[test]
    fn selects_by_id_task_or_glob_with_dependencies() {
        let p = job();
        let cases: &[(&[&str], &[&str])] = &[
            (
                &[],
                &[
                    "report",
                    "fetch[file=a.jpg]",
                    "fetch[file=b.jpg]",
                    "resize[file=a.jpg,size=64]",
                    "resize[file=a.jpg,size=256]",
                    "resize[file=b.jpg,size=64]",
                    "resize[file=b.jpg,size=256]",
                ],
            ),
            // An exact id, although `[` starts a glob class.
            (&["fetch[file=b.jpg]"], &["fetch[file=b.jpg]"]),
            (
                &["resize[file=a.jpg,size=256]"],
                &["fetch[file=a.jpg]", "resize[file=a.jpg,size=256]"],
            ),
            (&["fetch"], &["fetch[file=a.jpg]", "fetch[file=b.jpg]"]),
            (
                &["resize*size=64]"],
                &[
                    "fetch[file=a.jpg]",
                    "fetch[file=b.jpg]",
                    "resize[file=a.jpg,size=64]",
                    "resize[file=b.jpg,size=64]",
                ],
            ),
            (&["fe*"], &["fetch[file=a.jpg]", "fetch[file=b.jpg]"]),
            // `[` is literal: an id's prefix with a wildcard.
            (&["fetch[file=a*"], &["fetch[file=a.jpg]"]),
            (
                &["fetch[file=?.jpg]"],
                &["fetch[file=a.jpg]", "fetch[file=b.jpg]"],
            ),
            (
                &["*a.jpg*", "fetch"],
                &[
                    "fetch[file=a.jpg]",
                    "fetch[file=b.jpg]",
                    "resize[file=a.jpg,size=64]",
                    "resize[file=a.jpg,size=256]",
                ],
            ),
            // A task earlier in the file pulls in later ones, transitively.
            (
                &["report"],
                &[
                    "report",
                    "fetch[file=a.jpg]",
                    "fetch[file=b.jpg]",
                    "resize[file=a.jpg,size=64]",
                    "resize[file=a.jpg,size=256]",
                    "resize[file=b.jpg,size=64]",
                    "resize[file=b.jpg,size=256]",
                ],
            ),
        ];
        for (patterns, want) in cases {
            assert_eq!(chosen(&p, patterns), *want, "{patterns:?}");
        }
    }

    #[test]
    fn without_deps_selects_exactly_the_matches() {
        let p = job();
        let sel = select(
            &p,
            &["report".to_owned(), "resize[file=a.jpg,size=64]".to_owned()],
            false,
        )
        .unwrap();
        let ids: Vec<&str> = p
            .units
            .iter()
            .zip(sel)
            .filter(|(_, s)| *s)
            .map(|(u, _)| &*u.id)
            .collect();
        assert_eq!(ids, ["report", "resize[file=a.jpg,size=64]"]);
    }

    #[test]
    fn no_match_is_a_usage_error() {
        let p = job();
        for (pattern, hint) in [
            ("fetc", "did you mean `fetch`?"),
            ("zzz", "tasks: report, fetch, resize"),
            ("fetch[file=c.jpg]", "did you mean `fetch`?"),
        ] {
            let e = select(&p, &[pattern.to_owned()], true).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            let e = e.to_string();
            assert!(
                e.contains(&format!("`--only {pattern}` matches no unit")),
                "{e}"
            );
            assert!(e.contains(hint), "{e}");
        }
    }
}
