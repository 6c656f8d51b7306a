//! Adjustments: what the ledger learns about quarters already published.
//!
//! A published quarter never changes (see `publish`), but claims for it may still be verified
//! late or revoked. Those changes are published apart, in the adjustments table: one row per
//! project, outcome and calendar year, with the net change, over all the project's published
//! quarters (withheld ones included) since they were published or last adjusted, in outcomes
//! achieved, outcomes paid and money due.
//!
//! Adjustments are made once a year, by the first rebuild of each calendar year, of what the
//! ledger has learnt by then: so the day a row appears says nothing of when a claim changed.
//! An outcome's row is published then only when
//! - each count's change is nothing or at least k either way (a change of one outcome would
//!   isolate a participant, as the difference between two releases would), and not both
//!   nothing; and
//! - the disclosure auditor, taking it as known with everything else published, finds no
//!   withheld count exposed (a bound cap is a total over the adjustments too, and the blocks
//!   an adjustment covers are never left with a negative count).
//!
//! Its money is shown only when it follows from its counts: every changed quarter holds, both
//! as frozen and as the ledger has it now, outcomes paid exactly the outcome's price each (no
//! outcome is paid more, so a total of the price times the outcomes paid says so), so every
//! change was at that price and the money tells nothing of which outcomes or quarters changed;
//! and every earlier row of the outcome showed its money (else this one's would give that back
//! by subtraction). Otherwise it is withheld: wherever an outcome may be paid less than its
//! price (deadweight, a cap that cut a payment, a participant's limit), two rates may be at
//! work, and a sum can be solved for the counts behind it. The auditor knows the money all the
//! same. Changes that are not published wait, adding up, for the next year's round. A
//! published row never changes.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDateTime};

use super::catalog::table;
use super::history::{Adjustment, Change, FrozenQuarter, History};
use super::rows::{LedgerFacts, ProjectFacts};
use super::value::{Row, Value};
use crate::domain::money::Minor;
use crate::domain::period::Period;

/// The year whose adjustment round a rebuild at `now` holds, if it holds one: the first
/// rebuild of each calendar year (with nothing published yet, it has nothing to offer, but
/// it is held all the same, so that no round falls later in the year).
pub fn round_due(history: &History, now: NaiveDateTime) -> Option<i32> {
    let year = now.date().year();
    (!history.adjustment_rounds.contains(&year)).then_some(year)
}

/// The adjustments that may be published at `now`, before the auditor's say: when the year's
/// round is due, for each outcome whose frozen quarters changed, the change not yet
/// published, where it passes the small-number rule.
pub fn offered(
    project: &ProjectFacts,
    ledger: &LedgerFacts,
    history: &History,
    k: i64,
    now: NaiveDateTime,
) -> Vec<Adjustment> {
    let Some(year) = round_due(history, now) else {
        return Vec::new();
    };
    let mut offered = Vec::new();
    for (code, blocks) in changes_since_frozen(ledger, history) {
        let mut change = Change::default();
        for block in blocks.values() {
            change.add(&block.now, 1);
            change.add(&block.then, -1);
        }
        for published in history.adjustments.iter().filter(|a| a.code == code) {
            change.add(&published.change, -1);
        }
        let small = |count: i64| count != 0 && count.abs() < k;
        if change.counts_nothing() || small(change.achieved_units) || small(change.paid_units) {
            continue;
        }
        let metric = project.metrics.iter().find(|m| m.code == code);
        let price = metric.map_or(Minor::ZERO, |m| m.price_minor);
        let at_price = |b: &Changed| b.now.at_price(price) && b.then.at_price(price);
        // A sum withheld from an earlier row would follow from this one's, shown, by
        // subtraction from the price times the counts.
        let earlier = history.adjustments.iter().filter(|a| a.code == code);
        let shown_before = earlier.clone().all(|a| a.money_shown);
        offered.push(Adjustment {
            money_shown: shown_before && blocks.values().all(at_price),
            code,
            year,
            published_at: now,
            change,
        });
    }
    offered
}

/// An outcome's block in a frozen quarter: as frozen, and as the ledger holds it now.
#[derive(Debug, Default)]
struct Changed {
    then: Change,
    now: Change,
}

