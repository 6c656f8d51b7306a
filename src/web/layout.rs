//! The frame every page shares, and the stylesheet (the GOV.UK Design System's patterns,
//! written for cofund without the GOV.UK brand).

use actix_web::HttpResponse;
use maud::{html, Markup, DOCTYPE};

/// A page: its title, who is signed in (if anyone), and its content.
pub fn page(title: &str, signed_in_as: Option<&str>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en-GB" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – cofund" }
                link rel="stylesheet" href="/assets/cofund.css";
            }
            body {
                a class="skip-link" href="#main" { "Skip to main content" }
                header class="header" {
                    div class="width-container" {
                        span class="header-name" { "cofund" }
                        @if let Some(name) = signed_in_as {
                            span class="header-account" {
                                a href="/account" { (name) }
                            }
                        }
                    }
                }
                div class="width-container" {
                    main id="main" class="main" {
                        h1 class="heading-l" { (title) }
                        (content)
                    }
                }
                footer class="footer" {
                    div class="width-container" {
                        p { "API documentation: " a href="/docs" { "/docs" } ". Open data: " a href="/open-data/v1/" { "/open-data/v1/" } "." }
                    }
                }
            }
        }
    }
}

/// A page's HTML response: never cached, since it may show what only its reader may see.
pub fn respond(status: actix_web::http::StatusCode, markup: Markup) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    response
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"));
    // Here as well as in the pages' middleware: a page answered from outside a page's route
    // (the 404 of an unknown path) carries them too.
    for header in super::SECURITY_HEADERS {
        response.insert_header(*header);
    }
    response.body(markup.into_string())
}

const STYLESHEET: &str = r#"
*,*::before,*::after{box-sizing:border-box}
body{margin:0;font-family:Arial,Helvetica,sans-serif;font-size:1.1875rem;line-height:1.3;color:#0b0c0c;background:#fff}
a{color:#1d70b8}a:visited{color:#4c2c92}a:hover{color:#003078}
a:focus,button:focus,input:focus{outline:3px solid transparent;background-color:#ffdd00;box-shadow:0 -2px #ffdd00,0 4px #0b0c0c;color:#0b0c0c}
.skip-link{position:absolute;left:-9999px}.skip-link:focus{position:static;display:block;padding:10px}
.visually-hidden{position:absolute!important;width:1px!important;height:1px!important;margin:0!important;padding:0!important;overflow:hidden!important;clip:rect(0 0 0 0)!important;clip-path:inset(50%)!important;border:0!important;white-space:nowrap!important}
.width-container{max-width:960px;margin:0 15px}
@media (min-width:40.0625em){.width-container{margin:0 30px}}
@media (min-width:1020px){.width-container{margin:0 auto}}
.header{background:#0b0c0c;color:#fff;padding:10px 0;border-bottom:10px solid #1d70b8}
.header a{color:#fff;text-decoration:none}.header a:focus{color:#0b0c0c}
.header-name{font-weight:700;font-size:1.5rem}.header-account{float:right}
.main{padding:30px 0 45px}
.heading-l{font-size:2.25rem;margin:0 0 30px}
.body{margin:0 0 20px}
.inset{border-left:10px solid #b1b4b6;padding:15px;margin:20px 0}
.table{width:100%;border-collapse:collapse;margin-bottom:30px}
.table th,.table td{text-align:left;padding:10px 20px 10px 0;border-bottom:1px solid #b1b4b6;vertical-align:top}
.button{white-space:nowrap;font:inherit;font-size:1.1875rem;line-height:1.2;padding:8px 10px 7px;border:2px solid transparent;border-radius:0;color:#fff;background:#00703c;box-shadow:0 2px 0 #002d18;cursor:pointer;margin:0 0 10px}
.button:hover{background:#005a30}
.button--secondary{background:#f3f2f1;color:#0b0c0c;box-shadow:0 2px 0 #929191}
.button--warning{background:#d4351c;box-shadow:0 2px 0 #55150b}
.error-summary{border:5px solid #d4351c;padding:20px;margin-bottom:30px}
.summary-list{margin:0 0 30px}.summary-list dt{font-weight:700}.summary-list dd{margin:0 0 15px}
.footer{border-top:1px solid #b1b4b6;background:#f3f2f1;padding:25px 0;font-size:1rem}
@media (max-width:40em){.table thead{display:none}.table tr{display:block;border-bottom:1px solid #b1b4b6;padding:10px 0}.table td{display:block;border:0;padding:2px 0}}
@media print{.header,.footer,.button{display:none}}
"#;

/// `/assets/cofund.css`: the one stylesheet, served by cofund itself (nothing from a CDN: the
/// server runs offline).
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(STYLESHEET)
}

/// A path cofund does not serve, as a page.
pub fn not_found() -> HttpResponse {
    let content = html! {
        p class="body" { "There is no page at this address. The API is described at " a href="/docs" { "/docs" } "." }
    };
    respond(
        actix_web::http::StatusCode::NOT_FOUND,
        page("Page not found", None, content),
    )
}

/// A method a page does not take (a `GET` of a form's address, say), as a page.
pub async fn method_not_allowed() -> HttpResponse {
    let content = html! {
        p class="body" { "This address takes a form sent from one of cofund's pages." }
    };
    respond(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        page("Not available this way", None, content),
    )
}
