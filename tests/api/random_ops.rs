//! A seeded random walk over the claims API: submissions (one by one, keyed, retried, in bulk
//! files), verifications (one by one and in bulk), rejections and revocations, valid and
//! invalid, on projects that together cover every payment rule. Every money figure the server
//! answers is checked against a model of the payment rules written here, independently of
//! cofund's own domain code; the run ends with `cofund check` and each payer's running totals.
//!
//! `COFUND_RANDOM_OPS` sets the number of operations (default 10,000; each row of a bulk file
//! and each claim of a bulk verification counts as one), `COFUND_RANDOM_OPS_SEED` the seed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use chrono::{Duration, NaiveDate};
use rand::distributions::WeightedIndex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::helpers::*;
use cofund::api::auth::Role;

const DEFAULT_OPS: usize = 10_000;
const DEFAULT_SEED: u64 = 20_261_123;

// --- money and fractions ----------------------------------------------------------------------

/// Minor units as the API writes them: "1234.56".
fn fmt_minor(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// `{"amount": "12.34", "currency": "GBP"}` (or the bare amount string) as minor units.
fn minor_of(v: &Value) -> Option<i64> {
    let text = match v {
        Value::Object(_) => v["amount"].as_str()?,
        Value::String(s) => s.as_str(),
        _ => return None,
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    assert!(frac.len() <= 2, "more than two decimals in {text}");
    let frac = format!("{frac:0<2}");
    let minor = whole.parse::<i64>().ok()? * 100 + frac.parse::<i64>().ok()?;
    Some(if negative { -minor } else { minor })
}

/// A plain decimal such as "0.333334" as (digits, decimal places).
fn decimal(text: &str) -> (i128, u32) {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits: i128 = format!("{whole}{frac}").parse().expect("a plain decimal");
    (digits, frac.len() as u32)
}

/// Splits `total` minor units by `weights` (exact: raw_i = total × w_i / Σw): each part is
/// floored and the leftover units go one each to the largest fractional parts, ties to the
/// one listed first.
fn largest_remainder(total: i64, weights: &[i128]) -> Vec<i64> {
    let sum: i128 = weights.iter().sum();
    assert!(sum > 0 && total >= 0, "split of {total} by {weights:?}");
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for &w in weights {
        let raw = i128::from(total) * w;
        parts.push(i64::try_from(raw / sum).unwrap());
        remainders.push(raw % sum);
    }
    let leftover = total - parts.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| remainders[b].cmp(&remainders[a]).then(a.cmp(&b)));
    for &i in order.iter().take(usize::try_from(leftover).unwrap()) {
        parts[i] += 1;
    }
    parts
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Policy {
    Shortfall,
    Reallocate,
}

/// The model's split of a payable amount: (allocated, shortfall) per payer.
fn split_model(
    payable: i64,
    weights: &[i128],
    headroom: &[i64],
    policy: Policy,
) -> Vec<(i64, i64)> {
    let parts = largest_remainder(payable, weights);
    let mut allocated: Vec<i64> = parts
        .iter()
        .zip(headroom)
        .map(|(&part, &room)| part.min(room.max(0)))
        .collect();
    let excess: Vec<i64> = parts.iter().zip(&allocated).map(|(p, a)| p - a).collect();
    match policy {
        Policy::Shortfall => allocated.into_iter().zip(excess).collect(),
        Policy::Reallocate => {
            let mut pool: i64 = excess.iter().sum();
            while pool > 0 {
                let eligible: Vec<i128> = (0..weights.len())
                    .map(|i| {
                        if weights[i] > 0 && headroom[i] - allocated[i] > 0 {
                            weights[i]
                        } else {
                            0
                        }
                    })
                    .collect();
                if eligible.iter().all(|w| *w == 0) {
                    break;
                }
                let more = largest_remainder(pool, &eligible);
                let mut left = 0;
                for (i, extra) in more.into_iter().enumerate() {
                    let take = extra.min(headroom[i] - allocated[i]);
                    allocated[i] += take;
                    left += extra - take;
                }
                pool = left;
            }
            let shortfall = if pool > 0 {
                let by_excess: Vec<i128> = excess.iter().map(|e| i128::from(*e)).collect();
                largest_remainder(pool, &by_excess)
            } else {
                vec![0; weights.len()]
            };
            allocated.into_iter().zip(shortfall).collect()
        }
    }
}

// --- the projects -----------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Unit {
    Achievement,
    Week,
    Day,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Achievement => "achievement",
            Unit::Week => "week",
            Unit::Day => "day",
        }
    }

    fn days(self) -> i64 {
        match self {
            Unit::Achievement => 0,
            Unit::Week => 7,
            Unit::Day => 1,
        }
    }
}

#[derive(Clone, Debug)]
struct OutcomeSpec {
    code: &'static str,
    price: i64,
    unit: Unit,
    max_units: Option<i64>,
    max_claims: Option<i64>,
    volume_cap: Option<i64>,
    deadweight: Option<&'static str>,
    requires: Option<(&'static str, i64)>,
    /// Largest quantity the generator asks for (time units).
    max_quantity: i64,
}

fn achievement(code: &'static str, price: i64) -> OutcomeSpec {
    OutcomeSpec {
        code,
        price,
        unit: Unit::Achievement,
        max_units: None,
        max_claims: None,
        volume_cap: None,
        deadweight: None,
        requires: None,
        max_quantity: 1,
    }
}

fn time_unit(code: &'static str, price: i64, unit: Unit, max_quantity: i64) -> OutcomeSpec {
    OutcomeSpec {
        unit,
        max_quantity,
        ..achievement(code, price)
    }
}

#[derive(Clone, Debug)]
enum Shares {
    ProRata,
    Fixed(Vec<&'static str>),
}

#[derive(Clone, Debug)]
struct ProjectSpec {
    tag: &'static str,
    start: NaiveDate,
    end: NaiveDate,
    policy: Policy,
    participant_cap: Option<i64>,
    contract_cap: Option<i64>,
    payer_max: Vec<i64>,
    shares: Shares,
    outcomes: Vec<OutcomeSpec>,
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn project_specs() -> Vec<ProjectSpec> {
    vec![
        // Pro rata by odd maximums, shortfall, a contract cap that binds late, a ladder and a
        // week outcome; a repeatable achievement.
        ProjectSpec {
            tag: "A",
            start: date("2019-01-01"),
            end: date("2023-12-31"),
            policy: Policy::Shortfall,
            participant_cap: None,
            contract_cap: Some(20_000_000),
            payer_max: vec![2_400_001, 3_925_926, 5_999_999],
            shares: Shares::ProRata,
            outcomes: vec![
                achievement("entry", 100_001),
                OutcomeSpec {
                    requires: Some(("entry", 91)),
                    ..achievement("sustain", 33_333)
                },
                OutcomeSpec {
                    max_units: Some(26),
                    ..time_unit("week_support", 6_543, Unit::Week, 12)
                },
                OutcomeSpec {
                    max_claims: Some(3),
                    ..achievement("wellbeing", 7_777)
                },
            ],
        },
        // Fixed decimal thirds, reallocation, a per-participant cap, deadweight and volume
        // caps (one on achievements, one on days, which pays part of a claim).
        ProjectSpec {
            tag: "B",
            start: date("2020-03-01"),
            end: date("2024-06-30"),
            policy: Policy::Reallocate,
            participant_cap: Some(180_000),
            contract_cap: None,
            payer_max: vec![300_000, 2_500_001, 12_000_000],
            shares: Shares::Fixed(vec!["0.333334", "0.333333", "0.333333"]),
            outcomes: vec![
                OutcomeSpec {
                    deadweight: Some("0.33"),
                    ..achievement("accommodation", 100_001)
                },
                OutcomeSpec {
                    volume_cap: Some(250),
                    ..achievement("tenancy_6m", 33_333)
                },
                OutcomeSpec {
                    max_units: Some(120),
                    volume_cap: Some(8_000),
                    deadweight: Some("0.125"),
                    ..time_unit("day_out", 1_234, Unit::Day, 60)
                },
            ],
        },
        // Four payers pro rata, two of them with tiny maximums (shortfall at once), a
        // participant cap and a contract cap, a week outcome with deadweight, a ladder.
        ProjectSpec {
            tag: "C",
            start: date("2018-06-01"),
            end: date("2022-05-31"),
            policy: Policy::Shortfall,
            participant_cap: Some(600_000),
            contract_cap: Some(32_000_000),
            payer_max: vec![100_000, 200_000, 765_432, 12_345_678],
            shares: Shares::ProRata,
            outcomes: vec![
                OutcomeSpec {
                    max_units: Some(52),
                    deadweight: Some("0.2"),
                    ..time_unit("wk_out_of_care", 6_543, Unit::Week, 20)
                },
                achievement("job13", 260_000),
                OutcomeSpec {
                    requires: Some(("job13", 91)),
                    ..achievement("job26", 100_001)
                },
                OutcomeSpec {
                    max_units: Some(365),
                    volume_cap: Some(5_000),
                    ..time_unit("day_care", 333, Unit::Day, 90)
                },
            ],
        },
        // Fixed shares with a payer of share 0, reallocation, tiny maximums: most money is
        // reallocated or short, and pennies are split.
        ProjectSpec {
            tag: "D",
            start: date("2021-01-01"),
            end: date("2024-12-31"),
            policy: Policy::Reallocate,
            participant_cap: None,
            contract_cap: None,
            payer_max: vec![100, 100_000, 5_000],
            shares: Shares::Fixed(vec!["0.6", "0.4", "0"]),
            outcomes: vec![
                achievement("x", 7),
                achievement("y", 33_333),
                OutcomeSpec {
                    max_units: Some(2_000),
                    ..time_unit("d", 1, Unit::Day, 400)
                },
            ],
        },
    ]
}

// --- the model --------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Submitted,
    Verified,
    Rejected,
    Revoked,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Submitted => "submitted",
            Status::Verified => "verified",
            Status::Rejected => "rejected",
            Status::Revoked => "revoked",
        }
    }
}

