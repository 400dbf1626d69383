//! `[resources]` pools and each task's `uses`, checked at plan time.
//!
//! Amounts are kept in thousandths (`MILLI`), so `cpu = 0.5` is exact and
//! the scheduler only adds and compares integers.

use indexmap::IndexMap;
use toml::Spanned;

use crate::error::{Diagnostic, Error, Source, did_you_mean};
use crate::manifest::{Rate, Workers};

/// One whole unit of a pool, in the scheduler's fixed point.
pub const MILLI: u64 = 1000;

/// A named pool, per machine (or per shard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub name: String,
    /// In thousandths; None for a rate-only pool.
    pub capacity: Option<u64>,
    /// Indexed pools hand out these ids (capacity = their count).
    pub ids: Option<Vec<String>>,
    pub rate: Option<Rate>,
    /// Starts allowed back to back before the rate applies.
    pub burst: u32,
}

impl Pool {
    /// The environment variable that tells a unit what it holds.
    pub fn env_name(&self) -> String {
        let mut s = String::from("JOBRUN_RESOURCE_");
        s.extend(self.name.chars().map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        }));
        s
    }
}

/// What a task's units take from one pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Use {
    pub pool: usize,
    /// In thousandths.
    pub amount: u64,
}

/// An amount in thousandths as the manifest writes it (`2`, `0.5`).
pub fn show_amount(milli: u64) -> String {
    if milli.is_multiple_of(MILLI) {
        (milli / MILLI).to_string()
    } else {
        let s = format!("{}.{:03}", milli / MILLI, milli % MILLI);
        s.trim_end_matches('0').to_owned()
    }
}

const FORMS: &str = "a pool is an integer capacity (`net = 16`), `\"auto\"` or `\"N%\"` of the CPUs, \
     a list of ids (`gpu = [\"0\", \"1\"]`), or a table (`s3 = { capacity = 32, rate = \"100/s\" }`)";

/// The pools of `[resources]`, with `--resource name=value` applied.
pub fn pools(
    resources: &IndexMap<String, Spanned<toml::Value>>,
    overrides: &[(String, String)],
    src: &Source,
    cpus: usize,
) -> Result<Vec<Pool>, Error> {
    let mut out = Vec::with_capacity(resources.len());
    for (name, v) in resources {
        let at = |msg: String| Diagnostic::new(msg).at(src, v.span());
        check_pool_name(name).map_err(&at)?;
        let mut pool = Pool {
            name: name.clone(),
            capacity: None,
            ids: None,
            rate: None,
            burst: 1,
        };
        match v.get_ref() {
            toml::Value::Array(ids) => pool_ids(&mut pool, ids).map_err(&at)?,
            toml::Value::Table(t) => {
                for (k, x) in t {
                    match (k.as_str(), x) {
                        ("capacity", x) => {
                            pool.capacity =
                                Some(capacity(name, x, cpus).map_err(|m| at(m).help(FORMS))?);
                        }
                        ("rate", toml::Value::String(r)) => {
                            pool.rate = Some(
                                r.parse::<Rate>()
                                    .map_err(|m| at(format!("pool `{name}`: {m}")))?,
                            );
                        }
                        ("rate", _) => {
                            return Err(at(format!("pool `{name}`: `rate` must be a string"))
                                .help("like `rate = \"100/s\"`")
                                .into());
                        }
                        ("burst", toml::Value::Integer(b)) if (1..=1_000_000).contains(b) => {
                            pool.burst = *b as u32;
                        }
                        ("burst", _) => {
                            return Err(at(format!(
                                "pool `{name}`: `burst` must be a whole number from 1 to 1000000"
                            ))
                            .into());
                        }
                        (other, _) => {
                            let keys = ["capacity", "rate", "burst"];
                            let mut d = at(format!("pool `{name}`: unknown key `{other}`"));
                            d = match did_you_mean(other, keys) {
                                Some(s) => d.label(format!("did you mean `{s}`?")),
                                None => d,
                            };
                            return Err(d
                                .help("a pool table has `capacity`, `rate` and `burst`")
                                .into());
                        }
                    }
                }
                if pool.capacity.is_none() && pool.rate.is_none() {
                    return Err(
                        at(format!("pool `{name}` has neither `capacity` nor `rate`"))
                            .help("give one or both, like `{ capacity = 32, rate = \"100/s\" }`")
                            .into(),
                    );
                }
                if pool.rate.is_none() && t.contains_key("burst") {
                    return Err(at(format!("pool `{name}`: `burst` without a `rate`"))
                        .help(
                            "`burst` is how many starts the rate lets through at once; add `rate`",
                        )
                        .into());
                }
            }
            x => pool.capacity = Some(capacity(name, x, cpus).map_err(|m| at(m).help(FORMS))?),
        }
        out.push(pool);
    }
    for (name, value) in overrides {
        let Some(pool) = out.iter_mut().find(|p| p.name == *name) else {
            let names: Vec<&str> = out.iter().map(|p| p.name.as_str()).collect();
            let hint = match did_you_mean(name, names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None if names.is_empty() => "the job has no `[resources]`".into(),
                None => format!("pools: {}", names.join(", ")),
            };
            return Err(Error::Usage(format!(
                "`--resource {name}={value}`: no pool `{name}` in [resources]; {hint}"
            )));
        };
        let usage = |m: String| Error::Usage(format!("`--resource {name}={value}`: {m}"));
        if pool.ids.is_some() {
            let ids: Vec<toml::Value> = value
                .split(',')
                .map(|s| toml::Value::String(s.trim().to_owned()))
                .collect();
            pool_ids(pool, &ids).map_err(usage)?;
        } else if pool.capacity.is_none() {
            return Err(usage(format!(
                "pool `{name}` has only a rate; its capacity cannot be set"
            )));
        } else {
            let v = match value.trim().parse::<i64>() {
                Ok(n) => toml::Value::Integer(n),
                Err(_) => toml::Value::String(value.trim().to_owned()),
            };
            pool.capacity = Some(capacity(name, &v, cpus).map_err(usage)?);
        }
    }
    Ok(out)
}

