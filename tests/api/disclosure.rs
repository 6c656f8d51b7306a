//! Withheld open-data cells against a reader who knows the contract's rules: the five attacks
//! of issue 16 through HTTP on both databases, and a property test on random projects. The
//! reader here is written afresh, independent of cofund's auditor: a reference engine that
//! prices and splits outcomes as DOMAIN.md says, and a brute-force search over whole-number
//! counts for every withheld block, keeping each alternative that reproduces every published
//! cell, total and row.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::helpers::*;
use cofund::domain::open_data::publish;
use cofund::domain::open_data::rows::{
    quarter_of, LedgerFacts, MetricFacts, MoneyFacts, Parts, PayerFacts, ProjectFacts, ProjectRows,
};
use cofund::domain::open_data::value::Value as Cell;
use cofund::domain::registry::SettlementRoute;

/// The suppression threshold the tests run with (cofund's default).
const K: i64 = 5;

/// What a reader knows of a project's terms.
#[derive(Debug, Clone)]
struct Terms {
    caps: Vec<i64>,
    weights: Vec<i64>,
    prices: Vec<i64>,
    volume_caps: Vec<Option<i64>>,
    contract_cap: Option<i64>,
    /// Percentage deducted from every price (not published: a reader learns what it gives
    /// from any block shown).
    deadweight_percent: i64,
    /// The weights are a phase's shares over the whole service (not published: the shares
    /// column is then empty), not fixed shares.
    phases: bool,
}

/// What the reference engine makes of one outcome in one quarter.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    achieved: i64,
    /// Outcomes a payer paid something for.
    paid: i64,
    payable_units: i64,
    payable_minor: i64,
    /// Each payer's money, `None` where it has no allocation at all (no published row).
    money: Vec<Option<i64>>,
    /// Participants each payer paid something for.
    paid_for: Vec<i64>,
    /// The least and the most each payer paid one of them.
    parts: Vec<Option<Parts>>,
}

/// Largest-remainder split, ties to the payer listed first.
fn split(amount: i64, weights: &[i64]) -> Vec<i64> {
    let total: i64 = weights.iter().sum();
    let mut parts: Vec<i64> = weights.iter().map(|w| amount * w / total).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(amount * weights[i] % total), i));
    let left = amount - parts.iter().sum::<i64>();
    for &i in order.iter().take(left as usize) {
        parts[i] += 1;
    }
    parts
}

/// Prices and splits `counts[b]` outcomes of `outcomes[b]` (blocks in time order, each
/// outcome a participant of its own): volume cap, contract cap, then each payer's cap, with
/// what a capped payer cannot pay left unfunded.
fn engine(terms: &Terms, outcomes: &[usize], counts: &[i64]) -> Vec<Outcome> {
    let payers = terms.caps.len();
    let mut units_used = vec![0; terms.prices.len()];
    let mut value_used = 0;
    let mut paid_by = vec![0; payers];
    let mut out = Vec::with_capacity(counts.len());
    for (&o, &count) in outcomes.iter().zip(counts) {
        let mut block = Outcome {
            achieved: count,
            paid: 0,
            payable_units: 0,
            payable_minor: 0,
            money: vec![None; payers],
            paid_for: vec![0; payers],
            parts: vec![None; payers],
        };
        for _ in 0..count {
            if terms.volume_caps[o].is_some_and(|v| units_used[o] >= v) {
                continue;
            }
            units_used[o] += 1;
            block.payable_units += 1;
            let mut amount = terms.prices[o] * (100 - terms.deadweight_percent) / 100;
            if let Some(cap) = terms.contract_cap {
                amount = amount.min((cap - value_used).max(0));
            }
            value_used += amount;
            block.payable_minor += amount;
            if amount == 0 {
                continue;
            }
            let mut any = false;
            for (r, part) in split(amount, &terms.weights).into_iter().enumerate() {
                let pay = part.min(terms.caps[r] - paid_by[r]).max(0);
                if part != 0 {
                    *block.money[r].get_or_insert(0) += pay;
                }
                paid_by[r] += pay;
                block.paid_for[r] += i64::from(pay > 0);
                if pay > 0 {
                    let seen = block.parts[r].get_or_insert(Parts {
                        smallest: pay,
                        largest: pay,
                    });
                    seen.smallest = seen.smallest.min(pay);
                    seen.largest = seen.largest.max(pay);
                }
                any |= pay > 0;
            }
            block.paid += i64::from(any);
        }
        out.push(block);
    }
    out
}

/// A payer's cell of a block as published.
#[derive(Debug, Clone, PartialEq)]
enum Money {
    NoRow,
    Withheld,
    Shown(i64),
}

/// What is published of a project's blocks (in time order) and totals.
#[derive(Debug, Clone)]
struct Published {
    outcomes: Vec<usize>,
    /// Outcomes achieved and paid, or `None` where the block is withheld.
    results: Vec<Option<(i64, i64)>>,
    /// Blocks of quarters not published at all (waiting): not even their rows are seen.
    hidden: Vec<bool>,
    money: Vec<Vec<Money>>,
    payer_totals: Vec<Option<i64>>,
    project_total: Option<i64>,
}

impl Published {
    /// Whether an alternative ledger gives exactly what is published.
    fn admits(&self, alternative: &[Outcome]) -> bool {
        for (b, block) in alternative.iter().enumerate() {
            if let Some(shown) = self.results[b] {
                if shown != (block.achieved, block.paid) {
                    return false;
                }
            }
            if self.hidden[b] {
                continue;
            }
            for (cell, money) in self.money[b].iter().zip(&block.money) {
                let same = match cell {
                    Money::NoRow => money.is_none(),
                    Money::Withheld => money.is_some(),
                    Money::Shown(v) => *money == Some(*v),
                };
                if !same {
                    return false;
                }
            }
        }
        // Totals are over the published quarters only.
        let total = |r: usize| -> i64 {
            let published = alternative.iter().zip(&self.hidden).filter(|(_, h)| !**h);
            published.filter_map(|(b, _)| b.money[r]).sum()
        };
        let payers_agree = self
            .payer_totals
            .iter()
            .enumerate()
            .all(|(r, shown)| shown.is_none_or(|v| v == total(r)));
        let project = (0..self.payer_totals.len()).map(total).sum::<i64>();
        payers_agree && self.project_total.is_none_or(|v| v == project)
    }

