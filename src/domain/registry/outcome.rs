//! A project's rate card: its outcomes, prices, limits and prerequisites.

use super::*;

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

#[derive(Debug, Clone)]
pub struct OutcomePlan {
    pub code: String,
    pub name: String,
    pub price_minor: Minor,
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

/// The rate card: each outcome, and prerequisites that form no cycle.
pub(super) fn validate_outcomes(
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
        price_minor: Minor(price.unwrap_or(0)),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(code: &str, requires: Option<&str>) -> NewOutcome {
        let requires =
            requires.map(|r| serde_json::json!({"outcome_code": r, "min_days_after": 0}));
        serde_json::from_value(serde_json::json!({
            "code": code, "name": code, "unit": "achievement",
            "price": {"amount": "500.00", "currency": "GBP"}, "requires": requires,
        }))
        .unwrap()
    }

    #[test]
    fn a_ladder_of_prerequisites_is_not_a_cycle_and_a_loop_is() {
        let ladder = [
            outcome("accommodation_entry", None),
            outcome("accommodation_3m", Some("accommodation_entry")),
            outcome("accommodation_6m", Some("accommodation_3m")),
        ];
        assert_eq!(requirement_cycle(&ladder), None);
        let looped = [
            outcome("a", Some("c")),
            outcome("b", Some("a")),
            outcome("c", Some("b")),
        ];
        assert!(requirement_cycle(&looped).is_some());
    }

    #[test]
    fn a_deadweight_is_a_share_below_one() {
        assert_eq!(
            parse_deadweight("0.1", "deadweight").unwrap(),
            Decimal::new(1, 1)
        );
        let all = parse_deadweight("1", "outcomes[0].deadweight").unwrap_err();
        assert_eq!(all.field, "outcomes[0].deadweight");
        assert!(parse_deadweight("1.5", "deadweight").is_err());
    }
}
