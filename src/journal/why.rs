//! Whether a unit must run, and why (`plan --why` prints these).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::{Fingerprint, NO_STAMP, Prior, Stamp, needs_hash};
use crate::plan::Plan;
use crate::plan::value::display_path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Done before with the same fingerprint, and its outputs exist.
    UpToDate,
    /// `--fresh`: the journal is ignored.
    Fresh,
    /// No record of it.
    New,
    /// Its last attempt did not succeed (`failed`, `timed_out`, `killed`).
    LastFailed(String),
    /// The rendered command, env or dir differ.
    CommandChanged,
    /// An input's path or content differs (the first such input).
    InputChanged(String),
    /// An output is missing (the first missing one).
    OutputMissing(String),
    /// A unit it needs runs (again), so it runs too.
    DependencyRuns(String),
    /// A unit it needs ran again since it ran (in a run that stopped before
    /// reaching it).
    DependencyRan(String),
    /// An input cannot be hashed (not a regular file): the unit fails
    /// without running its command.
    Fails(String),
    /// A unit it depends on fails, so it is skipped (the failing unit's id).
    Skipped(String),
}

impl Why {
    /// Does its command run?
    pub fn runs(&self) -> bool {
        !matches!(self, Why::UpToDate | Why::Fails(_) | Why::Skipped(_))
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::UpToDate => f.write_str("up to date"),
            Why::Fresh => f.write_str("runs: --fresh"),
            Why::New => f.write_str("runs: new"),
            Why::LastFailed(o) => write!(f, "runs: {o} last time"),
            Why::CommandChanged => f.write_str("runs: command changed"),
            Why::InputChanged(p) => write!(f, "runs: input changed: {p}"),
            Why::OutputMissing(p) => write!(f, "runs: output missing: {p}"),
            Why::DependencyRuns(id) => write!(f, "runs: needs {id}, which runs"),
            Why::DependencyRan(id) => write!(f, "runs: needs {id}, which ran since"),
            Why::Fails(why) => write!(f, "fails: {why}"),
            Why::Skipped(id) => write!(f, "skipped: depends on {id}, which fails"),
        }
    }
}

/// The hash of the records of unit `i`'s needs (`stamp`): `ran[k]` for a
/// need that ran in this run (`ran` in the order of the needs, or empty),
/// else the journal's.
pub fn needs_of(plan: &Plan, i: usize, prior: &Prior, ran: &[Stamp]) -> String {
    let needs = &plan.units[i].needs;
    needs_hash(
        needs
            .iter()
            .enumerate()
            .filter(|&(_, &d)| !plan.list_edge(i, d))
            .map(|(k, &d)| match ran.get(k).copied().unwrap_or(NO_STAMP) {
                NO_STAMP => prior.stamp_of(d),
                s => s,
            }),
    )
}

/// Decide for unit `i` from its own record and its needs' records (a need
/// that runs now is the caller's). `outputs` are (shown, absolute) paths.
pub fn explain(
    plan: &Plan,
    i: usize,
    prior: &Prior,
    fp: &Fingerprint,
    outputs: &[(String, PathBuf)],
) -> Why {
    if prior.fresh {
        return Why::Fresh;
    }
    let Some(last) = prior.last.get(&plan.units[i].id) else {
        return Why::New;
    };
    if last.outcome != "ok" {
        return Why::LastFailed(last.outcome.to_string());
    }
    if last.cmd != fp.command {
        return Why::CommandChanged;
    }
    if last.fp != fp.hash {
        let changed = fp
            .inputs
            .iter()
            .find(|i| {
                !last
                    .inputs
                    .iter()
                    .any(|o| o.path == i.path && o.hash == i.hash)
            })
            .or_else(|| fp.inputs.first());
        return Why::InputChanged(
            changed.map_or_else(|| "(inputs list)".to_owned(), |i| i.path.clone()),
        );
    }
    // Empty on either side: a record from before needs were recorded, or a
    // unit whose needs were removed; neither changes what the unit made.
    if !last.needs.is_empty() && !fp.needs.is_empty() && last.needs != fp.needs {
        // Name the need that ran last (the journal may predate `needs`).
        let needs = &plan.units[i].needs;
        let latest = needs.iter().max_by_key(|&&d| {
            prior
                .last
                .get(&plan.units[d as usize].id)
                .map_or((0, 0), |r| (r.run, r.start_ms))
        });
        return Why::DependencyRan(
            latest.map_or_else(String::new, |&d| plan.units[d as usize].id.to_string()),
        );
    }
    if let Some((shown, _)) = outputs.iter().find(|(_, abs)| !prior.outputs.exists(abs)) {
        return Why::OutputMissing(shown.clone());
    }
    Why::UpToDate
}

