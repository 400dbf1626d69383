//! `allow_failure`: a fixed `true`/`false`, or a matrix key whose value
//! decides per unit (GitHub Actions' `continue-on-error: ${{ matrix.experimental }}`).

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// `allow_failure = true | false | "{key}"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowFailure {
    Fixed(bool),
    /// The key's value, `true` or `false` for every unit (checked at plan time).
    Key(String),
}

impl FromStr for AllowFailure {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let key = s
            .strip_prefix('{')
            .and_then(|r| r.strip_suffix('}'))
            .map(str::trim)
            .filter(|k| {
                !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
        match (s, key) {
            ("true", _) => Ok(AllowFailure::Fixed(true)),
            ("false", _) => Ok(AllowFailure::Fixed(false)),
            (_, Some(k)) => Ok(AllowFailure::Key(k.to_owned())),
            _ => Err(format!(
                "invalid allow_failure `{s}`: expected `true`, `false` or a matrix key like \"{{experimental}}\""
            )),
        }
    }
}

impl fmt::Display for AllowFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowFailure::Fixed(b) => write!(f, "{b}"),
            AllowFailure::Key(k) => write!(f, "{{{k}}}"),
        }
    }
}

impl<'de> Deserialize<'de> for AllowFailure {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = AllowFailure;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`true`, `false` or a matrix key like \"{experimental}\"")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<AllowFailure, E> {
                Ok(AllowFailure::Fixed(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AllowFailure, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        let cases = [
            (
                "{experimental}",
                Ok(AllowFailure::Key("experimental".into())),
            ),
            ("{ flaky }", Ok(AllowFailure::Key("flaky".into()))),
            ("true", Ok(AllowFailure::Fixed(true))),
            ("false", Ok(AllowFailure::Fixed(false))),
            ("no", Err(())),
            ("{}", Err(())),
            ("{a.b}", Err(())),
            ("{a}{b}", Err(())),
        ];
        for (s, want) in cases {
            assert_eq!(s.parse::<AllowFailure>().map_err(|_| ()), want, "{s}");
        }
        assert_eq!(AllowFailure::Key("x".into()).to_string(), "{x}");
        #[derive(Deserialize)]
        struct T {
            a: AllowFailure,
        }
        let t: T = toml::from_str("a = true").unwrap();
        assert_eq!(t.a, AllowFailure::Fixed(true));
        let t: T = toml::from_str("a = \"{x}\"").unwrap();
        assert_eq!(t.a, AllowFailure::Key("x".into()));
        assert!(toml::from_str::<T>("a = 1").is_err());
    }
}
