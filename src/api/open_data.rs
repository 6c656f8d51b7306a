//! Open data over HTTP, without authentication: the index of tables, a page of any table
//! (Datasette's conventions), whole tables as streamed CSV, the data dictionary, one project
//! as an INDIGO document, and releases. Admins cut releases and rebuild the tables.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value as Json};

use super::auth::Principal;
use super::error::ApiError;
use super::{stream, with_db};
use crate::config::Config;
use crate::db::{backend_specific, Pool};
use crate::domain::access::Role;
use crate::domain::open_data::catalog::{self, Table, TABLES};
use crate::domain::open_data::indigo::{project_document, ProjectTables};
use crate::domain::open_data::package::{descriptor, PackageFacts};
use crate::domain::open_data::query;
use crate::services::error::ServiceError;
use crate::services::open_data::{build, read, release};

pub const PREFIX: &str = "/open-data/v1";
/// Rows read per query while a table streams as CSV.
const CSV_PAGE_ROWS: i64 = 10_000;
/// Live tables change when they are rebuilt; a reader may keep them this long.
const LIVE_MAX_AGE: &str = "public, max-age=60";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const QUERIES: &str = "filters column=value, column__gt=, __gte=, __lt=, __lte=, __in=a,b (also on .csv); _sort=column or _sort_desc=column; _size=1..1000 (default 100); cursor= from next_cursor; _facet=column";
const STABILITY: &str = "v1 is stable: tables and columns are only ever added, never renamed or removed, and a column keeps its meaning and type. Releases never change once cut.";

fn table_named(name: &str) -> Result<&'static Table, ApiError> {
    catalog::table(name).ok_or_else(|| {
        let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        ApiError::NotFound(format!(
            "no such published table; the tables are {}",
            names.join(", ")
        ))
    })
}

/// The tables with their row counts and links, the data dictionary and the releases.
#[utoipa::path(get, path = "/open-data/v1/", tag = "open data", operation_id = "getOpenDataIndex",
    description = "No token: open data is public and readable from any origin (`HEAD` too); nothing changes. Names each published table with its row count, when it was last rebuilt and its page and CSV URLs, and says how to query them, which small numbers are withheld, the licence and what stays stable. It may be cached for 60 seconds.",
    responses((status = 200, description = "The published tables", content_type = "application/json", body = Object, example = json!(crate::api::examples::open_data_index()))))]
pub async fn index(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
) -> Result<HttpResponse, ApiError> {
    let states = with_db(&pool, |conn| Ok(read::table_states(conn)?)).await?;
    let tables: Vec<Json> = TABLES
        .iter()
        .map(|t| {
            let state = states.iter().find(|s| s.name == t.name);
            json!({
                "name": t.name,
                "title": t.title,
                "description": t.description,
                "rows": state.map_or(0, |s| s.row_count),
                "built_at": state.and_then(|s| s.built_at).map(|b| b.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                "url": format!("{PREFIX}/{}", t.name),
                "csv": format!("{PREFIX}/{}.csv", t.name),
            })
        })
        .collect();
    let licence = config.open_data.licence;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, LIVE_MAX_AGE))
        .json(json!({
            "tables": tables,
            "datapackage": format!("{PREFIX}/datapackage.json"),
            "releases": format!("{PREFIX}/releases"),
            "licence": {"name": licence.name, "title": licence.title, "path": licence.path},
            "indigo": format!("{PREFIX}/projects/{{project_id}}/indigo.json"),
            "queries": QUERIES,
            "api_documentation": "/docs/",
            "suppression": format!("counts from 1 to {} are withheld (null in JSON, \"suppressed\" in CSV), with any amount or total that would reveal one", config.open_data.k - 1),
            "stability": STABILITY,
        })))
}

