//! Settlement documents from the ledger: building a period's drafts, issuing, recording
//! payments and voiding. Each function runs inside the caller's write transaction, after the
//! caller has locked the project ([`crate::services::claims::rules::lock_project`]), so that builds,
//! issues and payments of one project take turns.

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel::dsl::{exists, not};
use diesel::prelude::*;

use crate::db::backend_specific::{ensure_document_sequence, lock_row_for_update, LockableTable};
use crate::db::models::{
    DocumentLine, DocumentPayment, NewDocumentEvent, SettlementDocument, SettlementLink,
};
use crate::db::queries::{insert_rows, new_id};
use crate::db::schema::{
    allocations, claims, document_events, document_lines, document_payments, document_sequences,
    organisations, projects, settlement_documents, settlement_links,
};
use crate::db::DbConn;
use crate::domain::ids::{ClaimId, DocumentId, EntryId, OrganisationId, ProjectId};
use crate::domain::money::{Minor, MoneyJson};
use crate::domain::period::Period;
use crate::domain::registry::SettlementRoute;
use crate::domain::settlement::{
    self, check_paid_on, check_payment, check_refund, document_number, number_prefix,
    set_off_amount, DocumentAction, DocumentKind, DocumentStatus, DraftDocument, Leg, Parties,
    PaymentRefused, SetOffRefused, SettledBy, Settling, Unsettled,
};
use crate::domain::FieldError;
use crate::notify::{self, messages};
use crate::services::access::VisibleProject;
use crate::services::error::ServiceError;

/// Who acts, and when.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    /// The person (the token's subject).
    pub subject: &'a str,
    /// The organisation they act for; none for an admin.
    pub organisation_id: Option<&'a OrganisationId>,
    pub at: NaiveDateTime,
}

/// What building a period did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The drafts now standing for the period, in the order built.
    pub document_ids: Vec<DocumentId>,
    /// Earlier drafts of the period that were replaced.
    pub replaced_drafts: usize,
    /// Allocations settled by the new drafts (in all legs).
    pub allocations: usize,
}

/// Builds the draft documents of `period`: every allocation of the project posted before the
/// period ends and not yet on a document of its leg. Earlier drafts of the same period are
/// rebuilt (they may have missed later postings); issued documents are never touched.
pub fn build_period(
    conn: &mut DbConn,
    project: &VisibleProject,
    period: Period,
    actor: Actor,
) -> Result<Built, ServiceError> {
    let p = &project.record.project;
    let frequency = p.settlement_frequency;
    if period.frequency() != frequency {
        let example = Period::containing(actor.at.date(), frequency);
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "period",
            format!(
                "this project settles {}: name a period such as {example}",
                frequency.as_str()
            ),
        )]));
    }
    if period.start() > actor.at.date() {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "period",
            "this period has not begun: nothing can have been posted in it",
        )]));
    }
    let started = std::time::Instant::now();
    let replaced_drafts = delete_drafts(conn, &p.id, &period.to_string())?;
    let route = p.settlement_route;
    let lead = project.record.payers.iter().find(|r| r.payer.lead);
    let parties = Parties {
        route,
        provider: &p.provider_organisation_id,
        lead: lead.map(|r| r.payer.organisation_id.as_str()),
    };
    let cutoff = period
        .end_exclusive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight");
    let mut unsettled = load_unsettled(conn, &p.id, Leg::Invoice, cutoff)?;
    if route == SettlementRoute::ViaCommissioner {
        unsettled.extend(load_unsettled(conn, &p.id, Leg::TopUpClaim, cutoff)?);
    }
    let loaded = started.elapsed();
    let drafts = settlement::build(&parties, unsettled)
        .map_err(|e| ServiceError::Conflict(e.to_string()))?;
    let built = started.elapsed();
    // Headers first (the links name them), then every link in allocation order, then each
    // document's lines, taking the drafts' text rather than copying it.
    let mut document_ids = Vec::with_capacity(drafts.len());
    for draft in &drafts {
        document_ids.push(insert_header(conn, project, period, draft, actor)?);
    }
    let allocations = insert_links(conn, &drafts, &document_ids)?;
    insert_lines(conn, drafts, &document_ids)?;
    tracing::info!(
        project_id = %p.id,
        period = %period,
        documents = document_ids.len(),
        allocations,
        replaced_drafts,
        load_ms = loaded.as_millis() as u64,
        build_ms = (built - loaded).as_millis() as u64,
        store_ms = (started.elapsed() - built).as_millis() as u64,
        "settlement drafts built"
    );
    Ok(Built {
        document_ids,
        replaced_drafts,
        allocations,
    })
}

