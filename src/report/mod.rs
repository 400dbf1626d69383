//! Reporting: the only code that writes to the terminal or report files.
//! It consumes [`crate::event::Event`]s; it never changes what runs.

pub mod events;
pub mod junit;
pub mod mode;
mod plain;
pub mod plan;
mod progress;
mod summary;
mod tail;

pub use plain::{PlainReporter, ReportOptions, Verbosity};
pub use tail::read_tail;
