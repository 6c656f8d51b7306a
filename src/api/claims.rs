//! Outcome claims: submission (one or a bulk file), verification, rejection, revocation, and
//! the allocations they post.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Principal, Role};
use super::error::{ApiError, Problem};
use super::extract::{self, parse_json, JsonBody, PageQuery};
use super::{idempotent_create, with_db, Page};
use crate::config::Config;
use crate::db::models::{Allocation, Claim};
use crate::db::queries::{AllocationFilter, ClaimFilter};
use crate::db::{queries, write_tx, DbConn, Pool};
use crate::domain::access::{decider, may_submit, MoneyScope};
use crate::domain::claims::{AdjustmentKind, ClaimInput, Reason};
use crate::domain::limits;
use crate::domain::money::MoneyJson;
use crate::services::access::{load_visible, AccessError, VisibleProject};
use crate::services::claims::{
    self as service, check_decider, lock_project, BulkMode, ProjectRules, RowResult, RowStatus,
    Submitter, Verifier, VerifyResult,
};
use crate::services::error::ServiceError;
use crate::workers::StatisticsRefresher;

/// Most rows one bulk file may hold; larger monthly returns are split into several files.
pub const MAX_BULK_ROWS: usize = 200_000;

#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimView {
    pub id: String,
    pub project_id: String,
    pub outcome_code: String,
    /// Keyed pseudonym of the participant reference (the reference itself is never stored).
    pub participant_pseudonym: String,
    pub achieved_on: NaiveDate,
    pub period_start: NaiveDate,
    pub quantity: i32,
    pub evidence_ref: Option<String>,
    pub home_area: Option<String>,
    pub age_at_start: Option<i32>,
    pub referred_on: Option<NaiveDate>,
    pub upload_id: Option<String>,
    /// `submitted`, `verified`, `rejected` or `revoked`.
    pub status: String,
    pub submitted_by: String,
    pub submitted_at: chrono::DateTime<chrono::Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<chrono::DateTime<chrono::Utc>>,
    pub rejection_reason: Option<String>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revocation_reason: Option<String>,
    /// Price × quantity, once verified.
    pub gross: Option<MoneyJson>,
    /// What the claim pays after every adjustment, once verified.
    pub payable: Option<MoneyJson>,
    /// Every difference between gross and payable.
    pub adjustments: Vec<AdjustmentView>,
    /// The ledger's allocations for this claim (reversals included) that the caller may see.
    pub allocations: Vec<AllocationView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdjustmentView {
    pub kind: AdjustmentKind,
    pub amount: MoneyJson,
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AllocationView {
    pub id: String,
    pub claim_id: String,
    pub payer_id: String,
    pub payer_organisation_id: String,
    pub amount: MoneyJson,
    /// What this payer's cap left unfunded.
    pub shortfall: MoneyJson,
    pub achieved_on: NaiveDate,
    pub posted_at: chrono::DateTime<chrono::Utc>,
    /// The allocation this one reverses, for reversals.
    pub reverses: Option<String>,
}

impl AllocationView {
    fn new(a: Allocation, currency: &str) -> AllocationView {
        AllocationView {
            id: a.id.to_string(),
            amount: MoneyJson::from_minor(a.amount_minor, currency),
            shortfall: MoneyJson::from_minor(a.shortfall_minor, currency),
            reverses: a.reverses_id.map(|r| r.to_string()),
            claim_id: a.claim_id,
            payer_id: a.payer_id,
            payer_organisation_id: a.payer_organisation_id,
            achieved_on: a.achieved_on,
            posted_at: a.posted_at.and_utc(),
        }
    }
}

fn claim_view(
    conn: &mut DbConn,
    claim: Claim,
    currency: &str,
    money: &MoneyScope,
) -> Result<ClaimView, ApiError> {
    let adjustments = queries::claim_adjustments(conn, &claim.id)?;
    let filter = AllocationFilter {
        claim_id: Some(claim.id.clone()),
        only_payer: money.only().map(str::to_owned),
        ..Default::default()
    };
    let allocations = queries::list_allocations(conn, &claim.project_id, filter, None)?;
    // A payer that sees only its own money sees a claim's value only where it pays part of
    // it: the value of another council's home-area claim is that council's line.
    let sees_value = money.only().is_none() || !allocations.is_empty();
    let money = |m: i64| MoneyJson::from_minor(m, currency);
    let adjustments = adjustments
        .into_iter()
        .filter(|_| sees_value)
        .map(|a| {
            let kind = AdjustmentKind::from_db(&a.kind).ok_or_else(|| {
                ApiError::Internal(format!(
                    "claim {}: stored adjustment kind '{}' is not valid",
                    a.claim_id, a.kind
                ))
            })?;
            Ok(AdjustmentView {
                kind,
                amount: money(a.amount_minor),
                detail: a.detail,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(ClaimView {
        gross: claim.gross_minor.filter(|_| sees_value).map(money),
        payable: claim.payable_minor.filter(|_| sees_value).map(money),
        adjustments,
        allocations: allocations
            .into_iter()
            .map(|a| AllocationView::new(a, currency))
            .collect(),
        id: claim.id,
        project_id: claim.project_id,
        outcome_code: claim.outcome_code,
        participant_pseudonym: claim.participant_pseudonym,
        achieved_on: claim.achieved_on,
        period_start: claim.period_start,
        quantity: claim.quantity,
        evidence_ref: claim.evidence_ref,
        home_area: claim.home_area,
        age_at_start: claim.age_at_start,
        referred_on: claim.referred_on,
        upload_id: claim.upload_id,
        status: claim.status,
        submitted_by: claim.submitted_by,
        submitted_at: claim.submitted_at.and_utc(),
        decided_by: claim.decided_by,
        decided_at: claim.decided_at.map(|t| t.and_utc()),
        rejection_reason: claim.rejection_reason,
        revoked_at: claim.revoked_at.map(|t| t.and_utc()),
        revocation_reason: claim.revocation_reason,
    })
}

/// The project, visible to the caller and with the caller as its provider.
fn project_for_provider(
    conn: &mut DbConn,
    principal: &Principal,
    project_id: &str,
) -> Result<VisibleProject, ApiError> {
    principal.require(&[Role::Provider])?;
    let project = load_visible(conn, principal, project_id)?;
    may_submit(principal, &project.parties())?;
    Ok(project)
}

fn rejected_problem(reasons: Vec<Reason>) -> ApiError {
    let detail = reasons
        .iter()
        .map(|r| r.detail.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let mut extensions = serde_json::Map::new();
    extensions.insert(
        "reasons".into(),
        serde_json::to_value(&reasons).unwrap_or_default(),
    );
    ApiError::Refused {
        slug: "claim-rejected",
        title: "Claim rejected",
        detail,
        extensions: Box::new(extensions),
    }
}

/// Submit one outcome claim.
#[utoipa::path(
    post, path = "/v1/projects/{id}/claims", tag = "claims",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    request_body = ClaimInput,
    responses(
        (status = 201, body = ClaimView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "the claim breaks a rule; `reasons` lists each", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn submit_one(
    req: HttpRequest,
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    project_id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Provider])?;
    let input: ClaimInput = body.parse()?;
    let project_id = project_id.into_inner();
    let who = principal.clone();
    idempotent_create(&pool, &principal, &req, body.bytes(), move |conn| {
        lock_project(conn, &project_id)?;
        let project = project_for_provider(conn, &who, &project_id)?;
        let money = project.money(&who);
        let currency = project.record.project.currency.clone();
        let rules = ProjectRules::new(project.record, config.clock.today())?;
        let submitter = Submitter {
            subject: &who.subject,
            organisation_id: who.organisation_id.as_deref().unwrap_or(""),
            at: config.clock.now(),
        };
        let (mut results, mut stored) = service::submit(
            conn,
            &rules,
            &submitter,
            vec![Ok(input)],
            BulkMode::AllOrNothing,
            &config.pseudonym_key,
            None,
        )?;
        match stored.pop() {
            Some(claim) => claim_view(conn, claim, &currency, &money),
            None => Err(rejected_problem(
                results.pop().map(|r| r.reasons).unwrap_or_default(),
            )),
        }
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BulkQuery {
    /// `all_or_nothing` (default): any bad row refuses the file. `accept_valid`: good rows are
    /// stored and bad rows reported.
    pub mode: Option<BulkMode>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkReport {
    pub upload_id: Option<String>,
    pub mode: BulkMode,
    pub rows: usize,
    /// Rows that meet every rule.
    pub accepted: usize,
    pub rejected: usize,
    /// Claims stored: `accepted`, or none when an all-or-nothing file had a bad row.
    pub stored: usize,
    pub results: Vec<RowResult>,
}

/// One CSV row: the columns of a claim, by header name.
#[derive(Debug, Deserialize)]
struct CsvRow {
    participant_ref: String,
    outcome_code: String,
    achieved_on: String,
    quantity: Option<String>,
    evidence_ref: Option<String>,
    home_area: Option<String>,
    age_at_start: Option<String>,
    referred_on: Option<String>,
}

fn parse_csv_row(row: CsvRow) -> Result<ClaimInput, Vec<Reason>> {
    let mut reasons = Vec::new();
    // Reasons name the field, never its value: in a column-shifted file the value may be a
    // participant reference.
    let mut date = |field: &str, value: &str| match value.trim().parse::<NaiveDate>() {
        Ok(d) if limits::date_in_range(d) => Some(d),
        Ok(_) => {
            reasons.push(Reason::new(
                "date_out_of_range",
                format!("{field} {}", limits::date_range_message()),
            ));
            None
        }
        Err(_) => {
            reasons.push(Reason::new(
                "malformed_row",
                format!("{field} is not a date YYYY-MM-DD"),
            ));
            None
        }
    };
    let achieved_on = date("achieved_on", &row.achieved_on);
    let referred_on = row
        .referred_on
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .and_then(|s| date("referred_on", s));
    let mut number =
        |field: &str, value: Option<&str>| match value.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(v) => match v.parse::<i32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    reasons.push(Reason::new(
                        "malformed_row",
                        format!("{field} is not a whole number"),
                    ));
                    None
                }
            },
        };
    let quantity = number("quantity", row.quantity.as_deref());
    let age_at_start = number("age_at_start", row.age_at_start.as_deref());
    let blank_to_none =
        |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    match (reasons.is_empty(), achieved_on) {
        (true, Some(achieved_on)) => Ok(ClaimInput {
            participant_ref: row.participant_ref,
            outcome_code: row.outcome_code.trim().to_owned(),
            achieved_on,
            quantity,
            evidence_ref: blank_to_none(row.evidence_ref),
            home_area: blank_to_none(row.home_area),
            age_at_start,
            referred_on,
        }),
        _ => Err(reasons),
    }
}

/// One line of a JSON-lines file, held to the same rules as a single claim's body.
fn parse_json_line(line: &[u8]) -> Result<ClaimInput, Vec<Reason>> {
    parse_json::<ClaimInput>(line).map_err(|e| match e {
        ApiError::Validation(errors) => errors
            .into_iter()
            .map(|f| Reason::new("malformed_row", format!("{}: {}", f.field, f.detail)))
            .collect(),
        other => vec![Reason::new("malformed_row", other.detail())],
    })
}

/// Reads a bulk file: CSV with a header row, or JSON lines (one claim object per line).
fn parse_bulk(
    content_type: &str,
    body: &[u8],
) -> Result<Vec<Result<ClaimInput, Vec<Reason>>>, ApiError> {
    let mut rows = Vec::new();
    if content_type == "text/csv" {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::Headers)
            .from_reader(body);
        let headers = reader
            .headers()
            .map_err(|e| ApiError::BadRequest(format!("the CSV header cannot be read: {e}")))?
            .clone();
        for required in ["participant_ref", "outcome_code", "achieved_on"] {
            if !headers.iter().any(|h| h == required) {
                return Err(ApiError::validation(
                    "body",
                    format!("the CSV header lacks the column '{required}'"),
                ));
            }
        }
        for record in reader.deserialize::<CsvRow>() {
            rows.push(match record {
                Ok(row) => parse_csv_row(row),
                Err(e) => Err(vec![Reason::new(
                    "malformed_row",
                    limits::without_values(&e.to_string()),
                )]),
            });
            if rows.len() > MAX_BULK_ROWS {
                break;
            }
        }
    } else {
        for line in body.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            rows.push(parse_json_line(line));
            if rows.len() > MAX_BULK_ROWS {
                break;
            }
        }
    }
    if rows.is_empty() {
        return Err(ApiError::validation("body", "the file holds no claims"));
    }
    if rows.len() > MAX_BULK_ROWS {
        return Err(ApiError::PayloadTooLarge(format!(
            "a bulk file holds at most {MAX_BULK_ROWS} rows; split it"
        )));
    }
    Ok(rows)
}

/// Submit many claims as a CSV file (`text/csv`) or JSON lines (`application/x-ndjson`).
#[utoipa::path(
    post, path = "/v1/projects/{id}/claims/bulk", tag = "claims",
    params(("id" = String, Path), BulkQuery, ("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    request_body(content = String, description = "CSV with the header participant_ref,outcome_code,achieved_on,quantity,evidence_ref,home_area,age_at_start,referred_on; or one JSON claim per line", content_type = "text/csv"),
    responses(
        (status = 201, description = "rows stored; every row's result", body = BulkReport),
        (status = 422, description = "all_or_nothing and some rows were bad: nothing stored; `results` reports every row", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn submit_bulk(
    req: HttpRequest,
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    project_id: web::Path<String>,
    query: web::Query<BulkQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Provider])?;
    // The media type alone, without parameters such as `; charset=utf-8`.
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .map(|m| m.essence_str().to_owned())
        .unwrap_or_default();
    let accepted_types = [
        "text/csv",
        "application/x-ndjson",
        "application/jsonl",
        "application/json-lines",
    ];
    if !accepted_types.contains(&content_type.as_str()) {
        return Err(ApiError::UnsupportedMediaType(
            "send a bulk file as text/csv or application/x-ndjson".into(),
        ));
    }
    let mode = query.mode.unwrap_or(BulkMode::AllOrNothing);
    let rows = parse_bulk(&content_type, &body)?;
    let project_id = project_id.into_inner();
    let who = principal.clone();
    let total_rows = rows.len();
    tracing::info!(project_id = %project_id, rows = total_rows, ?mode, "bulk claims received");
    let response = idempotent_create(&pool, &principal, &req, &body, move |conn| {
        lock_project(conn, &project_id)?;
        let project = project_for_provider(conn, &who, &project_id)?;
        let rules = ProjectRules::new(project.record, config.clock.today())?;
        let submitter = Submitter {
            subject: &who.subject,
            organisation_id: who.organisation_id.as_deref().unwrap_or(""),
            at: config.clock.now(),
        };
        let upload_id = queries::new_id("upl");
        let (results, stored) =
            service::submit(conn, &rules, &submitter, rows, mode, &config.pseudonym_key, Some(&upload_id))?;
        let rejected = results.iter().filter(|r| r.status == RowStatus::Rejected).count();
        let report = BulkReport {
            // The upload is recorded unless an all-or-nothing file was refused.
            upload_id: (mode == BulkMode::AcceptValid || rejected == 0).then_some(upload_id),
            mode,
            rows: results.len(),
            accepted: results.len() - rejected,
            rejected,
            stored: stored.len(),
            results,
        };
        tracing::info!(project_id = %project_id, rows = report.rows, accepted = report.accepted, rejected = report.rejected, "bulk claims checked");
        if mode == BulkMode::AllOrNothing && rejected > 0 {
            let mut extensions = serde_json::Map::new();
            if let serde_json::Value::Object(fields) = serde_json::to_value(&report).unwrap_or_default() {
                extensions.extend(fields);
            }
            return Err(ApiError::Refused {
                slug: "bulk-rejected",
                title: "Bulk file rejected",
                detail: format!("{rejected} of {total_rows} rows break the rules; nothing was stored (send ?mode=accept_valid to store the good rows)"),
                extensions: Box::new(extensions),
            });
        }
        Ok(report)
    })
    .await?;
    if let Some(statistics) = req.app_data::<web::Data<StatisticsRefresher>>() {
        statistics.after_bulk_write(total_rows, &["claims"]);
    }
    Ok(response)
}

/// A claim the caller may see, with its project: a provider sees only its own projects'
/// claims (which [`load_visible`] already ensures).
fn load_claim(
    conn: &mut DbConn,
    principal: &Principal,
    id: &str,
) -> Result<(Claim, VisibleProject), ApiError> {
    let not_found = || ApiError::NotFound("no claim with this id that you can see".into());
    let claim = queries::find_claim(conn, id)?.ok_or_else(not_found)?;
    let project = load_visible(conn, principal, &claim.project_id).map_err(|e| match e {
        AccessError::NotFound(_) => not_found(),
        other => other.into(),
    })?;
    Ok((claim, project))
}

/// A claim with its decision and allocations.
#[utoipa::path(
    get, path = "/v1/claims/{id}", tag = "claims", params(("id" = String, Path)),
    responses((status = 200, body = ClaimView), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get(
    pool: web::Data<Pool>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<web::Json<ClaimView>, ApiError> {
    let id = id.into_inner();
    let view = with_db(&pool, move |conn| {
        let (claim, project) = load_claim(conn, &principal, &id)?;
        let money = project.money(&principal);
        claim_view(conn, claim, &project.record.project.currency, &money)
    })
    .await?;
    Ok(web::Json(view))
}

/// Verify a submitted claim: prices it, splits it between the payers and posts the ledger.
#[utoipa::path(
    post, path = "/v1/claims/{id}/verify", tag = "claims", params(("id" = String, Path)),
    responses(
        (status = 200, body = ClaimView),
        (status = 403, description = "not a validator, the lead commissioner (of a claim it pays part of) or an admin of the project, or the submitter itself", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "not submitted, or its prerequisite is not verified yet", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn verify_one(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<web::Json<ClaimView>, ApiError> {
    principal.require(DECIDERS)?;
    let clock = config.clock.clone();
    let id = id.into_inner();
    let view = with_db(&pool, move |conn| {
        write_tx(conn, |conn| {
            let (claim, _) = load_claim(conn, &principal, &id)?;
            lock_project(conn, &claim.project_id)?;
            // Read again under the lock: another verifier may have got here first.
            let (claim, project) = load_claim(conn, &principal, &id)?;
            let verifier = Verifier {
                subject: &principal.subject,
                organisation_id: principal.organisation_id.as_deref(),
                capacity: decider(&principal, &project.parties())?,
                at: clock.now(),
            };
            let money = project.money(&principal);
            let currency = project.record.project.currency.clone();
            let rules = ProjectRules::new(project.record, clock.today())?;
            let mut results =
                service::verify(conn, &rules, &verifier, std::slice::from_ref(&claim.id))?;
            let result = results
                .pop()
                .ok_or_else(|| ApiError::Internal("no verification result".into()))?;
            if !result.verified {
                return Err(refusal_error(result.reasons));
            }
            let claim = queries::find_claim(conn, &claim.id)?
                .ok_or_else(|| ApiError::Internal("a claim vanished in its transaction".into()))?;
            claim_view(conn, claim, &currency, &money)
        })
    })
    .await?;
    Ok(web::Json(view))
}

/// Roles that may decide claims at all; [`decider`] says which of them may on a project.
const DECIDERS: &[Role] = &[Role::Validator, Role::Commissioner, Role::Admin];

/// The answer to a single verification the rules refused.
fn refusal_error(reasons: Vec<Reason>) -> ApiError {
    let reason = reasons
        .into_iter()
        .next()
        .unwrap_or_else(|| Reason::new("refused", "not verified"));
    match reason.code.as_str() {
        service::SEPARATION_OF_DUTIES | service::NOT_YOURS_TO_DECIDE => {
            ApiError::Forbidden(reason.detail)
        }
        "amount_out_of_range" => rejected_problem(vec![reason]),
        _ => ApiError::Conflict(reason.detail),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkVerifyRequest {
    /// Claims to verify.
    #[serde(default)]
    pub claim_ids: Vec<String>,
    /// Or every submitted claim of one bulk upload.
    pub upload_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkVerifyReport {
    pub requested: usize,
    pub verified: usize,
    pub refused: usize,
    pub results: Vec<VerifyResult>,
}

/// Verify many submitted claims of a project in one call.
#[utoipa::path(
    post, path = "/v1/projects/{id}/claims/verify", tag = "claims", params(("id" = String, Path)),
    request_body = BulkVerifyRequest,
    responses((status = 200, body = BulkVerifyReport), (status = 403, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn verify_many(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    statistics: web::Data<StatisticsRefresher>,
    principal: Principal,
    project_id: web::Path<String>,
    body: JsonBody,
) -> Result<web::Json<BulkVerifyReport>, ApiError> {
    principal.require(DECIDERS)?;
    let clock = config.clock.clone();
    let request: BulkVerifyRequest = body.parse()?;
    if request.claim_ids.is_empty() == request.upload_id.is_none() {
        return Err(ApiError::validation(
            "claim_ids",
            "give either claim_ids or upload_id",
        ));
    }
    if request.claim_ids.len() > MAX_BULK_ROWS {
        return Err(ApiError::validation(
            "claim_ids",
            format!("at most {MAX_BULK_ROWS} claims per call"),
        ));
    }
    let project_id = project_id.into_inner();
    let started = std::time::Instant::now();
    let report = with_db(&pool, move |conn| {
        write_tx(conn, |conn| {
            lock_project(conn, &project_id)?;
            let project = load_visible(conn, &principal, &project_id)?;
            let verifier = Verifier {
                subject: &principal.subject,
                organisation_id: principal.organisation_id.as_deref(),
                capacity: decider(&principal, &project.parties())?,
                at: clock.now(),
            };
            let rules = ProjectRules::new(project.record, clock.today())?;
            let (ids, results) = match &request.upload_id {
                None => {
                    let ids = request.claim_ids.clone();
                    let results = service::verify(conn, &rules, &verifier, &ids)?;
                    (ids, results)
                }
                Some(upload) => service::verify_upload(conn, &rules, &verifier, upload)?,
            };
            let verified = results.iter().filter(|r| r.verified).count();
            tracing::info!(project_id = %project_id, requested = ids.len(), verified, "claims verified");
            Ok(BulkVerifyReport { requested: ids.len(), verified, refused: results.len() - verified, results })
        })
    })
    .await?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "bulk verification committed"
    );
    // A verification changes no column that the planner chooses claims' indexes by.
    statistics.after_bulk_write(report.verified, &["allocations", "ledger_entries"]);
    Ok(web::Json(report))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

/// What rejecting or revoking a claim does: the claim, who, why, when.
type Decision = fn(&mut DbConn, &Claim, &str, &str, NaiveDateTime) -> Result<(), ServiceError>;

async fn decide(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: String,
    body: JsonBody,
    act: Decision,
) -> Result<web::Json<ClaimView>, ApiError> {
    principal.require(DECIDERS)?;
    let clock = config.clock.clone();
    let request: ReasonRequest = body.parse()?;
    let reason = request.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(ApiError::validation(
            "reason",
            "a reason of 1 to 2000 characters is required",
        ));
    }
    let view = with_db(&pool, move |conn| {
        write_tx(conn, |conn| {
            let (claim, _) = load_claim(conn, &principal, &id)?;
            lock_project(conn, &claim.project_id)?;
            let (claim, project) = load_claim(conn, &principal, &id)?;
            let capacity = decider(&principal, &project.parties())?;
            let money = project.money(&principal);
            let currency = project.record.project.currency.clone();
            let rules = ProjectRules::new(project.record, clock.today())?;
            check_decider(&rules, capacity, &claim)?;
            act(conn, &claim, &principal.subject, &reason, clock.now())?;
            let claim = queries::find_claim(conn, &claim.id)?
                .ok_or_else(|| ApiError::Internal("a claim vanished in its transaction".into()))?;
            claim_view(conn, claim, &currency, &money)
        })
    })
    .await?;
    Ok(web::Json(view))
}

/// Reject a submitted claim, with a reason.
#[utoipa::path(
    post, path = "/v1/claims/{id}/reject", tag = "claims", params(("id" = String, Path)),
    request_body = ReasonRequest,
    responses((status = 200, body = ClaimView), (status = 409, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn reject(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<web::Json<ClaimView>, ApiError> {
    decide(
        pool,
        config,
        principal,
        id.into_inner(),
        body,
        service::reject,
    )
    .await
}

/// Revoke a verified claim: its allocations are reversed by new ledger entries.
#[utoipa::path(
    post, path = "/v1/claims/{id}/revoke", tag = "claims", params(("id" = String, Path)),
    request_body = ReasonRequest,
    responses((status = 200, body = ClaimView), (status = 409, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn revoke(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<web::Json<ClaimView>, ApiError> {
    decide(
        pool,
        config,
        principal,
        id.into_inner(),
        body,
        service::revoke,
    )
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClaimListQuery {
    /// `submitted`, `verified`, `rejected` or `revoked`.
    #[param(pattern = "^(submitted|verified|rejected|revoked)$")]
    pub status: Option<String>,
    pub upload_id: Option<String>,
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// A project's claims.
#[utoipa::path(
    get, path = "/v1/projects/{id}/claims", tag = "claims", params(("id" = String, Path), ClaimListQuery),
    responses((status = 200, body = Page<ClaimView>)),
    security(("bearer" = []))
)]
pub async fn list(
    pool: web::Data<Pool>,
    principal: Principal,
    project_id: web::Path<String>,
    query: web::Query<ClaimListQuery>,
) -> Result<web::Json<Page<ClaimView>>, ApiError> {
    let query = query.into_inner();
    let limit = PageQuery {
        cursor: None,
        limit: query.limit,
    }
    .limit()?;
    if let Some(status) = &query.status {
        if ![
            service::SUBMITTED,
            service::VERIFIED,
            service::REJECTED,
            service::REVOKED,
        ]
        .contains(&status.as_str())
        {
            return Err(ApiError::validation(
                "status",
                "must be submitted, verified, rejected or revoked",
            ));
        }
    }
    let project_id = project_id.into_inner();
    let items = with_db(&pool, move |conn| {
        let project = load_visible(conn, &principal, &project_id)?;
        let money = project.money(&principal);
        let filter = ClaimFilter {
            status: query.status,
            upload_id: query.upload_id,
            after: query.cursor,
        };
        let rows = queries::list_claims(conn, &project_id, filter, limit)?;
        rows.into_iter()
            .map(|c| claim_view(conn, c, &project.record.project.currency, &money))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    Ok(web::Json(Page::new(items, limit, |c: &ClaimView| {
        c.id.clone()
    })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AllocationQuery {
    pub payer_organisation_id: Option<String>,
    /// `YYYY-Qn` or `YYYY-MM`: allocations for outcomes achieved in that period.
    pub period: Option<String>,
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Every allocation of a project: the ledger as each payer sees it.
#[utoipa::path(
    get, path = "/v1/projects/{id}/allocations", tag = "claims", params(("id" = String, Path), AllocationQuery),
    responses((status = 200, body = Page<AllocationView>)),
    security(("bearer" = []))
)]
pub async fn allocations_list(
    pool: web::Data<Pool>,
    principal: Principal,
    project_id: web::Path<String>,
    query: web::Query<AllocationQuery>,
) -> Result<web::Json<Page<AllocationView>>, ApiError> {
    let query = query.into_inner();
    let limit = PageQuery {
        cursor: None,
        limit: query.limit,
    }
    .limit()?;
    let period = match &query.period {
        None => None,
        Some(p) => {
            let p = extract::period(p)?;
            Some((p.start(), p.last_day()))
        }
    };
    let after: Option<i64> = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            c.parse()
                .map_err(|_| ApiError::validation("cursor", "not a cursor from this list"))?,
        ),
    };
    let project_id = project_id.into_inner();
    let items = with_db(&pool, move |conn| {
        let project = load_visible(conn, &principal, &project_id)?;
        let filter = AllocationFilter {
            only_payer: project.money(&principal).only().map(str::to_owned),
            payer: query.payer_organisation_id,
            achieved_between: period,
            after,
            ..Default::default()
        };
        let rows = queries::list_allocations(conn, &project_id, filter, Some(limit))?;
        Ok(rows
            .into_iter()
            .map(|a| AllocationView::new(a, &project.record.project.currency))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(web::Json(Page::new(items, limit, |a: &AllocationView| {
        a.id.clone()
    })))
}