/// The project's allocations posted before `cutoff` that no document of `leg` settles yet.
fn load_unsettled(
    conn: &mut DbConn,
    project_id: &ProjectId,
    leg: Leg,
    cutoff: NaiveDateTime,
) -> Result<Vec<Unsettled>, ServiceError> {
    type Row = (
        i64,
        EntryId,
        ClaimId,
        OrganisationId,
        String,
        String,
        NaiveDate,
        NaiveDateTime,
        Minor,
    );
    let settled = settlement_links::table
        .filter(settlement_links::allocation_id.eq(allocations::id))
        .filter(settlement_links::leg.eq(leg.as_str()));
    let rows: Vec<Row> = allocations::table
        .inner_join(claims::table)
        .filter(allocations::project_id.eq(project_id))
        .filter(allocations::posted_at.lt(cutoff))
        .filter(allocations::amount_minor.ne(0))
        .filter(not(exists(settled)))
        .select((
            allocations::id,
            allocations::entry_id,
            allocations::claim_id,
            allocations::payer_organisation_id,
            allocations::outcome_code,
            claims::participant_pseudonym,
            allocations::achieved_on,
            allocations::posted_at,
            allocations::amount_minor,
        ))
        .order(allocations::id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, entry, claim, payer, outcome, pseudonym, achieved_on, posted_at, amount)| {
                Unsettled {
                    allocation_id: id,
                    leg,
                    entry_id: entry,
                    claim_id: claim,
                    payer_organisation_id: payer,
                    outcome_code: outcome,
                    participant_pseudonym: pseudonym,
                    achieved_on,
                    posted_at,
                    amount_minor: amount,
                }
            },
        )
        .collect())
}

/// Records which line of which new draft settles each allocation, in allocation order: the
/// links' key grows as they are written, whichever document each belongs to. Returns how many.
fn insert_links(
    conn: &mut DbConn,
    drafts: &[DraftDocument],
    document_ids: &[DocumentId],
) -> Result<usize, ServiceError> {
    let mut links: Vec<SettlementLink> = Vec::new();
    for (draft, document_id) in drafts.iter().zip(document_ids) {
        for (line, position) in draft.lines.iter().zip(0..) {
            links.extend(
                line.allocation_ids
                    .iter()
                    .map(|allocation_id| SettlementLink {
                        allocation_id: *allocation_id,
                        leg: draft.leg.as_str(),
                        document_id: document_id.clone(),
                        line_position: position,
                    }),
            );
        }
    }
    links.sort_unstable_by_key(|l| (l.allocation_id, l.leg));
    insert_rows!(conn, settlement_links::table, &links)?;
    Ok(links.len())
}

/// Removes the project's drafts of `period` with their lines, links and history.
fn delete_drafts(
    conn: &mut DbConn,
    project_id: &ProjectId,
    period: &str,
) -> Result<usize, ServiceError> {
    let drafts: Vec<String> = settlement_documents::table
        .filter(settlement_documents::project_id.eq(project_id))
        .filter(settlement_documents::period.eq(period))
        .filter(settlement_documents::status.eq(DocumentStatus::Draft))
        .select(settlement_documents::id)
        .load(conn)?;
    for id in &drafts {
        diesel::delete(settlement_links::table.filter(settlement_links::document_id.eq(id)))
            .execute(conn)?;
        diesel::delete(document_lines::table.filter(document_lines::document_id.eq(id)))
            .execute(conn)?;
        diesel::delete(document_events::table.filter(document_events::document_id.eq(id)))
            .execute(conn)?;
        diesel::delete(settlement_documents::table.find(id)).execute(conn)?;
    }
    Ok(drafts.len())
}