    /// The withheld blocks.
    fn withheld(&self) -> Vec<usize> {
        (0..self.results.len())
            .filter(|&b| self.results[b].is_none())
            .collect()
    }

    /// For each withheld block, every count of outcomes achieved and of outcomes paid that
    /// some alternative with counts up to `bound` admits.
    fn feasible(&self, terms: &Terms, bound: i64) -> Feasible {
        let withheld = self.withheld();
        let mut found = Feasible::new(&withheld);
        odometer(withheld.len(), bound, |unknown| {
            let mut counts: Vec<i64> = self.results.iter().map(|r| r.map_or(0, |r| r.0)).collect();
            for (&b, &n) in withheld.iter().zip(unknown) {
                counts[b] = n;
            }
            let alternative = engine(terms, &self.outcomes, &counts);
            if self.admits(&alternative) {
                found.record(&alternative);
            }
        });
        found
    }
}

/// The counts of outcomes achieved and paid that a reader finds possible, per withheld block.
struct Feasible(BTreeMap<usize, (BTreeSet<i64>, BTreeSet<i64>)>);

impl Feasible {
    fn new(withheld: &[usize]) -> Feasible {
        Feasible(withheld.iter().map(|&b| (b, Default::default())).collect())
    }

    fn record(&mut self, alternative: &[Outcome]) {
        for (b, sets) in &mut self.0 {
            sets.0.insert(alternative[*b].achieved);
            sets.1.insert(alternative[*b].paid);
        }
    }
}

/// Calls `visit` with every vector of `dimensions` whole numbers from 0 to `bound`.
fn odometer(dimensions: usize, bound: i64, mut visit: impl FnMut(&[i64])) {
    let mut digits = vec![0; dimensions];
    loop {
        visit(&digits);
        let Some(d) = digits.iter().position(|&n| n < bound) else {
            return;
        };
        digits[..d].fill(0);
        digits[d] += 1;
    }
}

/// The withheld blocks whose true counts are small, each with the counts from 1 to k−1 (up to
/// the outcome's volume cap, which the terms state anyway) that the reader can rule out.
fn exposed(terms: &Terms, published: &Published, truth: &[Outcome], bound: i64) -> Vec<String> {
    let mut feasible = published.feasible(terms, bound);
    feasible.0.retain(|b, _| !published.hidden[*b]);
    ruled_out(terms, &published.outcomes, truth, feasible)
}

fn ruled_out(
    terms: &Terms,
    outcomes: &[usize],
    truth: &[Outcome],
    feasible: Feasible,
) -> Vec<String> {
    let mut exposed = Vec::new();
    for (b, (achieved, paid)) in feasible.0 {
        let top = terms.volume_caps[outcomes[b]].map_or(K - 1, |v| v.min(K - 1));
        for (what, true_count, set) in [
            ("achieved", truth[b].achieved, &achieved),
            ("paid", truth[b].paid, &paid),
        ] {
            if !(1..K).contains(&true_count) {
                continue;
            }
            let ruled_out: Vec<i64> = (1..=top).filter(|t| !set.contains(t)).collect();
            if !ruled_out.is_empty() {
                exposed.push(format!(
                    "block {b}: {what} is {true_count}; the reader rules out {ruled_out:?}"
                ));
            }
        }
    }
    exposed
}

// ---------------------------------------------------------------------------------------
// Through cofund's suppression, without a database: random projects.

const QUARTERS: [&str; 6] = [
    "2021-02-10",
    "2021-05-10",
    "2021-08-10",
    "2021-11-10",
    "2022-02-10",
    "2022-05-10",
];