#[derive(Clone, Debug)]
struct Decision {
    /// The operation that verified the claim.
    op: usize,
    gross: i64,
    payable: i64,
    paid_units: i64,
    adjustments: Vec<(&'static str, i64)>,
    /// (allocated, shortfall) by payer position.
    parts: Vec<(i64, i64)>,
    /// Some payer's share was more than its headroom.
    payer_capped: bool,
}

#[derive(Clone, Debug)]
struct ModelClaim {
    id: String,
    project: usize,
    participant: usize,
    outcome: usize,
    on: NaiveDate,
    start: NaiveDate,
    quantity: i64,
    status: Status,
    /// Submission request number: claims of one bulk file share it.
    seq: u64,
    decision: Option<Decision>,
}

/// A claim the rules see as earlier for a participant.
#[derive(Clone, Copy, Debug)]
struct Prior {
    outcome: usize,
    on: NaiveDate,
    start: NaiveDate,
    quantity: i64,
    verified: bool,
}

#[derive(Clone, Debug)]
struct Candidate {
    participant: usize,
    outcome: usize,
    on: NaiveDate,
    quantity: i64,
    /// A CSV row whose date cannot be read.
    malformed: bool,
}

struct ModelProject {
    spec: ProjectSpec,
    id: String,
    payer_orgs: Vec<String>,
    weights: Vec<i128>,
    /// Deadweight by outcome as (numerator, denominator).
    deadweights: Vec<Option<(i128, i128)>>,
    allocated: Vec<i64>,
    shortfall: Vec<i64>,
    contract_used: i64,
    units_used: Vec<i64>,
    participant_paid: HashMap<usize, i64>,
    participants: Vec<String>,
    claims_of: HashMap<usize, Vec<usize>>,
    claims: Vec<usize>,
}

impl ModelProject {
    fn new(spec: ProjectSpec, id: String, payer_orgs: Vec<String>) -> ModelProject {
        let weights = match &spec.shares {
            Shares::ProRata => spec.payer_max.iter().map(|m| i128::from(*m)).collect(),
            Shares::Fixed(shares) => {
                let parsed: Vec<(i128, u32)> = shares.iter().map(|s| decimal(s)).collect();
                let scale = parsed.iter().map(|p| p.1).max().unwrap();
                let weights: Vec<i128> = parsed
                    .iter()
                    .map(|(d, s)| d * 10i128.pow(scale - s))
                    .collect();
                assert_eq!(weights.iter().sum::<i128>(), 10i128.pow(scale));
                weights
            }
        };
        let deadweights = spec
            .outcomes
            .iter()
            .map(|o| {
                o.deadweight.map(|d| {
                    let (n, s) = decimal(d);
                    (n, 10i128.pow(s))
                })
            })
            .collect();
        let payers = spec.payer_max.len();
        let outcomes = spec.outcomes.len();
        ModelProject {
            id,
            payer_orgs,
            weights,
            deadweights,
            allocated: vec![0; payers],
            shortfall: vec![0; payers],
            contract_used: 0,
            units_used: vec![0; outcomes],
            participant_paid: HashMap::new(),
            participants: Vec::new(),
            claims_of: HashMap::new(),
            claims: Vec::new(),
            spec,
        }
    }

    fn outcome_index(&self, code: &str) -> usize {
        self.spec
            .outcomes
            .iter()
            .position(|o| o.code == code)
            .unwrap()
    }

