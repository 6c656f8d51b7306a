//! An organisation to register, and the rules it must meet.

use super::*;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn organisation(body: serde_json::Value) -> NewOrganisation {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn a_valid_organisation_is_planned_with_its_name_trimmed() {
        let plan = validate_organisation(organisation(serde_json::json!({
            "name": "  Herefordshire Council ", "kind": "local_authority",
            "identifier": "GB-LAE-HEF", "area_codes": ["E06000019"],
        })))
        .unwrap();
        assert_eq!(plan.name, "Herefordshire Council");
        assert_eq!(plan.kind, OrganisationKind::LocalAuthority);
        assert_eq!(plan.identifier.as_deref(), Some("GB-LAE-HEF"));
    }

    #[test]
    fn every_fault_is_named_by_its_field() {
        let errors = validate_organisation(organisation(serde_json::json!({
            "name": " ", "kind": "provider", "identifier": "Companies House 123",
        })))
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"name"), "{fields:?}");
        assert!(fields.contains(&"identifier"), "{fields:?}");
    }

    #[test]
    fn an_identifier_is_an_org_id() {
        assert!(is_org_id("GB-COH-09506232"));
        assert!(is_org_id("GB-LAE-HEF"));
        assert!(!is_org_id("gb-coh-1"), "the country is upper case");
        assert!(!is_org_id("GB-COH-"), "an identifier follows the list");
        assert!(!is_org_id("GBR-COH-1"), "a country has two letters");
        assert!(!is_org_id("GB-COH-1 2"), "no spaces");
    }
}