/// The query string's pairs in order, repeated names kept.
fn query_pairs(request: &HttpRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(request.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[derive(Serialize)]
struct FacetValue {
    value: Json,
    count: i64,
}

#[derive(Serialize)]
struct TablePage {
    table: &'static str,
    rows: Vec<Box<RawValue>>,
    /// Pass as `?cursor=` (with the same filters and order) for the next page; null on the
    /// last.
    next_cursor: Option<String>,
    /// The next page's URL.
    next_url: Option<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    facets: Map<String, Json>,
}

/// A page of a published table. Filters `column=value`, `column__gt=`, `__gte`, `__lt`,
/// `__lte`, `__in=a,b`; order `_sort=column` or `_sort_desc=column`; `_size=` (1 to 1,000,
/// default 100); `cursor=` from the previous page; `_facet=column` for counts of its values.
/// An unknown column, operator or parameter is a 400 that names it.
#[utoipa::path(get, path = "/open-data/v1/{table}", tag = "open data", operation_id = "listOpenDataRows",
    description = "No token; nothing changes. The rows are the published table's as last rebuilt from the registry and the ledger (on a timer, or by rebuildOpenData), anonymised: counts from 1 to k−1 (k is 5 unless configured) are null, with any amount or total that would reveal one. Follow `next_url` (or pass `next_cursor` as `cursor` with the same filters and order) for the next page; it may be cached for 60 seconds.",
    params(("table" = String, Path, description = "funds, organisations, projects, project_payers, outcome_metrics, results_quarterly, payments_quarterly or adjustments"),
        ("_sort" = Option<String>, Query), ("_sort_desc" = Option<String>, Query),
        ("_size" = Option<i64>, Query, minimum = 1, maximum = 1000),
        ("_facet" = Option<String>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "A page of rows", content_type = "application/json", body = Object, example = json!(crate::api::examples::open_data_page()))))]
pub async fn table_page(
    pool: web::Data<Pool>,
    request: HttpRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let table = table_named(&name)?;
    let pairs = query_pairs(&request);
    let query = query::parse(table, &pairs).map_err(ApiError::BadRequest)?;
    let page = with_db(&pool, move |conn| Ok(read::page(conn, table, &query)?)).await?;
    let next_url = page.next_cursor.as_ref().map(|cursor| {
        let mut url = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(k, _)| k != "cursor" && k != "_next") {
            url.append_pair(k, v);
        }
        url.append_pair("cursor", cursor);
        format!("{PREFIX}/{}?{}", table.name, url.finish())
    });
    let rows = page
        .rows
        .into_iter()
        .map(|r| {
            RawValue::from_string(r)
                .map_err(|e| ApiError::Internal(format!("a stored row is not JSON: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let facets = page
        .facets
        .into_iter()
        .map(|f| {
            let values: Vec<Json> = f
                .values
                .into_iter()
                .map(|(value, count)| json!(FacetValue { value, count }))
                .collect();
            (f.column.to_owned(), Json::Array(values))
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, LIVE_MAX_AGE))
        .json(TablePage {
            table: table.name,
            rows,
            next_cursor: page.next_cursor,
            next_url,
            facets,
        }))
}

/// The whole table as CSV. RFC 4180, UTF-8, a header of machine names, streamed from the
/// database in key order, with no size cap; gzip when the client asks (`Accept-Encoding`).
/// Filters as for pages narrow it. A suppressed cell says `suppressed`; an empty one is not
/// known.
#[utoipa::path(get, path = "/open-data/v1/{table}.csv", tag = "open data", operation_id = "downloadOpenDataCsv",
    description = "No token; nothing changes. Withheld as on pages (a withheld cell says `suppressed`); the page parameters (`_sort`, `_size`, `_facet`, `cursor`) are refused with a 400, since the CSV is always the whole table, or what its filters leave of it, in key order. It may be cached for 60 seconds.",
    params(("table" = String, Path)),
    responses((status = 200, description = "The whole table", content_type = "text/csv", body = String, example = json!(crate::api::examples::OPEN_DATA_CSV))))]
pub async fn table_csv(
    pool: web::Data<Pool>,
    request: HttpRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let table = table_named(&name)?;
    let query = query::parse_csv(table, &query_pairs(&request)).map_err(ApiError::BadRequest)?;
    let body = stream::from_database(
        pool.get_ref().clone(),
        "a published table",
        move |conn, sink| {
            backend_specific::with_scan_cache(conn, |conn| {
                read::in_snapshot(conn, |conn| {
                    read::write_csv(conn, table, &query, CSV_PAGE_ROWS, |chunk| {
                        sink.send(chunk.into_bytes())
                    })
                })
            })
            .map_err(|e: ServiceError| e.to_string())
        },
    );
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, LIVE_MAX_AGE))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{}.csv\"", table.name),
        ))
        .streaming(body))
}

