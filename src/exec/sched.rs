//! Which ready unit starts next: plan order among the units whose pools
//! (`[resources]`, `max_parallel`) have room and a start token.
//!
//! Invariants:
//! - a unit takes everything it uses at once, when it starts, and gives it
//!   all back when its attempt ends; a retry waits for its delay holding
//!   nothing, then queues again;
//! - among units that fit, the lowest plan index starts first;
//! - no unit waits forever: one that does not fit counts the starts that take
//!   from a pool it is short of, and once that count reaches the pool's
//!   capacity it reserves what it is short of: nothing else takes from those
//!   pools until it has started. One reservation at a time, so two units can
//!   never hold out for each other;
//! - rates are token buckets on attempt starts (GCRA: exact to the
//!   nanosecond, no timer thread); the caller sleeps until the next token.
//!
//! Units of the tasks that use the same pools share a queue (a class), so a
//! start costs O(classes + log n): a job without pools has one class.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::plan::Plan;
use crate::plan::resources::{MILLI, Use, show_amount};

#[derive(Debug)]
struct PoolState {
    /// None for a rate-only pool.
    capacity: Option<u64>,
    in_use: u64,
    peak: u64,
    /// Indexed pools: which ids are free.
    free_ids: Option<Vec<bool>>,
    /// GCRA: the theoretical arrival time of the next start; None = now.
    tat: Option<Instant>,
    interval: Duration,
    /// interval * (burst - 1): how far ahead of `tat` a start may come.
    tolerance: Duration,
    rated: bool,
}

impl PoolState {
    fn has_room(&self, amount: u64) -> bool {
        self.capacity.is_none_or(|c| self.in_use + amount <= c)
    }

    /// When the next start token is there (None: now).
    fn token_at(&self, now: Instant) -> Option<Instant> {
        if !self.rated {
            return None;
        }
        let tat = self.tat?;
        let at = tat.checked_sub(self.tolerance).unwrap_or(tat);
        (at > now).then_some(at)
    }
}

#[derive(Debug)]
struct Class {
    uses: Vec<Use>,
    ready: BinaryHeap<Reverse<u32>>,
    /// Starts that took from a pool the head was short of, since it became head.
    passed: u32,
    /// Passes after which the head reserves what it is short of.
    threshold: u32,
}

/// What a started unit holds: (pool, amount, ids of an indexed pool).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Held {
    pub takes: Vec<(usize, u64, Vec<u32>)>,
}

/// The scheduler's answer to "what may start now?".
#[derive(Debug, PartialEq, Eq)]
pub enum Pick {
    Start(u32, Held),
    /// Nothing fits now; ask again by this time (a token or a retry delay
    /// comes due), or when a unit ends (None).
    Wait(Option<Instant>),
}

#[derive(Debug)]
pub struct Scheduler {
    pools: Vec<PoolState>,
    /// Named pools come first; then one per task with `max_parallel`.
    named: usize,
    classes: Vec<Class>,
    task_class: Vec<u32>,
    reserved: Option<usize>,
    /// Retries waiting out their delay: (due, unit).
    delayed: BinaryHeap<Reverse<(Instant, u32)>>,
}

impl Scheduler {
    pub fn new(plan: &Plan, rate_split: u32) -> Scheduler {
        let mut pools: Vec<PoolState> = plan
            .pools
            .iter()
            .map(|p| {
                let rate = p.rate.map(|r| r.split(rate_split));
                let interval = rate.map_or(Duration::ZERO, |r| r.interval());
                PoolState {
                    capacity: p.capacity,
                    in_use: 0,
                    peak: 0,
                    free_ids: p.ids.as_ref().map(|ids| vec![true; ids.len()]),
                    tat: None,
                    interval,
                    tolerance: interval.saturating_mul(p.burst.saturating_sub(1)),
                    rated: rate.is_some(),
                }
            })
            .collect();
        let named = pools.len();
        let mut classes: Vec<Class> = Vec::new();
        let mut task_class = Vec::with_capacity(plan.tasks.len());
        for t in &plan.tasks {
            let mut uses = t.uses.clone();
            if let Some(n) = t.max_parallel {
                uses.push(Use {
                    pool: pools.len(),
                    amount: MILLI,
                });
                pools.push(PoolState {
                    capacity: Some(u64::from(n) * MILLI),
                    in_use: 0,
                    peak: 0,
                    free_ids: None,
                    tat: None,
                    interval: Duration::ZERO,
                    tolerance: Duration::ZERO,
                    rated: false,
                });
            }
            let c = match classes.iter().position(|c| c.uses == uses) {
                Some(c) => c,
                None => {
                    let threshold = uses
                        .iter()
                        .map(|u| {
                            let p = &pools[u.pool];
                            match p.capacity {
                                Some(c) => (c / MILLI).max(1),
                                None => u64::from(plan.pools[u.pool].burst),
                            }
                        })
                        .max()
                        .unwrap_or(1)
                        .min(u64::from(u32::MAX)) as u32;
                    classes.push(Class {
                        uses,
                        ready: BinaryHeap::new(),
                        passed: 0,
                        threshold,
                    });
                    classes.len() - 1
                }
            };
            task_class.push(c as u32);
        }
        Scheduler {
            pools,
            named,
            classes,
            task_class,
            reserved: None,
            delayed: BinaryHeap::new(),
        }
    }