/// Each outcome's blocks in frozen quarters that changed since they were frozen.
fn changes_since_frozen(
    ledger: &LedgerFacts,
    history: &History,
) -> BTreeMap<String, BTreeMap<Period, Changed>> {
    let money_of = |code: &str, period: Period| -> BTreeMap<String, Minor> {
        ledger
            .payments
            .range((code.to_owned(), period, String::new())..)
            .take_while(|((c, p, _), _)| c == code && *p == period)
            .map(|((_, _, payer), m)| (payer.clone(), m.minor))
            .collect()
    };
    let frozen: BTreeMap<Period, &FrozenQuarter> =
        history.frozen.iter().map(|q| (q.period, q)).collect();
    let mut blocks: BTreeMap<(String, Period), Changed> = BTreeMap::new();
    for ((code, period), results) in &ledger.results {
        if frozen.contains_key(period) {
            let block = blocks.entry((code.clone(), *period)).or_default();
            block.now = Change::of(results, money_of(code, *period));
        }
    }
    for quarter in frozen.values() {
        for b in &quarter.blocks {
            let money = b.money.iter().map(|(p, m)| (p.clone(), m.minor)).collect();
            let block = blocks.entry((b.code.clone(), quarter.period)).or_default();
            block.then = Change::of(&b.results, money);
        }
    }
    let mut by_outcome: BTreeMap<String, BTreeMap<Period, Changed>> = BTreeMap::new();
    for ((code, period), block) in blocks {
        if block.now != block.then {
            by_outcome.entry(code).or_default().insert(period, block);
        }
    }
    by_outcome
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
            let amount = match a.money_shown {
                true => Value::amount(a.change.amount(), &project.currency),
                false => Value::Suppressed,
            };
            Row::new(
                table,
                vec![
                    Value::text(&project.id),
                    Value::text(metric.map_or(a.code.as_str(), |m| m.id.as_str())),
                    Value::Integer(i64::from(a.year)),
                    Value::Date(a.published_at.date()),
                    Value::Integer(a.change.achieved_units),
                    Value::Integer(a.change.paid_units),
                    amount,
                    Value::text(&project.currency),
                ],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::open_data::history::FrozenBlock;
    use crate::domain::open_data::rows::{MoneyFacts, Parts, ResultFacts};
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
            payable_minor: Minor(n * each),
            engaged: n,
        };
        (
            results,
            MoneyFacts {
                minor: Minor(n * each),
                participants: n,
                parts: (n > 0).then_some(Parts {
                    smallest: Minor(each),
                    largest: Minor(each),
                }),
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

    /// A project whose outcome "a" is priced 100.
    fn project() -> ProjectFacts {
        use crate::domain::open_data::rows::tests::facts;
        use crate::domain::registry::SettlementRoute;
        let mut project = facts(SettlementRoute::Direct);
        project.metrics.retain(|m| m.code == "a");
        project.metrics[0].price_minor = Minor(100);
        project
    }

    fn offer(ledger: &LedgerFacts, history: &History, now: NaiveDateTime) -> Vec<Adjustment> {
        offered(&project(), ledger, history, 5, now)
    }

    #[test]
    fn a_change_of_at_least_k_is_offered_in_the_years_round_only() {
        // Three late outcomes in Q1 and three in Q2: six, at 100 each.
        let (ledger, mut history) = case([10, 10], [(13, 100), (13, 100)]);
        let offered = offer(&ledger, &history, at(2022, 3, 1));
        assert_eq!(offered.len(), 1);
        let change = &offered[0].change;
        assert_eq!(
            (change.achieved_units, change.paid_units, change.amount()),
            (6, 6, Minor(600))
        );
        assert!(offered[0].money_shown, "every outcome at its price");
        // Once the year's round is held, nothing more is offered that year, published or not.
        history.adjustment_rounds.insert(2022);
        assert!(offer(&ledger, &history, at(2022, 12, 31)).is_empty());
        // The next year's round offers what is left: nothing, once this one is published.
        history.adjustments = offered;
        assert!(offer(&ledger, &history, at(2023, 1, 1)).is_empty());
        assert_eq!(round_due(&history, at(2023, 1, 1)), Some(2023));
    }

    #[test]
    fn a_small_change_waits_and_adds_up() {
        // One late outcome: it would isolate a participant.
        let (ledger, history) = case([10, 10], [(11, 100), (10, 100)]);
        assert!(offer(&ledger, &history, at(2022, 3, 1)).is_empty());
        // Five more later: six in all, offered together.
        let (ledger, history) = case([10, 10], [(13, 100), (13, 100)]);
        let offered = offer(&ledger, &history, at(2023, 3, 1));
        assert_eq!(offered[0].change.achieved_units, 6);
        // A revocation and a late outcome cancel: nothing to show.
        let (ledger, history) = case([10, 10], [(9, 100), (11, 100)]);
        assert!(offer(&ledger, &history, at(2022, 3, 1)).is_empty());
        // Revoking five and adding six nets to one: small, so it waits.
        let (ledger, history) = case([10, 10], [(5, 100), (16, 100)]);
        assert!(offer(&ledger, &history, at(2022, 3, 1)).is_empty());
    }

    #[test]
    fn money_that_could_tell_which_outcomes_changed_is_withheld() {
        // Six late outcomes in Q1, one of them paid 40 rather than the price (a cap cut it):
        // 540 for six has one solution at the two rates. The counts are shown, the money not.
        let (mut ledger, history) = case([10, 10], [(16, 100), (10, 100)]);
        let key = ("a".to_owned(), q("2021-Q1"), "p".to_owned());
        ledger.payments.get_mut(&key).unwrap().minor -= Minor(60);
        let offered = offer(&ledger, &history, at(2022, 3, 1));
        assert_eq!(offered[0].change.achieved_units, 6);
        assert!(!offered[0].money_shown);
        let rows = rows(&project(), offered.iter());
        assert_eq!(rows[0].values[6], Value::Suppressed);
        // The same within one quarter at two rates whose totals average out is caught too:
        // each quarter as frozen and as now must be at the price, not only the change.
        let (mut ledger, history) = case([10, 10], [(15, 100), (10, 100)]);
        let q1 = ("a".to_owned(), q("2021-Q1"), "p".to_owned());
        ledger.payments.get_mut(&q1).unwrap().minor = Minor(10 * 100 - 100 + 6 * 40);
        let offered = offer(&ledger, &history, at(2022, 3, 1));
        assert!(offered.iter().all(|a| !a.money_shown));
    }

    #[test]
    fn money_withheld_once_stays_withheld_for_the_outcome() {
        // An earlier row withheld its money; this year's changes are all at the price, but
        // showing their sum would give the earlier one back (the price times the counts, less).
        let (ledger, mut history) = case([10, 10], [(16, 100), (10, 100)]);
        history.adjustments.push(Adjustment {
            code: "a".into(),
            year: 2022,
            published_at: at(2022, 1, 1),
            change: Change::default(),
            money_shown: false,
        });
        let offered = offer(&ledger, &history, at(2023, 1, 1));
        assert_eq!(offered[0].change.achieved_units, 6);
        assert!(!offered[0].money_shown);
    }
}
