//! The use cases of settlement documents, as their parties and admins act on them: a period's
//! drafts built, a draft issued, a payment or refund recorded, a credit note set off, an issued
//! document voided, and documents read. Each decides who may act with
//! [`crate::domain::access`], takes the project's lock, and runs [`super::settlement`]'s work
//! in its own transaction; the answer is the documents as the caller may see them.

use crate::domain::ids::{DocumentId, ProjectId};
use std::collections::HashMap;

use chrono::NaiveDateTime;

use crate::db::models::{
    DocumentEvent, DocumentLine, DocumentPayment, ProjectRecord, SettlementDocument,
};
use crate::db::queries::{self, documents::DocumentFilter};
use crate::db::{write_tx, DbConn};
use crate::domain::access::{may_build_settlements, DocumentParty, Principal, Role};
use crate::domain::period::Period;
use crate::domain::FieldError;
use crate::services::access::{load_document, load_visible, AccessError};
use crate::services::claims::rules::lock_project;
use crate::services::error::ServiceError;
use crate::services::settlement::{self, Actor, Built, Payment};

/// The roles that may build a project's settlement drafts; [`may_build_settlements`] says
/// which of them may on a project.
pub const BUILDERS: &[Role] = &[Role::Admin, Role::Commissioner, Role::Provider];

/// Documents with the names of the organisations they name: (name, identifier) by id.
#[derive(Debug)]
pub struct SeenDocuments {
    pub documents: Vec<SettlementDocument>,
    pub parties: HashMap<String, (String, Option<String>)>,
}

/// One document with its lines (if asked for), payments and history.
#[derive(Debug)]
pub struct DocumentRecord {
    pub document: SeenDocuments,
    pub lines: Vec<DocumentLine>,
    pub payments: Vec<DocumentPayment>,
    pub history: Vec<DocumentEvent>,
}

