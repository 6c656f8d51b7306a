//! The registry's inputs and the rules that make them valid: organisations, funds, projects
//! with their payers and rate cards. Pure: whatever these rules need from storage arrives as
//! [`ProjectFacts`].

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::limits;
use super::money::{Currency, MoneyJson};
use super::shares::{parse_share, sums_to_one};
use super::split::{phase_schedule_gap, CapPolicy, Phases};
use super::FieldError;

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

/// An organisation to register.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Herefordshire Council",
    "kind": "local_authority",
    "identifier": "GB-LAE-HEF",
    "area_codes": ["E06000019"],
    "billing_emails": ["accounts.payable@herefordshire.example"]
}))]
pub struct NewOrganisation {
    /// Its name as documents show it, 1 to 300 characters (trimmed).
    #[schema(min_length = 1, max_length = 300)]
    pub name: String,
    /// What kind of body it is; decides which roles its tokens may take.
    pub kind: OrganisationKind,
    /// org-id style identifier, e.g. `GB-COH-09506232` or `GB-LAE-WOR`.
    pub identifier: Option<String>,
    /// Area codes (e.g. ONS local authority codes) this organisation covers.
    #[serde(default)]
    pub area_codes: Vec<String>,
    /// Personal data: shown only to administrators and the organisation itself, never published.
    #[serde(default)]
    pub billing_emails: Vec<String>,
}

/// A central outcomes fund to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Work and Health Outcomes Fund",
    "owner_organisation_id": "org_019cadd1a6a070088e242d1d87a6e39b",
    "budget": {"amount": "20000000.00", "currency": "GBP"},
    "service_start": "2026-04-01",
    "service_end": "2031-03-31"
}))]
pub struct NewFund {
    /// The fund's name, 1 to 300 characters (trimmed).
    #[schema(min_length = 1, max_length = 300)]
    pub name: String,
    /// The `central_fund` organisation (`org_…`) that owns and manages the fund.
    pub owner_organisation_id: String,
    /// The fund's whole budget, more than zero; its currency is the fund's currency.
    pub budget: MoneyJson,
    /// First day of the fund's service period.
    #[serde(deserialize_with = "limits::date")]
    pub service_start: NaiveDate,
    /// Last day of the fund's service period (inclusive), not before `service_start`.
    #[serde(deserialize_with = "limits::date")]
    pub service_end: NaiveDate,
}

/// A project to create, with its payers, share schedule, rate card and validators.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Reconnections",
    "fund_id": "fund_019cadffee48765c8722f23a4f14560c",
    "provider_organisation_id": "org_019cadd4ac107171b49ad4b4d1357fbc",
    "service_start": "2026-04-01",
    "service_end": "2029-03-31",
    "referral_cutoff": "2028-09-30",
    "max_outcome_payment": {"amount": "1500000.00", "currency": "GBP"},
    "participant_cap": {"amount": "3000.00", "currency": "GBP"},
    "cap_policy": "shortfall",
    "settlement_route": "direct",
    "settlement_frequency": "quarterly",
    "payment_terms_days": 30,
    "payers": [
        {
            "organisation_id": "org_019cadd1a6a070088e242d1d87a6e39b",
            "role": "central_top_up",
            "max_commitment": {"amount": "450000.00", "currency": "GBP"},
            "share": "0.3"
        },
        {
            "organisation_id": "org_019cadd31da07460a287edcaad404949",
            "role": "local_commissioner",
            "max_commitment": {"amount": "1050000.00", "currency": "GBP"},
            "share": "0.7",
            "lead": true
        }
    ],
    "outcomes": [
        {
            "code": "ENGAGED",
            "name": "Engaged with a work coach",
            "price": {"amount": "400.00", "currency": "GBP"},
            "unit": "achievement"
        },
        {
            "code": "EMPLOYED_13W",
            "name": "13 weeks in paid work",
            "price": {"amount": "2600.00", "currency": "GBP"},
            "unit": "achievement",
            "requires": {"outcome_code": "ENGAGED", "min_days_after": 91},
            "deadweight": "0.1"
        }
    ],
    "validator_organisation_ids": ["org_019cadd607b87ff0862cc2541976b942"],
    "published": true,
    "policy_sector": "Employment and training",
    "target_population": "Adults out of work for a year or more",
    "stage_development": "Implementation",
    "social_challenge": "Long-term unemployment"
}))]
pub struct NewProject {
    /// The project's name, 1 to 300 characters (trimmed).
    #[schema(min_length = 1, max_length = 300)]
    pub name: String,
    /// The central outcomes fund that tops this project up, if any.
    pub fund_id: Option<String>,
    /// The organisation (`org_…`, of kind `provider`, `intermediary` or `other`) that delivers
    /// the service and submits claims; it may not also be a payer or validator.
    pub provider_organisation_id: String,
    /// From 1900-01-01 to 2199-12-31, like every date.
    #[serde(deserialize_with = "limits::date")]
    pub service_start: NaiveDate,
    /// Last day of the service period (inclusive); not after the end of the project's fund.
    #[serde(deserialize_with = "limits::date")]
    pub service_end: NaiveDate,
    /// Last date on which a participant may be referred.
    #[serde(default, deserialize_with = "limits::optional_date")]
    pub referral_cutoff: Option<NaiveDate>,
    /// The contract cap: the project's maximum outcome payment.
    pub max_outcome_payment: Option<MoneyJson>,
    /// The most that may be paid for any one participant.
    pub participant_cap: Option<MoneyJson>,
    /// What happens to the part a capped payer cannot pay (default `shortfall`).
    #[serde(default = "default_cap_policy")]
    pub cap_policy: CapPolicy,
    /// Who invoices whom (default `direct`); `via_commissioner` needs one payer marked `lead`.
    #[serde(default = "default_settlement_route")]
    pub settlement_route: SettlementRoute,
    /// How often settlement documents are built (default `quarterly`).
    #[serde(default = "default_settlement_frequency")]
    pub settlement_frequency: SettlementFrequency,
    /// Days after its issue date that a settlement document is due, 0 to 365 (default 30).
    #[serde(default = "default_payment_terms_days")]
    #[schema(minimum = 0, maximum = 365)]
    pub payment_terms_days: u16,
    /// Who pays for the outcomes: at least one, each organisation once.
    pub payers: Vec<NewPayer>,
    /// The rate card: at least one outcome, each code once.
    pub outcomes: Vec<NewOutcome>,
    /// Organisations that may verify or reject this project's claims.
    #[serde(default)]
    pub validator_organisation_ids: Vec<String>,
    /// Whether the project is included in the published open data (default false).
    #[serde(default)]
    pub published: bool,
    /// INDIGO `policy_sector`.
    pub policy_sector: Option<String>,
    /// INDIGO `target_population`.
    pub target_population: Option<String>,
    /// INDIGO `stage_development`.
    pub stage_development: Option<String>,
    /// INDIGO `social_challenge`: the problem the project addresses.
    pub social_challenge: Option<String>,
}

