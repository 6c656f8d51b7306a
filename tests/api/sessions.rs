//! Signing in through a browser: the development sign-in page, the session cookie, CSRF and
//! `Origin` on every state-changing request, sign-out here and everywhere, time-outs, and
//! the attacks a session invites (fixation, open redirects, cross-site posts).

use serde_json::json;

use crate::helpers::*;
use cofund::config::Environment;

const COOKIE: &str = "__Host-cofund-session";

/// A browser that does not follow redirects, so that each answer can be looked at.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// The session cookie a response sets (its value, and the whole `Set-Cookie` line).
fn set_cookie(response: &reqwest::Response) -> Option<(String, String)> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|line| line.starts_with(&format!("{COOKIE}=")))
        .map(|line| {
            let value = line[COOKIE.len() + 1..]
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            (value, line)
        })
}

struct Signed {
    cookie: String,
    csrf: String,
}

/// Signs in as `member` from this site, as the sign-in page's form does.
async fn sign_in(app: &TestApp, member: &str) -> Signed {
    let response = browser()
        .post(app.url("/sign-in/development"))
        .header("origin", &app.address)
        .form(&[("member_id", member), ("return_to", "/account")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let (cookie, _) = set_cookie(&response).expect("a session cookie");
    let csrf = csrf_of(app, &cookie).await;
    Signed { cookie, csrf }
}

/// The CSRF token the account page's forms carry.
async fn csrf_of(app: &TestApp, cookie: &str) -> String {
    let page = browser()
        .get(app.url("/account"))
        .header("cookie", format!("{COOKIE}={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let at = html
        .find("name=\"csrf_token\" value=\"")
        .expect("a CSRF token")
        + 25;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

/// A member of a new council, added on the command line.
fn member(app: &TestApp, council: &str, name: &str) -> String {
    let out = app.cofund(&[
        "member",
        "add",
        "--role",
        "commissioner",
        "--org",
        council,
        "--email",
        &format!("{}@council.example", name.len()),
        "--name",
        name,
        "--administers",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
    headers: &[(&str, &str)],
) -> u16 {
    let mut request = browser()
        .request(method, app.url(path))
        .header("cookie", format!("{COOKIE}={cookie}"))
        .json(&json!({"name": "From the browser"}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_member_signs_in_and_its_session_acts_for_it_with_csrf_and_origin() {
    let app = spawn_app().await;
    let council = app.org("Herefordshire", "local_authority", &[]).await;
    let name = "Asha <script>alert(1)</script>";
    let id = member(&app, &council, name);
    // The sign-in page lists the member, its name escaped, under a strict policy.
    let page = browser().get(app.url("/sign-in")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    assert!(html.contains("Asha &lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>"));

    let response = browser()
        .post(app.url("/sign-in/development"))
        .header("origin", &app.address)
        .form(&[("member_id", id.as_str()), ("return_to", "/account")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/account");
    let (cookie, line) = set_cookie(&response).unwrap();
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(line.contains(attribute), "{line}");
    }
    assert!(!line.contains("Domain"), "{line}");
    assert!(cookie.len() >= 50, "an opaque random id");
    let csrf = csrf_of(&app, &cookie).await;

    // Reading needs only the cookie; writing needs the CSRF token and this site's Origin.
    let me = format!("/v1/members/{id}");
    assert_eq!(
        api(&app, reqwest::Method::GET, &me, &cookie, &[]).await,
        200
    );
    let keys = format!("/v1/organisations/{council}/api-keys");
    let post = reqwest::Method::POST;
    let origin = app.address.as_str();
    assert_eq!(api(&app, post.clone(), &keys, &cookie, &[]).await, 403);
    let token_only = [("x-csrf-token", csrf.as_str())];
    assert_eq!(
        api(&app, post.clone(), &keys, &cookie, &token_only).await,
        403
    );
    let cross_site = [
        ("x-csrf-token", csrf.as_str()),
        ("origin", "https://evil.example"),
    ];
    assert_eq!(
        api(&app, post.clone(), &keys, &cookie, &cross_site).await,
        403
    );
    let wrong_token = [("x-csrf-token", "guess"), ("origin", origin)];
    assert_eq!(
        api(&app, post.clone(), &keys, &cookie, &wrong_token).await,
        403
    );
    let both = [("x-csrf-token", csrf.as_str()), ("origin", origin)];
    assert_eq!(api(&app, post, &keys, &cookie, &both).await, 201);

    // The trail shows the sign-in, by the member, from its address.
    let trail = app
        .get(
            &format!("/v1/audit?organisation_id={council}&action=signed_in"),
            Some(&app.admin()),
        )
        .await;
    let steps = trail.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0]["actor"], id.as_str());
    assert!(!trail.body.to_string().contains(&cookie));
}

#[tokio::test]
async fn a_session_is_never_the_browsers_choice_nor_a_redirect_to_another_site() {
    let app = spawn_app().await;
    let council = app.org("Herefordshire", "local_authority", &[]).await;
    let id = member(&app, &council, "Asha");
    // A session id planted before sign-in is replaced, and never works.
    let planted = "attacker-chose-this-session-id";
    let response = browser()
        .post(app.url("/sign-in/development"))
        .header("origin", &app.address)
        .header("cookie", format!("{COOKIE}={planted}"))
        .form(&[("member_id", id.as_str())])
        .send()
        .await
        .unwrap();
    let (cookie, _) = set_cookie(&response).unwrap();
    assert_ne!(cookie, planted);
    let me = format!("/v1/members/{id}");
    assert_eq!(
        api(&app, reqwest::Method::GET, &me, planted, &[]).await,
        401
    );
    assert_eq!(
        api(&app, reqwest::Method::GET, &me, &cookie, &[]).await,
        200
    );
    // After sign-in, only a path of this site.
    for (asked, lands) in [
        ("//evil.example/x", "/account"),
        ("https://evil.example/", "/account"),
        ("/\\evil.example", "/account"),
        ("/v1/projects?limit=1", "/v1/projects?limit=1"),
    ] {
        let response = browser()
            .post(app.url("/sign-in/development"))
            .header("origin", &app.address)
            .form(&[("member_id", id.as_str()), ("return_to", asked)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["location"], lands, "{asked}");
    }
    // A sign-in form posted from another site is refused, and signs nobody in.
    let forged = browser()
        .post(app.url("/sign-in/development"))
        .header("origin", "https://evil.example")
        .form(&[("member_id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(set_cookie(&forged).is_none());
}

#[tokio::test]
async fn sessions_end_at_sign_out_everywhere_when_disabled_and_when_idle() {
    let app = spawn_app().await;
    let council = app.org("Herefordshire", "local_authority", &[]).await;
    let id = member(&app, &council, "Asha");
    let me = format!("/v1/members/{id}");
    let get = reqwest::Method::GET;
    let sign_out = |signed: &Signed, origin: String, everywhere: bool| {
        let mut form = vec![("csrf_token", signed.csrf.clone())];
        if everywhere {
            form.push(("everywhere", "yes".into()));
        }
        browser()
            .post(app.url("/sign-out"))
            .header("origin", origin)
            .header("cookie", format!("{COOKIE}={}", signed.cookie))
            .form(&form)
            .send()
    };
    // A sign-out form from another site does nothing.
    let first = sign_in(&app, &id).await;
    let forged = sign_out(&first, "https://evil.example".into(), false)
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert!(set_cookie(&forged).is_none(), "the cookie is left alone");
    assert_eq!(api(&app, get.clone(), &me, &first.cookie, &[]).await, 200);
    // `everywhere` means yes only when it says so; another session's token is refused.
    let other = sign_in(&app, &id).await;
    let post_sign_out = |cookie: String, form: Vec<(&'static str, String)>| {
        browser()
            .post(app.url("/sign-out"))
            .header("origin", app.address.clone())
            .header("cookie", format!("{COOKIE}={cookie}"))
            .form(&form)
            .send()
    };
    let stale = vec![
        ("csrf_token", first.csrf.clone()),
        ("everywhere", "no".into()),
    ];
    let refused = post_sign_out(other.cookie.clone(), stale).await.unwrap();
    assert_eq!(refused.status(), 403, "another session's token");
    let not_everywhere = vec![
        ("csrf_token", other.csrf.clone()),
        ("everywhere", "no".into()),
    ];
    post_sign_out(other.cookie.clone(), not_everywhere)
        .await
        .unwrap();
    assert_eq!(api(&app, get.clone(), &me, &other.cookie, &[]).await, 401);
    assert_eq!(api(&app, get.clone(), &me, &first.cookie, &[]).await, 200);
    // Signing out ends this session only; everywhere ends them all.
    let second = sign_in(&app, &id).await;
    let out = sign_out(&first, app.address.clone(), false).await.unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(set_cookie(&out).unwrap().0, "", "the cookie is cleared");
    assert_eq!(api(&app, get.clone(), &me, &first.cookie, &[]).await, 401);
    assert_eq!(api(&app, get.clone(), &me, &second.cookie, &[]).await, 200);
    let third = sign_in(&app, &id).await;
    sign_out(&second, app.address.clone(), true).await.unwrap();
    assert_eq!(api(&app, get.clone(), &me, &second.cookie, &[]).await, 401);
    assert_eq!(api(&app, get.clone(), &me, &third.cookie, &[]).await, 401);
    // Disabling the member ends its sessions at once.
    let fourth = sign_in(&app, &id).await;
    app.post(&format!("{me}/disable"), Some(&app.admin()), &json!({}))
        .await
        .assert_status(200);
    assert_eq!(api(&app, get.clone(), &me, &fourth.cookie, &[]).await, 401);
    let refused = browser()
        .post(app.url("/sign-in/development"))
        .header("origin", &app.address)
        .form(&[("member_id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "a disabled member does not sign in");
    let failed = app
        .get(
            &format!("/v1/audit?organisation_id={council}&action=sign_in_failed"),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(
        failed.assert_status(200)["items"].as_array().unwrap().len(),
        1
    );
    // A session unused for two hours has ended.
    app.post(&format!("{me}/enable"), Some(&app.admin()), &json!({}))
        .await
        .assert_status(200);
    let fifth = sign_in(&app, &id).await;
    app.clock.advance(chrono::Duration::minutes(119));
    assert_eq!(api(&app, get.clone(), &me, &fifth.cookie, &[]).await, 200);
    app.clock.advance(chrono::Duration::minutes(121));
    assert_eq!(api(&app, get, &me, &fifth.cookie, &[]).await, 401);
    let signed_out = app
        .get(
            &format!("/v1/audit?organisation_id={council}&action=signed_out"),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(
        signed_out.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "here, here, and everywhere"
    );
}

#[tokio::test]
async fn in_production_there_is_no_development_sign_in() {
    let app = spawn_app_with(Options {
        environment: Environment::Production,
        ..Options::default()
    })
    .await;
    let council = app.org("Herefordshire", "local_authority", &[]).await;
    let id = member(&app, &council, "Asha");
    let response = browser()
        .post(app.url("/sign-in/development"))
        .header("origin", &app.address)
        .form(&[("member_id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(set_cookie(&response).is_none());
    let page = browser().get(app.url("/sign-in")).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("OpenID Connect") && !html.contains("Asha"));
}

#[tokio::test]
async fn a_member_keeps_at_most_twenty_live_sessions() {
    let app = spawn_app().await;
    let council = app.org("Herefordshire", "local_authority", &[]).await;
    let id = member(&app, &council, "Asha");
    let me = format!("/v1/members/{id}");
    let first = sign_in(&app, &id).await;
    let mut last = None;
    for _ in 0..19 {
        last = Some(sign_in(&app, &id).await);
    }
    assert_eq!(
        api(&app, reqwest::Method::GET, &me, &first.cookie, &[]).await,
        200
    );
    sign_in(&app, &id).await;
    assert_eq!(
        api(&app, reqwest::Method::GET, &me, &first.cookie, &[]).await,
        401,
        "the twenty-first sign-in ends the oldest session"
    );
    let last = last.unwrap();
    assert_eq!(
        api(&app, reqwest::Method::GET, &me, &last.cookie, &[]).await,
        200
    );
}

#[tokio::test]
async fn signing_in_again_ends_the_browsers_earlier_session() {
    let app = spawn_app().await;
    let council = app.org("Herefordshire", "local_authority", &[]).await;
    let id = member(&app, &council, "Asha");
    let me = format!("/v1/members/{id}");
    let first = sign_in(&app, &id).await;
    let again = browser()
        .post(app.url("/sign-in/development"))
        .header("origin", &app.address)
        .header("cookie", format!("{COOKIE}={}", first.cookie))
        .form(&[("member_id", id.as_str())])
        .send()
        .await
        .unwrap();
    let (second, _) = set_cookie(&again).unwrap();
    assert_eq!(
        api(&app, reqwest::Method::GET, &me, &first.cookie, &[]).await,
        401
    );
    assert_eq!(
        api(&app, reqwest::Method::GET, &me, &second, &[]).await,
        200
    );
}

#[tokio::test]
async fn a_deployed_server_offers_no_development_sign_in_and_pages_answer_as_pages() {
    // Development by default, but reached at a real address: no way in without a credential.
    let mut options = Options::default();
    options.mail.public_url = "https://cofund.fund.example.org".into();
    let app = spawn_app_with(options).await;
    let council = app.org("Herefordshire", "local_authority", &[]).await;
    let id = member(&app, &council, "Asha");
    let response = browser()
        .post(app.url("/sign-in/development"))
        .header("origin", "https://cofund.fund.example.org")
        .form(&[("member_id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(set_cookie(&response).is_none());
    let html = browser()
        .get(app.url("/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("Asha"));
    // A page's form address read with GET, a path that is nowhere, and a form too large:
    // answered as pages (or refused before the body is read), with the pages' headers.
    let wrong_method = browser().get(app.url("/sign-out")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    let content_type = wrong_method.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let nowhere = browser()
        .get(app.url("/account/nothing"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(nowhere.status(), 404);
    assert!(nowhere.headers().contains_key("content-security-policy"));
    assert!(nowhere
        .text()
        .await
        .unwrap()
        .contains("<html lang=\"en-GB\">"));
    let program = browser()
        .get(app.url("/account/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        program.headers()["content-type"],
        "application/problem+json"
    );
    let huge = browser()
        .post(app.url("/sign-out"))
        .header("origin", &app.address)
        .body(vec![b'a'; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
}
