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

/// The headers of every page.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("X-Frame-Options", "DENY"))
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

/// A page's resource: its one route, under the security headers.
fn page(path: &str, route: actix_web::Route) -> impl actix_web::dev::HttpServiceFactory {
    web::resource(path).wrap(security_headers()).route(route)
}
