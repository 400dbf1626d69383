//! The TTY progress bar (indicatif, pinned): done/total, counts by outcome,
//! rate, ETA, elapsed, and the running units with their elapsed time. Drawn
//! at most 10 times a second so it never slows the run.

use std::collections::BTreeMap;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::summary::fmt_duration;
use crate::event::Event;
use crate::outcome::Outcome;
use crate::plan::Plan;

const SHOWN_RUNNING: usize = 6;

pub struct Progress {
    multi: MultiProgress,
    bar: ProgressBar,
    running_line: ProgressBar,
    running: BTreeMap<u32, Instant>,
    ok: u64,
    failed: u64,
    skipped: u64,
}

impl Progress {
    pub fn new(total: u64) -> Progress {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let bar = multi.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed:>4} [{bar:30.cyan/blue}] {pos}/{len} {msg}  {rate}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            // indicatif's `{per_sec}` prints four decimals ("7.1355/s").
            .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}/s", fmt_rate(s.per_sec()));
            })
            .progress_chars("=> "),
        );
        let running_line = multi.add(ProgressBar::new_spinner());
        running_line.set_style(
            ProgressStyle::with_template("     {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let p = Progress {
            multi,
            bar,
            running_line,
            running: BTreeMap::new(),
            ok: 0,
            failed: 0,
            skipped: 0,
        };
        p.update_counts();
        p
    }

    pub fn handle(&mut self, ev: &Event) {
        match ev {
            Event::UnitStarted {
                unit, attempt: 1, ..
            } => {
                self.running.insert(*unit, Instant::now());
            }
            Event::UnitFinished(f) => {
                self.running.remove(&f.unit);
                match f.outcome {
                    Outcome::Ok | Outcome::UpToDate => self.ok += 1,
                    Outcome::Failed | Outcome::TimedOut | Outcome::Killed => self.failed += 1,
                    _ => self.skipped += 1,
                }
                // Only the position moves per unit; text is rebuilt on `tick`
                // (5 times a second), so the bar costs nothing per unit.
                self.bar.inc(1);
            }
            _ => {}
        }
    }

    fn update_counts(&self) {
        self.bar.set_message(format!(
            "ok {}  failed {}  skipped {}",
            self.ok, self.failed, self.skipped
        ));
    }

    /// Refresh the counts and the running units' elapsed times.
    pub fn tick(&mut self, plan: &Plan) {
        self.update_counts();
        let mut parts: Vec<String> = self
            .running
            .iter()
            .take(SHOWN_RUNNING)
            .map(|(u, t)| {
                format!(
                    "{} {}",
                    plan.units[*u as usize].id,
                    fmt_duration(t.elapsed())
                )
            })
            .collect();
        if self.running.len() > SHOWN_RUNNING {
            parts.push(format!("+{} more", self.running.len() - SHOWN_RUNNING));
        }
        self.running_line.set_message(if parts.is_empty() {
            String::new()
        } else {
            format!("running: {}", parts.join(", "))
        });
    }

    /// Print above the bar.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.multi.suspend(f)
    }

    pub fn finish(self) {
        self.running_line.finish_and_clear();
        self.bar.finish_and_clear();
        let _ = self.multi.clear();
    }
}

/// Units per second, with fewer decimals the larger it is: 0.25, 7.1, 1523.
fn fmt_rate(r: f64) -> String {
    if !r.is_finite() || r <= 0.0 {
        "0".into()
    } else if r < 1.0 {
        format!("{r:.2}")
    } else if r < 100.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::fmt_rate;

    #[test]
    fn rates_are_short() {
        assert_eq!(fmt_rate(7.1355), "7.1");
        assert_eq!(fmt_rate(0.25), "0.25");
        assert_eq!(fmt_rate(1523.4), "1523");
        assert_eq!(fmt_rate(f64::NAN), "0");
        assert_eq!(fmt_rate(0.0), "0");
    }
}
