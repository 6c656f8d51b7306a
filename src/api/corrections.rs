//! `PATCH /v1/organisations/{id}`, `/v1/funds/{id}`, `/v1/projects/{id}` and their
//! `/history`: corrections to registry records, and who made them when.

use crate::domain::ids::{FundId, OrganisationId, ProjectId};
use actix_web::web;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Principal;
use super::error::{ApiError, Problem};
use super::extract::JsonBody;
use super::with_db;
use crate::config::Config;
use crate::db::Pool;
use crate::domain::access::sees_person_of;
use crate::domain::corrections::{FundCorrection, OrganisationCorrection, ProjectCorrection};
use crate::services::corrections::{
    self as service, Correction, Corrector, Record, RegistryChange,
};

/// One field of a record as corrected.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"field": "name", "old_value": "Birmingham CC", "new_value": "Birmingham City Council", "changed_by": "admin", "changed_by_organisation_id": null, "changed_at": "2026-12-05T10:00:00Z"}))]
pub struct ChangeView {
    /// The field corrected.
    pub field: String,
    /// Its value before and after; null for billing addresses, which are personal data.
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    /// The subject of the token that made the correction (a person, perhaps: shown only to
    /// admins and to the corrector's own organisation), and its organisation.
    pub changed_by: Option<String>,
    pub changed_by_organisation_id: Option<String>,
    pub changed_at: chrono::DateTime<chrono::Utc>,
}

/// A record's corrections, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryView {
    pub changes: Vec<ChangeView>,
}

impl HistoryView {
    fn for_viewer(changes: Vec<RegistryChange>, viewer: &Principal) -> HistoryView {
        let changes = changes
            .into_iter()
            .map(|c| {
                let sees_who = sees_person_of(viewer, c.changed_by_organisation_id.as_ref());
                ChangeView {
                    field: c.field,
                    old_value: c.old_value,
                    new_value: c.new_value,
                    changed_by: sees_who.then_some(c.changed_by),
                    changed_by_organisation_id: c.changed_by_organisation_id.map(String::from),
                    changed_at: c.changed_at.and_utc(),
                }
            })
            .collect();
        HistoryView { changes }
    }
}

/// Makes a correction and answers the record's history.
async fn correct(
    pool: &web::Data<Pool>,
    config: &Config,
    principal: Principal,
    id: String,
    correction: Correction,
) -> Result<web::Json<HistoryView>, ApiError> {
    let at = config.clock.now();
    let viewer = principal.clone();
    let history = with_db(pool, move |conn| {
        let by = Corrector {
            principal: &principal,
            at,
        };
        Ok(service::correct(conn, &by, &id, correction)?)
    })
    .await?;
    Ok(web::Json(HistoryView::for_viewer(history, &viewer)))
}

async fn history(
    pool: &web::Data<Pool>,
    principal: Principal,
    record: Record,
) -> Result<web::Json<HistoryView>, ApiError> {
    let viewer = principal.clone();
    let changes = with_db(pool, move |conn| {
        Ok(service::history(conn, &principal, &record)?)
    })
    .await?;
    Ok(web::Json(HistoryView::for_viewer(changes, &viewer)))
}

