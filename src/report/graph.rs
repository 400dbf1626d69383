//! `jobrun plan --dot | --mermaid [--units]`: the task graph (edges
//! labelled by the matrix keys a dependency matches on) or the unit graph.

use std::io::{self, Write};

use crate::error::Error;
use crate::plan::Plan;

/// Past this, a unit graph is no picture anyone can read.
pub const MAX_UNITS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Dot,
    Mermaid,
}

struct Graph {
    /// Node labels.
    nodes: Vec<String>,
    /// (from, to, label): `from` is needed by `to`.
    edges: Vec<(usize, usize, String)>,
}

/// The keys a dependency of task `b` on task `a` matches on (see
/// `plan::graph::link`): their declared keys in common, or none (`all`).
fn shared_keys(plan: &Plan, b: usize, a: usize) -> String {
    let (tb, ta) = (&plan.tasks[b], &plan.tasks[a]);
    let keys: Vec<&str> = tb.keys[..tb.declared]
        .iter()
        .filter(|k| ta.keys[..ta.declared].contains(k))
        .map(String::as_str)
        .collect();
    if keys.is_empty() {
        "all".to_owned()
    } else {
        keys.join(", ")
    }
}

fn task_graph(plan: &Plan, selected: &[bool]) -> Graph {
    let nodes = plan
        .tasks
        .iter()
        .map(|t| {
            let n = selected[t.units.clone()].iter().filter(|&&s| s).count();
            match &t.pending {
                Some(_) => format!("{}\n(units at run time)", t.name),
                None => format!("{}\n{n} unit{}", t.name, if n == 1 { "" } else { "s" }),
            }
        })
        .collect();
    let mut edges = Vec::new();
    for (b, t) in plan.tasks.iter().enumerate() {
        for &a in &t.needs {
            edges.push((a, b, shared_keys(plan, b, a)));
        }
    }
    Graph { nodes, edges }
}

fn unit_graph(plan: &Plan, selected: &[bool]) -> Result<Graph, Error> {
    let chosen: Vec<usize> = (0..plan.units.len()).filter(|&u| selected[u]).collect();
    if chosen.len() > MAX_UNITS {
        return Err(Error::Usage(format!(
            "--units: {} units are too many to draw (at most {MAX_UNITS}); draw the task graph \
             (without --units), or select fewer with --only",
            chosen.len()
        )));
    }
    let mut node_of = vec![usize::MAX; plan.units.len()];
    for (n, &u) in chosen.iter().enumerate() {
        node_of[u] = n;
    }
    let nodes = chosen
        .iter()
        .map(|&u| plan.units[u].id.to_string())
        .collect();
    let mut edges = Vec::new();
    for (n, &u) in chosen.iter().enumerate() {
        for &d in plan.units[u].needs.iter() {
            if node_of[d as usize] != usize::MAX {
                edges.push((node_of[d as usize], n, String::new()));
            }
        }
    }
    Ok(Graph { nodes, edges })
}

pub fn write_graph(
    out: &mut impl Write,
    plan: &Plan,
    selected: &[bool],
    format: Format,
    units: bool,
) -> Result<io::Result<()>, Error> {
    let g = if units {
        unit_graph(plan, selected)?
    } else {
        task_graph(plan, selected)
    };
    Ok(match format {
        Format::Dot => write_dot(out, &plan.job.name, &g),
        Format::Mermaid => write_mermaid(out, &g),
    })
}

fn dot_quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                q.push('\\');
                q.push(c);
            }
            '\n' => q.push_str("\\n"),
            c if c.is_control() => q.push(' '),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

fn write_dot(out: &mut impl Write, name: &str, g: &Graph) -> io::Result<()> {
    writeln!(out, "digraph {} {{", dot_quote(name))?;
    writeln!(out, "  rankdir=LR;")?;
    writeln!(out, "  node [shape=box, fontname=\"sans-serif\"];")?;
    writeln!(out, "  edge [fontname=\"sans-serif\", fontsize=10];")?;
    for (i, label) in g.nodes.iter().enumerate() {
        writeln!(out, "  n{i} [label={}];", dot_quote(label))?;
    }
    for (a, b, label) in &g.edges {
        if label.is_empty() {
            writeln!(out, "  n{a} -> n{b};")?;
        } else {
            writeln!(out, "  n{a} -> n{b} [label={}];", dot_quote(label))?;
        }
    }
    writeln!(out, "}}")
}

/// Mermaid labels are quoted strings in which `"` must be an entity.
fn mermaid_quote(s: &str) -> String {
    let body: String = s
        .chars()
        .map(|c| match c {
            '"' => "#quot;".to_owned(),
            '\n' => "<br>".to_owned(),
            '<' => "#lt;".to_owned(),
            '>' => "#gt;".to_owned(),
            c if c.is_control() => " ".to_owned(),
            c => c.to_string(),
        })
        .collect();
    format!("\"{body}\"")
}

fn write_mermaid(out: &mut impl Write, g: &Graph) -> io::Result<()> {
    writeln!(out, "flowchart LR")?;
    for (i, label) in g.nodes.iter().enumerate() {
        writeln!(out, "  n{i}[{}]", mermaid_quote(label))?;
    }
    for (a, b, label) in &g.edges {
        if label.is_empty() {
            writeln!(out, "  n{a} --> n{b}")?;
        } else {
            writeln!(out, "  n{a} -->|{}| n{b}", mermaid_quote(label))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_quoted() {
        assert_eq!(dot_quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(mermaid_quote("t[k=\"x\"]"), "\"t[k=#quot;x#quot;]\"");
    }
}
