//! Small-number suppression: which published cells are withheld.
//!
//! A cell is a count, or a sum of money that stands for a count (amount ÷ price = count).
//! **Primary** suppression withholds every cell whose count is from 1 to k−1. Withholding a
//! cell can withhold others with it (`implies`): the cells of one outcome's quarter go
//! together. **Secondary** suppression then withholds every total that has a withheld part
//! (`group`), and so on up: a payer's total when one of its cells is withheld, the project's
//! total when a payer's total is. No published total then has a withheld part, so that no
//! equation a reader can write from the published tables (a total less its published parts,
//! or several such totals combined, with the public shares and prices) has fewer unknowns
//! than it needs to give any withheld cell back: every withheld cell stays free.
//!
//! Withholding only a second part of each total instead (classic complementary suppression)
//! kept more totals, but a reader combining several totals with the payers' public shares
//! recovered withheld cells of projects whose payers pay for their own home areas.

use std::collections::BTreeSet;

/// A cell: its value (money in minor units, or a count), and how many outcomes or
/// participants it counts (what primary suppression tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub value: i64,
    pub counts: i64,
}

/// Members that add up to a total: a payer's cells to its total, the payers' totals to the
/// project's total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub members: Vec<usize>,
    pub total: usize,
}

#[derive(Debug, Default)]
pub struct Grid {
    cells: Vec<Cell>,
    groups: Vec<Group>,
    implies: Vec<(usize, usize)>,
}

impl Grid {
    pub fn cell(&mut self, value: i64, counts: i64) -> usize {
        self.cells.push(Cell { value, counts });
        self.cells.len() - 1
    }

    /// `members` add up to `total`: the total is withheld when any member is.
    pub fn group(&mut self, members: Vec<usize>, total: usize) {
        for &member in &members {
            self.implies.push((member, total));
        }
        self.groups.push(Group { members, total });
    }

    /// Withholding `cause` withholds `effect`.
    pub fn implies(&mut self, cause: usize, effect: usize) {
        self.implies.push((cause, effect));
    }

    /// The withheld cells, for threshold `k` (counts from 1 to k−1 are small).
    pub fn suppress(&self, k: i64) -> BTreeSet<usize> {
        self.suppress_with(k, &BTreeSet::new())
    }

    /// The withheld cells when `also` are withheld besides the small ones, with everything
    /// they imply.
    pub fn suppress_with(&self, k: i64, also: &BTreeSet<usize>) -> BTreeSet<usize> {
        self.suppress_pinned(k, also, &BTreeSet::new())
    }

    /// As `suppress_with`, except that the `shown` cells are never withheld: cells published
    /// earlier, which stay as they were. (Implications never lead into them from elsewhere,
    /// since a cell implies only the cells of its own block and the totals over it.)
    pub fn suppress_pinned(
        &self,
        k: i64,
        also: &BTreeSet<usize>,
        shown: &BTreeSet<usize>,
    ) -> BTreeSet<usize> {
        let mut withheld: BTreeSet<usize> = (0..self.cells.len())
            .filter(|&i| is_small(self.cells[i].counts, k))
            .chain(also.iter().copied())
            .filter(|i| !shown.contains(i))
            .collect();
        loop {
            let more: Vec<usize> = self
                .implies
                .iter()
                .filter(|(cause, effect)| {
                    withheld.contains(cause)
                        && !withheld.contains(effect)
                        && !shown.contains(effect)
                })
                .map(|(_, effect)| *effect)
                .collect();
            if more.is_empty() {
                break;
            }
            withheld.extend(more);
        }
        debug_assert!(self.groups.iter().all(|g| {
            withheld.contains(&g.total) || g.members.iter().all(|m| !withheld.contains(m))
        }));
        withheld
    }
}

fn is_small(counts: i64, k: i64) -> bool {
    counts >= 1 && counts < k
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_counts_are_withheld_and_zero_and_large_ones_are_not() {
        let mut grid = Grid::default();
        let zero = grid.cell(0, 0);
        let one = grid.cell(100, 1);
        let four = grid.cell(400, 4);
        let five = grid.cell(500, 5);
        let withheld = grid.suppress(5);
        assert!(!withheld.contains(&zero) && !withheld.contains(&five));
        assert!(withheld.contains(&one) && withheld.contains(&four));
    }

    #[test]
    fn a_withheld_part_withholds_its_total_and_the_totals_above_it() {
        let mut grid = Grid::default();
        let small = grid.cell(300, 3);
        let big = grid.cell(9_000, 90);
        let other_payer = grid.cell(5_000, 50);
        let payer_total = grid.cell(9_300, 93);
        let other_total = grid.cell(5_000, 50);
        let project_total = grid.cell(14_300, 143);
        grid.group(vec![small, big], payer_total);
        grid.group(vec![other_payer], other_total);
        grid.group(vec![payer_total, other_total], project_total);
        let withheld = grid.suppress(5);
        assert_eq!(
            withheld,
            BTreeSet::from([small, payer_total, project_total])
        );
    }

    #[test]
    fn implications_follow_and_cascade_into_groups() {
        let mut grid = Grid::default();
        let paid_count = grid.cell(2, 2);
        let money = grid.cell(2_000, 20);
        let unrelated = grid.cell(8_000, 80);
        let payer_total = grid.cell(10_000, 100);
        grid.implies(paid_count, money);
        grid.group(vec![money, unrelated], payer_total);
        let withheld = grid.suppress(5);
        assert_eq!(withheld, BTreeSet::from([paid_count, money, payer_total]));
    }

    proptest! {
        /// Whatever the grid: every small cell is withheld, and no published total has a
        /// withheld part (so no total less its published parts gives one back).
        #[test]
        fn no_published_total_has_a_withheld_part(
            cells in proptest::collection::vec((0i64..50, 0i64..12), 1..24),
            groups in proptest::collection::vec((proptest::collection::vec(0usize..24, 1..6), 0usize..24), 0..8),
            k in 2i64..8,
        ) {
            let mut grid = Grid::default();
            for (value, counts) in &cells {
                grid.cell(*value, *counts);
            }
            let n = cells.len();
            for (members, total) in &groups {
                let mut members: Vec<usize> = members.iter().map(|m| m % n).collect();
                members.sort_unstable();
                members.dedup();
                let total = total % n;
                if !members.contains(&total) {
                    grid.group(members, total);
                }
            }
            let withheld = grid.suppress(k);
            for (i, (_, counts)) in cells.iter().enumerate() {
                if is_small(*counts, k) {
                    prop_assert!(withheld.contains(&i));
                }
            }
            for group in &grid.groups {
                if !withheld.contains(&group.total) {
                    prop_assert!(group.members.iter().all(|m| !withheld.contains(m)), "group {:?}", group);
                }
            }
        }
    }
}
