//! Builds and runs the actix application from a [`Config`].

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
use crate::db::Pool;

/// Binds `listener` and returns the running server (not yet awaited).
pub fn run(listener: TcpListener, pool: Pool, config: &Config) -> std::io::Result<Server> {
    let pool = web::Data::new(pool);
    let authenticator = web::Data::new(Authenticator::new(config.jwt.clone()));
    let shared_config = web::Data::new(config.clone());
    let max_body = config.max_body_bytes;
    let openapi = std::sync::Arc::new(crate::api::openapi::document_value());
    let mut server = HttpServer::new(move || {
        App::new()
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
            .wrap_fn(|req, srv| {
                use actix_web::dev::Service;
                use futures_util::future::{ready, Either};
                match refuse_control_characters(req.uri()) {
                    Some(problem) => Either::Left(ready(Err(problem.into()))),
                    None => Either::Right(srv.call(req)),
                }
            })
            .wrap(TracingLogger::default())
            .app_data(pool.clone())
            .app_data(authenticator.clone())
            .app_data(shared_config.clone())
            .app_data(web::PayloadConfig::new(max_body))
            .app_data(
                web::JsonConfig::default()
                    .limit(max_body)
                    .error_handler(|e, _| {
                        let e: actix_web::Error = e.into();
                        from_actix(&e).into()
                    }),
            )
            .app_data(
                web::PathConfig::default()
                    .error_handler(|e, _| ApiError::BadRequest(format!("bad path: {e}")).into()),
            )
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                ApiError::BadRequest(format!("bad query string: {e}")).into()
            }))
            .configure(routes)
            .service(
                SwaggerUi::new("/docs/{_:.*}")
                    .config(utoipa_swagger_ui::Config::from("/openapi.json")),
            )
            .route(
                "/openapi.json",
                web::get().to({
                    let openapi = openapi.clone();
                    move || {
                        let openapi = openapi.clone();
                        async move { web::Json(openapi) }
                    }
                }),
            )
            .service(web::redirect("/docs", "/docs/"))
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(ApiError::NotFound(
                    "no such route; see /docs for the API".into(),
                ))
            }))
    })
    .shutdown_timeout(30);
    if let Some(workers) = config.workers {
        server = server.workers(workers);
    }
    Ok(server.listen(listener)?.run())
}

/// A path or query that decodes to a control character (NUL among them, which PostgreSQL
/// cannot compare or store) is refused before it reaches a handler or a query, the same way
/// on every database.
fn refuse_control_characters(uri: &actix_web::http::Uri) -> Option<ApiError> {
    let decoded_has_control =
        |part: &str| percent_encoding::percent_decode_str(part).any(|b| b < 0x20 || b == 0x7f);
    let path = decoded_has_control(uri.path());
    let query = uri.query().is_some_and(decoded_has_control);
    (path || query).then(|| {
        ApiError::BadRequest(
            "the URL holds a control character; ids and query values never do".into(),
        )
    })
}