fn default_cap_policy() -> CapPolicy {
    CapPolicy::Shortfall
}
fn default_settlement_route() -> SettlementRoute {
    SettlementRoute::Direct
}
/// Most days of payment terms a project may set.
pub const MAX_PAYMENT_TERMS_DAYS: u16 = 365;

fn default_payment_terms_days() -> u16 {
    30
}

fn default_settlement_frequency() -> SettlementFrequency {
    SettlementFrequency::Quarterly
}

/// One payer of a new project.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "organisation_id": "org_019cadd31da07460a287edcaad404949",
    "role": "local_commissioner",
    "max_commitment": {"amount": "1050000.00", "currency": "GBP"},
    "share": "0.7",
    "lead": true
}))]
pub struct NewPayer {
    /// The organisation (`org_…`) that pays this share: not of kind `provider`, and not the
    /// project's provider.
    pub organisation_id: String,
    /// Its part on the project; a `central_top_up` payer pays from a fund its organisation owns.
    pub role: PayerRole,
    /// The most this payer pays across the project (its cap): more than zero, in the project's
    /// currency.
    pub max_commitment: MoneyJson,
    /// Fixed share such as "0.15"; when no payer gives one, shares are pro rata to
    /// `max_commitment`.
    pub share: Option<String>,
    /// Shares for date ranges, replacing `share` on the days they cover; none by default.
    #[serde(default)]
    pub phases: Vec<NewPhase>,
    /// This payer takes the local part for participants whose home area is listed here.
    #[serde(default)]
    pub home_area_codes: Vec<String>,
    /// The commissioner that fronts the central share under `via_commissioner`.
    #[serde(default)]
    pub lead: bool,
    /// For a `central_top_up` payer, the fund it pays from (default: the project's fund). A
    /// project may draw top-up from several central funds, each owned by its payer.
    pub fund_id: Option<String>,
}

/// A share that applies from one date to another, both inclusive.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from": "2026-04-01", "to": "2027-03-31", "share": "0.5"}))]
pub struct NewPhase {
    /// First day the share applies (inclusive).
    #[serde(deserialize_with = "limits::date")]
    pub from: NaiveDate,
    /// Last day the share applies (inclusive), not before `from`.
    #[serde(deserialize_with = "limits::date")]
    pub to: NaiveDate,
    /// The payer's share on those days, a decimal string such as "0.5"; the shares in force on
    /// any day sum to 1.
    pub share: String,
}

