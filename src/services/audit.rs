//! The audit trail: every change to members and keys, and each key's first use of a day,
//! recorded in the transaction of the change itself; and read by those who may.

use chrono::NaiveDateTime;

use crate::db::models::AuditEvent;
use crate::db::queries::{self, audit::AuditFilter};
use crate::db::DbConn;
use crate::domain::access::Principal;
use crate::domain::audit::{may_read_trail, AuditAction};
use crate::domain::ids::OrganisationId;
use crate::services::access::acting_member;
use crate::services::error::ServiceError;

/// Who acts, when, and from which address (behind a proxy, the proxy's).
pub struct Actor<'a> {
    pub principal: &'a Principal,
    pub at: NaiveDateTime,
    pub address: Option<String>,
}

/// What an event records beyond who and when.
pub struct Step<'a> {
    /// Whose trail it goes in (`None`: the installation's).
    pub organisation: Option<&'a OrganisationId>,
    pub action: AuditAction,
    pub target: Option<&'a str>,
    pub detail: String,
}

/// Appends `step`, taken by `by`, to the trail (in the caller's transaction).
pub fn record(conn: &mut DbConn, by: &Actor, step: Step) -> Result<(), ServiceError> {
    append(
        conn,
        by.principal.subject(),
        by.principal.organisation(),
        by.at,
        by.address.clone(),
        step,
    )
}

/// Appends `step`, taken on the command line by the installation's operator.
pub fn record_operator(
    conn: &mut DbConn,
    at: NaiveDateTime,
    step: Step,
) -> Result<(), ServiceError> {
    append(conn, "operator", None, at, None, step)
}

fn append(
    conn: &mut DbConn,
    actor: &str,
    actor_organisation: Option<&OrganisationId>,
    at: NaiveDateTime,
    address: Option<String>,
    step: Step,
) -> Result<(), ServiceError> {
    let event = AuditEvent {
        id: queries::new_id("aud"),
        at,
        actor: actor.to_owned(),
        actor_organisation_id: actor_organisation.cloned(),
        organisation_id: step.organisation.cloned(),
        action: step.action,
        target: step.target.map(str::to_owned),
        detail: step.detail,
        address,
    };
    Ok(queries::audit::insert_audit_event(conn, &event)?)
}

/// The use case "read the audit trail": an admin reads any organisation's, or every one's;
/// an organisation's administrators read their own organisation's.
pub fn read_trail(
    conn: &mut DbConn,
    caller: &Principal,
    filter: &AuditFilter,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditEvent>, ServiceError> {
    let acting = acting_member(conn, caller)?;
    may_read_trail(caller, acting.as_ref(), filter.organisation.as_ref())?;
    Ok(queries::audit::list_audit_events(
        conn, filter, cursor, limit,
    )?)
}
