//! The web pages: HTML rendered on the server (maud: written as Rust, checked when compiled,
//! every value escaped), working without JavaScript, calling the same use cases and access
//! rules as the API. For now: signing in and out. Every page carries the security headers of
//! [`security_headers`] and the one stylesheet cofund serves itself.

mod layout;
pub mod sign_in;

use actix_web::middleware::DefaultHeaders;
use actix_web::web;

/// A strict policy: nothing but this site's own stylesheet and images, no script at all, no
/// framing, forms only to this site.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers of every page, its redirects and its stylesheet.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
];

/// [`SECURITY_HEADERS`] on every response of a page's route.
pub fn security_headers() -> DefaultHeaders {
    SECURITY_HEADERS
        .iter()
        .fold(DefaultHeaders::new(), |headers, header| {
            headers.add(*header)
        })
}

/// The pages' routes, each with its security headers.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(page(
        "/assets/cofund.css",
        web::get().to(layout::stylesheet),
    ))
    .service(page("/sign-in", web::get().to(sign_in::sign_in_page)))
    .service(page(
        "/sign-in/development",
        web::post().to(sign_in::as_member),
    ))
    .service(page("/account", web::get().to(sign_in::account)))
    .service(page("/sign-out", web::post().to(sign_in::sign_out)));
}

/// A page's resource: its one route, under the security headers, reading at most
/// [`PAGE_BODY_BYTES`] of a form, and a page saying so for any other method.
fn page(path: &str, route: actix_web::Route) -> impl actix_web::dev::HttpServiceFactory {
    web::resource(path)
        .wrap(security_headers())
        .app_data(web::PayloadConfig::new(PAGE_BODY_BYTES))
        .route(route)
        .default_service(web::to(layout::method_not_allowed))
}

/// The largest form a page takes: its forms carry a few short fields.
const PAGE_BODY_BYTES: usize = 16 * 1024;

/// A page saying that nothing is here, for a browser (one that asks for HTML) at a path
/// cofund does not serve.
pub use layout::not_found;
