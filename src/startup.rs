//! The application: the HTTP server and its background workers (the SQLite checkpointer,
//! planner statistics, email delivery, open-data rebuilds), built from a [`Config`] the same way by `cofund
//! serve` and by the tests, so that the tests run what production runs.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{web, App, HttpMessage, HttpServer};
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa_swagger_ui::SwaggerUi;

use crate::api::auth::Authenticator;
use crate::api::error::{from_actix, ApiError};
use crate::api::routes;
use crate::config::Config;
use crate::db::{self, Pool};
use crate::domain::limits::without_values;
use crate::metrics::{Metrics, RequestLabels};
use crate::notify::worker::MailWorker;
use crate::workers::{OpenDataRefresher, StatisticsRefresher};

/// A built application: bound to its port, not yet serving until
/// [`Application::run_until_stopped`] is awaited.
pub struct Application {
    port: u16,
    pool: Pool,
    server: Server,
    /// `/metrics` alone on `COFUND_METRICS_BIND`, when that is set, and its port.
    metrics_server: Option<(Server, u16)>,
}

impl Application {
    /// Opens the database (running pending migrations) and binds `config.bind` (port 0 picks a
    /// free port, as the tests do).
    pub fn build(config: &Config) -> Result<Application, String> {
        let pool = db::connect_server(&config.database, config.db_pool_size)?;
        Application::with_pool(config, pool)
    }

    fn with_pool(config: &Config, pool: Pool) -> Result<Application, String> {
        let listener = TcpListener::bind(&config.bind)
            .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?
            .port();
        let metrics = web::Data::new(Metrics::new());
        let metrics_server = match &config.metrics_bind {
            Some(address) => Some(serve_metrics(address, pool.clone(), metrics.clone())?),
            None => None,
        };
        let server = run(listener, pool.clone(), metrics, config)?;
        Ok(Application {
            port,
            pool,
            server,
            metrics_server,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on alone, when `COFUND_METRICS_BIND` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(_, port)| *port)
    }

    /// The application's database pool (for loading demo data, or a test's own queries).
    pub fn pool(&self) -> Pool {
        self.pool.clone()
    }

    /// A handle that stops the server (and with it its workers) from elsewhere.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the API's server stops; the metrics server, if any, stops with it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Some((metrics_server, _)) = self.metrics_server else {
            return self.server.await;
        };
        let metrics_handle = metrics_server.handle();
        let api = async {
            let served = self.server.await;
            metrics_handle.stop(true).await;
            served
        };
        let (served, _) = futures_util::future::join(api, metrics_server).await;
        served
    }
}

/// `/metrics` on an address of its own (one worker: a scrape is small and rare).
fn serve_metrics(
    address: &str,
    pool: Pool,
    metrics: web::Data<Metrics>,
) -> Result<(Server, u16), String> {
    let pool = web::Data::new(pool);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(pool.clone())
            .app_data(metrics.clone())
            .configure(crate::api::metrics_routes)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(ApiError::NotFound(
                    "this address serves /metrics only".into(),
                ))
            }))
    })
    .workers(1)
    .disable_signals()
    .bind(address)
    .map_err(|e| format!("cannot serve metrics on {address}: {e}"))?;
    let port = server.addrs().first().map(|a| a.port()).unwrap_or_default();
    Ok((server.run(), port))
}

/// Records every answered request in `metrics`: count, latency and database statements, by
/// method and route template. Methods outside HTTP's own are labelled `other`, so that no
/// client can grow the label set.
fn record_request<S, B>(
    metrics: &web::Data<Metrics>,
    req: actix_web::dev::ServiceRequest,
    service: &S,
) -> impl std::future::Future<Output = Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>>
where
    S: actix_web::dev::Service<
        actix_web::dev::ServiceRequest,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
{
    use actix_web::http::Method;
    let method = match *req.method() {
        Method::GET
        | Method::HEAD
        | Method::POST
        | Method::PUT
        | Method::DELETE
        | Method::PATCH
        | Method::OPTIONS => req.method().as_str().to_owned(),
        _ => "other".to_owned(),
    };
    let metrics = metrics.clone();
    let started = std::time::Instant::now();
    let response = service.call(req);
    async move {
        let (response, queries) = crate::metrics::counting_queries(response).await;
        if let Ok(response) = &response {
            let labels = RequestLabels {
                method,
                route: response
                    .request()
                    .match_pattern()
                    .unwrap_or_else(|| "unmatched".to_owned()),
                status: response.status().as_u16(),
            };
            metrics.record_request(labels, started.elapsed().as_secs_f64(), queries);
        }
        response
    }
}

