//! Manifest -> Plan: defaults, vars, matrix expansion, templates, ids, needs.
//! Pure and deterministic: the same manifest and files give the same plan.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use toml::Spanned;

use super::dynamic;
use super::graph;
use super::matrix::{self, Budget, Scope};
use super::resources::{self, Pool};
use super::string_span;
use super::template::{Lookup, Slot, Template, TemplateError};
use super::unit::{CommandTemplate, FailureAllowed, JobSettings, Plan, TaskPlan, Unit};
use super::value::{Value, display_bytes};
use crate::error::{Diagnostic, Error, Errors, Source, did_you_mean};
use crate::manifest::{AllowFailure, Loaded, Task};

/// Options that change the plan.
#[derive(Debug, Default, Clone)]
pub struct PlanOptions {
    /// `--var key=value`, applied over `[vars]`.
    pub vars: Vec<(String, String)>,
    /// `--resource name=value`, applied over `[resources]`.
    pub resources: Vec<(String, String)>,
}

/// Build the plan for a loaded manifest located at `loaded.source.path`.
///
/// Stages, each its own function: job settings, vars and pools
/// (`Context::new`), the task graph (`task_graph`), which tasks wait for a
/// list an earlier task writes (`dynamic::find`), each task's expansion
/// (`expand_task`), then ids, unit edges and the arithmetic check
/// (`finish`). Run-time expansion (`expand`) reuses the last three.
pub fn build(loaded: &Loaded, options: &PlanOptions) -> Result<Plan, Error> {
    let cx = Context::new(loaded, options)?;
    let needs = task_graph(loaded)?;
    let pending = dynamic::find(&cx, &needs);
    let mut tasks: Vec<TaskPlan> = Vec::with_capacity(needs.len());
    let mut units: Vec<Unit> = Vec::new();
    let mut budget = Budget::PLAN;
    // Tasks are independent here: report every task's errors, not the first.
    let mut errors = Errors::default();
    for (ti, (task_needs, pending)) in needs.into_iter().zip(pending).enumerate() {
        if errors.is_full() {
            break;
        }
        let expanded = match pending {
            // Checked as far as it can be now; its units come at run time.
            Some(p) => check_pending(&cx, ti, &p, units.len()).map(|mut t| {
                t.pending = Some(p);
                (t, Vec::new())
            }),
            None => expand_task(&cx, ti, None, budget, units.len()),
        };
        let Some((mut plan, more)) = errors.take(expanded) else {
            continue;
        };
        budget = spend(budget, more.len(), plan.keys.len());
        plan.needs = task_needs;
        tasks.push(plan);
        // Moved, not copied, when it is the first: one copy of a large
        // task's units at a time.
        if units.is_empty() {
            units = more;
        } else {
            units.extend(more);
        }
    }
    errors.finish()?;
    finish(
        &cx,
        Plan {
            job: cx.job.clone(),
            tasks,
            units,
            var_values: cx.var_values.clone(),
            pools: cx.pools.clone(),
        },
    )
}

/// Run time: expand the pending `ready` tasks, whose producers have
/// finished, into a new plan that keeps every unit of `plan` at its index
/// and appends theirs (each task's units stay contiguous).
pub fn expand(
    loaded: &Loaded,
    options: &PlanOptions,
    plan: &Plan,
    ready: &[usize],
) -> Result<Plan, Error> {
    let cx = Context::new(loaded, options)?;
    let mut next = plan.clone();
    let slots: usize = next
        .tasks
        .iter()
        .map(|t| t.units.len() * t.keys.len())
        .sum();
    let mut budget = spend(Budget::PLAN, next.units.len(), 0);
    budget.slots = budget.slots.saturating_sub(slots);
    for &ti in ready {
        let (mut t, more) = expand_task(&cx, ti, None, budget, next.units.len())?;
        budget = spend(budget, more.len(), t.keys.len());
        t.needs = std::mem::take(&mut next.tasks[ti].needs);
        t.reads_from = next.tasks[ti]
            .pending
            .as_ref()
            .map_or_else(Vec::new, |p| p.producers.clone());
        next.tasks[ti] = t;
        next.units.extend(more);
    }
    finish(&cx, next)
}

/// What every task's expansion reads: the job's settings, vars and pools.
pub(crate) struct Context<'l> {
    pub(crate) loaded: &'l Loaded,
    pub(crate) job: JobSettings,
    pub(crate) var_names: Vec<String>,
    pub(crate) var_values: Vec<Value>,
    pub(crate) pools: Vec<Pool>,
    /// `job.env_file`'s pairs (secret: never shown).
    job_env: Vec<(String, String)>,
}

