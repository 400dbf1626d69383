//! The planner: a pure, deterministic expansion of a manifest into units.
//!
//! Invariants: plan order is tasks in file order, combinations in matrix
//! order; unit ids are unique and depend only on the manifest and the files
//! its globs and lines sources read, never on the machine or the run.

mod build;
mod graph;
mod grid;
mod matrix;
mod select;
pub mod shard;
mod source;
pub mod template;
mod unit;
pub mod value;
mod walk;

pub use build::{PlanOptions, build, manifest_dir};
pub use select::select;
pub use unit::{Command, CommandTemplate, JobSettings, Plan, TaskPlan, Unit};
pub use value::Value;