/// Correct an organisation.
#[utoipa::path(
    patch, path = "/v1/organisations/{id}", tag = "registry", operation_id = "correctOrganisation",
    description = "Admin only. Corrects the organisation's `name`, `identifier` (org-id, registered once) or `billing_emails` (the whole list), checked as when it was registered; fields left out stay as they are, and a field sent as it already is changes nothing. Its kind and areas are not corrected here. Each field changed is recorded with who changed it and when (billing addresses without the addresses). Answers the organisation's corrections so far.",
    params(("id" = String, Path)),
    request_body = OrganisationCorrection,
    responses(
        (status = 200, description = "Corrected: every correction of the organisation so far", body = HistoryView),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No organisation with this id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another organisation has this identifier", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Nothing to correct, or a field that would not be accepted at registration; `errors` names each", body = crate::api::error::documented::ValidationProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn correct_organisation(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<web::Json<HistoryView>, ApiError> {
    let correction = body.parse::<OrganisationCorrection>()?.validate()?;
    let correction = Correction::Organisation(correction);
    correct(&pool, &config, principal, id.into_inner(), correction).await
}

/// Correct a fund.
#[utoipa::path(
    patch, path = "/v1/funds/{id}", tag = "registry", operation_id = "correctFund",
    description = "An admin, or a fund manager of the organisation that owns the fund. Corrects its `name`; its owner, budget, currency and dates are not corrected here. The change is recorded with who made it and when. Answers the fund's corrections so far.",
    params(("id" = String, Path)),
    request_body = FundCorrection,
    responses(
        (status = 200, description = "Corrected: every correction of the fund so far", body = HistoryView),
        (status = 403, description = "Not an admin or one of the fund's managers", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No fund with this id", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Nothing to correct, or an empty or over-long name; `errors` names each", body = crate::api::error::documented::ValidationProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn correct_fund(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<web::Json<HistoryView>, ApiError> {
    let correction = body.parse::<FundCorrection>()?.validate()?;
    let correction = Correction::Fund(correction);
    correct(&pool, &config, principal, id.into_inner(), correction).await
}

/// Correct a project.
#[utoipa::path(
    patch, path = "/v1/projects/{id}", tag = "registry", operation_id = "correctProject",
    description = "An admin, or a fund manager of the organisation that owns the project's fund (a project the caller cannot see is a 404). Corrects its `name` or `published` (whether its anonymised data is published as open data, from the next rebuild; quarters published before stay as they were if it is published again). Contract terms (payers, shares, caps, prices, dates) are a variation, not a correction. Each change is recorded with who made it and when. Answers the project's corrections so far.",
    params(("id" = String, Path)),
    request_body = ProjectCorrection,
    responses(
        (status = 200, description = "Corrected: every correction of the project so far", body = HistoryView),
        (status = 403, description = "Not an admin or a manager of the project's fund", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or one the caller cannot see", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Nothing to correct, or an empty or over-long name; `errors` names each", body = crate::api::error::documented::ValidationProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn correct_project(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<web::Json<HistoryView>, ApiError> {
    let correction = body.parse::<ProjectCorrection>()?.validate()?;
    let correction = Correction::Project(correction);
    correct(&pool, &config, principal, id.into_inner(), correction).await
}

/// An organisation's corrections.
#[utoipa::path(
    get, path = "/v1/organisations/{id}/history", tag = "registry", operation_id = "organisationHistory",
    description = "An admin, or the organisation itself: every correction of it, oldest first, with who made it and when.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "Its corrections", body = HistoryView),
        (status = 403, description = "Neither an admin nor the organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No organisation with this id", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn organisation_history(
    pool: web::Data<Pool>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<web::Json<HistoryView>, ApiError> {
    history(
        &pool,
        principal,
        Record::Organisation(OrganisationId::from(id.into_inner())),
    )
    .await
}

/// A fund's corrections.
#[utoipa::path(
    get, path = "/v1/funds/{id}/history", tag = "registry", operation_id = "fundHistory",
    description = "An admin, or a fund manager of the fund's owner: every correction of it, oldest first, with who made it and when.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "Its corrections", body = HistoryView),
        (status = 403, description = "Not an admin or one of the fund's managers", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No fund with this id", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn fund_history(
    pool: web::Data<Pool>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<web::Json<HistoryView>, ApiError> {
    history(
        &pool,
        principal,
        Record::Fund(FundId::from(id.into_inner())),
    )
    .await
}

/// A project's corrections.
#[utoipa::path(
    get, path = "/v1/projects/{id}/history", tag = "registry", operation_id = "projectHistory",
    description = "An admin, or a fund manager of the organisation owning the project's fund (a project the caller cannot see is a 404): every correction of it, oldest first, with who made it and when.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "Its corrections", body = HistoryView),
        (status = 403, description = "Not an admin or a manager of the project's fund", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or one the caller cannot see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn project_history(
    pool: web::Data<Pool>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<web::Json<HistoryView>, ApiError> {
    history(
        &pool,
        principal,
        Record::Project(ProjectId::from(id.into_inner())),
    )
    .await
}
