//! Integration tests: the real `jobrun` binary on real manifests and processes.
//! Order and concurrency are asserted through files the units write, never
//! through wall-clock time.

mod support;

mod exec;
mod newcomer;

mod bad;
mod crash;
mod dynamic;
mod env_file;
mod faults;
mod hostile;
mod inspect;
mod journal;
mod k8s;
mod plan;
mod printable;
mod props;
mod quoting;
mod report;
mod resources;
mod rows;
mod s3;
mod scale;
mod schema;
mod sge;
mod slurm;
mod special;
