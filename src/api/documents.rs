//! Settlement documents: building a period's drafts, reading them (JSON, CSV, printable HTML),
//! issuing, paying and voiding.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Principal, Role};
use super::error::{ApiError, Problem};
use super::extract::{self, JsonBody, PageQuery};
use super::{idempotent_create, with_db, Page};
use crate::config::Config;
use crate::db::models::{DocumentLine, ProjectRecord, SettlementDocument};
use crate::db::queries::documents::DocumentFilter;
use crate::db::Pool;
use crate::domain::access::sees_person_of;
use crate::domain::ids::{DocumentId, OrganisationId, ProjectId};
use crate::domain::limits;
use crate::domain::money::{Minor, MoneyJson};
use crate::domain::settlement::{DocumentAction, DocumentKind, DocumentStatus, SettledBy};
use crate::services::documents::{self as service, DocumentRecord, MoneyKind, SeenDocuments};
use crate::services::settlement::Payment;

pub mod render;

/// An organisation as a document names it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartyView {
    /// The organisation's id, `org_…`.
    pub organisation_id: String,
    /// Its name, as the document shows it.
    pub name: String,
    /// Its org-id identifier (`GB-COH-…`, `GB-LAE-…`), when known.
    pub identifier: Option<String>,
}

/// A settlement document without its lines (as lists show it).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::document_summary)]
pub struct DocumentSummary {
    /// Its id, `doc_…`.
    pub id: String,
    /// Whether it is an invoice, a top-up claim or a credit note.
    pub kind: DocumentKind,
    /// Its number in the issuer's gap-free sequence, once issued (`SKM-2025-0007`).
    pub number: Option<String>,
    /// Where it is in its life: draft, issued, paid or void.
    pub status: DocumentStatus,
    /// The project (`prj_…`) it settles.
    pub project_id: String,
    /// `2021-Q1` or `2021-03`: the period whose postings it settles.
    pub period: String,
    /// First day of the period (inclusive).
    pub period_start: NaiveDate,
    /// Last day of the period (inclusive).
    pub period_end: NaiveDate,
    /// The organisation (`org_…`) that issues it: the provider, or the lead commissioner for a
    /// top-up claim.
    pub issuer_organisation_id: String,
    /// The organisation (`org_…`) it is addressed to, which pays it.
    pub recipient_organisation_id: String,
    /// The issuer, named.
    pub issuer: PartyView,
    /// The recipient, named.
    pub recipient: PartyView,
    /// The sum of its lines, to the penny.
    pub total: MoneyJson,
    /// Payments recorded against it so far (on a credit note, refunds and set-offs, negative as
    /// its total is).
    pub paid: MoneyJson,
    /// What is still owed on it: `total` less `paid` once issued (on a credit note, negative:
    /// what is still to be refunded or set off); zero for a draft, a void document, or a credit
    /// note that cancels a voided document (which owes nothing back).
    pub outstanding: MoneyJson,
    /// The day it was issued; null for a draft.
    pub issued_on: Option<NaiveDate>,
    /// The day payment is due (issue date plus the project's payment terms); null for a draft, a
    /// credit note, or a document of nothing (closed as it was issued).
    pub due_on: Option<NaiveDate>,
    /// For a credit note that cancels a voided document: that document.
    pub credits_document_id: Option<String>,
    /// Why it was voided; null unless it is void.
    pub void_reason: Option<String>,
    /// How many lines it has.
    pub line_count: i64,
    /// When it was built (UTC).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// One line of a settlement document: one outcome's part settled by it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineView {
    /// Its place on the document, from 0.
    pub position: i32,
    /// The claim (`clm_…`) the line settles.
    pub claim_id: String,
    /// Code of the outcome claimed.
    pub outcome_code: String,
    /// Keyed pseudonym of the participant (the reference itself is never stored).
    pub participant_pseudonym: String,
    /// When the outcome was achieved.
    pub achieved_on: NaiveDate,
    /// When the allocations of this line were posted to the ledger (this chose the period).
    pub posted_at: chrono::DateTime<chrono::Utc>,
    /// Negative for a credit line (a revoked outcome).
    pub amount: MoneyJson,
}

