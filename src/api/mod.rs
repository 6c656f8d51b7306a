//! The HTTP API: handlers by resource, authentication, problem+json errors and OpenAPI.

pub mod audit;
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
pub mod members;
pub mod metrics;
pub mod open_data;
pub mod openapi;
pub mod organisations;
pub mod outbox;
pub mod projects;
pub mod stream;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{DbConn, Pool};
use crate::services::idempotency::{self, Retry};
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
    let retry = Retry {
        scope: principal.idempotency_scope(),
        key,
        fingerprint,
        received_at,
        status: status.as_u16(),
    };
    let (status, body) = with_db(pool, move |conn| {
        idempotency::once(conn, &retry, |conn| {
            let created = create(conn)?;
            serde_json::to_string(&created).map_err(internal)
        })
    })
    .await?;
    let status = StatusCode::from_u16(status).map_err(internal)?;
    Ok((status, body))
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

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// The operations of `/metrics` and of the open data, for the OpenAPI document: registered by
/// [`metrics_routes`] and [`open_data_routes`] below, which mount them apart from the API.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    metrics::metrics,
    open_data::index,
    open_data::table_page,
    open_data::table_csv,
    open_data::datapackage,
    open_data::indigo,
    open_data::releases,
    open_data::release_manifest,
    open_data::release_file,
))]
pub struct OpenDataPaths;

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

/// Declares the API's routes once: each path with the method and handler of each operation it
/// takes, in the order they are matched (a fixed path before a `{id}` that would match it too).
/// From the one list come [`routes`], which registers them with a 405 (naming in `Allow` the
/// methods a resource takes) for any other method, and [`RoutePaths`], their operations in the
/// OpenAPI document. A path's methods are listed in alphabetical order, as `Allow` names them.
macro_rules! api_routes {
    ($($path:literal => { $($method:ident $($segment:ident)::+),+ $(,)? }),+ $(,)?) => {
        /// Every route of the API, each with a 405 answer for methods it does not take.
        pub fn routes(cfg: &mut web::ServiceConfig) {
            $(
                cfg.service(
                    web::resource($path)
                        $(.route(method!($method).to($($segment)::+)))+
                        .default_service(not_allowed(allow!($($method),+))),
                );
            )+
            open_data_routes(cfg, not_allowed);
        }

        /// The operations of [`routes`], for the OpenAPI document.
        #[derive(utoipa::OpenApi)]
        #[openapi(paths($($($($segment)::+),+),+))]
        pub struct RoutePaths;
    };
}

macro_rules! method {
    (GET) => {
        web::get()
    };
    (PATCH) => {
        web::patch()
    };
    (POST) => {
        web::post()
    };
    (PUT) => {
        web::put()
    };
}

/// `Allow: GET, POST` from `GET, POST`.
macro_rules! allow {
    ($first:ident $(, $rest:ident)*) => {
        concat!(stringify!($first) $(, ", ", stringify!($rest))*)
    };
}

/// RFC 9110: a 405 names the methods the resource does take, in an Allow header.
fn not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(move || async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow }) })
}

api_routes! {
    "/healthz" => { GET health::healthz },
    "/readyz" => { GET health::readyz },
    "/v1/organisations" => { GET organisations::list, POST organisations::create },
    "/v1/organisations/{id}/statement.csv" => { GET finance::statement_csv },
    "/v1/organisations/{id}/statement" => { GET finance::statement },
    "/v1/organisations/{id}" => { GET organisations::get, PATCH corrections::correct_organisation },
    "/v1/organisations/{id}/history" => { GET corrections::organisation_history },
    "/v1/organisations/{id}/members" => { GET members::list, POST members::invite },
    "/v1/organisations/{id}/api-keys" => { GET members::list_keys, POST members::create_key },
    "/v1/members/{id}" => { GET members::get, PATCH members::patch },
    "/v1/members/{id}/disable" => { POST members::disable },
    "/v1/members/{id}/enable" => { POST members::enable },
    "/v1/api-keys/{id}/revoke" => { POST members::revoke_key },
    "/v1/audit.csv" => { GET audit::csv },
    "/v1/audit" => { GET audit::list },
    "/v1/funds" => { GET funds::list, POST funds::create },
    "/v1/funds/{id}" => { GET funds::get, PATCH corrections::correct_fund },
    "/v1/funds/{id}/history" => { GET corrections::fund_history },
    "/v1/funds/{id}/position" => { GET finance::position },
    "/v1/projects/{id}/payment-plan" => { GET finance::get_plan, PUT finance::set_plan },
    "/v1/projects" => { GET projects::list, POST projects::create },
    "/v1/projects/{id}" => { GET projects::get, PATCH corrections::correct_project },
    "/v1/jobs/{id}" => { GET jobs::get },
    "/v1/projects/{id}/commitments" => { GET commitments::list },
    "/v1/projects/{id}/payers/{payer_id}/accept" => { POST commitments::accept },
    "/v1/projects/{id}/payers/{payer_id}/decline" => { POST commitments::decline },
    "/v1/projects/{id}/history" => { GET corrections::project_history },
    "/v1/projects/{id}/claims" => { GET claims::list, POST claims::submit_one },
    "/v1/projects/{id}/claims/bulk" => { POST claims::submit_bulk },
    "/v1/projects/{id}/claims/verify" => { POST claims::verify_many },
    "/v1/projects/{id}/allocations" => { GET claims::allocations_list },
    "/v1/projects/{id}/settlements" => { POST documents::build },
    "/v1/outbox" => { GET outbox::list },
    "/v1/documents" => { GET documents::list },
    // The renderings before the document itself, whose `{id}` would match `doc_….csv` too.
    "/v1/documents/{id}.csv" => { GET documents::csv },
    "/v1/documents/{id}.html" => { GET documents::html },
    "/v1/documents/{id}" => { GET documents::get },
    "/v1/documents/{id}/issue" => { POST documents::issue },
    "/v1/documents/{id}/payments" => { POST documents::pay },
    "/v1/documents/{id}/refunds" => { POST documents::refund },
    "/v1/documents/{id}/set-off" => { POST documents::set_off },
    "/v1/documents/{id}/void" => { POST documents::void },
    "/v1/claims/{id}" => { GET claims::get },
    "/v1/claims/{id}/verify" => { POST claims::verify_one },
    "/v1/claims/{id}/reject" => { POST claims::reject },
    "/v1/claims/{id}/revoke" => { POST claims::revoke },
    "/v1/open-data/releases" => { POST open_data::cut_release },
    "/v1/open-data/rebuild" => { POST open_data::rebuild },
}

/// The open data, without authentication, readable from any origin (browser-based tools
/// fetch it). Releases and the fixed paths come before the tables, whose `{table}` would
/// match them too; pages and CSV are compressed when the client asks (release files are
/// served as stored: their ETag names their bytes).
fn open_data_routes(
    cfg: &mut web::ServiceConfig,
    not_allowed: fn(&'static str) -> actix_web::Route,
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