    fn period_start(&self, outcome: usize, on: NaiveDate, quantity: i64) -> NaiveDate {
        let days = self.spec.outcomes[outcome].unit.days();
        if days == 0 {
            on
        } else {
            on - Duration::days(quantity * days - 1)
        }
    }
}

struct Model {
    projects: Vec<ModelProject>,
    claims: Vec<ModelClaim>,
    by_id: HashMap<String, usize>,
    seq: u64,
}

impl Model {
    /// The participant's claims that still count: submitted or verified.
    fn priors(&self, project: usize, participant: usize) -> Vec<Prior> {
        self.projects[project]
            .claims_of
            .get(&participant)
            .map(|ids| {
                ids.iter()
                    .map(|&i| &self.claims[i])
                    .filter(|c| matches!(c.status, Status::Submitted | Status::Verified))
                    .map(|c| Prior {
                        outcome: c.outcome,
                        on: c.on,
                        start: c.start,
                        quantity: c.quantity,
                        verified: c.status == Status::Verified,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The rules of submission: the reason codes a claim is refused with, or its period
    /// start. `pending`: rows accepted earlier in the same file, as (participant, prior).
    fn check_submission(
        &self,
        project: usize,
        c: &Candidate,
        pending: &[(usize, Prior)],
    ) -> Result<NaiveDate, Vec<&'static str>> {
        if c.malformed {
            return Err(vec!["malformed_row"]);
        }
        let p = &self.projects[project];
        let outcome = &p.spec.outcomes[c.outcome];
        let mut priors = self.priors(project, c.participant);
        priors.extend(
            pending
                .iter()
                .filter(|(who, _)| *who == c.participant)
                .map(|(_, prior)| *prior),
        );
        let start = p.period_start(c.outcome, c.on, c.quantity);
        assert!(
            start >= p.spec.start && c.on <= p.spec.end,
            "the generator keeps claims inside the service period"
        );
        let same: Vec<&Prior> = priors.iter().filter(|x| x.outcome == c.outcome).collect();
        let mut reasons = Vec::new();
        if outcome.unit == Unit::Achievement {
            if same.len() as i64 >= outcome.max_claims.unwrap_or(1) {
                reasons.push("duplicate");
            }
        } else {
            if same.iter().any(|x| x.start <= c.on && start <= x.on) {
                reasons.push("overlapping_period");
            }
            if let Some(max) = outcome.max_units {
                let used: i64 = same.iter().map(|x| x.quantity).sum();
                if used + c.quantity > max {
                    reasons.push("max_units");
                }
            }
        }
        if let Err(reason) = self.prerequisite(project, c.outcome, c.on, &priors, false) {
            reasons.push(reason);
        }
        if reasons.is_empty() {
            Ok(start)
        } else {
            Err(reasons)
        }
    }

    /// A ladder's prerequisite: an earlier rung (verified, when `verified_only`) achieved at
    /// least `min_days_after` days before `on`.
    fn prerequisite(
        &self,
        project: usize,
        outcome: usize,
        on: NaiveDate,
        priors: &[Prior],
        verified_only: bool,
    ) -> Result<(), &'static str> {
        let p = &self.projects[project];
        let Some((code, days)) = p.spec.outcomes[outcome].requires else {
            return Ok(());
        };
        let required = p.outcome_index(code);
        let candidates: Vec<&Prior> = priors
            .iter()
            .filter(|x| x.outcome == required && (x.verified || !verified_only))
            .collect();
        if candidates.is_empty() {
            Err("prerequisite_missing")
        } else if candidates.iter().any(|x| x.on + Duration::days(days) <= on) {
            Ok(())
        } else {
            Err("prerequisite_too_recent")
        }
    }

    fn store(&mut self, project: usize, id: &str, c: &Candidate, start: NaiveDate, seq: u64) {
        let index = self.claims.len();
        self.claims.push(ModelClaim {
            id: id.to_owned(),
            project,
            participant: c.participant,
            outcome: c.outcome,
            on: c.on,
            start,
            quantity: c.quantity,
            status: Status::Submitted,
            seq,
            decision: None,
        });
        self.by_id.insert(id.to_owned(), index);
        let p = &mut self.projects[project];
        p.claims.push(index);
        p.claims_of.entry(c.participant).or_default().push(index);
    }

    /// Verifies `claims` (indices) of one project as one request does: the submitted ones in
    /// achievement-date order, then submission order, then id. Returns, by claim, the payable
    /// amount or the reason for refusal.
    fn verify(
        &mut self,
        op: usize,
        project: usize,
        claims: &[usize],
    ) -> HashMap<usize, Result<i64, &'static str>> {
        let mut results = HashMap::new();
        let mut todo = Vec::new();
        for &i in claims {
            if self.claims[i].status != Status::Submitted {
                results.insert(i, Err("not_submitted"));
            } else if !todo.contains(&i) {
                todo.push(i);
            }
        }
        todo.sort_by(|&a, &b| {
            let (x, y) = (&self.claims[a], &self.claims[b]);
            x.on.cmp(&y.on)
                .then(x.seq.cmp(&y.seq))
                .then(x.id.cmp(&y.id))
        });
        for i in todo {
            let claim = self.claims[i].clone();
            let priors = self.priors(project, claim.participant);
            if let Err(reason) = self.prerequisite(project, claim.outcome, claim.on, &priors, true)
            {
                results.insert(i, Err(reason));
                continue;
            }
            let decision = self.price_and_split(op, &claim);
            let p = &mut self.projects[project];
            for (payer, (allocated, shortfall)) in decision.parts.iter().enumerate() {
                p.allocated[payer] += allocated;
                p.shortfall[payer] += shortfall;
            }
            p.contract_used += decision.payable;
            p.units_used[claim.outcome] += decision.paid_units;
            *p.participant_paid.entry(claim.participant).or_default() += decision.payable;
            results.insert(i, Ok(decision.payable));
            let c = &mut self.claims[i];
            c.status = Status::Verified;
            c.decision = Some(decision);
        }
        results
    }

    /// Pricing in the rule book's order (deadweight, volume cap, participant cap, contract
    /// cap), then the split between the payers under their caps.
    fn price_and_split(&self, op: usize, claim: &ModelClaim) -> Decision {
        let p = &self.projects[claim.project];
        let outcome = &p.spec.outcomes[claim.outcome];
        let gross = outcome.price * claim.quantity;
        let mut amount = gross;
        let mut adjustments = Vec::new();
        if let Some((n, d)) = p.deadweights[claim.outcome].filter(|(n, _)| *n != 0) {
            let kept = i64::try_from(i128::from(gross) * (d - n) / d).unwrap();
            adjustments.push(("deadweight", gross - kept));
            amount = kept;
        }
        let mut paid_units = claim.quantity;
        if let Some(cap) = outcome.volume_cap {
            let left = (cap - p.units_used[claim.outcome]).max(0);
            if claim.quantity > left {
                paid_units = left;
                let kept = amount * left / claim.quantity;
                adjustments.push(("volume_cap", amount - kept));
                amount = kept;
            }
        }
        if let Some(cap) = p.spec.participant_cap {
            let already = p
                .participant_paid
                .get(&claim.participant)
                .copied()
                .unwrap_or(0);
            let left = (cap - already).max(0);
            if amount > left {
                adjustments.push(("participant_cap", amount - left));
                amount = left;
            }
        }
        if let Some(cap) = p.spec.contract_cap {
            let left = (cap - p.contract_used).max(0);
            if amount > left {
                adjustments.push(("contract_cap", amount - left));
                amount = left;
            }
        }
        let headroom: Vec<i64> = p
            .spec
            .payer_max
            .iter()
            .zip(&p.allocated)
            .map(|(max, used)| max - used)
            .collect();
        let (parts, payer_capped) = if amount > 0 {
            let uncapped = largest_remainder(amount, &p.weights);
            (
                split_model(amount, &p.weights, &headroom, p.spec.policy),
                uncapped
                    .iter()
                    .zip(&headroom)
                    .any(|(part, room)| part > room),
            )
        } else {
            (vec![(0, 0); p.weights.len()], false)
        };
        Decision {
            op,
            gross,
            payable: amount,
            paid_units,
            adjustments,
            parts,
            payer_capped,
        }
    }

    /// Revocation: every allocation reversed, every cap's usage given back.
    fn revoke(&mut self, i: usize) -> bool {
        if self.claims[i].status != Status::Verified {
            return false;
        }
        let claim = self.claims[i].clone();
        let decision = claim.decision.as_ref().unwrap();
        let p = &mut self.projects[claim.project];
        for (payer, (allocated, shortfall)) in decision.parts.iter().enumerate() {
            p.allocated[payer] -= allocated;
            p.shortfall[payer] -= shortfall;
        }
        p.contract_used -= decision.payable;
        p.units_used[claim.outcome] -= decision.paid_units;
        *p.participant_paid.entry(claim.participant).or_default() -= decision.payable;
        self.claims[i].status = Status::Revoked;
        true
    }
}

// --- comparing the server with the model ------------------------------------------------------

/// Where a failure happened, for every assertion message.
#[derive(Clone, Copy)]
struct At<'a> {
    seed: u64,
    op: usize,
    what: &'a str,
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "op {} (seed {}, rerun with COFUND_RANDOM_OPS_SEED={}): {}",
            self.op, self.seed, self.seed, self.what
        )
    }
}

