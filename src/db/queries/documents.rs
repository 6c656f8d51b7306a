//! Settlement documents: read, listed, their lines, payments and history.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::result::Error as DieselError;

use crate::db::models::*;
use crate::db::schema::*;
use crate::db::{DbConn, MultiBackend};
use crate::domain::ids::{DocumentId, OrganisationId, ProjectId};
use crate::domain::settlement::{DocumentKind, DocumentStatus};

/// Names and org-id identifiers of organisations, by id.
pub fn organisation_names(
    conn: &mut DbConn,
    ids: &[&str],
) -> Result<HashMap<String, (String, Option<String>)>, DieselError> {
    let rows: Vec<(String, String, Option<String>)> = organisations::table
        .filter(organisations::id.eq_any(ids))
        .select((
            organisations::id,
            organisations::name,
            organisations::identifier,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, identifier)| (id, (name, identifier)))
        .collect())
}

pub fn get_document(
    conn: &mut DbConn,
    id: &DocumentId,
) -> Result<Option<SettlementDocument>, DieselError> {
    settlement_documents::table
        .find(id)
        .select(SettlementDocument::as_select())
        .first(conn)
        .optional()
}

/// The organisation owning the project's fund, if it has one.
pub fn project_fund_owner(
    conn: &mut DbConn,
    project_id: &ProjectId,
) -> Result<Option<OrganisationId>, DieselError> {
    projects::table
        .inner_join(funds::table)
        .filter(projects::id.eq(project_id))
        .select(funds::owner_organisation_id)
        .first(conn)
        .optional()
}

/// What a document list may be narrowed to; `visible_to` limits it to the documents an
/// organisation issued, received or whose project its fund tops up (see
/// [`crate::domain::access::sees_document`]).
#[derive(Debug, Default)]
pub struct DocumentFilter {
    pub visible_to: Option<OrganisationId>,
    pub project_id: Option<ProjectId>,
    pub issuer_organisation_id: Option<OrganisationId>,
    pub recipient_organisation_id: Option<OrganisationId>,
    pub period: Option<String>,
    pub status: Option<DocumentStatus>,
    pub kind: Option<DocumentKind>,
    pub after: Option<String>,
}

pub fn list_documents(
    conn: &mut DbConn,
    filter: DocumentFilter,
    limit: i64,
) -> Result<Vec<SettlementDocument>, DieselError> {
    use settlement_documents as d;
    let mut query = d::table
        .select(SettlementDocument::as_select())
        .into_boxed::<MultiBackend>();
    if let Some(org) = filter.visible_to {
        let funded_projects = projects::table
            .inner_join(funds::table)
            .filter(funds::owner_organisation_id.eq(org.clone()))
            .select(projects::id);
        query = query.filter(
            d::issuer_organisation_id
                .eq(org.clone())
                .or(d::recipient_organisation_id.eq(org))
                .or(d::project_id.eq_any(funded_projects)),
        );
    }
    if let Some(v) = filter.project_id {
        query = query.filter(d::project_id.eq(v));
    }
    if let Some(v) = filter.issuer_organisation_id {
        query = query.filter(d::issuer_organisation_id.eq(v));
    }
    if let Some(v) = filter.recipient_organisation_id {
        query = query.filter(d::recipient_organisation_id.eq(v));
    }
    if let Some(v) = filter.period {
        query = query.filter(d::period.eq(v));
    }
    if let Some(v) = filter.status {
        query = query.filter(d::status.eq(v));
    }
    if let Some(v) = filter.kind {
        query = query.filter(d::kind.eq(v));
    }
    if let Some(after) = filter.after {
        query = query.filter(d::id.gt(after));
    }
    query.order(d::id.asc()).limit(limit).load(conn)
}

/// A document's lines from `after_position` on, at most `limit`, in order.
pub fn document_lines_page(
    conn: &mut DbConn,
    document_id: &DocumentId,
    after_position: i32,
    limit: i64,
) -> Result<Vec<DocumentLine>, DieselError> {
    document_lines::table
        .filter(document_lines::document_id.eq(document_id))
        .filter(document_lines::position.gt(after_position))
        .order(document_lines::position.asc())
        .limit(limit)
        .select(DocumentLine::as_select())
        .load(conn)
}

pub fn document_payments(
    conn: &mut DbConn,
    document_id: &DocumentId,
) -> Result<Vec<DocumentPayment>, DieselError> {
    document_payments::table
        .filter(document_payments::document_id.eq(document_id))
        .order((
            document_payments::recorded_at.asc(),
            document_payments::id.asc(),
        ))
        .select(DocumentPayment::as_select())
        .load(conn)
}

pub fn document_history(
    conn: &mut DbConn,
    document_id: &DocumentId,
) -> Result<Vec<DocumentEvent>, DieselError> {
    document_events::table
        .filter(document_events::document_id.eq(document_id))
        .order(document_events::id.asc())
        .select(DocumentEvent::as_select())
        .load(conn)
}
