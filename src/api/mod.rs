//! The HTTP API: handlers by resource, authentication, problem+json errors and OpenAPI.

pub mod auth;
pub mod claims;
pub mod commitments;
pub mod corrections;
pub mod documents;
pub mod error;
pub mod examples;
pub mod extract;
pub mod finance;
pub mod funds;
pub mod health;
pub mod jobs;
pub mod metrics;
pub mod open_data;
pub mod openapi;
pub mod organisations;
pub mod outbox;
pub mod projects;
pub mod stream;
pub mod vocabulary;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{self, DbConn, Pool};
use auth::Principal;
use error::ApiError;

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items of this page, in the list's order.
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
    let (result, queries) = web::block(move || match pool.get() {
        // Counted from checkout: a connection's set-up and check are not the request's.
        Ok(mut conn) => crate::db::statements_of(|| f(&mut conn)),
        Err(e) => (Err(e.into()), 0),
    })
    .await
    .map_err(|e| ApiError::Internal(format!("blocking task failed: {e}")))?;
    crate::metrics::add_to_request(queries);
    result
}

/// A write that creates money-relevant records, made safe to retry with `Idempotency-Key`.
///
/// Keys are scoped to the caller's organisation. A request is fingerprinted by its method,
/// path with query, content type and body: the same key with the same request returns the
/// first response; with any other request it is a 422 and nothing is stored. The key is
/// reserved at the start of the write's own transaction and its response written before it
/// commits, so a concurrent retry waits for the first request and answers as it did (or, if
/// the first failed and stored nothing, does the work itself); it is never told that its own
/// claim was a duplicate.
pub async fn idempotent_create<T, F>(
    pool: &web::Data<Pool>,
    principal: &Principal,
    request: &HttpRequest,
    body: &[u8],
    create: F,
) -> Result<HttpResponse, ApiError>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
{
    let stored =
        idempotent_body(pool, principal, request, body, StatusCode::CREATED, create).await?;
    Ok(stored_response(stored))
}

/// The answer to a request made safe to retry, with the status the first answer had: a retry
/// of a bulk file that first ran as a job is answered with the job (202), and the other way
/// round, whatever its `Prefer` header says now.
pub fn stored_response((status, body): (StatusCode, String)) -> HttpResponse {
    if status == StatusCode::ACCEPTED {
        return jobs::JobView::accepted_body(body);
    }
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}

/// [`idempotent_create`] answering `status`: the status and body of the response, the first
/// one's for a retry.
pub async fn idempotent_body<T, F>(
    pool: &web::Data<Pool>,
    principal: &Principal,
    request: &HttpRequest,
    body: &[u8],
    status: StatusCode,
    create: F,
) -> Result<(StatusCode, String), ApiError>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
{
    let key = extract::idempotency_key(request)?;
    let fingerprint = request_fingerprint(request, body);
    let received_at = request
        .app_data::<web::Data<crate::config::Config>>()
        .ok_or_else(|| ApiError::Internal("the application has no configuration".into()))?
        .clock
        .now();
    let scope = principal.idempotency_scope();
    with_db(pool, move |conn| {
        db::write_tx(conn, |conn| {
            if let Some(key) = &key {
                let reservation = db::models::IdempotencyRecord {
                    principal: scope.clone(),
                    idempotency_key: key.clone(),
                    request_hash: fingerprint.clone(),
                    response_status: 0,
                    response_body: String::new(),
                    created_at: received_at,
                };
                if !db::backend_specific::reserve_idempotency_key(conn, &reservation)? {
                    return replay(conn, &scope, key, &fingerprint);
                }
            }
            let created = create(conn)?;
            let body = serde_json::to_string(&created).map_err(internal)?;
            if let Some(key) = &key {
                let stored = i32::from(status.as_u16());
                db::queries::store_idempotent_response(conn, &scope, key, stored, &body)?;
            }
            Ok((status, body))
        })
    })
    .await
}

/// What makes two requests the same request: method, path and query, content type, body.
fn request_fingerprint(request: &HttpRequest, body: &[u8]) -> String {
    let content_type = request
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let target = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_default();
    extract::sha256_hex(&[
        request.method().as_str().as_bytes(),
        b"\n",
        target.as_bytes(),
        b"\n",
        content_type,
        b"\n",
        body,
    ])
}

