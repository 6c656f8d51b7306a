//! A project's payers: their roles, shares, phases, home areas and the fund a top-up pays from.

use super::*;
use crate::domain::ids::FundId;

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

#[derive(Debug, Clone)]
pub struct PayerPlan {
    pub organisation_id: OrganisationId,
    pub role: PayerRole,
    pub max_commitment_minor: Minor,
    pub share: Option<Decimal>,
    pub phases: Vec<PhasePlan>,
    pub home_area_codes: Vec<String>,
    pub lead: bool,
    /// The fund a central top-up pays from (resolved: its own or the project's).
    pub fund_id: Option<FundId>,
}

#[derive(Debug, Clone)]
pub struct PhasePlan {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub share: Decimal,
}

/// Each payer, then what concerns them together: unique organisations and home areas, a
/// share schedule that sums to one, and the lead.
pub(super) fn validate_payers(
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
        organisation_id: OrganisationId::from(payer.organisation_id.clone()),
        role: payer.role,
        max_commitment_minor: Minor(max.unwrap_or(0)),
        share,
        phases,
        home_area_codes: payer.home_area_codes.clone(),
        lead: payer.lead,
        fund_id: fund_id.map(FundId::from),
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
pub(super) fn check_fund(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn payer(phases: serde_json::Value) -> NewPayer {
        serde_json::from_value(serde_json::json!({
            "organisation_id": "org_a", "role": "local_commissioner",
            "max_commitment": {"amount": "1000.00", "currency": "GBP"}, "phases": phases,
        }))
        .unwrap()
    }

    #[test]
    fn phases_may_follow_each_other_but_not_overlap() {
        let mut errors = Vec::new();
        let following = payer(serde_json::json!([
            {"from": "2026-04-01", "to": "2027-03-31", "share": "0.5"},
            {"from": "2027-04-01", "to": "2029-03-31", "share": "0.25"},
        ]));
        assert_eq!(validate_phases(&mut errors, 0, &following).len(), 2);
        assert!(errors.is_empty(), "{errors:?}");
        let overlapping = payer(serde_json::json!([
            {"from": "2026-04-01", "to": "2027-04-01", "share": "0.5"},
            {"from": "2027-04-01", "to": "2029-03-31", "share": "0.25"},
        ]));
        validate_phases(&mut errors, 2, &overlapping);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "payers[2].phases");
    }

    #[test]
    fn a_phase_ends_after_it_starts_and_has_a_share() {
        let mut errors = Vec::new();
        let backwards = payer(serde_json::json!([
            {"from": "2027-04-01", "to": "2026-04-01", "share": "half"},
        ]));
        let kept = validate_phases(&mut errors, 0, &backwards);
        assert!(kept.is_empty());
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["payers[0].phases[0].to", "payers[0].phases[0].share"]
        );
    }
}