fn reason_codes(reasons: &Value) -> Vec<String> {
    let mut codes: Vec<String> = reasons
        .as_array()
        .map(|r| {
            r.iter()
                .map(|x| x["code"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default();
    codes.sort();
    codes
}

fn sorted(reasons: &[&str]) -> Vec<String> {
    let mut codes: Vec<String> = reasons.iter().map(|s| (*s).to_owned()).collect();
    codes.sort();
    codes
}

/// Checks a claim as the server shows it (to an admin or the validator) against the model.
/// `op`: the operation under way (the claim's own verification op is in the message too).
fn compare_claim(seed: u64, op: usize, model: &Model, view: &Value, claim: &ModelClaim) {
    let what = match &claim.decision {
        Some(d) => format!("claim {} verified at op {}: {claim:?}", claim.id, d.op),
        None => format!("claim {}: {claim:?}", claim.id),
    };
    let at = At {
        seed,
        op,
        what: &what,
    };
    assert_eq!(view["id"], claim.id.as_str(), "{at}");
    assert_eq!(
        view["status"],
        claim.status.as_str(),
        "{at}: status; {view}"
    );
    assert_eq!(view["quantity"], claim.quantity, "{at}: quantity");
    assert_eq!(
        view["period_start"],
        claim.start.to_string(),
        "{at}: period_start"
    );
    let lines = view["allocations"].as_array().expect("allocations");
    let Some(decision) = &claim.decision else {
        assert!(
            view["payable"].is_null(),
            "{at}: undecided, yet payable; {view}"
        );
        assert!(lines.is_empty(), "{at}: undecided, yet allocations; {view}");
        return;
    };
    assert_eq!(
        minor_of(&view["gross"]),
        Some(decision.gross),
        "{at}: gross; {view}"
    );
    assert_eq!(
        minor_of(&view["payable"]),
        Some(decision.payable),
        "{at}: payable; {view}"
    );
    let adjustments = view["adjustments"].as_array().expect("adjustments");
    let total: i64 = adjustments
        .iter()
        .map(|a| minor_of(&a["amount"]).unwrap())
        .sum();
    assert_eq!(
        total,
        decision.gross - decision.payable,
        "{at}: adjustments total (gross - payable); {view}"
    );
    let server: Vec<(String, i64)> = adjustments
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_owned(),
                minor_of(&a["amount"]).unwrap(),
            )
        })
        .filter(|(_, amount)| *amount != 0)
        .collect();
    let expected: Vec<(String, i64)> = decision
        .adjustments
        .iter()
        .filter(|(_, amount)| *amount != 0)
        .map(|(kind, amount)| ((*kind).to_owned(), *amount))
        .collect();
    assert_eq!(server, expected, "{at}: adjustments; {view}");

    let project = &model.projects[claim.project];
    let mut posted: HashMap<&str, (i64, i64)> = HashMap::new();
    let mut reversed: HashMap<&str, (i64, i64)> = HashMap::new();
    for line in lines {
        let org = line["payer_organisation_id"].as_str().unwrap();
        assert!(
            project.payer_orgs.iter().any(|p| p == org),
            "{at}: allocation to {org}, not a payer"
        );
        let target = if line["reverses"].is_null() {
            &mut posted
        } else {
            &mut reversed
        };
        let entry = target.entry(org).or_default();
        entry.0 += minor_of(&line["amount"]).unwrap();
        entry.1 += minor_of(&line["shortfall"]).unwrap();
    }
    if decision.payable == 0 {
        assert!(
            lines.is_empty(),
            "{at}: a verification that prices to 0 posts no allocation lines; {view}"
        );
    }
    for (payer, org) in project.payer_orgs.iter().enumerate() {
        let expected = decision.parts[payer];
        let got = posted.get(org.as_str()).copied().unwrap_or_default();
        assert_eq!(
            got, expected,
            "{at}: payer {payer} ({org}) (amount, shortfall); model parts {:?}; {view}",
            decision.parts
        );
        let back = reversed.get(org.as_str()).copied().unwrap_or_default();
        let expected_back = if claim.status == Status::Revoked {
            (-expected.0, -expected.1)
        } else {
            (0, 0)
        };
        assert_eq!(
            back, expected_back,
            "{at}: payer {payer} ({org}) reversal; {view}"
        );
    }
}

/// Asserts the status (a problem document for errors) with the operation's context.
#[track_caller]
fn expect<'r>(reply: &'r Reply, status: u16, at: &At) -> &'r Value {
    assert_eq!(reply.status, status, "{at}: status; body: {}", reply.body);
    if status >= 400 {
        reply.assert_problem(status);
    }
    &reply.body
}

// --- the run ----------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
enum Kind {
    SubmitOne,
    SubmitBulk,
    VerifyOne,
    VerifyMany,
    Reject,
    Revoke,
    Retry,
    VerifyDecided,
    RevokeUndecided,
    Duplicate,
    KeyReuse,
}

const KINDS: [(Kind, u32); 11] = [
    (Kind::SubmitOne, 30),
    (Kind::SubmitBulk, 2),
    (Kind::VerifyOne, 30),
    (Kind::VerifyMany, 2),
    (Kind::Reject, 5),
    (Kind::Revoke, 6),
    (Kind::Retry, 4),
    (Kind::VerifyDecided, 3),
    (Kind::RevokeUndecided, 2),
    (Kind::Duplicate, 3),
    (Kind::KeyReuse, 1),
];

/// A keyed submission that was stored, to be retried.
struct Keyed {
    project: usize,
    key: String,
    body: Value,
    response: Value,
}

struct Run<'a> {
    app: &'a TestApp,
    rng: StdRng,
    seed: u64,
    model: Model,
    provider_token: String,
    validator_token: String,
    admin: String,
    keyed: Vec<Keyed>,
    /// Operations done so far (rows and claims of bulk requests counted one by one).
    ops: usize,
    counts: BTreeMap<Kind, usize>,
    /// Status codes answered, by kind.
    statuses: BTreeMap<(Kind, u16), usize>,
    requests: usize,
    /// Refusals seen, by reason code.
    refusals: BTreeMap<&'static str, usize>,
}

