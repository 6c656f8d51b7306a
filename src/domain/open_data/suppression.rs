//! Small-number suppression: which published cells are withheld.
//!
//! A cell is a count, or a sum of money that stands for a count (amount ÷ price = count).
//! **Primary** suppression withholds every cell whose count is from 1 to k−1. **Secondary**
//! suppression then makes sure that no withheld cell can be worked out by subtracting the
//! published members of a group from its published total: every group whose total is
//! published has either no withheld member or at least two, and a group with one withheld
//! member and no other non-zero member to withhold has its total withheld instead.
//! Withholding a cell can withhold others with it (`implies`): a count of outcomes paid
//! withheld withholds the money paid for them.

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

    pub fn group(&mut self, members: Vec<usize>, total: usize) {
        self.groups.push(Group { members, total });
    }

    /// Withholding `cause` withholds `effect`.
    pub fn implies(&mut self, cause: usize, effect: usize) {
        self.implies.push((cause, effect));
    }

    /// The withheld cells, for threshold `k` (counts from 1 to k−1 are small).
    pub fn suppress(&self, k: i64) -> BTreeSet<usize> {
        let mut withheld: BTreeSet<usize> = (0..self.cells.len())
            .filter(|&i| is_small(self.cells[i].counts, k))
            .collect();
        loop {
            let before = withheld.len();
            self.close_implications(&mut withheld);
            for group in &self.groups {
                if let Some(more) = self.complement(group, &withheld) {
                    withheld.insert(more);
                    self.close_implications(&mut withheld);
                }
            }
            if withheld.len() == before {
                break;
            }
        }
        debug_assert!(self
            .groups
            .iter()
            .all(|g| self.complement(g, &withheld).is_none()));
        withheld
    }

    fn close_implications(&self, withheld: &mut BTreeSet<usize>) {
        loop {
            let more: Vec<usize> = self
                .implies
                .iter()
                .filter(|(cause, effect)| withheld.contains(cause) && !withheld.contains(effect))
                .map(|(_, effect)| *effect)
                .collect();
            if more.is_empty() {
                return;
            }
            withheld.extend(more);
        }
    }

    /// The cell to withhold next so that `group`'s one withheld member cannot be recovered:
    /// its smallest published non-zero member, or else its total.
    fn complement(&self, group: &Group, withheld: &BTreeSet<usize>) -> Option<usize> {
        if withheld.contains(&group.total) {
            return None;
        }
        let hidden = group
            .members
            .iter()
            .filter(|m| withheld.contains(m))
            .count();
        if hidden != 1 {
            return None;
        }
        let partner = group
            .members
            .iter()
            .copied()
            .filter(|m| !withheld.contains(m) && self.cells[*m].value != 0)
            .min_by_key(|m| (self.cells[*m].value.unsigned_abs(), *m));
        Some(partner.unwrap_or(group.total))
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
    fn a_lone_withheld_member_takes_the_smallest_other_with_it() {
        let mut grid = Grid::default();
        let small = grid.cell(300, 3);
        let big = grid.cell(9_000, 90);
        let smaller = grid.cell(700, 7);
        let total = grid.cell(10_000, 100);
        grid.group(vec![small, big, smaller], total);
        let withheld = grid.suppress(5);
        assert_eq!(withheld, BTreeSet::from([small, smaller]));
    }

    #[test]
    fn with_no_partner_the_total_is_withheld() {
        let mut grid = Grid::default();
        let small = grid.cell(300, 3);
        let empty = grid.cell(0, 0);
        let total = grid.cell(300, 3 + 10); // counted elsewhere too: not small itself
        grid.group(vec![small, empty], total);
        assert_eq!(grid.suppress(5), BTreeSet::from([small, total]));
    }

    #[test]
    fn implications_follow_and_cascade_into_groups() {
        let mut grid = Grid::default();
        let paid_count = grid.cell(2, 2);
        let money_a = grid.cell(2_000, 20);
        let money_b = grid.cell(5_000, 50);
        let other = grid.cell(8_000, 80);
        let payer_total = grid.cell(10_000, 100);
        grid.implies(paid_count, money_a);
        grid.group(vec![money_a, money_b, other], payer_total);
        let withheld = grid.suppress(5);
        assert_eq!(withheld, BTreeSet::from([paid_count, money_a, money_b]));
    }

    proptest! {
        /// Whatever the grid, no group with a published total is left with exactly one
        /// withheld member, and every small cell is withheld.
        #[test]
        fn no_group_can_be_solved_by_subtraction(
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
                    let hidden = group.members.iter().filter(|m| withheld.contains(m)).count();
                    prop_assert!(hidden != 1, "group {:?} leaves one cell to subtraction", group);
                }
            }
        }
    }
}
