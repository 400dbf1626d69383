//! jobrun: run declarative, version-controlled job files.
//!
//! Data flows one way: `manifest` (parse, spans kept) -> `plan` (pure
//! expansion into units) -> `exec` (the only code that spawns) -> events ->
//! `report` (the only code that writes to the terminal or report files).

pub mod error;
pub mod manifest;
pub mod plan;

pub use error::Error;
