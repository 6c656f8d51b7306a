//! A project to create, with the rules that hold across its payers, rate card and validators.

use super::*;
use crate::domain::ids::FundId;

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
pub struct ProjectPlan {
    pub name: String,
    pub fund_id: Option<FundId>,
    pub provider_organisation_id: OrganisationId,
    pub currency: Currency,
    pub service_start: NaiveDate,
    pub service_end: NaiveDate,
    pub referral_cutoff: Option<NaiveDate>,
    pub max_outcome_payment_minor: Option<Minor>,
    pub participant_cap_minor: Option<Minor>,
    pub cap_policy: CapPolicy,
    pub settlement_route: SettlementRoute,
    pub settlement_frequency: SettlementFrequency,
    pub payment_terms_days: u16,
    pub payers: Vec<PayerPlan>,
    pub outcomes: Vec<OutcomePlan>,
    pub validator_organisation_ids: Vec<OrganisationId>,
    pub published: bool,
    pub policy_sector: Option<String>,
    pub target_population: Option<String>,
    pub stage_development: Option<String>,
    pub social_challenge: Option<String>,
}

impl ProjectPlan {
    /// The top-up this project commits against each fund's budget: what the `central_top_up`
    /// payers paying from that fund may pay at most.
    pub fn top_up_by_fund(&self) -> std::collections::BTreeMap<&str, Minor> {
        let mut committed = std::collections::BTreeMap::new();
        for payer in &self.payers {
            if let (PayerRole::CentralTopUp, Some(fund)) = (payer.role, &payer.fund_id) {
                *committed.entry(fund.as_str()).or_insert(Minor::ZERO) +=
                    payer.max_commitment_minor;
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
        .and_then(|m| amounts.positive_minor(&mut errors, "max_outcome_payment", m))
        .map(Minor);
    let participant_cap_minor = input
        .participant_cap
        .as_ref()
        .and_then(|m| amounts.positive_minor(&mut errors, "participant_cap", m))
        .map(Minor);
    let payers = validate_payers(&mut errors, &input, facts, &mut amounts);
    check_fund(&mut errors, &input, facts, amounts.currency);
    let outcomes = validate_outcomes(&mut errors, &input, &mut amounts);
    check_validators(&mut errors, &input, facts);
    check_payment_terms(&mut errors, input.payment_terms_days);
    let currency = amounts.currency;

    let plan = || ProjectPlan {
        name: input.name.trim().to_owned(),
        fund_id: input.fund_id.clone().map(FundId::from),
        provider_organisation_id: OrganisationId::from(input.provider_organisation_id.clone()),
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
        validator_organisation_ids: input
            .validator_organisation_ids
            .clone()
            .into_iter()
            .map(OrganisationId::from)
            .collect(),
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

fn check_payment_terms(errors: &mut Vec<FieldError>, days: u16) {
    if days > MAX_PAYMENT_TERMS_DAYS {
        errors.push(FieldError::new(
            "payment_terms_days",
            format!("must be from 0 to {MAX_PAYMENT_TERMS_DAYS} days"),
        ));
    }
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

/// Shares are either all fixed or all pro rata, sum to exactly one, and on every date that a
/// phase covers, every payer has a phase and the phase shares sum to one.
pub(super) fn check_share_schedule(
    errors: &mut Vec<FieldError>,
    input: &NewProject,
    payers: &[PayerPlan],
) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A council and a second council paying a provider, no fund; `shares` each payer's.
    fn project(shares: [&str; 2], provider_pays: bool) -> (NewProject, ProjectFacts) {
        let second = if provider_pays {
            "org_provider"
        } else {
            "org_b"
        };
        let input = serde_json::from_value(serde_json::json!({
            "name": "Reconnections", "provider_organisation_id": "org_provider",
            "service_start": "2026-04-01", "service_end": "2029-03-31",
            "payers": [
                {"organisation_id": "org_a", "role": "local_commissioner", "lead": true,
                 "max_commitment": {"amount": "1000.00", "currency": "GBP"}, "share": shares[0]},
                {"organisation_id": second, "role": "co_commissioner",
                 "max_commitment": {"amount": "1000.00", "currency": "GBP"}, "share": shares[1]},
            ],
            "outcomes": [{"code": "engaged", "name": "Engaged", "unit": "achievement",
                          "price": {"amount": "400.00", "currency": "GBP"}}],
        }))
        .unwrap();
        let organisations = [
            ("org_a", OrganisationKind::LocalAuthority),
            ("org_b", OrganisationKind::LocalAuthority),
            ("org_provider", OrganisationKind::Provider),
        ];
        let facts = ProjectFacts {
            organisations: organisations
                .into_iter()
                .map(|(id, kind)| (id.to_owned(), kind))
                .collect(),
            fund: None,
            funds: HashMap::new(),
        };
        (input, facts)
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_project_whose_shares_sum_to_one_is_planned() {
        let (input, facts) = project(["0.3", "0.7"], false);
        let plan = validate_project(input, &facts).unwrap();
        assert_eq!(plan.payers.len(), 2);
        assert_eq!(plan.outcomes[0].price_minor, Minor(40_000));
    }

    #[test]
    fn shares_that_do_not_sum_to_one_are_refused_exactly() {
        // 0.3 and 0.6999 make 0.9999, not one: shares are compared exactly, never rounded.
        let (input, facts) = project(["0.3", "0.6999"], false);
        let errors = validate_project(input, &facts).unwrap_err();
        assert_eq!(fields(&errors), ["payers"]);
        assert!(errors[0].detail.contains("0.9999"), "{}", errors[0].detail);
    }

    #[test]
    fn a_provider_is_never_a_payer() {
        let (input, facts) = project(["0.3", "0.7"], true);
        let errors = validate_project(input, &facts).unwrap_err();
        assert!(
            fields(&errors).contains(&"payers[1].organisation_id"),
            "{errors:?}"
        );
    }
}