/// A payment recorded against a document.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    /// Its id, `pay_…`.
    pub id: String,
    /// The amount paid, in the document's currency.
    pub amount: MoneyJson,
    /// The day the money arrived.
    pub paid_on: NaiveDate,
    /// The payer's remittance reference.
    pub reference: String,
    /// The person who recorded it: shown to their own organisation and to admins only.
    pub recorded_by: Option<String>,
    /// The organisation they acted for (none for an admin).
    pub recorded_by_organisation_id: Option<String>,
    /// When it was recorded (UTC).
    pub recorded_at: chrono::DateTime<chrono::Utc>,
    /// How it settled the document: money paid by the recipient (`payment`), a credit note
    /// paid back by its issuer (`refund`, negative as the credit note's total is), or a credit
    /// note set against an invoice or top-up claim (`set_off`, on both).
    pub settled_by: SettledBy,
    /// For a set-off, the document on the other side.
    pub counterpart_document_id: Option<String>,
}

/// One transition of a document: who did what, when.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// What was done.
    pub action: DocumentAction,
    /// The person who acted: shown to their own organisation and to admins only.
    pub actor: Option<String>,
    /// The organisation they acted for (none for an admin).
    pub actor_organisation_id: Option<String>,
    /// When (UTC).
    pub at: chrono::DateTime<chrono::Utc>,
    /// What happened, in words (`numbered RDP-2026-0003, due 2026-11-27`).
    pub detail: String,
}

/// A settlement document with its lines, payments and history.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::document_view)]
pub struct DocumentView {
    #[serde(flatten)]
    pub summary: DocumentSummary,
    /// All its lines, by `position`.
    pub lines: Vec<LineView>,
    /// Payments recorded against it, oldest first; empty if none.
    pub payments: Vec<PaymentView>,
    /// Every transition, oldest first.
    pub history: Vec<EventView>,
}

/// The documents as lists show them, with their issuers and recipients named.
fn summaries(
    SeenDocuments { documents, parties }: SeenDocuments,
) -> Result<Vec<DocumentSummary>, ApiError> {
    let party = |id: &str| -> Result<PartyView, ApiError> {
        let (name, identifier) = parties.get(id).cloned().ok_or_else(|| {
            ApiError::Internal(format!("a document names a missing organisation {id}"))
        })?;
        Ok(PartyView {
            organisation_id: id.to_owned(),
            name,
            identifier,
        })
    };
    documents
        .into_iter()
        .map(|d| {
            let money = |minor: i64| MoneyJson::from_minor(minor, &d.currency);
            Ok(DocumentSummary {
                kind: d.kind,
                status: d.status,
                issuer: party(&d.issuer_organisation_id)?,
                recipient: party(&d.recipient_organisation_id)?,
                total: money(d.total_minor.get()),
                paid: money(d.paid_minor.get()),
                outstanding: money(outstanding_minor(&d)),
                line_count: i64::from(d.line_count),
                created_at: d.created_at.and_utc(),
                id: String::from(d.id),
                number: d.number,
                project_id: String::from(d.project_id),
                period: d.period,
                period_start: d.period_start,
                period_end: d.period_end,
                issuer_organisation_id: d.issuer_organisation_id.to_string(),
                recipient_organisation_id: d.recipient_organisation_id.to_string(),
                issued_on: d.issued_on,
                due_on: d.due_on,
                credits_document_id: d.credits_document_id.map(String::from),
                void_reason: d.void_reason,
            })
        })
        .collect()
}

fn summary(seen: SeenDocuments) -> Result<DocumentSummary, ApiError> {
    let mut one = summaries(seen)?;
    one.pop()
        .ok_or_else(|| ApiError::Internal("a summary went missing".into()))
}

/// What is still owed on a document: nothing on a draft, a void document or a credit note
/// that cancels one; on any other credit note, what is still to be refunded or set off.
fn outstanding_minor(d: &SettlementDocument) -> i64 {
    let cancels_void = d.credits_document_id.is_some();
    let owed = d.status == DocumentStatus::Issued && !cancels_void;
    if owed {
        (d.total_minor - d.paid_minor).get()
    } else {
        0
    }
}

fn line_view(line: DocumentLine, currency: &str) -> LineView {
    LineView {
        position: line.position,
        amount: MoneyJson::from_minor(line.amount_minor, currency),
        posted_at: line.posted_at.and_utc(),
        claim_id: String::from(line.claim_id),
        outcome_code: line.outcome_code,
        participant_pseudonym: line.participant_pseudonym,
        achieved_on: line.achieved_on,
    }
}

