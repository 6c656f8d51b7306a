//! Funds: created, read, listed, and what their projects commit.

use crate::domain::ids::FundId;
use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::Error as DieselError;

use super::new_id;
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::{DbConn, MultiBackend};
use crate::domain::money::Minor;
use crate::domain::registry::{FundFacts, FundPlan, NewProject};

/// Stores a validated fund, registered at `at`.
pub fn insert_fund(
    conn: &mut DbConn,
    plan: FundPlan,
    at: NaiveDateTime,
) -> Result<Fund, DieselError> {
    let fund = Fund {
        id: FundId::from(new_id("fund")),
        name: plan.name,
        owner_organisation_id: plan.owner_organisation_id,
        currency: plan.currency.code().to_owned(),
        budget_minor: plan.budget_minor,
        service_start: plan.service_start,
        service_end: plan.service_end,
        created_at: at,
    };
    diesel::insert_into(funds::table)
        .values(&fund)
        .execute(conn)?;
    Ok(fund)
}

pub fn get_fund(conn: &mut DbConn, id: &FundId) -> Result<Option<Fund>, DieselError> {
    funds::table
        .find(id)
        .select(Fund::as_select())
        .first(conn)
        .optional()
}

pub fn list_funds(
    conn: &mut DbConn,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Fund>, DieselError> {
    let mut query = funds::table
        .select(Fund::as_select())
        .into_boxed::<MultiBackend>();
    if let Some(after) = after {
        query = query.filter(funds::id.gt(after.to_owned()));
    }
    query.order(funds::id.asc()).limit(limit).load(conn)
}

/// Top-up committed from a fund: the maximum commitments of the central top-up payers that
/// pay from it, on whichever projects, but for projects a payer has declined (a declined
/// project is never paid; a proposed commitment holds its budget until it is answered).
/// Summed in Rust: `SUM(BIGINT)` is NUMERIC on PostgreSQL, which the multi-backend connection
/// cannot load.
pub fn fund_committed_minor(conn: &mut DbConn, fund_id: &FundId) -> Result<Minor, DieselError> {
    // Only central top-ups name a fund (`cofund check` audits it); not filtering by role
    // as well keeps a corrupt role from freeing budget.
    let commitments: Vec<(String, Minor)> = project_payers::table
        .filter(project_payers::fund_id.eq(fund_id))
        .select((
            project_payers::project_id,
            project_payers::max_commitment_minor,
        ))
        .load(conn)?;
    let projects: Vec<&str> = commitments.iter().map(|(p, _)| p.as_str()).collect();
    let declined = crate::domain::commitment::CommitmentStatus::Declined.as_str();
    let declined: HashSet<String> = project_payers::table
        .filter(project_payers::project_id.eq_any(&projects))
        .filter(project_payers::commitment.eq(declined))
        .select(project_payers::project_id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    Ok(commitments
        .iter()
        .filter(|(project, _)| !declined.contains(project))
        .map(|(_, minor)| minor)
        .sum())
}

/// Every fund a new project or its payers name, in id order (the order to lock them in).
pub fn funds_named(input: &NewProject) -> Vec<&str> {
    let mut ids: Vec<&str> = input
        .fund_id
        .iter()
        .chain(input.payers.iter().filter_map(|p| p.fund_id.as_ref()))
        .map(String::as_str)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The facts of every fund a new project or its payers name that exists, by id.
pub fn named_fund_facts(
    conn: &mut DbConn,
    input: &NewProject,
) -> Result<HashMap<String, FundFacts>, DieselError> {
    let mut funds = HashMap::new();
    for id in funds_named(input) {
        if let Some(facts) = fund_facts(conn, &FundId::from(id))? {
            funds.insert(id.to_owned(), facts);
        }
    }
    Ok(funds)
}

pub fn fund_facts(conn: &mut DbConn, fund_id: &FundId) -> Result<Option<FundFacts>, DieselError> {
    let Some(fund) = get_fund(conn, fund_id)? else {
        return Ok(None);
    };
    Ok(Some(FundFacts {
        committed_minor: fund_committed_minor(conn, fund_id)?,
        owner_organisation_id: fund.owner_organisation_id,
        currency: fund.currency,
        budget_minor: fund.budget_minor,
        service_end: fund.service_end,
    }))
}
