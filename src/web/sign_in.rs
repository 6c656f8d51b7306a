//! Signing in and out in a browser. In development, `/sign-in` offers every member to sign in
//! as, without an identity provider (the demo's people among them); in production that page
//! is a 404 and sign-in goes through the organisation's identity provider (OpenID Connect,
//! to come). A session lives in a `__Host-` cookie; `/account` shows who is signed in, with
//! the forms to sign out here or everywhere.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::layout::{page, respond};
use crate::api::auth::SESSION_COOKIE;
use crate::api::error::ApiError;
use crate::api::with_db;
use crate::config::{Config, Environment};
use crate::db::Pool;
use crate::domain::ids::MemberId;
use crate::domain::sessions::{
    development_sign_in_allowed, origin_is_ours, same_secret, same_site_path,
};
use crate::services::audit::Actor;
use crate::services::members::Refused;
use crate::services::{members, sessions};

/// The fields of a posted form, by name (the last value of a repeated name wins).
fn form_fields(body: &[u8]) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// A page that says what went wrong, in HTML (a browser is reading).
fn problem_page(status: StatusCode, title: &str, detail: &str) -> HttpResponse {
    respond(
        status,
        page(title, None, html! { p class="body" { (detail) } }),
    )
}

/// Whether this server offers the development sign-in (see
/// [`development_sign_in_allowed`]).
fn development_sign_in(config: &Config) -> bool {
    development_sign_in_allowed(
        config.environment == Environment::Development,
        &config.bind,
        &config.mail.public_url,
    )
}

/// Whether a form post came from a page of this site.
fn from_this_site(req: &HttpRequest, config: &Config) -> bool {
    let header_text = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    origin_is_ours(
        header_text("origin"),
        header_text("host"),
        &config.mail.public_url,
    )
}

