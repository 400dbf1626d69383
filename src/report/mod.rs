//! Reporting: the only code that writes to the terminal or report files.
//! It consumes [`crate::event::Event`]s; it never changes what runs.

pub mod events;
pub mod graph;
pub mod html;
pub mod junit;
pub mod logs;
pub mod mode;
mod plain;
pub mod plan;
mod progress;
pub mod status;
mod summary;
mod tail;
mod timeline;
pub mod trace;

pub use plain::{PlainReporter, ReportOptions, Verbosity};
pub use tail::read_tail;
