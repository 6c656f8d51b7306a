//! `/v1/organisations`: the public bodies, providers and others that take part in projects.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::{Principal, Role};
use super::error::{ApiError, Problem};
use super::extract::{JsonBody, PageQuery};
use super::{with_db, Page};
use crate::db::models::OrganisationRecord;
use crate::db::{queries, write_tx, Pool};
use crate::domain::registry::{validate_organisation, NewOrganisation, OrganisationKind};

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganisationView {
    pub id: String,
    pub name: String,
    pub kind: OrganisationKind,
    pub identifier: Option<String>,
    pub area_codes: Vec<String>,
    /// Shown only to administrators and to the organisation itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_emails: Option<Vec<String>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl OrganisationView {
    fn for_viewer(record: OrganisationRecord, viewer: &Principal) -> OrganisationView {
        let org = record.organisation;
        let sees_contacts = viewer.is_admin() || viewer.acts_for(&org.id);
        OrganisationView {
            kind: OrganisationKind::from_db(&org.kind).unwrap_or(OrganisationKind::Other),
            billing_emails: sees_contacts.then_some(record.billing_emails),
            area_codes: record.area_codes,
            created_at: org.created_at.and_utc(),
            identifier: org.identifier,
            name: org.name,
            id: org.id,
        }
    }
}

/// Register an organisation.
#[utoipa::path(
    post, path = "/v1/organisations", tag = "registry",
    request_body = NewOrganisation,
    responses(
        (status = 201, body = OrganisationView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "identifier already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    pool: web::Data<Pool>,
    principal: Principal,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Admin])?;
    let plan = validate_organisation(body.parse::<NewOrganisation>()?)?;
    let viewer = principal.clone();
    let record = with_db(&pool, move |conn| {
        write_tx(conn, |conn| {
            if let Some(identifier) = &plan.identifier {
                if queries::identifier_taken(conn, identifier)? {
                    return Err(ApiError::Conflict(format!(
                        "an organisation with identifier {identifier} is already registered"
                    )));
                }
            }
            Ok(queries::insert_organisation(conn, plan)?)
        })
    })
    .await?;
    Ok(HttpResponse::Created().json(OrganisationView::for_viewer(record, &viewer)))
}

/// List organisations.
#[utoipa::path(
    get, path = "/v1/organisations", tag = "registry",
    params(PageQuery),
    responses((status = 200, body = Page<OrganisationView>), (status = 401, body = Problem, content_type = "application/problem+json")),
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
        Ok(queries::list_organisations(conn, cursor.as_deref(), limit)?)
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
    get, path = "/v1/organisations/{id}", tag = "registry",
    params(("id" = String, Path)),
    responses((status = 200, body = OrganisationView), (status = 404, body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []))
)]
pub async fn get(
    pool: web::Data<Pool>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<web::Json<OrganisationView>, ApiError> {
    let id = id.into_inner();
    let record = with_db(&pool, move |conn| Ok(queries::get_organisation(conn, &id)?))
        .await?
        .ok_or_else(|| ApiError::NotFound("no such organisation".into()))?;
    Ok(web::Json(OrganisationView::for_viewer(record, &principal)))
}
