//! The planner: a pure, deterministic expansion of a manifest into units.
//!
//! Invariants: plan order is tasks in file order, combinations in matrix
//! order; unit ids are unique and depend only on the manifest and the files
//! its globs, lines and row sources read, never on the machine or the run.

pub(crate) mod build;
pub mod dynamic;
mod env_file;
mod graph;
mod grid;
mod literal;
mod matrix;
mod quoting;
pub mod resources;
mod rows;
mod select;
pub mod shard;
mod shell_context;
mod source;
mod string_span;
pub mod template;
mod unit;
pub mod value;
mod walk;

pub use build::{PlanOptions, build, expand, manifest_dir};
pub use select::{select, select_new};
pub use unit::{
    Command, CommandTemplate, FailureAllowed, JobSettings, Plan, Start, TaskPlan, Unit,
};
pub use value::Value;