/// Names the parties of `documents`, in one query however many there are.
fn named(
    conn: &mut DbConn,
    documents: Vec<SettlementDocument>,
) -> Result<SeenDocuments, ServiceError> {
    let mut ids: Vec<&str> = documents
        .iter()
        .flat_map(|d| {
            [
                d.issuer_organisation_id.as_str(),
                d.recipient_organisation_id.as_str(),
            ]
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let parties = queries::documents::organisation_names(conn, &ids)?;
    Ok(SeenDocuments { documents, parties })
}

/// A document `principal` may see, with its parties named.
fn seen_one(
    conn: &mut DbConn,
    principal: &Principal,
    id: &DocumentId,
) -> Result<SeenDocuments, ServiceError> {
    let document = load_document(conn, principal, id)?;
    named(conn, vec![document])
}

/// One document `principal` may see (any other is not found), with its lines unless
/// `with_lines` is false.
pub fn document(
    conn: &mut DbConn,
    principal: &Principal,
    id: &DocumentId,
    with_lines: bool,
) -> Result<DocumentRecord, ServiceError> {
    let d = load_document(conn, principal, id)?;
    record_of(conn, d, with_lines)
}

/// `d` with its lines unless `with_lines` is false, its payments and its history.
fn record_of(
    conn: &mut DbConn,
    d: SettlementDocument,
    with_lines: bool,
) -> Result<DocumentRecord, ServiceError> {
    let lines = match with_lines {
        true => queries::documents::document_lines_page(conn, &d.id, -1, i64::MAX)?,
        false => Vec::new(),
    };
    let payments = queries::documents::document_payments(conn, &d.id)?;
    let history = queries::documents::document_history(conn, &d.id)?;
    Ok(DocumentRecord {
        document: named(conn, vec![d])?,
        lines,
        payments,
        history,
    })
}

/// A page of the documents `principal` may see, as `filter` narrows them: every document for
/// an admin; for anyone else those its organisation issued or received and those of projects
/// in a fund it owns (see [`crate::domain::access::sees_document`]).
pub fn page(
    conn: &mut DbConn,
    principal: &Principal,
    filter: DocumentFilter,
    limit: i64,
) -> Result<SeenDocuments, ServiceError> {
    let filter = DocumentFilter {
        visible_to: principal.organisation().cloned(),
        ..filter
    };
    let documents = queries::documents::list_documents(conn, filter, limit)?;
    named(conn, documents)
}

/// What building a period made, with the drafts the caller may see.
#[derive(Debug)]
pub struct BuiltPeriod {
    pub built: Built,
    pub visible: SeenDocuments,
}

/// The use case "build a period's drafts": those who may build the project's settlements
/// replace the period's drafts, in one transaction under the project's lock.
pub fn build_period(
    conn: &mut DbConn,
    principal: &Principal,
    project_id: &ProjectId,
    period: Period,
    at: NaiveDateTime,
) -> Result<BuiltPeriod, ServiceError> {
    principal.require(BUILDERS)?;
    write_tx(conn, |conn| {
        lock_project(conn, project_id)?;
        let project = load_visible(conn, principal, project_id)?;
        may_build_settlements(principal, &project.parties())?;
        let built = settlement::build_period(conn, &project, period, actor_of(principal, at))?;
        // A payer sees only its own drafts.
        let visible = (built.document_ids.iter())
            .filter_map(|id| load_document(conn, principal, id).ok())
            .collect();
        let visible = named(conn, visible)?;
        Ok(BuiltPeriod { built, visible })
    })
}

/// The use case "issue a draft": its issuer numbers and freezes it.
pub fn issue(
    conn: &mut DbConn,
    principal: &Principal,
    id: &DocumentId,
    at: NaiveDateTime,
) -> Result<SeenDocuments, ServiceError> {
    transition(conn, principal, id, DocumentParty::Issuer, |conn, d| {
        settlement::issue(conn, &d.id, actor_of(principal, at))
    })
    .map(|(document, ())| document)
}

/// The use case "set a credit note off": either party, or an admin, sets issued credit note
/// `id` against `against`, an invoice or top-up claim of the same parties that the caller may
/// see (any other is a field error).
pub fn set_off(
    conn: &mut DbConn,
    principal: &Principal,
    id: &DocumentId,
    against: &DocumentId,
    at: NaiveDateTime,
) -> Result<SeenDocuments, ServiceError> {
    transition(
        conn,
        principal,
        id,
        DocumentParty::EitherOrAdmin,
        |conn, credit| {
            let against = match load_document(conn, principal, against) {
                Err(AccessError::NoDocument(_)) => {
                    Err(ServiceError::Invalid(vec![FieldError::new(
                        "against",
                        "no document with this id that you can see",
                    )]))
                }
                found => Ok(found?),
            }?;
            settlement::set_off(conn, &credit.id, &against.id, actor_of(principal, at))
        },
    )
    .map(|(document, _)| document)
}

/// The use case "void a document": its issuer, or an admin, voids an issued, unpaid document
/// with `reason`; a credit note cancels it. Answers the voided document and the credit note.
pub fn void(
    conn: &mut DbConn,
    principal: &Principal,
    id: &DocumentId,
    reason: &str,
    at: NaiveDateTime,
) -> Result<(SeenDocuments, SeenDocuments), ServiceError> {
    transition(
        conn,
        principal,
        id,
        DocumentParty::IssuerOrAdmin,
        |conn, d| {
            let credit_id = settlement::void(conn, &d.id, reason, actor_of(principal, at))?;
            seen_one(conn, principal, &credit_id)
        },
    )
}

/// Money recorded against a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoneyKind {
    /// Paid by the recipient of an issued document.
    Payment,
    /// Paid back by the issuer of an issued credit note.
    Refund,
}

/// The use case "record a payment or a refund": a payment by the document's recipient (or an
/// admin), a refund by its issuer (or an admin), in the document's currency (another is a
/// field error). It runs in the caller's write transaction, which a retried request shares
/// (see [`crate::services::idempotency`]).
pub fn record_money(
    conn: &mut DbConn,
    principal: &Principal,
    id: &DocumentId,
    (kind, payment, currency): (MoneyKind, &Payment, &str),
    at: NaiveDateTime,
) -> Result<SeenDocuments, ServiceError> {
    let party = match kind {
        MoneyKind::Payment => DocumentParty::RecipientOrAdmin,
        MoneyKind::Refund => DocumentParty::IssuerOrAdmin,
    };
    let d = locked_for(conn, principal, id, party)?;
    if currency != d.currency {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "amount.currency",
            format!("the document is in {}", d.currency),
        )]));
    }
    let actor = actor_of(principal, at);
    match kind {
        MoneyKind::Payment => settlement::record_payment(conn, &d.id, payment, actor)?,
        MoneyKind::Refund => settlement::record_refund(conn, &d.id, payment, actor)?,
    };
    seen_one(conn, principal, id)
}

