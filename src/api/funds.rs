//! `/v1/funds`: central outcome funds and their budgets.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Principal;
use super::error::{ApiError, Problem};
use super::extract::{JsonBody, PageQuery};
use super::{idempotent_create, with_db, Page};
use crate::config::Config;
use crate::db::Pool;
use crate::domain::access::may_create_fund;
use crate::domain::ids::{FundId, OrganisationId};
use crate::domain::money::MoneyJson;
use crate::domain::registry::NewFund;
use crate::services::registry::{self, FundStanding};

/// A central outcomes fund with its budget and what its projects have committed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::fund_view)]
pub struct FundView {
    /// Its id, `fund_…`.
    pub id: String,
    /// The fund's name.
    pub name: String,
    /// The `central_fund` organisation (`org_…`) that owns and manages it.
    pub owner_organisation_id: String,
    /// Its whole budget; its currency is the fund's.
    pub budget: MoneyJson,
    /// Top-up committed to the fund's projects (their central top-up payers' maximums).
    pub committed: MoneyJson,
    /// Budget not yet committed.
    pub uncommitted: MoneyJson,
    /// First day of the fund's service period.
    pub service_start: NaiveDate,
    /// Last day of the fund's service period (inclusive); no project of it runs later.
    pub service_end: NaiveDate,
    /// When the fund was created (UTC).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn view(
    FundStanding {
        fund,
        committed_minor: committed,
    }: FundStanding,
) -> FundView {
    FundView {
        budget: MoneyJson::from_minor(fund.budget_minor, &fund.currency),
        committed: MoneyJson::from_minor(committed, &fund.currency),
        uncommitted: MoneyJson::from_minor(fund.budget_minor - committed, &fund.currency),
        id: String::from(fund.id),
        name: fund.name,
        owner_organisation_id: fund.owner_organisation_id.to_string(),
        service_start: fund.service_start,
        service_end: fund.service_end,
        created_at: fund.created_at.and_utc(),
    }
}

/// Create a central outcomes fund.
#[utoipa::path(
    post, path = "/v1/funds", tag = "registry", operation_id = "createFund",
    description = "An admin, or a fund manager for its own organisation only (`owner_organisation_id` must be the token's organisation); the owner must be a `central_fund` organisation. Creates the fund with nothing committed; projects commit its budget as their central top-up payers' `max_commitment`. Send an `Idempotency-Key` to retry safely: the same key with the same request returns the first response, with a different request it is a 422.",
    request_body = NewFund,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    responses(
        (status = 201, description = "The fund, with nothing committed yet", body = FundView),
        (status = 403, description = "Not an admin, or a fund manager creating a fund for another organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (an owner that is not a `central_fund` organisation, a budget that is not positive, `service_end` before `service_start`); `errors` names each", body = crate::api::error::documented::ValidationProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    req: HttpRequest,
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    // Asked before the body is read, so that a caller who may not create funds is told so first.
    principal.require(registry::REGISTRY_CREATORS)?;
    let input: NewFund = body.parse()?;
    // Asked here too, before the key is looked at, so that a retry of another's request is
    // refused as the request itself would be.
    may_create_fund(
        &principal,
        &OrganisationId::from(input.owner_organisation_id.as_str()),
    )?;
    let at = config.clock.now();
    let creator = principal.clone();
    idempotent_create(&pool, &principal, &req, body.bytes(), move |conn| {
        Ok(view(registry::create_fund(conn, &creator, input, at)?))
    })
    .await
}

/// List funds.
#[utoipa::path(
    get, path = "/v1/funds", tag = "registry", operation_id = "listFunds",
    description = "Any valid token, whatever its role, sees every fund with its budget, commitments and what is uncommitted; nothing changes. Ordered by id: pass `next_cursor` back as `cursor` for the next page.",
    params(PageQuery),
    responses((status = 200, description = "A page of funds", body = Page<FundView>, example = json!(crate::api::examples::fund_page()))),
    security(("bearer" = []))
)]
pub async fn list(
    pool: web::Data<Pool>,
    _principal: Principal,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<FundView>>, ApiError> {
    let limit = query.limit()?;
    let cursor = query.cursor.clone();
    let funds = with_db(&pool, move |conn| {
        Ok(registry::funds_page(conn, cursor.as_deref(), limit)?)
    })
    .await?;
    let items = funds.into_iter().map(view).collect();
    Ok(web::Json(Page::new(items, limit, |f: &FundView| {
        f.id.clone()
    })))
}

/// One fund with its budget and commitments.
#[utoipa::path(
    get, path = "/v1/funds/{id}", tag = "registry", operation_id = "getFund",
    description = "Any valid token may read any fund; nothing changes. `committed` is what the central top-up payers of its projects may draw from it at most, `uncommitted` the rest of its budget.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The fund", body = FundView),
        (status = 404, description = "No fund with this id", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    pool: web::Data<Pool>,
    _principal: Principal,
    id: web::Path<FundId>,
) -> Result<web::Json<FundView>, ApiError> {
    let id = id.into_inner();
    let fund = with_db(&pool, move |conn| Ok(registry::fund(conn, &id)?)).await?;
    Ok(web::Json(view(fund)))
}
