//! Agreement to commitments (see [`crate::domain::commitment`]): a project is stored with each
//! payer's commitment as its creator may make it, the payers whose agreement is needed are
//! asked by email, and each accepts or declines its own; every step is kept in
//! `commitment_events`, append-only.

use crate::domain::ids::{OrganisationId, PayerId, ProjectId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::models::{CommitmentEvent, ProjectPayer, ProjectRecord};
use crate::db::queries::{self, insert_rows, new_id};
use crate::db::schema::{commitment_events, project_payers};
use crate::db::{write_tx, DbConn};
use crate::domain::access::{may_decide_commitment, Principal};
use crate::domain::commitment::{CommitmentStatus, Creator, Decision};
use crate::domain::money::MoneyJson;
use crate::domain::registry::ProjectPlan;
use crate::notify::{self, messages};
use crate::services::access::{load_visible, VisibleProject};
use crate::services::claims::rules::lock_project;
use crate::services::error::ServiceError;

/// Who acts, and when.
pub struct Acting<'a> {
    pub principal: &'a Principal,
    pub at: NaiveDateTime,
}

impl Acting<'_> {
    fn creator(&self) -> Creator<'_> {
        match self.principal.organisation() {
            Some(org) => Creator::Organisation(org),
            None => Creator::Admin,
        }
    }

    fn event(&self, payer: &ProjectPayer, status: CommitmentStatus, note: &str) -> CommitmentEvent {
        CommitmentEvent {
            id: new_id("cmt"),
            project_id: payer.project_id.clone(),
            payer_id: payer.id.clone(),
            status,
            decided_by: self.principal.subject().to_owned(),
            decided_by_organisation_id: self.principal.organisation().cloned(),
            decided_at: self.at,
            reason: None,
            note: note.to_owned(),
        }
    }
}

/// Stores a validated project with its payers' commitments as `by` may make them, records
/// how each was made, and emails each payer whose agreement is asked. Returns its id.
pub fn create_project(
    conn: &mut DbConn,
    plan: &ProjectPlan,
    by: &Acting,
) -> Result<ProjectId, ServiceError> {
    let creator = by.creator();
    let id = queries::projects::insert_project(conn, plan, creator, by.at)?;
    let record = queries::projects::get_project(conn, &ProjectId::from(id.as_str()))?
        .ok_or_else(|| ServiceError::Internal("a project vanished in its transaction".into()))?;
    let mut events = Vec::with_capacity(record.payers.len());
    for payer in record.payers.iter().map(|p| &p.payer) {
        let status = creator.commitment_of(&payer.organisation_id);
        events.push(by.event(payer, status, creator.note(status)));
        if status == CommitmentStatus::Proposed {
            ask(conn, &record, payer, by.at)?;
        }
    }
    insert_events(conn, &events)?;
    Ok(ProjectId::from(id))
}

/// A project's commitments as one caller may see them: the project, and every step of its
/// payers' commitments, oldest first.
#[derive(Debug)]
pub struct ProjectCommitments {
    pub project: VisibleProject,
    pub events: Vec<CommitmentEvent>,
}

/// The commitments of a project `principal` may see (any other is not found).
pub fn of_project(
    conn: &mut DbConn,
    principal: &Principal,
    project_id: &ProjectId,
) -> Result<ProjectCommitments, ServiceError> {
    let project = load_visible(conn, principal, project_id)?;
    let events = history(conn, project_id)?;
    Ok(ProjectCommitments { project, events })
}

/// The use case "accept or decline a commitment": a payer's answer to its proposed
/// commitment, by its own commissioners or fund managers or an admin, in its own transaction
/// under the project's lock (so that a verification waits for it); answers the project's
/// commitments as they then stand.
pub fn decide(
    conn: &mut DbConn,
    by: &Acting,
    project_id: &ProjectId,
    payer_id: &PayerId,
    decision: &Decision,
) -> Result<ProjectCommitments, ServiceError> {
    write_tx(conn, |conn| {
        record_decision(conn, by, project_id, payer_id, decision)?;
        of_project(conn, by.principal, project_id)
    })
}