impl<'l> Context<'l> {
    fn new(loaded: &'l Loaded, options: &PlanOptions) -> Result<Context<'l>, Error> {
        if loaded.manifest.tasks.is_empty() {
            return Err(Diagnostic::new("the manifest has no task")
                .in_file(&loaded.source)
                .help("add one:\n\n      [[task]]\n      name = \"hello\"\n      run = [\"echo\", \"hello\"]")
                .into());
        }
        // [job], [vars], [resources] and the job's env files do not depend
        // on each other: all their errors are reported.
        let mut errors = Errors::default();
        let job = errors.take(job_settings(loaded));
        let vars = errors.take(vars(loaded, options));
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pools = errors.take(resources::pools(
            &loaded.manifest.resources,
            &options.resources,
            &loaded.source,
            cpus,
        ));
        let job_env = errors.take(super::env_file::read(loaded, &loaded.manifest.job.env_file));
        errors.finish()?;
        let (Some(job), Some((var_names, var_values)), Some(pools), Some(job_env)) =
            (job, vars, pools, job_env)
        else {
            return Err(Error::Usage(
                "internal: a stage failed without an error".into(),
            ));
        };
        Ok(Context {
            loaded,
            job,
            var_names,
            var_values,
            pools,
            job_env,
        })
    }

    /// Lookups for templates over vars, env and names only (matrix values,
    /// source paths).
    pub(crate) fn static_cx<'a>(&'a self, task: &'a str) -> StaticCx<'a> {
        StaticCx {
            vars: &self.var_values,
            job: &self.job.name,
            task,
        }
    }

    pub(crate) fn static_slot(&self, name: &str) -> Option<Slot> {
        static_slot(name, &self.var_names)
    }
}

/// `[job]` after defaults.
fn job_settings(loaded: &Loaded) -> Result<JobSettings, Error> {
    let m = &loaded.manifest;
    let src = &loaded.source;
    let manifest_dir = match src.path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let manifest_dir = std::fs::canonicalize(&manifest_dir).map_err(|e| {
        Diagnostic::new(format!(
            "cannot open the manifest's folder `{}`: {e}",
            manifest_dir.display()
        ))
    })?;

    let name = match &m.job.name {
        Some(n) => {
            check_job_name(n.get_ref()).map_err(|msg| Diagnostic::new(msg).at(src, n.span()))?;
            n.get_ref().clone()
        }
        None => {
            let stem = src
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            check_job_name(&stem).map_err(|msg| {
                Diagnostic::new(msg)
                    .in_file(src)
                    .help("the job is named after the file; set `name = \"...\"` in [job]")
            })?;
            stem
        }
    };

    let dir = match &m.job.dir {
        Some(d) => {
            let joined = manifest_dir.join(d.get_ref());
            std::fs::canonicalize(&joined).map_err(|e| {
                Diagnostic::new(format!("job dir `{}` cannot be used: {e}", d.get_ref()))
                    .at(src, d.span())
                    .help("`dir` is relative to the manifest's folder and must exist")
            })?
        }
        None => manifest_dir.clone(),
    };
    let state_dir = match &m.job.state_dir {
        Some(d) if d.get_ref().trim().is_empty() => {
            return Err(Diagnostic::new("`state_dir` is empty")
                .at(src, d.span())
                .into());
        }
        Some(d) => manifest_dir.join(d.get_ref()),
        None => manifest_dir.join(".jobrun"),
    };
    let shell = match &m.job.shell {
        Some(s) if s.get_ref().is_empty() || s.get_ref()[0].is_empty() => {
            return Err(Diagnostic::new("`shell` must name a program")
                .at(src, s.span())
                .help("for example `shell = [\"bash\", \"-c\"]`")
                .into());
        }
        Some(s) => s.get_ref().clone(),
        None => vec!["sh".into(), "-c".into()],
    };
    Ok(JobSettings {
        name,
        workers: m.job.workers.unwrap_or_default(),
        on_failure: m.job.on_failure.unwrap_or_default(),
        max_failures: m.job.max_failures.unwrap_or_default(),
        kill_grace: m.job.kill_grace.map_or(Duration::from_secs(5), |d| d.0),
        shell,
        output: m.job.output.unwrap_or_default(),
        keep_order: m.job.keep_order.unwrap_or(false),
        state_dir,
        dir,
    })
}

/// `[vars]`, then `--var` overrides: names and values.
fn vars(loaded: &Loaded, options: &PlanOptions) -> Result<(Vec<String>, Vec<Value>), Error> {
    let src = &loaded.source;
    let mut var_names: Vec<String> = Vec::new();
    let mut var_values: Vec<Value> = Vec::new();
    for (k, v) in &loaded.manifest.vars {
        check_name(k).map_err(|msg| Diagnostic::new(msg).at(src, v.span()))?;
        let value = match v.get_ref() {
            toml::Value::String(s) => Value::from(s.as_str()),
            toml::Value::Integer(i) => Value::from(i.to_string().as_str()),
            toml::Value::Float(f) => {
                let raw = src.text.get(v.span()).unwrap_or("");
                Value::from(super::literal::float_text(raw, *f).as_str())
            }
            toml::Value::Boolean(b) => Value::from(b.to_string().as_str()),
            other => {
                return Err(Diagnostic::new(format!(
                    "var `{k}` must be a string, integer, float or boolean, not {}",
                    other.type_str()
                ))
                .at(src, v.span())
                .into());
            }
        };
        var_names.push(k.clone());
        var_values.push(value);
    }
    for (k, v) in &options.vars {
        match var_names.iter().position(|n| n == k) {
            Some(i) => var_values[i] = Value::from(v.as_str()),
            None => {
                let hint = match did_you_mean(k, var_names.iter().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if var_names.is_empty() => "the manifest declares no [vars]".to_owned(),
                    None => format!("declared vars: {}", quoted(&var_names)),
                };
                return Err(Error::Usage(format!(
                    "`--var {k}=...` names no var in [vars]; {hint}"
                )));
            }
        }
    }
    Ok((var_names, var_values))
}

/// Task names and `needs`, resolved to indices: each task's needs, with no
/// cycle.
fn task_graph(loaded: &Loaded) -> Result<Vec<Vec<usize>>, Error> {
    let m = &loaded.manifest;
    let src = &loaded.source;
    let mut seen: HashSet<&str> = HashSet::new();
    for task in &m.tasks {
        let tname = task.name.get_ref();
        check_task_name(tname).map_err(|msg| Diagnostic::new(msg).at(src, task.name.span()))?;
        if !seen.insert(tname) {
            return Err(Diagnostic::new(format!("duplicate task name `{tname}`"))
                .at(src, task.name.span())
                .help("task names must be unique")
                .into());
        }
    }
    let names: Vec<&str> = m.tasks.iter().map(|t| t.name.get_ref().as_str()).collect();
    let mut all = Vec::with_capacity(m.tasks.len());
    for task in &m.tasks {
        let mut needs = Vec::new();
        for n in &task.needs {
            let Some(i) = names.iter().position(|x| x == n.get_ref()) else {
                let mut d = Diagnostic::new(format!(
                    "task `{}` needs `{}`, which is not a task",
                    task.name.get_ref(),
                    n.get_ref()
                ))
                .at(src, n.span());
                d = match did_you_mean(n.get_ref(), names.iter().copied()) {
                    Some(s) => d.label(format!("did you mean `{s}`?")),
                    None => d.label("unknown task"),
                };
                return Err(d.help(format!("tasks: {}", quoted(&names))).into());
            };
            if !needs.contains(&i) {
                needs.push(i);
            }
        }
        all.push(needs);
    }
    if let Some(cycle) = graph::find_cycle(&all) {
        let path = cycle
            .iter()
            .map(|&t| format!("`{}`", names[t]))
            .collect::<Vec<_>>()
            .join(" -> ");
        let first = &m.tasks[cycle[0]];
        let span = first
            .needs
            .iter()
            .find(|n| *n.get_ref() == names[cycle[1]])
            .map_or(first.name.span(), |n| n.span());
        return Err(Diagnostic::new(format!("dependency cycle: {path}"))
            .at(src, span)
            .help("a task cannot wait for itself, directly or through others; remove one of these `needs`")
            .into());
    }
    Ok(all)
}

/// A pending task, checked as far as it can be before its list exists:
/// its list sources stand in for one value each, so its templates are
/// checked against the keys it will have. (A row source's columns are only
/// known from its file: such a task is checked when it expands.)
fn check_pending(
    cx: &Context<'_>,
    ti: usize,
    p: &dynamic::Pending,
    first_unit: usize,
) -> Result<TaskPlan, Error> {
    let task = &cx.loaded.manifest.tasks[ti];
    let mut t = match p.stand_in(&task.matrix) {
        Some(matrix) => expand_task(cx, ti, Some(&matrix), Budget::PLAN, first_unit)?.0,
        None => unchecked_task(cx, ti)?,
    };
    t.units = first_unit..first_unit;
    Ok(t)
}

/// A pending task whose keys come from its list's columns: its templates
/// are parsed when it expands; until then it runs nothing.
fn unchecked_task(cx: &Context<'_>, ti: usize) -> Result<TaskPlan, Error> {
    let m = &cx.loaded.manifest;
    let task = &m.tasks[ti];
    let uses = resources::uses(
        task.name.get_ref(),
        &task.uses,
        &cx.pools,
        &cx.loaded.source,
    )?;
    Ok(TaskPlan {
        name: task.name.get_ref().clone(),
        keys: Vec::new(),
        declared: 0,
        command: CommandTemplate::Run(Vec::new()),
        inputs: Vec::new(),
        outputs: Vec::new(),
        env: Vec::new(),
        dir: None,
        retries: 0,
        retry_delay: Duration::ZERO,
        timeout: None,
        // Its keys are not known yet: decided when it expands.
        allow_failure: FailureAllowed::Fixed(false),
        keep_failed_outputs: false,
        ok_codes: vec![0],
        needs: Vec::new(),
        uses,
        max_parallel: None,
        units: 0..0,
        pending: None,
        reads_from: Vec::new(),
    })
}

/// Stage: one task's matrix expanded and its templates parsed. `matrix`
/// stands in for the task's own (a pending task's check); units are
/// numbered from `first_unit`.
fn expand_task(
    cx: &Context<'_>,
    ti: usize,
    matrix: Option<&IndexMap<String, Spanned<toml::Value>>>,
    budget: Budget,
    first_unit: usize,
) -> Result<(TaskPlan, Vec<Unit>), Error> {
    let m = &cx.loaded.manifest;
    let src = &cx.loaded.source;
    let pools = &cx.pools;
    let task = &m.tasks[ti];
    let tname = task.name.get_ref();
    // The matrix, the pools, the settings and the templates are checked
    // apart, so one run reports each of their errors (the templates and
    // `allow_failure` need the keys, so a broken matrix hides theirs).
    let mut errors = Errors::default();
    let exp = errors.take(task_matrix(cx, ti, matrix, budget));
    let uses = errors.take(resources::uses(tname, &task.uses, pools, src));
    let max_parallel = errors.take(match &task.max_parallel {
        Some(n) if (1..=i64::from(u32::MAX)).contains(n.get_ref()) => Ok(Some(*n.get_ref() as u32)),
        Some(n) => Err(Diagnostic::new(format!(
            "task `{tname}`: `max_parallel = {}` must be a whole number >= 1",
            n.get_ref()
        ))
        .at(src, n.span())
        .help("it caps how many of the task's units run at once; leave it out for no cap")),
        None => Ok(None),
    });
    errors.take(check_settings(cx, ti));
    let templates = match (&exp, &uses) {
        (Some(exp), Some(uses)) => errors.take(task_templates(cx, ti, exp, uses)),
        _ => None,
    };
    let allowed = exp
        .as_ref()
        .and_then(|exp| errors.take(allow_failure(src, task, exp)));
    errors.finish()?;
    let (Some(exp), Some(uses), Some(max_parallel), Some(templates), Some(allow_failure)) =
        (exp, uses, max_parallel, templates, allowed)
    else {
        return Err(Error::Usage(
            "internal: a stage failed without an error".into(),
        ));
    };
    let Templates {
        command,
        inputs,
        outputs,
        env,
        dir,
    } = templates;
    // Keys only some includes set must be set for every unit whose templates use them.
    check_partial_keys(src, task, &exp, &command, &inputs, &outputs, &env, &dir)?;

    // Taken from the back and given back as they go, so a large matrix
    // never holds all its combinations and all its units at once.
    let mut combos = exp.combos;
    let mut units = Vec::with_capacity(combos.len());
    while let Some(combo) = combos.pop() {
        let id = unit_id(
            tname,
            &exp.keys,
            exp.declared,
            &combo.values,
            combo.own_keys.as_deref(),
        );
        units.push(Unit {
            task: ti as u32,
            id: id.into(),
            values: combo.values,
            needs: Box::new([]),
        });
        if combos.len() % 16384 == 0 {
            combos.shrink_to_fit();
        }
    }
    units.reverse();
    let plan = TaskPlan {
        name: tname.clone(),
        keys: exp.keys,
        declared: exp.declared,
        command,
        inputs,
        outputs,
        env,
        dir,
        retries: task.retries.or(m.job.retries).unwrap_or(0),
        retry_delay: task
            .retry_delay
            .or(m.job.retry_delay)
            .map_or(Duration::from_secs(1), |d| d.0),
        timeout: task.timeout.or(m.job.timeout).map(|d| d.0),
        allow_failure,
        keep_failed_outputs: task
            .keep_failed_outputs
            .or(m.job.keep_failed_outputs)
            .unwrap_or(false),
        ok_codes: task.ok_codes.clone().unwrap_or_else(|| vec![0]),
        needs: Vec::new(),
        uses,
        max_parallel,
        units: first_unit..first_unit + units.len(),
        pending: None,
        reads_from: Vec::new(),
    };
    Ok((plan, units))
}

/// A task's matrix, expanded within the plan's budget (`matrix` stands in
/// for the task's own when given).
fn task_matrix(
    cx: &Context<'_>,
    ti: usize,
    matrix: Option<&IndexMap<String, Spanned<toml::Value>>>,
    budget: Budget,
) -> Result<matrix::Expansion, Error> {
    let m = &cx.loaded.manifest;
    let src = &cx.loaded.source;
    let job = &cx.job;
    let var_names = &cx.var_names;
    let task = &m.tasks[ti];
    let tname = task.name.get_ref();
    let scx = cx.static_cx(tname);
    let static_scope = |name: &str| -> Result<Slot, Option<String>> {
        static_slot(name, var_names).ok_or_else(|| {
            Some(format!(
                "{}here only vars, `env.NAME`, `job.name` and `task.name` are known",
                suggest(name, var_names.iter().map(String::as_str))
            ))
        })
    };
    let parse_static = |text: &str, span: Range<usize>, field: &str| {
        Template::parse(text, &static_scope)
            .map_err(|e| template_diag(src, tname, field, text, span, e))
    };
    let scope = Scope {
        source: src,
        job_dir: &job.dir,
        task: tname,
        lookup: &scx,
        parse: &parse_static,
    };
    let exp = matrix::expand(
        &scope,
        matrix.unwrap_or(&task.matrix),
        &task.include,
        &task.exclude,
        budget,
    )?;
    for k in &exp.keys {
        if var_names.contains(k) {
            return Err(Diagnostic::new(format!(
                "task `{tname}`: matrix key `{k}` has the same name as a var"
            ))
            .at(src, task.name.span())
            .help("rename one of them, so `{name}` in a template is never ambiguous")
            .into());
        }
    }

    Ok(exp)
}

/// The task's templates, parsed against its keys: every name resolved or a
/// located error with a suggestion.
fn task_templates(
    cx: &Context<'_>,
    ti: usize,
    exp: &matrix::Expansion,
    uses: &[resources::Use],
) -> Result<Templates, Error> {
    let src = &cx.loaded.source;
    let var_names = &cx.var_names;
    let pools = &cx.pools;
    let m = &cx.loaded.manifest;
    let task = &m.tasks[ti];
    let tname = task.name.get_ref();
    let keys = exp.keys.clone();
    let resolve = |name: &str| -> Result<Slot, Option<String>> {
        if let Some(k) = keys.iter().position(|k| k == name) {
            return Ok(Slot::Key(k));
        }
        if let Some(pool) = name.strip_prefix("resource.") {
            let Some(p) = pools.iter().position(|p| p.name == pool) else {
                let names = pools.iter().map(|p| p.name.as_str());
                return Err(Some(format!(
                    "{}`{{resource.NAME}}` names a pool of [resources]",
                    suggest(pool, names)
                )));
            };
            if !uses.iter().any(|u| u.pool == p) {
                return Err(Some(format!(
                    "task `{tname}` does not use pool `{pool}`: add `{pool} = 1` to its `uses`"
                )));
            }
            return Ok(Slot::Resource(p));
        }
        match name {
            "unit.id" => return Ok(Slot::UnitId),
            "unit.index" => return Ok(Slot::UnitIndex),
            "worker" => return Ok(Slot::Worker),
            _ => {}
        }
        static_slot(name, var_names).ok_or_else(|| {
            if name
                .chars()
                .any(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
            {
                // Most likely shell or JSON braces, not a name.
                return Some(
                    "`{` starts a template name; for a literal brace write `{{` (and `}}`)"
                        .into(),
                );
            }
            let known = keys
                .iter()
                .chain(var_names)
                .map(String::as_str)
                .chain(["job.name", "task.name", "unit.id", "unit.index", "worker"]);
            Some(format!(
                "{}known names: vars, matrix keys, `env.NAME`, `job.name`, `task.name`, `unit.id`, `unit.index`, `worker`",
                suggest(name, known)
            ))
        })
    };
    let parse = |s: &Spanned<String>, field: &str| {
        Template::parse(s.get_ref(), &resolve)
            .map_err(|e| template_diag(src, tname, field, s.get_ref(), s.span(), e))
    };
    let parse_shell = |s: &Spanned<String>| {
        Template::parse_shell(s.get_ref(), &resolve)
            .map_err(|e| template_diag(src, tname, "shell", s.get_ref(), s.span(), e))
    };
    // Where a unit's files are must not depend on which worker runs it.
    let resolve_fixed = |name: &str| -> Result<Slot, Option<String>> {
        match resolve(name) {
            Ok(Slot::Worker) => Err(Some(
                "`{worker}` is only known in `run`, `shell` and `env`: a unit's dir, inputs and \
                 outputs must not depend on which worker runs it"
                    .into(),
            )),
            Ok(Slot::Resource(_)) => Err(Some(
                "`{resource.NAME}` is only known in `run`, `shell` and `env`: a unit's dir, \
                 inputs and outputs must not depend on what it is given"
                    .into(),
            )),
            other => other,
        }
    };
    let parse_fixed = |s: &Spanned<String>, field: &str| {
        Template::parse(s.get_ref(), &resolve_fixed)
            .map_err(|e| template_diag(src, tname, field, s.get_ref(), s.span(), e))
    };

    // Every field is parsed, so one run reports each field's errors.
    let mut errors = Errors::default();
    let command = match (&task.run, &task.shell) {
        (Some(run), None) if run.get_ref().is_empty() => {
            errors.push(
                Diagnostic::new(format!("task `{tname}`: `run` is empty"))
                    .at(src, run.span())
                    .help("`run` is the argv: a program and its arguments, like [\"echo\", \"hi\"]")
                    .into(),
            );
            None
        }
        (Some(run), None) => {
            let args: Vec<Option<Template>> = run
                .get_ref()
                .iter()
                .map(|a| errors.take(parse(a, "run")))
                .collect();
            args.into_iter()
                .collect::<Option<Vec<_>>>()
                .map(CommandTemplate::Run)
        }
        (None, Some(sh)) => errors.take(parse_shell(sh)).map(CommandTemplate::Shell),
        (Some(run), Some(_)) => {
            errors.push(
                Diagnostic::new(format!("task `{tname}` has both `run` and `shell`"))
                    .at(src, run.span())
                    .help("keep one: `run` is an argv (no shell), `shell` is one string run by `job.shell`")
                    .into(),
            );
            None
        }
        (None, None) => {
            errors.push(
                Diagnostic::new(format!("task `{tname}` has neither `run` nor `shell`"))
                    .at(src, task.name.span())
                    .help("add `run = [\"program\", \"arg\"]` or `shell = \"command line\"`")
                    .into(),
            );
            None
        }
    };
    let mut fixed = |list: &[Spanned<String>], field: &str| -> Vec<Template> {
        list.iter()
            .filter_map(|s| errors.take(parse_fixed(s, field)))
            .collect()
    };
    let inputs = fixed(&task.inputs, "inputs");
    let outputs = fixed(&task.outputs, "outputs");
    // Env files first (job's, then the task's), so `env` wins over them.
    // Their values are literal text, never templates.
    let task_env = errors
        .take(super::env_file::read(cx.loaded, &task.env_file))
        .unwrap_or_default();
    let mut env: Vec<(String, Template)> = Vec::new();
    for (k, v) in cx.job_env.iter().chain(&task_env) {
        env.retain(|(name, _)| name != k);
        env.push((k.clone(), Template::literal(v)));
    }
    for (k, v) in m.job.env.iter().chain(&task.env) {
        let name = check_env_name(k).map_err(|msg| Diagnostic::new(msg).at(src, v.span()));
        if errors.take(name).is_none() {
            continue;
        }
        let Some(t) = errors.take(parse(v, "env")) else {
            continue;
        };
        env.retain(|(name, _): &(String, Template)| name != k);
        env.push((k.clone(), t));
    }
    let dir = task
        .dir
        .as_ref()
        .and_then(|d| errors.take(parse_fixed(d, "dir")));
    errors.finish()?;
    let Some(command) = command else {
        return Err(Error::Usage("internal: no command and no error".into()));
    };
    Ok(Templates {
        command,
        inputs,
        outputs,
        env,
        dir,
    })
}

struct Templates {
    command: CommandTemplate,
    inputs: Vec<Template>,
    outputs: Vec<Template>,
    env: Vec<(String, Template)>,
    dir: Option<Template>,
}

/// Settings that cannot work whatever the units: no exit code that means
/// success, a zero timeout, an empty program.
fn check_settings(cx: &Context<'_>, ti: usize) -> Result<(), Error> {
    let src = &cx.loaded.source;
    let m = &cx.loaded.manifest;
    let task = &m.tasks[ti];
    let tname = task.name.get_ref();
    if let Some(codes) = &task.ok_codes
        && codes.is_empty()
    {
        return Err(
            Diagnostic::new(format!("task `{tname}`: `ok_codes` is empty"))
                .at(src, task.name.span())
                .help("list the exit codes that mean success, like [0, 1]")
                .into(),
        );
    }

    if let Some(&code) = task
        .ok_codes
        .iter()
        .flatten()
        .find(|c| !(0..=255).contains(*c))
    {
        return Err(Diagnostic::new(format!(
            "task `{tname}`: exit code `{code}` in `ok_codes` can never happen"
        ))
        .at(src, task.name.span())
        .help("exit codes are 0 to 255 (a process killed by a signal has none)")
        .into());
    }
    if task
        .timeout
        .or(m.job.timeout)
        .is_some_and(|t| t.0.is_zero())
    {
        return Err(Diagnostic::new(format!(
            "task `{tname}`: `timeout` is 0, so every attempt would time out at once"
        ))
        .at(src, task.name.span())
        .help("give a real limit, like \"10m\", or leave `timeout` out for none")
        .into());
    }
    if let Some(run) = &task.run
        && let Some(first) = run.get_ref().first()
        && first.get_ref().is_empty()
    {
        return Err(Diagnostic::new(format!(
            "task `{tname}`: the program in `run` is an empty string"
        ))
        .at(src, first.span())
        .help("the first element of `run` names the program, like \"convert\"")
        .into());
    }

    Ok(())
}

/// `allow_failure`: fixed, or a key whose value is `true` or `false` for
/// every unit (anything else is an error here, never a guess at run time).
fn allow_failure(
    src: &Source,
    task: &Task,
    exp: &matrix::Expansion,
) -> Result<FailureAllowed, Diagnostic> {
    let tname = task.name.get_ref();
    let Some(a) = &task.allow_failure else {
        return Ok(FailureAllowed::Fixed(false));
    };
    let key = match a.get_ref() {
        AllowFailure::Fixed(b) => return Ok(FailureAllowed::Fixed(*b)),
        AllowFailure::Key(key) => key,
    };
    let Some(k) = exp.keys.iter().position(|x| x == key) else {
        let known = exp.keys.iter().map(String::as_str);
        return Err(Diagnostic::new(format!(
            "task `{tname}`: `allow_failure` names `{key}`, which is not a matrix key"
        ))
        .at(src, a.span())
        .label(match did_you_mean(key, known) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "unknown key".into(),
        })
        .help(if exp.keys.is_empty() {
            "the task has no matrix: write `allow_failure = true`".to_owned()
        } else {
            format!(
                "a matrix or include key whose values are `true` or `false`; keys: {}",
                quoted(&exp.keys)
            )
        }));
    };
    for c in &exp.combos {
        let value = c.values[k].as_ref().map(|v| v.as_bytes());
        if !matches!(value, Some(b"true" | b"false")) {
            let id = unit_id(
                tname,
                &exp.keys,
                exp.declared,
                &c.values,
                c.own_keys.as_deref(),
            );
            let what = match &c.values[k] {
                Some(v) => format!("is `{}`", v.display()),
                None => "has no value".into(),
            };
            return Err(Diagnostic::new(format!(
                "task `{tname}`: `allow_failure = \"{{{key}}}\"`, but `{key}` {what} for unit `{id}`"
            ))
            .at(src, a.span())
            .help(match &c.values[k] {
                Some(_) => format!("every unit's `{key}` must be `true` or `false`"),
                None => format!(
                    "every unit's `{key}` must be `true` or `false`: give it in each include \
                     entry, like `{{ {key} = false }}`"
                ),
            }));
        }
    }
    Ok(FailureAllowed::Key(k))
}

/// What is left of the plan's limits after a task's units.
fn spend(b: Budget, units: usize, keys: usize) -> Budget {
    Budget {
        units: b.units.saturating_sub(units),
        slots: b.slots.saturating_sub(units.saturating_mul(keys)),
    }
}

/// Stage: unique ids, unit edges, and the shell arithmetic check.
fn finish(cx: &Context<'_>, mut plan: Plan) -> Result<Plan, Error> {
    let m = &cx.loaded.manifest;
    let src = &cx.loaded.source;
    {
        let mut ids: HashSet<&str> = HashSet::with_capacity(plan.units.len());
        for u in &plan.units {
            if !ids.insert(&u.id) {
                let task = &m.tasks[u.task as usize];
                return Err(Diagnostic::new(format!("duplicate unit id `{}`", u.id))
                    .at(src, task.name.span())
                    .help("two combinations render the same id; make the matrix values (or include entries) distinct")
                    .into());
            }
        }
    }
    graph::link(&plan.tasks, &mut plan.units);
    if let Some((u, span, v)) = plan.non_integer_in_arithmetic() {
        let unit = &plan.units[u];
        let task = &m.tasks[unit.task as usize];
        if let Some(sh) = &task.shell {
            let name = &sh.get_ref()[span.clone()];
            let e = TemplateError {
                offset: span.start,
                len: span.len(),
                message: format!(
                    "`{name}` is `{}` for unit `{}`, not an integer, inside shell arithmetic",
                    display_bytes(&v),
                    unit.id
                ),
                hint: Some(format!(
                    "the shell evaluates a value inside `$((...))` as an expression, so only decimal \
                     integers are let in; move `{name}` out of the arithmetic, or pass it through \
                     `env` and check it in the shell"
                )),
            };
            return Err(template_diag(
                src,
                task.name.get_ref(),
                "shell",
                sh.get_ref(),
                sh.span(),
                e,
            )
            .into());
        }
    }
    Ok(plan)
}

/// `task` or `task[key=value,...]`.
fn unit_id(
    task: &str,
    keys: &[String],
    declared: usize,
    values: &[Option<Value>],
    own: Option<&[u32]>,
) -> String {
    let mut id = String::with_capacity(task.len() + 16 * declared.max(1));
    id.push_str(task);
    let mut first = true;
    let mut push = |id: &mut String, k: usize| {
        if let Some(v) = &values[k] {
            id.push(if first { '[' } else { ',' });
            first = false;
            let _ = write!(id, "{}={}", keys[k], v.display());
        }
    };
    match own {
        Some(own) => own.iter().for_each(|&k| push(&mut id, k as usize)),
        None => (0..declared).for_each(|k| push(&mut id, k)),
    }
    if !first {
        id.push(']');
    }
    id
}

#[allow(clippy::too_many_arguments)]
fn check_partial_keys(
    src: &Source,
    task: &Task,
    exp: &matrix::Expansion,
    command: &CommandTemplate,
    inputs: &[Template],
    outputs: &[Template],
    env: &[(String, Template)],
    dir: &Option<Template>,
) -> Result<(), Diagnostic> {
    let mut used: Vec<usize> = Vec::new();
    let cmd: Vec<&Template> = match command {
        CommandTemplate::Run(a) => a.iter().collect(),
        CommandTemplate::Shell(s) => vec![s],
    };
    for t in cmd
        .into_iter()
        .chain(inputs)
        .chain(outputs)
        .chain(env.iter().map(|(_, t)| t))
        .chain(dir)
    {
        for s in t.slots() {
            if let Slot::Key(k) = s
                && !used.contains(k)
            {
                used.push(*k);
            }
        }
    }
    for c in &exp.combos {
        for &k in &used {
            if c.values[k].is_none() {
                let id = unit_id(
                    task.name.get_ref(),
                    &exp.keys,
                    exp.declared,
                    &c.values,
                    c.own_keys.as_deref(),
                );
                return Err(Diagnostic::new(format!(
                    "task `{}`: unit `{id}` has no value for `{}`, which its templates use",
                    task.name.get_ref(),
                    exp.keys[k]
                ))
                .at(src, task.name.span())
                .help("an include added this unit without that key; give the key in that include entry"));
            }
        }
    }
    Ok(())
}

/// Names available everywhere: vars, env.NAME, job.name, task.name.
fn static_slot(name: &str, vars: &[String]) -> Option<Slot> {
    if let Some(i) = vars.iter().position(|v| v == name) {
        return Some(Slot::Var(i));
    }
    match name {
        "job.name" => Some(Slot::JobName),
        "task.name" => Some(Slot::TaskName),
        n => n
            .strip_prefix("env.")
            .filter(|e| !e.is_empty())
            .map(|e| Slot::Env(e.to_owned())),
    }
}

pub(crate) struct StaticCx<'a> {
    vars: &'a [Value],
    job: &'a str,
    task: &'a str,
}