/// A new draft's header row, and the event that records its building.
fn insert_header(
    conn: &mut DbConn,
    project: &VisibleProject,
    period: Period,
    draft: &DraftDocument,
    actor: Actor,
) -> Result<DocumentId, ServiceError> {
    let id = DocumentId::from(new_id("doc"));
    let document = SettlementDocument {
        id: id.clone(),
        project_id: project.record.project.id.clone(),
        kind: draft.kind,
        status: DocumentStatus::Draft,
        period: period.to_string(),
        period_start: period.start(),
        period_end: period.last_day(),
        issuer_organisation_id: draft.issuer_organisation_id.clone(),
        recipient_organisation_id: draft.recipient_organisation_id.clone(),
        currency: project.record.project.currency.clone(),
        total_minor: draft.total_minor,
        paid_minor: Minor::ZERO,
        line_count: line_position(draft.lines.len())?,
        number: None,
        issued_on: None,
        due_on: None,
        credits_document_id: None,
        void_reason: None,
        created_by: actor.subject.to_owned(),
        created_at: actor.at,
    };
    diesel::insert_into(settlement_documents::table)
        .values(&document)
        .execute(conn)?;
    let detail = format!(
        "{} lines, total {} minor units",
        draft.lines.len(),
        draft.total_minor
    );
    record_event(conn, &id, DocumentAction::Built, actor, detail)?;
    Ok(id)
}

fn line_position(n: usize) -> Result<i32, ServiceError> {
    i32::try_from(n)
        .map_err(|_| ServiceError::Conflict("a document of more than 2^31 lines".into()))
}

/// Every new draft's lines, in one bulk insert.
fn insert_lines(
    conn: &mut DbConn,
    drafts: Vec<DraftDocument>,
    document_ids: &[DocumentId],
) -> Result<(), ServiceError> {
    let mut lines: Vec<DocumentLine> = Vec::new();
    for (draft, document_id) in drafts.into_iter().zip(document_ids) {
        lines.extend(
            draft
                .lines
                .into_iter()
                .zip(0..)
                .map(|(line, position)| DocumentLine {
                    document_id: document_id.clone(),
                    position,
                    claim_id: line.claim_id,
                    outcome_code: line.outcome_code,
                    participant_pseudonym: line.participant_pseudonym,
                    achieved_on: line.achieved_on,
                    posted_at: line.posted_at,
                    amount_minor: line.amount_minor,
                }),
        );
    }
    insert_rows!(conn, document_lines::table, &lines)?;
    Ok(())
}

fn record_event(
    conn: &mut DbConn,
    document_id: &DocumentId,
    action: DocumentAction,
    actor: Actor,
    detail: String,
) -> Result<(), ServiceError> {
    diesel::insert_into(document_events::table)
        .values(NewDocumentEvent {
            document_id: document_id.to_owned(),
            action,
            actor: actor.subject.to_owned(),
            actor_organisation_id: actor.organisation_id.cloned(),
            at: actor.at,
            detail,
        })
        .execute(conn)?;
    Ok(())
}

/// A stored document, read under a row lock for a transition.
fn lock_document(conn: &mut DbConn, id: &DocumentId) -> Result<SettlementDocument, ServiceError> {
    lock_row_for_update(conn, LockableTable::SettlementDocuments, id)?;
    settlement_documents::table
        .find(id)
        .select(SettlementDocument::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ServiceError::NotFound("no document with this id that you can see".into()))
}

/// The next number in the issuer's gap-free sequence of `issued_on`'s year: taken in the
/// issuing transaction, under the sequence row's lock, so that a rollback gives it back.
fn next_number(
    conn: &mut DbConn,
    issuer: &OrganisationId,
    issued_on: NaiveDate,
) -> Result<String, ServiceError> {
    let year = issued_on.year();
    ensure_document_sequence(conn, issuer, year)?;
    let key = document_sequences::table
        .filter(document_sequences::issuer_organisation_id.eq(issuer))
        .filter(document_sequences::year.eq(year));
    diesel::update(key)
        .set(document_sequences::last_number.eq(document_sequences::last_number + 1))
        .execute(conn)?;
    let sequence: i32 = key.select(document_sequences::last_number).first(conn)?;
    let name: String = organisations::table
        .find(issuer)
        .select(organisations::name)
        .first(conn)?;
    Ok(document_number(&number_prefix(&name), issued_on, sequence))
}

