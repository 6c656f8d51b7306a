//! The rules a claim must meet (DOMAIN.md section 3) and the pricing that turns it into a
//! payable amount with every adjustment explained. Pure: the participant's earlier claims and
//! the running totals arrive as arguments.

use chrono::{Duration, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::limits::{self, MAX_QUANTITY};
use super::money::Minor;
use super::registry::OutcomeUnit;

string_enum! {
    /// Where a claim stands.
    ClaimStatus {
        /// Waiting for a decision.
        Submitted => "submitted",
        /// Priced and split; its allocations are in the ledger.
        Verified => "verified",
        /// Refused by the decider, with a reason; nothing was allocated.
        Rejected => "rejected",
        /// Verified, then withdrawn: its allocations were reversed by new ledger entries.
        Revoked => "revoked",
    }
}

/// One claim as a provider submits it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "participant_ref": "HC-2026-00417",
    "outcome_code": "EMPLOYED_13W",
    "achieved_on": "2026-09-18",
    "quantity": 1,
    "evidence_ref": "payroll-2026-09-18-0417",
    "home_area": "E06000019",
    "age_at_start": 34,
    "referred_on": "2026-05-27"
}))]
pub struct ClaimInput {
    /// The provider's own reference for the participant. Pseudonymised before it is stored;
    /// never stored, logged or published as given.
    pub participant_ref: String,
    /// Code of the outcome claimed, from the project's rate card (`EMPLOYED_13W`).
    pub outcome_code: String,
    /// When the outcome was achieved; for time units, the last day of the period claimed.
    /// From 1900-01-01 to 2199-12-31.
    #[serde(deserialize_with = "limits::date")]
    pub achieved_on: NaiveDate,
    /// Time units claimed (weeks or days), 1 to 10,000, every one inside the service period;
    /// 1 for achievements.
    #[schema(minimum = 1, maximum = 10000)]
    pub quantity: Option<i32>,
    /// The provider's reference to the evidence of the outcome (up to 500 characters), if any.
    #[schema(max_length = 500)]
    pub evidence_ref: Option<String>,
    /// Area code of the participant's home (needed where home commissioners pay).
    #[schema(max_length = 64)]
    pub home_area: Option<String>,
    /// The participant's age when they started (0 to 130); required where the
    /// outcome limits the age.
    #[schema(minimum = 0, maximum = 130)]
    pub age_at_start: Option<i32>,
    /// When the participant was referred, not after `achieved_on`; required where
    /// the project has a referral cut-off, and not after it.
    #[serde(default, deserialize_with = "limits::optional_date")]
    pub referred_on: Option<NaiveDate>,
}

/// Why a claim was refused, with a stable code a program can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"code": "duplicate", "detail": "EMPLOYED_13W has already been claimed for this participant"}))]
pub struct Reason {
    /// Stable code of the rule broken, such as `duplicate`, `outside_service_period` or
    /// `age_not_eligible`.
    pub code: String,
    /// What is wrong, in words a person can act on.
    pub detail: String,
}

impl Reason {
    pub fn new(code: &str, detail: impl Into<String>) -> Reason {
        Reason {
            code: code.to_owned(),
            detail: detail.into(),
        }
    }
}

/// An outcome of the rate card, as the rules see it.
#[derive(Debug, Clone)]
pub struct OutcomeRule {
    pub id: String,
    pub code: String,
    pub price_minor: Minor,
    pub unit: OutcomeUnit,
    pub max_units_per_participant: Option<i32>,
    pub max_claims_per_participant: i32,
    pub exclusive_group: Option<String>,
    pub requires: Option<(String, i32)>,
    pub volume_cap: Option<i32>,
    pub deadweight: Option<Decimal>,
    pub min_age_at_start: Option<i32>,
    pub max_age_at_start: Option<i32>,
}

/// The project-wide facts the eligibility rules need.
#[derive(Debug, Clone)]
pub struct EligibilityWindow {
    pub service_start: NaiveDate,
    pub service_end: NaiveDate,
    pub referral_cutoff: Option<NaiveDate>,
    /// Claims cannot be for achievements after today.
    pub today: NaiveDate,
}

/// A claim of the same participant that still counts: submitted or verified.
#[derive(Debug, Clone)]
pub struct PriorClaim {
    pub outcome_code: String,
    pub exclusive_group: Option<String>,
    pub achieved_on: NaiveDate,
    pub period_start: NaiveDate,
    pub quantity: i32,
    pub verified: bool,
}