/// The data dictionary: a Frictionless Data Package with a Table Schema per table.
#[utoipa::path(get, path = "/open-data/v1/datapackage.json", tag = "open data", operation_id = "getDataPackage",
    description = "No token; nothing changes. Describes the live tables: every column's type and meaning, the suppression rule, the licence and when the tables were last rebuilt; each release carries its own copy. It may be cached for 60 seconds.",
    responses((status = 200, description = "The data package", content_type = "application/json", body = Object, example = json!(crate::api::examples::data_package()))))]
pub async fn datapackage(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
) -> Result<HttpResponse, ApiError> {
    let states = with_db(&pool, |conn| Ok(read::table_states(conn)?)).await?;
    let modified = states.iter().filter_map(|s| s.built_at).max();
    let none = |_: &Table| None;
    let package = descriptor(&PackageFacts {
        licence: config.open_data.licence,
        version: None,
        modified,
        k: config.open_data.k,
        files: &none,
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, LIVE_MAX_AGE))
        .json(package))
}

/// One published project as an INDIGO (v4) project document; values withheld to protect
/// small numbers are `PRIVATE` with a note.
#[utoipa::path(get, path = "/open-data/v1/projects/{id}/indigo.json", tag = "open data", operation_id = "getIndigoProject",
    description = "No token; nothing changes. Only a project in the published tables has a document: one created with `published: true`, from the next rebuild on; any other id is a 404. It may be cached for 60 seconds.",
    params(("id" = String, Path)),
    responses((status = 200, description = "The INDIGO project document", content_type = "application/json", body = Object, example = json!(crate::api::examples::indigo_project()))))]
pub async fn indigo(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let k = config.open_data.k;
    let doc = with_db(&pool, move |conn| {
        read::in_snapshot(conn, |conn| {
            let mut rows =
                |table: &str| read::project_rows(conn, table_named(table).expect("declared"), &id);
            let project = rows("projects")?;
            let (payers, metrics, results, payments) = (
                rows("project_payers")?,
                rows("outcome_metrics")?,
                rows("results_quarterly")?,
                rows("payments_quarterly")?,
            );
            let Some(project) = project.first() else {
                return Ok(None);
            };
            Ok(Some(project_document(&ProjectTables {
                project,
                payers: &payers,
                metrics: &metrics,
                results: &results,
                payments: &payments,
                k,
            })))
        })
        .map_err(ApiError::from)
    })
    .await?
    .ok_or_else(|| ApiError::NotFound("no published project with this id".into()))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, LIVE_MAX_AGE))
        .json(doc))
}

/// A manifest with the URL of each file.
fn manifest_json(manifest: &release::Manifest) -> Json {
    let mut value = serde_json::to_value(manifest).expect("a manifest serialises");
    let base = format!("{PREFIX}/releases/{}", manifest.version);
    if let Some(files) = value["files"].as_array_mut() {
        for file in files {
            let url = format!("{base}/{}", file["name"].as_str().unwrap_or_default());
            file["url"] = json!(url);
        }
    }
    value["url"] = json!(base);
    value
}

/// Every release, newest first.
#[utoipa::path(get, path = "/open-data/v1/releases", tag = "open data", operation_id = "listReleases",
    description = "No token; nothing changes. Each release's manifest, with the URL of the release and of each of its files; a release never changes once cut.",
    responses((status = 200, description = "The releases", content_type = "application/json", body = Object, example = json!(crate::api::examples::releases()))))]
pub async fn releases(pool: web::Data<Pool>) -> Result<HttpResponse, ApiError> {
    let all = with_db(&pool, |conn| Ok(release::list(conn)?)).await?;
    let list: Vec<Json> = all.iter().map(manifest_json).collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, LIVE_MAX_AGE))
        .json(json!({ "releases": list })))
}

/// A release's manifest: its files with their sizes and SHA-256 checksums.
#[utoipa::path(get, path = "/open-data/v1/releases/{version}", tag = "open data", operation_id = "getRelease",
    description = "No token; nothing changes. A version is the day the release was cut and its number that day (`2026-10-01.1`); the manifest never changes, so it may be cached for ever.",
    params(("version" = String, Path)),
    responses((status = 200, description = "The release's manifest", content_type = "application/json", body = Object, example = json!(crate::api::examples::release_manifest()))))]