    /// Does the job limit anything beyond the worker count?
    pub fn limits(&self) -> bool {
        !self.pools.is_empty()
    }

    fn class_of(&self, plan: &Plan, unit: u32) -> usize {
        self.task_class[plan.units[unit as usize].task as usize] as usize
    }

    /// A unit whose needs are met.
    pub fn push(&mut self, plan: &Plan, unit: u32) {
        let c = self.class_of(plan, unit);
        self.classes[c].ready.push(Reverse(unit));
    }

    /// A unit to start again once `due` has passed (a retry after its delay).
    pub fn push_at(&mut self, unit: u32, due: Instant) {
        self.delayed.push(Reverse((due, unit)));
    }

    /// Pools of class `c` it is short of now (bit per pool, up to 64 pools;
    /// beyond that the rest share the top bit, which only makes the rule
    /// more careful).
    fn short_of(&self, c: usize, now: Instant) -> u64 {
        let mut mask = 0u64;
        for u in &self.classes[c].uses {
            let p = &self.pools[u.pool];
            if !p.has_room(u.amount) || p.token_at(now).is_some() {
                mask |= 1 << u.pool.min(63);
            }
        }
        mask
    }

    fn takes_from(&self, c: usize) -> u64 {
        self.classes[c]
            .uses
            .iter()
            .fold(0, |m, u| m | 1 << u.pool.min(63))
    }

    /// The next unit to start, taking what it uses; or how long to wait.
    pub fn pick(&mut self, plan: &Plan, now: Instant) -> Pick {
        while let Some(&Reverse((due, u))) = self.delayed.peek() {
            if due > now {
                break;
            }
            self.delayed.pop();
            let c = self.class_of(plan, u);
            self.classes[c].ready.push(Reverse(u));
        }
        // What the reservation holds back from everyone else.
        let mut blocked = 0u64;
        if let Some(r) = self.reserved {
            if self.classes[r].ready.is_empty() {
                self.reserved = None;
            } else {
                blocked = self.short_of(r, now);
                if blocked == 0 {
                    return self.start(plan, r, now);
                }
            }
        }
        let mut best: Option<(u32, usize)> = None;
        for (c, class) in self.classes.iter().enumerate() {
            let Some(&Reverse(head)) = class.ready.peek() else {
                continue;
            };
            if best.is_some_and(|(b, _)| b < head) {
                continue;
            }
            if self.takes_from(c) & blocked == 0 && self.short_of(c, now) == 0 {
                best = Some((head, c));
            }
        }
        if let Some((_, c)) = best {
            return self.start(plan, c, now);
        }
        // Nothing fits: wake for the first token or retry that comes due.
        let mut wake = self.delayed.peek().map(|Reverse((t, _))| *t);
        for class in &self.classes {
            if class.ready.is_empty() {
                continue;
            }
            for u in &class.uses {
                if let Some(t) = self.pools[u.pool].token_at(now) {
                    wake = Some(wake.map_or(t, |w| w.min(t)));
                }
            }
        }
        Pick::Wait(wake)
    }

    fn start(&mut self, plan: &Plan, c: usize, now: Instant) -> Pick {
        let Some(Reverse(unit)) = self.classes[c].ready.pop() else {
            return Pick::Wait(None);
        };
        self.classes[c].passed = 0;
        if self.reserved == Some(c) {
            self.reserved = None;
        }
        let took = self.takes_from(c);
        let mut held = Held {
            takes: Vec::with_capacity(self.classes[c].uses.len()),
        };
        for k in 0..self.classes[c].uses.len() {
            let u = self.classes[c].uses[k];
            let p = &mut self.pools[u.pool];
            p.in_use += u.amount;
            p.peak = p.peak.max(p.in_use);
            if p.rated {
                let tat = p.tat.map_or(now, |t| t.max(now));
                p.tat = Some(tat + p.interval);
            }
            let mut ids = Vec::new();
            if let Some(free) = p.free_ids.as_mut() {
                let want = (u.amount / MILLI) as usize;
                for (i, f) in free.iter_mut().enumerate() {
                    if ids.len() == want {
                        break;
                    }
                    if *f {
                        *f = false;
                        ids.push(i as u32);
                    }
                }
            }
            held.takes.push((u.pool, u.amount, ids));
        }
        // Every unit left waiting that is short of what this one took was passed.
        for d in 0..self.classes.len() {
            if d == c || self.classes[d].ready.is_empty() {
                continue;
            }
            if self.short_of(d, now) & took != 0 {
                let class = &mut self.classes[d];
                class.passed = class.passed.saturating_add(1);
                if class.passed >= class.threshold && self.reserved.is_none() {
                    self.reserved = Some(d);
                }
            }
        }
        let _ = plan;
        Pick::Start(unit, held)
    }