/// The stored answer to a request already made with this key.
fn replay(
    conn: &mut DbConn,
    scope: &str,
    key: &str,
    fingerprint: &str,
) -> Result<(StatusCode, String), ApiError> {
    let stored = db::queries::find_idempotent_response(conn, scope, key)?
        .ok_or_else(|| ApiError::Internal("a reserved idempotency key has no row".into()))?;
    if stored.request_hash != fingerprint {
        return Err(ApiError::validation(
            "Idempotency-Key",
            "this key was already used for a different request (another body, path or method)",
        ));
    }
    let status = u16::try_from(stored.response_status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .filter(|s| s.is_success());
    let Some(status) = status else {
        // Only possible if a reservation was committed without its response: refuse rather
        // than answer with nothing.
        return Err(ApiError::Conflict(
            "the first request with this key has not finished".into(),
        ));
    };
    Ok((status, stored.response_body))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// `/metrics`: beside the API, or alone on `COFUND_METRICS_BIND`.
pub fn metrics_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/metrics")
            .get(metrics::metrics)
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow: "GET" })
            })),
    );
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
        web::resource("/v1/organisations/{id}/statement.csv")
            .get(finance::statement_csv)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/organisations/{id}/statement")
            .get(finance::statement)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/organisations/{id}")
            .get(organisations::get)
            .patch(corrections::correct_organisation)
            .default_service(not_allowed("GET, PATCH")),
    )
    .service(
        web::resource("/v1/organisations/{id}/history")
            .get(corrections::organisation_history)
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
            .patch(corrections::correct_fund)
            .default_service(not_allowed("GET, PATCH")),
    )
    .service(
        web::resource("/v1/funds/{id}/history")
            .get(corrections::fund_history)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/funds/{id}/position")
            .get(finance::position)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/projects/{id}/payment-plan")
            .get(finance::get_plan)
            .put(finance::set_plan)
            .default_service(not_allowed("GET, PUT")),
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
            .patch(corrections::correct_project)
            .default_service(not_allowed("GET, PATCH")),
    )
    .service(
        web::resource("/v1/jobs/{id}")
            .get(jobs::get)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/projects/{id}/commitments")
            .get(commitments::list)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/projects/{id}/payers/{payer_id}/accept")
            .post(commitments::accept)
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/projects/{id}/payers/{payer_id}/decline")
            .post(commitments::decline)
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/projects/{id}/history")
            .get(corrections::project_history)
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
        web::resource("/v1/projects/{id}/settlements")
            .post(documents::build)
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/outbox")
            .get(outbox::list)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/documents")
            .get(documents::list)
            .default_service(not_allowed("GET")),
    )
    // The renderings before the document itself, whose `{id}` would match `doc_….csv` too.
    .service(
        web::resource("/v1/documents/{id}.csv")
            .get(documents::csv)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/documents/{id}.html")
            .get(documents::html)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/documents/{id}")
            .get(documents::get)
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/documents/{id}/issue")
            .post(documents::issue)
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/documents/{id}/payments")
            .post(documents::pay)
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/documents/{id}/refunds")
            .post(documents::refund)
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/documents/{id}/set-off")
            .post(documents::set_off)
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/documents/{id}/void")
            .post(documents::void)
            .default_service(not_allowed("POST")),
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
    )
    .service(
        web::resource("/v1/open-data/releases")
            .post(open_data::cut_release)
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/open-data/rebuild")
            .post(open_data::rebuild)
            .default_service(not_allowed("POST")),
    );
    open_data_routes(cfg, not_allowed);
}

/// The open data, without authentication, readable from any origin (browser-based tools
/// fetch it). Releases and the fixed paths come before the tables, whose `{table}` would
/// match them too; pages and CSV are compressed when the client asks (release files are
/// served as stored: their ETag names their bytes).
fn open_data_routes(
    cfg: &mut web::ServiceConfig,
    not_allowed: impl Fn(&'static str) -> actix_web::Route,
) {
    use actix_web::middleware::{Compress, DefaultHeaders};
    let scope = web::scope(open_data::PREFIX)
        .wrap(DefaultHeaders::new().add(("Access-Control-Allow-Origin", "*")))
        .service(readable(&["", "/"], open_data::index).default_service(not_allowed("GET, HEAD")))
        .service(
            readable(&["/releases"], open_data::releases).default_service(not_allowed("GET, HEAD")),
        )
        .service(
            readable(&["/releases/{version}"], open_data::release_manifest)
                .default_service(not_allowed("GET, HEAD")),
        )
        .service(
            readable(&["/releases/{version}/{file}"], open_data::release_file)
                .default_service(not_allowed("GET, HEAD")),
        )
        .service(
            readable(&["/datapackage.json"], open_data::datapackage)
                .default_service(not_allowed("GET, HEAD")),
        )
        .service(
            readable(&["/projects/{id}/indigo.json"], open_data::indigo)
                .default_service(not_allowed("GET, HEAD")),
        )
        .service(
            readable(&["/{table}.csv"], open_data::table_csv)
                .wrap(Compress::default())
                .default_service(not_allowed("GET, HEAD")),
        )
        .service(
            readable(&["/{table}"], open_data::table_page)
                .wrap(Compress::default())
                .default_service(not_allowed("GET, HEAD")),
        );
    cfg.service(scope);
}

/// A resource answering GET and HEAD (the same handler; the server sends no body to HEAD).
fn readable<F, Args>(paths: &[&str], handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(paths.to_vec())
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
}
