//! A claim as one caller sees it: the claim, its adjustments, and the allocations whose money
//! the caller may see. The API and the pages render it; neither reads the rows itself.

use crate::domain::ids::{ClaimId, ProjectId};
use std::collections::HashMap;

use super::rules::lock_project;
use crate::db::models::{Allocation, Claim, ClaimAdjustment};
use crate::db::queries::{self, claims::ClaimFilter};
use crate::db::DbConn;
use crate::domain::access::{MoneyScope, Principal};
use crate::services::access::{load_access, load_visible, AccessError, VisibleProject};
use crate::services::error::ServiceError;

/// One claim's rows, as far as the caller may see them.
#[derive(Debug)]
pub struct ClaimRows {
    pub claim: Claim,
    pub adjustments: Vec<ClaimAdjustment>,
    /// Only the allocations of the payers whose money the caller sees.
    pub allocations: Vec<Allocation>,
}

/// A claim as one caller sees it, with the project's currency and whose money it may see.
#[derive(Debug)]
pub struct SeenClaim {
    pub rows: ClaimRows,
    pub currency: String,
    pub money: MoneyScope,
}

/// A claim of a project the caller can see, with that project; any other claim is not found,
/// in the same words whether it exists or not.
pub fn load_claim(
    conn: &mut DbConn,
    principal: &Principal,
    id: &ClaimId,
) -> Result<(Claim, VisibleProject), ServiceError> {
    let not_found = || ServiceError::NotFound("no claim with this id that you can see".into());
    let claim = queries::claims::find_claim(conn, id)?.ok_or_else(not_found)?;
    let project = load_visible(conn, principal, &claim.project_id).map_err(|e| match e {
        AccessError::NotFound(_) => not_found(),
        other => other.into(),
    })?;
    Ok((claim, project))
}

/// [`load_claim`], read again under its project's lock: another decider may have got there
/// first.
pub fn locked_claim(
    conn: &mut DbConn,
    principal: &Principal,
    id: &ClaimId,
) -> Result<(Claim, VisibleProject), ServiceError> {
    let (claim, _) = load_claim(conn, principal, id)?;
    lock_project(conn, &claim.project_id)?;
    load_claim(conn, principal, id)
}

/// The claim as it stands now in this transaction, seeing what `money` lets one see.
pub fn reread(
    conn: &mut DbConn,
    claim_id: &ClaimId,
    currency: String,
    money: MoneyScope,
) -> Result<SeenClaim, ServiceError> {
    let claim = queries::claims::find_claim(conn, claim_id)?
        .ok_or_else(|| ServiceError::Internal("a claim vanished in its transaction".into()))?;
    seen_with(conn, claim, currency, money)
}

/// Reads one claim as `principal` sees it.
pub fn seen_claim(
    conn: &mut DbConn,
    principal: &Principal,
    id: &ClaimId,
) -> Result<SeenClaim, ServiceError> {
    let (claim, project) = load_claim(conn, principal, id)?;
    seen_as(conn, claim, &project, principal)
}

/// `claim` of `project`, as `principal` sees it.
fn seen_as(
    conn: &mut DbConn,
    claim: Claim,
    project: &VisibleProject,
    principal: &Principal,
) -> Result<SeenClaim, ServiceError> {
    let currency = project.record.project.currency.clone();
    seen_with(conn, claim, currency, project.money(principal))
}

/// `claim`, seeing the money `money` lets one see, in `currency`.
pub fn seen_with(
    conn: &mut DbConn,
    claim: Claim,
    currency: String,
    money: MoneyScope,
) -> Result<SeenClaim, ServiceError> {
    let rows = rows_of(conn, vec![claim], &money)?
        .pop()
        .ok_or_else(|| ServiceError::Internal("a claim's rows went missing".into()))?;
    Ok(SeenClaim {
        rows,
        currency,
        money,
    })
}

/// The rows of claims of one project, with two queries however many there are: one for their
/// adjustments, one for the allocations `money` lets the caller see.
pub fn rows_of(
    conn: &mut DbConn,
    claims: Vec<Claim>,
    money: &MoneyScope,
) -> Result<Vec<ClaimRows>, ServiceError> {
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&ClaimId> = claims.iter().map(|c| &c.id).collect();
    let mut adjustments: HashMap<ClaimId, Vec<ClaimAdjustment>> = HashMap::new();
    for adjustment in queries::claims::claim_adjustments(conn, &ids)? {
        adjustments
            .entry(adjustment.claim_id.clone())
            .or_default()
            .push(adjustment);
    }
    let mut allocations: HashMap<ClaimId, Vec<Allocation>> = HashMap::new();
    for allocation in queries::claims::claim_allocations(conn, &ids, money.only())? {
        allocations
            .entry(allocation.claim_id.clone())
            .or_default()
            .push(allocation);
    }
    Ok(claims
        .into_iter()
        .map(|claim| ClaimRows {
            adjustments: adjustments.remove(&claim.id).unwrap_or_default(),
            allocations: allocations.remove(&claim.id).unwrap_or_default(),
            claim,
        })
        .collect())
}

/// Claims of one project as one caller sees them.
#[derive(Debug)]
pub struct SeenClaims {
    pub claims: Vec<ClaimRows>,
    pub currency: String,
    pub money: MoneyScope,
}

/// A page of a project's claims, as `principal` sees them (a project it cannot see is not
/// found).
pub fn page(
    conn: &mut DbConn,
    principal: &Principal,
    project_id: &ProjectId,
    filter: ClaimFilter,
    limit: i64,
) -> Result<SeenClaims, ServiceError> {
    let project = load_access(conn, principal, project_id)?;
    let money = project.money(principal);
    let claims = queries::claims::list_claims(conn, project_id, filter, limit)?;
    Ok(SeenClaims {
        claims: rows_of(conn, claims, &money)?,
        currency: project.project.currency,
        money,
    })
}
