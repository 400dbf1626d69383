//! jobrun: run declarative, version-controlled job files.
//!
//! Data flows one way: `manifest` (parse, spans kept) -> `plan` (pure
//! expansion into units) -> `exec` (the only code that spawns) -> `event`s ->
//! `report` (the only code that writes to the terminal or report files).

// Diagnostics are large but only built on the error path.
#![allow(clippy::result_large_err)]

pub mod cli;
pub mod engine;
pub mod error;
pub mod event;
pub mod exec;
mod inspect;
pub mod journal;
pub mod manifest;
pub mod options;
pub mod outcome;
pub mod plan;
pub mod regular;
pub mod report;
mod run;

pub use error::Error;
pub use run::{run, schema};
