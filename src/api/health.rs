//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};
use diesel::RunQueryDsl;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, Problem};
use super::with_db;
use crate::db::Pool;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The process can reach its database.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Problem, content_type = "application/problem+json"))
)]
pub async fn readyz(pool: web::Data<Pool>) -> Result<HttpResponse, ApiError> {
    with_db(&pool, |conn| {
        diesel::sql_query("SELECT 1")
            .execute(conn)
            .map_err(|e| ApiError::Unavailable(format!("the database does not answer: {e}")))
    })
    .await
    .map_err(|e| match e {
        ApiError::Unavailable(m) | ApiError::Internal(m) => ApiError::Unavailable(m),
        other => other,
    })?;
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}
