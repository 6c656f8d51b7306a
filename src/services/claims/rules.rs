//! A project's rules, read once per request, the locks a claim use case takes, and the
//! project as its provider submits to it.

use crate::domain::ids::ProjectId;
use std::collections::HashMap;

use chrono::NaiveDate;

use crate::db::backend_specific::{
    lock_name, lock_row_for_key_share, lock_row_for_update, LockableTable,
};
use crate::db::models::*;
use crate::db::DbConn;
use crate::domain::access::{may_submit, Principal, Role};
use crate::domain::claims::{EligibilityWindow, OutcomeRule};
use crate::domain::commitment::{agreement, Agreement, CommitmentStatus};
use crate::domain::money::{Minor, MoneyJson};
use crate::domain::shares::parse_share;
use crate::domain::split::{phase_schedule_gap, CapPolicy, PayerShareTerms, Phases};
use crate::services::access::{load_visible, VisibleProject};
use crate::services::error::ServiceError;
use crate::services::stored_terms::{check_currency, CorruptTerms};

/// A project's rules, read once per request.
pub struct ProjectRules {
    pub record: ProjectRecord,
    pub outcomes: HashMap<String, OutcomeRule>,
    pub payers: Vec<PayerShareTerms>,
    pub window: EligibilityWindow,
    pub cap_policy: CapPolicy,
    pub has_home_area_payers: bool,
}

impl ProjectRules {
    /// The project's rules from its stored record. Every stored term must parse; a corrupt one
    /// is an error naming the row, never a default.
    pub fn new(record: ProjectRecord, today: NaiveDate) -> Result<ProjectRules, CorruptTerms> {
        let p = &record.project;
        let corrupt = |row: String, field: &'static str, value: &str, problem: String| {
            CorruptTerms::new(&p.id, row, field, value, &problem)
        };
        let window = EligibilityWindow {
            service_start: p.service_start,
            service_end: p.service_end,
            referral_cutoff: p.referral_cutoff,
            today,
        };
        let outcomes = (record.outcomes.iter())
            .map(|o| Ok((o.code.clone(), outcome_rule(&p.id, o)?)))
            .collect::<Result<HashMap<_, _>, CorruptTerms>>()?;
        let payers = (record.payers.iter())
            .map(|r| payer_terms(&p.id, r))
            .collect::<Result<Vec<_>, _>>()?;
        let phases: Vec<&Phases> = payers.iter().map(|p| p.phases.as_slice()).collect();
        if let Some(gap) = phase_schedule_gap(&phases) {
            let value = gap.to_string();
            return Err(corrupt("payers".into(), "phases", "", value));
        }
        check_currency(&record.project)?;
        let cap_policy = p.cap_policy;
        Ok(ProjectRules {
            has_home_area_payers: payers.iter().any(|p| !p.home_area_codes.is_empty()),
            cap_policy,
            outcomes,
            payers,
            window,
            record,
        })
    }

    pub fn project_id(&self) -> &ProjectId {
        &self.record.project.id
    }

    pub(super) fn check_agreed(&self) -> Result<(), ServiceError> {
        require_agreed(&self.record)
    }

    pub(super) fn money(&self, minor: Minor) -> String {
        MoneyJson::from_minor(minor, &self.record.project.currency).to_string()
    }
}

/// Locks the project for update, so that verifications, bulk submissions, settlements and
/// plans of it take turns with each other and with single submissions
/// ([`lock_for_submission`]): caps and duplicates are checked against what the previous
/// writer committed.
pub fn lock_project(conn: &mut DbConn, project_id: &ProjectId) -> Result<(), ServiceError> {
    Ok(lock_row_for_update(
        conn,
        LockableTable::Projects,
        project_id,
    )?)
}