/// What the rules make of an acceptable claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub quantity: i32,
    /// First day of the period claimed (the achievement date for achievements).
    pub period_start: NaiveDate,
}

/// Checks a claim against the rate card, the project's window and the participant's claims
/// that still count. Every failing rule is reported.
pub fn check_eligibility(
    claim: &ClaimInput,
    outcome: &OutcomeRule,
    window: &EligibilityWindow,
    prior: &[PriorClaim],
) -> Result<Accepted, Vec<Reason>> {
    let on = claim.achieved_on;
    let mut reasons = text_reasons(claim);
    date_reasons(&mut reasons, claim, window);
    age_reasons(&mut reasons, claim, outcome);
    let (quantity, period_start) = match claimed_period(claim, outcome, window) {
        Ok(period) => {
            if outcome
                .price_minor
                .checked_mul(i64::from(period.0))
                .is_none()
            {
                reasons.push(quantity_out_of_range(outcome));
            }
            period
        }
        Err(reason) => {
            reasons.push(reason);
            (claim.quantity.unwrap_or(1), on)
        }
    };
    let accepted = Accepted {
        quantity,
        period_start,
    };
    repeat_reasons(&mut reasons, claim, outcome, accepted, prior);
    if let Err(reason) = prerequisite_met(outcome, on, prior, false) {
        reasons.push(reason);
    }
    if reasons.is_empty() {
        Ok(accepted)
    } else {
        Err(reasons)
    }
}

/// The achievement inside the service period and not in the future; the referral before
/// the cut-off and the achievement.
fn date_reasons(reasons: &mut Vec<Reason>, claim: &ClaimInput, window: &EligibilityWindow) {
    let on = claim.achieved_on;
    if on < window.service_start || on > window.service_end {
        reasons.push(Reason::new(
            "outside_service_period",
            format!(
                "achieved on {on}, outside the service period {} to {}",
                window.service_start, window.service_end
            ),
        ));
    }
    if on > window.today {
        reasons.push(Reason::new(
            "future_date",
            format!("achieved on {on}, which is in the future"),
        ));
    }
    match (window.referral_cutoff, claim.referred_on) {
        (Some(_), None) => reasons.push(Reason::new(
            "referral_date_required",
            "referred_on is required: this project has a referral cut-off",
        )),
        (Some(cutoff), Some(referred)) if referred > cutoff => reasons.push(Reason::new(
            "referred_after_cutoff",
            format!("referred on {referred}, after the referral cut-off {cutoff}"),
        )),
        _ => {}
    }
    if let Some(referred) = claim.referred_on {
        if referred > on {
            reasons.push(Reason::new(
                "dates_out_of_order",
                format!("referred on {referred}, after the achievement on {on}"),
            ));
        }
    }
}

/// The participant's age at start, where the outcome limits it.
fn age_reasons(reasons: &mut Vec<Reason>, claim: &ClaimInput, outcome: &OutcomeRule) {
    if outcome.min_age_at_start.is_some() || outcome.max_age_at_start.is_some() {
        match claim.age_at_start {
            None => reasons.push(Reason::new(
                "age_required",
                format!("age_at_start is required for {}", outcome.code),
            )),
            Some(age) => {
                if outcome.min_age_at_start.is_some_and(|min| age < min)
                    || outcome.max_age_at_start.is_some_and(|max| age > max)
                {
                    reasons.push(Reason::new(
                        "age_not_eligible",
                        format!(
                            "{} is for participants aged {} to {} at start",
                            outcome.code,
                            outcome
                                .min_age_at_start
                                .map_or("any".into(), |a| a.to_string()),
                            outcome
                                .max_age_at_start
                                .map_or("any".into(), |a| a.to_string()),
                        ),
                    ));
                }
            }
        }
    }
}

