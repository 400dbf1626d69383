//! The manifest: the TOML job file as written, with spans kept for errors.
//!
//! `model` is the serde/JSON Schema shape; `load` reads a file into it and turns
//! every parse problem into a located [`crate::error::Diagnostic`]. Nothing here
//! expands matrices or resolves templates: that is `plan`.

mod allow_failure;
mod duration;
pub mod env_file;
mod load;
mod max_failures;
mod model;
mod rate;
mod wording;
mod workers;

pub use allow_failure::AllowFailure;
pub use duration::DurationValue;
pub use env_file::EnvFile;
pub use load::{Loaded, load, parse};
pub use max_failures::MaxFailures;
pub use model::*;
pub use rate::Rate;
pub use workers::Workers;

/// An integer or a string, for values such as `workers = 8 | "auto"`.
pub(crate) enum IntOrString {
    Int(i64),
    Str(String),
}

impl<'de> serde::Deserialize<'de> for IntOrString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = IntOrString;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<IntOrString, E> {
                Ok(IntOrString::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<IntOrString, E> {
                Ok(IntOrString::Int(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            // Past i64 no key of ours has a meaning for the number.
            fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<IntOrString, E> {
                i64::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::custom(format!("invalid number `{v}`: far too large")))
            }
            fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<IntOrString, E> {
                i64::try_from(v)
                    .map(IntOrString::Int)
                    .map_err(|_| E::custom(format!("invalid number `{v}`: far too large")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IntOrString, E> {
                Ok(IntOrString::Str(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}