    /// Give back what a unit held (its attempt ended).
    pub fn release(&mut self, held: &Held) {
        for (pool, amount, ids) in &held.takes {
            let p = &mut self.pools[*pool];
            p.in_use -= amount;
            if let Some(free) = p.free_ids.as_mut() {
                for &i in ids {
                    free[i as usize] = true;
                }
            }
        }
    }

    /// Give back what a unit was given but did not use (it was up to date,
    /// or the run stopped), its start tokens too.
    pub fn refund(&mut self, held: &Held) {
        self.release(held);
        for (pool, _, _) in &held.takes {
            let p = &mut self.pools[*pool];
            if p.rated {
                p.tat = p.tat.and_then(|t| t.checked_sub(p.interval));
            }
        }
    }

    /// `held` rendered per named pool, for `{resource.X}` and `JOBRUN_RESOURCE_X`
    /// (empty when the job has no pools).
    pub fn render(plan: &Plan, held: &Held) -> Vec<Option<String>> {
        let named = plan.pools.len();
        let mut out = vec![None; if held.takes.is_empty() { 0 } else { named }];
        for (pool, amount, ids) in &held.takes {
            if *pool >= named {
                continue;
            }
            out[*pool] = Some(match &plan.pools[*pool].ids {
                Some(names) => ids
                    .iter()
                    .map(|&i| names[i as usize].as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                None => show_amount(*amount),
            });
        }
        out
    }

    /// Each named pool's peak use so far (in thousandths).
    pub fn peaks(&self) -> Vec<u64> {
        self.pools[..self.named].iter().map(|p| p.peak).collect()
    }

    /// Ready units that wait for a pool, by the first pool each is short of
    /// (named pools by index; `named + k` is a task's `max_parallel`).
    pub fn waiting(&self, now: Instant) -> Vec<(usize, usize)> {
        let mut out: Vec<(usize, usize)> = Vec::new();
        for (c, class) in self.classes.iter().enumerate() {
            if class.ready.is_empty() {
                continue;
            }
            let short = self.short_of(c, now);
            if short == 0 {
                continue;
            }
            let pool = class
                .uses
                .iter()
                .map(|u| u.pool)
                .find(|&p| short & (1 << p.min(63)) != 0)
                .unwrap_or(0);
            match out.iter_mut().find(|(p, _)| *p == pool) {
                Some(e) => e.1 += class.ready.len(),
                None => out.push((pool, class.ready.len())),
            }
        }
        out.sort_unstable();
        out
    }

    /// The name shown for pool `p` of [`Scheduler::waiting`].
    pub fn pool_name(&self, plan: &Plan, p: usize) -> String {
        if p < self.named {
            return plan.pools[p].name.clone();
        }
        let k = p - self.named;
        plan.tasks
            .iter()
            .filter(|t| t.max_parallel.is_some())
            .nth(k)
            .map_or_else(String::new, |t| format!("max_parallel of {}", t.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::build::tests::plan;

    fn start_all(s: &mut Scheduler, p: &Plan, now: Instant) -> Vec<(u32, Held)> {
        let mut out = Vec::new();
        while let Pick::Start(u, h) = s.pick(p, now) {
            out.push((u, h));
        }
        out
    }

    const PIPE: &str = r#"
        [resources]
        net = 2
        cpu = 1
        [[task]]
        name = "down"
        matrix.i = { range = [0, 4] }
        uses = { net = 1 }
        run = ["true"]
        [[task]]
        name = "work"
        matrix.i = { range = [0, 4] }
        uses = { cpu = 1 }
        run = ["true"]
    "#;

    #[test]
    fn plan_order_among_units_that_fit() {
        let p = plan(PIPE);
        let mut s = Scheduler::new(&p, 1);
        for u in 0..8 {
            s.push(&p, u);
        }
        let now = Instant::now();
        let started: Vec<u32> = start_all(&mut s, &p, now).iter().map(|x| x.0).collect();
        // Two downloads fill net; the first work unit fits cpu.
        assert_eq!(started, [0, 1, 4]);
        assert_eq!(s.pick(&p, now), Pick::Wait(None));
        assert_eq!(s.waiting(now), [(0, 2), (1, 3)]);
    }

    #[test]
    fn ids_are_never_held_twice() {
        let p = plan(
            r#"
            [resources]
            gpu = ["a", "b", "c"]
            [[task]]
            name = "t"
            matrix.i = { range = [0, 5] }
            uses = { gpu = 2 }
            run = ["true"]
        "#,
        );
        let mut s = Scheduler::new(&p, 1);
        for u in 0..5 {
            s.push(&p, u);
        }
        let now = Instant::now();
        let first = start_all(&mut s, &p, now);
        assert_eq!(first.len(), 1);
        assert_eq!(Scheduler::render(&p, &first[0].1), [Some("a,b".to_owned())]);
        s.release(&first[0].1);
        let next = start_all(&mut s, &p, now);
        assert_eq!(Scheduler::render(&p, &next[0].1), [Some("a,b".to_owned())]);
    }

    #[test]
    fn a_rate_spaces_starts() {
        let p = plan(
            r#"
            [resources]
            api = { rate = "10/s", burst = 2 }
            [[task]]
            name = "t"
            matrix.i = { range = [0, 5] }
            uses = { api = 1 }
            run = ["true"]
        "#,
        );
        let mut s = Scheduler::new(&p, 1);
        for u in 0..5 {
            s.push(&p, u);
        }
        let t0 = Instant::now();
        assert_eq!(start_all(&mut s, &p, t0).len(), 2, "burst of 2");
        let Pick::Wait(Some(at)) = s.pick(&p, t0) else {
            panic!("waits for a token");
        };
        assert_eq!(at - t0, Duration::from_millis(100));
        assert_eq!(start_all(&mut s, &p, at).len(), 1);
        assert_eq!(
            s.pick(&p, at),
            Pick::Wait(Some(at + Duration::from_millis(100)))
        );
        // Shared by 4 shards: each gets a quarter of the rate.
        let mut s4 = Scheduler::new(&p, 4);
        for u in 0..5 {
            s4.push(&p, u);
        }
        start_all(&mut s4, &p, t0);
        assert_eq!(
            s4.pick(&p, t0),
            Pick::Wait(Some(t0 + Duration::from_millis(400)))
        );
    }

    #[test]
    fn a_big_unit_is_not_starved_by_a_stream_of_small_ones() {
        let p = plan(
            r#"
            [resources]
            cpu = 4
            [[task]]
            name = "small"
            matrix.i = { range = [0, 50] }
            uses = { cpu = 1 }
            run = ["true"]
            [[task]]
            name = "big"
            uses = { cpu = 4 }
            run = ["true"]
        "#,
        );
        let mut s = Scheduler::new(&p, 1);
        for u in 0..51 {
            s.push(&p, u);
        }
        let now = Instant::now();
        let mut running: Vec<(u32, Held)> = start_all(&mut s, &p, now);
        let mut order: Vec<u32> = running.iter().map(|x| x.0).collect();
        while !running.is_empty() {
            // The oldest running unit ends; whatever fits starts.
            let (_, h) = running.remove(0);
            s.release(&h);
            for (u, h) in start_all(&mut s, &p, now) {
                order.push(u);
                running.push((u, h));
            }
        }
        assert_eq!(order.len(), 51);
        let big = order.iter().position(|&u| u == 50).expect("big ran");
        // Passed by a poolful (4), then the running four drain.
        assert!(big <= 12, "big started {big}th: {order:?}");
    }

    #[test]
    fn max_parallel_caps_a_task_and_retries_wait_their_delay() {
        let p = plan(
            r#"
            [[task]]
            name = "t"
            matrix.i = { range = [0, 5] }
            max_parallel = 2
            run = ["true"]
        "#,
        );
        let mut s = Scheduler::new(&p, 1);
        for u in 0..5 {
            s.push(&p, u);
        }
        let now = Instant::now();
        let first = start_all(&mut s, &p, now);
        assert_eq!(first.len(), 2);
        assert_eq!(s.waiting(now), [(0, 3)]);
        assert_eq!(s.pool_name(&p, 0), "max_parallel of t");
        s.release(&first[0].1);
        let due = now + Duration::from_secs(1);
        s.push_at(first[0].0, due);
        assert_eq!(
            start_all(&mut s, &p, now)
                .iter()
                .map(|x| x.0)
                .collect::<Vec<_>>(),
            [2]
        );
        s.release(&first[1].1);
        // The retry, once due, goes before later units.
        assert_eq!(
            start_all(&mut s, &p, due)
                .iter()
                .map(|x| x.0)
                .collect::<Vec<_>>(),
            [0]
        );
    }
}