fn record_decision(
    conn: &mut DbConn,
    by: &Acting,
    project_id: &ProjectId,
    payer_id: &PayerId,
    decision: &Decision,
) -> Result<(), ServiceError> {
    lock_project(conn, project_id)?;
    let project = load_visible(conn, by.principal, project_id)?;
    let payer = project
        .record
        .payers
        .iter()
        .map(|p| &p.payer)
        .find(|p| &p.id == payer_id)
        .ok_or_else(|| ServiceError::NotFound("no such payer on this project".into()))?;
    if !may_decide_commitment(by.principal, &payer.organisation_id) {
        return Err(ServiceError::Forbidden(
            "only the payer's own commissioners or fund managers, or an admin, accept or decline its commitment"
                .into(),
        ));
    }
    let current = payer.commitment;
    let next = decision.apply(current).map_err(ServiceError::Conflict)?;
    diesel::update(project_payers::table.find(payer_id))
        .set(project_payers::commitment.eq(next.as_str()))
        .execute(conn)?;
    let note = match (by.principal.is_admin(), next) {
        (true, CommitmentStatus::Accepted) => "accepted by an admin for the payer",
        (true, _) => "declined by an admin for the payer",
        (false, CommitmentStatus::Accepted) => "accepted by the payer",
        (false, _) => "declined by the payer",
    };
    let event = CommitmentEvent {
        reason: decision.reason().map(str::to_owned),
        ..by.event(payer, next, note)
    };
    insert_events(conn, std::slice::from_ref(&event))?;
    tell_decision(
        conn,
        &project.record,
        payer,
        &event,
        project.fund_owner.as_ref(),
    )
}

/// Every step of the project's commitments, oldest first.
fn history(
    conn: &mut DbConn,
    project_id: &ProjectId,
) -> Result<Vec<CommitmentEvent>, ServiceError> {
    Ok(commitment_events::table
        .filter(commitment_events::project_id.eq(project_id))
        .order((commitment_events::decided_at, commitment_events::id))
        .select(CommitmentEvent::as_select())
        .load(conn)?)
}

fn insert_events(conn: &mut DbConn, events: &[CommitmentEvent]) -> Result<(), ServiceError> {
    insert_rows!(conn, commitment_events::table, events)?;
    Ok(())
}

/// Asks the payer (its billing contacts) to accept or decline its commitment.
fn ask(
    conn: &mut DbConn,
    record: &ProjectRecord,
    payer: &ProjectPayer,
    at: NaiveDateTime,
) -> Result<(), ServiceError> {
    let message = messages::commitment_proposed(&messages::Commitment {
        project_id: &record.project.id,
        project: &record.project.name,
        payer_id: &payer.id,
        payer: &notify::name_of(conn, &payer.organisation_id)?,
        max_commitment: &money(record, payer),
    });
    notify::enqueue(conn, &[&payer.organisation_id], message, at)?;
    Ok(())
}

/// Tells the payer, and the organisation owning the project's fund, what was decided.
fn tell_decision(
    conn: &mut DbConn,
    record: &ProjectRecord,
    payer: &ProjectPayer,
    event: &CommitmentEvent,
    fund_owner: Option<&OrganisationId>,
) -> Result<(), ServiceError> {
    let commitment = messages::Commitment {
        project_id: &record.project.id,
        project: &record.project.name,
        payer_id: &payer.id,
        payer: &notify::name_of(conn, &payer.organisation_id)?,
        max_commitment: &money(record, payer),
    };
    let message =
        messages::commitment_decided(&commitment, event.status.as_str(), event.reason.as_deref());
    let mut to = vec![&payer.organisation_id];
    to.extend(fund_owner.filter(|owner| &payer.organisation_id != *owner));
    notify::enqueue(conn, &to, message, event.decided_at)?;
    Ok(())
}

fn money(record: &ProjectRecord, payer: &ProjectPayer) -> String {
    MoneyJson::from_minor(payer.max_commitment_minor, &record.project.currency).to_string()
}