pub async fn release_manifest(
    pool: web::Data<Pool>,
    version: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let version = version.into_inner();
    let manifest = with_db(&pool, move |conn| Ok(release::manifest(conn, &version)?))
        .await?
        .ok_or_else(|| ApiError::NotFound("no release with this version".into()))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, IMMUTABLE))
        .json(manifest_json(&manifest)))
}

/// A file of a release, the same bytes every time: `ETag` is its SHA-256, and it may be
/// cached for ever.
#[utoipa::path(get, path = "/open-data/v1/releases/{version}/{file}", tag = "open data", operation_id = "downloadReleaseFile",
    description = "No token; nothing changes. The files are each table's CSV, `datapackage.json`, `SHA256SUMS` and `cofund-open-data-{version}.zip` with them all (sent as an attachment), as the manifest lists them. Send the `ETag` back in `If-None-Match` to be answered 304 without the bytes.",
    params(("version" = String, Path), ("file" = String, Path)),
    responses(
        (status = 200, description = "The file: a table as CSV, the data package, SHA256SUMS or the zip of them all",
            content(
                (String = "text/csv", example = json!(crate::api::examples::OPEN_DATA_CSV)),
                (Object = "application/json", example = json!(crate::api::examples::data_package())),
                (String = "text/plain", example = json!(crate::api::examples::SHA256SUMS)),
                (String = "application/zip"),
            )),
        (status = 304, description = "Not modified (If-None-Match)")))]
pub async fn release_file(
    pool: web::Data<Pool>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (version, name) = path.into_inner();
    let attachment = name.ends_with(".zip");
    let file = with_db(&pool, move |conn| Ok(release::file(conn, &version, &name)?))
        .await?
        .ok_or_else(|| ApiError::NotFound("no such file in this release".into()))?;
    let (media_type, sha256, content) = file;
    let etag = format!("\"{sha256}\"");
    let matches = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        // Weak comparison, as RFC 9110 asks of If-None-Match: `W/"…"` matches too.
        .is_some_and(|v| {
            v.split(',')
                .map(|tag| tag.trim().trim_start_matches("W/"))
                .any(|tag| tag == etag || tag == "*")
        });
    let mut response = if matches {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, IMMUTABLE));
    if matches {
        return Ok(response.finish());
    }
    if attachment {
        response.insert_header((header::CONTENT_DISPOSITION, "attachment"));
    }
    Ok(response.content_type(media_type).body(content))
}

/// Cuts a release: rebuilds the published tables from the ledger and stores an immutable
/// snapshot of them (CSV files, datapackage.json, SHA256SUMS and a zip).
#[utoipa::path(post, path = "/v1/open-data/releases", tag = "open data", operation_id = "cutRelease",
    description = "Admin only. Rebuilds the published tables, then stores them as a new release that never changes; the answer's `Location` is the release's URL. Every call cuts another release (numbered `.2`, `.3`… the same day): there is no idempotency key.",
    responses((status = 201, description = "The new release's manifest", content_type = "application/json", body = release::Manifest, example = json!(crate::api::examples::release_manifest()))),
    security(("bearer" = [])))]
pub async fn cut_release(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Admin])?;
    let settings = config.open_data.clone();
    let now = config.clock.now();
    let manifest = with_db(&pool, move |conn| {
        Ok(release::cut(conn, &settings, now, principal.subject())?)
    })
    .await?;
    let body = manifest_json(&manifest);
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("{PREFIX}/releases/{}", manifest.version),
        ))
        .json(body))
}

/// Rebuilds the published tables from the ledger now (they are also rebuilt on a timer).
#[utoipa::path(post, path = "/v1/open-data/rebuild", tag = "open data", operation_id = "rebuildOpenData",
    description = "Admin only. Replaces every published table with rows rebuilt from the registry and the ledger, as the timer does; releases are not touched. Closed quarters are published (and frozen as they are) the first time a rebuild can publish them safely; every later rebuild publishes them unchanged. Safe to repeat.",
    responses((status = 200, description = "What the rebuild wrote", content_type = "application/json", body = Object, example = json!(crate::api::examples::rebuild_report()))),
    security(("bearer" = [])))]
pub async fn rebuild(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Admin])?;
    let rules = config.open_data.rules();
    let now = config.clock.now();
    let report = with_db(&pool, move |conn| Ok(build::rebuild(conn, rules, now)?)).await?;
    Ok(HttpResponse::Ok().json(report))
}
