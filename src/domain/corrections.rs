//! Corrections to registry records after they were made: an organisation's name, identifier
//! and billing addresses, a fund's name, a project's name and whether its data is published.
//! Contract terms (payers, shares, caps, prices, dates) are not corrected here: changing them
//! is a variation of the contract, with its own rules. Each field is checked as at creation.

use serde::Deserialize;
use utoipa::ToSchema;

use super::registry::{check_billing_emails, check_identifier, check_name};
use super::FieldError;

/// What to correct of an organisation; fields left out stay as they are.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Birmingham City Council", "billing_emails": ["payables@birmingham.example"]}))]
pub struct OrganisationCorrection {
    pub name: Option<String>,
    /// Its org-id identifier, such as `GB-LAE-BIR`.
    pub identifier: Option<String>,
    /// The addresses that receive its notifications: the whole list, replacing the one before.
    pub billing_emails: Option<Vec<String>>,
}

/// What to correct of a fund.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Life Chances Fund"}))]
pub struct FundCorrection {
    pub name: Option<String>,
}

/// What to correct of a project.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"published": true}))]
pub struct ProjectCorrection {
    pub name: Option<String>,
    /// Whether its anonymised data is published as open data.
    pub published: Option<bool>,
}

const NOTHING: &str = "names nothing to correct";

impl OrganisationCorrection {
    /// The correction with its name trimmed, or every field at fault.
    pub fn validate(mut self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.name.is_none() && self.identifier.is_none() && self.billing_emails.is_none() {
            errors.push(FieldError::new(
                "body",
                format!("{NOTHING}: name, identifier or billing_emails"),
            ));
        }
        if let Some(name) = &self.name {
            check_name(&mut errors, "name", name);
        }
        if let Some(identifier) = &self.identifier {
            check_identifier(&mut errors, identifier);
        }
        if let Some(emails) = &self.billing_emails {
            check_billing_emails(&mut errors, emails);
        }
        self.name = self.name.map(|n| n.trim().to_owned());
        finish(errors, self)
    }
}

impl FundCorrection {
    pub fn validate(mut self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        match &self.name {
            None => errors.push(FieldError::new("body", format!("{NOTHING}: name"))),
            Some(name) => check_name(&mut errors, "name", name),
        }
        self.name = self.name.map(|n| n.trim().to_owned());
        finish(errors, self)
    }
}

impl ProjectCorrection {
    pub fn validate(mut self) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.name.is_none() && self.published.is_none() {
            errors.push(FieldError::new(
                "body",
                format!("{NOTHING}: name or published"),
            ));
        }
        if let Some(name) = &self.name {
            check_name(&mut errors, "name", name);
        }
        self.name = self.name.map(|n| n.trim().to_owned());
        finish(errors, self)
    }
}

fn finish<T>(errors: Vec<FieldError>, value: T) -> Result<T, Vec<FieldError>> {
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrections_are_checked_as_at_creation_and_name_something() {
        let org =
            |v: serde_json::Value| serde_json::from_value::<OrganisationCorrection>(v).unwrap();
        let fields = |r: Result<OrganisationCorrection, Vec<FieldError>>| -> Vec<String> {
            r.unwrap_err().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(fields(org(serde_json::json!({})).validate()), ["body"]);
        let bad = org(
            serde_json::json!({"name": " ", "identifier": "bham", "billing_emails": ["a@b.example", "A@b.example"]}),
        );
        assert_eq!(
            fields(bad.validate()),
            ["name", "identifier", "billing_emails[1]"]
        );
        let good = org(serde_json::json!({"name": "  Birmingham  "}))
            .validate()
            .unwrap();
        assert_eq!(good.name.as_deref(), Some("Birmingham"));
        let project: ProjectCorrection =
            serde_json::from_value(serde_json::json!({"published": false})).unwrap();
        assert!(project.validate().is_ok());
        assert!(
            serde_json::from_value::<FundCorrection>(serde_json::json!({"budget": 1})).is_err()
        );
    }
}