/// One outcome of a project's rate card.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "code": "EMPLOYED_13W",
    "name": "13 weeks in paid work",
    "price": {"amount": "2600.00", "currency": "GBP"},
    "unit": "achievement",
    "requires": {"outcome_code": "ENGAGED", "min_days_after": 91},
    "deadweight": "0.1"
}))]
pub struct NewOutcome {
    /// Its code, unique within the project, used in claims (`EMPLOYED_13W`).
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_.-]+$")]
    pub code: String,
    /// Its name, 1 to 300 characters (trimmed).
    #[schema(min_length = 1, max_length = 300)]
    pub name: String,
    /// Price per unit.
    pub price: MoneyJson,
    /// What one unit is: an achievement, or a week or day of a time-based outcome.
    pub unit: OutcomeUnit,
    /// 1 to 10,000.
    #[schema(minimum = 1, maximum = 10000)]
    pub max_units_per_participant: Option<i32>,
    /// How many times one participant may be paid this outcome (default 1; at most 1,000).
    #[schema(minimum = 1, maximum = 1000)]
    pub max_claims_per_participant: Option<i32>,
    /// Outcomes sharing a group are mutually exclusive for one participant.
    pub exclusive_group: Option<String>,
    /// An outcome the participant must have achieved first (and verified before this one is),
    /// if any; prerequisites may not form a cycle.
    pub requires: Option<Requirement>,
    /// Most achievements (or units, for time units) paid across the project (at most
    /// 100,000,000).
    #[schema(minimum = 1, maximum = 100000000)]
    pub volume_cap: Option<i32>,
    /// Fraction deducted from the price, e.g. "0.33".
    pub deadweight: Option<String>,
    /// Youngest age at start (0 to 130) that is paid, if limited; claims must then give
    /// `age_at_start`.
    pub min_age_at_start: Option<i32>,
    /// Oldest age at start (0 to 130) that is paid, if limited; claims must then give
    /// `age_at_start`.
    pub max_age_at_start: Option<i32>,
}

/// An outcome's prerequisite: another outcome of the same project.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"outcome_code": "ENGAGED", "min_days_after": 91}))]
pub struct Requirement {
    /// Code of the outcome that must come first; another outcome of the same rate card.
    pub outcome_code: String,
    /// Days that must have passed since the required outcome was achieved (0 to 36,525).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 36525)]
    pub min_days_after: i32,
}

// ---------------------------------------------------------------------------------------------
// Validation

/// A valid organisation, ready to store.
#[derive(Debug, Clone)]
pub struct OrganisationPlan {
    pub name: String,
    pub kind: OrganisationKind,
    pub identifier: Option<String>,
    pub area_codes: Vec<String>,
    pub billing_emails: Vec<String>,
}

pub fn validate_organisation(input: NewOrganisation) -> Result<OrganisationPlan, Vec<FieldError>> {
    let mut errors = Vec::new();
    check_name(&mut errors, "name", &input.name);
    if let Some(identifier) = &input.identifier {
        check_identifier(&mut errors, identifier);
    }
    check_codes(&mut errors, "area_codes", &input.area_codes);
    check_billing_emails(&mut errors, &input.billing_emails);
    finish(errors, || OrganisationPlan {
        name: input.name.trim().to_owned(),
        kind: input.kind,
        identifier: input.identifier,
        area_codes: input.area_codes,
        billing_emails: input.billing_emails,
    })
}

/// An organisation's identifier must be org-id.
pub(crate) fn check_identifier(errors: &mut Vec<FieldError>, identifier: &str) {
    if !is_org_id(identifier) {
        errors.push(FieldError::new(
            "identifier",
            format!("'{identifier}' is not an org-id identifier such as GB-COH-09506232"),
        ));
    }
}

/// Billing addresses: each an email address, none twice.
pub(crate) fn check_billing_emails(errors: &mut Vec<FieldError>, emails: &[String]) {
    let mut seen = HashSet::new();
    for (i, email) in emails.iter().enumerate() {
        if email.parse::<lettre::Address>().is_err() {
            errors.push(FieldError::new(
                format!("billing_emails[{i}]"),
                format!("'{email}' is not an email address"),
            ));
        } else if !seen.insert(email.to_lowercase()) {
            errors.push(FieldError::new(
                format!("billing_emails[{i}]"),
                "listed twice",
            ));
        }
    }
}

