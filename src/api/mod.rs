//! The HTTP API: handlers by resource, authentication, problem+json errors and OpenAPI.

pub mod auth;
pub mod claims;
pub mod error;
pub mod extract;
pub mod funds;
pub mod health;
pub mod openapi;
pub mod organisations;
pub mod projects;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{self, DbConn, Pool};
use auth::Principal;
use error::ApiError;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `?cursor=` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `items` were fetched with `limit`; a full page may have a successor.
    pub fn new(items: Vec<T>, limit: i64, cursor_of: impl Fn(&T) -> String) -> Page<T> {
        let next_cursor = if items.len() as i64 == limit {
            items.last().map(cursor_of)
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

/// Runs blocking database work on actix's thread pool.
pub async fn with_db<T, F>(pool: &web::Data<Pool>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
{
    let pool = pool.clone();
    web::block(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?
}

/// A write that creates money-relevant records, made safe to retry with `Idempotency-Key`:
/// the same key and body return the first response; the same key with another body is a 422.
/// The stored response is inserted in the write's own transaction, and its primary key makes a
/// concurrent retry fail and roll back rather than write twice.
pub async fn idempotent_create<T, F>(
    pool: &web::Data<Pool>,
    principal: &Principal,
    key: Option<String>,
    digest: String,
    create: F,
) -> Result<HttpResponse, ApiError>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
{
    let principal_key = principal.key();
    let result = with_db(pool, move |conn| {
        let Some(key) = key else {
            let created = db::write_tx(conn, create)?;
            return Ok((
                StatusCode::CREATED,
                serde_json::to_string(&created).map_err(internal)?,
            ));
        };
        let outcome = db::write_tx(conn, |conn| {
            if let Some(stored) = db::queries::find_idempotent_response(conn, &principal_key, &key)?
            {
                return replay(&stored, &digest);
            }
            let created = create(conn)?;
            let body = serde_json::to_string(&created).map_err(internal)?;
            let record = db::models::IdempotencyRecord {
                principal: principal_key.clone(),
                idempotency_key: key.clone(),
                request_hash: digest.clone(),
                response_status: i32::from(StatusCode::CREATED.as_u16()),
                response_body: body.clone(),
                created_at: chrono::Utc::now().naive_utc(),
            };
            db::queries::insert_idempotent_response(conn, &record)?;
            Ok((StatusCode::CREATED, body))
        });
        match outcome {
            // A concurrent request with the same key committed first: answer as it did.
            Err(ApiError::Internal(_)) | Err(ApiError::Unavailable(_)) => {
                match db::queries::find_idempotent_response(conn, &principal_key, &key)? {
                    Some(stored) => replay(&stored, &digest),
                    None => outcome,
                }
            }
            other => other,
        }
    })
    .await?;
    let (status, body) = result;
    Ok(HttpResponse::build(status)
        .content_type("application/json")
        .body(body))
}

fn replay(
    stored: &db::models::IdempotencyRecord,
    digest: &str,
) -> Result<(StatusCode, String), ApiError> {
    if stored.request_hash != digest {
        return Err(ApiError::validation(
            "Idempotency-Key",
            "this key was already used with a different request body",
        ));
    }
    let status = u16::try_from(stored.response_status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    Ok((status, stored.response_body.clone()))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// Every route of the API, each with a 405 answer for methods it does not take.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // RFC 9110: a 405 names the methods the resource does take, in an Allow header.
    let not_allowed = |allow: &'static str| {
        web::to(move || async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow }) })
    };
    cfg.service(
        web::resource("/healthz")
            .get(health::healthz)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/readyz")
            .get(health::readyz)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/organisations")
            .post(organisations::create)
            .get(organisations::list)
            .default_service(not_allowed("GET, POST")),
    )
    .service(
        web::resource("/v1/organisations/{id}")
            .get(organisations::get)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/funds")
            .post(funds::create)
            .get(funds::list)
            .default_service(not_allowed("GET, POST")),
    )
    .service(
        web::resource("/v1/funds/{id}")
            .get(funds::get)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/projects")
            .post(projects::create)
            .get(projects::list)
            .default_service(not_allowed("GET, POST")),
    )
    .service(
        web::resource("/v1/projects/{id}")
            .get(projects::get)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/projects/{id}/claims")
            .post(claims::submit_one)
            .get(claims::list)
            .default_service(not_allowed("GET, POST")),
    )
    .service(
        web::resource("/v1/projects/{id}/claims/bulk")
            .post(claims::submit_bulk)
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/projects/{id}/claims/verify")
            .post(claims::verify_many)
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/projects/{id}/allocations")
            .get(claims::allocations_list)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/claims/{id}")
            .get(claims::get)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/claims/{id}/verify")
            .post(claims::verify_one)
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/claims/{id}/reject")
            .post(claims::reject)
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/claims/{id}/revoke")
            .post(claims::revoke)
            .default_service(not_allowed("POST")),
    );
}