/// Against the participant's claims that still count: duplicates, overlapping periods, the
/// units allowed per participant, mutually exclusive outcomes.
fn repeat_reasons(
    reasons: &mut Vec<Reason>,
    claim: &ClaimInput,
    outcome: &OutcomeRule,
    accepted: Accepted,
    prior: &[PriorClaim],
) {
    let on = claim.achieved_on;
    let Accepted {
        quantity,
        period_start,
    } = accepted;
    let same: Vec<&PriorClaim> = prior
        .iter()
        .filter(|p| p.outcome_code == outcome.code)
        .collect();
    if outcome.unit == OutcomeUnit::Achievement {
        if same.len() >= usize::try_from(outcome.max_claims_per_participant).unwrap_or(0) {
            reasons.push(Reason::new(
                "duplicate",
                if outcome.max_claims_per_participant == 1 {
                    format!(
                        "{} has already been claimed for this participant",
                        outcome.code
                    )
                } else {
                    format!(
                        "{} may be claimed {} times per participant; it has been",
                        outcome.code, outcome.max_claims_per_participant
                    )
                },
            ));
        }
    } else {
        if let Some(overlap) = same
            .iter()
            .find(|p| p.period_start <= on && period_start <= p.achieved_on)
        {
            reasons.push(Reason::new(
                "overlapping_period",
                format!(
                    "{period_start} to {on} overlaps the period {} to {} already claimed",
                    overlap.period_start, overlap.achieved_on
                ),
            ));
        }
        if let Some(max) = outcome.max_units_per_participant {
            let used: i64 = same.iter().map(|p| i64::from(p.quantity)).sum();
            if used + i64::from(quantity) > i64::from(max) {
                reasons.push(Reason::new(
                    "max_units",
                    format!("{} allows {max} units per participant; {used} are claimed, so at most {} more", outcome.code, (i64::from(max) - used).max(0)),
                ));
            }
        }
    }
    if let Some(group) = &outcome.exclusive_group {
        if let Some(other) = prior
            .iter()
            .find(|p| p.exclusive_group.as_ref() == Some(group) && p.outcome_code != outcome.code)
        {
            reasons.push(Reason::new(
                "mutually_exclusive",
                format!(
                    "{} excludes {}, already claimed for this participant",
                    outcome.code, other.outcome_code
                ),
            ));
        }
    }
}

/// The quantity claimed times the outcome's price does not fit in the amounts cofund holds.
/// (Neither is echoed: a quantity column may hold a participant reference in a shifted file.)
fn quantity_out_of_range(outcome: &OutcomeRule) -> Reason {
    Reason::new(
        "amount_out_of_range",
        format!(
            "the quantity claimed × the price of {} is beyond the amounts cofund can pay",
            outcome.code
        ),
    )
}

/// What is wrong with a participant reference, checked where it is pseudonymised (the
/// reference itself goes no further). Reasons never repeat it.
pub fn participant_ref_reasons(reference: &str) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if let Some(problem) = limits::text_problem(reference, limits::MAX_PARTICIPANT_REF_CHARS, false)
    {
        reasons.push(Reason::new(
            "bad_text",
            format!("participant_ref {problem}"),
        ));
    }
    if reference.trim().is_empty() {
        reasons.push(Reason::new(
            "participant_ref",
            "participant_ref must not be empty",
        ));
    }
    reasons
}

/// The other text fields of a claim, held to the limits every stored text is held to. Reasons
/// name the field, never its value: a value may be a participant reference in the wrong
/// column.
fn text_reasons(claim: &ClaimInput) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let fields = [
        (
            "outcome_code",
            Some(claim.outcome_code.as_str()),
            limits::MAX_CODE_CHARS,
        ),
        (
            "evidence_ref",
            claim.evidence_ref.as_deref(),
            limits::MAX_EVIDENCE_REF_CHARS,
        ),
        (
            "home_area",
            claim.home_area.as_deref(),
            limits::MAX_CODE_CHARS,
        ),
    ];
    for (field, value, max) in fields {
        if let Some(problem) = value.and_then(|v| limits::text_problem(v, max, false)) {
            reasons.push(Reason::new("bad_text", format!("{field} {problem}")));
        }
    }
    for (field, date) in [
        ("achieved_on", Some(claim.achieved_on)),
        ("referred_on", claim.referred_on),
    ] {
        if date.is_some_and(|d| !limits::date_in_range(d)) {
            reasons.push(Reason::new(
                "date_out_of_range",
                format!("{field} {}", limits::date_range_message()),
            ));
        }
    }
    if claim.age_at_start.is_some_and(|a| !(0..=130).contains(&a)) {
        reasons.push(Reason::new(
            "age_not_eligible",
            "age_at_start must be from 0 to 130",
        ));
    }
    reasons
}

