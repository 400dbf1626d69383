//! `jobrun plan`: the plan as a table for people or JSON Lines for tools.

use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;

use serde_json::{Map, Value as Json, json};

use crate::plan::value::display_bytes;
use crate::plan::{Command, Plan};

/// One line per selected unit: index, id, command, and what it waits for.
pub fn write_table(out: &mut impl Write, plan: &Plan, selected: &[bool]) -> io::Result<()> {
    for (i, unit) in plan.units.iter().enumerate() {
        let task = plan.task_of(i);
        if let Some(p) = &task.pending
            && task.units.start == i
        {
            let n = task.units.clone().filter(|&u| selected[u]).count();
            writeln!(
                out,
                "    -  {}  {}; as its files are now, {n} unit{}:",
                task.name,
                p.describe(&plan.tasks),
                if n == 1 { "" } else { "s" }
            )?;
        }
        if !selected[i] {
            continue;
        }
        let cmd = command_line(plan, i);
        write!(out, "{i:>5}  {}  {cmd}", unit.id)?;
        match unit.needs.len() {
            0 => {}
            1 => write!(out, "  (needs {})", plan.units[unit.needs[0] as usize].id)?,
            n => write!(out, "  (needs {n} units)")?,
        }
        let waits: Vec<&str> = task
            .needs
            .iter()
            .map(|&t| &plan.tasks[t])
            .filter(|t| t.pending.as_ref().is_some_and(|p| !p.preview))
            .map(|t| t.name.as_str())
            .collect();
        if !waits.is_empty() {
            write!(out, "  (and the units of pending {})", waits.join(", "))?;
        }
        out.write_all(b"\n")?;
    }
    for t in &plan.tasks {
        if let Some(p) = &t.pending
            && !p.preview
        {
            writeln!(out, "    -  {}  {}", t.name, p.describe(&plan.tasks))?;
        }
    }
    Ok(())
}

/// A pending task's line of `plan --json`.
fn pending_json(plan: &Plan, t: &crate::plan::TaskPlan, selected: &[bool]) -> Option<Json> {
    let p = t.pending.as_ref()?;
    let producers: Vec<&str> = p
        .producers
        .iter()
        .map(|&q| plan.tasks[q].name.as_str())
        .collect();
    let reads: Vec<Json> = p
        .reads
        .iter()
        .map(|r| json!({"entry": r.entry, "path": r.path}))
        .collect();
    let units = p
        .preview
        .then(|| t.units.clone().filter(|&u| selected[u]).count());
    Some(json!({
        "task": t.name,
        "pending": {"producers": producers, "reads": reads},
        "units": units,
    }))
}

/// The command as one shell-pasteable line (argv elements quoted as needed).
pub fn command_line(plan: &Plan, unit: usize) -> String {
    match plan.command(unit, None) {
        Command::Argv(argv) => {
            let parts: Vec<String> = argv
                .iter()
                .map(|a| {
                    let q = crate::plan::template::shell_quote(a.as_bytes());
                    display_bytes(&q).into_owned()
                })
                .collect();
            parts.join(" ")
        }
        Command::Shell(s) => display_bytes(s.as_bytes()).into_owned(),
    }
}

/// One JSON object per selected unit and line. Byte strings that are not
/// UTF-8 are shown escaped (`\xNN`), as in unit ids.
pub fn write_json(out: &mut impl Write, plan: &Plan, selected: &[bool]) -> io::Result<()> {
    for t in &plan.tasks {
        if let Some(j) = pending_json(plan, t, selected) {
            serde_json::to_writer(&mut *out, &j)?;
            out.write_all(b"\n")?;
        }
    }
    for (i, unit) in plan.units.iter().enumerate() {
        if !selected[i] {
            continue;
        }
        let task = plan.task_of(i);
        let mut keys = Map::new();
        for (k, v) in task.keys.iter().zip(unit.values.iter()) {
            if let Some(v) = v {
                keys.insert(k.clone(), Json::String(v.display().into_owned()));
            }
        }
        let mut obj = Map::new();
        obj.insert("id".into(), json!(&*unit.id));
        obj.insert("task".into(), json!(task.name));
        obj.insert("index".into(), json!(i));
        obj.insert("keys".into(), Json::Object(keys));
        match plan.command(i, None) {
            Command::Argv(argv) => {
                let a: Vec<Json> = argv
                    .iter()
                    .map(|a| json!(display_bytes(a.as_bytes())))
                    .collect();
                obj.insert("argv".into(), Json::Array(a));
            }
            Command::Shell(s) => {
                obj.insert("shell".into(), json!(display_bytes(s.as_bytes())));
            }
        }
        obj.insert(
            "dir".into(),
            json!(display_bytes(plan.dir(i).as_os_str().as_bytes())),
        );
        let needs: Vec<Json> = unit
            .needs
            .iter()
            .map(|&n| json!(&*plan.units[n as usize].id))
            .collect();
        obj.insert("needs".into(), Json::Array(needs));
        if !task.uses.is_empty() {
            let uses: Map<String, Json> = task
                .uses
                .iter()
                .map(|u| {
                    use crate::plan::resources::MILLI;
                    let amount = if u.amount.is_multiple_of(MILLI) {
                        json!(u.amount / MILLI)
                    } else {
                        json!(u.amount as f64 / MILLI as f64)
                    };
                    (plan.pools[u.pool].name.clone(), amount)
                })
                .collect();
            obj.insert("uses".into(), Json::Object(uses));
        }
        if let Some(n) = task.max_parallel {
            obj.insert("max_parallel".into(), json!(n));
        }
        if task.pending.is_some() {
            // A unit of a pending task, as its list is now.
            obj.insert("pending".into(), json!(true));
        }
        serde_json::to_writer(&mut *out, &Json::Object(obj))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// `plan --why`: per selected unit, whether a run would run it and why.
pub fn write_why(
    out: &mut impl Write,
    plan: &Plan,
    why: &[Option<crate::journal::Why>],
) -> io::Result<()> {
    for (i, w) in why.iter().enumerate() {
        if let Some(w) = w {
            writeln!(out, "{i:>5}  {}  {w}", plan.units[i].id)?;
        }
    }
    // Their units are known only once their lists are written.
    for t in &plan.tasks {
        if let Some(p) = &t.pending {
            writeln!(out, "    -  {}  {}", t.name, p.describe(&plan.tasks))?;
        }
    }
    Ok(())
}
