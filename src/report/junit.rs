//! `--junit PATH`: JUnit XML for GitLab, Jenkins and GitHub test reporters.
//! One testsuite per task, one testcase per unit; failures carry the output
//! tail; skipped and cancelled units are `skipped`.

use std::io::Write;
use std::path::Path;

use std::collections::HashMap;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use super::tail::read_tail;
use crate::event::{Event, Finished};
use crate::outcome::Outcome;
use crate::plan::Plan;
use crate::plan::value::display_path;

const TAIL_BYTES: u64 = 16 * 1024;
const TAIL_LINES: usize = 100;

#[derive(Default)]
pub struct JunitCollector {
    finished: Vec<Finished>,
    /// Attempts that failed and were retried, by unit: a unit that then
    /// passes is flaky (`flakyFailure`, as nextest writes it); one that
    /// still fails carries them as `rerunFailure`.
    retried: HashMap<u32, Vec<TestRerun>>,
}

impl JunitCollector {
    pub fn handle(&mut self, ev: &Event) {
        match ev {
            Event::UnitFinished(f) if f.outcome != Outcome::Filtered => {
                self.finished.push((**f).clone());
            }
            Event::AttemptFailed {
                unit,
                attempt,
                end,
                duration,
                timed_out,
                ..
            } => {
                let mut r = TestRerun::new(NonSuccessKind::Failure);
                let what = if *timed_out { "timed_out" } else { "failed" };
                r.set_message(format!("attempt {attempt} {what}: {end}"))
                    .set_type(what);
                r.time = Some(*duration);
                self.retried.entry(*unit).or_default().push(r);
            }
            _ => {}
        }
    }

    pub fn write(
        &mut self,
        plan: &Plan,
        mut out: impl Write,
    ) -> Result<(), quick_junit::SerializeError> {
        let mut suites: Vec<TestSuite> = plan
            .tasks
            .iter()
            .map(|t| TestSuite::new(t.name.as_str()))
            .collect();
        self.finished.sort_by_key(|f| f.unit);
        for f in &self.finished {
            let task = plan.task_of(f.unit as usize);
            let mut status = match f.outcome {
                Outcome::Ok => TestCaseStatus::success(),
                Outcome::Failed | Outcome::TimedOut | Outcome::Killed => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    let mut msg = f.outcome.as_str().to_owned();
                    if let Some(end) = &f.end {
                        msg.push_str(&format!(": {end}"));
                    }
                    if f.allowed {
                        msg.push_str(" (allowed to fail)");
                    }
                    s.set_message(msg).set_type(f.outcome.as_str());
                    if let Some(log) = &f.log {
                        s.set_description(tail_text(log));
                    }
                    s
                }
                Outcome::UpToDate => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message("up to date");
                    s
                }
                other => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(other.as_str());
                    s
                }
            };
            if let Some(runs) = self.retried.remove(&f.unit) {
                status.add_reruns(runs);
            }
            let mut tc = TestCase::new(&*plan.units[f.unit as usize].id, status);
            tc.set_classname(task.name.as_str());
            tc.set_time(f.duration);
            suites[plan.units[f.unit as usize].task as usize].add_test_case(tc);
        }
        let mut report = Report::new(format!("jobrun {}", plan.job.name));
        report.add_test_suites(suites.into_iter().filter(|s| !s.test_cases.is_empty()));
        report.serialize(&mut out)
    }
}

fn tail_text(log: &Path) -> String {
    match read_tail(log, TAIL_BYTES, TAIL_LINES) {
        Ok((body, truncated)) => {
            let text = String::from_utf8_lossy(&body);
            if truncated {
                format!("[... earlier output in {}]\n{text}", display_path(log))
            } else {
                text.into_owned()
            }
        }
        Err(e) => format!("cannot read `{}`: {e}", display_path(log)),
    }
}