impl Run<'_> {
    fn at<'w>(&self, what: &'w str) -> At<'w> {
        At {
            seed: self.seed,
            op: self.ops,
            what,
        }
    }

    fn count(&mut self, kind: Kind, ops: usize, status: u16) {
        *self.counts.entry(kind).or_default() += ops;
        *self.statuses.entry((kind, status)).or_default() += 1;
        self.ops += ops;
        self.requests += 1;
    }

    fn pick_project(&mut self) -> usize {
        self.rng.gen_range(0..self.model.projects.len())
    }

    fn random_date(&mut self, from: NaiveDate, to: NaiveDate) -> NaiveDate {
        let span = (to - from).num_days();
        assert!(span >= 0);
        from + Duration::days(self.rng.gen_range(0..=span))
    }

    fn participant(&mut self, project: usize) -> usize {
        let p = &mut self.model.projects[project];
        if p.participants.is_empty() || self.rng.gen_bool(0.05) {
            let n = p.participants.len();
            p.participants.push(format!("{}-{:04}", p.spec.tag, n + 1));
            n
        } else {
            self.rng.gen_range(0..p.participants.len())
        }
    }

    /// A random claim; the participant pool is small so that duplicates, overlaps and caps
    /// happen.
    fn random_candidate(&mut self, project: usize) -> Candidate {
        let participant = self.participant(project);
        let outcome = self
            .rng
            .gen_range(0..self.model.projects[project].spec.outcomes.len());
        let spec = &self.model.projects[project].spec;
        let (start, end) = (spec.start, spec.end);
        let o = spec.outcomes[outcome].clone();
        let fits = ((end - start).num_days() + 1) / o.unit.days().max(1);
        let quantity = if o.unit == Unit::Achievement {
            1
        } else if self.rng.gen_bool(0.05) {
            // Now and then a long claim, to meet the per-participant maximum.
            self.rng.gen_range(1..=(o.max_quantity * 4).min(fits))
        } else {
            self.rng.gen_range(1..=o.max_quantity.min(fits))
        };
        let span = quantity * o.unit.days();
        let earliest = if span == 0 {
            start
        } else {
            start + Duration::days(span - 1)
        };
        let mut on = self.random_date(earliest, end);
        if let Some((code, days)) = o.requires {
            let required = self.model.projects[project].outcome_index(code);
            let rungs: Vec<NaiveDate> = self
                .model
                .priors(project, participant)
                .iter()
                .filter(|x| x.outcome == required)
                .map(|x| x.on)
                .collect();
            if let Some(first) = rungs.iter().min() {
                if self.rng.gen_bool(0.9) {
                    let offset = days + self.rng.gen_range(-20..=200);
                    on = (*first + Duration::days(offset)).clamp(start, end);
                }
            }
        }
        Candidate {
            participant,
            outcome,
            on,
            quantity,
            malformed: false,
        }
    }

    /// Mostly a claim the rules accept; sometimes whatever comes (and is then refused).
    fn candidate(&mut self, project: usize, pending: &[(usize, Prior)]) -> Candidate {
        let mut c = self.random_candidate(project);
        if self.rng.gen_bool(0.15) {
            return c;
        }
        for _ in 0..30 {
            if self.model.check_submission(project, &c, pending).is_ok() {
                break;
            }
            c = self.random_candidate(project);
        }
        c
    }

    fn claim_body(&self, project: usize, c: &Candidate) -> Value {
        let p = &self.model.projects[project];
        let o = &p.spec.outcomes[c.outcome];
        let mut body = json!({
            "participant_ref": p.participants[c.participant],
            "outcome_code": o.code,
            "achieved_on": c.on.to_string(),
        });
        if o.unit != Unit::Achievement {
            body["quantity"] = json!(c.quantity);
        }
        body
    }

    fn next_seq(&mut self) -> u64 {
        self.model.seq += 1;
        self.model.seq
    }

    async fn submit_one(&mut self, project: usize, c: Candidate, keyed: bool, kind: Kind) {
        let body = self.claim_body(project, &c);
        let key = format!("key-{}", self.ops);
        let headers: Vec<(&str, &str)> = if keyed {
            vec![("Idempotency-Key", key.as_str())]
        } else {
            vec![]
        };
        let path = format!("/v1/projects/{}/claims", self.model.projects[project].id);
        let reply = self
            .app
            .post_with(&path, Some(&self.provider_token), &body, &headers)
            .await;
        let seq = self.next_seq();
        let expected = self.model.check_submission(project, &c, &[]);
        let what = format!(
            "submit {body} to project {}",
            self.model.projects[project].spec.tag
        );
        let at = self.at(&what);
        match expected {
            Ok(start) => {
                let created = expect(&reply, 201, &at);
                let id = created["id"].as_str().expect("claim id").to_owned();
                assert_eq!(created["status"], "submitted", "{at}");
                assert_eq!(created["period_start"], start.to_string(), "{at}");
                self.model.store(project, &id, &c, start, seq);
                if keyed {
                    self.keyed.push(Keyed {
                        project,
                        key,
                        body,
                        response: created.clone(),
                    });
                }
            }
            Err(reasons) => {
                for reason in &reasons {
                    *self.refusals.entry(reason).or_default() += 1;
                }
                let problem = expect(&reply, 422, &at);
                assert_eq!(
                    reason_codes(&problem["reasons"]),
                    sorted(&reasons),
                    "{at}: reasons; {problem}"
                );
            }
        }
        self.count(kind, 1, reply.status);
    }

    async fn submit_bulk(&mut self, project: usize) {
        let rows = self.rng.gen_range(5..=30);
        let accept_valid = self.rng.gen_bool(0.5);
        let mut candidates = Vec::new();
        let mut pending: Vec<(usize, Prior)> = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..rows {
            let mut c = self.candidate(project, &pending);
            // All-or-nothing files are mostly clean, or they would never be stored.
            if !accept_valid && self.model.check_submission(project, &c, &pending).is_err() {
                if self.rng.gen_bool(0.95) {
                    continue;
                }
            } else if self.rng.gen_bool(0.01) {
                c.malformed = true;
            }
            let result = self.model.check_submission(project, &c, &pending);
            if let Ok(start) = result {
                pending.push((
                    c.participant,
                    Prior {
                        outcome: c.outcome,
                        on: c.on,
                        start,
                        quantity: c.quantity,
                        verified: false,
                    },
                ));
            }
            expected.push(result);
            candidates.push(c);
        }
        if candidates.is_empty() {
            return;
        }
        let p = &self.model.projects[project];
        let mut file = String::from(
            "participant_ref,outcome_code,achieved_on,quantity,evidence_ref,home_area,age_at_start,referred_on\n",
        );
        for c in &candidates {
            let o = &p.spec.outcomes[c.outcome];
            let quantity = if o.unit == Unit::Achievement {
                String::new()
            } else {
                c.quantity.to_string()
            };
            let on = if c.malformed {
                "not-a-date".to_owned()
            } else {
                c.on.to_string()
            };
            file.push_str(&format!(
                "{},{},{on},{quantity},,,,\n",
                p.participants[c.participant], o.code
            ));
        }
        let query = if accept_valid {
            "?mode=accept_valid"
        } else {
            ""
        };
        let request = self
            .app
            .client
            .post(
                self.app
                    .url(&format!("/v1/projects/{}/claims/bulk{query}", p.id)),
            )
            .bearer_auth(&self.provider_token)
            .header("content-type", "text/csv")
            .body(file.clone());
        let reply = Reply::of(request).await;
        let seq = self.next_seq();
        let any_rejected = expected.iter().any(Result::is_err);
        let stored = accept_valid || !any_rejected;
        let what = format!(
            "bulk file to project {} ({query}):\n{file}",
            self.model.projects[project].spec.tag
        );
        let at = self.at(&what);
        let report = expect(&reply, if stored { 201 } else { 422 }, &at).clone();
        let results = report["results"].as_array().expect("results").clone();
        assert_eq!(results.len(), candidates.len(), "{at}: {report}");
        let accepted = expected.iter().filter(|r| r.is_ok()).count();
        assert_eq!(report["accepted"], accepted, "{at}: {report}");
        assert_eq!(
            report["stored"],
            if stored { accepted } else { 0 },
            "{at}: {report}"
        );
        for (row, ((c, want), got)) in candidates.iter().zip(&expected).zip(&results).enumerate() {
            match want {
                Ok(start) => {
                    assert_eq!(got["status"], "accepted", "{at}: row {}; {got}", row + 1);
                    if stored {
                        let id = got["claim_id"].as_str().expect("claim id").to_owned();
                        self.model.store(project, &id, c, *start, seq);
                    } else {
                        assert!(got["claim_id"].is_null(), "{at}: row {}", row + 1);
                    }
                }
                Err(reasons) => {
                    for reason in reasons {
                        *self.refusals.entry(reason).or_default() += 1;
                    }
                    assert_eq!(got["status"], "rejected", "{at}: row {}; {got}", row + 1);
                    assert_eq!(
                        reason_codes(&got["reasons"]),
                        sorted(reasons),
                        "{at}: row {} reasons; {got}",
                        row + 1
                    );
                }
            }
        }
        self.count(Kind::SubmitBulk, candidates.len(), reply.status);
    }

    fn claims_where(&self, project: usize, f: impl Fn(&ModelClaim) -> bool) -> Vec<usize> {
        self.model.projects[project]
            .claims
            .iter()
            .copied()
            .filter(|&i| f(&self.model.claims[i]))
            .collect()
    }

    fn choose(&mut self, from: &[usize]) -> Option<usize> {
        (!from.is_empty()).then(|| from[self.rng.gen_range(0..from.len())])
    }

    async fn verify_one(&mut self, i: usize, kind: Kind) {
        let id = self.model.claims[i].id.clone();
        let project = self.model.claims[i].project;
        let reply = self
            .app
            .post(
                &format!("/v1/claims/{id}/verify"),
                Some(&self.validator_token),
                &json!({}),
            )
            .await;
        let op = self.ops;
        let result = self.model.verify(op, project, &[i]).remove(&i).unwrap();
        let what = format!("verify {id}");
        let at = self.at(&what);
        match result {
            Ok(_) => {
                let view = expect(&reply, 200, &at);
                compare_claim(
                    self.seed,
                    self.ops,
                    &self.model,
                    view,
                    &self.model.claims[i],
                );
            }
            Err(reason) => {
                *self.refusals.entry(reason).or_default() += 1;
                let what = format!("verify {id}, refused as {reason}");
                expect(&reply, 409, &self.at(&what));
            }
        }
        self.count(kind, 1, reply.status);
    }

    async fn verify_many(&mut self, project: usize) {
        let mut submitted = self.claims_where(project, |c| c.status == Status::Submitted);
        if submitted.is_empty() {
            return;
        }
        let n = self.rng.gen_range(5..=40).min(submitted.len());
        let mut chosen = Vec::new();
        for _ in 0..n {
            let k = self.rng.gen_range(0..submitted.len());
            chosen.push(submitted.swap_remove(k));
        }
        // Now and then a claim that is no longer submitted: refused, the rest go through.
        if self.rng.gen_bool(0.2) {
            let decided = self.claims_where(project, |c| c.status != Status::Submitted);
            if let Some(i) = self.choose(&decided) {
                let at = self.rng.gen_range(0..=chosen.len());
                chosen.insert(at, i);
            }
        }
        let ids: Vec<String> = chosen
            .iter()
            .map(|&i| self.model.claims[i].id.clone())
            .collect();
        let reply = self
            .app
            .post(
                &format!(
                    "/v1/projects/{}/claims/verify",
                    self.model.projects[project].id
                ),
                Some(&self.validator_token),
                &json!({ "claim_ids": ids }),
            )
            .await;
        let op = self.ops;
        let mut expected = self.model.verify(op, project, &chosen);
        let what = format!("bulk verification of {ids:?}");
        let at = self.at(&what);
        let report = expect(&reply, 200, &at).clone();
        let results = report["results"].as_array().expect("results");
        assert_eq!(results.len(), chosen.len(), "{at}: {report}");
        assert_eq!(report["requested"], chosen.len(), "{at}: {report}");
        let verified = expected.values().filter(|r| r.is_ok()).count();
        assert_eq!(report["verified"], verified, "{at}: {report}");
        let mut to_fetch = Vec::new();
        for (&i, got) in chosen.iter().zip(results) {
            let want = expected.remove(&i).unwrap();
            let what = format!("bulk verification, claim {}", self.model.claims[i].id);
            let at = self.at(&what);
            assert_eq!(got["claim_id"], self.model.claims[i].id.as_str(), "{at}");
            match want {
                Ok(payable) => {
                    assert_eq!(got["verified"], true, "{at}: {got}");
                    assert_eq!(
                        minor_of(&got["payable"]),
                        Some(payable),
                        "{at}: payable; {got}"
                    );
                    to_fetch.push(i);
                }
                Err(reason) => {
                    *self.refusals.entry(reason).or_default() += 1;
                    assert_eq!(got["verified"], false, "{at}: {got}");
                    assert_eq!(reason_codes(&got["reasons"]), [reason], "{at}: {got}");
                }
            }
        }
        self.count(Kind::VerifyMany, chosen.len(), reply.status);
        // Each claim paid, in full, as an admin sees it.
        for i in to_fetch {
            self.fetch_and_compare(i).await;
        }
    }

    async fn fetch_and_compare(&mut self, i: usize) {
        let id = &self.model.claims[i].id;
        let reply = self
            .app
            .get(&format!("/v1/claims/{id}"), Some(&self.admin))
            .await;
        let view = reply.assert_status(200);
        compare_claim(
            self.seed,
            self.ops,
            &self.model,
            view,
            &self.model.claims[i],
        );
        self.requests += 1;
    }

    async fn decide(&mut self, i: usize, revoke: bool, kind: Kind) {
        let id = self.model.claims[i].id.clone();
        let action = if revoke { "revoke" } else { "reject" };
        let reply = self
            .app
            .post(
                &format!("/v1/claims/{id}/{action}"),
                Some(&self.validator_token),
                &json!({"reason": format!("random op {}", self.ops)}),
            )
            .await;
        let ok = if revoke {
            self.model.revoke(i)
        } else if self.model.claims[i].status == Status::Submitted {
            self.model.claims[i].status = Status::Rejected;
            true
        } else {
            false
        };
        let what = format!("{action} {id}");
        let at = self.at(&what);
        if ok {
            let view = expect(&reply, 200, &at);
            assert_eq!(view["status"], self.model.claims[i].status.as_str(), "{at}");
            compare_claim(
                self.seed,
                self.ops,
                &self.model,
                view,
                &self.model.claims[i],
            );
        } else {
            expect(&reply, 409, &at);
        }
        self.count(kind, 1, reply.status);
    }

    async fn retry(&mut self) -> bool {
        if self.keyed.is_empty() {
            return false;
        }
        let k = self.rng.gen_range(0..self.keyed.len());
        let keyed = &self.keyed[k];
        let path = format!(
            "/v1/projects/{}/claims",
            self.model.projects[keyed.project].id
        );
        let reply = self
            .app
            .post_with(
                &path,
                Some(&self.provider_token),
                &keyed.body,
                &[("Idempotency-Key", keyed.key.as_str())],
            )
            .await;
        let what = format!("retry of {} with key {}", keyed.body, keyed.key);
        let at = self.at(&what);
        let again = expect(&reply, 201, &at);
        assert_eq!(again["id"], keyed.response["id"], "{at}: the same claim");
        assert_eq!(again, &keyed.response, "{at}: the same answer");
        let stored = self.app.count("claims");
        assert_eq!(
            stored,
            self.model.claims.len() as i64,
            "{at}: a retry stores nothing new"
        );
        self.count(Kind::Retry, 1, reply.status);
        true
    }

    async fn key_reuse(&mut self) -> bool {
        if self.keyed.is_empty() {
            return false;
        }
        let k = self.rng.gen_range(0..self.keyed.len());
        let keyed = &self.keyed[k];
        let mut body = keyed.body.clone();
        let on: NaiveDate = body["achieved_on"].as_str().unwrap().parse().unwrap();
        let p = &self.model.projects[keyed.project].spec;
        let other = if on > p.end - Duration::days(400) {
            on - Duration::days(1)
        } else {
            on + Duration::days(1)
        };
        body["achieved_on"] = json!(other.to_string());
        let path = format!(
            "/v1/projects/{}/claims",
            self.model.projects[keyed.project].id
        );
        let reply = self
            .app
            .post_with(
                &path,
                Some(&self.provider_token),
                &body,
                &[("Idempotency-Key", keyed.key.as_str())],
            )
            .await;
        reply.assert_invalid_field("Idempotency-Key");
        self.count(Kind::KeyReuse, 1, reply.status);
        true
    }

    /// A second claim for an achievement a participant already has (submitted or verified).
    async fn duplicate(&mut self, project: usize) -> bool {
        let taken = self.claims_where(project, |c| {
            matches!(c.status, Status::Submitted | Status::Verified)
                && self.model.projects[project].spec.outcomes[c.outcome].unit == Unit::Achievement
                && self.model.projects[project].spec.outcomes[c.outcome]
                    .max_claims
                    .is_none()
        });
        let Some(i) = self.choose(&taken) else {
            return false;
        };
        let (participant, outcome) = (
            self.model.claims[i].participant,
            self.model.claims[i].outcome,
        );
        let spec = &self.model.projects[project].spec;
        let (start, end) = (spec.start, spec.end);
        let on = self.random_date(start, end);
        let c = Candidate {
            participant,
            outcome,
            on,
            quantity: 1,
            malformed: false,
        };
        let reasons = self
            .model
            .check_submission(project, &c, &[])
            .expect_err("a duplicate");
        assert!(reasons.contains(&"duplicate"));
        self.submit_one(project, c, false, Kind::Duplicate).await;
        true
    }

    async fn check_totals(&mut self, project: usize) {
        let p = &self.model.projects[project];
        let reply = self
            .app
            .get(&format!("/v1/projects/{}", p.id), Some(&self.admin))
            .await;
        let view = reply.assert_status(200);
        let payers = view["payers"].as_array().expect("payers");
        let what = format!("running totals of project {}", p.spec.tag);
        let at = self.at(&what);
        assert_eq!(payers.len(), p.payer_orgs.len(), "{at}");
        for (payer, org) in p.payer_orgs.iter().enumerate() {
            let shown = payers
                .iter()
                .find(|x| x["organisation_id"] == org.as_str())
                .expect("every payer is shown");
            let totals = &shown["totals"];
            assert_eq!(
                (
                    minor_of(&totals["allocated"]),
                    minor_of(&totals["shortfall"]),
                    minor_of(&totals["headroom"]),
                ),
                (
                    Some(p.allocated[payer]),
                    Some(p.shortfall[payer]),
                    Some(p.spec.payer_max[payer] - p.allocated[payer]),
                ),
                "{at}: payer {payer} ({org}) (allocated, shortfall, headroom); {shown}"
            );
        }
        self.requests += 1;
    }

    async fn step(&mut self, kind: Kind) {
        let project = self.pick_project();
        match kind {
            Kind::SubmitOne => {
                let c = self.candidate(project, &[]);
                let keyed = self.rng.gen_bool(0.3);
                self.submit_one(project, c, keyed, Kind::SubmitOne).await;
            }
            Kind::SubmitBulk => self.submit_bulk(project).await,
            Kind::VerifyOne => {
                let from = if self.rng.gen_bool(0.95) {
                    self.claims_where(project, |c| c.status == Status::Submitted)
                } else {
                    self.model.projects[project].claims.clone()
                };
                match self.choose(&from) {
                    Some(i) => self.verify_one(i, Kind::VerifyOne).await,
                    None => self.submit_bulk(project).await,
                }
            }
            Kind::VerifyMany => self.verify_many(project).await,
            Kind::Reject | Kind::Revoke => {
                let revoke = kind == Kind::Revoke;
                let wanted = if revoke {
                    Status::Verified
                } else {
                    Status::Submitted
                };
                let from = if self.rng.gen_bool(0.9) {
                    self.claims_where(project, |c| c.status == wanted)
                } else {
                    self.model.projects[project].claims.clone()
                };
                if let Some(i) = self.choose(&from) {
                    self.decide(i, revoke, kind).await;
                }
            }
            Kind::Retry => {
                self.retry().await;
            }
            Kind::KeyReuse => {
                self.key_reuse().await;
            }
            Kind::VerifyDecided => {
                let from = self.claims_where(project, |c| c.status != Status::Submitted);
                if let Some(i) = self.choose(&from) {
                    self.verify_one(i, Kind::VerifyDecided).await;
                }
            }
            Kind::RevokeUndecided => {
                let from = self.claims_where(project, |c| c.status != Status::Verified);
                if let Some(i) = self.choose(&from) {
                    self.decide(i, true, Kind::RevokeUndecided).await;
                }
            }
            Kind::Duplicate => {
                self.duplicate(project).await;
            }
        }
    }

    /// Every claim of every project, as an admin lists them, against the model.
    async fn sweep(&mut self) {
        for project in 0..self.model.projects.len() {
            let id = self.model.projects[project].id.clone();
            let mut seen = HashSet::new();
            let mut cursor = String::new();
            loop {
                let reply = self
                    .app
                    .get(
                        &format!("/v1/projects/{id}/claims?limit=500&cursor={cursor}"),
                        Some(&self.admin),
                    )
                    .await;
                self.requests += 1;
                let page = reply.assert_status(200);
                for view in page["items"].as_array().unwrap() {
                    let claim_id = view["id"].as_str().unwrap();
                    let what = format!("claim {claim_id} listed");
                    let i = *self
                        .model
                        .by_id
                        .get(claim_id)
                        .unwrap_or_else(|| panic!("{}: not in the model", self.at(&what)));
                    assert_eq!(self.model.claims[i].project, project);
                    seen.insert(i);
                    compare_claim(
                        self.seed,
                        self.ops,
                        &self.model,
                        view,
                        &self.model.claims[i],
                    );
                }
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = next.to_owned(),
                    None => break,
                }
            }
            assert_eq!(
                seen.len(),
                self.model.projects[project].claims.len(),
                "{}",
                self.at("every claim of the project is listed")
            );
        }
    }
}

