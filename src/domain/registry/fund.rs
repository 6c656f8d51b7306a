//! A central outcomes fund to create, and the rules it and its budget must meet.

use super::*;

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

#[derive(Debug, Clone)]
pub struct FundPlan {
    pub name: String,
    pub owner_organisation_id: OrganisationId,
    pub currency: Currency,
    pub budget_minor: Minor,
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
            owner_organisation_id: OrganisationId::from(input.owner_organisation_id),
            currency: budget.currency,
            budget_minor: Minor(budget.minor),
            service_start: input.service_start,
            service_end: input.service_end,
        }
    })
}

#[derive(Debug, Clone)]
pub struct FundFacts {
    pub owner_organisation_id: OrganisationId,
    pub currency: String,
    pub budget_minor: Minor,
    /// Top-up already committed to other projects of this fund.
    pub committed_minor: Minor,
    pub service_end: NaiveDate,
}

/// The fund's budget is never over-committed: the sum of top-up commitments across its
/// projects stays within it.
pub fn check_fund_headroom(
    fund: &FundFacts,
    new_commitment_minor: Minor,
) -> Result<(), FieldError> {
    let total = Minor(
        fund.committed_minor
            .get()
            .saturating_add(new_commitment_minor.get()),
    );
    if total > fund.budget_minor {
        let currency = &fund.currency;
        let fmt = |m: Minor| MoneyJson::from_minor(m, currency).amount;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fund(budget: &str, start: &str, end: &str) -> NewFund {
        serde_json::from_value(serde_json::json!({
            "name": "Life Chances Fund", "owner_organisation_id": "org_1",
            "budget": {"amount": budget, "currency": "GBP"},
            "service_start": start, "service_end": end,
        }))
        .unwrap()
    }

    #[test]
    fn a_fund_is_owned_by_a_central_fund_and_has_a_budget() {
        let owner = Some(OrganisationKind::CentralFund);
        let plan = validate_fund(fund("80000000.00", "2016-07-01", "2025-06-30"), owner).unwrap();
        assert_eq!(plan.budget_minor, Minor(8_000_000_000));
        assert_eq!(plan.currency.code(), "GBP");
        let council = Some(OrganisationKind::LocalAuthority);
        let errors = validate_fund(fund("0.00", "2025-07-01", "2025-06-30"), council).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["owner_organisation_id", "budget.amount", "service_end"]
        );
        let missing = validate_fund(fund("1.00", "2025-01-01", "2025-06-30"), None).unwrap_err();
        assert_eq!(missing[0].field, "owner_organisation_id");
    }

    #[test]
    fn a_commitment_may_take_the_budget_to_the_penny_and_no_further() {
        let facts = FundFacts {
            owner_organisation_id: "org_1".into(),
            currency: "GBP".into(),
            budget_minor: Minor(100_000),
            committed_minor: Minor(60_000),
            service_end: NaiveDate::from_ymd_opt(2030, 3, 31).unwrap(),
        };
        assert!(check_fund_headroom(&facts, Minor(40_000)).is_ok());
        let refused = check_fund_headroom(&facts, Minor(40_001)).unwrap_err();
        assert!(
            refused.detail.contains("would exceed it by 0.01"),
            "{}",
            refused.detail
        );
    }
}
