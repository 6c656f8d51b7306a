//! The notifications events queue, in the event's own transaction (see [`crate::notify`]).

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::models::{Claim, ProjectRecord};
use crate::db::schema::projects;
use crate::db::{queries, DbConn};
use crate::domain::ledger::payer_account;
use crate::domain::money::{Minor, MoneyJson};
use crate::domain::position::crossed;
use crate::notify::{self, messages};
use crate::services::error::ServiceError;

/// Tells the fund's managers and the payer when a verification takes a payer past 80 % or
/// 100 % of its cap. `before` and `after` are the project's running totals around the batch.
pub fn cap_crossings(
    conn: &mut DbConn,
    record: &ProjectRecord,
    before: &HashMap<String, i64>,
    after: &HashMap<String, i64>,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    let project = &record.project;
    for payer in record.payers.iter().map(|r| &r.payer) {
        let account = payer_account(&payer.id);
        let total = |totals: &HashMap<String, i64>| totals.get(&account).copied().unwrap_or(0);
        let (was, is) = (Minor(total(before)), Minor(total(after)));
        let Some(level) = crossed(was, is, payer.max_commitment_minor) else {
            continue;
        };
        let fund_id = payer.fund_id.as_ref().or(project.fund_id.as_ref());
        let fund_owner = match fund_id {
            Some(id) => queries::funds::get_fund(conn, id)?.map(|f| f.owner_organisation_id),
            None => None,
        };
        let money = |minor: Minor| MoneyJson::from_minor(minor, &project.currency).to_string();
        let message = messages::cap_crossed(
            &project.name,
            &notify::name_of(conn, &payer.organisation_id)?,
            level,
            &money(is),
            &money(payer.max_commitment_minor),
        );
        let mut to = vec![&payer.organisation_id];
        to.extend(fund_owner.as_ref());
        notify::enqueue(conn, &to, message, now)?;
    }
    Ok(())
}

/// Tells the provider's billing contacts that one of its claims was rejected, and why.
pub fn claim_rejected(
    conn: &mut DbConn,
    claim: &Claim,
    reason: &str,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    let project: String = projects::table
        .find(&claim.project_id)
        .select(projects::name)
        .first(conn)?;
    let message = messages::claim_rejected(
        &claim.id,
        &project,
        &claim.outcome_code,
        &claim.achieved_on.to_string(),
        reason,
    );
    notify::enqueue(conn, &[&claim.submitted_by_organisation_id], message, now)?;
    Ok(())
}
