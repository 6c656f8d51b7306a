//! The classes of defect the hardening review found, one test per class: money that could
//! overflow, units outside the service period, stored terms that fell back silently, shares
//! rounded on parsing, inputs that crashed the server or differed between databases, values
//! echoed into responses, stored rows and logs, and idempotency keys that crossed requests.

use serde_json::{json, Value};

use crate::helpers::*;
use cofund::api::auth::Role;

/// A one-payer project (no fund) with `outcomes`, served from `start`; its provider's and
/// validator's tokens.
struct Small {
    project: String,
    provider: String,
    validator: String,
}

async fn small(app: &TestApp, currency: &str, start: &str, outcomes: Value) -> Small {
    let provider = app.org("Provider", "provider", &[]).await;
    let validator = app.org("Validator", "validator", &[]).await;
    let council = app.org("Council", "local_authority", &[]).await;
    let max = if currency == "GBP" {
        "1000000000000.00"
    } else {
        "1000000000000.000"
    };
    let body = json!({
        "name": "Small", "provider_organisation_id": provider,
        "service_start": start, "service_end": "2026-06-30",
        "payers": [{"organisation_id": council, "role": "local_commissioner",
                    "max_commitment": {"amount": max, "currency": currency}, "lead": true}],
        "outcomes": outcomes, "validator_organisation_ids": [validator],
    });
    let created = app.post("/v1/projects", Some(&app.admin()), &body).await;
    Small {
        project: created.assert_status(201)["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        provider: app.token_for(Role::Provider, Some(&provider), "clerk"),
        validator: app.token_for(Role::Validator, Some(&validator), "checker"),
    }
}

impl Small {
    async fn submit(&self, app: &TestApp, claim: Value) -> Reply {
        let path = format!("/v1/projects/{}/claims", self.project);
        app.post(&path, Some(&self.provider), &claim).await
    }

    async fn verify(&self, app: &TestApp, id: &str) -> Reply {
        let path = format!("/v1/claims/{id}/verify");
        app.post(&path, Some(&self.validator), &json!({})).await
    }
}

fn reason_codes(problem: &Value) -> Vec<String> {
    problem["reasons"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|r| r["code"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn money_is_bounded_at_the_edge_and_checked_where_it_adds_up() {
    let app = spawn_app().await;
    // Above the documented maximum: refused, naming the field.
    let p = app.org("P", "provider", &[]).await;
    let c = app.org("C", "local_authority", &[]).await;
    let too_much = json!({
        "name": "X", "provider_organisation_id": p, "service_start": "2020-01-01", "service_end": "2021-01-01",
        "payers": [{"organisation_id": c, "role": "local_commissioner", "max_commitment": gbp("1000.00")}],
        "outcomes": [{"code": "w", "name": "w", "unit": "week", "price": gbp("1000000000000.01")}],
    });
    app.post("/v1/projects", Some(&app.admin()), &too_much)
        .await
        .assert_invalid_field("outcomes[0].price.amount");

    // The largest KWD price for the largest quantity does not fit in 64 bits: refused with a
    // reason when it is submitted, never priced.
    let day = json!([{"code": "d", "name": "d", "unit": "day",
                      "price": {"amount": "1000000000000.000", "currency": "KWD"}}]);
    let kwd = small(&app, "KWD", "1990-01-01", day).await;
    let claim = json!({"participant_ref": "K1", "outcome_code": "d", "achieved_on": "2025-01-01", "quantity": 10000});
    let refused = kwd.submit(&app, claim).await;
    assert_eq!(
        reason_codes(refused.assert_problem(422)),
        ["amount_out_of_range"]
    );

    // In GBP the same claim fits (£10^16 gross); nine of them still fit the provider's running
    // total, the tenth would not: it is refused with a reason and nothing is posted for it.
    let day = json!([{"code": "d", "name": "d", "unit": "day", "price": gbp("1000000000000.00")}]);
    let gbp_project = small(&app, "GBP", "1990-01-01", day).await;
    let mut outcomes = Vec::new();
    for i in 0..10 {
        let claim = json!({"participant_ref": format!("G{i}"), "outcome_code": "d",
                           "achieved_on": "2025-01-01", "quantity": 10000});
        let submitted = gbp_project.submit(&app, claim).await;
        let id = submitted.assert_status(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        outcomes.push(gbp_project.verify(&app, &id).await);
    }
    for verified in &outcomes[..9] {
        assert_eq!(
            verified.assert_status(200)["gross"]["amount"],
            "10000000000000000.00"
        );
    }
    assert_eq!(
        reason_codes(outcomes[9].assert_problem(422)),
        ["amount_out_of_range"]
    );
    assert_eq!(app.count("ledger_entries"), 9);
    assert_ledger_ok(&app);
}

#[tokio::test]
async fn every_unit_of_a_time_unit_claim_lies_inside_the_service_period() {
    let app = spawn_app().await;
    let week = json!([{"code": "w", "name": "w", "unit": "week", "price": gbp("100.00")}]);
    let s = small(&app, "GBP", "2020-01-01", week).await;
    let claim = |q: i64| json!({"participant_ref": "W1", "outcome_code": "w", "achieved_on": "2020-01-07", "quantity": q});
    let refused = s.submit(&app, claim(52)).await;
    let problem = refused.assert_problem(422);
    assert_eq!(reason_codes(problem), ["units_outside_service_period"]);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("at most 1 fit"),
        "{problem}"
    );
    assert_eq!(app.count("claims"), 0);
    // The one week that ends on 2020-01-07 begins on the first day of the service.
    s.submit(&app, claim(1)).await.assert_status(201);
    // Quantities beyond the documented maximum are refused, not priced or overflowed.
    let huge = json!({"participant_ref": "W2", "outcome_code": "w", "achieved_on": "2021-01-07", "quantity": 20000000});
    assert_eq!(
        reason_codes(s.submit(&app, huge).await.assert_problem(422)),
        ["bad_quantity"]
    );
}

#[tokio::test]
async fn stored_terms_that_do_not_parse_fail_loudly_and_check_names_the_row() {
    let app = spawn_app().await;
    let card = json!([{"code": "a", "name": "a", "unit": "achievement", "price": gbp("10.00")}]);
    let s = small(&app, "GBP", "2020-01-01", card).await;
    let claim = json!({"participant_ref": "C1", "outcome_code": "a", "achieved_on": "2021-01-01"});
    let id = s.submit(&app, claim).await.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A corrupt settlement route would change who may decide: the project is not shown
    // with a guessed one.
    app.execute_sql("UPDATE projects SET settlement_route = 'bogus'")
        .unwrap();
    let path = format!("/v1/projects/{}", s.project);
    // The pages of its claims and allocations, which read only what access needs, refuse too.
    let pages = [
        path.clone(),
        format!("{path}/claims"),
        format!("{path}/allocations"),
    ];
    for page in &pages {
        app.get(page, Some(&app.admin())).await.assert_problem(500);
    }
    let out = app.cofund(&["check"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("stored settlement_route 'bogus'"));
    app.execute_sql("UPDATE projects SET settlement_route = 'direct'")
        .unwrap();
    // So does a corrupt payer role (who pays what is decided by it).
    app.execute_sql("UPDATE project_payers SET role = 'bogus_role'")
        .unwrap();
    for page in &pages {
        app.get(page, Some(&app.admin())).await.assert_problem(500);
    }
    let out = app.cofund(&["check"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("stored role 'bogus_role'"));
    app.execute_sql("UPDATE project_payers SET role = 'local_commissioner'")
        .unwrap();
    for page in &pages {
        app.get(page, Some(&app.admin())).await.assert_status(200);
    }
    // A corrupt currency: no claim of the project is shown with a guessed number of decimals.
    app.execute_sql("UPDATE projects SET currency = 'bogus'")
        .unwrap();
    app.get(&format!("/v1/claims/{id}"), Some(&app.admin()))
        .await
        .assert_problem(500);
    app.execute_sql("UPDATE projects SET currency = 'GBP'")
        .unwrap();
    // A corrupt claim status: the claim is not shown, nor decided, as one it might be.
    app.execute_sql("UPDATE claims SET status = 'approved'")
        .unwrap();
    app.get(&format!("/v1/claims/{id}"), Some(&app.admin()))
        .await
        .assert_problem(500);
    s.verify(&app, &id).await.assert_problem(500);
    let out = app.cofund(&["check"]);
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains(&format!("claim {id} has the stored status 'approved'")));
    app.execute_sql("UPDATE claims SET status = 'submitted'")
        .unwrap();
    app.get(&format!("/v1/claims/{id}"), Some(&app.admin()))
        .await
        .assert_status(200);
    app.execute_sql(&format!(
        "INSERT INTO claim_adjustments (claim_id, position, kind, amount_minor, detail) VALUES ('{id}', 0, 'bogus', 0, 'x')"
    ))
    .unwrap();
    app.execute_sql("UPDATE project_payers SET share = 'half'")
        .unwrap();
    app.execute_sql("UPDATE projects SET cap_policy = 'whatever'")
        .unwrap();
    // Nothing is priced against a corrupt term; the request fails and posts nothing.
    s.verify(&app, &id).await.assert_problem(500);
    assert_eq!(app.count("ledger_entries"), 0);
    let out = app.cofund(&["check"]);
    assert!(!out.status.success());
    let report =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    // A label cofund does not know keeps the project from loading at all: check names it and
    // the project's other terms wait until it is mended.
    assert!(
        report.contains("stored cap_policy 'whatever' is not valid (not shortfall or reallocate)"),
        "{report}"
    );
    assert!(
        report.contains("claim adjustments of kind 'bogus'"),
        "{report}"
    );
    app.execute_sql("UPDATE projects SET cap_policy = 'shortfall'")
        .unwrap();
    s.verify(&app, &id).await.assert_problem(500);
    let out = app.cofund(&["check"]);
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        report.contains("stored share 'half' is not valid"),
        "{report}"
    );
    assert!(!report.contains("cap_policy"), "{report}");
}

#[tokio::test]
async fn a_share_that_cannot_be_held_exactly_is_refused() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    let mut body = project_body(&p);
    body["fund_id"] = Value::Null;
    body["payers"] = json!([
        {"organisation_id": p.council_a, "role": "local_commissioner", "max_commitment": gbp("100.00"), "share": "0.5"},
        {"organisation_id": p.council_b, "role": "co_commissioner", "max_commitment": gbp("100.00"), "share": "0.5000000000000000000000000000001"},
    ]);
    app.post("/v1/projects", Some(&app.admin()), &body)
        .await
        .assert_invalid_field("payers[1].share");
    assert_eq!(app.count("projects"), 0);
}

#[tokio::test]
async fn extreme_values_are_refused_at_the_edge_alike_on_every_database() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    let admin = app.admin();
    // A ladder wait that would overflow a date; a project beginning in year -262143.
    let mut ladder = project_body(&p);
    ladder["outcomes"] = json!([
        {"code": "a", "name": "a", "unit": "achievement", "price": gbp("1.00")},
        {"code": "b", "name": "b", "unit": "achievement", "price": gbp("1.00"),
         "requires": {"outcome_code": "a", "min_days_after": 2147483647}},
    ]);
    app.post("/v1/projects", Some(&admin), &ladder)
        .await
        .assert_invalid_field("outcomes[1].requires.min_days_after");
    for (field, date) in [
        ("service_start", "-262143-01-01"),
        ("service_start", "1899-12-31"),
        ("service_end", "2200-01-01"),
    ] {
        let mut body = project_body(&p);
        body[field] = json!(date);
        app.post("/v1/projects", Some(&admin), &body)
            .await
            .assert_invalid_field(field);
    }
    // NUL and other control characters in any text field; overlong text.
    let mut nul = project_body(&p);
    nul["name"] = json!("Skill\u{0}Mill");
    app.post("/v1/projects", Some(&admin), &nul)
        .await
        .assert_invalid_field("name");
    let mut long = project_body(&p);
    long["policy_sector"] = json!("x".repeat(5000));
    app.post("/v1/projects", Some(&admin), &long)
        .await
        .assert_invalid_field("policy_sector");
    let org = json!({"name": "Council\u{7}", "kind": "local_authority"});
    app.post("/v1/organisations", Some(&admin), &org)
        .await
        .assert_invalid_field("name");
    assert_eq!(app.count("projects"), 0);

    let card = json!([{"code": "a", "name": "a", "unit": "achievement", "price": gbp("10.00")}]);
    let s = small(&app, "GBP", "2020-01-01", card).await;
    let evidence = json!({"participant_ref": "E1", "outcome_code": "a", "achieved_on": "2021-01-01",
                          "evidence_ref": "x".repeat(1000)});
    assert_eq!(
        reason_codes(s.submit(&app, evidence).await.assert_problem(422)),
        ["bad_text"]
    );
    let nul_ref =
        json!({"participant_ref": "E\u{0}1", "outcome_code": "a", "achieved_on": "2021-01-01"});
    s.submit(&app, nul_ref)
        .await
        .assert_invalid_field("participant_ref");
    // A date is YYYY-MM-DD and nothing else, in JSON as in a bulk file (below).
    for lenient in ["2021-1-1", " 2021-01-01", "2021-01-01T00:00:00"] {
        let claim = json!({"participant_ref": "D1", "outcome_code": "a", "achieved_on": lenient});
        let reply = s.submit(&app, claim).await;
        reply.assert_invalid_field("achieved_on");
        let detail = reply.body.to_string();
        assert!(detail.contains("YYYY-MM-DD"), "{detail}");
    }
    // A bulk file with a NUL in a field and an out-of-range date: rows refused, not a 500.
    let csv = "participant_ref,outcome_code,achieved_on,evidence_ref\nB1,a,2021-01-01,ev\u{0}x\nB2,a,9999-01-01,\nB3,a,2021-1-1,\nB4,a, 2021-01-01,\n";
    let bulk = Reply::of(
        app.client
            .post(app.url(&format!(
                "/v1/projects/{}/claims/bulk?mode=accept_valid",
                s.project
            )))
            .bearer_auth(&s.provider)
            .header("content-type", "text/csv")
            .body(csv),
    )
    .await;
    let report = bulk.assert_status(201);
    assert_eq!(report["rejected"], 4, "{report}");
    // NUL or control characters in a path or query: 400, before any query runs.
    for path in [
        "/v1/claims/clm_%00x".to_owned(),
        format!("/v1/projects/{}/claims?status=%00", s.project),
        "/v1/organisations/org_%0Ax".to_owned(),
    ] {
        app.get(&path, Some(&admin)).await.assert_problem(400);
    }
    // A status that is none of the vocabulary's: 422 naming the field and every status.
    let unknown = [
        (
            format!("/v1/projects/{}/claims?status=approved", s.project),
            "must be submitted, verified, rejected or revoked",
        ),
        (
            "/v1/outbox?status=bounced".to_owned(),
            "must be queued, sent or failed",
        ),
    ];
    for (path, detail) in unknown {
        let answer = app.get(&path, Some(&admin)).await;
        let problem = answer.assert_problem(422);
        assert_eq!(problem["errors"][0]["field"], "status", "{problem}");
        assert_eq!(problem["errors"][0]["detail"], detail, "{problem}");
    }
    assert_eq!(app.count("claims"), 0);
}

/// Every text column of every table, concatenated: what the database holds.
fn everything_stored(app: &TestApp) -> String {
    let tables = [
        ("claims", "COALESCE(participant_pseudonym,'') || COALESCE(evidence_ref,'') || COALESCE(home_area,'') || COALESCE(rejection_reason,'')"),
        ("idempotency_keys", "response_body || idempotency_key"),
        ("bulk_uploads", "id || mode"),
        ("claim_adjustments", "detail"),
    ];
    let mut all = String::new();
    for (table, expr) in tables {
        #[derive(diesel::QueryableByName)]
        struct Text {
            #[diesel(sql_type = diesel::sql_types::Text)]
            t: String,
        }
        let mut conn = app.pool.get().unwrap();
        let rows: Vec<Text> = diesel::RunQueryDsl::load(
            diesel::sql_query(format!("SELECT {expr} AS t FROM {table}")),
            &mut *conn,
        )
        .unwrap();
        for row in rows {
            all.push_str(&row.t);
            all.push('\n');
        }
    }
    all
}

#[tokio::test]
async fn participant_references_are_never_echoed_stored_or_logged() {
    let app = spawn_app().await;
    let card = json!([{"code": "a", "name": "a", "unit": "achievement", "price": gbp("10.00")}]);
    let s = small(&app, "GBP", "2020-01-01", card).await;
    let (server, log) = app.logged_server().await;
    let post_csv = |csv: String, key: &'static str| {
        app.client
            .post(format!(
                "{server}/v1/projects/{}/claims/bulk?mode=accept_valid",
                s.project
            ))
            .bearer_auth(&s.provider)
            .header("content-type", "text/csv")
            .header("idempotency-key", key)
            .body(csv)
    };
    // A numeric reference where a string belongs.
    let numeric = Reply::of(
        app.client
            .post(format!("{server}/v1/projects/{}/claims", s.project))
            .bearer_auth(&s.provider)
            .json(&json!({"participant_ref": 987654321, "outcome_code": "a", "achieved_on": "2021-01-01"})),
    )
    .await;
    numeric.assert_invalid_field("participant_ref");
    assert!(
        !numeric.body.to_string().contains("987654321"),
        "{}",
        numeric.body
    );
    // A column-shifted file: references land in outcome_code, achieved_on and home_area.
    let shifted = "participant_ref,outcome_code,achieved_on,home_area\n2021-01-01,REF-SHIFT-1,REF-SHIFT-2,REF-SHIFT-3\nOK-1,a,2021-01-01,\n".to_owned();
    let report = Reply::of(post_csv(shifted, "shifted-1")).await;
    let report = report.assert_status(201).to_string();
    assert!(!report.contains("REF-SHIFT"), "{report}");
    // A large refused file (all-or-nothing, every row bad).
    let mut big = String::from("participant_ref,outcome_code,achieved_on\n");
    for i in 0..60_000 {
        big.push_str(&format!("REF-BIG-{i},REF-BIG-{i},REF-BIG-{i}\n"));
    }
    let refused = Reply::of(
        app.client
            .post(format!("{server}/v1/projects/{}/claims/bulk", s.project))
            .bearer_auth(&s.provider)
            .header("content-type", "text/csv")
            .body(big),
    )
    .await;
    assert_eq!(refused.assert_problem(422)["rejected"], 60_000);
    assert!(!refused.body.to_string().contains("REF-BIG"));

    // Numbers in the wrong column (quantity, age) and references used as JSON keys, one with
    // a line break that would forge a log line.
    let ndjson = concat!(
        r#"{"participant_ref":"N1","outcome_code":"a","achieved_on":"2021-01-01","quantity":"864213579"}"#,
        "\n",
        r#"{"REF-KEY-1":{"participant_ref":"N2"}}"#,
        "\n",
        r#"{"participant_ref":"N3","outcome_code":"a","achieved_on":"2021-01-01","\nFORGED-LOG-LINE":1}"#,
        "\n",
        r#"{"participant_ref":"N4","outcome_code":"a","achieved_on":"2021-01-01","age_at_start":"24681357"}"#,
        "\n",
    );
    let lines = Reply::of(
        app.client
            .post(format!(
                "{server}/v1/projects/{}/claims/bulk?mode=accept_valid",
                s.project
            ))
            .bearer_auth(&s.provider)
            .header("content-type", "application/x-ndjson")
            .header("idempotency-key", "ndjson-1")
            .body(ndjson),
    )
    .await;
    assert_eq!(lines.assert_status(201)["rejected"], 4, "{}", lines.body);
    let unknown_key = Reply::of(
        app.client
            .post(format!("{server}/v1/projects/{}/claims", s.project))
            .bearer_auth(&s.provider)
            .json(&json!({"participant_ref": "K1", "outcome_code": "a", "achieved_on": "2021-01-01", "REF-KEY-2": 1})),
    )
    .await;
    unknown_key.assert_problem(422);
    for reply in [&lines, &unknown_key] {
        let text = reply.body.to_string();
        for secret in ["864213579", "24681357", "REF-KEY", "FORGED"] {
            assert!(!text.contains(secret), "{secret} echoed: {text}");
        }
    }
    // A URL far longer than any of cofund's, and one with a C1 control character.
    let long = app
        .get(
            &format!("/v1/claims/{}", "C".repeat(20_000)),
            Some(&app.admin()),
        )
        .await;
    long.assert_problem(414);
    let long = Reply::of(
        app.client
            .get(format!("{server}/v1/claims/REF-URL-{}", "C".repeat(5_000)))
            .bearer_auth(&s.provider),
    )
    .await;
    long.assert_problem(414);
    app.get("/v1/claims/clm_%C2%85", Some(&app.admin()))
        .await
        .assert_problem(400);
    // Headers the request log records are bounded too.
    let agent = Reply::of(
        app.client
            .get(format!("{server}/v1/projects"))
            .header("user-agent", format!("REF-AGENT-{}", "A".repeat(1_000))),
    )
    .await;
    agent.assert_problem(400);

    let stored = everything_stored(&app);
    for secret in ["864213579", "24681357", "REF-KEY"] {
        assert!(!stored.contains(secret), "{secret} stored");
    }
    for secret in ["987654321", "REF-SHIFT", "REF-BIG", "OK-1"] {
        assert!(!stored.contains(secret), "{secret} stored");
    }
    let log = log.finish();
    for secret in [
        "987654321",
        "REF-SHIFT",
        "REF-BIG",
        "OK-1",
        "864213579",
        "24681357",
        "REF-KEY",
        "FORGED",
        "REF-URL",
        "REF-AGENT",
    ] {
        assert!(!log.contains(secret), "{secret} logged");
    }
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 4096, "a log line of {longest} bytes");
    assert!(
        log.contains("bulk claims checked"),
        "the log was captured: {log}"
    );
}

