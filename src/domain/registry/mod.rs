//! The registry's inputs and the rules that make them valid, one aggregate per room:
//! `organisation`, `fund`, `project` (the rules across a project's parts), `payer` (roles,
//! shares, phases, home areas, the fund a top-up pays from) and `outcome` (the rate card).
//! The labels they share and the checks they have in common (names, codes, dates, one
//! currency) are here. Pure: whatever these rules need from storage arrives as
//! [`ProjectFacts`].

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ids::OrganisationId;
use super::limits;
use super::money::{Currency, Minor, MoneyJson};
use super::shares::{parse_share, sums_to_one};
use super::split::{phase_schedule_gap, CapPolicy, Phases};
use super::FieldError;

mod fund;
mod organisation;
mod outcome;
mod payer;
mod project;

pub use fund::{check_fund_headroom, validate_fund, FundFacts, FundPlan, NewFund};
pub(crate) use organisation::{check_billing_emails, check_identifier};
pub use organisation::{validate_organisation, NewOrganisation, OrganisationPlan};
use outcome::validate_outcomes;
pub use outcome::{NewOutcome, OutcomePlan, Requirement};
use payer::{check_fund, validate_payers};
pub use payer::{NewPayer, NewPhase, PayerPlan, PhasePlan};
use project::check_share_schedule;
pub use project::{
    validate_project, NewProject, ProjectFacts, ProjectPlan, MAX_PAYMENT_TERMS_DAYS,
};

string_enum!(
    /// What kind of body an organisation is: it decides which roles its tokens may take and
    /// what it may be on a project (a `provider` never pays; only a `central_fund` owns funds).
    OrganisationKind {
        CentralFund => "central_fund",
        LocalAuthority => "local_authority",
        NhsBody => "nhs_body",
        Provider => "provider",
        Investor => "investor",
        Intermediary => "intermediary",
        Validator => "validator",
        Other => "other",
    }
);

string_enum!(
    /// A payer's part on a project: `central_top_up` (pays from a central fund),
    /// `local_commissioner` or `co_commissioner`.
    PayerRole {
        CentralTopUp => "central_top_up",
        LocalCommissioner => "local_commissioner",
        CoCommissioner => "co_commissioner",
    }
);

string_enum!(
    /// Who invoices whom: `direct` (the provider invoices each payer for its own part) or
    /// `via_commissioner` (the provider invoices the lead, who claims the others' parts back).
    SettlementRoute { Direct => "direct", ViaCommissioner => "via_commissioner" }
);

string_enum!(
    /// How often a project's settlement documents are built: per quarter (`2026-Q3`) or per
    /// month (`2026-09`).
    SettlementFrequency { Quarterly => "quarterly", Monthly => "monthly" }
);

string_enum!(
    /// What one unit of an outcome is: a single `achievement`, or a `week` or `day` of a
    /// time-based outcome.
    OutcomeUnit { Achievement => "achievement", Week => "week", Day => "day" }
);

const MAX_NAME_LEN: usize = 300;

const MAX_CODE_LEN: usize = limits::MAX_CODE_CHARS;

/// Parses a project's money fields and holds them to the currency of the first.
#[derive(Default)]
struct OneCurrency {
    currency: Option<Currency>,
}

impl OneCurrency {
    fn positive_minor(
        &mut self,
        errors: &mut Vec<FieldError>,
        field: &str,
        value: &MoneyJson,
    ) -> Option<i64> {
        let parsed = collect(errors, value.to_money(field))?;
        match self.currency {
            None => self.currency = Some(parsed.currency),
            Some(c) if c != parsed.currency => {
                errors.push(FieldError::new(
                    format!("{field}.currency"),
                    format!("a project uses one currency: {c}, not {}", parsed.currency),
                ));
                return None;
            }
            Some(_) => {}
        }
        if parsed.minor <= 0 {
            errors.push(FieldError::new(
                format!("{field}.amount"),
                "must be more than zero",
            ));
            return None;
        }
        Some(parsed.minor)
    }
}

pub(crate) fn check_name(errors: &mut Vec<FieldError>, field: &str, name: &str) {
    if name.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if name.chars().count() > MAX_NAME_LEN {
        errors.push(FieldError::new(
            field,
            format!("is longer than {MAX_NAME_LEN} characters"),
        ));
    }
}

fn check_code(errors: &mut Vec<FieldError>, field: &str, code: &str) {
    let ok = !code.is_empty()
        && code.len() <= MAX_CODE_LEN
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        errors.push(FieldError::new(
            field,
            format!("'{code}' must be 1 to {MAX_CODE_LEN} letters, digits, '_', '-' or '.'"),
        ));
    }
}

fn check_codes(errors: &mut Vec<FieldError>, field: &str, codes: &[String]) {
    let mut seen = HashSet::new();
    for (i, code) in codes.iter().enumerate() {
        check_code(errors, &format!("{field}[{i}]"), code);
        if !seen.insert(code) {
            errors.push(FieldError::new(
                format!("{field}[{i}]"),
                format!("'{code}' is listed twice"),
            ));
        }
    }
}

fn check_dates(errors: &mut Vec<FieldError>, end_field: &str, start: NaiveDate, end: NaiveDate) {
    if end < start {
        errors.push(FieldError::new(
            end_field,
            format!("{end} is before the start date {start}"),
        ));
    }
}

fn collect<T>(errors: &mut Vec<FieldError>, result: Result<T, FieldError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

fn finish<T>(errors: Vec<FieldError>, ok: impl FnOnce() -> T) -> Result<T, Vec<FieldError>> {
    if errors.is_empty() {
        Ok(ok())
    } else {
        Err(errors)
    }
}