async fn create_projects(app: &TestApp) -> (Vec<ModelProject>, String, String) {
    let provider = app.org("Random Provider", "provider", &[]).await;
    let validator = app.org("Random Validator", "validator", &[]).await;
    let admin = app.admin();
    let mut projects = Vec::new();
    for spec in project_specs() {
        let mut orgs = Vec::new();
        let mut payers = Vec::new();
        for (i, max) in spec.payer_max.iter().enumerate() {
            let org = app
                .org(&format!("Payer {} {i}", spec.tag), "local_authority", &[])
                .await;
            let mut payer = json!({
                "organisation_id": org,
                "role": if i == 0 { "local_commissioner" } else { "co_commissioner" },
                "max_commitment": gbp(&fmt_minor(*max)),
            });
            if let Shares::Fixed(shares) = &spec.shares {
                payer["share"] = json!(shares[i]);
            }
            payers.push(payer);
            orgs.push(org);
        }
        let outcomes: Vec<Value> = spec
            .outcomes
            .iter()
            .map(|o| {
                let mut v = json!({
                    "code": o.code, "name": o.code, "price": gbp(&fmt_minor(o.price)),
                    "unit": o.unit.as_str(),
                });
                if let Some(n) = o.max_units {
                    v["max_units_per_participant"] = json!(n);
                }
                if let Some(n) = o.max_claims {
                    v["max_claims_per_participant"] = json!(n);
                }
                if let Some(n) = o.volume_cap {
                    v["volume_cap"] = json!(n);
                }
                if let Some(d) = o.deadweight {
                    v["deadweight"] = json!(d);
                }
                if let Some((code, days)) = o.requires {
                    v["requires"] = json!({"outcome_code": code, "min_days_after": days});
                }
                v
            })
            .collect();
        let mut body = json!({
            "name": format!("Random ops {}", spec.tag),
            "provider_organisation_id": provider,
            "service_start": spec.start.to_string(),
            "service_end": spec.end.to_string(),
            "cap_policy": match spec.policy { Policy::Shortfall => "shortfall", Policy::Reallocate => "reallocate" },
            "payers": payers,
            "outcomes": outcomes,
            "validator_organisation_ids": [validator],
        });
        if let Some(cap) = spec.participant_cap {
            body["participant_cap"] = gbp(&fmt_minor(cap));
        }
        if let Some(cap) = spec.contract_cap {
            body["max_outcome_payment"] = gbp(&fmt_minor(cap));
        }
        let created = app.post("/v1/projects", Some(&admin), &body).await;
        let created = created.assert_status(201);
        let id = created["id"].as_str().unwrap().to_owned();
        projects.push(ModelProject::new(spec, id, orgs));
    }
    (projects, provider, validator)
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not '{v}'")),
        _ => default,
    }
}