#[tokio::test]
async fn an_idempotency_key_answers_only_the_request_it_was_used_for() {
    let app = spawn_app().await;
    let card = json!([{"code": "a", "name": "a", "unit": "achievement", "price": gbp("10.00")}]);
    let s = small(&app, "GBP", "2020-01-01", card.clone()).await;
    // A second project of the same provider.
    let provider_org = app
        .get("/v1/projects", Some(&s.provider))
        .await
        .assert_status(200)["items"][0]["provider_organisation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let council = app.org("Other council", "local_authority", &[]).await;
    let second = app
        .post(
            "/v1/projects",
            Some(&app.admin()),
            &json!({"name": "Second", "provider_organisation_id": provider_org,
                    "service_start": "2020-01-01", "service_end": "2026-06-30",
                    "payers": [{"organisation_id": council, "role": "local_commissioner", "max_commitment": gbp("100.00")}],
                    "outcomes": card}),
        )
        .await;
    let second = second.assert_status(201)["id"].as_str().unwrap().to_owned();
    let claim = json!({"participant_ref": "I1", "outcome_code": "a", "achieved_on": "2021-01-01"});
    let key = [("idempotency-key", "march-return-1")];
    let first = app
        .post_with(
            &format!("/v1/projects/{}/claims", s.project),
            Some(&s.provider),
            &claim,
            &key,
        )
        .await;
    let first_id = first.assert_status(201)["id"].clone();
    // The same key and body to another project is another request: refused, nothing stored.
    app.post_with(
        &format!("/v1/projects/{second}/claims"),
        Some(&s.provider),
        &claim,
        &key,
    )
    .await
    .assert_invalid_field("Idempotency-Key");
    // A colleague of the same organisation retrying the same request gets the first answer.
    let colleague = app.token_for(Role::Provider, Some(&provider_org), "colleague");
    let again = app
        .post_with(
            &format!("/v1/projects/{}/claims", s.project),
            Some(&colleague),
            &claim,
            &key,
        )
        .await;
    assert_eq!(again.assert_status(201)["id"], first_id);
    assert_eq!(app.count("claims"), 1);
}

#[tokio::test]
async fn concurrent_retries_with_one_key_all_get_the_first_answer() {
    let app = spawn_app().await;
    let card = json!([{"code": "a", "name": "a", "unit": "achievement", "price": gbp("10.00")}]);
    let s = small(&app, "GBP", "2020-01-01", card).await;
    let second = app.second_server().await;
    let claim = json!({"participant_ref": "R1", "outcome_code": "a", "achieved_on": "2021-01-01"});
    let mut requests = Vec::new();
    for i in 0..10 {
        let base = if i % 2 == 0 {
            app.address.clone()
        } else {
            second.clone()
        };
        let request = app
            .client
            .post(format!("{base}/v1/projects/{}/claims", s.project))
            .bearer_auth(&s.provider)
            .header("idempotency-key", "one-key")
            .json(&claim);
        requests.push(tokio::spawn(Reply::of(request)));
    }
    let mut ids = Vec::new();
    for request in requests {
        let reply = request.await.unwrap();
        ids.push(reply.assert_status(201)["id"].clone());
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    assert_eq!(app.count("claims"), 1);
}

#[tokio::test]
async fn a_phase_schedule_covers_every_payer_and_the_provider_never_pays() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    let mut body = project_body(&p);
    body["fund_id"] = Value::Null;
    // A's phase runs to the end of 2021, B's only to June: from July B would pay nothing.
    body["payers"] = json!([
        {"organisation_id": p.council_a, "role": "local_commissioner", "max_commitment": gbp("100.00"), "share": "0.5",
         "phases": [{"from": "2021-01-01", "to": "2021-12-31", "share": "0.5"}]},
        {"organisation_id": p.council_b, "role": "co_commissioner", "max_commitment": gbp("100.00"), "share": "0.5",
         "phases": [{"from": "2021-01-01", "to": "2021-06-30", "share": "0.5"}]},
    ]);
    let refused = app.post("/v1/projects", Some(&app.admin()), &body).await;
    refused.assert_invalid_field("payers");
    assert!(
        refused.body.to_string().contains("2021-07-01"),
        "{}",
        refused.body
    );

    // An organisation that delivers the project cannot also pay for (and so decide) it.
    let both = app.org("Both", "other", &[]).await;
    let mut body = project_body(&p);
    body["fund_id"] = Value::Null;
    body["provider_organisation_id"] = json!(both);
    body["payers"] = json!([
        {"organisation_id": both, "role": "local_commissioner", "max_commitment": gbp("100.00"), "lead": true},
        {"organisation_id": p.council_b, "role": "co_commissioner", "max_commitment": gbp("900.00")},
    ]);
    app.post("/v1/projects", Some(&app.admin()), &body)
        .await
        .assert_invalid_field("payers[0].organisation_id");
    assert_eq!(app.count("projects"), 0);
}

#[tokio::test]
async fn an_upload_of_another_project_verifies_nothing_and_names_nothing() {
    let app = spawn_app().await;
    let card = json!([{"code": "a", "name": "a", "unit": "achievement", "price": gbp("10.00")}]);
    let first = small(&app, "GBP", "2020-01-01", card.clone()).await;
    let second = small(&app, "GBP", "2020-01-01", card).await;
    let csv = "participant_ref,outcome_code,achieved_on\nU1,a,2021-01-01\n";
    let upload = Reply::of(
        app.client
            .post(app.url(&format!("/v1/projects/{}/claims/bulk", second.project)))
            .bearer_auth(&second.provider)
            .header("content-type", "text/csv")
            .body(csv),
    )
    .await;
    let upload_id = upload.assert_status(201)["upload_id"].clone();
    let path = format!("/v1/projects/{}/claims/verify", first.project);
    let report = app
        .post(
            &path,
            Some(&first.validator),
            &json!({"upload_id": upload_id}),
        )
        .await;
    let report = report.assert_status(200);
    assert_eq!(report["requested"], 0, "{report}");
    assert_eq!(report["results"], json!([]));
}
