//! Adjustments: what the ledger learns about quarters already published.
//!
//! A published quarter never changes (see `publish`), but claims for it may still be verified
//! late or revoked. Those changes are published apart, in the adjustments table: one row per
//! project, outcome and calendar year of publication, with the net change, over all the
//! project's published quarters, in outcomes achieved, outcomes paid and money due. A row is
//! published only when
//! - each count's change is nothing or at least k either way: a change of one outcome would
//!   isolate a participant, as the difference between two releases would;
//! - its money follows from its counts: every published quarter's change for the outcome, since
//!   it was frozen, is paid at one amount per outcome paid, so that the money tells nothing of
//!   which quarters changed (at two prices, or in two phases, a sum could be solved for the
//!   counts behind it);
//! - no row for the outcome was published earlier in the calendar year; and
//! - the disclosure auditor, taking it as known with everything else published, finds no
//!   withheld count exposed (a bound cap is a total over the adjustments too).
//!
//! Otherwise the changes wait, adding up, for a later rebuild. Nothing in a row is ever
//! withheld, and a published row never changes.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDateTime};

use super::catalog::table;
use super::publish::{FrozenQuarter, History};
use super::rows::{LedgerFacts, ProjectFacts, ResultFacts};
use super::value::{Row, Value};
use crate::domain::period::Period;

/// The net change of one outcome's published quarters that one rebuild published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub code: String,
    /// The calendar year in which it was published.
    pub year: i32,
    pub published_at: NaiveDateTime,
    pub change: Change,
}

/// A change in what the ledger holds for some blocks: a difference of sums, so any part may
/// be negative.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub achieved_units: i64,
    pub paid_units: i64,
    /// What counts against the volume and contract caps (see `disclosure::Block`).
    pub payable_units: i64,
    pub payable_minor: i64,
    /// Each payer's money, by organisation.
    pub money: BTreeMap<String, i64>,
}

impl Change {
    /// `self + sign × other`.
    fn add(&mut self, other: &Change, sign: i64) {
        self.achieved_units += sign * other.achieved_units;
        self.paid_units += sign * other.paid_units;
        self.payable_units += sign * other.payable_units;
        self.payable_minor += sign * other.payable_minor;
        for (payer, minor) in &other.money {
            *self.money.entry(payer.clone()).or_default() += sign * minor;
        }
        self.money.retain(|_, minor| *minor != 0);
    }

    /// All payers' money.
    pub fn amount(&self) -> i64 {
        self.money.values().sum()
    }

    fn of(results: &ResultFacts, money: BTreeMap<String, i64>) -> Change {
        Change {
            achieved_units: results.achieved_units,
            paid_units: results.paid_units,
            payable_units: results.payable_units,
            payable_minor: results.payable_minor,
            money,
        }
    }

    /// Whether a row of it would show nothing.
    fn shows_nothing(&self) -> bool {
        self.achieved_units == 0 && self.paid_units == 0 && self.amount() == 0
    }
}

/// The adjustments that may be published at `now`, before the auditor's say: for each outcome
/// whose frozen quarters changed, the change not yet published, where it passes the small-number
/// and one-rate rules and no row for the outcome was published this calendar year.
pub fn offered(
    ledger: &LedgerFacts,
    history: &History,
    k: i64,
    now: NaiveDateTime,
) -> Vec<Adjustment> {
    let year = now.date().year();
    let mut offered = Vec::new();
    for (code, blocks) in changes_since_frozen(ledger, history) {
        let mut change = Change::default();
        for block in blocks.values() {
            change.add(block, 1);
        }
        for published in history.adjustments.iter().filter(|a| a.code == code) {
            change.add(&published.change, -1);
        }
        let small = |count: i64| count != 0 && count.abs() < k;
        let this_year = history
            .adjustments
            .iter()
            .any(|a| a.code == code && a.year == year);
        if change.shows_nothing()
            || small(change.achieved_units)
            || small(change.paid_units)
            || this_year
            || !one_rate(blocks.values())
        {
            continue;
        }
        offered.push(Adjustment {
            code,
            year,
            published_at: now,
            change,
        });
    }
    offered
}

/// Each outcome's change in each frozen quarter since it was frozen, where anything changed.
fn changes_since_frozen(
    ledger: &LedgerFacts,
    history: &History,
) -> BTreeMap<String, BTreeMap<Period, Change>> {
    let money_of = |code: &str, period: Period| -> BTreeMap<String, i64> {
        ledger
            .payments
            .range((code.to_owned(), period, String::new())..)
            .take_while(|((c, p, _), _)| c == code && *p == period)
            .map(|((_, _, payer), m)| (payer.clone(), m.minor))
            .collect()
    };
    let frozen: BTreeMap<Period, &FrozenQuarter> =
        history.frozen.iter().map(|q| (q.period, q)).collect();
    let mut changes: BTreeMap<(String, Period), Change> = BTreeMap::new();
    for ((code, period), results) in &ledger.results {
        if frozen.contains_key(period) {
            let now = Change::of(results, money_of(code, *period));
            changes
                .entry((code.clone(), *period))
                .or_default()
                .add(&now, 1);
        }
    }
    for quarter in frozen.values() {
        for block in &quarter.blocks {
            let money = block
                .money
                .iter()
                .map(|(p, m)| (p.clone(), m.minor))
                .collect();
            let then = Change::of(&block.results, money);
            let key = (block.code.clone(), quarter.period);
            changes.entry(key).or_default().add(&then, -1);
        }
    }
    let mut by_outcome: BTreeMap<String, BTreeMap<Period, Change>> = BTreeMap::new();
    for ((code, period), change) in changes {
        if change != Change::default() {
            by_outcome.entry(code).or_default().insert(period, change);
        }
    }
    by_outcome
}

