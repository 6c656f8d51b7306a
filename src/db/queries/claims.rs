//! Claims and their ledger lines, as the use cases read them: one, a page, their adjustments and allocations.

use diesel::prelude::*;
use diesel::result::Error as DieselError;

use crate::db::bulk::load_where_in;
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::{DbConn, MultiBackend};
use crate::domain::claims::ClaimStatus;
use crate::domain::ids::{ClaimId, OrganisationId, ProjectId, UploadId};

/// Inserts claim rows as they are, without any rule (the benchmark's reference).
pub fn insert_claim_rows(conn: &mut DbConn, rows: &[Claim]) -> Result<usize, DieselError> {
    insert_rows!(conn, claims::table, rows)
}

/// How many claims an upload holds.
pub fn upload_claim_count(conn: &mut DbConn, upload_id: &UploadId) -> Result<usize, DieselError> {
    let n: i64 = claims::table
        .filter(claims::upload_id.eq(upload_id))
        .count()
        .get_result(conn)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

pub fn find_claim(conn: &mut DbConn, id: &ClaimId) -> Result<Option<Claim>, DieselError> {
    claims::table
        .find(id)
        .select(Claim::as_select())
        .first(conn)
        .optional()
}

/// Which of a project's claims a list shows, after which id (keyset pagination).
#[derive(Debug, Default)]
pub struct ClaimFilter {
    pub status: Option<ClaimStatus>,
    pub upload_id: Option<UploadId>,
    pub after: Option<String>,
}

pub fn list_claims(
    conn: &mut DbConn,
    project_id: &ProjectId,
    filter: ClaimFilter,
    limit: i64,
) -> Result<Vec<Claim>, DieselError> {
    let mut query = claims::table
        .filter(claims::project_id.eq(project_id.to_owned()))
        .select(Claim::as_select())
        .into_boxed::<MultiBackend>();
    if let Some(status) = filter.status {
        query = query.filter(claims::status.eq(status));
    }
    if let Some(upload) = filter.upload_id {
        query = query.filter(claims::upload_id.eq(upload));
    }
    if let Some(after) = filter.after {
        query = query.filter(claims::id.gt(after));
    }
    query.order(claims::id.asc()).limit(limit).load(conn)
}

/// The adjustments of these claims (one query for a whole page), each claim's in the order
/// they were applied.
pub fn claim_adjustments(
    conn: &mut DbConn,
    claim_ids: &[&ClaimId],
) -> Result<Vec<ClaimAdjustment>, DieselError> {
    load_where_in!(
        conn,
        claim_adjustments::table
            .order((
                claim_adjustments::claim_id.asc(),
                claim_adjustments::position.asc(),
            ))
            .select(ClaimAdjustment::as_select()),
        claim_adjustments::claim_id,
        "claim_adjustments.claim_id",
        claim_ids
    )
}

/// The allocations of some claims in the order they were posted, one statement however many
/// claims (a page's, see [`crate::db::bulk`]); only those of `only_payer`'s organisation when the
/// caller sees only its own money. Read by the claim index alone: named with the project too,
/// the planner may walk the project's every allocation instead.
pub fn claim_allocations(
    conn: &mut DbConn,
    claim_ids: &[&ClaimId],
    only_payer: Option<&OrganisationId>,
) -> Result<Vec<Allocation>, DieselError> {
    let rows: Vec<Allocation> = load_where_in!(
        conn,
        allocations::table
            .order(allocations::id.asc())
            .select(Allocation::as_select()),
        allocations::claim_id,
        "allocations.claim_id",
        claim_ids
    )?;
    Ok(match only_payer {
        None => rows,
        Some(org) => rows
            .into_iter()
            .filter(|a| a.payer_organisation_id == *org)
            .collect(),
    })
}

/// Which allocations of a project a list shows: `only_payer`
/// is the caller's money scope, `payer` the caller's own filter; after which id (keyset
/// pagination).
#[derive(Debug, Default)]
pub struct AllocationFilter {
    pub only_payer: Option<OrganisationId>,
    pub payer: Option<OrganisationId>,
    pub achieved_between: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
    pub after: Option<i64>,
}

pub fn list_allocations(
    conn: &mut DbConn,
    project_id: &ProjectId,
    filter: AllocationFilter,
    limit: Option<i64>,
) -> Result<Vec<Allocation>, DieselError> {
    let mut query = allocations::table
        .select(Allocation::as_select())
        .into_boxed::<MultiBackend>();
    query = query.filter(allocations::project_id.eq(project_id.to_owned()));
    for org in [filter.only_payer, filter.payer].into_iter().flatten() {
        query = query.filter(allocations::payer_organisation_id.eq(org));
    }
    if let Some((from, to)) = filter.achieved_between {
        query = query.filter(allocations::achieved_on.between(from, to));
    }
    if let Some(after) = filter.after {
        query = query.filter(allocations::id.gt(after));
    }
    let query = query.order(allocations::id.asc());
    match limit {
        Some(limit) => query.limit(limit).load(conn),
        None => query.load(conn),
    }
}
