//! The committed OpenAPI document is the one the server serves.

use crate::helpers::*;

#[tokio::test]
async fn committed_openapi_matches_the_served_document() {
    let app = spawn_app().await;
    let served = app.get("/openapi.json", None).await;
    let served = served.assert_status(200);
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json is committed"),
    )
    .unwrap();
    assert!(
        served == &committed,
        "openapi/openapi.json is out of date: run `cargo run -- openapi > openapi/openapi.json`"
    );
    for path in [
        "/v1/organisations",
        "/v1/funds",
        "/v1/projects",
        "/v1/projects/{id}",
    ] {
        assert!(
            served["paths"].get(path).is_some(),
            "{path} is not documented"
        );
    }
}

#[tokio::test]
async fn the_docs_page_is_served_without_the_internet() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger"), "the docs page is Swagger UI");
    let script = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        script.status(),
        200,
        "Swagger UI's assets are served from the binary"
    );
}

/// What a client generator needs of every operation: a unique operationId, a description,
/// described responses whose errors are problem documents, and an example for every request
/// body (on the body or on the schema it names).
#[test]
fn every_operation_is_documented_for_client_generators() {
    let document = cofund::api::openapi::document_value();
    let schemas = &document["components"]["schemas"];
    let mut ids = std::collections::HashSet::new();
    let mut faults = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let at = format!("{} {path}", method.to_uppercase());
            match operation["operationId"].as_str() {
                None => faults.push(format!("{at}: no operationId")),
                Some(id) if !ids.insert(id.to_owned()) => {
                    faults.push(format!("{at}: operationId {id} is used twice"))
                }
                Some(_) => {}
            }
            if operation["description"]
                .as_str()
                .is_none_or(|d| d.trim().is_empty())
            {
                faults.push(format!("{at}: no description"));
            }
            if operation["summary"]
                .as_str()
                .is_none_or(|s| s.contains('\n'))
            {
                faults.push(format!("{at}: no one-line summary"));
            }
            for (media, content) in operation["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                if !has_example(content, schemas) {
                    faults.push(format!("{at}: the {media} request body has no example"));
                }
            }
            for (status, response) in operation["responses"].as_object().unwrap() {
                if response["description"]
                    .as_str()
                    .is_none_or(|d| d.trim().is_empty())
                {
                    faults.push(format!("{at}: response {status} has no description"));
                }
                let is_error = status.starts_with('4') || status.starts_with('5');
                let content = response["content"].as_object();
                if is_error
                    && content.is_some_and(|c| c.keys().any(|m| m != "application/problem+json"))
                {
                    faults.push(format!("{at}: response {status} is not a problem document"));
                }
            }
        }
    }
    assert!(faults.is_empty(), "{}", faults.join("\n"));
    assert!(ids.len() >= 44, "{} operations", ids.len());
}

/// An example on the media type, or on the schema it is or refers to.
fn has_example(content: &serde_json::Value, schemas: &serde_json::Value) -> bool {
    if content.get("example").is_some() || content.get("examples").is_some() {
        return true;
    }
    let schema = &content["schema"];
    let named = schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .map(|name| &schemas[name]);
    [Some(schema), named]
        .into_iter()
        .flatten()
        .any(|s| s.get("example").is_some() || s.get("examples").is_some())
}

/// Closed sets are enums, pages name their item type, and the errors that carry members of
/// their own (rejected claims, refused bulk files, invalid fields) document them.
#[test]
fn types_are_closed_and_named() {
    let document = cofund::api::openapi::document_value();
    let schemas = &document["components"]["schemas"];
    assert_eq!(
        schemas["ClaimView"]["properties"]["status"]["$ref"],
        "#/components/schemas/ClaimStatus"
    );
    assert_eq!(
        schemas["ClaimStatus"]["enum"],
        serde_json::json!(["submitted", "verified", "rejected", "revoked"])
    );
    for (name, schema) in schemas.as_object().unwrap() {
        if let Some(item) = name.strip_prefix("Page_") {
            assert_eq!(
                schema["properties"]["items"]["items"]["$ref"],
                format!("#/components/schemas/{item}"),
                "{name} names its items"
            );
        }
    }
    let operation = |path: &str, method: &str| document["paths"][path][method].clone();
    let submit = operation("/v1/projects/{id}/claims", "post");
    let refused = &submit["responses"]["422"]["content"]["application/problem+json"]["schema"];
    assert_eq!(
        refused["$ref"],
        "#/components/schemas/ClaimSubmissionProblem"
    );
    let bulk = operation("/v1/projects/{id}/claims/bulk", "post");
    let media: Vec<&String> = bulk["requestBody"]["content"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert!(
        media.contains(&&"text/csv".to_owned())
            && media.contains(&&"application/x-ndjson".to_owned()),
        "{media:?}"
    );
    assert_eq!(
        bulk["responses"]["422"]["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/BulkSubmissionProblem"
    );
    let health = operation("/healthz", "get");
    for status in ["400", "422", "503"] {
        assert!(
            health["responses"].get(status).is_none(),
            "/healthz cannot answer {status}"
        );
    }
    let read = operation("/v1/claims/{id}", "get");
    assert!(
        read["responses"].get("422").is_none(),
        "a read by id has nothing to validate"
    );
}