/// The units a claim is for and the first day of the period they cover: `quantity` units
/// ending on `achieved_on`. Every unit must lie inside the service period (DOMAIN.md section
/// 3): a claim reaching back before the service began is refused, naming how many units fit.
fn claimed_period(
    claim: &ClaimInput,
    outcome: &OutcomeRule,
    window: &EligibilityWindow,
) -> Result<(i32, NaiveDate), Reason> {
    let quantity = claim.quantity.unwrap_or(1);
    let unit_days: i64 = match outcome.unit {
        OutcomeUnit::Achievement => 0,
        OutcomeUnit::Week => 7,
        OutcomeUnit::Day => 1,
    };
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        return Err(Reason::new(
            "bad_quantity",
            format!("quantity must be from 1 to {MAX_QUANTITY}"),
        ));
    }
    if unit_days == 0 {
        if quantity != 1 {
            return Err(Reason::new(
                "bad_quantity",
                format!(
                    "{} is paid per achievement: quantity must be 1",
                    outcome.code
                ),
            ));
        }
        return Ok((1, claim.achieved_on));
    }
    let on = claim.achieved_on;
    if on < window.service_start {
        // Refused as outside_service_period already; nothing to add.
        return Ok((quantity, on));
    }
    // Bounded inputs keep this far inside chrono's range; checked all the same.
    let period_start = on
        .checked_sub_signed(Duration::days(i64::from(quantity) * unit_days - 1))
        .filter(|start| *start >= window.service_start);
    match period_start {
        Some(start) => Ok((quantity, start)),
        None => {
            let days_inside = (on - window.service_start).num_days() + 1;
            let fit = (days_inside / unit_days).max(0);
            Err(Reason::new(
                "units_outside_service_period",
                format!(
                    "the {}s claimed, ending {on}, would begin before the service started on {}; \
                     every unit must lie inside the service period, so at most {fit} fit",
                    outcome.unit.as_str(),
                    window.service_start
                ),
            ))
        }
    }
}

/// The outcome's prerequisite was achieved at least `min_days_after` days before `on`. At
/// submission a submitted prerequisite will do; at verification it must have been verified
/// (paid) first.
pub fn prerequisite_met(
    outcome: &OutcomeRule,
    on: NaiveDate,
    prior: &[PriorClaim],
    must_be_verified: bool,
) -> Result<(), Reason> {
    let Some((required, min_days)) = &outcome.requires else {
        return Ok(());
    };
    let candidates: Vec<&PriorClaim> = prior
        .iter()
        .filter(|p| &p.outcome_code == required && (p.verified || !must_be_verified))
        .collect();
    if candidates.is_empty() {
        return Err(Reason::new(
            "prerequisite_missing",
            if must_be_verified {
                format!("{} needs {required} verified first", outcome.code)
            } else {
                format!("{} needs {required} claimed first", outcome.code)
            },
        ));
    }
    // Stored rules hold min_days below MAX_DAYS_AFTER and dates inside the range, so this
    // cannot leave chrono's range; should it, the claim waits for ever rather than panic.
    let earliest_allowed = |p: &&PriorClaim| {
        p.achieved_on
            .checked_add_signed(Duration::days(i64::from(*min_days)))
            .unwrap_or(NaiveDate::MAX)
    };
    if !candidates.iter().any(|p| earliest_allowed(p) <= on) {
        let first = candidates
            .iter()
            .map(earliest_allowed)
            .min()
            .expect("non-empty");
        return Err(Reason::new(
            "prerequisite_too_recent",
            format!(
                "{} needs {min_days} days after {required}: not before {first}",
                outcome.code
            ),
        ));
    }
    Ok(())
}

