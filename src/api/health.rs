//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};
use diesel::RunQueryDsl;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, Problem};
use super::with_db;
use crate::db::Pool;

/// The answer of a liveness or readiness probe.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Health {
    /// `ok` from `/healthz`, `ready` from `/readyz`.
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(
    get, path = "/healthz", tag = "operations", operation_id = "checkHealth",
    description = "For liveness probes; no token. Answers as long as the process serves requests, without touching the database, and changes nothing.",
    responses((status = 200, description = "The process is up: `status` is `ok`", body = Health))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The process can reach its database.
#[utoipa::path(
    get, path = "/readyz", tag = "operations", operation_id = "checkReadiness",
    description = "For readiness probes and load balancers; no token. Runs one trivial query against the database and changes nothing; take the instance out of rotation while it answers 503.",
    responses(
        (status = 200, description = "The database answers: `status` is `ready`", body = Health, example = json!({"status": "ready"})),
        (status = 503, description = "The database does not answer", body = Problem, content_type = "application/problem+json"),
    )
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
