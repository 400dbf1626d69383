//! Execution: the only code that starts threads or processes. It never
//! prints; it reports through [`crate::event::Event`]s on a channel.

mod dependents;
pub mod job_failures;
pub mod leftovers;
pub mod limits;
mod pool;
mod process;
mod retry;
mod sched;
mod signal;

pub use pool::{ExecOptions, Expander, RunResult, execute};
pub use process::{KEPT_LOGS, log_file_name, older_log};
pub use retry::backoff;
