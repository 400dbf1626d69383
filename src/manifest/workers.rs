//! `workers`: how many units may run at once.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::Deserialize;

/// The most units that run at once: each takes a thread and a process,
/// and past a few thousand the machine, not the work, is the limit.
pub const MAX_WORKERS: usize = 4096;

/// `workers = 8 | "auto" | "50%"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Workers {
    Count(usize),
    /// One per CPU.
    #[default]
    Auto,
    /// A percentage of the CPUs, at least one worker.
    Percent(u32),
}

impl Workers {
    /// The number of worker threads on a machine with `cpus` CPUs.
    pub fn resolve(self, cpus: usize) -> usize {
        match self {
            Workers::Count(n) => n,
            Workers::Auto => cpus.max(1),
            Workers::Percent(p) => ((cpus as u64 * u64::from(p)) / 100).max(1) as usize,
        }
        .min(MAX_WORKERS)
    }
}

impl FromStr for Workers {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "auto" {
            return Ok(Workers::Auto);
        }
        if let Some(p) = s.strip_suffix('%') {
            return match p.parse::<u32>() {
                Ok(p) if p >= 1 => Ok(Workers::Percent(p)),
                _ => Err(format!(
                    "invalid workers `{s}`: a percentage must be a whole number >= 1, like `50%`"
                )),
            };
        }
        match s.parse::<usize>() {
            Ok(n) if n > MAX_WORKERS => Err(too_many(s)),
            Ok(n) if n >= 1 => Ok(Workers::Count(n)),
            Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Err(too_many(s)),
            _ => Err(format!(
                "invalid workers `{s}`: expected an integer >= 1, `auto` or a percentage like `50%`"
            )),
        }
    }
}

fn too_many(s: &str) -> String {
    format!(
        "invalid workers `{s}`: at most {MAX_WORKERS} units run at once on one machine; \
         to go wider, split the job with `--shard K/N`"
    )
}

impl fmt::Display for Workers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Workers::Count(n) => write!(f, "{n}"),
            Workers::Auto => f.write_str("auto"),
            Workers::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl<'de> Deserialize<'de> for Workers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match super::IntOrString::deserialize(d)? {
            super::IntOrString::Int(n) if n > MAX_WORKERS as i64 => {
                Err(serde::de::Error::custom(too_many(&n.to_string())))
            }
            super::IntOrString::Int(n) if n >= 1 => Ok(Workers::Count(n as usize)),
            super::IntOrString::Int(n) => Err(serde::de::Error::custom(format!(
                "invalid workers `{n}`: expected an integer >= 1, `auto` or a percentage like `50%`"
            ))),
            super::IntOrString::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl JsonSchema for Workers {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Workers".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Units run at once: an integer >= 1, \"auto\" (one per CPU) or \"N%\" of the CPUs.",
            "oneOf": [
                { "type": "integer", "minimum": 1 },
                { "type": "string", "pattern": "^(auto|[1-9][0-9]*%)$" }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_resolves() {
        let cases = [
            ("8", Some(Workers::Count(8)), 8),
            ("auto", Some(Workers::Auto), 2),
            ("50%", Some(Workers::Percent(50)), 1),
            ("400%", Some(Workers::Percent(400)), 8),
            ("1%", Some(Workers::Percent(1)), 1),
            ("0", None, 0),
            ("0%", None, 0),
            ("-1", None, 0),
            ("many", None, 0),
            ("4096", Some(Workers::Count(4096)), 4096),
            ("4097", None, 0),
            ("100000000000000000000000", None, 0),
            // A percentage resolves to at most the maximum.
            ("1000000%", Some(Workers::Percent(1_000_000)), MAX_WORKERS),
        ];
        assert!(
            "5000"
                .parse::<Workers>()
                .unwrap_err()
                .contains("at most 4096")
        );
        for (input, want, on_two_cpus) in cases {
            let got = input.parse::<Workers>().ok();
            assert_eq!(got, want, "{input}");
            if let Some(w) = got {
                assert_eq!(w.resolve(2), on_two_cpus, "{input}");
                assert_eq!(w.to_string().parse::<Workers>().unwrap(), w);
            }
        }
    }
}