impl Lookup for StaticCx<'_> {
    fn lookup(&self, slot: &Slot, out: &mut Vec<u8>) {
        match slot {
            Slot::Var(i) => out.extend_from_slice(self.vars[*i].as_bytes()),
            Slot::JobName => out.extend_from_slice(self.job.as_bytes()),
            Slot::TaskName => out.extend_from_slice(self.task.as_bytes()),
            Slot::Env(n) => {
                if let Some(v) = std::env::var_os(n) {
                    out.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()));
                }
            }
            // Not resolvable in a static scope; the parser never produces these here.
            _ => {}
        }
    }
}

fn template_diag(
    src: &Source,
    task: &str,
    field: &str,
    text: &str,
    span: Range<usize>,
    e: TemplateError,
) -> Diagnostic {
    // Point inside the string when its value can be mapped back to the text.
    let raw = src.text.get(span.clone()).unwrap_or("");
    let at = match string_span::locate(raw, text, e.offset..e.offset + e.len) {
        Some(r) => span.start + r.start..span.start + r.end,
        None => span,
    };
    let mut d =
        Diagnostic::new(format!("task `{task}`, field `{field}`: {}", e.message)).at(src, at);
    if let Some(h) = e.hint {
        d = d.help(h);
    }
    d
}

fn suggest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    match did_you_mean(name, known) {
        Some(s) => format!("did you mean `{s}`? "),
        None => String::new(),
    }
}

