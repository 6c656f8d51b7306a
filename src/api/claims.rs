//! Outcome claims: submission (one or a bulk file), verification, rejection, revocation, and
//! the allocations they post.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Principal, Role};
use super::error::{ApiError, Problem};
use super::extract::{self, parse_json, JsonBody, PageQuery};
use super::jobs::JobView;
use super::{idempotent_body, idempotent_create, stored_response, with_db, Page};
use crate::config::Config;
use crate::db::models::Allocation;
use crate::db::queries::{claims::AllocationFilter, claims::ClaimFilter};
use crate::db::{queries, Pool};
use crate::domain::access::{MoneyScope, CLAIM_DECIDERS};
use crate::domain::claim_reports::{pseudonymise_rows, BulkMode, BulkReport, BulkVerifyReport};
use crate::domain::claims::{AdjustmentKind, ClaimInput, ClaimStatus, Reason};
use crate::domain::ids::{ClaimId, OrganisationId, ProjectId, UploadId};
use crate::domain::limits;
use crate::domain::money::{Minor, MoneyJson};
use crate::metrics::{ClaimEvent, Metrics, Tally};
use crate::services::access::load_access;
use crate::services::claims::bulk::{self, VerifyTarget};
use crate::services::claims::decide::{self, Decision};
use crate::services::claims::seen::{self, ClaimRows, SeenClaim};
use crate::services::claims::submit;
use crate::services::claims::verify;
use crate::services::jobs::{self, RunningJobs};
use crate::workers::StatisticsRefresher;

/// Most rows one bulk file may hold; larger monthly returns are split into several files.
pub const MAX_BULK_ROWS: usize = 200_000;

/// An outcome claim with its decision, price and allocations.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::claim_view)]
pub struct ClaimView {
    /// Its id, `clm_…`.
    pub id: String,
    /// The project (`prj_…`) the claim is made on.
    pub project_id: String,
    /// Code of the outcome claimed, from the project's rate card.
    pub outcome_code: String,
    /// Keyed pseudonym of the participant reference (the reference itself is never stored).
    pub participant_pseudonym: String,
    /// When the outcome was achieved; for time units, the last day of the period claimed.
    pub achieved_on: NaiveDate,
    /// First day of the period claimed (inclusive); for an achievement, the same as `achieved_on`.
    pub period_start: NaiveDate,
    /// Units claimed: weeks or days for time units, 1 for an achievement.
    pub quantity: i32,
    /// The provider's reference to the evidence; null when none was given.
    pub evidence_ref: Option<String>,
    /// Area code of the participant's home; null when none was given.
    pub home_area: Option<String>,
    /// The participant's age when they started; null when none was given.
    pub age_at_start: Option<i32>,
    /// When the participant was referred; null when none was given.
    pub referred_on: Option<NaiveDate>,
    /// The bulk upload (`upl_…`) the claim came in; null for a claim submitted on its own.
    pub upload_id: Option<String>,
    /// Where the claim stands: submitted, verified, rejected or revoked.
    pub status: ClaimStatus,
    /// The person (token subject) who submitted the claim.
    pub submitted_by: String,
    /// When the claim was received (UTC).
    pub submitted_at: chrono::DateTime<chrono::Utc>,
    /// The person (token subject) who verified or rejected it; null while it is submitted.
    pub decided_by: Option<String>,
    /// When it was verified or rejected (UTC); null while it is submitted.
    pub decided_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why it was rejected; null unless it is rejected.
    pub rejection_reason: Option<String>,
    /// When it was revoked (UTC); null unless it is revoked.
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why it was revoked; null unless it is revoked.
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

/// One deduction between a claim's gross value and what it pays.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdjustmentView {
    /// Which rule made the deduction.
    pub kind: AdjustmentKind,
    /// What was deducted (never negative).
    pub amount: MoneyJson,
    /// The deduction in words, e.g. "deadweight of 0.1 deducted".
    pub detail: String,
}

