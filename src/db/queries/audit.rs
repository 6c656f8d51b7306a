//! The audit trail: appended, and read by organisation, member, action and time.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::Error as DieselError;

use crate::db::models::AuditEvent;
use crate::db::schema::audit_events;
use crate::db::DbConn;
use crate::domain::audit::AuditAction;
use crate::domain::ids::OrganisationId;

pub fn insert_audit_event(conn: &mut DbConn, event: &AuditEvent) -> Result<(), DieselError> {
    diesel::insert_into(audit_events::table)
        .values(event)
        .execute(conn)?;
    Ok(())
}

/// Which events to read; every field left `None` reads them all.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub organisation: Option<OrganisationId>,
    /// Events a member (or a key) took or was the target of.
    pub member: Option<String>,
    pub action: Option<AuditAction>,
    /// From this time (inclusive) and before this one (exclusive).
    pub from: Option<NaiveDateTime>,
    pub before: Option<NaiveDateTime>,
}

/// A page of events matching `filter`, oldest first, after `cursor`.
pub fn list_audit_events(
    conn: &mut DbConn,
    filter: &AuditFilter,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEvent>, DieselError> {
    let mut query = audit_events::table
        .select(AuditEvent::as_select())
        .order(audit_events::id)
        .limit(limit)
        .into_boxed();
    if let Some(organisation) = &filter.organisation {
        query = query.filter(audit_events::organisation_id.eq(organisation));
    }
    if let Some(member) = &filter.member {
        query = query.filter(
            audit_events::actor
                .eq(member)
                .or(audit_events::target.eq(member)),
        );
    }
    if let Some(action) = filter.action {
        query = query.filter(audit_events::action.eq(action));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_events::at.ge(from));
    }
    if let Some(before) = filter.before {
        query = query.filter(audit_events::at.lt(before));
    }
    if let Some(cursor) = cursor {
        query = query.filter(audit_events::id.gt(cursor));
    }
    query.load(conn)
}