/// Numbers and freezes a draft; it is due its project's payment terms after today. A draft of
/// nothing is numbered and closed at once (`paid`, with no due date and no email).
pub fn issue(
    conn: &mut DbConn,
    document_id: &DocumentId,
    actor: Actor,
) -> Result<(), ServiceError> {
    let document = lock_document(conn, document_id)?;
    let payment_terms_days: i32 = projects::table
        .find(&document.project_id)
        .select(projects::payment_terms_days)
        .first(conn)?;
    if document.status != DocumentStatus::Draft {
        return Err(ServiceError::Conflict(format!(
            "the document is {}: only a draft is issued",
            document.status
        )));
    }
    let issued_on = actor.at.date();
    let number = next_number(conn, &document.issuer_organisation_id, issued_on)?;
    // A document of nothing (a verification and its revocation in one period) is numbered,
    // so that the sequence keeps it, and closed at once: nobody owes anything, nobody is asked
    // to act.
    let nothing_owed = document.total_minor.is_zero();
    // A credit note is owed to its recipient, not by it: it falls due on nothing.
    let due_on = (document.kind != DocumentKind::CreditNote && !nothing_owed)
        .then(|| issued_on + chrono::Duration::days(i64::from(payment_terms_days)));
    let status = if nothing_owed {
        DocumentStatus::Paid
    } else {
        DocumentStatus::Issued
    };
    diesel::update(settlement_documents::table.find(document_id))
        .set((
            settlement_documents::status.eq(status),
            settlement_documents::number.eq(&number),
            settlement_documents::issued_on.eq(issued_on),
            settlement_documents::due_on.eq(due_on),
        ))
        .execute(conn)?;
    let detail = match due_on {
        _ if nothing_owed => format!("numbered {number}; nothing is owed, so it is closed"),
        Some(due_on) => format!("numbered {number}, due {due_on}"),
        None => format!("numbered {number}"),
    };
    record_event(conn, document_id, DocumentAction::Issued, actor, detail)?;
    if nothing_owed {
        return Ok(());
    }
    notify_issued(conn, &document, &number, due_on, actor)
}

/// Queues the email that tells the recipient's billing contacts of an issued document.
fn notify_issued(
    conn: &mut DbConn,
    document: &SettlementDocument,
    number: &str,
    due_on: Option<NaiveDate>,
    actor: Actor,
) -> Result<(), ServiceError> {
    let project: String = projects::table
        .find(&document.project_id)
        .select(projects::name)
        .first(conn)?;
    let kind_label = match document.kind {
        DocumentKind::Invoice => "Invoice",
        DocumentKind::TopUpClaim => "Top-up claim",
        DocumentKind::CreditNote => "Credit note",
    };
    let total = MoneyJson::from_minor(document.total_minor, &document.currency).to_string();
    let message = messages::document_issued(&messages::IssuedDocument {
        kind_label,
        number,
        document_id: &document.id,
        issuer: &notify::name_of(conn, &document.issuer_organisation_id)?,
        recipient: &notify::name_of(conn, &document.recipient_organisation_id)?,
        project: &project,
        period: &document.period,
        total: &total,
        due_on: due_on.map(|d| d.to_string()).as_deref(),
    });
    notify::enqueue(
        conn,
        &[&document.recipient_organisation_id],
        message,
        actor.at,
    )?;
    Ok(())
}

/// A payment received against a document.
#[derive(Debug, Clone)]
pub struct Payment {
    pub amount_minor: Minor,
    pub paid_on: NaiveDate,
    pub reference: String,
}

/// Records a payment; the document is `paid` once payments reach its total. Overpayment is
/// refused, naming what is outstanding, and so is a payment dated before the document was
/// issued.
pub fn record_payment(
    conn: &mut DbConn,
    document_id: &DocumentId,
    payment: &Payment,
    actor: Actor,
) -> Result<String, ServiceError> {
    let document = lock_document(conn, document_id)?;
    let amount = check_payment(
        document.kind,
        document.status,
        document.total_minor,
        document.paid_minor,
        payment.amount_minor,
    );
    let in_full = money_and_date(&document, payment, amount)?;
    let settling = Settlement {
        amount_minor: payment.amount_minor,
        in_full,
        by: SettledBy::Payment,
        counterpart: None,
    };
    settle(conn, &document, settling, payment, actor)
}

/// Records a refund of a credit note by its issuer: kept negative, as the credit note's total
/// is; the credit note is `paid` once refunds (and set-offs) reach its total.
pub fn record_refund(
    conn: &mut DbConn,
    document_id: &DocumentId,
    refund: &Payment,
    actor: Actor,
) -> Result<String, ServiceError> {
    let document = lock_document(conn, document_id)?;
    let amount = check_refund(settling(&document)?, refund.amount_minor);
    let in_full = money_and_date(&document, refund, amount)?;
    let settling = Settlement {
        amount_minor: -refund.amount_minor,
        in_full,
        by: SettledBy::Refund,
        counterpart: None,
    };
    settle(conn, &document, settling, refund, actor)
}