/// `explain` for every selected unit, with dependencies: a unit whose need
/// runs runs too, one whose need fails is skipped. Reads inputs and
/// outputs; writes nothing.
pub fn explain_plan(plan: &Plan, selected: &[bool], prior: &Prior) -> Vec<Option<Why>> {
    // Nothing stops this early: SIGINT and SIGTERM keep their default
    // action here, which ends the process at once.
    let never = AtomicBool::new(false);
    let n = plan.units.len();
    let mut why: Vec<Option<Why>> = (0..n)
        .map(|i| {
            selected[i].then(|| {
                let mut fp = match super::fingerprint(plan, i, &prior.cache, &never) {
                    Ok(fp) => fp,
                    Err(e) => return Why::Fails(e.to_string()),
                };
                fp.needs = needs_of(plan, i, prior, &[]);
                let task = plan.task_of(i);
                let dir = plan.dir(i);
                let outputs: Vec<(String, PathBuf)> = plan
                    .paths(i, &task.outputs)
                    .into_iter()
                    .map(|rel| (display_path(&rel).into_owned(), dir.join(rel)))
                    .collect();
                explain(plan, i, prior, &fp, &outputs)
            })
        })
        .collect();
    // Needs may point to later units: propagate until nothing changes.
    let mut changed = true;
    while changed {
        changed = false;
        for i in 0..n {
            if matches!(why[i], None | Some(Why::Fails(_) | Why::Skipped(_))) {
                continue;
            }
            let root = plan.units[i]
                .needs
                .iter()
                .find_map(|&d| match &why[d as usize] {
                    Some(Why::Fails(_)) => Some(plan.units[d as usize].id.to_string()),
                    Some(Why::Skipped(root)) => Some(root.clone()),
                    _ => None,
                });
            if let Some(root) = root {
                why[i] = Some(Why::Skipped(root));
                changed = true;
                continue;
            }
            if why[i] != Some(Why::UpToDate) {
                continue;
            }
            let runs = plan.units[i].needs.iter().find(|&&d| {
                !plan.list_edge(i, d) && why[d as usize].as_ref().is_some_and(Why::runs)
            });
            if let Some(&d) = runs {
                why[i] = Some(Why::DependencyRuns(plan.units[d as usize].id.to_string()));
                changed = true;
            }
        }
    }
    why
}

/// Looks outputs up relative to the job's folder, opened once: the kernel
/// walks `out/a.png` instead of every component of the absolute path, for
/// each output of each unit (a no-op rerun is mostly these lookups).
#[derive(Default)]
pub struct OutputLookup {
    base: PathBuf,
    fd: Option<std::os::fd::OwnedFd>,
}

impl OutputLookup {
    pub fn new(base: &Path) -> OutputLookup {
        let fd = std::fs::File::open(base)
            .ok()
            .map(std::os::fd::OwnedFd::from);
        OutputLookup {
            base: base.to_path_buf(),
            fd,
        }
    }

    /// Whether anything is at `abs`, a dangling link included.
    pub fn exists(&self, abs: &Path) -> bool {
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        // By bytes: outputs are the job folder joined with relative paths.
        let rel = abs
            .as_os_str()
            .as_bytes()
            .strip_prefix(self.base.as_os_str().as_bytes())
            .and_then(|r| r.strip_prefix(b"/"))
            .filter(|r| !r.is_empty() && !r.starts_with(b"/"));
        if let (Some(fd), Some(rel)) = (&self.fd, rel)
            && let Ok(c) = std::ffi::CString::new(rel)
        {
            let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
            // SAFETY: a valid descriptor, a NUL-terminated path and room for the result.
            let r = unsafe {
                libc::fstatat(
                    fd.as_raw_fd(),
                    c.as_ptr(),
                    st.as_mut_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            };
            return r == 0;
        }
        std::fs::symlink_metadata(abs).is_ok()
    }
}
