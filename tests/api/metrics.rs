//! `GET /metrics`, read with the Prometheus project's own parser (the `prometheus_client`
//! package's OpenMetrics parser): requests by route and status, claims by event, money by role,
//! the pool and the outbox; a separate address; list pages that cost a fixed number of
//! database statements however long they are; and bulk work (an upload submitted, verified,
//! settled) whose statements do not grow with its rows.

use serde_json::{json, Value};

use crate::helpers::*;
use cofund::api::auth::Role;

/// One sample of a scrape: its metric name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: serde_json::Map<String, Value>,
    value: f64,
}

/// Parses a scrape with `prometheus_client.openmetrics.parser`, which refuses anything that is
/// not valid OpenMetrics text (the test fails on its error).
fn parse(text: &str) -> Vec<Sample> {
    use std::io::Write;
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        samples.append([s.name, s.labels, s.value])
print(json.dumps(samples))
"#;
    let mut child = std::process::Command::new(test_python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the scrape: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<(String, serde_json::Map<String, Value>, f64)> =
        serde_json::from_slice(&out.stdout).unwrap();
    samples
        .into_iter()
        .map(|(name, labels, value)| Sample {
            name,
            labels,
            value,
        })
        .collect()
}

async fn scrape_at(app: &TestApp, base: &str) -> Vec<Sample> {
    let response = app
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    parse(&response.text().await.unwrap())
}

async fn scrape(app: &TestApp) -> Vec<Sample> {
    scrape_at(app, &app.address).await
}

/// The value of the sample `name` whose labels include `labels` (0 when there is none).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).and_then(Value::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// A project of the standard parties with a provider and a validator token.
struct World {
    project: String,
    provider_token: String,
    validator_token: String,
}

async fn world(app: &TestApp) -> World {
    let p = parties(app).await;
    // A provider with a billing contact, so that a rejection queues an email.
    let provider = app
        .post(
            "/v1/organisations",
            Some(&app.admin()),
            &json!({"name": "Provider with contacts", "kind": "provider", "billing_emails": ["claims@provider.example"]}),
        )
        .await;
    let provider = provider.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut body = project_body(&p);
    body["provider_organisation_id"] = json!(provider);
    let project = app.post("/v1/projects", Some(&app.admin()), &body).await;
    World {
        project: project.assert_status(201)["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        provider_token: app.token_for(Role::Provider, Some(&provider), "provider-clerk"),
        validator_token: app.token_for(Role::Validator, Some(&p.validator), "validator-officer"),
    }
}

impl World {
    async fn submit(&self, app: &TestApp, participant: &str) -> String {
        let claim = json!({"participant_ref": participant, "outcome_code": "emp_13w", "achieved_on": "2021-06-01"});
        let path = format!("/v1/projects/{}/claims", self.project);
        let reply = app.post(&path, Some(&self.provider_token), &claim).await;
        reply.assert_status(201)["id"].as_str().unwrap().to_owned()
    }

    async fn decide(&self, app: &TestApp, claim: &str, decision: &str) {
        let path = format!("/v1/claims/{claim}/{decision}");
        let reply = match decision {
            // Verification takes no body; rejection and revocation a reason.
            "verify" => {
                let request = app
                    .client
                    .post(app.url(&path))
                    .bearer_auth(&self.validator_token);
                Reply::of(request).await
            }
            _ => {
                let body = json!({"reason": "the evidence does not show 13 weeks"});
                app.post(&path, Some(&self.validator_token), &body).await
            }
        };
        reply.assert_status(200);
    }
}

#[tokio::test]
async fn metrics_count_requests_claims_money_the_pool_and_the_outbox() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let claims = [
        w.submit(&app, "P-1").await,
        w.submit(&app, "P-2").await,
        w.submit(&app, "P-3").await,
    ];
    // A retried submission replays its first answer: counted once.
    let path = format!("/v1/projects/{}/claims", w.project);
    let claim =
        json!({"participant_ref": "P-4", "outcome_code": "emp_13w", "achieved_on": "2021-06-01"});
    for _ in 0..2 {
        app.post_with(
            &path,
            Some(&w.provider_token),
            &claim,
            &[("Idempotency-Key", "retry-1")],
        )
        .await
        .assert_status(201);
    }
    w.decide(&app, &claims[0], "verify").await;
    w.decide(&app, &claims[1], "verify").await;
    w.decide(&app, &claims[2], "reject").await;
    w.decide(&app, &claims[1], "revoke").await;

    let samples = scrape(&app).await;
    for (event, expected) in [
        ("submitted", 4.0),
        ("verified", 2.0),
        ("rejected", 1.0),
        ("revoked", 1.0),
    ] {
        assert_eq!(
            value(&samples, "cofund_claims_total", &[("event", event)]),
            expected,
            "claims {event}"
        );
    }
    let submissions = [
        ("method", "POST"),
        ("route", "/v1/projects/{id}/claims"),
        ("status", "201"),
    ];
    assert_eq!(
        value(&samples, "cofund_http_requests_total", &submissions),
        5.0
    );
    assert_eq!(
        value(
            &samples,
            "cofund_http_request_duration_seconds_count",
            &submissions
        ),
        5.0
    );
    assert_eq!(
        value(
            &samples,
            "cofund_http_request_duration_seconds_bucket",
            &[
                ("le", "+Inf"),
                ("route", "/v1/projects/{id}/claims"),
                ("status", "201")
            ]
        ),
        5.0
    );
    // An id never becomes a label: the route is its template.
    assert!(samples.iter().all(|s| s
        .labels
        .values()
        .all(|v| !v.as_str().unwrap_or("").contains(&w.project))));

    // Money by role: what the ledger holds for each role's payers, net of the revoked claim.
    let project = app
        .get(&format!("/v1/projects/{}", w.project), Some(&app.admin()))
        .await;
    let mut by_role = std::collections::BTreeMap::<String, f64>::new();
    for payer in project.assert_status(200)["payers"].as_array().unwrap() {
        let amount: f64 = payer["totals"]["allocated"]["amount"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        *by_role
            .entry(payer["role"].as_str().unwrap().to_owned())
            .or_default() += amount * 100.0;
    }
    assert_eq!(
        by_role.values().sum::<f64>(),
        260_000.0,
        "one verified claim of £2,600"
    );
    for (role, minor) in &by_role {
        assert_eq!(
            value(
                &samples,
                "cofund_allocated_minor_units",
                &[("role", role), ("currency", "GBP")]
            ),
            *minor,
            "{role}"
        );
    }

    assert_eq!(
        value(
            &samples,
            "cofund_database_pool_connections",
            &[("state", "max")]
        ),
        8.0
    );
    let open = value(
        &samples,
        "cofund_database_pool_connections",
        &[("state", "open")],
    );
    assert!((1.0..=8.0).contains(&open), "{open} open connections");
    // The rejection queued an email to the provider.
    let emails: f64 = ["queued", "sent", "failed"]
        .iter()
        .map(|status| value(&samples, "cofund_outbox_messages", &[("status", status)]))
        .sum();
    assert_eq!(emails, app.count("outbox") as f64);
    assert!(emails >= 1.0);
}

#[tokio::test]
async fn unknown_paths_and_methods_do_not_grow_the_labels() {
    let app = spawn_app().await;
    for path in ["/no/such/path/1", "/no/such/path/2"] {
        app.get(path, None).await.assert_problem(404);
    }
    let custom = reqwest::Method::from_bytes(b"BREW").unwrap();
    let response = app
        .client
        .request(custom, app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let samples = scrape(&app).await;
    let routes: Vec<&str> = samples
        .iter()
        .filter(|s| s.name == "cofund_http_requests_total")
        .filter_map(|s| s.labels.get("route").and_then(Value::as_str))
        .collect();
    assert!(
        routes.iter().all(|r| !r.starts_with("/no/such")),
        "{routes:?}"
    );
    assert_eq!(
        value(
            &samples,
            "cofund_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &samples,
            "cofund_http_requests_total",
            &[("method", "other"), ("route", "/healthz")]
        ),
        1.0
    );
}

#[tokio::test]
async fn metrics_can_be_served_on_an_address_of_their_own() {
    let app = spawn_app_with(Options {
        metrics_bind: true,
        ..Options::default()
    })
    .await;
    let metrics = app.metrics_address.clone().expect("a metrics address");
    app.get("/healthz", None).await.assert_status(200);
    // Not beside the API any more.
    app.get("/metrics", None).await.assert_problem(404);
    let samples = scrape_at(&app, &metrics).await;
    assert_eq!(
        value(
            &samples,
            "cofund_http_requests_total",
            &[("route", "/healthz"), ("status", "200")]
        ),
        1.0
    );
    // And nothing else is served there.
    let api = app
        .client
        .get(format!("{metrics}/v1/projects"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
}

/// The statements the last request on `route` ran: the growth of its histogram's sum.
async fn statements_of(app: &TestApp, route: &str, path: &str, token: &str) -> f64 {
    let (statements, page) = statements_for(app, "GET", route, app.get(path, Some(token))).await;
    page.assert_status(200);
    statements
}

/// The statements `request` (a `method` on `route`) ran, and its reply.
async fn statements_for(
    app: &TestApp,
    method: &str,
    route: &str,
    request: impl std::future::Future<Output = Reply>,
) -> (f64, Reply) {
    let labels = [("method", method), ("route", route)];
    let name = "cofund_http_request_database_queries_sum";
    let before = value(&scrape(app).await, name, &labels);
    let reply = request.await;
    let after = value(&scrape(app).await, name, &labels);
    (after - before, reply)
}

#[tokio::test]
async fn list_pages_cost_the_same_statements_whatever_their_length() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let mut file = String::from("participant_ref,outcome_code,achieved_on\n");
    for i in 0..60 {
        file.push_str(&format!("P-{i},emp_13w,2021-06-01\n"));
    }
    let bulk = app
        .client
        .post(app.url(&format!("/v1/projects/{}/claims/bulk", w.project)))
        .bearer_auth(&w.provider_token)
        .header("content-type", "text/csv")
        .body(file);
    let report = Reply::of(bulk).await;
    let upload = report.assert_status(201)["upload_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Half of them verified, so that pages hold allocations as well as claims.
    let page = app
        .get(
            &format!("/v1/projects/{}/claims?limit=30", w.project),
            Some(&w.provider_token),
        )
        .await;
    let ids: Vec<Value> = page.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    let verify = app
        .post(
            &format!("/v1/projects/{}/claims/verify", w.project),
            Some(&w.validator_token),
            &json!({"claim_ids": ids}),
        )
        .await;
    assert_eq!(verify.assert_status(200)["verified"], 30, "{upload}");

    let claims_route = "/v1/projects/{id}/claims";
    let one = format!("/v1/projects/{}/claims?limit=1", w.project);
    let fifty = format!("/v1/projects/{}/claims?limit=50", w.project);
    let admin = app.admin();
    let for_one = statements_of(&app, claims_route, &one, &admin).await;
    let for_fifty = statements_of(&app, claims_route, &fifty, &admin).await;
    assert!(for_one > 0.0);
    assert_eq!(
        for_one, for_fifty,
        "a claim page of 50 costs what a page of 1 does"
    );
    // The access check reads the project with its payers, then its validators (not the whole
    // registry record); then the claims, their adjustments and their allocations.
    assert_eq!(for_fifty, 5.0, "statements for a claim page");
    let allocations_route = "/v1/projects/{id}/allocations";
    let allocations = format!("/v1/projects/{}/allocations?limit=50", w.project);
    let for_allocations = statements_of(&app, allocations_route, &allocations, &admin).await;
    assert_eq!(for_allocations, 3.0, "statements for an allocation page");

    for i in 0..11 {
        let mut body = project_body(&parties(&app).await);
        body["name"] = json!(format!("Project {i}"));
        app.post("/v1/projects", Some(&admin), &body)
            .await
            .assert_status(201);
    }
    let for_one = statements_of(&app, "/v1/projects", "/v1/projects?limit=1", &admin).await;
    let for_twelve = statements_of(&app, "/v1/projects", "/v1/projects?limit=12", &admin).await;
    assert!(for_one > 0.0);
    assert_eq!(
        for_one, for_twelve,
        "a project page of 12 costs what a page of 1 does"
    );
}

/// The statements a bulk insert of `rows` rows runs: one COPY on PostgreSQL; on SQLite, which
/// has no round trips, one execution of diesel's prepared multi-row INSERT per
/// `SQLITE_BATCH_ROWS` rows (the fastest way SQLite takes rows, see `queries::insert_rows`).
fn bulk_insert_statements(app: &TestApp, rows: i64) -> f64 {
    let statements = match app.database {
        cofund::db::DatabaseUrl::Postgres(_) => i64::from(rows > 0),
        cofund::db::DatabaseUrl::Sqlite(_) => {
            let per_statement = cofund::db::queries::SQLITE_BATCH_ROWS as i64;
            (rows + per_statement - 1) / per_statement
        }
    };
    statements as f64
}

/// Runs `request` and returns the statements it ran beyond its bulk inserts into `tables`
/// (see [`bulk_insert_statements`]), and its reply.
async fn statements_beyond_bulk_inserts(
    app: &TestApp,
    route: &str,
    tables: &[&str],
    request: impl std::future::Future<Output = Reply>,
) -> (f64, Reply) {
    let before: Vec<i64> = tables.iter().map(|t| app.count(t)).collect();
    let (statements, reply) = statements_for(app, "POST", route, request).await;
    let inserts: f64 = tables
        .iter()
        .zip(before)
        .map(|(t, before)| bulk_insert_statements(app, app.count(t) - before))
        .sum();
    (statements - inserts, reply)
}

/// Bulk work costs a fixed number of statements per batch, however many rows the batch
/// carries: submitting, verifying and settling an upload of 10,000 claims runs no more
/// statements than one of 1,000, beyond the bulk inserts themselves (one COPY per table on
/// PostgreSQL, so there no more statements at all, and no more round trips). A guard that does
/// not depend on the machine's speed: when a bulk path starts to cost a statement per row or
/// per chunk of rows, this fails before any benchmark is run.
#[tokio::test]
async fn bulk_work_costs_no_more_statements_for_10000_claims_than_for_1000() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    let provider = app.token_for(Role::Provider, Some(&p.provider), "provider-clerk");
    let validator = app.token_for(Role::Validator, Some(&p.validator), "validator-officer");
    let project = |name: &str| {
        json!({
            "name": name, "fund_id": p.fund, "provider_organisation_id": p.provider,
            "service_start": "2021-01-01", "service_end": "2023-12-31",
            "payers": [
                {"organisation_id": p.central, "role": "central_top_up", "max_commitment": gbp("400000.00")},
                {"organisation_id": p.council_a, "role": "local_commissioner", "max_commitment": gbp("300000.00")},
                {"organisation_id": p.council_b, "role": "co_commissioner", "max_commitment": gbp("300000.00")},
            ],
            "outcomes": [{"code": "emp_13w", "name": "Employment 13 weeks", "price": gbp("10.00"), "unit": "achievement"}],
            "validator_organisation_ids": [p.validator],
        })
    };
    let period = cofund::domain::period::Period::containing(
        app.clock.today(),
        cofund::domain::registry::SettlementFrequency::Quarterly,
    )
    .to_string();
    let mut costs = Vec::new();
    for (name, claims) in [("Small upload", 1_000u64), ("Large upload", 10_000)] {
        let reply = app
            .post("/v1/projects", Some(&app.admin()), &project(name))
            .await;
        let id = reply.assert_status(201)["id"].as_str().unwrap().to_owned();
        let mut file = String::from("participant_ref,outcome_code,achieved_on\n");
        for i in 0..claims {
            file.push_str(&format!("{name}-{i},emp_13w,2021-06-01\n"));
        }
        let upload = app
            .client
            .post(app.url(&format!("/v1/projects/{id}/claims/bulk")))
            .bearer_auth(&provider)
            .header("content-type", "text/csv")
            .body(file);
        let (submit, report) = statements_beyond_bulk_inserts(
            &app,
            "/v1/projects/{id}/claims/bulk",
            &["claims"],
            Reply::of(upload),
        )
        .await;
        assert_eq!(report.assert_status(201)["stored"], claims);
        let upload_id = report.body["upload_id"].as_str().unwrap().to_owned();
        let verify_path = format!("/v1/projects/{id}/claims/verify");
        let (verify, verified) = statements_beyond_bulk_inserts(
            &app,
            "/v1/projects/{id}/claims/verify",
            &["ledger_entries", "allocations", "claim_adjustments"],
            app.post(
                &verify_path,
                Some(&validator),
                &json!({"upload_id": upload_id}),
            ),
        )
        .await;
        assert_eq!(verified.assert_status(200)["verified"], claims);
        let settle_path = format!("/v1/projects/{id}/settlements");
        let (settle, built) = statements_beyond_bulk_inserts(
            &app,
            "/v1/projects/{id}/settlements",
            &["settlement_links", "document_lines"],
            app.post(&settle_path, Some(&provider), &json!({"period": period})),
        )
        .await;
        let settled = built.assert_status(201)["allocations_settled"]
            .as_u64()
            .unwrap();
        assert!(
            settled >= claims,
            "every claim's allocations are settled: {}",
            built.body
        );
        costs.push((submit, verify, settle));
    }
    let [(submit_1k, verify_1k, settle_1k), (submit_10k, verify_10k, settle_10k)] = costs[..]
    else {
        unreachable!()
    };
    for (what, small, large) in [
        ("submitting", submit_1k, submit_10k),
        ("verifying", verify_1k, verify_10k),
        ("building the settlement period of", settle_1k, settle_10k),
    ] {
        assert!(small > 0.0, "{what} an upload runs statements");
        assert!(
            large <= small,
            "{what} 10,000 claims ran {large} statements beyond its bulk inserts, 1,000 ran \
             {small}: bulk work must cost a fixed number of statements per batch, however many \
             rows it carries"
        );
    }
}
