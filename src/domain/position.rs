//! A fund manager's view ahead of the budget: how close each cap is, when it will bind at
//! the pace of the last four quarters, and what a payment plan may hold (a plan as requested,
//! read and checked). Pure: the caller brings the amounts.

use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::ToSchema;

use super::money::{Minor, MoneyJson};
use super::period::Period;
use super::registry::SettlementFrequency;
use super::FieldError;

/// How close a total is to its cap.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CapWarning {
    /// At least 80 % of the cap is used.
    Near,
    /// The cap is reached: nothing more is paid by this payer.
    Reached,
}

/// Percentages at which a cap warns, compared exactly (no rounding).
pub const NEAR_PERCENT: i128 = 80;
pub const REACHED_PERCENT: i128 = 100;

/// The warning for `used` of `cap`, if any. A cap of zero is reached from the start.
pub fn cap_warning(used: Minor, cap: Minor) -> Option<CapWarning> {
    let (used, cap) = (i128::from(used.get()) * 100, i128::from(cap.get()));
    if used >= cap * REACHED_PERCENT {
        Some(CapWarning::Reached)
    } else if used >= cap * NEAR_PERCENT {
        Some(CapWarning::Near)
    } else {
        None
    }
}

/// The warning level a move from `before` to `after` (of `cap`) crosses into, if it crosses
/// one: what a notification is sent for.
pub fn crossed(before: Minor, after: Minor, cap: Minor) -> Option<CapWarning> {
    match (cap_warning(before, cap), cap_warning(after, cap)) {
        (b, Some(a)) if b < Some(a) => Some(a),
        _ => None,
    }
}

/// The quarter in which `headroom` runs out if payments go on at the average of the four
/// complete quarters before `current` (`trailing_four_quarters`, their sum), counting
/// `current` as the first quarter of the projection. `None` when nothing was paid in them
/// (there is no pace to project) or nothing is left.
pub fn projected_binding_quarter(
    headroom: Minor,
    trailing_four_quarters: Minor,
    current: Period,
) -> Option<Period> {
    let (headroom, trailing_four_quarters) = (headroom.get(), trailing_four_quarters.get());
    if headroom <= 0 || trailing_four_quarters <= 0 {
        return None;
    }
    // Quarters needed at a rate of trailing / 4 a quarter: ceil(headroom × 4 / trailing).
    let needed = (i128::from(headroom) * 4 + i128::from(trailing_four_quarters) - 1)
        / i128::from(trailing_four_quarters);
    let mut quarter = current;
    for _ in 1..needed.min(400) {
        quarter = quarter.next();
    }
    Some(quarter)
}

/// Quarters after the one in which the service ends that a plan may still expect payments
/// in: outcomes are claimed and verified in arrears (a job held 52 weeks from the service's
/// last day is verified a year later).
pub const PLAN_QUARTERS_AFTER_SERVICE: usize = 4;

/// What bounds a project's payment plan: its service period and the most it can ever pay.
pub struct PlanLimits {
    pub service_start: NaiveDate,
    pub service_end: NaiveDate,
    /// Each payer's maximum commitment.
    pub commitments: Vec<Minor>,
    /// The contract's maximum outcome payment, if it has one.
    pub contract_cap: Option<Minor>,
}

impl PlanLimits {
    /// The first and last quarters a plan may name.
    pub fn quarters(&self) -> (Period, Period) {
        let quarter = |day| Period::containing(day, SettlementFrequency::Quarterly);
        let mut last = quarter(self.service_end);
        for _ in 0..PLAN_QUARTERS_AFTER_SERVICE {
            last = last.next();
        }
        (quarter(self.service_start), last)
    }

    /// The most the project can pay: its payers' commitments together, and no more than the
    /// contract's maximum.
    pub fn most(&self) -> Minor {
        let committed = self.commitments.iter().sum::<Minor>();
        self.contract_cap
            .map_or(committed, |cap| cap.min(committed))
    }
}