string_enum! {
    /// One difference between a claim's gross value and what is payable.
    AdjustmentKind {
        /// The outcome's deadweight fraction deducted from the price.
        Deadweight => "deadweight",
        /// Units beyond the outcome's volume cap across the project, not paid.
        VolumeCap => "volume_cap",
        /// The part beyond the project's cap for one participant.
        ParticipantCap => "participant_cap",
        /// The part beyond the project's maximum outcome payment.
        ContractCap => "contract_cap",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub kind: AdjustmentKind,
    /// Minor units deducted (never negative).
    pub amount_minor: Minor,
    pub detail: String,
}

/// Running totals that bound a claim, before it is paid.
#[derive(Debug, Clone, Copy, Default)]
pub struct PaidSoFar {
    /// Units (or achievements) of this outcome already paid across the project.
    pub outcome_units: i64,
    /// Already paid for this participant.
    pub participant_minor: Minor,
    /// Already paid across the project.
    pub project_minor: Minor,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    pub gross_minor: Minor,
    pub paid_units: i32,
    pub adjustments: Vec<Adjustment>,
    pub payable_minor: Minor,
}

/// Prices a verified claim: price × quantity, less deadweight (rounded down to the penny: the
/// public purse never pays a fraction of a penny more), then the caps in DOMAIN.md's order:
/// volume, per participant, contract. Payer caps are the split's business.
pub fn price_claim(
    outcome: &OutcomeRule,
    quantity: i32,
    participant_cap_minor: Option<Minor>,
    contract_cap_minor: Option<Minor>,
    paid: PaidSoFar,
    fmt: impl Fn(Minor) -> String,
) -> Result<Pricing, Reason> {
    let out_of_range = || quantity_out_of_range(outcome);
    let gross = outcome
        .price_minor
        .checked_mul(i64::from(quantity))
        .filter(|g| g.get() >= 0)
        .ok_or_else(out_of_range)?;
    let mut left = Deductions {
        amount: gross,
        adjustments: Vec::new(),
    };
    if let Some(deadweight) = outcome.deadweight.filter(|d| !d.is_zero()) {
        let kept = after_deadweight(gross, deadweight).ok_or_else(out_of_range)?;
        let detail = format!("deadweight of {deadweight} deducted");
        left.take(AdjustmentKind::Deadweight, kept, detail);
    }
    let paid_units = left.volume_cap(outcome, quantity, paid.outcome_units);
    let mut cap = |kind: AdjustmentKind, limit: Option<Minor>, already: Minor, what: &str| {
        let Some(limit) = limit else { return };
        let most = Minor(limit.get().saturating_sub(already.get()).max(0));
        if left.amount > most {
            let detail = format!(
                "{what} of {} reached: {} already paid",
                fmt(limit),
                fmt(already)
            );
            left.take(kind, most, detail);
        }
    };
    cap(
        AdjustmentKind::ParticipantCap,
        participant_cap_minor,
        paid.participant_minor,
        "the per-participant cap",
    );
    cap(
        AdjustmentKind::ContractCap,
        contract_cap_minor,
        paid.project_minor,
        "the contract cap",
    );
    let pricing = Pricing {
        gross_minor: gross,
        paid_units,
        adjustments: left.adjustments,
        payable_minor: left.amount,
    };
    debug_assert!(pricing.explains_itself(), "{pricing:?}");
    Ok(pricing)
}

/// `gross` less a deadweight share, rounded down to the penny; `None` if it is out of range.
fn after_deadweight(gross: Minor, deadweight: Decimal) -> Option<Minor> {
    Decimal::from(gross.get())
        .checked_mul(Decimal::ONE - deadweight)
        .map(|k| k.floor())
        .and_then(|k| i64::try_from(k).ok())
        .filter(|k| (0..=gross.get()).contains(k))
        .map(Minor)
}

/// What is still to pay as each rule takes its part, and what each took.
struct Deductions {
    amount: Minor,
    adjustments: Vec<Adjustment>,
}

impl Deductions {
    /// A rule leaves `kept` of the amount.
    fn take(&mut self, kind: AdjustmentKind, kept: Minor, detail: String) {
        self.adjustments.push(Adjustment {
            kind,
            amount_minor: self.amount - kept,
            detail,
        });
        self.amount = kept;
    }

    /// The outcome's volume cap across the project: the units beyond it are recorded but not
    /// paid, and the amount falls in proportion. Returns the units paid.
    fn volume_cap(&mut self, outcome: &OutcomeRule, quantity: i32, units_paid: i64) -> i32 {
        let Some(cap) = outcome.volume_cap else {
            return quantity;
        };
        let left = (i64::from(cap) - units_paid).clamp(0, i64::from(quantity));
        if i64::from(quantity) <= left {
            return quantity;
        }
        // i128: amount × left may exceed i64 before the division brings it back.
        let kept = i128::from(self.amount.get()) * i128::from(left) / i128::from(quantity);
        let kept = Minor(i64::try_from(kept).expect("at most amount"));
        let detail = format!(
            "{} is capped at {cap} across the project; {} of {quantity} paid, the rest recorded",
            outcome.code, left
        );
        self.take(AdjustmentKind::VolumeCap, kept, detail);
        i32::try_from(left).expect("left is at most quantity")
    }
}

impl Pricing {
    /// The invariant of every decision: nothing negative, and gross less the adjustments is
    /// exactly what is payable.
    pub fn explains_itself(&self) -> bool {
        let deducted = self
            .adjustments
            .iter()
            .try_fold(Minor::ZERO, |sum, a| sum.checked_add(a.amount_minor));
        self.payable_minor >= Minor::ZERO
            && self
                .adjustments
                .iter()
                .all(|a| a.amount_minor >= Minor::ZERO)
            && deducted.and_then(|d| self.gross_minor.checked_sub(d)) == Some(self.payable_minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(code: &str, price: i64) -> OutcomeRule {
        OutcomeRule {
            id: format!("out_{code}"),
            code: code.into(),
            price_minor: Minor(price),
            unit: OutcomeUnit::Achievement,
            max_units_per_participant: None,
            max_claims_per_participant: 1,
            exclusive_group: None,
            requires: None,
            volume_cap: None,
            deadweight: None,
            min_age_at_start: None,
            max_age_at_start: None,
        }
    }

    fn window() -> EligibilityWindow {
        EligibilityWindow {
            service_start: "2016-01-01".parse().unwrap(),
            service_end: "2019-12-31".parse().unwrap(),
            referral_cutoff: None,
            today: "2026-01-01".parse().unwrap(),
        }
    }

    fn claim(code: &str, on: &str) -> ClaimInput {
        ClaimInput {
            participant_ref: "P1".into(),
            outcome_code: code.into(),
            achieved_on: on.parse().unwrap(),
            quantity: None,
            evidence_ref: None,
            home_area: None,
            age_at_start: None,
            referred_on: None,
        }
    }

    fn prior(code: &str, on: &str, verified: bool) -> PriorClaim {
        let on = on.parse().unwrap();
        PriorClaim {
            outcome_code: code.into(),
            exclusive_group: None,
            achieved_on: on,
            period_start: on,
            quantity: 1,
            verified,
        }
    }

    fn codes(r: Result<Accepted, Vec<Reason>>) -> Vec<String> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.code)
            .collect()
    }

    #[test]
    fn rough_sleeping_participant_cap_pays_part_then_nothing() {
        let cap = Some(Minor(1_900_000));
        let paid = PaidSoFar {
            participant_minor: Minor(1_792_000),
            ..Default::default()
        };
        let p = price_claim(
            &outcome("alcohol_sustained", 110_000),
            1,
            cap,
            None,
            paid,
            |m| m.to_string(),
        )
        .unwrap();
        assert_eq!(p.payable_minor, Minor(108_000));
        assert_eq!(p.adjustments[0].kind, AdjustmentKind::ParticipantCap);
        assert_eq!(p.adjustments[0].amount_minor, Minor(2_000));
        let paid = PaidSoFar {
            participant_minor: Minor(1_900_000),
            ..Default::default()
        };
        let p = price_claim(&outcome("x", 50_000), 1, cap, None, paid, |m| m.to_string()).unwrap();
        assert_eq!(p.payable_minor, Minor(0));
        assert_eq!(p.gross_minor, Minor(50_000));
    }

    #[test]
    fn deadweight_then_volume_then_contract_cap() {
        let mut o = outcome("week_out_of_care", 65_000);
        o.unit = OutcomeUnit::Week;
        o.deadweight = Some(Decimal::new(33, 2));
        o.volume_cap = Some(10);
        let paid = PaidSoFar {
            outcome_units: 8,
            participant_minor: Minor::ZERO,
            project_minor: Minor(999_000),
        };
        let p = price_claim(&o, 4, None, Some(Minor(1_050_000)), paid, |m| m.to_string()).unwrap();
        // 4 × 650.00 = 2,600.00; less 33% = 1,742.00; 2 of 4 units left = 871.00; contract
        // cap leaves 510.00.
        assert_eq!(p.gross_minor, Minor(260_000));
        let kinds: Vec<(AdjustmentKind, Minor)> = p
            .adjustments
            .iter()
            .map(|a| (a.kind, a.amount_minor))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (AdjustmentKind::Deadweight, Minor(85_800)),
                (AdjustmentKind::VolumeCap, Minor(87_100)),
                (AdjustmentKind::ContractCap, Minor(36_100)),
            ]
        );
        assert_eq!(p.payable_minor, Minor(51_000));
        assert_eq!(p.paid_units, 2);
        assert_eq!(
            p.gross_minor - kinds.iter().map(|k| k.1).sum::<Minor>(),
            p.payable_minor
        );
    }

    #[test]
    fn duplicates_and_allowed_repeats() {
        let o = outcome("accommodation_3m", 150_000);
        let history = [prior("accommodation_3m", "2016-06-01", true)];
        assert_eq!(
            codes(check_eligibility(
                &claim("accommodation_3m", "2016-09-01"),
                &o,
                &window(),
                &history
            )),
            ["duplicate"]
        );
        let mut thrice = outcome("wellbeing", 10_000);
        thrice.max_claims_per_participant = 3;
        let two = [
            prior("wellbeing", "2016-02-01", true),
            prior("wellbeing", "2016-03-01", false),
        ];
        assert!(
            check_eligibility(&claim("wellbeing", "2016-04-01"), &thrice, &window(), &two).is_ok()
        );
        let three = [
            two[0].clone(),
            two[1].clone(),
            prior("wellbeing", "2016-04-01", false),
        ];
        assert_eq!(
            codes(check_eligibility(
                &claim("wellbeing", "2016-05-01"),
                &thrice,
                &window(),
                &three
            )),
            ["duplicate"]
        );
    }

    #[test]
    fn ladder_needs_the_earlier_outcome_and_the_time_between() {
        let mut o = outcome("employment_26w", 100_000);
        o.requires = Some(("employment_13w".into(), 91));
        assert_eq!(
            codes(check_eligibility(
                &claim("employment_26w", "2016-06-01"),
                &o,
                &window(),
                &[]
            )),
            ["prerequisite_missing"]
        );
        let history = [prior("employment_13w", "2016-05-01", true)];
        assert_eq!(
            codes(check_eligibility(
                &claim("employment_26w", "2016-06-01"),
                &o,
                &window(),
                &history
            )),
            ["prerequisite_too_recent"]
        );
        assert!(check_eligibility(
            &claim("employment_26w", "2016-07-31"),
            &o,
            &window(),
            &history
        )
        .is_ok());
        // At verification the prerequisite must itself have been verified.
        let unverified = [prior("employment_13w", "2016-05-01", false)];
        assert!(prerequisite_met(&o, "2016-08-01".parse().unwrap(), &unverified, false).is_ok());
        assert_eq!(
            prerequisite_met(&o, "2016-08-01".parse().unwrap(), &unverified, true)
                .unwrap_err()
                .code,
            "prerequisite_missing"
        );
    }

    #[test]
    fn exclusive_groups_windows_ages_and_referrals() {
        let mut o = outcome("self_employment_entry", 50_000);
        o.exclusive_group = Some("entry".into());
        let mut other = prior("employment_entry", "2016-02-01", false);
        other.exclusive_group = Some("entry".into());
        assert_eq!(
            codes(check_eligibility(
                &claim("self_employment_entry", "2016-03-01"),
                &o,
                &window(),
                &[other]
            )),
            ["mutually_exclusive"]
        );

        let plain = outcome("x", 100);
        assert_eq!(
            codes(check_eligibility(
                &claim("x", "2015-12-31"),
                &plain,
                &window(),
                &[]
            )),
            ["outside_service_period"]
        );
        let mut w = window();
        w.referral_cutoff = Some("2017-01-01".parse().unwrap());
        assert_eq!(
            codes(check_eligibility(
                &claim("x", "2017-06-01"),
                &plain,
                &w,
                &[]
            )),
            ["referral_date_required"]
        );
        let mut late = claim("x", "2017-06-01");
        late.referred_on = Some("2017-02-01".parse().unwrap());
        assert_eq!(
            codes(check_eligibility(&late, &plain, &w, &[])),
            ["referred_after_cutoff"]
        );

        let mut adult = outcome("employment_13w", 260_000);
        adult.min_age_at_start = Some(18);
        assert_eq!(
            codes(check_eligibility(
                &claim("employment_13w", "2016-03-01"),
                &adult,
                &window(),
                &[]
            )),
            ["age_required"]
        );
        let mut young = claim("employment_13w", "2016-03-01");
        young.age_at_start = Some(16);
        assert_eq!(
            codes(check_eligibility(&young, &adult, &window(), &[])),
            ["age_not_eligible"]
        );
    }

    #[test]
    fn time_units_cannot_overlap_or_exceed_the_maximum() {
        let mut o = outcome("week_out_of_care", 65_000);
        o.unit = OutcomeUnit::Week;
        o.max_units_per_participant = Some(104);
        let mut c = claim("week_out_of_care", "2016-01-28");
        c.quantity = Some(4);
        let accepted = check_eligibility(&c, &o, &window(), &[]).unwrap();
        assert_eq!(accepted.period_start, "2016-01-01".parse().unwrap());
        let earlier = PriorClaim {
            outcome_code: "week_out_of_care".into(),
            exclusive_group: None,
            achieved_on: "2016-01-14".parse().unwrap(),
            period_start: "2016-01-01".parse().unwrap(),
            quantity: 2,
            verified: true,
        };
        assert_eq!(
            codes(check_eligibility(
                &c,
                &o,
                &window(),
                std::slice::from_ref(&earlier)
            )),
            ["overlapping_period"]
        );
        let mut later = claim("week_out_of_care", "2018-01-04");
        later.quantity = Some(103);
        assert_eq!(
            codes(check_eligibility(&later, &o, &window(), &[earlier])),
            ["max_units"]
        );
    }

    mod at_the_bounds {
        use super::*;
        use crate::domain::money::Currency;
        use crate::domain::split::CapPolicy;
        use crate::domain::split::{share_weights, split, PayerShareTerms};
        use proptest::prelude::*;

        fn currency() -> impl Strategy<Value = Currency> {
            prop_oneof![Just("GBP"), Just("JPY"), Just("KWD")]
                .prop_map(|code| Currency::parse(code).unwrap())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            /// Any price and quantity the edge accepts is either priced exactly, split to the
            /// penny within every payer's cap, or refused with a reason: never wrapped.
            #[test]
            fn pricing_and_split_never_overflow(
                currency in currency(),
                price_seed in any::<u64>(),
                quantity in prop_oneof![1..=MAX_QUANTITY, (MAX_QUANTITY - 5)..=MAX_QUANTITY],
                deadweight_ppm in prop::option::of(0i64..1_000_000),
                volume_cap in prop::option::of(1i32..=20_000),
                units_used in 0i64..=20_000,
                caps in prop::option::of((any::<u64>(), any::<u64>())),
                paid_seed in (any::<u64>(), any::<u64>()),
                maxes_seed in prop::collection::vec(any::<u64>(), 1..5),
                reallocate in any::<bool>(),
            ) {
                let max = currency.max_minor();
                let pick = |seed: u64| 1 + (seed % max as u64) as i64;
                let mut rule = outcome("week_out_of_care", pick(price_seed));
                if price_seed % 3 == 0 {
                    rule.price_minor = Minor(max);
                }
                rule.unit = OutcomeUnit::Week;
                rule.deadweight = deadweight_ppm.map(|d| Decimal::new(d, 6));
                rule.volume_cap = volume_cap;
                let paid = PaidSoFar {
                    outcome_units: units_used,
                    participant_minor: Minor(pick(paid_seed.0) - 1),
                    project_minor: Minor(pick(paid_seed.1) - 1),
                };
                let (participant_cap, contract_cap) = match caps {
                    Some((a, b)) => (Some(Minor(pick(a))), Some(Minor(pick(b)))),
                    None => (None, None),
                };
                let priced = price_claim(&rule, quantity, participant_cap, contract_cap, paid, |m| m.to_string());
                let fits = i128::from(rule.price_minor.get()) * i128::from(quantity) <= i128::from(i64::MAX);
                let pricing = match priced {
                    Err(reason) => {
                        prop_assert!(!fits, "refused a claim that fits: {reason:?}");
                        prop_assert_eq!(reason.code, "amount_out_of_range");
                        return Ok(());
                    }
                    Ok(p) => p,
                };
                prop_assert!(fits);
                prop_assert!(pricing.explains_itself());
                prop_assert!(pricing.payable_minor <= pricing.gross_minor);
                if let Some(cap) = participant_cap {
                    prop_assert!(pricing.payable_minor <= (cap - paid.participant_minor).max(Minor::ZERO));
                }

                let payers: Vec<PayerShareTerms> = maxes_seed
                    .iter()
                    .map(|m| PayerShareTerms {
                        max_commitment_minor: Minor(pick(*m)),
                        share: None,
                        phases: vec![],
                        home_area_codes: vec![],
                    })
                    .collect();
                let weights = share_weights(&payers, "2020-01-01".parse().unwrap(), None).unwrap();
                let headroom: Vec<Minor> = payers.iter().map(|p| Minor(p.max_commitment_minor.get() / 2)).collect();
                let policy = if reallocate { CapPolicy::Reallocate } else { CapPolicy::Shortfall };
                let parts = split(pricing.payable_minor, &weights, &headroom, policy);
                let placed: i128 = parts.iter().map(|p| i128::from(p.allocated.get()) + i128::from(p.shortfall.get())).sum();
                prop_assert_eq!(placed, i128::from(pricing.payable_minor.get()));
                for (part, room) in parts.iter().zip(&headroom) {
                    prop_assert!(part.allocated >= Minor::ZERO && part.shortfall >= Minor::ZERO);
                    prop_assert!(part.allocated <= *room);
                }
            }
        }
    }
}
