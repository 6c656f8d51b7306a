//! `/v1/audit` and `/v1/audit.csv`: who did what to members and API keys, when, and from
//! which address.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Principal;
use super::error::{ApiError, Problem};
use super::extract::{self, PageQuery};
use super::{with_db, Page};
use crate::db::models::AuditEvent;
use crate::db::queries::audit::AuditFilter;
use crate::db::Pool;
use crate::domain::audit::AuditAction;
use crate::domain::ids::OrganisationId;
use crate::domain::limits;
use crate::domain::spreadsheet::text_cell;
use crate::services::audit as service;

/// One step of the audit trail. It holds nothing secret: no key, no token, no email.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "aud_0190a1b2c3d4e5f60718293a4b5c6d81", "at": "2026-12-08T09:31:02Z", "actor": "mem_0190a1b2c3d4e5f60718293a4b5c6d7e", "actor_organisation_id": "org_0190a1b2c3d4e5f60718293a4b5c6d7f", "organisation_id": "org_0190a1b2c3d4e5f60718293a4b5c6d7f", "action": "api_key_created", "target": "key_0190a1b2c3d4e5f60718293a4b5c6d80", "detail": "\"Finance system\" (cfk_q3vz7k2m…) as commissioner, until 2027-06-06", "address": "192.0.2.10"}))]
pub struct AuditEventView {
    pub id: String,
    pub at: chrono::DateTime<chrono::Utc>,
    /// Who acted: a member (`mem_…`), an API key (`key_…`), a token's subject, or `operator`
    /// (the command line).
    pub actor: String,
    /// The organisation the actor acted for; null for an admin or the operator.
    pub actor_organisation_id: Option<String>,
    /// Whose trail it is; null: the installation's (admins).
    pub organisation_id: Option<String>,
    pub action: AuditAction,
    /// The member or key acted on.
    pub target: Option<String>,
    /// What changed, in words.
    pub detail: String,
    /// The address the request came from (behind a proxy, the proxy's); null from the
    /// command line.
    pub address: Option<String>,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> AuditEventView {
        AuditEventView {
            id: e.id,
            at: e.at.and_utc(),
            actor: e.actor,
            actor_organisation_id: e.actor_organisation_id.map(String::from),
            organisation_id: e.organisation_id.map(String::from),
            action: e.action,
            target: e.target,
            detail: e.detail,
            address: e.address,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// One organisation's trail: required but for admins, who read every organisation's
    /// (and the installation's) when it is left out.
    pub organisation_id: Option<String>,
    /// Steps a member (or an API key, `key_…`) took or was the target of.
    pub member_id: Option<String>,
    #[param(value_type = Option<AuditAction>)]
    pub action: Option<String>,
    /// From this day (UTC, `YYYY-MM-DD`), inclusive.
    pub from: Option<String>,
    /// To this day (UTC, `YYYY-MM-DD`), inclusive.
    pub to: Option<String>,
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, ApiError> {
        let day = |field: &str, text: &Option<String>| {
            text.as_deref()
                .map(|t| match limits::parse_iso_date(t) {
                    None => Err(ApiError::validation(field, limits::DATE_FORMAT_MESSAGE)),
                    Some(d) if !limits::date_in_range(d) => {
                        Err(ApiError::validation(field, limits::date_range_message()))
                    }
                    Some(d) => Ok(d),
                })
                .transpose()
        };
        let from = day("from", &self.from)?;
        let to = day("to", &self.to)?;
        Ok(AuditFilter {
            organisation: self.organisation_id.clone().map(OrganisationId::from),
            member: self.member_id.clone(),
            action: extract::label::<AuditAction>("action", self.action.as_deref())?,
            from: from.and_then(|d| d.and_hms_opt(0, 0, 0)),
            before: to
                .and_then(|d| d.succ_opt())
                .and_then(|d| d.and_hms_opt(0, 0, 0)),
        })
    }
}

/// The audit trail.
#[utoipa::path(
    get, path = "/v1/audit", tag = "members", operation_id = "listAuditEvents",
    description = "An admin reads every organisation's trail and the installation's (admins made and changed); an administrator (not disabled) of an organisation reads its own, naming it in `organisation_id`. Every member invited, added, changed, disabled or enabled, every API key made or revoked, each key's first use of a day, and every sign-in, refused sign-in and sign-out: who, for which organisation, what, when and from which address. Nothing changes. Oldest first: pass `next_cursor` back as `cursor`.",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of the trail", body = Page<AuditEventView>),
        (status = 403, description = "Not an admin, and not an administrator of the organisation named (or none named)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A filter that is not valid (`from`/`to` not `YYYY-MM-DD`, an unknown `action`)", body = crate::api::error::documented::ValidationProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    pool: web::Data<Pool>,
    principal: Principal,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<Page<AuditEventView>>, ApiError> {
    let limit = PageQuery {
        cursor: None,
        limit: query.limit,
    }
    .limit()?;
    let filter = query.filter()?;
    let cursor = query.cursor.clone();
    let events = with_db(&pool, move |conn| {
        Ok(service::read_trail(
            conn,
            &principal,
            &filter,
            cursor.as_deref(),
            limit,
        )?)
    })
    .await?;
    let items = events.into_iter().map(AuditEventView::from).collect();
    Ok(web::Json(Page::new(items, limit, |e: &AuditEventView| {
        e.id.clone()
    })))
}

/// Rows the CSV reads from the database at a time.
const CSV_BATCH: i64 = 1_000;

/// The audit trail as CSV.
#[utoipa::path(
    get, path = "/v1/audit.csv", tag = "members", operation_id = "getAuditCsv",
    description = "Who may read it, and the filters, as for listAuditEvents (`cursor` and `limit` are not taken: the whole trail the filters select, oldest first). The header is `id,at,actor,actor_organisation_id,organisation_id,action,target,detail,address`; a text cell a spreadsheet would read as a formula is prefixed with an apostrophe.",
    params(AuditQuery),
    responses(
        (status = 200, description = "The trail as CSV, an attachment named `audit.csv`", content_type = "text/csv", body = String),
        (status = 403, description = "Not an admin, and not an administrator of the organisation named (or none named)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A filter that is not valid, or `cursor` or `limit` given", body = crate::api::error::documented::ValidationProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn csv(
    pool: web::Data<Pool>,
    principal: Principal,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    for (field, given) in [
        ("cursor", query.cursor.is_some()),
        ("limit", query.limit.is_some()),
    ] {
        if given {
            return Err(ApiError::validation(
                field,
                "the CSV is the whole trail the filters select: leave out cursor and limit",
            ));
        }
    }
    let filter = query.filter()?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| ApiError::Internal(format!("audit CSV: {e}"));
    writer
        .write_record([
            "id",
            "at",
            "actor",
            "actor_organisation_id",
            "organisation_id",
            "action",
            "target",
            "detail",
            "address",
        ])
        .map_err(internal)?;
    let mut cursor: Option<String> = None;
    loop {
        let (reader, asked, after) = (principal.clone(), filter.clone(), cursor.clone());
        let batch = with_db(&pool, move |conn| {
            Ok(service::read_trail(
                conn,
                &reader,
                &asked,
                after.as_deref(),
                CSV_BATCH,
            )?)
        })
        .await?;
        for e in &batch {
            writer
                .write_record(csv_row(e).iter().map(|cell| text_cell(cell).into_owned()))
                .map_err(internal)?;
        }
        match batch.last() {
            Some(last) if batch.len() as i64 == CSV_BATCH => cursor = Some(last.id.clone()),
            _ => break,
        }
    }
    let body = writer
        .into_inner()
        .map_err(|e| ApiError::Internal(format!("audit CSV: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"audit.csv\"",
        ))
        .body(body))
}

fn csv_row(e: &AuditEvent) -> [String; 9] {
    let text = |o: &Option<String>| o.clone().unwrap_or_default();
    [
        e.id.clone(),
        e.at.and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        e.actor.clone(),
        e.actor_organisation_id
            .as_deref()
            .unwrap_or_default()
            .to_owned(),
        e.organisation_id.as_deref().unwrap_or_default().to_owned(),
        e.action.to_string(),
        text(&e.target),
        e.detail.clone(),
        text(&e.address),
    ]
}