fn quoted<S: AsRef<str>>(names: &[S]) -> String {
    names
        .iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_name(k: &str) -> Result<(), String> {
    if k.is_empty()
        || !k
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "invalid var name `{k}`: use letters, digits, `_` and `-`"
        ));
    }
    if matrix::RESERVED.contains(&k) {
        return Err(format!(
            "`{k}` is a reserved name; choose another var name (reserved: {})",
            matrix::RESERVED.join(", ")
        ));
    }
    Ok(())
}

fn check_task_name(k: &str) -> Result<(), String> {
    if k.is_empty()
        || !k
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "invalid task name `{k}`: use letters, digits, `_` and `-`"
        ));
    }
    Ok(())
}

fn check_job_name(k: &str) -> Result<(), String> {
    if k.is_empty()
        || k.starts_with('.')
        || !k
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    {
        return Err(format!(
            "invalid job name `{k}`: use letters, digits, `_`, `-` and `.` (it names files in the state dir)"
        ));
    }
    Ok(())
}

fn check_env_name(k: &str) -> Result<(), String> {
    if k.is_empty() || k.contains('=') || k.contains('\0') {
        return Err(format!("invalid environment variable name `{k}`"));
    }
    Ok(())
}

/// The manifest's folder for a path as given on the command line.
pub fn manifest_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use indoc::indoc;

    use super::*;
    use crate::plan::Command;

    /// Plan `toml` as if it were `dir/job.toml`, with `--var` overrides.
    pub(crate) fn plan_in(dir: &Path, toml: &str, vars: &[(&str, &str)]) -> Result<Plan, Error> {
        let loaded = crate::manifest::parse(dir.join("job.toml"), toml.to_owned())?;
        let options = PlanOptions {
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            resources: Vec::new(),
        };
        build(&loaded, &options)
    }

    /// A temp dir holding these files (parents created).
    pub(crate) fn files(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (rel, contents) in files {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, contents).expect("write");
        }
        dir
    }

    pub(crate) fn plan(toml: &str) -> Plan {
        let dir = files(&[]);
        plan_in(dir.path(), toml, &[]).unwrap_or_else(|e| panic!("{e}\n--- for ---\n{toml}"))
    }

    /// The rendered error for a manifest that must not plan.
    pub(crate) fn error(toml: &str) -> String {
        let dir = files(&[]);
        match plan_in(dir.path(), toml, &[]) {
            Ok(p) => panic!("expected an error, got {:?}\n--- for ---\n{toml}", ids(&p)),
            Err(e) => e.to_string(),
        }
    }

    pub(crate) fn ids(plan: &Plan) -> Vec<&str> {
        plan.units.iter().map(|u| &*u.id).collect()
    }

    /// The argv of every unit, as strings.
    pub(crate) fn argvs(plan: &Plan) -> Vec<Vec<String>> {
        (0..plan.units.len())
            .map(|i| {
                plan.argv(i, None)
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn unit_ids() {
        let cases: &[(&str, &[&str])] = &[
            (
                indoc! {r#"
                    [[task]]
                    name = "solo"
                    run = ["true"]
                "#},
                &["solo"],
            ),
            (
                indoc! {r#"
                    [[task]]
                    name = "t"
                    matrix.os = ["linux", "mac"]
                    matrix.n = [1, 2.5, true]
                    run = ["true"]
                "#},
                &[
                    "t[os=linux,n=1]",
                    "t[os=linux,n=2.5]",
                    "t[os=linux,n=true]",
                    "t[os=mac,n=1]",
                    "t[os=mac,n=2.5]",
                    "t[os=mac,n=true]",
                ],
            ),
            (
                // Extras an include adds to existing units are not part of the id.
                indoc! {r#"
                    [[task]]
                    name = "t"
                    matrix.os = ["linux"]
                    include = [{ os = "linux", flag = "-x" }, { os = "bsd", cc = "clang" }]
                    run = ["true"]
                "#},
                &["t[os=linux]", "t[os=bsd,cc=clang]"],
            ),
            (
                // Values render as written; file names with `/` and spaces stay whole.
                indoc! {r#"
                    [vars]
                    src = "in"
                    [[task]]
                    name = "t"
                    matrix.file = ["{src}/a b.jpg"]
                    run = ["true"]
                "#},
                &["t[file=in/a b.jpg]"],
            ),
        ];
        for (toml, want) in cases {
            assert_eq!(ids(&plan(toml)), *want, "{toml}");
        }
    }

    #[test]
    fn floats_keep_their_text() {
        let p = plan(indoc! {r#"
            [vars]
            v = 2.50
            [[task]]
            name = "t"
            matrix.python = [
                3.10, # a comment, with a [bracket]
                3.9, 1e3, 1_000.5,
            ]
            matrix.s = ["a,b"]
            exclude = [{ python = 3.9 }]
            include = [{ python = 3.10, extra = 0.50 }, { python = 2.0 }]
            run = ["{python}", "{v}"]
        "#});
        assert_eq!(
            ids(&p),
            [
                "t[python=3.10,s=a,b]",
                "t[python=1e3,s=a,b]",
                "t[python=1000.5,s=a,b]",
                "t[python=2.0]",
            ]
        );
        assert_eq!(argvs(&p)[0], ["3.10", "2.50"]);
        let extra = p.tasks[0].keys.iter().position(|k| k == "extra").unwrap();
        assert_eq!(p.units[0].values[extra].as_ref().unwrap().display(), "0.50");
    }

    #[test]
    fn allow_failure_by_key() {
        let p = plan(indoc! {r#"
            [[task]]
            name = "t"
            matrix.os = ["linux", "mac"]
            matrix.experimental = [false]
            include = [{ os = "mac", experimental = true }, { os = "bsd", experimental = "true" }]
            allow_failure = "{experimental}"
            run = ["true"]
            [[task]]
            name = "fixed"
            allow_failure = true
            run = ["true"]
        "#});
        let allowed: Vec<bool> = (0..p.units.len()).map(|u| p.allows_failure(u)).collect();
        assert_eq!(
            ids(&p)[..3],
            [
                "t[os=linux,experimental=false]",
                "t[os=mac,experimental=false]",
                "t[os=mac,experimental=true]"
            ]
        );
        assert_eq!(allowed, [false, false, true, true, true]);

        let cases = [
            (
                r#"matrix.x = ["yes"]
                allow_failure = "{x}""#,
                "`allow_failure = \"{x}\"`, but `x` is `yes` for unit `t[x=yes]`",
            ),
            (
                r#"matrix.x = [true]
                matrix.o = ["a"]
                include = [{ o = "b" }]
                allow_failure = "{x}""#,
                "`x` has no value for unit `t[o=b]`",
            ),
            (
                r#"matrix.flaky = [true]
                allow_failure = "{flakey}""#,
                "`allow_failure` names `flakey`, which is not a matrix key",
            ),
        ];
        for (lines, want) in cases {
            let e = error(&format!(
                "[[task]]\nname = \"t\"\nrun = [\"true\"]\n{lines}\n"
            ));
            assert!(e.contains(want), "{want}\n{e}");
            assert!(e.contains("job.toml:"), "{e}");
        }
        let e = error(
            "[[task]]\nname = \"t\"\nrun = [\"true\"]\nmatrix.flaky = [true]\nallow_failure = \"{flakey}\"\n",
        );
        assert!(e.contains("did you mean `flaky`?"), "{e}");
    }

    #[test]
    fn env_files_then_env() {
        let dir = files(&[
            ("job.env", b"export A=job\nB='job {b}'\nC=job\n"),
            ("sub/task.env", b"B=\"task\\nb\"\nC=task\nD=task\n"),
            ("bad.env", b"A=1\n# c\nB=\"s3cret-value\n"),
        ]);
        let toml = indoc! {r#"
            [job]
            env_file = ["job.env", { path = "missing.env", optional = true }]
            env = { D = "env" }
            [[task]]
            name = "t"
            env_file = ["sub/task.env"]
            env = { C = "{task.name}" }
            run = ["true"]
        "#};
        let p = plan_in(dir.path(), toml, &[]).unwrap();
        let env: Vec<(String, String)> = p
            .env(0, None)
            .into_iter()
            .map(|(k, v)| (k, v.into_string().unwrap()))
            .collect();
        let want = [("A", "job"), ("B", "task\nb"), ("D", "env"), ("C", "t")];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        assert_eq!(env, want);

        let e = plan_in(dir.path(), &toml.replace("sub/task.env", "nope.env"), &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot read env file `nope.env`: no such file"),
            "{e}"
        );
        assert!(e.contains("job.toml:6:13"), "{e}");
        assert!(e.contains("optional = true"), "{e}");

        let e = plan_in(dir.path(), &toml.replace("sub/task.env", "bad.env"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.env:3: unclosed quote"), "{e}");
        assert!(!e.contains("s3cret"), "a value leaked: {e}");
    }

    #[test]
    fn independent_errors_are_all_reported() {
        let e = error(indoc! {r#"
            [job]
            state_dir = ""
            [vars]
            "a b" = "x"
            [[task]]
            name = "one"
            run = ["{x}"]
            inputs = ["{y}"]
            [[task]]
            name = "two"
            run = ["true"]
            ok_codes = []
        "#});
        let wants = [
            "`state_dir` is empty",
            "invalid var name `a b`",
            "error: 2 errors",
        ];
        for want in wants {
            assert!(e.contains(want), "{want:?} not in\n{e}");
        }
        // Tasks are only checked once [job] and [vars] are sound.
        assert!(!e.contains("unknown name"), "{e}");

        let e = error(indoc! {r#"
            [[task]]
            name = "one"
            run = ["{x}"]
            inputs = ["{y}"]
            [[task]]
            name = "two"
            run = ["true"]
            ok_codes = []
            [[task]]
            name = "fine"
            run = ["true"]
        "#});
        let wants = [
            "task `one`, field `run`: unknown name `x`",
            "task `one`, field `inputs`: unknown name `y`",
            "task `two`: `ok_codes` is empty",
            "error: 3 errors",
        ];
        for want in wants {
            assert!(e.contains(want), "{want:?} not in\n{e}");
        }
        assert_eq!(e.matches("--> ").count(), 3, "each is located\n{e}");

        // An unknown task in `needs` stops before the tasks are checked.
        let e = error(indoc! {r#"
            [[task]]
            name = "one"
            run = ["{x}"]
            needs = ["nope"]
        "#});
        assert!(e.contains("needs `nope`") && !e.contains("errors"), "{e}");

        // At most MAX_ERRORS.
        let many: String = (0..30)
            .map(|i| format!("[[task]]\nname = \"t{i}\"\nrun = [\"{{x}}\"]\n"))
            .collect();
        let e = error(&many);
        assert!(
            e.ends_with("error: 20 errors (checking stopped there)"),
            "{e}"
        );
    }

    #[test]
    fn tasks_in_file_order() {
        let p = plan(indoc! {r#"
            [[task]]
            name = "b"
            matrix.i = [1, 2]
            run = ["true"]
            [[task]]
            name = "a"
            run = ["true"]
        "#});
        assert_eq!(ids(&p), ["b[i=1]", "b[i=2]", "a"]);
        assert_eq!(p.tasks[0].units, 0..2);
        assert_eq!(p.tasks[1].units, 2..3);
    }

    #[test]
    fn every_template_accessor_and_braces() {
        let p = plan(indoc! {r#"
            [job]
            name = "j"
            [[task]]
            name = "t"
            matrix.f = ["d/e/a b.tar.gz", "plain"]
            run = [
                "{f}", "{f.name}", "{f.stem}", "{f.ext}", "{f.dir}", "{f.noext}",
                "{f.dir.name}", "{{x}}", "{{{f.ext}}}", "{job.name}/{task.name}",
                "{unit.id}", "{unit.index}", "{worker}",
            ]
        "#});
        assert_eq!(
            argvs(&p),
            [
                [
                    "d/e/a b.tar.gz",
                    "a b.tar.gz",
                    "a b.tar",
                    "gz",
                    "d/e",
                    "d/e/a b.tar",
                    "e",
                    "{x}",
                    "{gz}",
                    "j/t",
                    "t[f=d/e/a b.tar.gz]",
                    "0",
                    "{worker}",
                ],
                [
                    "plain",
                    "plain",
                    "plain",
                    "",
                    ".",
                    "plain",
                    "",
                    "{x}",
                    "{}",
                    "j/t",
                    "t[f=plain]",
                    "1",
                    "{worker}"
                ],
            ]
        );
        let held = [];
        let start = crate::plan::Start {
            worker: 3,
            held: &held,
        };
        assert_eq!(p.argv(1, Some(start)).last().unwrap(), "3");
    }

    #[test]
    fn templates_in_every_field() {
        let dir = files(&[("w/x", b"")]);
        let p = plan_in(
            dir.path(),
            indoc! {r#"
                [job]
                env = { A = "{v}-{k}" }
                [vars]
                v = "V"
                [[task]]
                name = "t"
                matrix.k = ["w"]
                shell = "echo {k} {v}"
                inputs = ["{k}/in"]
                outputs = ["{k}/out-{v}"]
                env = { B = "{task.name}" }
                dir = "{k}"
            "#},
            &[],
        )
        .unwrap();
        assert_eq!(p.command(0, None), Command::Shell("echo w V".into()));
        assert_eq!(p.argv(0, None), ["sh", "-c", "echo w V"]);
        assert_eq!(
            p.env(0, None),
            [("A".into(), "V-w".into()), ("B".into(), "t".into())]
        );
        let t = &p.tasks[0];
        assert_eq!(p.paths(0, &t.inputs), [Path::new("w/in")]);
        assert_eq!(p.paths(0, &t.outputs), [Path::new("w/out-V")]);
        assert_eq!(p.dir(0), dir.path().canonicalize().unwrap().join("w"));
    }

    #[test]
    fn env_names_the_invoking_environment() {
        // PATH is set in any test environment.
        let path = std::env::var("PATH").unwrap();
        let p = plan(indoc! {r#"
            [[task]]
            name = "t"
            run = ["{env.PATH}", "{env.JOBRUN_SURELY_UNSET_VAR}"]
        "#});
        assert_eq!(argvs(&p), [[path.as_str(), ""]]);
    }

    #[test]
    fn shell_values_are_quoted() {
        let p = plan(indoc! {r#"
            [[task]]
            name = "t"
            matrix.f = ["$(touch pwned).jpg", "it's", "a b"]
            shell = "cat {f} > {f.stem}.out"
        "#});
        let shells: Vec<String> = (0..3)
            .map(|i| match p.command(i, None) {
                Command::Shell(s) => s.into_string().unwrap(),
                Command::Argv(a) => panic!("{a:?}"),
            })
            .collect();
        assert_eq!(
            shells,
            [
                "cat '$(touch pwned).jpg' > '$(touch pwned)'.out",
                "cat \"it's\" > \"it's\".out",
                "cat 'a b' > 'a b'.out",
            ]
        );
    }

    #[test]
    fn var_overrides() {
        let toml = indoc! {r#"
            [vars]
            out = "thumbs"
            size = 64
            [[task]]
            name = "t"
            run = ["{out}/{size}"]
        "#};
        let dir = files(&[]);
        let p = plan_in(dir.path(), toml, &[]).unwrap();
        assert_eq!(argvs(&p), [["thumbs/64"]]);
        let p = plan_in(dir.path(), toml, &[("out", "my pics"), ("size", "9")]).unwrap();
        assert_eq!(argvs(&p), [["my pics/9"]]);
        let e = plan_in(dir.path(), toml, &[("ou", "x")]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("did you mean `out`?"), "{e}");
    }

    #[test]
    fn var_overrides_reach_globs_and_matrix_values() {
        let dir = files(&[("a/1.txt", b""), ("b/2.txt", b"")]);
        let toml = indoc! {r#"
            [vars]
            src = "a"
            [[task]]
            name = "t"
            matrix.f = { glob = "{src}/*.txt" }
            matrix.g = ["{src}-x"]
            run = ["true"]
        "#};
        let p = plan_in(dir.path(), toml, &[("src", "b")]).unwrap();
        assert_eq!(ids(&p), ["t[f=b/2.txt,g=b-x]"]);
    }

    #[test]
    fn errors() {
        // (manifest, what the message must contain)
        let cases: &[(&str, &[&str])] = &[
            ("", &["the manifest has no task"]),
            (
                indoc! {r#"
                    [[task]]
                    name = "t"
                    run = ["{nope}"]
                "#},
                &["task `t`, field `run`: unknown name `nope`", "job.toml:3:9"],
            ),
            (
                indoc! {r#"
                    [[task]]
                    name = "t"
                    matrix.file = ["a"]
                    run = ["true"]
                    outputs = ["{file.stme}"]
                "#},
                &[
                    "task `t`, field `outputs`: unknown accessor `.stme` on `file`",
                    "did you mean `.stem`?",
                ],
            ),
            (
                indoc! {r#"
                    [[task]]
                    name = "t"
                    shell = "echo {x"
                "#},
                &["task `t`, field `shell`: unclosed `{`", "job.toml:3:15"],
            ),
            (
                indoc! {r#"
                    [[task]]
                    name = "t"
                    run = ["a"]
                    shell = "b"
                "#},
                &["task `t` has both `run` and `shell`"],
            ),
            (
                indoc! {r#"
                    [[task]]
                    name = "t"
                "#},
                &["task `t` has neither `run` nor `shell`"],
            ),
            (
                indoc! {r#"
                    [[task]]
                    name = "t"
                    run = ["a"]
                    [[task]]
                    name = "t"
                    run = ["b"]
                "#},
                &["duplicate task name `t`", "job.toml:5:8"],
            ),
            (
                indoc! {r#"
                    [[task]]
                    name = "t"
                    include = [{ x = "a" }, { x = "a" }]
                    run = ["b"]
                "#},
                &["duplicate unit id `t[x=a]`"],
            ),
            (
                indoc! {r#"
                    [[task]]
                    name = "a b"
                    run = ["b"]
                "#},
                &["invalid task name `a b`"],
            ),
            (
                indoc! {r#"
                    [vars]
                    worker = "x"
                    [[task]]
                    name = "t"
                    run = ["b"]
                "#},
                &["`worker` is a reserved name"],
            ),
            (
                indoc! {r#"
                    [vars]
                    k = "x"
                    [[task]]
                    name = "t"
                    matrix.k = [1]
                    run = ["b"]
                "#},
                &["matrix key `k` has the same name as a var"],
            ),
            (
                indoc! {r#"
                    [[task]]
                    name = "t"
                    matrix.glob = { glob = "{unit.id}" }
                    run = ["b"]
                "#},
                &["field `glob`: unknown name `unit.id`"],
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