/// A person's user id, for `viewer` to see only if they are of the same organisation or an
/// admin: a counterparty learns which organisation acted, never who.
fn person_for(
    viewer: &Principal,
    person: String,
    organisation: Option<&OrganisationId>,
) -> Option<String> {
    sees_person_of(viewer, organisation).then_some(person)
}

/// The document with its lines, payments and history as `viewer` may see them.
fn full_view(
    DocumentRecord {
        document,
        lines,
        payments,
        history,
    }: DocumentRecord,
    viewer: &Principal,
) -> Result<DocumentView, ApiError> {
    let currency = (document.documents.first())
        .map(|d| d.currency.clone())
        .unwrap_or_default();
    let lines = lines.into_iter().map(|l| line_view(l, &currency)).collect();
    let payments = payments
        .into_iter()
        .map(|p| PaymentView {
            amount: MoneyJson::from_minor(p.amount_minor, &currency),
            recorded_at: p.recorded_at.and_utc(),
            id: p.id,
            paid_on: p.paid_on,
            reference: p.reference,
            recorded_by: person_for(
                viewer,
                p.recorded_by,
                p.recorded_by_organisation_id.as_ref(),
            ),
            recorded_by_organisation_id: p.recorded_by_organisation_id.map(String::from),
            settled_by: p.settled_by,
            counterpart_document_id: p.counterpart_document_id.map(String::from),
        })
        .collect();
    let history = history
        .into_iter()
        .map(|e| EventView {
            at: e.at.and_utc(),
            action: e.action,
            actor: person_for(viewer, e.actor, e.actor_organisation_id.as_ref()),
            actor_organisation_id: e.actor_organisation_id.map(String::from),
            detail: e.detail,
        })
        .collect();
    Ok(DocumentView {
        summary: summary(document)?,
        lines,
        payments,
        history,
    })
}

/// The period to build settlement drafts for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"period": "2026-Q3"}))]
pub struct SettlementRequest {
    /// `2021-Q1` for a quarterly project, `2021-03` for a monthly one.
    #[schema(example = "2026-Q3")]
    pub period: String,
}

/// What building a period made.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::settlement_report)]
pub struct SettlementReport {
    /// The period built, `2021-Q1` or `2021-03`.
    pub period: String,
    /// Earlier drafts of the period that these replace.
    pub replaced_drafts: usize,
    /// Allocations settled by the new drafts, in every leg.
    pub allocations_settled: usize,
    /// The drafts built that the caller may see (a payer sees only its own).
    pub documents: Vec<DocumentSummary>,
}

