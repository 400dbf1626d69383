//! The cartesian product as numbers: combination `i` is `i` in mixed radix
//! over the axes' value counts, the last axis fastest (plan order). An axis
//! is one source: one key's values, or a row file's rows (a key per column).
//! An include or exclude entry then names a sub-grid, found from the
//! positions of its values, so matching costs the combinations an entry
//! names, never a search through all of them.

use std::collections::HashMap;

use super::value::Value;

pub struct Grid {
    sizes: Vec<usize>,
    strides: Vec<usize>,
    total: usize,
}

/// Positions an axis may take: (axis, positions among its values), an axis
/// at most once.
pub type Picks = [(usize, Vec<u32>)];

/// Adds an axis's positions to `picks`. An axis already there (two columns
/// of one row file) keeps the positions both allow.
pub fn narrow(picks: &mut Vec<(usize, Vec<u32>)>, axis: usize, positions: Vec<u32>) {
    let Some((_, have)) = picks.iter_mut().find(|(a, _)| *a == axis) else {
        picks.push((axis, positions));
        return;
    };
    // Both ascending: a merge.
    let mut both = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < have.len() && j < positions.len() {
        match have[i].cmp(&positions[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both.push(have[i]);
                i += 1;
                j += 1;
            }
        }
    }
    *have = both;
}

impl Grid {
    /// `sizes`: the value count of each axis; their product must fit a usize.
    /// No axis gives no combination (a task without a matrix is handled apart).
    pub fn new(sizes: Vec<usize>) -> Grid {
        let mut strides = vec![0; sizes.len()];
        let mut total = 1usize;
        for (k, &n) in sizes.iter().enumerate().rev() {
            strides[k] = total;
            total *= n;
        }
        if sizes.is_empty() {
            total = 0;
        }
        Grid {
            sizes,
            strides,
            total,
        }
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// Calls `f` with every combination whose axes in `picks` take one of the
    /// positions given (the other axes any), in plan order when each axis's
    /// positions are sorted. `f` returns false to stop.
    pub fn each(&self, picks: &Picks, mut f: impl FnMut(usize) -> bool) {
        if self.total == 0 || picks.iter().any(|(_, p)| p.is_empty()) {
            return;
        }
        let mut fixed: Vec<Option<&[u32]>> = vec![None; self.sizes.len()];
        for (k, p) in picks {
            fixed[*k] = Some(p);
        }
        let len = |k: usize| fixed[k].map_or(self.sizes[k], <[u32]>::len);
        let at = |k: usize, j: usize| fixed[k].map_or(j, |p| p[j] as usize) * self.strides[k];
        let mut pos = vec![0usize; self.sizes.len()];
        let mut i: usize = (0..pos.len()).map(|k| at(k, 0)).sum();
        loop {
            if !f(i) {
                return;
            }
            let mut k = pos.len();
            loop {
                if k == 0 {
                    return;
                }
                k -= 1;
                i -= at(k, pos[k]);
                pos[k] += 1;
                if pos[k] < len(k) {
                    i += at(k, pos[k]);
                    break;
                }
                pos[k] = 0;
                i += at(k, 0);
            }
        }
    }
}

/// Where each value of one key is. Most sources hold a value once; a lines
/// file may repeat one (and a row file's column mostly does), and an entry
/// naming it then names every copy.
pub struct Positions<'v> {
    first: HashMap<&'v [u8], u32>,
    more: HashMap<u32, Vec<u32>>,
}

impl<'v> Positions<'v> {
    pub fn new(values: &'v [Value]) -> Positions<'v> {
        let mut first = HashMap::with_capacity(values.len());
        let mut more: HashMap<u32, Vec<u32>> = HashMap::new();
        for (j, v) in values.iter().enumerate() {
            // Below the combination cap, so it fits.
            let j = j as u32;
            let f = *first.entry(v.as_bytes()).or_insert(j);
            if f != j {
                more.entry(f).or_default().push(j);
            }
        }
        Positions { first, more }
    }

    /// The positions of `v`, ascending; empty if the key never takes it.
    pub fn of(&self, v: &Value) -> Vec<u32> {
        let Some(&f) = self.first.get(v.as_bytes()) else {
            return Vec::new();
        };
        let mut p = vec![f];
        p.extend(self.more.get(&f).into_iter().flatten());
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(g: &Grid, picks: &Picks) -> Vec<usize> {
        let mut out = Vec::new();
        g.each(picks, |i| {
            out.push(i);
            true
        });
        out
    }

    #[test]
    fn sub_grids_in_plan_order() {
        // 2 x 3 x 4: strides 12, 4, 1.
        let g = Grid::new(vec![2, 3, 4]);
        assert_eq!(g.total(), 24);
        assert_eq!(all(&g, &[]), (0..24).collect::<Vec<_>>());
        assert_eq!(all(&g, &[(0, vec![1]), (1, vec![2]), (2, vec![3])]), [23]);
        assert_eq!(
            all(&g, &[(1, vec![0, 2])]),
            [0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23]
        );
        assert_eq!(all(&g, &[(0, vec![0]), (2, vec![1])]), [1, 5, 9]);
        assert_eq!(all(&g, &[(2, vec![])]), Vec::<usize>::new());
        let mut n = 0;
        g.each(&[], |_| {
            n += 1;
            n < 5
        });
        assert_eq!(n, 5);
    }

    #[test]
    fn no_key_or_an_empty_key_gives_nothing() {
        assert_eq!(all(&Grid::new(vec![]), &[]), Vec::<usize>::new());
        assert_eq!(all(&Grid::new(vec![3, 0]), &[]), Vec::<usize>::new());
    }

    #[test]
    fn positions_find_every_copy() {
        let values: Vec<Value> = ["a", "b", "a", "c", "a"].map(Value::from).into();
        let p = Positions::new(&values);
        assert_eq!(p.of(&Value::from("a")), [0, 2, 4]);
        assert_eq!(p.of(&Value::from("c")), [3]);
        assert_eq!(p.of(&Value::from("d")), Vec::<u32>::new());
    }

    #[test]
    fn two_columns_of_one_axis_narrow_it() {
        let mut picks = vec![(1, vec![0, 2])];
        narrow(&mut picks, 0, vec![1, 3, 5]);
        narrow(&mut picks, 0, vec![0, 3, 4, 5]);
        narrow(&mut picks, 1, vec![2]);
        assert_eq!(picks, [(1, vec![2]), (0, vec![3, 5])]);
        narrow(&mut picks, 0, vec![4]);
        assert_eq!(picks[1], (0, vec![]));
    }
}