/// Whether every block's money changed by one amount per outcome paid (the same for all).
fn one_rate<'a>(blocks: impl Iterator<Item = &'a Change> + Clone) -> bool {
    let reference = blocks.clone().find(|c| c.paid_units != 0);
    blocks.into_iter().all(|c| match reference {
        // amount / paid = reference amount / reference paid, in integers.
        Some(r) => {
            i128::from(c.amount()) * i128::from(r.paid_units)
                == i128::from(r.amount()) * i128::from(c.paid_units)
        }
        None => c.amount() == 0,
    })
}

/// The adjustments table's rows of a project.
pub fn rows<'a>(
    project: &ProjectFacts,
    adjustments: impl Iterator<Item = &'a Adjustment>,
) -> Vec<Row> {
    let table = table("adjustments").expect("declared");
    adjustments
        .map(|a| {
            let metric = project.metrics.iter().find(|m| m.code == a.code);
            Row::new(
                table,
                vec![
                    Value::text(&project.id),
                    Value::text(metric.map_or(a.code.as_str(), |m| m.id.as_str())),
                    Value::Integer(i64::from(a.year)),
                    Value::Date(a.published_at.date()),
                    Value::Integer(a.change.achieved_units),
                    Value::Integer(a.change.paid_units),
                    Value::amount(a.change.amount(), &project.currency),
                    Value::text(&project.currency),
                ],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::open_data::publish::FrozenBlock;
    use crate::domain::open_data::rows::MoneyFacts;
    use chrono::NaiveDate;

    fn at(y: i32, m: u32, d: u32) -> NaiveDateTime {
        let day = NaiveDate::from_ymd_opt(y, m, d).unwrap();
        day.and_hms_opt(9, 0, 0).unwrap()
    }

    fn q(label: &str) -> Period {
        Period::parse(label).unwrap()
    }

    /// `n` outcomes of `code`, each paid `each` by payer "p".
    fn results(n: i64, each: i64) -> (ResultFacts, MoneyFacts) {
        let results = ResultFacts {
            achieved_units: n,
            achieved_participants: n,
            paid_units: n,
            paid_participants: n,
            payable_units: n,
            payable_minor: n * each,
            engaged: n,
        };
        (
            results,
            MoneyFacts {
                minor: n * each,
                participants: n,
            },
        )
    }

    /// A history with `frozen` outcomes of "a" in each of 2021 Q1 and Q2, at 100 each, and a
    /// ledger that has since learnt `now` of each.
    fn case(frozen: [i64; 2], now: [(i64, i64); 2]) -> (LedgerFacts, History) {
        let mut ledger = LedgerFacts::default();
        let mut history = History::default();
        for ((period, was), (n, each)) in [q("2021-Q1"), q("2021-Q2")]
            .into_iter()
            .zip(frozen)
            .zip(now)
        {
            let (r, m) = results(n, each);
            ledger.results.insert(("a".into(), period), r);
            ledger.payments.insert(("a".into(), period, "p".into()), m);
            let (r, m) = results(was, 100);
            history.frozen.push(FrozenQuarter {
                period,
                frozen_at: at(2021, 10, 2),
                blocks: vec![FrozenBlock {
                    code: "a".into(),
                    results: r,
                    money: BTreeMap::from([("p".to_owned(), m)]),
                    withheld: false,
                }],
            });
        }
        (ledger, history)
    }

    #[test]
    fn a_change_of_at_least_k_in_published_quarters_is_offered_once_a_year() {
        // Three late outcomes in Q1 and three in Q2: six, at 100 each.
        let (ledger, mut history) = case([10, 10], [(13, 100), (13, 100)]);
        let offered = offered(&ledger, &history, 5, at(2022, 3, 1));
        assert_eq!(offered.len(), 1);
        let change = &offered[0].change;
        assert_eq!(
            (change.achieved_units, change.paid_units, change.amount()),
            (6, 6, 600)
        );
        // Published, it is not offered again, nor anything more for the outcome that year.
        history.adjustments = offered;
        assert!(super::offered(&ledger, &history, 5, at(2022, 12, 31)).is_empty());
    }

    #[test]
    fn a_small_change_waits_and_adds_up() {
        // One late outcome: it would isolate a participant.
        let (ledger, history) = case([10, 10], [(11, 100), (10, 100)]);
        assert!(offered(&ledger, &history, 5, at(2022, 3, 1)).is_empty());
        // Four more later: five in all, offered together.
        let (ledger, history) = case([10, 10], [(13, 100), (13, 100)]);
        assert_eq!(
            offered(&ledger, &history, 5, at(2023, 3, 1))[0]
                .change
                .achieved_units,
            6
        );
        // A revocation and a late outcome cancel: nothing to show.
        let (ledger, history) = case([10, 10], [(9, 100), (11, 100)]);
        assert!(offered(&ledger, &history, 5, at(2022, 3, 1)).is_empty());
    }

    #[test]
    fn money_that_would_tell_which_quarters_changed_waits() {
        // Five late outcomes in Q1 at 100 each, and one in Q2 whose quarter's money moved by
        // 34 (another rate): the sum, 534, could be solved for the counts behind it.
        let (ledger, history) = case([10, 10], [(15, 100), (11, 94)]);
        assert!(offered(&ledger, &history, 5, at(2022, 3, 1)).is_empty());
        // Revoking five and adding six at one rate nets to one: small, so it waits.
        let (ledger, history) = case([10, 10], [(5, 100), (16, 100)]);
        assert!(offered(&ledger, &history, 5, at(2022, 3, 1)).is_empty());
    }
}