fn pool_ids(pool: &mut Pool, ids: &[toml::Value]) -> Result<(), String> {
    let name = &pool.name;
    let mut list: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        let id = match id {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            _ => {
                return Err(format!(
                    "pool `{name}`: ids are strings, like [\"0\", \"1\"]"
                ));
            }
        };
        if id.is_empty() || id.contains(',') || id.chars().any(char::is_control) {
            return Err(format!(
                "pool `{name}`: id `{}` cannot be handed to a unit (empty, or holds a comma or a control character)",
                id.escape_debug()
            ));
        }
        if list.contains(&id) {
            return Err(format!("pool `{name}`: id `{id}` is listed twice"));
        }
        list.push(id);
    }
    if list.is_empty() {
        return Err(format!(
            "pool `{name}` has no ids, so no unit could ever use it"
        ));
    }
    pool.capacity = Some(list.len() as u64 * MILLI);
    pool.ids = Some(list);
    Ok(())
}

fn capacity(name: &str, v: &toml::Value, cpus: usize) -> Result<u64, String> {
    match v {
        toml::Value::Integer(n) if (1..=1_000_000_000).contains(n) => Ok(*n as u64 * MILLI),
        toml::Value::Integer(n) => Err(format!(
            "pool `{name}`: capacity `{n}` must be from 1 to 1000000000 (a pool of 0 could never be used)"
        )),
        toml::Value::String(s) => match s.parse::<Workers>() {
            Ok(Workers::Count(n)) => Ok(n as u64 * MILLI),
            Ok(w @ (Workers::Auto | Workers::Percent(_))) => {
                // Unlike `workers`, a CPU pool is not capped at MAX_WORKERS.
                let n = match w {
                    Workers::Percent(p) => (cpus as u64 * u64::from(p) / 100).max(1),
                    _ => cpus.max(1) as u64,
                };
                Ok(n * MILLI)
            }
            Err(_) => Err(format!(
                "pool `{name}`: invalid capacity `{}`",
                s.escape_debug()
            )),
        },
        other => Err(format!(
            "pool `{name}` cannot be {} {}",
            article(other.type_str()),
            other.type_str()
        )),
    }
}

