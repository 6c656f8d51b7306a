//! The email outbox: a page of it and its counts by status.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::result::Error as DieselError;

use crate::db::models::*;
use crate::db::schema::*;
use crate::db::{DbConn, MultiBackend};
use crate::domain::outbox::OutboxStatus;

/// Messages by status.
pub fn outbox_counts(conn: &mut DbConn) -> Result<HashMap<String, i64>, DieselError> {
    crate::db::totals::grouped(
        conn,
        "SELECT status AS key, CAST(COUNT(*) AS BIGINT) AS total FROM outbox GROUP BY status",
        &[],
    )
}

pub fn list_outbox(
    conn: &mut DbConn,
    status: Option<OutboxStatus>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxMessage>, DieselError> {
    let mut query = outbox::table
        .select(OutboxMessage::as_select())
        .into_boxed::<MultiBackend>();
    if let Some(status) = status {
        query = query.filter(outbox::status.eq(status));
    }
    if let Some(after) = after.filter(|a| !a.is_empty()) {
        query = query.filter(outbox::id.gt(after.to_owned()));
    }
    query.order(outbox::id.asc()).limit(limit).load(conn)
}