#[tokio::test]
async fn random_operations_agree_with_an_independent_model_of_the_payment_rules() {
    let target = env_number("COFUND_RANDOM_OPS", DEFAULT_OPS as u64) as usize;
    let seed = env_number("COFUND_RANDOM_OPS_SEED", DEFAULT_SEED);
    println!("random_ops: seed {seed}, {target} operations");
    let started = Instant::now();
    let app = spawn_app().await;
    let (projects, provider, validator) = create_projects(&app).await;
    let mut run = Run {
        app: &app,
        rng: StdRng::seed_from_u64(seed),
        seed,
        model: Model {
            projects,
            claims: Vec::new(),
            by_id: HashMap::new(),
            seq: 0,
        },
        provider_token: app.token_for(Role::Provider, Some(&provider), "random-provider-clerk"),
        validator_token: app.token_for(Role::Validator, Some(&validator), "random-validator"),
        admin: app.admin(),
        keyed: Vec::new(),
        ops: 0,
        counts: BTreeMap::new(),
        statuses: BTreeMap::new(),
        requests: 0,
        refusals: BTreeMap::new(),
    };
    let weights = WeightedIndex::new(KINDS.iter().map(|(_, w)| *w)).unwrap();
    let mut next_totals = 500;
    while run.ops < target {
        let kind = KINDS[run.rng.sample(&weights)].0;
        run.step(kind).await;
        if run.ops >= next_totals {
            next_totals += 500;
            for project in 0..run.model.projects.len() {
                run.check_totals(project).await;
            }
        }
    }
    let ran = started.elapsed();
    for project in 0..run.model.projects.len() {
        run.check_totals(project).await;
    }
    run.sweep().await;
    assert_eq!(
        app.count("claims"),
        run.model.claims.len() as i64,
        "{}",
        run.at("claims stored")
    );
    let out = app.cofund(&["check"]);
    assert!(
        out.status.success(),
        "{}: cofund check: {}{}",
        run.at("the ledger's invariants"),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // What the run covered.
    let claims = &run.model.claims;
    let decided: Vec<&Decision> = claims.iter().filter_map(|c| c.decision.as_ref()).collect();
    let mut adjusted: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &decided {
        for (kind, amount) in &d.adjustments {
            if *amount > 0 {
                *adjusted.entry(kind).or_default() += 1;
            }
        }
    }
    let short = decided
        .iter()
        .filter(|d| d.parts.iter().any(|p| p.1 > 0))
        .count();
    let zero = decided.iter().filter(|d| d.payable == 0).count();
    let by_status = |s: Status| claims.iter().filter(|c| c.status == s).count();
    println!(
        "random_ops: seed {seed}: {} operations in {} requests, {:.1}s ({:.1}s with the final checks)",
        run.ops,
        run.requests,
        ran.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    println!("random_ops: operations by kind: {:?}", run.counts);
    println!("random_ops: refusals by reason: {:?}", run.refusals);
    println!("random_ops: requests by (kind, status): {:?}", run.statuses);
    println!(
        "random_ops: claims {} (submitted {}, verified {}, rejected {}, revoked {}); verifications {} \
         ({} with a payer shortfall, {} paying nothing); adjustments {:?}",
        claims.len(),
        by_status(Status::Submitted),
        by_status(Status::Verified),
        by_status(Status::Rejected),
        by_status(Status::Revoked),
        decided.len(),
        short,
        zero,
        adjusted
    );
    for (project, p) in run.model.projects.iter().enumerate() {
        // Each rule that bound: (first operation, verifications).
        let mut bound: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        let mut verified = 0;
        for d in claims
            .iter()
            .filter(|c| c.project == project)
            .filter_map(|c| c.decision.as_ref())
        {
            verified += 1;
            let mut kinds: Vec<&str> = d
                .adjustments
                .iter()
                .filter(|a| a.1 > 0)
                .map(|a| a.0)
                .collect();
            if d.payer_capped {
                kinds.push("payer_cap");
            }
            if d.payable == 0 {
                kinds.push("paid_nothing");
            }
            for kind in kinds {
                let e = bound.entry(kind).or_insert((d.op, 0));
                e.0 = e.0.min(d.op);
                e.1 += 1;
            }
        }
        println!(
            "random_ops: project {}: {} participants, {} verifications; rules bound (first op, times): {:?}; \
             allocated {:?}, shortfall {:?}, contract used {}",
            p.spec.tag,
            p.participants.len(),
            verified,
            bound,
            p.allocated,
            p.shortfall,
            p.contract_used
        );
    }
}

/// The model itself, on the domain document's worked examples and a hand-worked reallocation.
#[test]
fn the_model_splits_the_worked_examples() {
    // Reconnections: maximums 303,000 / 697,000 / 1,020,000, pro rata; £1,000.00.
    let pro_rata = [30_300_000, 69_700_000, 102_000_000];
    let room = [i64::MAX / 4; 3];
    assert_eq!(
        split_model(100_000, &pro_rata, &room, Policy::Shortfall),
        [(15_000, 0), (34_505, 0), (50_495, 0)]
    );
    // Thirds as exact decimals, and as equal maximums: the extra penny to the first listed.
    let thirds = [333_334, 333_333, 333_333];
    assert_eq!(
        largest_remainder(100, &thirds),
        largest_remainder(100, &[1, 1, 1])
    );
    assert_eq!(largest_remainder(100, &[1, 1, 1]), [34, 33, 33]);
    for pence in 0..2_000 {
        assert_eq!(largest_remainder(pence, &thirds).iter().sum::<i64>(), pence);
    }
    // Reallocation: 10.00 by 0.6 / 0.4 / 0; the first payer has 1.00 of headroom, the second
    // 2.00 and the third (weight 0) plenty. 6.00 / 4.00 → 1.00 / 2.00; the excess 7.00 finds
    // no one with weight and headroom, and is short in proportion to the excess (5.00 / 2.00).
    assert_eq!(
        split_model(1_000, &[6, 4, 0], &[100, 200, 10_000], Policy::Reallocate),
        [(100, 500), (200, 200), (0, 0)]
    );
    // Only the first is capped: its excess goes to the second, who has room.
    assert_eq!(
        split_model(
            1_000,
            &[6, 4, 0],
            &[100, 10_000, 10_000],
            Policy::Reallocate
        ),
        [(100, 0), (900, 0), (0, 0)]
    );
    assert_eq!(
        split_model(1_000, &[6, 4, 0], &[100, 10_000, 10_000], Policy::Shortfall),
        [(100, 500), (400, 0), (0, 0)]
    );
    // Thirds of 1.00, the first (0.34) capped at 0.11: its 0.23 goes to the other two by
    // their equal weights, 0.12 to the second (listed first on the tie) and 0.11 to the third.
    assert_eq!(
        split_model(100, &thirds, &[11, 1_000, 1_000], Policy::Reallocate),
        [(11, 0), (45, 0), (44, 0)]
    );
}