/// Build the draft documents of one period.
#[utoipa::path(
    post, path = "/v1/projects/{id}/settlements", tag = "settlement", operation_id = "buildSettlement",
    description = "An admin, a provider token of the project's provider, or under `via_commissioner` a commissioner token of its lead commissioner: those who issue its documents (a project the caller cannot see is a 404). Deletes the period's drafts and builds new ones from every allocation posted before the period ends that no document settles yet: the provider's invoices and, under `via_commissioner`, the lead's top-up claims to the other payers. Issued documents are never touched, so building a period again is safe; the period follows the project's `settlement_frequency`, must have begun, and the report lists only the drafts the caller may see.",
    params(("id" = String, Path)),
    request_body = SettlementRequest,
    responses(
        (status = 201, description = "The drafts now standing for the period", body = SettlementReport),
        (status = 404, description = "No project with this id that the caller can see", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The period is not one of the project's frequency (2026-Q3 or 2026-09), or has not begun", body = crate::api::error::documented::ValidationProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn build(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    project_id: web::Path<ProjectId>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    // Asked before the body is read, so that a caller who may not build is told so first.
    principal.require(service::BUILDERS)?;
    let request: SettlementRequest = body.parse()?;
    let period = extract::period(&request.period)?;
    let project_id = project_id.into_inner();
    let at = config.clock.now();
    let made = with_db(&pool, move |conn| {
        Ok(service::build_period(
            conn,
            &principal,
            &project_id,
            period,
            at,
        )?)
    })
    .await?;
    let report = SettlementReport {
        period: period.to_string(),
        replaced_drafts: made.built.replaced_drafts,
        allocations_settled: made.built.allocations,
        documents: summaries(made.visible)?,
    };
    Ok(HttpResponse::Created().json(report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DocumentQuery {
    pub project_id: Option<String>,
    pub issuer_organisation_id: Option<String>,
    pub recipient_organisation_id: Option<String>,
    /// `2021-Q1` or `2021-03`.
    pub period: Option<String>,
    pub status: Option<DocumentStatus>,
    pub kind: Option<DocumentKind>,
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Settlement documents the caller may see: those its organisation issued or received, or of
/// projects its fund tops up; every document for an admin.
#[utoipa::path(
    get, path = "/v1/documents", tag = "settlement", operation_id = "listDocuments",
    description = "Any role; nothing changes. An admin sees every document; anyone else those its organisation issued or received and those of projects in a fund its organisation owns, so that a payer never sees another payer's invoice. Filter by project, issuer, recipient, `period`, `status` or `kind`; ordered by id: pass `next_cursor` back as `cursor` for the next page.",
    params(DocumentQuery),
    responses((status = 200, description = "A page of the documents the caller may see", body = Page<DocumentSummary>, example = json!(crate::api::examples::document_page()))),
    security(("bearer" = []))
)]
pub async fn list(
    pool: web::Data<Pool>,
    principal: Principal,
    query: web::Query<DocumentQuery>,
) -> Result<web::Json<Page<DocumentSummary>>, ApiError> {
    let query = query.into_inner();
    let limit = PageQuery {
        cursor: None,
        limit: query.limit,
    }
    .limit()?;
    // Matched as stored (`2021-Q1`), once known to be a period.
    let period = query.period.as_deref().map(extract::period).transpose()?;
    let filter = DocumentFilter {
        // The use case narrows it to what the caller may see.
        visible_to: None,
        project_id: query.project_id.map(ProjectId::from),
        issuer_organisation_id: query.issuer_organisation_id.map(OrganisationId::from),
        recipient_organisation_id: query.recipient_organisation_id.map(OrganisationId::from),
        period: period.map(|p| p.to_string()),
        status: query.status,
        kind: query.kind,
        after: query.cursor.filter(|c| !c.is_empty()),
    };
    let seen = with_db(&pool, move |conn| {
        Ok(service::page(conn, &principal, filter, limit)?)
    })
    .await?;
    let items = summaries(seen)?;
    Ok(web::Json(Page::new(items, limit, |d: &DocumentSummary| {
        d.id.clone()
    })))
}

/// One document with its lines, payments and history.
#[utoipa::path(
    get, path = "/v1/documents/{id}", tag = "settlement", operation_id = "getDocument",
    description = "Any role, for a document it may see (as listDocuments says); any other is a 404. Nothing changes. Who recorded a payment or acted in the history is named only to their own organisation and to admins; anyone else sees only the organisation.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The document", body = DocumentView),
        (status = 404, description = "No document with this id that the caller can see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    pool: web::Data<Pool>,
    principal: Principal,
    id: web::Path<DocumentId>,
) -> Result<web::Json<DocumentView>, ApiError> {
    let id = id.into_inner();
    let viewer = principal.clone();
    let record = with_db(&pool, move |conn| {
        Ok(service::document(conn, &principal, &id, true)?)
    })
    .await?;
    let view = full_view(record, &viewer)?;
    Ok(web::Json(view))
}

/// Issue a draft: it is numbered in the issuer's gap-free sequence and frozen.
#[utoipa::path(
    post, path = "/v1/documents/{id}/issue", tag = "settlement", operation_id = "issueDocument",
    description = "Only a token acting for the document's issuer, whatever its role; an admin cannot issue. Numbers the draft in the issuer's gap-free sequence for the year (`RDP-2026-0003`), freezes it, sets `due_on` to today plus the project's payment terms (a credit note falls due on nothing) and emails the recipient's billing contacts. Only a draft is issued: any other is a 409.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The issued document", body = DocumentSummary),
        (status = 403, description = "The caller does not act for the document's issuer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The document is not a draft", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn issue(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<DocumentId>,
) -> Result<web::Json<DocumentSummary>, ApiError> {
    let at = config.clock.now();
    let id = id.into_inner();
    let seen = with_db(&pool, move |conn| {
        Ok(service::issue(conn, &principal, &id, at)?)
    })
    .await?;
    Ok(web::Json(summary(seen)?))
}

/// A payment received against an issued document.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "amount": {"amount": "1918.00", "currency": "GBP"},
    "paid_on": "2026-10-28",
    "reference": "BACS HC-PO-558213"
}))]
pub struct PaymentRequest {
    /// In the document's currency; at most what is outstanding.
    pub amount: MoneyJson,
    /// The date the money arrived.
    #[serde(deserialize_with = "limits::date")]
    pub paid_on: NaiveDate,
    /// The payer's remittance reference, 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, example = "BACS HC-PO-558213")]
    pub reference: String,
}

