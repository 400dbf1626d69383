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

struct Bars {
    multi: MultiProgress,
    bar: ProgressBar,
    running_line: ProgressBar,
}

pub struct Progress {
    /// None once the terminal is gone (see `guarded`).
    bars: Option<Bars>,
    running: BTreeMap<u32, Instant>,
    ok: u64,
    failed: u64,
    skipped: u64,
    /// Why ready units wait, when a pool is the reason.
    waiting: String,
    /// The terminal's width when the run started.
    columns: Option<u16>,
    /// "task +N" per pending task that expanded.
    grown: Vec<String>,
    /// Units to finish, as far as known.
    total: u64,
}

impl Progress {
    pub fn new(total: u64) -> Progress {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let columns = stderr_columns();
        let bar = multi.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template(bar_template(columns))
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                // indicatif's `{per_sec}` prints four decimals ("7.1355/s").
                .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}/s", fmt_rate(s.per_sec()));
                })
                // Before the first unit ends there is no rate to go by.
                .with_key(
                    "eta_or_unknown",
                    |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = if s.pos() == 0 {
                            write!(w, "?")
                        } else {
                            write!(w, "{:#}", indicatif::HumanDuration(s.eta()))
                        };
                    },
                )
                .progress_chars("=> "),
        );
        let running_line = multi.add(ProgressBar::new_spinner());
        running_line.set_style(
            ProgressStyle::with_template("     {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let mut p = Progress {
            bars: Some(Bars {
                multi,
                bar,
                running_line,
            }),
            running: BTreeMap::new(),
            ok: 0,
            failed: 0,
            skipped: 0,
            waiting: String::new(),
            grown: Vec::new(),
            total,
            columns,
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
                self.guarded(|b| b.bar.inc(1));
            }
            Event::Waiting { pools } => self.waiting = super::plain::waiting_text(pools),
            _ => {}
        }
    }

    /// A pending task expanded: `n` more units to go.
    pub fn grow(&mut self, task: &str, n: usize) {
        self.grown.push(format!("{task} +{n}"));
        self.total += n as u64;
        self.guarded(|b| b.bar.inc_length(n as u64));
        self.update_counts();
    }

    fn update_counts(&mut self) {
        let mut text = format!(
            "{}/{} ok {}  failed {}  skipped {}",
            self.ok + self.failed + self.skipped,
            self.total,
            self.ok,
            self.failed,
            self.skipped
        );
        if !self.grown.is_empty() {
            // The total grew as lists were read: say so, or the bar jumps back.
            text.push_str("  (expanded: ");
            text.push_str(&self.grown.join(", "));
            text.push(')');
        }
        if !self.waiting.is_empty() {
            text.push_str("  waiting ");
            text.push_str(&self.waiting);
        }
        self.guarded(|b| b.bar.set_message(text));
    }

    /// Run `f` on the bars. indicatif panics when the terminal has gone
    /// away under it (`MultiProgress::suspend` unwraps a write that fails
    /// with EIO after a hangup), which would take jobrun down before it has
    /// stopped its units and written its reports: the bars are then dropped
    /// for good (forgotten, as their poisoned locks would panic again).
    fn guarded<R>(&mut self, f: impl FnOnce(&Bars) -> R) -> Option<R> {
        let bars = self.bars.as_ref()?;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(bars))) {
            Ok(r) => Some(r),
            Err(_) => {
                std::mem::forget(self.bars.take());
                None
            }
        }
    }

    /// Refresh the counts and the running units' elapsed times.
    pub fn tick(&mut self, plan: &Plan) {
        self.update_counts();
        let parts: Vec<String> = self
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
        // The line is indented by 5 columns; keep one spare.
        let budget = self
            .columns
            .map_or(usize::MAX, |c| (c as usize).saturating_sub(6));
        let text = running_text(&parts, self.running.len(), budget);
        self.guarded(|b| b.running_line.set_message(text));
    }

    /// Print above the bar (or just print, once the bar is gone).
    pub fn suspend<R>(&mut self, mut f: impl FnMut() -> R) -> R {
        let mut out = None;
        self.guarded(|b| b.multi.suspend(|| out = Some(f())));
        match out {
            Some(r) => r,
            // The bar failed before `f` ran.
            None => f(),
        }
    }

    pub fn finish(mut self) {
        self.guarded(|b| {
            b.running_line.finish_and_clear();
            b.bar.finish_and_clear();
            let _ = b.multi.clear();
        });
    }
}

