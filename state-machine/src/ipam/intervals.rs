//! A set of `u64` offsets kept as maximal, disjoint, non-adjacent closed intervals.
//!
//! This is what makes IPAM cost independent of subnet size: memory grows with the
//! number of *runs* of held addresses, not with the block size, and every operation
//! is one or two B-tree searches. Next-after-last allocation produces long runs, so a
//! subnet filled in order is a handful of entries whatever its size.

use std::collections::BTreeMap;

/// Invariants (checked by `check_invariants` in tests):
/// - every entry `start -> end` has `start <= end`;
/// - entries neither overlap nor touch (`end + 1 < next.start`): runs are maximal;
/// - `len` is the number of offsets held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntervalSet {
    runs: BTreeMap<u64, u64>,
    len: u128,
}

impl IntervalSet {
    pub fn new() -> IntervalSet {
        IntervalSet::default()
    }

    /// Number of offsets held.
    pub fn len(&self) -> u128 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of runs (memory is proportional to this).
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// The run holding `x`, if any.
    pub fn run_containing(&self, x: u64) -> Option<(u64, u64)> {
        let (&s, &e) = self.runs.range(..=x).next_back()?;
        (e >= x).then_some((s, e))
    }

    pub fn contains(&self, x: u64) -> bool {
        self.run_containing(x).is_some()
    }

    /// Adds `x`; false if it was already held.
    pub fn insert(&mut self, x: u64) -> bool {
        let left = self.runs.range(..=x).next_back().map(|(&s, &e)| (s, e));
        if let Some((_, e)) = left {
            if e >= x {
                return false;
            }
        }
        let joins_left = matches!(left, Some((_, e)) if e.checked_add(1) == Some(x));
        let right_end = x.checked_add(1).and_then(|n| self.runs.get(&n).copied());
        match (joins_left, right_end) {
            (true, Some(re)) => {
                let (ls, _) = left.expect("joins_left implies a left run");
                self.runs.remove(&(x + 1));
                self.runs.insert(ls, re);
            }
            (true, None) => {
                let (ls, _) = left.expect("joins_left implies a left run");
                self.runs.insert(ls, x);
            }
            (false, Some(re)) => {
                self.runs.remove(&(x + 1));
                self.runs.insert(x, re);
            }
            (false, None) => {
                self.runs.insert(x, x);
            }
        }
        self.len += 1;
        true
    }

    /// Removes `x`; false if it was not held.
    pub fn remove(&mut self, x: u64) -> bool {
        let Some((s, e)) = self.run_containing(x) else {
            return false;
        };
        self.runs.remove(&s);
        if s < x {
            self.runs.insert(s, x - 1);
        }
        if x < e {
            self.runs.insert(x + 1, e);
        }
        self.len -= 1;
        true
    }

    /// Runs in ascending order.
    pub fn iter_runs(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.runs.iter().map(|(&s, &e)| (s, e))
    }

    #[cfg(test)]
    pub fn check_invariants(&self) {
        let mut prev: Option<u64> = None;
        let mut total: u128 = 0;
        for (&s, &e) in &self.runs {
            assert!(s <= e, "run {s}..{e} is reversed");
            if let Some(p) = prev {
                assert!(
                    p.checked_add(1).is_some_and(|n| n < s),
                    "runs touch or overlap at {s}"
                );
            }
            total += (e - s) as u128 + 1;
            prev = Some(e);
        }
        assert_eq!(total, self.len, "len out of sync with runs");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn merges_and_splits() {
        let mut s = IntervalSet::new();
        assert!(s.insert(5));
        assert!(s.insert(7));
        assert_eq!(s.runs(), 2);
        assert!(s.insert(6));
        assert_eq!(s.runs(), 1);
        assert!(!s.insert(6));
        assert!(s.remove(6));
        assert_eq!(s.runs(), 2);
        assert!(!s.remove(6));
        assert!(s.insert(u64::MAX));
        assert!(s.insert(0));
        assert_eq!(s.len(), 4);
        s.check_invariants();
    }

    proptest! {
        #[test]
        fn behaves_like_a_set(ops in proptest::collection::vec((any::<bool>(), 0u64..64), 0..300)) {
            let mut s = IntervalSet::new();
            let mut model = BTreeSet::new();
            for (ins, x) in ops {
                if ins {
                    prop_assert_eq!(s.insert(x), model.insert(x));
                } else {
                    prop_assert_eq!(s.remove(x), model.remove(&x));
                }
                s.check_invariants();
                prop_assert_eq!(s.len(), model.len() as u128);
            }
            for x in 0..64 {
                prop_assert_eq!(s.contains(x), model.contains(&x));
            }
        }
    }
}
