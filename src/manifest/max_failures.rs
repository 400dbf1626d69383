//! `max_failures`: failed units tolerated before `on_failure` fires.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxFailures {
    Count(usize),
    /// A percentage of the selected units, at least one.
    Percent(u32),
}

impl Default for MaxFailures {
    fn default() -> Self {
        MaxFailures::Count(1)
    }
}

impl MaxFailures {
    /// The failure count that fires the policy, for a run of `units` units.
    pub fn threshold(self, units: usize) -> usize {
        match self {
            MaxFailures::Count(n) => n,
            MaxFailures::Percent(p) => (units as u64 * u64::from(p)).div_ceil(100).max(1) as usize,
        }
    }
}

impl FromStr for MaxFailures {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            return match p.parse::<u32>() {
                Ok(p) if (1..=100).contains(&p) => Ok(MaxFailures::Percent(p)),
                _ => Err(format!(
                    "invalid max_failures `{s}`: a percentage must be between 1% and 100%"
                )),
            };
        }
        match s.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(MaxFailures::Count(n)),
            _ => Err(format!(
                "invalid max_failures `{s}`: expected an integer >= 1 or a percentage like `10%`"
            )),
        }
    }
}

impl fmt::Display for MaxFailures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxFailures::Count(n) => write!(f, "{n}"),
            MaxFailures::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl<'de> Deserialize<'de> for MaxFailures {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match super::IntOrString::deserialize(d)? {
            super::IntOrString::Int(n) if n >= 1 => Ok(MaxFailures::Count(n as usize)),
            super::IntOrString::Int(n) => Err(serde::de::Error::custom(format!(
                "invalid max_failures `{n}`: expected an integer >= 1 or a percentage like `10%`"
            ))),
            super::IntOrString::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl JsonSchema for MaxFailures {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "MaxFailures".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Failed units tolerated before on_failure fires: an integer >= 1 or \"N%\" of the units.",
            "oneOf": [
                { "type": "integer", "minimum": 1 },
                { "type": "string", "pattern": "^[1-9][0-9]*%$" }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_thresholds() {
        let cases = [
            ("1", Some(MaxFailures::Count(1)), 1),
            ("3", Some(MaxFailures::Count(3)), 3),
            ("10%", Some(MaxFailures::Percent(10)), 2),
            ("100%", Some(MaxFailures::Percent(100)), 11),
            ("1%", Some(MaxFailures::Percent(1)), 1),
            ("0", None, 0),
            ("101%", None, 0),
            ("x", None, 0),
        ];
        for (input, want, of_eleven) in cases {
            let got = input.parse::<MaxFailures>().ok();
            assert_eq!(got, want, "{input}");
            if let Some(m) = got {
                assert_eq!(m.threshold(11), of_eleven, "{input}");
            }
        }
    }
}