/// "running: a 1s, b 0s, +3 more", as many whole entries as fit in `budget`
/// columns (the first always), then how many are left out.
fn running_text(parts: &[String], total: usize, budget: usize) -> String {
    if total == 0 {
        return String::new();
    }
    let mut out = String::from("running:");
    let mut shown = 0;
    for p in parts {
        let left = total - shown - 1;
        let more = if left > 0 {
            format!(", +{left} more").len()
        } else {
            0
        };
        if shown > 0 && out.chars().count() + 2 + p.chars().count() + more > budget {
            break;
        }
        out.push_str(if shown == 0 { " " } else { ", " });
        out.push_str(p);
        shown += 1;
    }
    if total > shown {
        out.push_str(&format!(", +{} more", total - shown));
    }
    out
}

/// The bar line's template for a terminal `cols` wide: the bar takes what the
/// text leaves; a narrow terminal drops rate and ETA rather than wrap.
fn bar_template(cols: Option<u16>) -> &'static str {
    match cols {
        // The counts are all in `{msg}`, made at once: indicatif's `{pos}`
        // moves per unit and would disagree with them between ticks.
        Some(c) if c < 90 => "{elapsed:>4} [{wide_bar:.cyan/blue}] {msg}",
        _ => "{elapsed:>4} [{wide_bar:.cyan/blue}] {msg}  {rate}  ETA {eta_or_unknown}",
    }
}

/// The width of the terminal on stderr, if it is one.
fn stderr_columns() -> Option<u16> {
    // SAFETY: a zeroed winsize is a valid out-parameter for TIOCGWINSZ.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: plain ioctl on stderr; `ws` is valid for writes.
    let r = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0).then_some(ws.ws_col)
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
    use super::{bar_template, fmt_rate, running_text};

    #[test]
    fn the_running_list_fits_the_terminal() {
        let parts: Vec<String> = (0..4).map(|i| format!("fetch[n={i}] 0.1s")).collect();
        assert_eq!(running_text(&parts, 0, 80), "");
        assert_eq!(
            running_text(&parts, 4, 200),
            "running: fetch[n=0] 0.1s, fetch[n=1] 0.1s, fetch[n=2] 0.1s, fetch[n=3] 0.1s"
        );
        let narrow = running_text(&parts, 4, 50);
        assert_eq!(narrow, "running: fetch[n=0] 0.1s, fetch[n=1] 0.1s, +2 more");
        assert!(narrow.len() <= 50);
        // More running than listed (only the first few are formatted).
        assert_eq!(
            running_text(&parts[..1], 9, 200),
            "running: fetch[n=0] 0.1s, +8 more"
        );
    }

    #[test]
    fn narrow_terminals_drop_rate_and_eta() {
        assert!(bar_template(Some(50)).ends_with("{msg}"));
        assert!(bar_template(Some(120)).contains("ETA {eta_or_unknown}"));
        assert!(bar_template(None).contains("{rate}"));
    }

    #[test]
    fn rates_are_short() {
        assert_eq!(fmt_rate(7.1355), "7.1");
        assert_eq!(fmt_rate(0.25), "0.25");
        assert_eq!(fmt_rate(1523.4), "1523");
        assert_eq!(fmt_rate(f64::NAN), "0");
        assert_eq!(fmt_rate(0.0), "0");
    }
}