/// A document the caller may see and may act on as `party`, with its project locked, and
/// `act` run in one transaction; answers with the document as it then stands and what `act`
/// gave.
fn transition<T>(
    conn: &mut DbConn,
    principal: &Principal,
    id: &DocumentId,
    party: DocumentParty,
    act: impl FnOnce(&mut DbConn, &SettlementDocument) -> Result<T, ServiceError>,
) -> Result<(SeenDocuments, T), ServiceError> {
    write_tx(conn, |conn| {
        let d = locked_for(conn, principal, id, party)?;
        let made = act(conn, &d)?;
        Ok((seen_one(conn, principal, id)?, made))
    })
}

/// The document, its project locked, checked to be one `party` may act on.
fn locked_for(
    conn: &mut DbConn,
    principal: &Principal,
    id: &DocumentId,
    party: DocumentParty,
) -> Result<SettlementDocument, ServiceError> {
    let d = load_document(conn, principal, id)?;
    lock_project(conn, &d.project_id)?;
    // Read again under the lock: another request may have moved it on.
    let d = load_document(conn, principal, id)?;
    party.check(
        principal,
        (&d.issuer_organisation_id, &d.recipient_organisation_id),
    )?;
    Ok(d)
}

/// A document `principal` may see (any other is not found), to be read line by line.
pub fn readable(
    conn: &mut DbConn,
    principal: &Principal,
    id: &DocumentId,
) -> Result<SettlementDocument, ServiceError> {
    Ok(load_document(conn, principal, id)?)
}

/// A document as printed: the document, its project, its first lines, and the names of the
/// project's payers.
#[derive(Debug)]
pub struct Printable {
    pub record: DocumentRecord,
    pub project: ProjectRecord,
    pub lines: Vec<DocumentLine>,
    pub payer_names: HashMap<String, (String, Option<String>)>,
}

/// One document `principal` may see, as printed, with at most `max_lines` of its lines.
pub fn printable(
    conn: &mut DbConn,
    principal: &Principal,
    id: &DocumentId,
    max_lines: i64,
) -> Result<Printable, ServiceError> {
    let d = load_document(conn, principal, id)?;
    let project = queries::projects::get_project(conn, &d.project_id)?
        .ok_or_else(|| ServiceError::Internal("a document's project is missing".into()))?;
    let lines = queries::documents::document_lines_page(conn, &d.id, -1, max_lines)?;
    let ids: Vec<&str> = (project.payers.iter())
        .map(|p| p.payer.organisation_id.as_str())
        .collect();
    let payer_names = queries::documents::organisation_names(conn, &ids)?;
    let record = record_of(conn, d, false)?;
    Ok(Printable {
        record,
        project,
        lines,
        payer_names,
    })
}

fn actor_of(who: &Principal, at: NaiveDateTime) -> Actor<'_> {
    Actor {
        subject: who.subject(),
        organisation_id: who.organisation(),
        at,
    }
}