/// One payer's part of a verified claim, as posted to the ledger; a reversal has negative amounts.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::allocation_view)]
pub struct AllocationView {
    /// Its id in the ledger, a number as a string; pass it back as `cursor`.
    pub id: String,
    /// The claim (`clm_…`) it pays for.
    pub claim_id: String,
    /// The project payer (`pyr_…`) it is allocated to.
    pub payer_id: String,
    /// The organisation (`org_…`) that pays it.
    pub payer_organisation_id: String,
    /// What the payer pays; negative for a reversal.
    pub amount: MoneyJson,
    /// What this payer's cap left unfunded.
    pub shortfall: MoneyJson,
    /// When the claim's outcome was achieved.
    pub achieved_on: NaiveDate,
    /// When it was posted to the ledger (UTC); this decides the settlement period it is settled in.
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
            claim_id: String::from(a.claim_id),
            payer_id: String::from(a.payer_id),
            payer_organisation_id: a.payer_organisation_id.to_string(),
            achieved_on: a.achieved_on,
            posted_at: a.posted_at.and_utc(),
        }
    }
}

/// A claim's view as the use case that read it saw it.
fn seen_view(seen: SeenClaim) -> ClaimView {
    view_of(seen.rows, &seen.currency, &seen.money)
}

/// One claim's view from its rows: what `money` lets the caller see of its value.
fn view_of(
    ClaimRows {
        claim,
        adjustments,
        allocations,
    }: ClaimRows,
    currency: &str,
    money: &MoneyScope,
) -> ClaimView {
    // A payer that sees only its own money sees a claim's value only where it pays part of
    // it: the value of another council's home-area claim is that council's line.
    let sees_value = money.only().is_none() || !allocations.is_empty();
    let money = |m: Minor| MoneyJson::from_minor(m, currency);
    let adjustments = adjustments
        .into_iter()
        .filter(|_| sees_value)
        .map(|a| AdjustmentView {
            kind: a.kind,
            amount: money(a.amount_minor),
            detail: a.detail,
        })
        .collect();
    ClaimView {
        gross: claim.gross_minor.filter(|_| sees_value).map(money),
        payable: claim.payable_minor.filter(|_| sees_value).map(money),
        adjustments,
        allocations: allocations
            .into_iter()
            .map(|a| AllocationView::new(a, currency))
            .collect(),
        id: String::from(claim.id),
        project_id: String::from(claim.project_id),
        outcome_code: claim.outcome_code,
        participant_pseudonym: claim.participant_pseudonym,
        achieved_on: claim.achieved_on,
        period_start: claim.period_start,
        quantity: claim.quantity,
        evidence_ref: claim.evidence_ref,
        home_area: claim.home_area,
        age_at_start: claim.age_at_start,
        referred_on: claim.referred_on,
        upload_id: claim.upload_id.map(String::from),
        status: claim.status,
        submitted_by: claim.submitted_by,
        submitted_at: claim.submitted_at.and_utc(),
        decided_by: claim.decided_by,
        decided_at: claim.decided_at.map(|t| t.and_utc()),
        rejection_reason: claim.rejection_reason,
        revoked_at: claim.revoked_at.map(|t| t.and_utc()),
        revocation_reason: claim.revocation_reason,
    }
}

/// Submit one outcome claim.
#[utoipa::path(
    post, path = "/v1/projects/{id}/claims", tag = "claims", operation_id = "submitClaim",
    description = "Only a provider token of the project's provider organisation (a project the caller cannot see is a 404). Checks the claim against the rate card and the contract's rules, with the participant's earlier claims, and stores it as `submitted`: nothing is allocated until it is verified. The participant reference is pseudonymised before anything is stored. Send an `Idempotency-Key` to retry safely: the same key with the same request returns the first response, with a different request it is a 422.",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    request_body = ClaimInput,
    responses(
        (status = 201, description = "The submitted claim", body = ClaimView),
        (status = 403, description = "Not a provider token of the project's provider", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (`errors`), or the claim breaks the contract's rules (`reasons` lists each); nothing is stored", body = crate::api::error::documented::ClaimSubmissionProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn submit_one(
    req: HttpRequest,
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    metrics: web::Data<Metrics>,
    principal: Principal,
    project_id: web::Path<ProjectId>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Provider])?;
    let input: ClaimInput = body.parse()?;
    let project_id = project_id.into_inner();
    let who = principal.clone();
    let stored_now = Tally::default();
    let tally = stored_now.clone();
    let response = idempotent_create(&pool, &principal, &req, body.bytes(), move |conn| {
        let key = &config.pseudonym_key;
        let seen = submit::submit_one(conn, &who, &project_id, input, key, &config.clock)?;
        tally.add(1);
        Ok(seen_view(seen))
    })
    .await?;
    metrics.claims(ClaimEvent::submitted, stored_now.get());
    Ok(response)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BulkQuery {
    /// `all_or_nothing` (default): any bad row refuses the file. `accept_valid`: good rows are
    /// stored and bad rows reported.
    pub mode: Option<BulkMode>,
}