/// An outcome's rule from its stored row.
fn outcome_rule(project_id: &ProjectId, o: &OutcomeMetric) -> Result<OutcomeRule, CorruptTerms> {
    let corrupt = |field: &'static str, value: &str, problem: &str| {
        CorruptTerms::new(
            project_id,
            format!("outcome {}", o.code),
            field,
            value,
            problem,
        )
    };
    let deadweight = match o.deadweight.as_deref() {
        None => None,
        Some(d) => Some(parse_share(d).map_err(|e| corrupt("deadweight", d, &e))?),
    };
    Ok(OutcomeRule {
        id: o.id.clone(),
        code: o.code.clone(),
        price_minor: o.price_minor,
        unit: o.unit,
        max_units_per_participant: o.max_units_per_participant,
        max_claims_per_participant: o.max_claims_per_participant,
        exclusive_group: o.exclusive_group.clone(),
        requires: o
            .requires_outcome_code
            .clone()
            .map(|code| (code, o.requires_min_days_after.unwrap_or(0))),
        volume_cap: o.volume_cap,
        deadweight,
        min_age_at_start: o.min_age_at_start,
        max_age_at_start: o.max_age_at_start,
    })
}

/// A payer's share terms from its stored rows.
fn payer_terms(project_id: &ProjectId, r: &PayerRecord) -> Result<PayerShareTerms, CorruptTerms> {
    let corrupt = |field: &'static str, value: &str, problem: &str| {
        CorruptTerms::new(
            project_id,
            format!("payer {}", r.payer.id),
            field,
            value,
            problem,
        )
    };
    let share = match r.payer.share.as_deref() {
        None => None,
        Some(s) => Some(parse_share(s).map_err(|e| corrupt("share", s, &e))?),
    };
    let mut phases = Vec::with_capacity(r.phases.len());
    for ph in &r.phases {
        let share = parse_share(&ph.share).map_err(|e| corrupt("phase share", &ph.share, &e))?;
        phases.push((ph.starts_on, ph.ends_on, share));
    }
    Ok(PayerShareTerms {
        max_commitment_minor: r.payer.max_commitment_minor,
        share,
        phases,
        home_area_codes: r.home_area_codes.clone(),
    })
}

/// Takes what one claim's submission must hold, and no more. A submission is checked against
/// its participant's earlier claims and inserts one row: on PostgreSQL it locks the project
/// for key share (submissions do not wait for each other, but verifications, settlements and
/// plans, which lock the project for update, wait for them and they for those) and the
/// participant by name, so that two claims for the same person take turns and each is checked
/// against the other. On SQLite the write transaction already holds the database.
pub fn lock_for_submission(
    conn: &mut DbConn,
    project_id: &ProjectId,
    participant_pseudonym: &str,
) -> Result<(), ServiceError> {
    lock_row_for_key_share(conn, LockableTable::Projects, project_id)?;
    lock_name(
        conn,
        &format!("participant:{project_id}:{participant_pseudonym}"),
    )?;
    Ok(())
}

/// Refuses to split money until every payer has accepted its commitment: a commitment binds a
/// payer only once it has agreed it.
pub fn require_agreed(record: &ProjectRecord) -> Result<(), ServiceError> {
    let statuses = record.payers.iter().map(|p| p.payer.commitment);
    let waiting: Vec<&str> = record
        .payers
        .iter()
        .filter(|p| p.payer.commitment != CommitmentStatus::Accepted)
        .map(|p| p.payer.organisation_id.as_str())
        .collect();
    match agreement(statuses) {
        Agreement::Agreed => Ok(()),
        Agreement::Declined => Err(ServiceError::Conflict(format!(
            "a payer has declined its commitment, so the project's claims are never verified (payers not accepted: {})",
            waiting.join(", ")
        ))),
        Agreement::Proposed => Err(ServiceError::Conflict(format!(
            "the project's claims are verified once every payer has accepted its commitment; not yet accepted by {}",
            waiting.join(", ")
        ))),
    }
}

/// The project, for its own provider only.
pub fn project_for_provider(
    conn: &mut DbConn,
    principal: &Principal,
    project_id: &ProjectId,
) -> Result<VisibleProject, ServiceError> {
    principal.require(&[Role::Provider])?;
    let project = load_visible(conn, principal, project_id)?;
    may_submit(principal, &project.parties())?;
    Ok(project)
}
