//! `GET /metrics`: the process's metrics for Prometheus ([`crate::metrics`]).

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use super::error::ApiError;
use super::with_db;
use crate::db::{queries, Pool};
use crate::metrics::{Metrics, Snapshot, CONTENT_TYPE};

/// Metrics in the OpenMetrics text format.
#[utoipa::path(
    get, path = "/metrics", tag = "operations", operation_id = "getMetrics",
    description = "For operators' Prometheus: request counts and latency by route and status, database statements per request, claims submitted, verified, rejected and revoked, money allocated by payer role, database pool use and outbox emails by status. No token; when `COFUND_METRICS_BIND` is set it is served only on that address, not beside the API. Changes nothing.",
    responses(
        (status = 200, description = "The metrics, in the OpenMetrics text format", body = String,
         content_type = "application/openmetrics-text"),
    )
)]
pub async fn metrics(
    pool: web::Data<Pool>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    let state = pool.state();
    let (allocated, outbox) = with_db(&pool, |conn| {
        Ok((
            queries::metrics::allocated_by_role(conn)?,
            queries::metrics::outbox_by_status(conn)?,
        ))
    })
    .await?;
    let snapshot = Snapshot {
        allocated,
        outbox,
        pool_open: i64::from(state.connections),
        pool_idle: i64::from(state.idle_connections),
        pool_max: i64::from(pool.max_size()),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, CONTENT_TYPE))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(metrics.encode(&snapshot)))
}