/// Record a payment against an issued document; in full, it becomes `paid`.
#[utoipa::path(
    post, path = "/v1/documents/{id}/payments", tag = "settlement", operation_id = "recordPayment",
    description = "An admin, or a commissioner or fund manager token acting for the document's recipient. Records money received against an issued invoice or top-up claim (never a credit note): in the document's currency, positive, at most what is outstanding, and `paid_on` neither in the future nor before the document was issued; once payments reach the total, the document is `paid`. Send an `Idempotency-Key` so that a retry does not record the payment twice: the same key with the same request returns the first response, with a different request it is a 422.",
    params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    request_body = PaymentRequest,
    responses(
        (status = 201, description = "The document with the payment recorded", body = DocumentSummary),
        (status = 403, description = "Not an admin, nor a commissioner or fund manager acting for the recipient", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid payment (another currency, more than is outstanding, a future date, a document that is not issued or is a credit note); `errors` names each field", body = crate::api::error::documented::ValidationProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn pay(
    req: HttpRequest,
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Admin, Role::Commissioner, Role::FundManager])?;
    let money = MoneyIn::parse(&body, &config)?;
    let to = (id.into_inner(), MoneyKind::Payment);
    record_money(&req, &pool, principal, &body, money, to).await
}

/// Record a refund of an issued credit note by its issuer; in full, it becomes `paid`.
#[utoipa::path(
    post, path = "/v1/documents/{id}/refunds", tag = "settlement", operation_id = "recordRefund",
    description = "An admin, or a provider or commissioner token acting for the credit note's issuer. Records money paid back to the recipient of an issued credit note (as when the credit note came after its invoice was paid): in the document's currency, positive, at most what the credit note has outstanding, and `paid_on` neither in the future nor before the credit note was issued; once refunds and set-offs reach its total, the credit note is `paid`. The document's `paid` and its payments show a refund as negative, as the credit note's total is. A credit note that cancels a voided document owes nothing back and is not refunded (422). Send an `Idempotency-Key` so that a retry does not record the refund twice.",
    params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    request_body = PaymentRequest,
    responses(
        (status = 201, description = "The credit note with the refund recorded", body = DocumentSummary),
        (status = 403, description = "Neither the credit note's issuer nor an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid refund (another currency, more than is outstanding, a date in the future or before issue, a document that is not an issued credit note); `errors` names each field", body = crate::api::error::documented::ValidationProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn refund(
    req: HttpRequest,
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Admin, Role::Provider, Role::Commissioner])?;
    let money = MoneyIn::parse(&body, &config)?;
    let to = (id.into_inner(), MoneyKind::Refund);
    record_money(&req, &pool, principal, &body, money, to).await
}

/// Records a payment or refund once (a retry with the same `Idempotency-Key` answers as the
/// first did), and answers the document.
async fn record_money(
    req: &HttpRequest,
    pool: &web::Data<Pool>,
    principal: Principal,
    body: &JsonBody,
    money: MoneyIn,
    (id, kind): (String, MoneyKind),
) -> Result<HttpResponse, ApiError> {
    let who = principal.clone();
    idempotent_create(pool, &principal, req, body.bytes(), move |conn| {
        let paid = (kind, &money.payment, money.currency.as_str());
        summary(service::record_money(
            conn,
            &who,
            &DocumentId::from(id.as_str()),
            paid,
            money.at,
        )?)
    })
    .await
}

/// A payment or refund as parsed from its request, with the time it is recorded.
struct MoneyIn {
    payment: Payment,
    currency: String,
    at: chrono::NaiveDateTime,
}

