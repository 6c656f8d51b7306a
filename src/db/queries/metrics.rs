//! What /metrics reads of the database.

use diesel::prelude::*;
use diesel::result::Error as DieselError;

use crate::db::schema::*;
use crate::db::DbConn;

#[derive(diesel::QueryableByName)]
struct AllocatedByRole {
    #[diesel(sql_type = diesel::sql_types::Text)]
    role: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    currency: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    minor: i64,
}

/// Money allocated to payers, net of reversals, by payer role and currency: read from the
/// running totals (one row per payer account), never from the ledger's rows. SUM of a BIGINT
/// is NUMERIC on PostgreSQL, hence the cast.
pub fn allocated_by_role(conn: &mut DbConn) -> Result<Vec<(String, String, i64)>, DieselError> {
    let prefix = crate::domain::ledger::PAYER_ACCOUNT_PREFIX;
    let rows: Vec<AllocatedByRole> = diesel::sql_query(format!(
        "SELECT pp.role AS role, p.currency AS currency, CAST(SUM(rt.value) AS BIGINT) AS minor \
         FROM running_totals rt \
         JOIN project_payers pp ON pp.project_id = rt.project_id AND rt.name = '{prefix}' || pp.id \
         JOIN projects p ON p.id = pp.project_id \
         GROUP BY pp.role, p.currency ORDER BY pp.role, p.currency"
    ))
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.role, r.currency, r.minor))
        .collect())
}

/// Emails in the outbox by status.
pub fn outbox_by_status(conn: &mut DbConn) -> Result<Vec<(String, i64)>, DieselError> {
    outbox::table
        .group_by(outbox::status)
        .select((outbox::status, diesel::dsl::count_star()))
        .order(outbox::status.asc())
        .load(conn)
}