/// What every request may reach: the pool, the workers' handles, the settings. The workers
/// stop when the server (which holds these) is dropped.
#[derive(Clone)]
struct Shared {
    pool: web::Data<Pool>,
    metrics: web::Data<Metrics>,
    statistics: web::Data<StatisticsRefresher>,
    mail: web::Data<Option<MailWorker>>,
    open_data: web::Data<Option<OpenDataRefresher>>,
    jobs: web::Data<Option<crate::workers::JobWorker>>,
    running_jobs: web::Data<crate::services::jobs::RunningJobs>,
    authenticator: web::Data<Authenticator>,
    config: web::Data<Config>,
}

impl Shared {
    /// Starts the workers.
    fn start(pool: Pool, metrics: web::Data<Metrics>, config: &Config) -> Result<Shared, String> {
        let statistics = web::Data::new(StatisticsRefresher::start(pool.clone())?);
        let mail = web::Data::new(MailWorker::start(
            pool.clone(),
            config.mail.clone(),
            config.clock.clone(),
        )?);
        let open_data = web::Data::new(OpenDataRefresher::start(
            pool.clone(),
            config.open_data.clone(),
            config.clock.clone(),
        )?);
        let running_jobs = crate::services::jobs::RunningJobs::default();
        let jobs = web::Data::new(crate::workers::JobWorker::start(
            pool.clone(),
            config.jobs.clone(),
            config.clock.clone(),
            running_jobs.clone(),
            crate::api::jobs::problem_json,
        )?);
        Ok(Shared {
            pool: web::Data::new(pool),
            metrics,
            statistics,
            mail,
            open_data,
            jobs,
            running_jobs: web::Data::new(running_jobs),
            authenticator: web::Data::new(Authenticator::new(config.jwt.clone())),
            config: web::Data::new(config.clone()),
        })
    }

    fn register(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(self.pool.clone())
            .app_data(self.metrics.clone())
            .app_data(self.statistics.clone())
            .app_data(self.mail.clone())
            .app_data(self.open_data.clone())
            .app_data(self.jobs.clone())
            .app_data(self.running_jobs.clone())
            .app_data(self.authenticator.clone())
            .app_data(self.config.clone());
    }
}

/// How bodies, paths and queries are read: bodies up to `max_body` bytes, and every failure
/// to read one a problem.
fn extractors(cfg: &mut web::ServiceConfig, max_body: usize) {
    cfg.app_data(web::PayloadConfig::new(max_body))
        .app_data(
            web::JsonConfig::default()
                .limit(max_body)
                .error_handler(|e, _| {
                    let e: actix_web::Error = e.into();
                    from_actix(&e).into()
                }),
        )
        .app_data(web::PathConfig::default().error_handler(|e, _| {
            let message = without_values(&e.to_string());
            ApiError::BadRequest(format!("bad path: {message}")).into()
        }))
        // The parser's message quotes the value it could not read: it is not repeated.
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            let message = without_values(&e.to_string());
            ApiError::BadRequest(format!("bad query string: {message}")).into()
        }));
}

/// The API's documentation: `/docs` (Swagger UI, served by cofund itself) and `/openapi.json`.
fn docs(cfg: &mut web::ServiceConfig, openapi: std::sync::Arc<serde_json::Value>) {
    cfg.service(
        SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::from("/openapi.json")),
    )
    .route(
        "/openapi.json",
        web::get().to(move || {
            let openapi = openapi.clone();
            async move { web::Json(openapi) }
        }),
    )
    .service(web::redirect("/docs", "/docs/"));
}

/// Streamed and compressed bodies go out in several writes after the headers: without
/// TCP_NODELAY each one after the first waits for the client's delayed ACK (40 ms).
fn no_delay(connection: &dyn std::any::Any, _: &mut actix_web::dev::Extensions) {
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    }
}