impl MoneyIn {
    fn parse(body: &JsonBody, config: &Config) -> Result<MoneyIn, ApiError> {
        let request: PaymentRequest = body.parse()?;
        let reference = request.reference.trim().to_owned();
        if reference.is_empty()
            || reference.chars().count() > 200
            || reference.chars().any(char::is_control)
        {
            return Err(ApiError::validation(
                "reference",
                "a reference of 1 to 200 printable characters is required",
            ));
        }
        let money = request
            .amount
            .to_money("amount")
            .map_err(|e| ApiError::Validation(vec![e]))?;
        let at = config.clock.now();
        if request.paid_on > at.date() {
            return Err(ApiError::validation(
                "paid_on",
                "is in the future: record a payment once the money has arrived",
            ));
        }
        Ok(MoneyIn {
            payment: Payment {
                amount_minor: Minor(money.minor),
                paid_on: request.paid_on,
                reference,
            },
            currency: money.currency.code().to_owned(),
            at,
        })
    }
}

/// What an issued credit note is set against.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"against": "doc_01JD4T7X9Q2M8B6V3N5R0K7P1C"}))]
pub struct SetOffRequest {
    /// An issued invoice or top-up claim of the same project, issuer and recipient, with
    /// something outstanding.
    pub against: String,
}

/// Set an issued credit note against an invoice or top-up claim of the same parties.
#[utoipa::path(
    post, path = "/v1/documents/{id}/set-off", tag = "settlement", operation_id = "setOffCreditNote",
    description = "An admin, or a provider, commissioner or fund manager token acting for the credit note's issuer or its recipient. Settles what is left of the smaller of an issued credit note and an issued invoice or top-up claim of the same project, from the same issuer to the same recipient in the same currency: the amount is recorded on both, dated today, each naming the other (`settled_by` is `set_off`), and either becomes `paid` once settled in full. Anything else is a 422 naming `against`.",
    params(("id" = String, Path)),
    request_body = SetOffRequest,
    responses(
        (status = 200, description = "The credit note, with the set-off recorded", body = DocumentSummary),
        (status = 403, description = "Neither party to the credit note, nor an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document that the caller can see", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The document is not an issued credit note with something to settle (a credit note that cancels a voided document owes nothing)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The document named is not an issued invoice or top-up claim of the same parties with something outstanding", body = crate::api::error::documented::ValidationProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn set_off(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<DocumentId>,
    body: JsonBody,
) -> Result<web::Json<DocumentSummary>, ApiError> {
    principal.require(&[
        Role::Admin,
        Role::Provider,
        Role::Commissioner,
        Role::FundManager,
    ])?;
    let request: SetOffRequest = body.parse()?;
    let at = config.clock.now();
    let id = id.into_inner();
    let against = DocumentId::from(request.against);
    let seen = with_db(&pool, move |conn| {
        Ok(service::set_off(conn, &principal, &id, &against, at)?)
    })
    .await?;
    Ok(web::Json(summary(seen)?))
}

/// Why an issued document is voided.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "issued to the wrong address"}))]
pub struct VoidRequest {
    /// The reason, 1 to 2,000 characters (trimmed).
    #[schema(
        min_length = 1,
        max_length = 2000,
        example = "issued to the wrong address"
    )]
    pub reason: String,
}

/// A voided document and the credit note that cancels it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::void_report)]
pub struct VoidReport {
    /// The document, now void.
    pub voided: DocumentSummary,
    /// The credit note that cancels it, issued and numbered in the issuer's sequence.
    pub credit_note: DocumentSummary,
}