/// What is wrong with a plan of `(quarter, planned)` against `limits`: each quarter outside
/// the service's quarters (and the tail after it), and a total above what the project can pay.
/// `money` writes an amount for a message.
pub fn plan_problems(
    quarters: &[(Period, Minor)],
    limits: &PlanLimits,
    money: impl Fn(Minor) -> String,
) -> Vec<FieldError> {
    let (first, last) = limits.quarters();
    let mut problems: Vec<FieldError> = quarters
        .iter()
        .enumerate()
        .filter(|(_, (q, _))| q.start() < first.start() || q.start() > last.start())
        .map(|(i, _)| {
            FieldError::new(
                format!("quarters[{i}].quarter"),
                format!("is outside the project's quarters: from {first}, when its service starts, to {last}, {PLAN_QUARTERS_AFTER_SERVICE} quarters after it ends"),
            )
        })
        .collect();
    let total: Minor = quarters.iter().map(|(_, planned)| planned).sum();
    if total > limits.most() {
        problems.push(FieldError::new(
            "quarters",
            format!(
                "the plan totals {}, more than the project can pay: {} (its payers' maximum commitments, within any contract cap)",
                money(total),
                money(limits.most())
            ),
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_at_eighty_and_a_hundred_percent_exactly() {
        assert_eq!(cap_warning(Minor(79_999), Minor(100_000)), None);
        assert_eq!(
            cap_warning(Minor(80_000), Minor(100_000)),
            Some(CapWarning::Near)
        );
        assert_eq!(
            cap_warning(Minor(99_999), Minor(100_000)),
            Some(CapWarning::Near)
        );
        assert_eq!(
            cap_warning(Minor(100_000), Minor(100_000)),
            Some(CapWarning::Reached)
        );
        assert_eq!(cap_warning(Minor(0), Minor(0)), Some(CapWarning::Reached));
        assert_eq!(
            crossed(Minor(79_000), Minor(81_000), Minor(100_000)),
            Some(CapWarning::Near)
        );
        assert_eq!(
            crossed(Minor(79_000), Minor(100_000), Minor(100_000)),
            Some(CapWarning::Reached)
        );
        assert_eq!(crossed(Minor(81_000), Minor(90_000), Minor(100_000)), None);
        assert_eq!(
            crossed(Minor(90_000), Minor(70_000), Minor(100_000)),
            None,
            "a reversal crosses nothing"
        );
        assert_eq!(
            crossed(Minor(i64::MAX - 1), Minor(i64::MAX), Minor(i64::MAX)),
            Some(CapWarning::Reached)
        );
    }

    #[test]
    fn a_cap_binds_where_the_last_four_quarters_pace_takes_it() {
        let q = Period::parse("2021-Q1").unwrap();
        // 40,000 over four quarters: 10,000 a quarter; 25,000 left binds in the third quarter
        // counting this one.
        assert_eq!(
            projected_binding_quarter(Minor(25_000), Minor(40_000), q),
            Period::parse("2021-Q3")
        );
        assert_eq!(
            projected_binding_quarter(Minor(30_000), Minor(40_000), q),
            Period::parse("2021-Q3")
        );
        assert_eq!(
            projected_binding_quarter(Minor(30_001), Minor(40_000), q),
            Period::parse("2021-Q4")
        );
        assert_eq!(
            projected_binding_quarter(Minor(1), Minor(40_000), q),
            Some(q)
        );
        assert_eq!(projected_binding_quarter(Minor(0), Minor(40_000), q), None);
        assert_eq!(projected_binding_quarter(Minor(1), Minor(0), q), None);
    }

    #[test]
    fn a_plan_stays_within_the_service_and_what_the_payers_committed() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let q = |s: &str| Period::parse(s).unwrap();
        let limits = PlanLimits {
            service_start: day("2021-02-01"),
            service_end: day("2022-12-31"),
            commitments: vec![Minor(60_000), Minor(40_000)],
            contract_cap: None,
        };
        let money = |minor: Minor| format!("{minor}");
        let fine = [(q("2021-Q1"), Minor(50_000)), (q("2023-Q4"), Minor(50_000))];
        assert!(plan_problems(&fine, &limits, money).is_empty());
        let outside = [(q("2020-Q4"), Minor(1)), (q("2024-Q1"), Minor(1))];
        let problems = plan_problems(&outside, &limits, money);
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["quarters[0].quarter", "quarters[1].quarter"]);
        let too_much = [(q("2021-Q1"), Minor(100_001))];
        assert_eq!(
            plan_problems(&too_much, &limits, money)[0].field,
            "quarters"
        );
        // A contract cap lower than the commitments bounds the plan instead.
        let capped = PlanLimits {
            contract_cap: Some(Minor(70_000)),
            ..limits
        };
        assert_eq!(capped.most(), Minor(70_000));
        assert_eq!(
            plan_problems(&[(q("2021-Q1"), Minor(70_001))], &capped, money).len(),
            1
        );
    }
}

/// One quarter of a payment plan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"quarter": "2026-Q3", "planned": {"amount": "36000.00", "currency": "GBP"}}))]
pub struct PlannedQuarter {
    /// The quarter, such as `2026-Q3`; each once in a plan.
    #[schema(example = "2026-Q3")]
    pub quarter: String,
    /// Outcome payments expected in the quarter, in the project's currency; not negative.
    pub planned: MoneyJson,
}

/// A project's whole payment plan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"quarters": [
    {"quarter": "2026-Q2", "planned": {"amount": "12000.00", "currency": "GBP"}},
    {"quarter": "2026-Q3", "planned": {"amount": "36000.00", "currency": "GBP"}},
    {"quarter": "2026-Q4", "planned": {"amount": "54000.00", "currency": "GBP"}},
    {"quarter": "2027-Q1", "planned": {"amount": "60000.00", "currency": "GBP"}}
]}))]
pub struct PaymentPlanRequest {
    /// The whole plan: it replaces the one before. At most 200 quarters, each once.
    pub quarters: Vec<PlannedQuarter>,
}

/// The plan's quarters and planned amounts in the project's currency, or every field at fault.
pub fn parse_plan(
    request: &PaymentPlanRequest,
    currency: &str,
) -> Result<Vec<(Period, Minor)>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut quarters: Vec<(Period, Minor)> = Vec::new();
    for (i, q) in request.quarters.iter().enumerate() {
        let field = |name: &str| format!("quarters[{i}].{name}");
        let period =
            Period::parse(&q.quarter).filter(|p| p.frequency() == SettlementFrequency::Quarterly);
        match (period, q.planned.to_money(&field("planned"))) {
            (None, _) => errors.push(FieldError::new(
                field("quarter"),
                "is not a quarter such as 2021-Q1",
            )),
            (_, Err(e)) => errors.push(e),
            (Some(_), Ok(m)) if m.currency.code() != currency => errors.push(FieldError::new(
                field("planned.currency"),
                format!("the project pays in {currency}"),
            )),
            (Some(_), Ok(m)) if m.minor < 0 => errors.push(FieldError::new(
                field("planned.amount"),
                "a plan is not negative",
            )),
            (Some(p), Ok(_)) if quarters.iter().any(|(q, _)| *q == p) => {
                errors.push(FieldError::new(field("quarter"), "is planned twice"))
            }
            (Some(p), Ok(m)) => quarters.push((p, Minor(m.minor))),
        }
    }
    if errors.is_empty() {
        Ok(quarters)
    } else {
        Err(errors)
    }
}