/// A bulk file as it is sent: the bytes of the CSV or JSON-lines file. Documented as binary so
/// that generated clients send a file's bytes as they are.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // documents the body; handlers read it as `web::Bytes`
pub struct BulkFile(Vec<u8>);

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
    let mut date = |field: &str, value: &str| match limits::parse_iso_date(value) {
        Some(d) if limits::date_in_range(d) => Some(d),
        Some(_) => {
            reasons.push(Reason::new(
                "date_out_of_range",
                format!("{field} {}", limits::date_range_message()),
            ));
            None
        }
        None => {
            reasons.push(Reason::new(
                "malformed_row",
                format!("{field} {}", limits::DATE_FORMAT_MESSAGE),
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
    post, path = "/v1/projects/{id}/claims/bulk", tag = "claims", operation_id = "submitClaimsBulk",
    description = "Only a provider token of the project's provider organisation. Every row, up to 200,000 (413 beyond), is checked as a single claim would be, against the stored claims and the rows before it; `application/jsonl` and `application/json-lines` are taken as JSON lines too. With `all_or_nothing` (the default) one bad row refuses the file and nothing is stored; with `accept_valid` the good rows are stored as `submitted` under one `upload_id` (which verifyClaims takes) and the bad ones reported. Send an `Idempotency-Key` to retry safely.",
    params(("id" = String, Path), BulkQuery, ("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    request_body(
        description = "CSV with the header participant_ref,outcome_code,achieved_on,quantity,evidence_ref,home_area,age_at_start,referred_on; or one JSON claim per line",
        content(
            (BulkFile = "application/x-ndjson", example = json!(crate::api::examples::BULK_NDJSON)),
            (BulkFile = "text/csv", example = json!(crate::api::examples::BULK_CSV)),
        )
    ),
    responses(
        (status = 201, description = "The file was taken: the report, with every row's result (under `accept_valid`, rejected rows are reported and not stored)", body = BulkReport),
        (status = 202, description = "Run as a job (more rows than `COFUND_JOB_ROWS`, or `Prefer: respond-async`): poll its `Location`, `/v1/jobs/{id}`, for where it stands and, at the end, this report or the problem", body = JobView),
        (status = 422, description = "Invalid input (`errors`), or `all_or_nothing` and some rows break the rules: nothing is stored, and `results` reports every row", body = crate::api::error::documented::BulkSubmissionProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn submit_bulk(
    req: HttpRequest,
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    project_id: web::Path<ProjectId>,
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
    let total_rows = rows.len();
    tracing::info!(project_id = %project_id, rows = total_rows, ?mode, "bulk claims received");
    // Pseudonymised at once: a job stores its rows, and a participant reference is never stored.
    let rows = pseudonymise_rows(&config.pseudonym_key, &project_id, rows);
    let who = principal.clone();
    let at = config.clock.now();
    if runs_as_job(&req, total_rows, &config) {
        let accepted = StatusCode::ACCEPTED;
        let job = idempotent_body(&pool, &principal, &req, &body, accepted, move |conn| {
            let job = jobs::queue_submission(conn, &who, &project_id, mode, rows, at)?;
            Ok(JobView::of(job, &RunningJobs::default()))
        })
        .await?;
        return Ok(stored_response(job));
    }
    let stored_now = Tally::default();
    let tally = stored_now.clone();
    let response = idempotent_create(&pool, &principal, &req, &body, move |conn| {
        let report = bulk::submit_file(conn, &who, &project_id, rows, mode, at, &|_| {})?;
        tally.add(report.stored as u64);
        Ok(report)
    })
    .await?;
    if let Some(metrics) = req.app_data::<web::Data<Metrics>>() {
        metrics.claims(ClaimEvent::submitted, stored_now.get());
    }
    if let Some(statistics) = req.app_data::<web::Data<StatisticsRefresher>>() {
        statistics.after_bulk_write(total_rows, &["claims"]);
    }
    Ok(response)
}

/// Whether a bulk request of `rows` runs as a job: beyond `COFUND_JOB_ROWS`, or when the
/// client asks with `Prefer: respond-async` (RFC 7240).
fn runs_as_job(req: &HttpRequest, rows: usize, config: &Config) -> bool {
    let asks = req
        .headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        // A preference's parameters (`respond-async; …`) do not change it.
        .filter_map(|p| p.split(';').next())
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"));
    asks || rows > config.jobs.rows
}

/// A claim with its decision and allocations.
#[utoipa::path(
    get, path = "/v1/claims/{id}", tag = "claims", operation_id = "getClaim",
    description = "Any role, for a claim of a project it may see; any other claim is a 404. Nothing changes. A caller that sees only its own organisation's money sees only its own allocations, and the claim's `gross`, `payable` and `adjustments` only if it pays part of it.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The claim", body = ClaimView),
        (status = 404, description = "No claim with this id that the caller can see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    pool: web::Data<Pool>,
    principal: Principal,
    id: web::Path<ClaimId>,
) -> Result<web::Json<ClaimView>, ApiError> {
    let id = id.into_inner();
    let seen = with_db(&pool, move |conn| {
        Ok(seen::seen_claim(conn, &principal, &id)?)
    })
    .await?;
    let view = seen_view(seen);
    Ok(web::Json(view))
}

/// Verify a submitted claim: prices it, splits it between the payers and posts the ledger.
#[utoipa::path(
    post, path = "/v1/claims/{id}/verify", tag = "claims", operation_id = "verifyClaim",
    description = "An admin; a validator token of an organisation named as the project's validator; or a commissioner token of the project's lead commissioner, for a claim whose split gives it a share (under `via_commissioner`, every claim). Neither the person nor the organisation that submitted the claim may verify it. Prices the claim (deadweight and caps applied), splits it between the payers and posts its allocations to the ledger; a payer crossing 80 % or 100 % of its cap is emailed, with the owner of the fund it pays from (the project's, unless it names its own). A claim is verified once: calling again is a 409.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The verified claim, with its price, adjustments and allocations", body = ClaimView),
        (status = 403, description = "not a validator, the lead commissioner (of a claim it pays part of) or an admin of the project, or the submitter itself", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "not submitted, or its prerequisite is not verified yet", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The claim's price is out of the range the ledger can hold (`reasons`); nothing is allocated", body = crate::api::error::documented::ClaimRejectedProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn verify_one(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    metrics: web::Data<Metrics>,
    principal: Principal,
    id: web::Path<ClaimId>,
) -> Result<web::Json<ClaimView>, ApiError> {
    let id = id.into_inner();
    let seen = with_db(&pool, move |conn| {
        Ok(verify::verify_one(conn, &principal, &id, &config.clock)?)
    })
    .await?;
    let view = seen_view(seen);
    metrics.claims(ClaimEvent::verified, 1);
    Ok(web::Json(view))
}

/// The claims to verify: `claim_ids` or an `upload_id`, not both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"claim_ids": [
    "clm_01a0b8ca51707db39420e01d6e4e6e9e",
    "clm_01a0b8ca51707c6ea1c321e9cb30e1d4",
    "clm_019ed01aaa48732aae9065da13c339ad"
]}))]
pub struct BulkVerifyRequest {
    /// Claims to verify.
    #[serde(default)]
    pub claim_ids: Vec<String>,
    /// Or every submitted claim of one bulk upload.
    pub upload_id: Option<String>,
}