/// Void an issued, unpaid document: a credit note cancels it and its outcomes are settled
/// again on the next document built.
#[utoipa::path(
    post, path = "/v1/documents/{id}/void", tag = "settlement", operation_id = "voidDocument",
    description = "A token acting for the document's issuer, whatever its role, or an admin. Voids an issued document on which nothing is paid, with the reason (1 to 2,000 characters): a credit note, numbered in the issuer's sequence and emailed to the recipient, cancels it line for line, and its allocations are released to be settled on the next document built. A draft, a paid or part-paid document, a void one or a credit note is not voided (409).",
    params(("id" = String, Path)),
    request_body = VoidRequest,
    responses(
        (status = 200, description = "The voided document and the credit note that cancels it", body = VoidReport),
        (status = 403, description = "Neither the document's issuer nor an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The document is not issued, has a payment, or is a credit note", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn void(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<DocumentId>,
    body: JsonBody,
) -> Result<web::Json<VoidReport>, ApiError> {
    let request: VoidRequest = body.parse()?;
    let reason = request.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(ApiError::validation(
            "reason",
            "a reason of 1 to 2000 characters is required",
        ));
    }
    let at = config.clock.now();
    let id = id.into_inner();
    let (voided, credit_note) = with_db(&pool, move |conn| {
        Ok(service::void(conn, &principal, &id, &reason, at)?)
    })
    .await?;
    Ok(web::Json(VoidReport {
        voided: summary(voided)?,
        credit_note: summary(credit_note)?,
    }))
}

/// The project's payers as the page explains the split: each with its share as fixed, or as
/// its maximum over the sum of all maximums (pro rata).
fn split_rows(
    project: &ProjectRecord,
    names: &HashMap<String, (String, Option<String>)>,
) -> Vec<render::SplitRow> {
    let currency = &project.project.currency;
    let total: Minor = project
        .payers
        .iter()
        .map(|p| p.payer.max_commitment_minor)
        .sum();
    let total = MoneyJson::from_minor(total, currency).amount;
    project
        .payers
        .iter()
        .map(|p| {
            let max = MoneyJson::from_minor(p.payer.max_commitment_minor, currency).amount;
            render::SplitRow {
                name: names
                    .get(p.payer.organisation_id.as_str())
                    .map(|(name, _)| name.clone())
                    .unwrap_or_else(|| p.payer.organisation_id.to_string()),
                role: p.payer.role.as_str().to_owned(),
                share: match &p.payer.share {
                    Some(share) => format!("{share} (fixed)"),
                    None => format!("pro rata: {max} / {total}"),
                },
                max_commitment: format!("{max} {currency}"),
            }
        })
        .collect()
}

/// Lines per page when a document is rendered.
const RENDER_PAGE_LINES: i64 = 10_000;

/// The document's lines as CSV (RFC 4180, UTF-8, a header of machine names), streamed from
/// the database page by page: memory stays flat however long the document is.
#[utoipa::path(
    get, path = "/v1/documents/{id}.csv", tag = "settlement", operation_id = "getDocumentCsv",
    description = "Any role, for a document it may see (as listDocuments says); nothing changes. One row per line, `amount` in the document's currency and negative on a credit line, sent as an attachment named after its number (its id while it is a draft).",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The document's lines as CSV", content_type = "text/csv", body = String, example = json!(crate::api::examples::DOCUMENT_CSV)),
        (status = 404, description = "No document with this id that the caller can see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn csv(
    pool: web::Data<Pool>,
    principal: Principal,
    id: web::Path<DocumentId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let document = with_db(&pool, move |conn| {
        Ok(service::readable(conn, &principal, &id)?)
    })
    .await?;
    let filename = render::file_name(&document, "csv");
    let stream = render::csv_stream(pool.get_ref().clone(), document, RENDER_PAGE_LINES);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(stream))
}

/// A printable page of the document (print it or save it as PDF from the browser): issuer,
/// recipient, number, dates, lines, totals and how the split was made.
#[utoipa::path(
    get, path = "/v1/documents/{id}.html", tag = "settlement", operation_id = "getDocumentHtml",
    description = "Any role, for a document it may see (as listDocuments says); nothing changes. A self-contained page with no scripts (its Content-Security-Policy allows inline styles only) that lists at most the first 5,000 lines; the CSV has every line.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The printable page", content_type = "text/html", body = String),
        (status = 404, description = "No document with this id that the caller can see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn html(
    pool: web::Data<Pool>,
    principal: Principal,
    id: web::Path<DocumentId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let viewer = principal.clone();
    let printable = with_db(&pool, move |conn| {
        Ok(service::printable(
            conn,
            &principal,
            &id,
            render::HTML_MAX_LINES,
        )?)
    })
    .await?;
    let split = split_rows(&printable.project, &printable.payer_names);
    let view = full_view(printable.record, &viewer)?;
    let p = &printable.project.project;
    let page = render::html_page(
        &view,
        &p.name,
        p.settlement_route.as_str(),
        &split,
        &printable.lines,
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .body(page))
}