/// Starts the workers and binds the server to `listener` (not yet awaited).
fn run(
    listener: TcpListener,
    pool: Pool,
    metrics: web::Data<Metrics>,
    config: &Config,
) -> Result<Server, String> {
    let shared = Shared::start(pool, metrics.clone(), config)?;
    let max_body = config.max_body_bytes;
    let openapi = std::sync::Arc::new(crate::api::openapi::document_value());
    let metrics_here = config.metrics_bind.is_none();
    let mut server = HttpServer::new(move || {
        let recorded = metrics.clone();
        App::new()
            .wrap_fn(move |req, srv| record_request(&recorded, req, srv))
            .wrap_fn(|req, srv| {
                use actix_web::dev::Service;
                let request_id = req.extensions().get::<RequestId>().copied();
                let fut = srv.call(req);
                async move {
                    let mut res = fut.await?;
                    if let Some(id) = request_id {
                        if let Ok(value) = HeaderValue::from_str(&id.to_string()) {
                            res.headers_mut()
                                .insert(HeaderName::from_static("x-request-id"), value);
                        }
                    }
                    Ok(res)
                }
            })
            .wrap(TracingLogger::default())
            // Outermost: a URL that is too long or holds a control character is refused
            // before it is logged, so that no log line carries it.
            .wrap_fn(|req, srv| {
                use actix_web::dev::Service;
                use futures_util::future::{ready, Either, FutureExt};
                match refuse_url(req.uri()).or_else(|| refuse_logged_headers(req.headers())) {
                    Some(problem) => {
                        tracing::warn!(
                            method = %req.method(),
                            url_bytes = req.uri().to_string().len(),
                            "request refused: {}",
                            problem
                        );
                        Either::Left(ready(Ok(req.error_response(problem))))
                    }
                    None => Either::Right(
                        srv.call(req)
                            .map(|res| res.map(|res| res.map_into_boxed_body())),
                    ),
                }
            })
            .configure(|cfg| shared.register(cfg))
            .configure(|cfg| extractors(cfg, max_body))
            .configure(routes)
            .configure(crate::web::routes)
            .configure(|cfg| {
                if metrics_here {
                    crate::api::metrics_routes(cfg);
                }
            })
            .configure(|cfg| docs(cfg, openapi.clone()))
            .default_service(web::to(not_found))
    })
    .on_connect(no_delay)
    .shutdown_timeout(30);
    if let Some(workers) = config.workers {
        server = server.workers(workers);
    }
    let server = server
        .listen(listener)
        .map_err(|e| format!("cannot serve: {e}"))?;
    Ok(server.run())
}

/// A path cofund does not serve: a browser asking for a page gets a page, a program a problem.
async fn not_found(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    let wants_html = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        return Ok(crate::web::not_found());
    }
    Err(ApiError::NotFound(
        "no such route; see /docs for the API".into(),
    ))
}

/// Longest value of a header the request log records (user agent, host, forwarding).
const MAX_LOGGED_HEADER_BYTES: usize = 512;

/// The headers the request log records are held to a length, so that no log line grows with
/// what a client sends.
fn refuse_logged_headers(headers: &actix_web::http::header::HeaderMap) -> Option<ApiError> {
    const LOGGED: [&str; 5] = [
        "user-agent",
        "host",
        "x-forwarded-for",
        "forwarded",
        "x-real-ip",
    ];
    let too_long = LOGGED.iter().find(|name| {
        headers.get_all(**name).map(|v| v.len()).sum::<usize>() > MAX_LOGGED_HEADER_BYTES
    })?;
    Some(ApiError::BadRequest(format!(
        "the {too_long} header is longer than {MAX_LOGGED_HEADER_BYTES} bytes"
    )))
}

/// Longest URL (path and query) cofund answers; ids and query values are far shorter.
const MAX_URL_BYTES: usize = 2048;

/// A URL too long to be one of cofund's, or one whose path or query decodes to a control
/// character (NUL among them, which PostgreSQL cannot compare or store; line breaks, which
/// would forge log lines), is refused before it reaches a handler, a query or the log, the
/// same way on every database.
fn refuse_url(uri: &actix_web::http::Uri) -> Option<ApiError> {
    let target = uri.path_and_query().map_or("", |p| p.as_str());
    if target.len() > MAX_URL_BYTES {
        return Some(ApiError::UriTooLong(format!(
            "URLs are at most {MAX_URL_BYTES} bytes"
        )));
    }
    let decoded_has_control = |part: &str| {
        percent_encoding::percent_decode_str(part)
            .decode_utf8_lossy()
            .chars()
            .any(char::is_control)
    };
    let control = decoded_has_control(uri.path()) || uri.query().is_some_and(decoded_has_control);
    control.then(|| {
        ApiError::BadRequest(
            "the URL holds a control character; ids and query values never do".into(),
        )
    })
}