/// Verify many submitted claims of a project in one call.
#[utoipa::path(
    post, path = "/v1/projects/{id}/claims/verify", tag = "claims", operation_id = "verifyClaims",
    description = "The deciders of verifyClaim: an admin, a validator of the project, or its lead commissioner (a project the caller cannot see is a 404). Give `claim_ids` (at most 200,000) or the `upload_id` of a bulk upload, not both; the claims are verified in achievement-date order in one transaction, as verifyClaim would verify each. A claim that cannot be verified (not found on the project, not submitted, submitted by the caller or its organisation, not the lead's to decide, a prerequisite not yet verified) is reported in `results` and the others go ahead.",
    params(("id" = String, Path)),
    request_body = BulkVerifyRequest,
    responses(
        (status = 200, description = "Every claim's result", body = BulkVerifyReport),
        (status = 202, description = "Run as a job (more claims than `COFUND_JOB_ROWS`, or `Prefer: respond-async`): poll its `Location`, `/v1/jobs/{id}`", body = JobView),
        (status = 403, description = "Not an admin, a validator of the project or its lead commissioner", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn verify_many(
    req: HttpRequest,
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    project_id: web::Path<ProjectId>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    principal.require(CLAIM_DECIDERS)?;
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
    let target = match request.upload_id {
        Some(upload) => VerifyTarget::Upload(UploadId::from(upload)),
        None => VerifyTarget::Claims(request.claim_ids.into_iter().map(ClaimId::from).collect()),
    };
    let at = config.clock.now();
    let rows = match &target {
        VerifyTarget::Claims(ids) => ids.len(),
        VerifyTarget::Upload(_) => {
            let counted = target.clone();
            with_db(&pool, move |conn| Ok(bulk::claims_named(conn, &counted)?)).await?
        }
    };
    if runs_as_job(&req, rows, &config) {
        let job = with_db(&pool, move |conn| {
            Ok(jobs::queue_verification(
                conn,
                &principal,
                &project_id,
                target,
                rows,
                at,
            )?)
        })
        .await?;
        return Ok(JobView::of(job, &RunningJobs::default()).accepted());
    }
    let started = std::time::Instant::now();
    let report = with_db(&pool, move |conn| {
        Ok(bulk::verify_now(
            conn,
            &principal,
            &project_id,
            &target,
            at,
        )?)
    })
    .await?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "bulk verification committed"
    );
    if let Some(metrics) = req.app_data::<web::Data<Metrics>>() {
        metrics.claims(ClaimEvent::verified, report.verified as u64);
    }
    // A verification changes no column that the planner chooses claims' indexes by.
    if let Some(statistics) = req.app_data::<web::Data<StatisticsRefresher>>() {
        statistics.after_bulk_write(report.verified, &["allocations", "ledger_entries"]);
    }
    Ok(HttpResponse::Ok().json(report))
}

/// Why a claim is rejected or revoked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "The payroll record covers 9 weeks in work, not 13: claim again once the 13th week is paid"}))]
pub struct ReasonRequest {
    /// The reason, 1 to 2,000 characters (trimmed); a rejection's reason is emailed to the
    /// provider.
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

impl ReasonRequest {
    /// The reason, trimmed, if it is 1 to 2,000 characters.
    pub fn validated(self) -> Result<String, ApiError> {
        let reason = self.reason.trim().to_owned();
        if reason.is_empty() || reason.chars().count() > 2000 {
            return Err(ApiError::validation(
                "reason",
                "a reason of 1 to 2000 characters is required",
            ));
        }
        Ok(reason)
    }
}

/// The handlers' shared parts: what the app gives every decision.
struct Deciding {
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    metrics: web::Data<Metrics>,
}

async fn decide(
    Deciding {
        pool,
        config,
        metrics,
    }: Deciding,
    principal: Principal,
    id: String,
    body: JsonBody,
    (decision, event): (Decision, ClaimEvent),
) -> Result<web::Json<ClaimView>, ApiError> {
    // Asked before the body is read, so that a caller who may not decide is told so first.
    principal.require(CLAIM_DECIDERS)?;
    let reason = body.parse::<ReasonRequest>()?.validated()?;
    let seen = with_db(&pool, move |conn| {
        let decision = (decision, reason.as_str());
        Ok(decide::decide_one(
            conn,
            &principal,
            &ClaimId::from(id.as_str()),
            decision,
            &config.clock,
        )?)
    })
    .await?;
    let view = seen_view(seen);
    metrics.claims(event, 1);
    Ok(web::Json(view))
}

/// Reject a submitted claim, with a reason.
#[utoipa::path(
    post, path = "/v1/claims/{id}/reject", tag = "claims", operation_id = "rejectClaim",
    description = "The deciders of verifyClaim: an admin, a validator of the project, or its lead commissioner for a claim it pays part of (any claim under `via_commissioner`). Marks a `submitted` claim `rejected` with the reason (1 to 2,000 characters), allocates nothing, and emails the reason to the provider's billing contacts. Only a submitted claim is rejected: any other is a 409.",
    params(("id" = String, Path)),
    request_body = ReasonRequest,
    responses(
        (status = 200, description = "The rejected claim", body = ClaimView),
        (status = 409, description = "The claim is not `submitted`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn reject(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    metrics: web::Data<Metrics>,
    principal: Principal,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<web::Json<ClaimView>, ApiError> {
    let deciding = Deciding {
        pool,
        config,
        metrics,
    };
    let act = (Decision::Reject, ClaimEvent::rejected);
    decide(deciding, principal, id.into_inner(), body, act).await
}

/// Revoke a verified claim: its allocations are reversed by new ledger entries.
#[utoipa::path(
    post, path = "/v1/claims/{id}/revoke", tag = "claims", operation_id = "revokeClaim",
    description = "The deciders of rejectClaim. Only a `verified` claim is revoked (any other is a 409): a new ledger entry reverses each of its allocations (the originals stay in the ledger), and the reversals are credited on the next settlement documents built. No email is sent.",
    params(("id" = String, Path)),
    request_body = ReasonRequest,
    responses(
        (status = 200, description = "The revoked claim, with its allocations and their reversals", body = ClaimView),
        (status = 409, description = "The claim is not `verified`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn revoke(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    metrics: web::Data<Metrics>,
    principal: Principal,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<web::Json<ClaimView>, ApiError> {
    let deciding = Deciding {
        pool,
        config,
        metrics,
    };
    let act = (Decision::Revoke, ClaimEvent::revoked);
    decide(deciding, principal, id.into_inner(), body, act).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClaimListQuery {
    /// Only claims with this status.
    #[param(value_type = Option<ClaimStatus>)]
    pub status: Option<String>,
    pub upload_id: Option<String>,
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// A project's claims.
#[utoipa::path(
    get, path = "/v1/projects/{id}/claims", tag = "claims", operation_id = "listClaims",
    description = "Any role, on a project it may see (else 404); nothing changes. A caller that sees only its own organisation's money (a payer that neither owns the project's fund nor is its lead under `via_commissioner`) sees only its own allocations, and `gross`, `payable` and `adjustments` only on the claims it pays part of. Filter by `status` or `upload_id`; ordered by id: pass `next_cursor` back as `cursor` for the next page.",
    params(("id" = String, Path), ClaimListQuery),
    responses((status = 200, description = "A page of the project's claims", body = Page<ClaimView>, example = json!(crate::api::examples::claim_page()))),
    security(("bearer" = []))
)]
pub async fn list(
    pool: web::Data<Pool>,
    principal: Principal,
    project_id: web::Path<ProjectId>,
    query: web::Query<ClaimListQuery>,
) -> Result<web::Json<Page<ClaimView>>, ApiError> {
    let query = query.into_inner();
    let limit = PageQuery {
        cursor: None,
        limit: query.limit,
    }
    .limit()?;
    let status = extract::label::<ClaimStatus>("status", query.status.as_deref())?;
    let project_id = project_id.into_inner();
    let filter = ClaimFilter {
        status,
        upload_id: query.upload_id.map(UploadId::from),
        after: query.cursor,
    };
    let seen = with_db(&pool, move |conn| {
        Ok(seen::page(conn, &principal, &project_id, filter, limit)?)
    })
    .await?;
    let items = seen
        .claims
        .into_iter()
        .map(|rows| view_of(rows, &seen.currency, &seen.money))
        .collect();
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
    get, path = "/v1/projects/{id}/allocations", tag = "claims", operation_id = "listAllocations",
    description = "Any role, on a project it may see (else 404); nothing changes. Admins, the owner of the project's fund, the provider, the validators and (under `via_commissioner`) the lead commissioner see every payer's allocations; any other payer only its own organisation's. Filter by `payer_organisation_id` or by the `period` the outcomes were achieved in; reversals are allocations too, with `reverses` set; pass `next_cursor` back as `cursor` for the next page.",
    params(("id" = String, Path), AllocationQuery),
    responses((status = 200, description = "A page of allocations", body = Page<AllocationView>, example = json!(crate::api::examples::allocation_page()))),
    security(("bearer" = []))
)]
pub async fn allocations_list(
    pool: web::Data<Pool>,
    principal: Principal,
    project_id: web::Path<ProjectId>,
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
        let project = load_access(conn, &principal, &project_id)?;
        let filter = AllocationFilter {
            only_payer: project.money(&principal).only().cloned(),
            payer: query.payer_organisation_id.map(OrganisationId::from),
            achieved_between: period,
            after,
        };
        let rows = queries::claims::list_allocations(conn, &project_id, filter, Some(limit))?;
        Ok(rows
            .into_iter()
            .map(|a| AllocationView::new(a, &project.project.currency))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(web::Json(Page::new(items, limit, |a: &AllocationView| {
        a.id.clone()
    })))
}