/// Sets an issued credit note against an issued invoice or top-up claim of the same project
/// and parties: all that is left of the smaller is settled on both, today, each naming the
/// other. Returns the amount.
pub fn set_off(
    conn: &mut DbConn,
    credit_id: &DocumentId,
    against_id: &DocumentId,
    actor: Actor,
) -> Result<Minor, ServiceError> {
    // Locked in id order, so that two set-offs of the same pair wait rather than deadlock.
    let (first, second) = if credit_id < against_id {
        (credit_id, against_id)
    } else {
        (against_id, credit_id)
    };
    let first = lock_document(conn, first)?;
    let second = lock_document(conn, second)?;
    let (credit, against) = if &first.id == credit_id {
        (first, second)
    } else {
        (second, first)
    };
    let amount = set_off_amount(settling(&credit)?, settling(&against)?).map_err(|e| match e {
        SetOffRefused::Credit(e) => ServiceError::Conflict(e.to_string()),
        other => ServiceError::Invalid(vec![FieldError::new("against", other.to_string())]),
    })?;
    for (document, other, signed) in [(&credit, &against, -amount), (&against, &credit, amount)] {
        let record = Payment {
            amount_minor: signed,
            paid_on: actor.at.date(),
            reference: format!("set off against {}", other.number.as_deref().unwrap_or("")),
        };
        let settling = Settlement {
            amount_minor: signed,
            in_full: document.total_minor - document.paid_minor == signed,
            by: SettledBy::SetOff,
            counterpart: Some(&other.id),
        };
        settle(conn, document, settling, &record, actor)?;
    }
    Ok(amount)
}

fn settling(document: &SettlementDocument) -> Result<Settling<'_>, ServiceError> {
    Ok(Settling {
        kind: document.kind,
        status: document.status,
        total_minor: document.total_minor,
        paid_minor: document.paid_minor,
        project_id: &document.project_id,
        issuer: &document.issuer_organisation_id,
        recipient: &document.recipient_organisation_id,
        currency: &document.currency,
        cancels_void: document.credits_document_id.is_some(),
    })
}

/// The amount's and the date's problems together, or whether the money settles in full.
fn money_and_date(
    document: &SettlementDocument,
    payment: &Payment,
    amount: Result<bool, PaymentRefused>,
) -> Result<bool, ServiceError> {
    let amount = amount.map_err(|e| {
        let detail = match e {
            PaymentRefused::Overpayment { outstanding_minor } => format!(
                "this would overpay the document: {} is outstanding",
                MoneyJson::from_minor(outstanding_minor, &document.currency)
            ),
            other => other.to_string(),
        };
        FieldError::new("amount", detail)
    });
    let date = check_paid_on(document.issued_on, payment.paid_on)
        .map_err(|detail| FieldError::new("paid_on", detail));
    match (amount, date) {
        (Ok(in_full), Ok(())) => Ok(in_full),
        (amount, date) => {
            let errors = [amount.err(), date.err()].into_iter().flatten();
            Err(ServiceError::Invalid(errors.collect()))
        }
    }
}

/// Money settling a document, in the document's direction (negative on a credit note).
struct Settlement<'a> {
    amount_minor: Minor,
    in_full: bool,
    by: SettledBy,
    counterpart: Option<&'a DocumentId>,
}

