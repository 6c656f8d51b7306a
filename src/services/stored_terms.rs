//! A project's stored term that its rows do not type (its currency), checked when a project is
//! loaded: a value cofund does not know is an error naming the row, never a default. Its own
//! room, so that access, claims and the error types can each use it without using one another.

use crate::db::models::Project;
use crate::domain::ids::ProjectId;
use crate::domain::money::Currency;

/// A stored term of a project that does not parse: the data was changed behind cofund's back.
/// Nothing is priced against it, because a silent fallback would change who pays.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("project {project_id}: {row}: stored {field} '{value}' is not valid ({problem})")]
pub struct CorruptTerms {
    pub project_id: ProjectId,
    /// The row, e.g. `outcome tenancy_6m` or `payer pyr_…`.
    pub row: String,
    pub field: &'static str,
    pub value: String,
    pub problem: String,
}

impl CorruptTerms {
    pub(crate) fn new(
        project_id: &ProjectId,
        row: String,
        field: &'static str,
        value: &str,
        problem: &str,
    ) -> Self {
        CorruptTerms {
            project_id: project_id.clone(),
            row,
            field,
            value: value.to_owned(),
            problem: problem.to_owned(),
        }
    }
}

/// The project's stored currency is an ISO 4217 currency with minor units (its labels, route,
/// frequency, cap policy, payers' roles and commitments and outcomes' units, are typed in its
/// rows and fail the load itself).
pub fn check_currency(p: &Project) -> Result<(), CorruptTerms> {
    match Currency::parse(&p.currency) {
        Ok(_) => Ok(()),
        Err(_) => Err(CorruptTerms::new(
            &p.id,
            "project".into(),
            "currency",
            &p.currency,
            "not an ISO 4217 currency with minor units",
        )),
    }
}