/// `GET /sign-in`: in development, every member who may sign in, each with a button.
pub async fn sign_in_page(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let return_to = query
        .get("return_to")
        .and_then(|p| same_site_path(p))
        .unwrap_or("/account")
        .to_owned();
    if !development_sign_in(&config) {
        let content = html! {
            p class="body" { "Sign-in through your organisation's identity provider (OpenID Connect) is not yet offered on this server." }
            p class="body" { "Programs use API keys: ask an administrator of your organisation." }
        };
        return Ok(respond(StatusCode::OK, page("Sign in", None, content)));
    }
    let choices = with_db(&pool, |conn| Ok(sessions::sign_in_choices(conn)?)).await?;
    let content = html! {
        div class="inset" {
            "This server runs in development on this machine: sign in as any member, without an identity provider. In production people sign in through their organisation's identity provider instead."
        }
        @if choices.is_empty() {
            p class="body" { "No members yet: add one with " code { "cofund member add" } "." }
        } @else {
            table class="table" {
                caption class="body" { "Members who may sign in" }
                thead { tr { th scope="col" { "Member" } th scope="col" { "Organisation" } th scope="col" { "Role" } th scope="col" { span class="visually-hidden" { "Action" } } } }
                tbody {
                    @for (member, organisation) in &choices {
                        tr {
                            td { (member.display_name) }
                            td { (organisation.as_deref().unwrap_or("— (admin)")) }
                            td { (role_words(member.role)) @if member.administers { ", administers" } }
                            td {
                                form method="post" action="/sign-in/development" {
                                    input type="hidden" name="member_id" value=(member.id);
                                    input type="hidden" name="return_to" value=(return_to);
                                    button class="button" type="submit" { "Sign in" span class="visually-hidden" { " as " (member.display_name) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(respond(StatusCode::OK, page("Sign in", None, content)))
}

/// The session cookie: sent only to this host, over HTTPS (browsers treat `http://127.0.0.1`
/// and `localhost` as secure too), never to scripts, and not with cross-site posts.
fn session_cookie(value: String) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish()
}

fn cleared_cookie() -> Cookie<'static> {
    let mut cookie = session_cookie(String::new());
    cookie.make_removal();
    cookie
}

fn see_other(location: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::SeeOther();
    response.insert_header((header::LOCATION, location.to_owned()));
    response
}

/// `POST /sign-in/development`: signs in as the member chosen (development only; a 404 in
/// production). A new session every time: whatever cookie the browser sent is replaced.
pub async fn as_member(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if !development_sign_in(&config) {
        return Err(ApiError::NotFound(
            "no such route; see /docs for the API".into(),
        ));
    }
    if !from_this_site(&req, &config) {
        return Ok(problem_page(
            StatusCode::FORBIDDEN,
            "Sign-in refused",
            "The sign-in form was not sent from this site.",
        ));
    }
    let fields = form_fields(&body);
    let Some(member) = fields.get("member_id").cloned() else {
        return Ok(problem_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose a member",
            "Choose the member to sign in as.",
        ));
    };
    let return_to = fields
        .get("return_to")
        .and_then(|p| same_site_path(p))
        .unwrap_or("/account")
        .to_owned();
    let at = config.clock.now();
    let address = req.peer_addr().map(|a| a.ip().to_string());
    let held = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    let started = with_db(&pool, move |conn| {
        let how = "on the development sign-in page";
        let started = sessions::start(conn, &MemberId::from(member), at, address, how)?;
        // The session this browser held before, if any, ends: one browser, one session.
        if let Some(held) = held {
            sessions::forget(conn, &held)?;
        }
        Ok(started)
    })
    .await;
    match started {
        Ok(started) => Ok(see_other(&return_to)
            .cookie(session_cookie(started.cookie))
            .finish()),
        Err(ApiError::Forbidden(why)) => {
            Ok(problem_page(StatusCode::FORBIDDEN, "Sign-in refused", &why))
        }
        Err(e) => Err(e),
    }
}

/// The live session of a request's cookie, if it has one.
async fn live_session(
    pool: &web::Data<Pool>,
    config: &Config,
    req: &HttpRequest,
) -> Result<Option<(String, sessions::Live)>, ApiError> {
    let Some(cookie) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return Ok(None);
    };
    let now = config.clock.now();
    let presented = cookie.clone();
    let live = with_db(pool, move |conn| {
        match sessions::authenticate(conn, &presented, now) {
            Ok(live) => Ok(Some(live)),
            Err(Refused::Credential(_)) => Ok(None),
            Err(Refused::Service(e)) => Err(e.into()),
        }
    })
    .await?;
    Ok(live.map(|live| (cookie, live)))
}

/// `GET /account`: who is signed in, with the forms to sign out. Without a live session, the
/// sign-in page.
pub async fn account(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let Some((_, live)) = live_session(&pool, &config, &req).await? else {
        return Ok(see_other("/sign-in?return_to=/account")
            .cookie(cleared_cookie())
            .finish());
    };
    let principal = live.principal.clone();
    let member = with_db(&pool, move |conn| {
        let id = MemberId::from(principal.subject());
        Ok(members::get_member(conn, &principal, &id)?)
    })
    .await?;
    let content = html! {
        dl class="summary-list" {
            dt { "Name" } dd { (member.display_name) }
            dt { "Role" } dd { (role_words(member.role)) @if member.administers { ", administers its organisation's members" } }
            dt { "Organisation" } dd { (member.organisation_id.as_deref().unwrap_or("none: an admin acts for every organisation")) }
            dt { "Email" } dd { (member.email) }
        }
        (sign_out_form(&live.csrf_token, false))
        (sign_out_form(&live.csrf_token, true))
    };
    Ok(respond(
        StatusCode::OK,
        page("Your account", Some(&member.display_name), content),
    ))
}

/// A role as people say it: "fund manager", not `fund_manager`.
fn role_words(role: crate::domain::access::Role) -> String {
    role.as_str().replace('_', " ")
}

fn sign_out_form(csrf_token: &str, everywhere: bool) -> Markup {
    html! {
        form method="post" action="/sign-out" {
            input type="hidden" name="csrf_token" value=(csrf_token);
            @if everywhere {
                input type="hidden" name="everywhere" value="yes";
                button class="button button--warning" type="submit" { "Sign out everywhere" }
            } @else {
                button class="button button--secondary" type="submit" { "Sign out" }
            }
        }
    }
}

/// `POST /sign-out`: ends this session (or, with `everywhere`, every session of the member),
/// if the form carries the session's CSRF token and came from this site.
pub async fn sign_out(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // First, before the cookie is looked at or cleared: a page of another site cannot sign a
    // browser out (nor clear its cookie while the session lives on).
    if !from_this_site(&req, &config) {
        return Ok(problem_page(
            StatusCode::FORBIDDEN,
            "Sign-out refused",
            "The form was not sent from this site. Go to your account page and sign out there.",
        ));
    }
    let Some((cookie, live)) = live_session(&pool, &config, &req).await? else {
        return Ok(see_other("/sign-in").cookie(cleared_cookie()).finish());
    };
    let fields = form_fields(&body);
    let token_matches = same_secret(
        fields.get("csrf_token").map(String::as_str),
        &live.csrf_token,
    );
    if !token_matches {
        return Ok(problem_page(
            StatusCode::FORBIDDEN,
            "This page is out of date",
            "You have signed in again since this page was shown. Go to your account page and sign out there.",
        ));
    }
    let everywhere = fields.get("everywhere").is_some_and(|v| v == "yes");
    let at = config.clock.now();
    let address = req.peer_addr().map(|a| a.ip().to_string());
    with_db(&pool, move |conn| {
        let by = Actor {
            principal: &live.principal,
            at,
            address,
        };
        Ok(sessions::end(conn, &by, &cookie, everywhere)?)
    })
    .await?;
    Ok(see_other("/sign-in").cookie(cleared_cookie()).finish())
}