/// Records money against a locked document, checked, and marks it `paid` once settled.
fn settle(
    conn: &mut DbConn,
    document: &SettlementDocument,
    settling: Settlement,
    record: &Payment,
    actor: Actor,
) -> Result<String, ServiceError> {
    let paid_minor = document.paid_minor + settling.amount_minor;
    // Never beyond the total, whichever its sign.
    assert!(
        paid_minor.abs() <= document.total_minor.abs()
            && paid_minor.signum() * document.total_minor.signum() >= 0
    );
    assert_eq!(settling.in_full, paid_minor == document.total_minor);
    let id = new_id("pay");
    diesel::insert_into(document_payments::table)
        .values(DocumentPayment {
            id: id.clone(),
            document_id: document.id.clone(),
            amount_minor: settling.amount_minor,
            paid_on: record.paid_on,
            reference: record.reference.clone(),
            recorded_by: actor.subject.to_owned(),
            recorded_by_organisation_id: actor.organisation_id.cloned(),
            recorded_at: actor.at,
            settled_by: settling.by,
            counterpart_document_id: settling.counterpart.cloned(),
        })
        .execute(conn)?;
    let status = if settling.in_full {
        DocumentStatus::Paid
    } else {
        DocumentStatus::Issued
    };
    diesel::update(settlement_documents::table.find(&document.id))
        .set((
            settlement_documents::paid_minor.eq(paid_minor),
            settlement_documents::status.eq(status),
        ))
        .execute(conn)?;
    let detail = format!(
        "{} minor units settled by {} on {}",
        settling.amount_minor.abs(),
        settling.by.as_str(),
        record.paid_on
    );
    let event = if settling.in_full {
        DocumentAction::Paid
    } else {
        DocumentAction::Payment
    };
    record_event(conn, &document.id, event, actor, detail)?;
    Ok(id)
}

/// Voids an issued, unpaid document: a credit note (numbered in the issuer's sequence) cancels
/// it line for line, and its allocations are released to be settled again.
pub fn void(
    conn: &mut DbConn,
    document_id: &DocumentId,
    reason: &str,
    actor: Actor,
) -> Result<DocumentId, ServiceError> {
    let document = lock_document(conn, document_id)?;
    let status = document.status;
    if status != DocumentStatus::Issued {
        return Err(ServiceError::Conflict(format!(
            "the document is {}: only an issued document with no payment is voided",
            document.status
        )));
    }
    if !document.paid_minor.is_zero() {
        return Err(ServiceError::Conflict(
            "the document is part paid: only an issued document with no payment is voided".into(),
        ));
    }
    // Voiding a credit note would make a "credit note" that charges: a wrong credit is put
    // right by the next document instead.
    if document.kind == DocumentKind::CreditNote {
        return Err(ServiceError::Conflict(
            "a credit note is not voided: what it credits is settled, and any correction is a new ledger entry on the next document".into(),
        ));
    }
    let credit = issue_credit_note(conn, &document, actor)?;
    let number = credit.number.clone().unwrap_or_default();
    diesel::delete(settlement_links::table.filter(settlement_links::document_id.eq(document_id)))
        .execute(conn)?;
    diesel::update(settlement_documents::table.find(document_id))
        .set((
            settlement_documents::status.eq(DocumentStatus::Void),
            settlement_documents::void_reason.eq(reason),
        ))
        .execute(conn)?;
    let old_number = document.number.as_deref().unwrap_or("");
    record_event(
        conn,
        document_id,
        DocumentAction::Voided,
        actor,
        format!("cancelled by credit note {number}: {reason}"),
    )?;
    record_event(
        conn,
        &credit.id,
        DocumentAction::Issued,
        actor,
        format!("numbered {number}, cancelling {old_number}"),
    )?;
    notify_issued(conn, &credit, &number, None, actor)?;
    Ok(credit.id)
}

/// The credit note that cancels `document` line for line, issued and numbered now.
fn issue_credit_note(
    conn: &mut DbConn,
    document: &SettlementDocument,
    actor: Actor,
) -> Result<SettlementDocument, ServiceError> {
    let issued_on = actor.at.date();
    let number = next_number(conn, &document.issuer_organisation_id, issued_on)?;
    let credit = SettlementDocument {
        id: DocumentId::from(new_id("doc")),
        kind: DocumentKind::CreditNote,
        status: DocumentStatus::Issued,
        total_minor: -document.total_minor,
        paid_minor: Minor::ZERO,
        number: Some(number),
        issued_on: Some(issued_on),
        due_on: None,
        credits_document_id: Some(document.id.clone()),
        void_reason: None,
        created_by: actor.subject.to_owned(),
        created_at: actor.at,
        ..document.clone()
    };
    diesel::insert_into(settlement_documents::table)
        .values(&credit)
        .execute(conn)?;
    let lines: Vec<DocumentLine> = document_lines::table
        .filter(document_lines::document_id.eq(&document.id))
        .select(DocumentLine::as_select())
        .load(conn)?
        .into_iter()
        .map(|line| DocumentLine {
            document_id: credit.id.clone(),
            amount_minor: -line.amount_minor,
            ..line
        })
        .collect();
    insert_rows!(conn, document_lines::table, &lines)?;
    Ok(credit)
}