fn project_facts(terms: &Terms) -> ProjectFacts {
    let shares = terms.weights.iter().sum::<i64>() == 10;
    ProjectFacts {
        id: "prj".into(),
        name: "Random".into(),
        fund_ids: vec![],
        provider_organisation_id: "provider".into(),
        stage_development: None,
        service_start: NaiveDate::from_ymd_opt(2021, 1, 1).unwrap(),
        service_end: NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(),
        policy_sector: None,
        social_challenge: None,
        target_population: None,
        max_outcome_payment_minor: terms.contract_cap,
        currency: "GBP".into(),
        settlement_route: SettlementRoute::Direct,
        created_at: NaiveDate::from_ymd_opt(2021, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
        payers: (0..terms.caps.len())
            .map(|r| PayerFacts {
                organisation_id: format!("payer{r}"),
                category: "Government/Public Sector/Public Bank",
                role: "local_commissioner".into(),
                max_commitment_minor: terms.caps[r],
                share: shares.then(|| format!("0.{}", terms.weights[r])),
                lead: r == 0,
            })
            .collect(),
        metrics: (0..terms.prices.len())
            .map(|o| MetricFacts {
                id: format!("m{o}"),
                code: format!("o{o}"),
                name: format!("Outcome {o}"),
                unit: "achievement".into(),
                price_minor: terms.prices[o],
                max_units_per_participant: None,
                max_claims_per_participant: 1,
                volume_cap: terms.volume_caps[o],
                min_age_at_start: None,
                max_age_at_start: None,
            })
            .collect(),
    }
}

/// The ledger facts of the engine's outcomes for blocks `(quarter, outcome)`.
fn ledger_facts(blocks: &[(usize, usize)], truth: &[Outcome]) -> LedgerFacts {
    let mut ledger = LedgerFacts::default();
    let mut totals: BTreeMap<String, MoneyFacts> = BTreeMap::new();
    for (&(q, o), t) in blocks.iter().zip(truth) {
        // A block listed twice (late claims for it) adds up.
        let quarter = quarter_of(QUARTERS[q].parse().unwrap());
        let r = ledger
            .results
            .entry((format!("o{o}"), quarter))
            .or_default();
        r.achieved_units += t.achieved;
        r.achieved_participants += t.achieved;
        r.paid_units += t.paid;
        r.paid_participants += t.paid;
        r.payable_units += t.payable_units;
        r.payable_minor += t.payable_minor;
        r.engaged += t.achieved;
        for (r, money) in t.money.iter().enumerate() {
            let Some(minor) = *money else { continue };
            let key = (format!("o{o}"), quarter, format!("payer{r}"));
            ledger.payments.entry(key).or_default().add(MoneyFacts {
                minor,
                participants: t.paid_for[r],
                parts: t.parts[r],
            });
            let total = totals.entry(format!("payer{r}")).or_default();
            total.minor += minor;
            total.participants += t.paid_for[r];
            ledger.project_total.minor += minor;
        }
        ledger.project_total.participants += t.paid;
    }
    ledger.payer_totals = totals;
    ledger
}

/// What cofund's suppression publishes of the engine's outcomes, as the reader sees it; `None`
/// when no quarterly row is published.
fn publish(terms: &Terms, blocks: &[(usize, usize)], truth: &[Outcome]) -> Option<Published> {
    let rows = publish::project_rows(&project_facts(terms), &ledger_facts(blocks, truth), K)
        .expect("a publication that passes its audit");
    seen(terms, blocks, &rows)
}

/// A publication's rows of `blocks` as the reader sees them; `None` when no quarterly row is
/// published.
fn seen(terms: &Terms, blocks: &[(usize, usize)], rows: &ProjectRows) -> Option<Published> {
    if rows.results.is_empty() {
        return None;
    }
    let amount = |v: &Cell| match v {
        Cell::Amount { minor, .. } => Some(*minor),
        Cell::Suppressed => None,
        other => panic!("not an amount: {other:?}"),
    };
    let count = |v: &Cell| match v {
        Cell::Integer(n) => Some(*n),
        _ => None,
    };
    let mut published = Published {
        outcomes: blocks.iter().map(|b| b.1).collect(),
        results: Vec::new(),
        money: Vec::new(),
        payer_totals: rows.payers.iter().map(|p| amount(&p.values[7])).collect(),
        project_total: amount(&rows.project[0].values[12]),
        hidden: Vec::new(),
    };
    for &(q, o) in blocks {
        let start = quarter_of(QUARTERS[q].parse().unwrap()).start();
        let metric = Cell::Text(format!("m{o}"));
        let Some(row) = rows
            .results
            .iter()
            .find(|r| r.values[1] == metric && r.values[2] == Cell::Date(start))
        else {
            // A quarter that waits: the reader does not know it exists.
            published.results.push(None);
            published.hidden.push(true);
            published
                .money
                .push(vec![Money::Withheld; terms.caps.len()]);
            continue;
        };
        published.hidden.push(false);
        published
            .results
            .push(count(&row.values[4]).zip(count(&row.values[5])));
        published.money.push(
            (0..terms.caps.len())
                .map(|r| {
                    let payer = Cell::Text(format!("payer{r}"));
                    let cell = rows.payments.iter().find(|p| {
                        p.values[1] == metric
                            && p.values[2] == Cell::Date(start)
                            && p.values[4] == payer
                    });
                    match cell.map(|p| amount(&p.values[6])) {
                        None => Money::NoRow,
                        Some(None) => Money::Withheld,
                        Some(Some(v)) => Money::Shown(v),
                    }
                })
                .collect(),
        );
    }
    Some(published)
}

fn random_project() -> impl Strategy<Value = (Terms, Vec<(usize, usize)>, Vec<i64>)> {
    let caps = proptest::collection::vec(5i64..=60, 2);
    let weights = prop_oneof![
        Just(vec![5i64, 5]),
        Just(vec![3i64, 7]),
        Just(vec![1i64, 1])
    ];
    let prices = prop_oneof![Just(vec![1_000i64]), Just(vec![1_000i64, 300])];
    let volume = proptest::option::of(2i64..=20);
    let contract = proptest::option::of(30i64..=200);
    let quarters = proptest::collection::vec(proptest::collection::vec(0i64..=8, 2), 2..=5);
    (caps, weights, prices, volume, contract, quarters).prop_map(
        |(caps, weights, prices, volume, contract, quarters)| {
            let mut blocks = Vec::new();
            let mut counts = Vec::new();
            for (q, per_outcome) in quarters.iter().enumerate() {
                for (o, &count) in per_outcome.iter().enumerate().take(prices.len()) {
                    if count > 0 {
                        blocks.push((q, o));
                        counts.push(count);
                    }
                }
            }
            let volume_caps = (0..prices.len())
                .map(|o| volume.filter(|_| o == 0))
                .collect();
            let caps: Vec<i64> = caps.iter().map(|c| c * 100_000).collect();
            // Weights of 1 and 1 stand for pro rata: shares in proportion to the maximums.
            let weights = if weights == [1, 1] {
                caps.clone()
            } else {
                weights
            };
            let terms = Terms {
                deadweight_percent: 0,
                phases: false,
                caps,
                weights,
                prices: prices.iter().map(|p| p * 100).collect(),
                volume_caps,
                contract_cap: contract.map(|c| c * 100_000),
            };
            (terms, blocks, counts)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Random projects whose caps bind or not: whatever cofund withholds, the brute-force
    /// reader rules out no count from 1 to k−1 for any withheld block whose count is small.
    #[test]
    fn no_reader_narrows_a_withheld_small_count(
        (terms, blocks, counts) in random_project(),
    ) {
        let outcomes: Vec<usize> = blocks.iter().map(|b| b.1).collect();
        let truth = engine(&terms, &outcomes, &counts);
        let Some(published) = publish(&terms, &blocks, &truth) else {
            return Ok(());
        };
        let withheld = published.results.iter().filter(|r| r.is_none()).count();
        prop_assume!(withheld <= 4);
        let bound = counts.iter().max().copied().unwrap_or(0) + 2 * K;
        let exposed = exposed(&terms, &published, &truth, bound);
        prop_assert!(exposed.is_empty(), "{exposed:?}\n{published:?}\n{truth:?}");
    }
}

/// Two publications of one project: the first when the quarters before `split` have closed,
/// the second when all have, after `late` more outcomes were verified for the earlier block
/// `late_block` (its frozen cells do not show them; the caps they use up may, and so may the
/// adjustments table).
struct TwoReleases {
    terms: Terms,
    outcomes: Vec<usize>,
    /// Blocks of the first publication: a prefix, since blocks are in time order.
    old: usize,
    late_block: usize,
    first: Published,
    second: Published,
    /// The second publication's adjustment of the late block's outcome, if it published one:
    /// outcomes achieved, outcomes paid and money, as changed.
    adjustment: Option<(i64, i64, Option<i64>)>,
}

impl TwoReleases {
    /// What the engine makes of `counts` with `late` late outcomes: the first publication's
    /// blocks as they stood then, and the whole ledger's afterwards (late ones included).
    fn run(&self, counts: &[i64], late: i64) -> (Vec<Outcome>, Vec<Outcome>) {
        let old = self.old;
        let first = engine(&self.terms, &self.outcomes[..old], &counts[..old]);
        let order: Vec<usize> = (0..old)
            .chain([self.late_block])
            .chain(old..self.outcomes.len())
            .collect();
        let outcomes: Vec<usize> = order.iter().map(|&b| self.outcomes[b]).collect();
        let mut in_order: Vec<i64> = order.iter().map(|&b| counts[b]).collect();
        in_order[old] = late;
        let whole = engine(&self.terms, &outcomes, &in_order);
        (first, whole)
    }

    /// The blocks as the second publication shows them: the earlier ones frozen as they were.
    fn shown(first: &[Outcome], whole: &[Outcome]) -> Vec<Outcome> {
        let old = first.len();
        first.iter().chain(&whole[old + 1..]).cloned().collect()
    }

    /// The reader's search over the counts of every withheld block and the late outcomes.
    fn feasible(&self, bound: i64) -> Feasible {
        let withheld = self.second.withheld();
        let mut found = Feasible::new(&withheld);
        odometer(withheld.len() + 1, bound, |unknown| {
            let mut counts: Vec<i64> = self
                .second
                .results
                .iter()
                .map(|r| r.map_or(0, |r| r.0))
                .collect();
            for (&b, &n) in withheld.iter().zip(unknown) {
                counts[b] = n;
            }
            let (first, whole) = self.run(&counts, unknown[withheld.len()]);
            let shown = Self::shown(&first, &whole);
            let late = &whole[self.old];
            let money: i64 = late.money.iter().flatten().sum();
            let adjusted = self.adjustment.is_none_or(|(achieved, paid, shown)| {
                (achieved, paid) == (late.achieved, late.paid) && shown.is_none_or(|m| m == money)
            });
            if adjusted && self.first.admits(&first) && self.second.admits(&shown) {
                found.record(&shown);
            }
        });
        found
    }
}

/// The adjustment a publication shows of outcome `o`: its changes in outcomes achieved,
/// outcomes paid and money. Checked against the small-number rule as the reader reads it.
fn adjustment_seen(rows: &ProjectRows, o: usize) -> Option<(i64, i64, Option<i64>)> {
    let row = rows
        .adjustments
        .iter()
        .find(|r| r.values[1] == Cell::Text(format!("m{o}")))?;
    let (Cell::Integer(achieved), Cell::Integer(paid)) = (&row.values[4], &row.values[5]) else {
        panic!("an adjustment shows its counts: {row:?}");
    };
    for count in [achieved, paid] {
        assert!(
            *count == 0 || count.abs() >= K,
            "a small change is shown: {row:?}"
        );
    }
    let money = match &row.values[6] {
        Cell::Amount { minor, .. } => Some(*minor),
        Cell::Suppressed => None,
        other => panic!("not an amount: {other:?}"),
    };
    Some((*achieved, *paid, money))
}

/// A random project, the quarter before which the first publication is made, how many late
/// outcomes come between the publications, and which earlier block they are for.
type TwoReleaseCase = (Terms, Vec<(usize, usize)>, Vec<i64>, usize, i64, usize);

fn two_releases(late: std::ops::RangeInclusive<i64>) -> impl Strategy<Value = TwoReleaseCase> {
    (
        random_project(),
        1usize..4,
        late,
        any::<prop::sample::Index>(),
    )
        .prop_map(|((terms, blocks, counts), split, late, at)| {
            let old = blocks.iter().filter(|b| b.0 < split).count();
            (terms, blocks, counts, split, late, at.index(old.max(1)))
        })
}

/// Publishes a random project twice, the second time after `late` more outcomes for one
/// block of the first, and has the reader of both publications (the adjustments table too)
/// look for a withheld small count it can pin down.
fn two_releases_disclose_nothing(case: TwoReleaseCase) -> Result<(), TestCaseError> {
    let (terms, blocks, counts, split, late, at) = case;
    let old = blocks.iter().filter(|b| b.0 < split).count();
    prop_assume!(old > 0 && old < blocks.len());
    let outcomes: Vec<usize> = blocks.iter().map(|b| b.1).collect();
    let mut two = TwoReleases {
        terms: terms.clone(),
        outcomes,
        old,
        late_block: at,
        first: Published {
            outcomes: vec![],
            results: vec![],
            hidden: vec![],
            money: vec![],
            payer_totals: vec![],
            project_total: None,
        },
        second: Published {
            outcomes: vec![],
            results: vec![],
            hidden: vec![],
            money: vec![],
            payer_totals: vec![],
            project_total: None,
        },
        adjustment: None,
    };
    let (first, whole) = two.run(&counts, late);
    let project = project_facts(&terms);
    let rules = publish::Rules {
        k: K,
        close_after_days: 0,
    };
    // The first publication on the first day of quarter `split`, the second long after.
    let split_day = quarter_of(QUARTERS[split].parse().unwrap()).start();
    let first_at = split_day.and_hms_opt(9, 0, 0).unwrap();
    let one = publish::publish(
        &project,
        &ledger_facts(&blocks[..old], &first),
        &Default::default(),
        rules,
        first_at,
    )
    .expect("the first publication passes its audit");
    let mut listed: Vec<(usize, usize)> = blocks[..old].to_vec();
    listed.push(blocks[two.late_block]);
    listed.extend(&blocks[old..]);
    let history = publish::History {
        frozen: one.newly_frozen,
        totals: one.new_totals,
        ..Default::default()
    };
    let later = NaiveDate::from_ymd_opt(2030, 1, 1)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    let second = publish::publish(
        &project,
        &ledger_facts(&listed, &whole),
        &history,
        rules,
        later,
    )
    .expect("the second publication passes its audit");
    prop_assume!(one.waiting == 0 && second.waiting == 0);
    let (Some(seen_first), Some(seen_second)) = (
        seen(&terms, &blocks[..old], &one.rows),
        seen(&terms, &blocks, &second.rows),
    ) else {
        return Ok(());
    };
    two.first = seen_first;
    two.second = seen_second;
    two.adjustment = adjustment_seen(&second.rows, blocks[two.late_block].1);
    prop_assert!(
        second.rows.adjustments.len() <= 1,
        "only the late outcome changed"
    );
    prop_assume!(two.second.withheld().len() <= 3);
    let truth = TwoReleases::shown(&first, &whole);
    let bound = counts.iter().max().copied().unwrap_or(0) + 2 * K;
    let mut feasible = two.feasible(bound);
    feasible.0.retain(|b, _| !two.second.hidden[*b]);
    let exposed = ruled_out(&terms, &two.second.outcomes, &truth, feasible);
    prop_assert!(
        exposed.is_empty(),
        "{exposed:?}\n{:?}\n{:?}\n{truth:?}",
        two.first,
        two.second
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Two successive publications with up to 3 late outcomes between them (too few for an
    /// adjustment): the reader of both rules out no count from 1 to k−1 for any withheld block
    /// whose count is small.
    #[test]
    fn no_reader_of_two_releases_narrows_a_withheld_small_count(case in two_releases(0..=3)) {
        two_releases_disclose_nothing(case)?;
    }

    /// The same with 5 to 8 late outcomes, which the second publication's adjustments table
    /// shows where it may, and which may complete a cap.
    #[test]
    fn no_reader_of_an_adjustment_narrows_a_withheld_small_count(case in two_releases(5..=8)) {
        two_releases_disclose_nothing(case)?;
    }
}

/// Late outcomes that complete a payer's cap, as the two-release property test found them;
/// whatever the second release shows must leave every count from 1 to 4 possible.
#[test]
fn late_outcomes_that_complete_a_payer_cap_leave_withheld_counts_open() {
    let terms = |caps: [i64; 2], weights: [i64; 2], volume_cap: Option<i64>| Terms {
        deadweight_percent: 0,
        phases: false,
        caps: caps.to_vec(),
        weights: weights.to_vec(),
        prices: vec![100_000],
        volume_caps: vec![volume_cap],
        contract_cap: None,
    };
    let blocks = vec![(0, 0), (1, 0), (2, 0)];
    // A (£5,000) and B (£9,000) each pay half of £1,000 outcomes: 3 withheld in a first
    // quarter, 7 late ones for it complete A's cap, 5 follow and 1 is withheld. A's cap gives
    // the first quarter and its late outcomes as 10, and B's then leaves at most 3 for the last.
    let a_completes = terms([500_000, 900_000], [5, 5], None);
    two_releases_disclose_nothing((a_completes, blocks.clone(), vec![3, 5, 1], 1, 7, 0)).unwrap();
    // B (£6,000, 70%) completes its cap among 7 late outcomes for a first quarter of 2, the
    // last cut short; the next quarter's 6 show B paid nothing, so the first quarter and the
    // late ones are at least 9, and a volume cap of 18 leaves at most 3 for the last quarter.
    let b_completes = terms([600_000, 600_000], [3, 7], Some(18));
    two_releases_disclose_nothing((b_completes, blocks, vec![2, 6, 1], 1, 7, 0)).unwrap();
}

/// The reader is not toothless: given the lone withheld quarter that the first attack of issue
/// 16 met, it recovers the count.
#[test]
fn the_reader_recovers_a_lone_withheld_quarter_under_a_bound_cap() {
    let terms = attack_terms(&[10_000, 100_000], &[1_000]);
    let outcomes = [0, 0, 0, 0];
    let truth = engine(&terms, &outcomes, &[6, 2, 20, 6]);
    assert_eq!(truth[3].money[0], Some(0), "the cap has bound");
    let mut published = Published {
        outcomes: outcomes.to_vec(),
        results: truth.iter().map(|t| Some((t.achieved, t.paid))).collect(),
        hidden: vec![false; 4],
        money: truth
            .iter()
            .map(|t| t.money.iter().map(|m| Money::Shown(m.unwrap())).collect())
            .collect(),
        payer_totals: vec![None, None],
        project_total: None,
    };
    published.results[1] = None;
    published.money[1] = vec![Money::Withheld, Money::Withheld];
    let exposed = exposed(&terms, &published, &truth, 30);
    assert_eq!(exposed.len(), 2, "{exposed:?}");
    assert!(exposed[0].contains("[1, 3, 4]"), "{exposed:?}");
}

// ---------------------------------------------------------------------------------------
// The attacks of issue 16, through HTTP.

fn attack_terms(caps_pounds: &[i64], prices_pounds: &[i64]) -> Terms {
    Terms {
        caps: caps_pounds.iter().map(|c| c * 100).collect(),
        weights: vec![1; caps_pounds.len()],
        prices: prices_pounds.iter().map(|p| p * 100).collect(),
        volume_caps: vec![None; prices_pounds.len()],
        contract_cap: None,
        deadweight_percent: 0,
        phases: false,
    }
}

/// A published attack project: its id, provider, and the blocks of its claims in time order.
struct AttackProject {
    id: String,
    provider_token: String,
    outcomes: Vec<usize>,
    counts: Vec<i64>,
}

impl AttackProject {
    /// Uploads `rows` (CSV lines after the header) as the provider and verifies them.
    async fn verify(&self, app: &TestApp, rows: &str) {
        let upload = app
            .client
            .post(app.url(&format!("/v1/projects/{}/claims/bulk", self.id)))
            .bearer_auth(&self.provider_token)
            .header("content-type", "text/csv")
            .body(format!("participant_ref,outcome_code,achieved_on\n{rows}"));
        let upload_id = Reply::of(upload).await.assert_status(201)["upload_id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.post(
            &format!("/v1/projects/{}/claims/verify", self.id),
            Some(&app.admin()),
            &json!({"upload_id": upload_id}),
        )
        .await
        .assert_status(200);
    }
}

/// A published project of two payers at half each, claims of `quarters[q][o]` participants
/// for outcome `o` in quarter `q` of 2021, verified quarter by quarter, then a rebuild.
async fn attack_project(
    app: &TestApp,
    name: &str,
    terms: &Terms,
    quarters: &[&[i64]],
) -> AttackProject {
    let provider = app.org(&format!("{name} provider"), "provider", &[]).await;
    let mut payers = Vec::new();
    for r in 0..terms.caps.len() {
        payers.push(
            app.org(&format!("{name} payer {r}"), "local_authority", &[])
                .await,
        );
    }
    let mut body = json!({
        "name": name, "provider_organisation_id": provider,
        "service_start": "2021-01-01", "service_end": "2030-12-31", "published": true,
        "payers": payers.iter().zip(&terms.caps).enumerate().map(|(r, (id, cap))| json!({
            "organisation_id": id, "role": if r == 0 { "local_commissioner" } else { "co_commissioner" },
            "max_commitment": gbp(&format!("{}.00", cap / 100)),
        })).collect::<Vec<_>>(),
        "outcomes": terms.prices.iter().zip(&terms.volume_caps).enumerate().map(|(o, (price, volume))| {
            let mut outcome = json!({"code": format!("o{o}"), "name": format!("Outcome {o}"),
                                     "price": gbp(&format!("{}.00", price / 100)), "unit": "achievement"});
            if let Some(v) = volume {
                outcome["volume_cap"] = json!(v);
            }
            outcome
        }).collect::<Vec<_>>(),
        "validator_organisation_ids": [],
    });
    if let Some(cap) = terms.contract_cap {
        body["max_outcome_payment"] = gbp(&format!("{}.00", cap / 100));
    }
    let total: i64 = terms.weights.iter().sum();
    for (payer, weight) in body["payers"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(&terms.weights)
    {
        let share = format!(
            "{}",
            rust_decimal::Decimal::from(*weight) / rust_decimal::Decimal::from(total)
        );
        if terms.phases {
            payer["phases"] = json!([{"from": "2021-01-01", "to": "2030-12-31", "share": share}]);
        } else {
            payer["share"] = json!(share);
        }
    }
    if terms.deadweight_percent > 0 {
        let deadweight = format!("0.{:02}", terms.deadweight_percent);
        for outcome in body["outcomes"].as_array_mut().unwrap() {
            outcome["deadweight"] = json!(deadweight);
        }
    }
    let project = app.post("/v1/projects", Some(&app.admin()), &body).await;
    let mut project = AttackProject {
        id: project.assert_status(201)["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        provider_token: app.token(cofund::api::auth::Role::Provider, Some(&provider)),
        outcomes: Vec::new(),
        counts: Vec::new(),
    };
    for (q, per_outcome) in quarters.iter().enumerate() {
        let mut rows = String::new();
        for (o, &count) in per_outcome.iter().enumerate() {
            // Outcome 0 first within the quarter: verification prices in date order.
            let date = format!("2021-{:02}-{:02}", 3 * q + 1, 10 + o);
            for i in 0..count {
                rows += &format!("{name}-{q}-{o}-{i},o{o},{date}\n").replace(' ', "");
            }
            if count > 0 {
                project.outcomes.push(o);
                project.counts.push(count);
            }
        }
        project.verify(app, &rows).await;
    }
    app.post("/v1/open-data/rebuild", Some(&app.admin()), &json!({}))
        .await
        .assert_status(200);
    project
}

async fn rows_of(app: &TestApp, table: &str, project: &str) -> Vec<Value> {
    let page = app
        .get(
            &format!("/open-data/v1/{table}?project_id={project}&_size=1000"),
            None,
        )
        .await;
    page.assert_status(200)["rows"].as_array().unwrap().clone()
}

fn minor_of(v: &Value) -> Option<i64> {
    let text = v.as_str()?;
    let (whole, fraction) = text.split_once('.').unwrap();
    Some(whole.parse::<i64>().unwrap() * 100 + fraction.parse::<i64>().unwrap())
}

/// What the open-data API publishes of an attack project, as the reader sees it.
async fn published_over_http(app: &TestApp, project: &str, outcomes: &[usize]) -> Published {
    let metrics = rows_of(app, "outcome_metrics", project).await;
    let metric_of: BTreeMap<String, usize> = metrics
        .iter()
        .map(|m| {
            let code = m["code"].as_str().unwrap();
            (
                m["outcome_metric_id"].as_str().unwrap().to_owned(),
                code[1..].parse().unwrap(),
            )
        })
        .collect();
    let payers = rows_of(app, "project_payers", project).await;
    let payer_index: BTreeMap<String, usize> = payers
        .iter()
        .map(|p| {
            let name = p["organisation_id"].as_str().unwrap().to_owned();
            (name, 0)
        })
        .collect();
    // Payers in the order the project lists them: the lead (payer 0) first.
    let mut order: Vec<String> = payer_index.keys().cloned().collect();
    let lead = payers
        .iter()
        .find(|p| p["payer_role"] == "local_commissioner")
        .unwrap()["organisation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    order.sort_by_key(|id| *id != lead);
    let results = rows_of(app, "results_quarterly", project).await;
    let payments = rows_of(app, "payments_quarterly", project).await;
    let mut quarters: Vec<String> = results
        .iter()
        .map(|r| r["period_start_date"].as_str().unwrap().to_owned())
        .collect();
    quarters.sort();
    quarters.dedup();
    let mut published = Published {
        outcomes: outcomes.to_vec(),
        results: Vec::new(),
        hidden: vec![false; outcomes.len()],
        money: Vec::new(),
        payer_totals: order
            .iter()
            .map(|id| {
                let p = payers
                    .iter()
                    .find(|p| p["organisation_id"] == id.as_str())
                    .unwrap();
                minor_of(&p["total_outcome_payments_amount"])
            })
            .collect(),
        project_total: minor_of(
            &rows_of(app, "projects", project).await[0]["total_outcome_payments_made_amount"],
        ),
    };
    let mut blocks: Vec<(String, usize)> = results
        .iter()
        .map(|r| {
            let quarter = r["period_start_date"].as_str().unwrap().to_owned();
            (quarter, metric_of[r["outcome_metric_id"].as_str().unwrap()])
        })
        .collect();
    blocks.sort();
    assert_eq!(
        blocks.iter().map(|b| b.1).collect::<Vec<_>>(),
        outcomes,
        "a results row for every block"
    );
    for (quarter, o) in &blocks {
        let row = results
            .iter()
            .find(|r| {
                r["period_start_date"] == quarter.as_str()
                    && metric_of[r["outcome_metric_id"].as_str().unwrap()] == *o
            })
            .unwrap();
        let counts = row["outcomes_achieved"]
            .as_i64()
            .zip(row["outcomes_paid"].as_i64());
        published.results.push(counts);
        published.money.push(
            order
                .iter()
                .map(|payer| {
                    let cell = payments.iter().find(|p| {
                        p["period_start_date"] == quarter.as_str()
                            && metric_of[p["outcome_metric_id"].as_str().unwrap()] == *o
                            && p["payer_organisation_id"] == payer.as_str()
                    });
                    match cell.map(|p| minor_of(&p["money_amount"])) {
                        None => Money::NoRow,
                        Some(None) => Money::Withheld,
                        Some(Some(v)) => Money::Shown(v),
                    }
                })
                .collect(),
        );
    }
    published
}

/// Runs one attack: the project through the API, its published tables read back, and the
/// brute-force reader over them. The engine's truth must be what cofund's ledger published
/// where it published it, or the reader would be reasoning about another contract.
async fn attack(app: &TestApp, name: &str, terms: Terms, quarters: &[&[i64]], bound: i64) {
    let project = attack_project(app, name, &terms, quarters).await;
    let truth = engine(&terms, &project.outcomes, &project.counts);
    let published = published_over_http(app, &project.id, &project.outcomes).await;
    assert!(
        published.admits(&truth),
        "{name}: the engine reproduces cofund's ledger"
    );
    assert!(
        published.results.iter().any(Option::is_none),
        "{name}: a small quarter is withheld"
    );
    let exposed = exposed(&terms, &published, &truth, bound);
    assert!(exposed.is_empty(), "{name}: {exposed:?}\n{published:?}");
}

#[tokio::test]
async fn a_payer_cap_that_binds_discloses_no_withheld_quarter() {
    let app = spawn_app().await;
    // A's £10,000 binds in the third quarter; its fourth-quarter cell reads 0.00.
    let terms = attack_terms(&[10_000, 100_000], &[1_000]);
    attack(&app, "Payer cap", terms, &[&[6], &[2], &[20], &[6]], 30).await;
    // `cofund check` audits the same build and finds the stored tables are it.
    let check = app.cofund(&["check"]);
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{said}");
    assert!(
        said.contains("audited the open data of 1 published projects"),
        "{said}"
    );
    assert!(!said.contains("earlier rebuild"), "{said}");
}

#[tokio::test]
async fn two_prices_leave_no_single_whole_number_solution() {
    let app = spawn_app().await;
    let terms = attack_terms(&[5_000, 100_000], &[1_000, 300]);
    attack(
        &app,
        "Two prices",
        terms,
        &[&[6, 0], &[2, 2], &[6, 0], &[5, 0]],
        14,
    )
    .await;
}

#[tokio::test]
async fn a_contract_cap_that_binds_discloses_no_withheld_quarter() {
    let app = spawn_app().await;
    let mut terms = attack_terms(&[100_000, 100_000], &[1_000]);
    terms.contract_cap = Some(1_000_000);
    attack(&app, "Contract cap", terms, &[&[6], &[4], &[6]], 20).await;
}

#[tokio::test]
async fn a_volume_cap_that_binds_discloses_no_withheld_quarter() {
    let app = spawn_app().await;
    let mut terms = attack_terms(&[100_000, 100_000], &[100]);
    terms.volume_caps = vec![Some(20)];
    attack(&app, "Volume cap", terms, &[&[7], &[2], &[16]], 25).await;
}

/// The CSV files of a release, by name.
async fn release_files(app: &TestApp) -> BTreeMap<String, Vec<u8>> {
    let release = app
        .post("/v1/open-data/releases", Some(&app.admin()), &json!({}))
        .await;
    let mut files = BTreeMap::new();
    for file in release.assert_status(201)["files"].as_array().unwrap() {
        let name = file["name"].as_str().unwrap();
        if name.ends_with(".csv") {
            let body = app
                .client
                .get(app.url(file["url"].as_str().unwrap()))
                .send()
                .await
                .unwrap();
            files.insert(name.to_owned(), body.bytes().await.unwrap().to_vec());
        }
    }
    files
}

#[tokio::test]
async fn successive_releases_differ_in_no_published_cell() {
    let app = spawn_app().await;
    let terms = attack_terms(&[1_000_000, 1_000_000], &[1_000]);
    // 12 participants in the first quarter, 4 (withheld) in the second.
    let project = attack_project(&app, "Releases", &terms, &[&[12], &[4]]).await;
    let first = release_files(&app).await;
    // Each frozen block keeps the least and most each payer paid one participant (£500, half
    // of every £1,000 outcome), from which the auditor reads where a cap bound.
    let mut conn = app.pool.get().unwrap();
    let histories = cofund::services::open_data::history::load(&mut conn).unwrap();
    let frozen = &histories[&project.id].frozen;
    let money = frozen
        .iter()
        .flat_map(|q| &q.blocks)
        .flat_map(|b| b.money.values());
    let parts: Vec<Option<Parts>> = money.map(|m| m.parts).collect();
    let each = Parts {
        smallest: 50_000,
        largest: 50_000,
    };
    assert_eq!(parts, vec![Some(each); 4]);
    drop(conn);
    // One more verification in each quarter, after both were published: were cells to follow
    // the ledger, the second would read 5 (and give the 4 away) and the first 13 (isolating
    // one participant's payment).
    project
        .verify(
            &app,
            "Releases-late-0,o0,2021-01-20\nReleases-late-1,o0,2021-04-20\n",
        )
        .await;
    let second = release_files(&app).await;
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &first {
        assert!(
            second[name] == *bytes,
            "{name} differs between the releases"
        );
    }
    let results = rows_of(&app, "results_quarterly", &project.id).await;
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["outcomes_achieved"], 12);
    assert_eq!(results[1]["outcomes_achieved"], Value::Null);

    // A quarter is published only once closed for claims: today's is not, until the clock
    // passes its end and the wait after it.
    let today = app.clock.today().to_string();
    let rows: String = (0..6)
        .map(|i| format!("Releases-now-{i},o0,{today}\n"))
        .collect();
    project.verify(&app, &rows).await;
    app.post("/v1/open-data/rebuild", Some(&app.admin()), &json!({}))
        .await
        .assert_status(200);
    assert_eq!(
        rows_of(&app, "results_quarterly", &project.id).await.len(),
        2
    );
    app.clock.advance_days(200);
    let report = app
        .post("/v1/open-data/rebuild", Some(&app.admin()), &json!({}))
        .await;
    assert_eq!(report.assert_status(200)["quarters_frozen"], 1);
    let results = rows_of(&app, "results_quarterly", &project.id).await;
    assert_eq!(results.len(), 3);
    assert_eq!(results[2]["outcomes_achieved"], 6);
    assert!(rows_of(&app, "adjustments", &project.id).await.is_empty());

    // What the ledger learns of published quarters is published as an adjustment by the first
    // rebuild of a calendar year, once it is k or more outcomes net over the project's
    // published quarters: five more late outcomes in the first quarter make seven with the
    // two, which wait for next year's round (this year's was held by its first rebuild).
    let late: String = (0..5)
        .map(|i| format!("Releases-later-{i},o0,2021-02-0{}\n", i + 1))
        .collect();
    project.verify(&app, &late).await;
    app.post("/v1/open-data/rebuild", Some(&app.admin()), &json!({}))
        .await
        .assert_status(200);
    assert!(rows_of(&app, "adjustments", &project.id).await.is_empty());
    app.clock.advance_days(366);
    app.post("/v1/open-data/rebuild", Some(&app.admin()), &json!({}))
        .await
        .assert_status(200);
    let adjustments = rows_of(&app, "adjustments", &project.id).await;
    assert_eq!(adjustments.len(), 1, "{adjustments:?}");
    let row = &adjustments[0];
    assert_eq!(
        (
            &row["outcomes_achieved_change"],
            &row["outcomes_paid_change"]
        ),
        (&json!(7), &json!(7))
    );
    // Every outcome was paid its price (£1,000, half from each payer): the money is shown.
    assert_eq!(minor_of(&row["money_amount_change"]), Some(700_000));
    assert_eq!(row["year"], json!(app.clock.today().year()));
    assert_eq!(row["date_published"], json!(app.clock.today().to_string()));
    assert_eq!(
        rows_of(&app, "results_quarterly", &project.id).await,
        results
    );
    project
        .verify(&app, "Releases-last-0,o0,2021-03-01\nReleases-last-1,o0,2021-03-02\nReleases-last-2,o0,2021-03-03\nReleases-last-3,o0,2021-03-04\nReleases-last-4,o0,2021-03-05\n")
        .await;
    app.post("/v1/open-data/rebuild", Some(&app.admin()), &json!({}))
        .await
        .assert_status(200);
    assert_eq!(rows_of(&app, "adjustments", &project.id).await, adjustments);
}

#[tokio::test]
async fn deadweight_and_phases_that_are_not_published_disclose_no_withheld_quarter() {
    let app = spawn_app().await;
    // A 60% deadweight: each payer pays £200 an outcome, which any shown quarter tells, and
    // A's £3,000 binds in the third quarter.
    let mut deadweight = attack_terms(&[3_000, 100_000], &[1_000]);
    deadweight.deadweight_percent = 60;
    attack(
        &app,
        "Deadweight",
        deadweight,
        &[&[6], &[2], &[20], &[6]],
        30,
    )
    .await;
    // Shares of 0.1 and 0.9 in a phase over the whole service (the shares column is empty):
    // A pays £100 an outcome up to its £1,400.
    let mut phases = attack_terms(&[1_400, 100_000], &[1_000]);
    phases.weights = vec![1, 9];
    phases.phases = true;
    attack(&app, "Phases", phases, &[&[6], &[2], &[20], &[6]], 30).await;
}
