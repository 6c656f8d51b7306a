//! Every error, actix's own included, is application/problem+json.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn framework_errors_are_problems_too() {
    let app = spawn_app_with(Options {
        max_body_bytes: 2048,
        ..Options::default()
    })
    .await;
    let admin = app.admin();

    app.get("/v1/no-such-thing", Some(&admin))
        .await
        .assert_problem(404);
    app.get("/", None).await.assert_problem(404);

    let reply = Reply::of(
        app.client
            .delete(app.url("/v1/projects"))
            .bearer_auth(&admin),
    )
    .await;
    reply.assert_problem(405);
    let reply = Reply::of(app.client.put(app.url("/healthz"))).await;
    reply.assert_problem(405);
    let response = app
        .client
        .delete(app.url("/v1/projects"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers().get("allow").unwrap(),
        "GET, POST",
        "RFC 9110: a 405 names the allowed methods"
    );

    let malformed = app
        .client
        .post(app.url("/v1/organisations"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{\"name\": ");
    Reply::of(malformed).await.assert_problem(400);

    // The parser's message is passed on whole where it quotes only its own punctuation.
    let missing_comma = app
        .client
        .post(app.url("/v1/organisations"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(r#"{"name": "x" "kind": 1}"#);
    let reply = Reply::of(missing_comma).await;
    let detail = reply.assert_problem(400)["detail"].as_str().unwrap();
    assert!(detail.contains("expected `,` or `}`"), "{detail}");

    let wrong_type = app
        .client
        .post(app.url("/v1/organisations"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("{}");
    Reply::of(wrong_type).await.assert_problem(415);

    let big = json!({"name": "x".repeat(4096), "kind": "provider"});
    app.post("/v1/organisations", Some(&admin), &big)
        .await
        .assert_problem(413);

    app.get("/v1/organisations?limit=lots", Some(&admin))
        .await
        .assert_problem(400);

    let wrong_shape = app
        .post("/v1/organisations", Some(&admin), &json!([1, 2]))
        .await;
    wrong_shape.assert_problem(422);
    let missing = app
        .post(
            "/v1/organisations",
            Some(&admin),
            &json!({"kind": "provider"}),
        )
        .await;
    missing.assert_invalid_field("name");
    assert_eq!(app.count("organisations"), 0);
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    assert_eq!(
        app.get("/healthz", None).await.assert_status(200)["status"],
        "ok"
    );
    assert_eq!(
        app.get("/readyz", None).await.assert_status(200)["status"],
        "ready"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = response
        .headers()
        .get("x-request-id")
        .expect("x-request-id header");
    assert!(!id.to_str().unwrap().is_empty());
}
