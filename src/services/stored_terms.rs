//! The labels a project's stored terms are written in (route, frequency, currency, cap policy,
//! payer roles and commitments, outcome units) checked when a project is loaded: a label
//! cofund does not know is an error naming the row, never a default. Its own room, so that
//! access, claims and the error types can each use it without using one another.

use crate::db::models::{Project, ProjectRecord};
use crate::domain::commitment::CommitmentStatus;
use crate::domain::money::Currency;
use crate::domain::registry::{OutcomeUnit, PayerRole, SettlementFrequency, SettlementRoute};
use crate::domain::split::CapPolicy;

/// A stored term of a project that does not parse: the data was changed behind cofund's back.
/// Nothing is priced against it, because a silent fallback would change who pays.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("project {project_id}: {row}: stored {field} '{value}' is not valid ({problem})")]
pub struct CorruptTerms {
    pub project_id: String,
    /// The row, e.g. `outcome tenancy_6m` or `payer pyr_…`.
    pub row: String,
    pub field: &'static str,
    pub value: String,
    pub problem: String,
}

impl CorruptTerms {
    pub(crate) fn new(
        project_id: &str,
        row: String,
        field: &'static str,
        value: &str,
        problem: &str,
    ) -> Self {
        CorruptTerms {
            project_id: project_id.to_owned(),
            row,
            field,
            value: value.to_owned(),
            problem: problem.to_owned(),
        }
    }
}

/// The stored labels that choose who pays and how (route, frequency, currency, cap policy,
/// payer roles, units) are ones cofund knows; a corrupt one is an error naming the row, never a
/// default.
pub fn check_stored_labels(record: &ProjectRecord) -> Result<(), CorruptTerms> {
    check_project_labels(&record.project)?;
    let p = &record.project;
    for r in &record.payers {
        check_payer_labels(&p.id, &r.payer.id, &r.payer.role, &r.payer.commitment)?;
    }
    for o in &record.outcomes {
        if OutcomeUnit::from_db(&o.unit).is_none() {
            let row = format!("outcome {}", o.code);
            return Err(CorruptTerms::new(&p.id, row, "unit", &o.unit, "not a unit"));
        }
    }
    Ok(())
}

/// The project row's own labels (route, frequency, currency, cap policy) are ones cofund knows.
pub fn check_project_labels(p: &Project) -> Result<(), CorruptTerms> {
    let project_labels: [(&'static str, &str, bool, &str); 4] = [
        (
            "settlement_route",
            &p.settlement_route,
            SettlementRoute::from_db(&p.settlement_route).is_some(),
            "not direct or via_commissioner",
        ),
        (
            "settlement_frequency",
            &p.settlement_frequency,
            SettlementFrequency::from_db(&p.settlement_frequency).is_some(),
            "not quarterly or monthly",
        ),
        (
            "currency",
            &p.currency,
            Currency::parse(&p.currency).is_ok(),
            "not an ISO 4217 currency with minor units",
        ),
        (
            "cap_policy",
            &p.cap_policy,
            CapPolicy::from_db(&p.cap_policy).is_some(),
            "not shortfall or reallocate",
        ),
    ];
    for (field, value, known, problem) in project_labels {
        if !known {
            return Err(CorruptTerms::new(
                &p.id,
                "project".into(),
                field,
                value,
                problem,
            ));
        }
    }
    Ok(())
}

/// A payer's labels (its role and where its commitment stands) are ones cofund knows.
pub fn check_payer_labels(
    project_id: &str,
    payer_id: &str,
    role: &str,
    commitment: &str,
) -> Result<(), CorruptTerms> {
    let row = || format!("payer {payer_id}");
    if CommitmentStatus::from_db(commitment).is_none() {
        let problem = "not proposed, accepted or declined";
        return Err(CorruptTerms::new(
            project_id,
            row(),
            "commitment",
            commitment,
            problem,
        ));
    }
    if PayerRole::from_db(role).is_none() {
        return Err(CorruptTerms::new(
            project_id,
            row(),
            "role",
            role,
            "not a payer role",
        ));
    }
    Ok(())
}