fn article(t: &str) -> &'static str {
    if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn check_pool_name(k: &str) -> Result<(), String> {
    if k.is_empty()
        || !k
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "pool name `{}` must be letters, digits, `_` or `-`",
            k.escape_debug()
        ));
    }
    Ok(())
}

/// A task's `uses`, resolved against the pools.
pub fn uses(
    task: &str,
    uses: &IndexMap<String, Spanned<toml::Value>>,
    pools: &[Pool],
    src: &Source,
) -> Result<Vec<Use>, Error> {
    let mut out = Vec::with_capacity(uses.len());
    for (name, v) in uses {
        let at = |msg: String| Diagnostic::new(msg).at(src, v.span());
        let Some(pi) = pools.iter().position(|p| p.name == *name) else {
            let names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
            let mut d = at(format!("task `{task}` uses `{name}`, which is not a pool"));
            d = match did_you_mean(name, names.iter().copied()) {
                Some(s) => d.label(format!("did you mean `{s}`?")),
                None => d.label("unknown pool"),
            };
            let help = if names.is_empty() {
                format!("declare it under [resources], like `{name} = 4`")
            } else {
                format!(
                    "pools: {}; declare others under [resources]",
                    names.join(", ")
                )
            };
            return Err(d.help(help).into());
        };
        let pool = &pools[pi];
        let amount = match v.get_ref() {
            toml::Value::Integer(n) if *n >= 1 => (*n as u64).saturating_mul(MILLI),
            toml::Value::Float(f) if pool.ids.is_some() => {
                return Err(at(format!(
                    "task `{task}`: `{name} = {f}`, but pool `{name}` hands out whole ids"
                ))
                .help(format!("use a whole number of ids, like `{name} = 1`"))
                .into());
            }
            toml::Value::Float(f) if f.is_finite() && *f >= 0.001 && *f <= 1e9 => {
                let m = (f * MILLI as f64).round() as u64;
                if (m as f64 - f * MILLI as f64).abs() > 1e-6 {
                    return Err(at(format!(
                        "task `{task}`: `{name} = {f}` is finer than a thousandth"
                    ))
                    .help("amounts go down to 0.001")
                    .into());
                }
                m
            }
            toml::Value::Integer(_) | toml::Value::Float(_) => {
                return Err(at(format!(
                    "task `{task}`: the amount of `{name}` must be above 0"
                ))
                .help(format!(
                    "leave `{name}` out of `uses` if the task does not need it"
                ))
                .into());
            }
            other => {
                return Err(at(format!(
                    "task `{task}`: the amount of `{name}` must be a number, not {} {}",
                    article(other.type_str()),
                    other.type_str()
                ))
                .help(format!("like `uses = {{ {name} = 1 }}`"))
                .into());
            }
        };
        match pool.capacity {
            Some(c) if amount > c => {
                return Err(at(format!(
                    "task `{task}` uses {} of `{name}`, which holds only {}",
                    show_amount(amount),
                    show_amount(c)
                ))
                .help("no unit of it could ever start; lower the amount or raise the capacity (`--resource` too)")
                .into());
            }
            None if amount != MILLI => {
                return Err(at(format!(
                    "task `{task}`: pool `{name}` is a rate alone, which counts starts, not amounts"
                ))
                .help(format!("write `{name} = 1`"))
                .into());
            }
            _ => {}
        }
        out.push(Use { pool: pi, amount });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_written() {
        assert_eq!(show_amount(2000), "2");
        assert_eq!(show_amount(500), "0.5");
        assert_eq!(show_amount(1250), "1.25");
        assert_eq!(show_amount(1), "0.001");
    }

    #[test]
    fn env_names_are_shell_names() {
        let p = Pool {
            name: "s3-eu".into(),
            capacity: None,
            ids: None,
            rate: None,
            burst: 1,
        };
        assert_eq!(p.env_name(), "JOBRUN_RESOURCE_S3_EU");
    }
}
