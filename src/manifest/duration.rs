//! Durations such as `retry_delay = "1s"` or `timeout = "10m"`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;

/// Far beyond any real wait, and far below where adding it to a clock
/// reading would overflow.
const MAX: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A duration written the humantime way: `500ms`, `1s`, `10m`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DurationValue(pub Duration);

impl FromStr for DurationValue {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().starts_with('-') {
            return Err(format!(
                "invalid duration `{s}`: a duration cannot be negative"
            ));
        }
        let d = humantime::parse_duration(s.trim()).map_err(|e| {
            format!("invalid duration `{s}`: {e}; write it like `500ms`, `30s` or `10m`")
        })?;
        if d > MAX {
            return Err(format!(
                "invalid duration `{s}`: at most 100 years; leave `timeout` out for no limit"
            ));
        }
        Ok(DurationValue(d))
    }
}

impl fmt::Display for DurationValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = match super::IntOrString::deserialize(d)? {
            super::IntOrString::Str(s) => s,
            super::IntOrString::Int(n) => {
                return Err(serde::de::Error::custom(format!(
                    "invalid duration `{n}`: give a unit, like \"{n}s\""
                )));
            }
        };
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for DurationValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration with a unit: \"500ms\", \"30s\", \"10m\", \"1h 30m\".",
            "type": "string"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let cases = [
            ("1s", Some(1000)),
            ("500ms", Some(500)),
            ("10m", Some(600_000)),
            ("1h 30m", Some(5_400_000)),
            ("5", None),
            ("100years", None),
            ("300000000000years", None),
            ("36500d", Some(3_153_600_000_000)),
            ("soon", None),
            ("", None),
        ];
        for (input, ms) in cases {
            let got = input
                .parse::<DurationValue>()
                .ok()
                .map(|d| d.0.as_millis() as u64);
            assert_eq!(got, ms, "{input}");
        }
    }
}
