//! `rate = "100/s"`: how many attempt starts a pool allows per period.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// At most `count` starts per `per`; enforced as a token bucket that gains
/// one token every `per / count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    /// The time one token takes to come back.
    pub fn interval(&self) -> Duration {
        self.per / self.count
    }

    /// The same rate shared by `n` machines: each gets 1/n of it.
    pub fn split(self, n: u32) -> Rate {
        Rate {
            count: self.count,
            per: self.per.saturating_mul(n.max(1)),
        }
    }
}

const HINT: &str = "write a count per period, like `100/s`, `30/m`, `500/h` or `5/10s`";

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let Some((n, per)) = t.split_once('/') else {
            return Err(format!("invalid rate `{s}`: {HINT}"));
        };
        let count = match n.trim().parse::<u32>() {
            Ok(c) if c >= 1 => c,
            _ => {
                return Err(format!(
                    "invalid rate `{s}`: the count must be a whole number >= 1 ({HINT})"
                ));
            }
        };
        let per = per.trim();
        let per = match per {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => humantime::parse_duration(other)
                .map_err(|_| format!("invalid rate `{s}`: unknown period `{other}` ({HINT})"))?,
        };
        if per.is_zero() || per > Duration::from_secs(7 * 86_400) {
            return Err(format!(
                "invalid rate `{s}`: the period must be above 0 and at most a week"
            ));
        }
        if (per / count).is_zero() {
            return Err(format!(
                "invalid rate `{s}`: more than one start per nanosecond is no limit at all; leave `rate` out"
            ));
        }
        Ok(Rate { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.per.as_secs() {
            1 if self.per.subsec_nanos() == 0 => write!(f, "{}/s", self.count),
            60 if self.per.subsec_nanos() == 0 => write!(f, "{}/m", self.count),
            3600 if self.per.subsec_nanos() == 0 => write!(f, "{}/h", self.count),
            _ => write!(f, "{}/{}", self.count, humantime::format_duration(self.per)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let cases = [
            ("100/s", 100, 1_000, "100/s"),
            ("10/ s", 10, 1_000, "10/s"),
            ("30/m", 30, 60_000, "30/m"),
            ("30/min", 30, 60_000, "30/m"),
            ("500/h", 500, 3_600_000, "500/h"),
            ("5/10s", 5, 10_000, "5/10s"),
            ("1/250ms", 1, 250, "1/250ms"),
        ];
        for (s, count, per_ms, shown) in cases {
            let r: Rate = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!((r.count, r.per.as_millis() as u64), (count, per_ms), "{s}");
            assert_eq!(r.to_string(), shown, "{s}");
        }
        assert_eq!(
            "10/s".parse::<Rate>().unwrap().interval(),
            Duration::from_millis(100)
        );
        assert_eq!(
            "10/s".parse::<Rate>().unwrap().split(4).to_string(),
            "10/4s"
        );
    }

    #[test]
    fn rejects_what_is_not_a_rate() {
        for s in [
            "",
            "100",
            "/s",
            "0/s",
            "-1/s",
            "1.5/s",
            "10/",
            "10/parsec",
            "1/0s",
            "1/30days",
            "4000000000/1ns",
        ] {
            let e = s.parse::<Rate>().unwrap_err();
            assert!(e.starts_with("invalid rate"), "{s}: {e}");
        }
    }
}
