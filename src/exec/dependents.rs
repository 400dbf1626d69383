//! Who waits for whom: the reverse of the units' needs, as one list of
//! edges. Most units have no dependents, so a `Vec` per unit (24 bytes each,
//! 4.8 MB at 200,000 units) would cost more than everything else the
//! executor keeps per unit; this costs 4 bytes a unit and 8 an edge.

const NONE: u32 = u32::MAX;

#[derive(Debug, Default)]
pub struct Dependents {
    /// Per unit: its most recently added edge, or `NONE`.
    head: Vec<u32>,
    /// (dependent, the edge added before this one for the same unit).
    edges: Vec<(u32, u32)>,
}

impl Dependents {
    pub fn new(units: usize) -> Self {
        Dependents {
            head: vec![NONE; units],
            edges: Vec::new(),
        }
    }

    /// More units (expanded at run time), with no dependents yet.
    pub fn resize(&mut self, units: usize) {
        self.head.resize(units, NONE);
    }

    /// `dependent` waits for `unit`.
    pub fn push(&mut self, unit: u32, dependent: u32) {
        let prev = self.head[unit as usize];
        self.head[unit as usize] = self.edges.len() as u32;
        self.edges.push((dependent, prev));
    }

    /// Remove and return `unit`'s dependents, in the order they were added.
    /// Their edges are not reused: a unit is released once.
    pub fn take(&mut self, unit: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let mut e = std::mem::replace(&mut self.head[unit as usize], NONE);
        while e != NONE {
            let (d, prev) = self.edges[e as usize];
            out.push(d);
            e = prev;
        }
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependents_come_back_in_order_and_only_once() {
        let mut d = Dependents::new(3);
        d.push(0, 2);
        d.push(1, 2);
        d.push(0, 1);
        d.resize(5);
        d.push(4, 3);
        assert_eq!(d.take(0), vec![2, 1]);
        assert_eq!(d.take(0), Vec::<u32>::new());
        assert_eq!(d.take(1), vec![2]);
        assert_eq!(d.take(2), Vec::<u32>::new());
        assert_eq!(d.take(4), vec![3]);
    }
}
