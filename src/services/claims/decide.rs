//! Rejecting a submitted claim and revoking a verified one (by a reversing ledger entry).

use crate::domain::ids::{ClaimId, EntryId};
use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::rules::ProjectRules;
use super::seen::{locked_claim, reread, SeenClaim};
use super::verify::units_total;
use crate::clock::Clock;
use crate::db::models::*;
use crate::db::queries::{self, insert_rows, new_id};
use crate::db::schema::*;
use crate::db::{write_tx, DbConn};
use crate::domain::access::{decider, not_yours_to_decide, Decider, Principal, CLAIM_DECIDERS};
use crate::domain::claims::ClaimStatus;
use crate::domain::ledger::{provider_amount, ProjectAccounts};
use crate::domain::split::{share_weights, PayerPart};
use crate::services::error::ServiceError;

/// Refuses a decider that may not decide this claim: a lead commissioner that pays none of it
/// (see [`Decider::may_decide`]).
pub fn check_decider(
    rules: &ProjectRules,
    capacity: Decider,
    claim: &Claim,
) -> Result<(), ServiceError> {
    let weights = share_weights(&rules.payers, claim.achieved_on, claim.home_area.as_deref())
        .unwrap_or_else(|_| vec![0; rules.payers.len()]);
    if capacity.may_decide(&weights) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(not_yours_to_decide().into()))
    }
}

pub fn reject(
    conn: &mut DbConn,
    claim: &Claim,
    by: &str,
    reason: &str,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    if claim.status != ClaimStatus::Submitted {
        return Err(ServiceError::Conflict(format!(
            "the claim is {}: only a submitted claim can be rejected",
            claim.status
        )));
    }
    diesel::update(claims::table.find(&claim.id))
        .set((
            claims::status.eq(ClaimStatus::Rejected),
            claims::decided_by.eq(by),
            claims::decided_at.eq(now),
            claims::rejection_reason.eq(reason),
        ))
        .execute(conn)?;
    crate::services::notices::claim_rejected(conn, claim, reason, now)?;
    Ok(())
}

/// Reverses a verified claim: a new entry undoes its verification entry, each allocation by a
/// new line with the opposite amounts; nothing is edited or deleted.
pub fn revoke(
    conn: &mut DbConn,
    claim: &Claim,
    by: &str,
    reason: &str,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    if claim.status != ClaimStatus::Verified {
        return Err(ServiceError::Conflict(format!(
            "the claim is {}: only a verified claim can be revoked",
            claim.status
        )));
    }
    let entry_id = EntryId::from(new_id("ent"));
    let original: Vec<Allocation> = allocations::table
        .filter(allocations::claim_id.eq(&claim.id))
        .filter(allocations::reverses_id.is_null())
        .select(Allocation::as_select())
        .load(conn)?;
    let reversals: Vec<NewAllocation> = original
        .iter()
        .map(|a| NewAllocation {
            entry_id: entry_id.clone(),
            claim_id: a.claim_id.clone(),
            project_id: a.project_id.clone(),
            payer_id: a.payer_id.clone(),
            payer_organisation_id: a.payer_organisation_id.clone(),
            amount_minor: -a.amount_minor,
            shortfall_minor: -a.shortfall_minor,
            achieved_on: a.achieved_on,
            posted_at: now,
            reverses_id: Some(a.id),
            outcome_code: a.outcome_code.clone(),
        })
        .collect();
    let accounts = ProjectAccounts::new(&claim.project_id, original.iter().map(|a| &a.payer_id));
    let reversed_parts: Vec<PayerPart> = reversals
        .iter()
        .map(|r| PayerPart {
            allocated: r.amount_minor,
            shortfall: r.shortfall_minor,
        })
        .collect();
    let entry = LedgerEntry {
        id: entry_id,
        claim_id: claim.id.clone(),
        project_id: claim.project_id.clone(),
        provider_amount_minor: provider_amount(&reversed_parts),
        posted_at: now,
        reverses_entry_id: claim.entry_id.clone(),
    };
    let mut deltas: HashMap<String, i64> = HashMap::new();
    for (account, amount) in accounts.entry_lines(&reversed_parts) {
        *deltas.entry(account.to_owned()).or_default() += amount.get();
    }
    *deltas.entry(units_total(&claim.outcome_code)).or_default() -=
        i64::from(claim.paid_units.unwrap_or(0));
    diesel::insert_into(ledger_entries::table)
        .values(&entry)
        .execute(conn)?;
    insert_rows!(conn, allocations::table, &reversals)?;
    queries::projects::add_running_totals(conn, &claim.project_id, &deltas)?;
    diesel::update(claims::table.find(&claim.id))
        .set((
            claims::status.eq(ClaimStatus::Revoked),
            claims::revoked_by.eq(by),
            claims::revoked_at.eq(now),
            claims::revocation_reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(())
}

/// What a decider does to a claim with a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Refuse a submitted claim: nothing is allocated, the provider is emailed the reason.
    Reject,
    /// Undo a verified claim: its allocations are reversed by new ledger entries.
    Revoke,
}

/// The use case "reject or revoke one claim": a decider of the claim's project (one that may
/// decide this claim) applies `decision` with `reason`, in its own transaction under the
/// project's lock, and sees the claim as it then stands.
pub fn decide_one(
    conn: &mut DbConn,
    principal: &Principal,
    id: &ClaimId,
    (decision, reason): (Decision, &str),
    clock: &Clock,
) -> Result<SeenClaim, ServiceError> {
    principal.require(CLAIM_DECIDERS)?;
    write_tx(conn, |conn| {
        let (claim, project) = locked_claim(conn, principal, id)?;
        let capacity = decider(principal, &project.parties())?;
        let money = project.money(principal);
        let currency = project.record.project.currency.clone();
        let rules = ProjectRules::new(project.record, clock.today())?;
        check_decider(&rules, capacity, &claim)?;
        let act = match decision {
            Decision::Reject => reject,
            Decision::Revoke => revoke,
        };
        act(conn, &claim, principal.subject(), reason, clock.now())?;
        reread(conn, &claim.id, currency, money)
    })
}
