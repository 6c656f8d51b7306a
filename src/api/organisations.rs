//! `/v1/organisations`: the public bodies, providers and others that take part in projects.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Principal;
use super::error::{ApiError, Problem};
use super::extract::{JsonBody, PageQuery};
use super::{with_db, Page};
use crate::config::Config;
use crate::db::models::OrganisationRecord;
use crate::db::{queries, Pool};
use crate::domain::access::admin_or_own;
use crate::domain::registry::{NewOrganisation, OrganisationKind};
use crate::services::registry;

/// A registered organisation.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::organisation_view)]
pub struct OrganisationView {
    /// Its id, `org_…`.
    pub id: String,
    /// Its name, as documents show it.
    pub name: String,
    /// What kind of body it is; decides which roles its tokens may take.
    pub kind: OrganisationKind,
    /// Its org-id identifier (`GB-COH-…`, `GB-LAE-…`); null when none was given.
    pub identifier: Option<String>,
    /// Area codes (e.g. ONS local authority codes) it covers; may be empty.
    pub area_codes: Vec<String>,
    /// Shown only to administrators and to the organisation itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_emails: Option<Vec<String>>,
    /// When it was registered (UTC).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl OrganisationView {
    fn for_viewer(record: OrganisationRecord, viewer: &Principal) -> OrganisationView {
        let org = record.organisation;
        let sees_contacts = admin_or_own(viewer, &org.id);
        OrganisationView {
            kind: org.kind,
            billing_emails: sees_contacts.then_some(record.billing_emails),
            area_codes: record.area_codes,
            created_at: org.created_at.and_utc(),
            identifier: org.identifier,
            name: org.name,
            id: org.id.to_string(),
        }
    }
}

/// Register an organisation.
#[utoipa::path(
    post, path = "/v1/organisations", tag = "registry", operation_id = "createOrganisation",
    description = "Admin only. Registers the organisation and changes nothing else. Its `kind` decides which roles its tokens may take: `fund_manager` for a `central_fund`; `commissioner` for a `local_authority`, `nhs_body`, `central_fund` or `other`; `provider` for a `provider`, `intermediary` or `other`; `validator` for any kind but `provider` and `investor`. An `identifier` is registered once (no `Idempotency-Key`: a retry answers 409), and `billing_emails`, which receive its notifications, are shown only to admins and to the organisation itself.",
    request_body = NewOrganisation,
    responses(
        (status = 201, description = "The organisation as registered, with its billing emails", body = OrganisationView),
        (status = 401, description = "Missing, invalid or expired bearer token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token is not an admin's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An organisation with this identifier is already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (an empty name, an identifier that is not org-id, a repeated area code, an email that is not an address); `errors` names each", body = crate::api::error::documented::ValidationProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    // Asked before the body is read, so that a caller who may not register is told so first.
    principal.require(registry::ORGANISATION_REGISTRARS)?;
    let input = body.parse::<NewOrganisation>()?;
    let at = config.clock.now();
    let viewer = principal.clone();
    let record = with_db(&pool, move |conn| {
        Ok(registry::register_organisation(
            conn, &principal, input, at,
        )?)
    })
    .await?;
    Ok(HttpResponse::Created().json(OrganisationView::for_viewer(record, &viewer)))
}

/// List organisations.
#[utoipa::path(
    get, path = "/v1/organisations", tag = "registry", operation_id = "listOrganisations",
    description = "Any valid token, whatever its role, sees every organisation; nothing changes. `billing_emails` appear only to admins and on the caller's own organisation. Ordered by id: pass `next_cursor` back as `cursor` for the next page.",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of organisations", body = Page<OrganisationView>, example = json!(crate::api::examples::organisation_page())),
        (status = 401, description = "Missing, invalid or expired bearer token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    pool: web::Data<Pool>,
    principal: Principal,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<OrganisationView>>, ApiError> {
    let limit = query.limit()?;
    let cursor = query.cursor.clone();
    let rows = with_db(&pool, move |conn| {
        Ok(queries::organisations::list_organisations(
            conn,
            cursor.as_deref(),
            limit,
        )?)
    })
    .await?;
    let items = rows
        .into_iter()
        .map(|r| OrganisationView::for_viewer(r, &principal))
        .collect();
    Ok(web::Json(Page::new(
        items,
        limit,
        |o: &OrganisationView| o.id.clone(),
    )))
}

/// One organisation.
#[utoipa::path(
    get, path = "/v1/organisations/{id}", tag = "registry", operation_id = "getOrganisation",
    description = "Any valid token may read any organisation; nothing changes. `billing_emails` appear only to admins and to the organisation itself.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The organisation", body = OrganisationView),
        (status = 404, description = "No organisation with this id", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    pool: web::Data<Pool>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<web::Json<OrganisationView>, ApiError> {
    let id = id.into_inner();
    let record = with_db(&pool, move |conn| {
        Ok(queries::organisations::get_organisation(conn, &id)?)
    })
    .await?
    .ok_or_else(|| ApiError::NotFound("no such organisation".into()))?;
    Ok(web::Json(OrganisationView::for_viewer(record, &principal)))
}