/// An org-id identifier: a list prefix such as `GB-COH` and a non-empty identifier.
fn is_org_id(identifier: &str) -> bool {
    let mut parts = identifier.splitn(3, '-');
    let (Some(country), Some(list), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    country.len() == 2
        && country.chars().all(|c| c.is_ascii_uppercase())
        && !list.is_empty()
        && list
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && !id.is_empty()
        && id.len() <= 100
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

#[derive(Debug, Clone)]
pub struct FundPlan {
    pub name: String,
    pub owner_organisation_id: String,
    pub currency: Currency,
    pub budget_minor: i64,
    pub service_start: NaiveDate,
    pub service_end: NaiveDate,
}

/// `owner_kind` is the kind of the owning organisation, `None` when it does not exist.
pub fn validate_fund(
    input: NewFund,
    owner_kind: Option<OrganisationKind>,
) -> Result<FundPlan, Vec<FieldError>> {
    let mut errors = Vec::new();
    check_name(&mut errors, "name", &input.name);
    match owner_kind {
        None => errors.push(FieldError::new(
            "owner_organisation_id",
            "no such organisation",
        )),
        Some(OrganisationKind::CentralFund) => {}
        Some(kind) => errors.push(FieldError::new(
            "owner_organisation_id",
            format!(
                "a fund is owned by a central_fund organisation, not a {}",
                kind.as_str()
            ),
        )),
    }
    let budget = collect(&mut errors, input.budget.to_money("budget"));
    if let Some(budget) = budget {
        if budget.minor <= 0 {
            errors.push(FieldError::new("budget.amount", "must be more than zero"));
        }
    }
    check_dates(
        &mut errors,
        "service_end",
        input.service_start,
        input.service_end,
    );
    finish(errors, || {
        let budget = budget.expect("checked above");
        FundPlan {
            name: input.name.trim().to_owned(),
            owner_organisation_id: input.owner_organisation_id,
            currency: budget.currency,
            budget_minor: budget.minor,
            service_start: input.service_start,
            service_end: input.service_end,
        }
    })
}

/// What project validation needs to know from storage.
#[derive(Debug, Clone, Default)]
pub struct ProjectFacts {
    /// Kind of every organisation the request names that exists.
    pub organisations: HashMap<String, OrganisationKind>,
    pub fund: Option<FundFacts>,
    /// Every fund the project or its payers name that exists, by id.
    pub funds: HashMap<String, FundFacts>,
}

#[derive(Debug, Clone)]
pub struct FundFacts {
    pub owner_organisation_id: String,
    pub currency: String,
    pub budget_minor: i64,
    /// Top-up already committed to other projects of this fund.
    pub committed_minor: i64,
    pub service_end: NaiveDate,
}

#[derive(Debug, Clone)]
pub struct ProjectPlan {
    pub name: String,
    pub fund_id: Option<String>,
    pub provider_organisation_id: String,
    pub currency: Currency,
    pub service_start: NaiveDate,
    pub service_end: NaiveDate,
    pub referral_cutoff: Option<NaiveDate>,
    pub max_outcome_payment_minor: Option<i64>,
    pub participant_cap_minor: Option<i64>,
    pub cap_policy: CapPolicy,
    pub settlement_route: SettlementRoute,
    pub settlement_frequency: SettlementFrequency,
    pub payment_terms_days: u16,
    pub payers: Vec<PayerPlan>,
    pub outcomes: Vec<OutcomePlan>,
    pub validator_organisation_ids: Vec<String>,
    pub published: bool,
    pub policy_sector: Option<String>,
    pub target_population: Option<String>,
    pub stage_development: Option<String>,
    pub social_challenge: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PayerPlan {
    pub organisation_id: String,
    pub role: PayerRole,
    pub max_commitment_minor: i64,
    pub share: Option<Decimal>,
    pub phases: Vec<PhasePlan>,
    pub home_area_codes: Vec<String>,
    pub lead: bool,
    /// The fund a central top-up pays from (resolved: its own or the project's).
    pub fund_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PhasePlan {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub share: Decimal,
}

#[derive(Debug, Clone)]
pub struct OutcomePlan {
    pub code: String,
    pub name: String,
    pub price_minor: i64,
    pub unit: OutcomeUnit,
    pub max_units_per_participant: Option<i32>,
    pub max_claims_per_participant: i32,
    pub exclusive_group: Option<String>,
    pub requires: Option<Requirement>,
    pub volume_cap: Option<i32>,
    pub deadweight: Option<Decimal>,
    pub min_age_at_start: Option<i32>,
    pub max_age_at_start: Option<i32>,
}

impl ProjectPlan {
    /// The top-up this project commits against each fund's budget: what the `central_top_up`
    /// payers paying from that fund may pay at most.
    pub fn top_up_by_fund(&self) -> std::collections::BTreeMap<&str, i64> {
        let mut committed = std::collections::BTreeMap::new();
        for payer in &self.payers {
            if let (PayerRole::CentralTopUp, Some(fund)) = (payer.role, &payer.fund_id) {
                *committed.entry(fund.as_str()).or_insert(0i64) += payer.max_commitment_minor;
            }
        }
        committed
    }
}

pub fn validate_project(
    input: NewProject,
    facts: &ProjectFacts,
) -> Result<ProjectPlan, Vec<FieldError>> {
    let mut errors = Vec::new();
    check_name(&mut errors, "name", &input.name);
    check_dates(
        &mut errors,
        "service_end",
        input.service_start,
        input.service_end,
    );
    if let Some(cutoff) = input.referral_cutoff {
        if cutoff > input.service_end {
            errors.push(FieldError::new("referral_cutoff", "is after service_end"));
        }
    }
    check_provider(&mut errors, &input, facts);

    // One currency per project: the first money field names it, every other must agree.
    let mut amounts = OneCurrency::default();
    let max_outcome_payment_minor = input
        .max_outcome_payment
        .as_ref()
        .and_then(|m| amounts.positive_minor(&mut errors, "max_outcome_payment", m));
    let participant_cap_minor = input
        .participant_cap
        .as_ref()
        .and_then(|m| amounts.positive_minor(&mut errors, "participant_cap", m));
    let payers = validate_payers(&mut errors, &input, facts, &mut amounts);
    check_fund(&mut errors, &input, facts, amounts.currency);
    let outcomes = validate_outcomes(&mut errors, &input, &mut amounts);
    check_validators(&mut errors, &input, facts);
    if input.payment_terms_days > MAX_PAYMENT_TERMS_DAYS {
        errors.push(FieldError::new(
            "payment_terms_days",
            format!("must be from 0 to {MAX_PAYMENT_TERMS_DAYS} days"),
        ));
    }
    let currency = amounts.currency;

    let plan = || ProjectPlan {
        name: input.name.trim().to_owned(),
        fund_id: input.fund_id.clone(),
        provider_organisation_id: input.provider_organisation_id.clone(),
        currency: currency.expect("every project has money fields, each checked"),
        service_start: input.service_start,
        service_end: input.service_end,
        referral_cutoff: input.referral_cutoff,
        max_outcome_payment_minor,
        participant_cap_minor,
        cap_policy: input.cap_policy,
        settlement_route: input.settlement_route,
        settlement_frequency: input.settlement_frequency,
        payment_terms_days: input.payment_terms_days,
        payers: payers.clone(),
        outcomes: outcomes.clone(),
        validator_organisation_ids: input.validator_organisation_ids.clone(),
        published: input.published,
        policy_sector: input.policy_sector.clone(),
        target_population: input.target_population.clone(),
        stage_development: input.stage_development.clone(),
        social_challenge: input.social_challenge.clone(),
    };
    if errors.is_empty() {
        let plan = plan();
        for (fund_id, commitment) in plan.top_up_by_fund() {
            if let Some(fund) = facts.funds.get(fund_id) {
                check_fund_headroom(fund, commitment).map_err(|e| vec![e])?;
            }
        }
        return Ok(plan);
    }
    finish(errors, plan)
}

fn check_provider(errors: &mut Vec<FieldError>, input: &NewProject, facts: &ProjectFacts) {
    match facts
        .organisations
        .get(&input.provider_organisation_id)
        .copied()
    {
        None => errors.push(FieldError::new(
            "provider_organisation_id",
            "no such organisation",
        )),
        Some(
            OrganisationKind::Provider | OrganisationKind::Intermediary | OrganisationKind::Other,
        ) => {}
        Some(kind) => errors.push(FieldError::new(
            "provider_organisation_id",
            format!(
                "a {} organisation cannot be a project's provider",
                kind.as_str()
            ),
        )),
    }
}

/// Each payer, then what concerns them together: unique organisations and home areas, a
/// share schedule that sums to one, and the lead.
fn validate_payers(
    errors: &mut Vec<FieldError>,
    input: &NewProject,
    facts: &ProjectFacts,
    amounts: &mut OneCurrency,
) -> Vec<PayerPlan> {
    let mut payers = Vec::new();
    if input.payers.is_empty() {
        errors.push(FieldError::new(
            "payers",
            "a project needs at least one payer",
        ));
    }
    let mut seen_orgs = HashSet::new();
    let mut area_owner: HashMap<&str, usize> = HashMap::new();
    for (i, payer) in input.payers.iter().enumerate() {
        if payer.organisation_id == input.provider_organisation_id {
            // It would decide, as a payer, the claims it submitted as the provider.
            errors.push(FieldError::new(
                format!("payers[{i}].organisation_id"),
                "the project's provider cannot also pay for its outcomes",
            ));
        }
        if !seen_orgs.insert(payer.organisation_id.as_str()) {
            errors.push(FieldError::new(
                format!("payers[{i}].organisation_id"),
                "this organisation is listed twice",
            ));
        }
        for code in &payer.home_area_codes {
            if let Some(other) = area_owner.insert(code.as_str(), i) {
                if other != i {
                    errors.push(FieldError::new(
                        format!("payers[{i}].home_area_codes"),
                        format!("area {code} is already the home area of payers[{other}]"),
                    ));
                }
            }
        }
        payers.push(validate_payer(errors, i, payer, input, facts, amounts));
    }
    check_share_schedule(errors, input, &payers);
    let leads = payers.iter().filter(|p| p.lead).count();
    match (input.settlement_route, leads) {
        (SettlementRoute::ViaCommissioner, 0) => errors.push(FieldError::new(
            "payers",
            "settlement via_commissioner needs one payer marked lead",
        )),
        (_, n) if n > 1 => errors.push(FieldError::new("payers", "only one payer can be lead")),
        _ => {}
    }

    payers
}

fn validate_payer(
    errors: &mut Vec<FieldError>,
    i: usize,
    payer: &NewPayer,
    input: &NewProject,
    facts: &ProjectFacts,
    amounts: &mut OneCurrency,
) -> PayerPlan {
    let at = |f: &str| format!("payers[{i}].{f}");
    match facts.organisations.get(&payer.organisation_id).copied() {
        None => errors.push(FieldError::new(
            at("organisation_id"),
            "no such organisation",
        )),
        Some(OrganisationKind::Provider) => errors.push(FieldError::new(
            at("organisation_id"),
            "a provider cannot be an outcome payer",
        )),
        Some(_) => {}
    }
    let max = amounts.positive_minor(errors, &at("max_commitment"), &payer.max_commitment);
    let share = payer.share.as_deref().and_then(|raw| {
        collect(
            errors,
            parse_share(raw).map_err(|e| FieldError::new(at("share"), e)),
        )
    });
    let phases = validate_phases(errors, i, payer);
    check_codes(errors, &at("home_area_codes"), &payer.home_area_codes);
    if payer.role == PayerRole::CentralTopUp {
        if !payer.home_area_codes.is_empty() {
            errors.push(FieldError::new(
                at("home_area_codes"),
                "the central top-up is not a home-area payer",
            ));
        }
        if payer.lead {
            errors.push(FieldError::new(
                at("lead"),
                "the lead must be a commissioner",
            ));
        }
    }
    let fund_id = top_up_fund(errors, i, payer, input, facts);
    PayerPlan {
        organisation_id: payer.organisation_id.clone(),
        role: payer.role,
        max_commitment_minor: max.unwrap_or(0),
        share,
        phases,
        home_area_codes: payer.home_area_codes.clone(),
        lead: payer.lead,
        fund_id,
    }
}

/// A payer's phases: each a share of the payer's part from one date to another, none
/// overlapping another.
fn validate_phases(errors: &mut Vec<FieldError>, i: usize, payer: &NewPayer) -> Vec<PhasePlan> {
    let mut phases = Vec::new();
    for (j, phase) in payer.phases.iter().enumerate() {
        let pat = |f: &str| format!("payers[{i}].phases[{j}].{f}");
        if phase.from > phase.to {
            errors.push(FieldError::new(pat("to"), "is before from"));
        }
        let share = collect(
            errors,
            parse_share(&phase.share).map_err(|e| FieldError::new(pat("share"), e)),
        );
        if let Some(share) = share {
            phases.push(PhasePlan {
                from: phase.from,
                to: phase.to,
                share,
            });
        }
    }
    let mut sorted: Vec<&PhasePlan> = phases.iter().collect();
    sorted.sort_by_key(|p| p.from);
    for pair in sorted.windows(2) {
        if pair[1].from <= pair[0].to {
            errors.push(FieldError::new(
                format!("payers[{i}].phases"),
                format!(
                    "the phases starting {} and {} overlap",
                    pair[0].from, pair[1].from
                ),
            ));
        }
    }
    phases
}

/// The fund a payer pays from: for a `central_top_up` payer its own `fund_id` or else the
/// project's, which must exist, be owned by the payer and pay in the project's currency for as
/// long as the project runs; no other payer names a fund.
fn top_up_fund(
    errors: &mut Vec<FieldError>,
    i: usize,
    payer: &NewPayer,
    input: &NewProject,
    facts: &ProjectFacts,
) -> Option<String> {
    let at = |f: &str| format!("payers[{i}].{f}");
    if payer.role != PayerRole::CentralTopUp {
        if payer.fund_id.is_some() {
            errors.push(FieldError::new(
                at("fund_id"),
                "only a central_top_up payer pays from a fund",
            ));
        }
        return None;
    }
    let Some(fund_id) = payer.fund_id.as_ref().or(input.fund_id.as_ref()) else {
        errors.push(FieldError::new(
            at("role"),
            "a central_top_up payer pays from a fund: give its fund_id or the project's",
        ));
        return None;
    };
    let Some(fund) = facts.funds.get(fund_id) else {
        errors.push(FieldError::new(at("fund_id"), "no such fund"));
        return None;
    };
    if fund.owner_organisation_id != payer.organisation_id {
        errors.push(FieldError::new(
            at("organisation_id"),
            "the central top-up must be paid by the organisation that owns its fund",
        ));
    }
    if payer.max_commitment.currency != fund.currency {
        errors.push(FieldError::new(
            at("fund_id"),
            format!(
                "the fund pays in {}, the payer in {}",
                fund.currency, payer.max_commitment.currency
            ),
        ));
    }
    if input.service_end > fund.service_end {
        errors.push(FieldError::new(
            at("fund_id"),
            format!(
                "the fund ends on {}, before the project does",
                fund.service_end
            ),
        ));
    }
    Some(fund_id.clone())
}

/// The project's fund: it exists, pays in the project's currency and lasts as long.
fn check_fund(
    errors: &mut Vec<FieldError>,
    input: &NewProject,
    facts: &ProjectFacts,
    currency: Option<Currency>,
) {
    if let (Some(fund_id), None) = (&input.fund_id, &facts.fund) {
        errors.push(FieldError::new(
            "fund_id",
            format!("no such fund '{fund_id}'"),
        ));
    }
    if let Some(fund) = &facts.fund {
        if let Some(c) = currency {
            if c.code() != fund.currency {
                errors.push(FieldError::new(
                    "fund_id",
                    format!("the fund pays in {}, the project in {c}", fund.currency),
                ));
            }
        }
        if input.service_end > fund.service_end {
            errors.push(FieldError::new(
                "service_end",
                format!("is after the fund's end date {}", fund.service_end),
            ));
        }
    }
}

/// The rate card: each outcome, and prerequisites that form no cycle.
fn validate_outcomes(
    errors: &mut Vec<FieldError>,
    input: &NewProject,
    amounts: &mut OneCurrency,
) -> Vec<OutcomePlan> {
    if input.outcomes.is_empty() {
        errors.push(FieldError::new(
            "outcomes",
            "a project needs at least one outcome",
        ));
    }
    let codes: HashSet<&str> = input.outcomes.iter().map(|o| o.code.as_str()).collect();
    let mut seen_codes = HashSet::new();
    let mut outcomes = Vec::new();
    for (i, outcome) in input.outcomes.iter().enumerate() {
        if !seen_codes.insert(outcome.code.as_str()) {
            errors.push(FieldError::new(
                format!("outcomes[{i}].code"),
                format!("code '{}' is used twice", outcome.code),
            ));
        }
        outcomes.push(validate_outcome(errors, i, outcome, &codes, amounts));
    }
    if let Some(cycle_at) = requirement_cycle(&input.outcomes) {
        errors.push(FieldError::new(
            format!("outcomes[{cycle_at}].requires"),
            "prerequisites form a cycle",
        ));
    }
    outcomes
}

fn validate_outcome(
    errors: &mut Vec<FieldError>,
    i: usize,
    outcome: &NewOutcome,
    codes: &HashSet<&str>,
    amounts: &mut OneCurrency,
) -> OutcomePlan {
    let at = |f: &str| format!("outcomes[{i}].{f}");
    check_code(errors, &at("code"), &outcome.code);
    check_name(errors, &at("name"), &outcome.name);
    let price = amounts.positive_minor(errors, &at("price"), &outcome.price);
    check_outcome_limits(errors, &at, outcome);
    if let Some(group) = &outcome.exclusive_group {
        check_code(errors, &at("exclusive_group"), group);
    }
    if let Some(requirement) = &outcome.requires {
        check_requirement(errors, &at, outcome, requirement, codes);
    }
    let deadweight = outcome
        .deadweight
        .as_deref()
        .and_then(|raw| collect(errors, parse_deadweight(raw, &at("deadweight"))));
    check_ages(errors, &at, outcome);
    OutcomePlan {
        code: outcome.code.clone(),
        name: outcome.name.trim().to_owned(),
        price_minor: price.unwrap_or(0),
        unit: outcome.unit,
        max_units_per_participant: outcome.max_units_per_participant,
        max_claims_per_participant: outcome.max_claims_per_participant.unwrap_or(1),
        exclusive_group: outcome.exclusive_group.clone(),
        requires: outcome.requires.clone(),
        volume_cap: outcome.volume_cap,
        deadweight,
        min_age_at_start: outcome.min_age_at_start,
        max_age_at_start: outcome.max_age_at_start,
    }
}

/// An outcome's per-participant and volume limits, each from 1 to its ceiling; a limit of
/// units applies to time units only.
fn check_outcome_limits(
    errors: &mut Vec<FieldError>,
    at: &dyn Fn(&str) -> String,
    outcome: &NewOutcome,
) {
    let limits = [
        (
            "max_units_per_participant",
            outcome.max_units_per_participant,
            limits::MAX_QUANTITY,
        ),
        (
            "max_claims_per_participant",
            outcome.max_claims_per_participant,
            limits::MAX_CLAIMS_PER_PARTICIPANT,
        ),
        ("volume_cap", outcome.volume_cap, limits::MAX_VOLUME_CAP),
    ];
    for (field, value, max) in limits {
        if matches!(value, Some(n) if !(1..=max).contains(&n)) {
            errors.push(FieldError::new(
                at(field),
                format!("must be from 1 to {max}"),
            ));
        }
    }
    if outcome.unit == OutcomeUnit::Achievement && outcome.max_units_per_participant.is_some() {
        errors.push(FieldError::new(
            at("max_units_per_participant"),
            "applies to time units (week, day) only",
        ));
    }
}

/// An outcome's prerequisite: another outcome of the project, at most so many days before.
fn check_requirement(
    errors: &mut Vec<FieldError>,
    at: &dyn Fn(&str) -> String,
    outcome: &NewOutcome,
    requirement: &Requirement,
    codes: &HashSet<&str>,
) {
    if requirement.outcome_code == outcome.code {
        errors.push(FieldError::new(
            at("requires.outcome_code"),
            "an outcome cannot require itself",
        ));
    } else if !codes.contains(requirement.outcome_code.as_str()) {
        errors.push(FieldError::new(
            at("requires.outcome_code"),
            format!("no outcome '{}' on this project", requirement.outcome_code),
        ));
    }
    if !(0..=limits::MAX_DAYS_AFTER).contains(&requirement.min_days_after) {
        errors.push(FieldError::new(
            at("requires.min_days_after"),
            format!("must be from 0 to {} days", limits::MAX_DAYS_AFTER),
        ));
    }
}

/// A deadweight: a share below 1 (a deadweight of 1 would pay nothing).
fn parse_deadweight(raw: &str, field: &str) -> Result<Decimal, FieldError> {
    let share = parse_share(raw).map_err(|e| FieldError::new(field, e))?;
    if share == Decimal::ONE {
        return Err(FieldError::new(
            field,
            "a deadweight of 1 would pay nothing",
        ));
    }
    Ok(share)
}

/// The ages at start an outcome is open to: each from 0 to 130, the least not above the most.
fn check_ages(errors: &mut Vec<FieldError>, at: &dyn Fn(&str) -> String, outcome: &NewOutcome) {
    for (field, age) in [
        ("min_age_at_start", outcome.min_age_at_start),
        ("max_age_at_start", outcome.max_age_at_start),
    ] {
        if matches!(age, Some(a) if !(0..=130).contains(&a)) {
            errors.push(FieldError::new(at(field), "must be an age from 0 to 130"));
        }
    }
    if let (Some(min), Some(max)) = (outcome.min_age_at_start, outcome.max_age_at_start) {
        if min > max {
            errors.push(FieldError::new(
                at("max_age_at_start"),
                "is below min_age_at_start",
            ));
        }
    }
}

fn check_validators(errors: &mut Vec<FieldError>, input: &NewProject, facts: &ProjectFacts) {
    let mut seen_validators = HashSet::new();
    for (i, id) in input.validator_organisation_ids.iter().enumerate() {
        if !facts.organisations.contains_key(id) {
            errors.push(FieldError::new(
                format!("validator_organisation_ids[{i}]"),
                "no such organisation",
            ));
        } else if id == &input.provider_organisation_id {
            errors.push(FieldError::new(
                format!("validator_organisation_ids[{i}]"),
                "the provider cannot validate its own claims",
            ));
        } else if !seen_validators.insert(id) {
            errors.push(FieldError::new(
                format!("validator_organisation_ids[{i}]"),
                "listed twice",
            ));
        }
    }
}

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

/// The fund's budget is never over-committed: the sum of top-up commitments across its
/// projects stays within it.
pub fn check_fund_headroom(fund: &FundFacts, new_commitment_minor: i64) -> Result<(), FieldError> {
    let total = fund.committed_minor.saturating_add(new_commitment_minor);
    if total > fund.budget_minor {
        let currency = &fund.currency;
        let fmt = |m| MoneyJson::from_minor(m, currency).amount;
        return Err(FieldError::new(
            "payers",
            format!(
                "the fund's budget is {} {currency} with {} already committed; this project's \
                 top-up of {} would exceed it by {}",
                fmt(fund.budget_minor),
                fmt(fund.committed_minor),
                fmt(new_commitment_minor),
                fmt(total - fund.budget_minor),
            ),
        ));
    }
    Ok(())
}

/// Shares are either all fixed or all pro rata, sum to exactly one, and on every date that a
/// phase covers, every payer has a phase and the phase shares sum to one.
fn check_share_schedule(errors: &mut Vec<FieldError>, input: &NewProject, payers: &[PayerPlan]) {
    let with_share = input.payers.iter().filter(|p| p.share.is_some()).count();
    if with_share > 0 && with_share < input.payers.len() {
        errors.push(FieldError::new(
            "payers",
            "give a share for every payer, or for none (shares are then pro rata to max_commitment)",
        ));
    } else if with_share > 0 && payers.iter().all(|p| p.share.is_some()) {
        // (A share that did not parse is already reported against its own field.)
        let shares: Vec<Decimal> = payers.iter().filter_map(|p| p.share).collect();
        if !sums_to_one(&shares) {
            let total: Decimal = shares.iter().sum();
            errors.push(FieldError::new(
                "payers",
                format!("shares must sum to exactly 1; they sum to {total}"),
            ));
        }
    }
    let phases: Vec<Vec<(NaiveDate, NaiveDate, Decimal)>> = payers
        .iter()
        .map(|p| {
            p.phases
                .iter()
                .map(|ph| (ph.from, ph.to, ph.share))
                .collect()
        })
        .collect();
    let phases: Vec<&Phases> = phases.iter().map(Vec::as_slice).collect();
    if let Some(gap) = phase_schedule_gap(&phases) {
        errors.push(FieldError::new("payers", gap.to_string()));
    }
}

/// Index of an outcome on a prerequisite cycle, if there is one.
fn requirement_cycle(outcomes: &[NewOutcome]) -> Option<usize> {
    let by_code: HashMap<&str, usize> = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| (o.code.as_str(), i))
        .collect();
    for start in 0..outcomes.len() {
        let mut at = start;
        for _ in 0..=outcomes.len() {
            match outcomes[at]
                .requires
                .as_ref()
                .and_then(|r| by_code.get(r.outcome_code.as_str()))
            {
                Some(&next) if next == start => return Some(start),
                Some(&next) => at = next,
                None => break,
            }
        }
    }
    None
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
