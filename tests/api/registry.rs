//! Organisations, funds and projects: created, read back, listed, and every validation rule
//! refusing bad input without writing anything.

use serde_json::{json, Value};

use crate::helpers::*;
use cofund::api::auth::Role;

#[tokio::test]
async fn organisations_are_created_read_and_listed() {
    let app = spawn_app().await;
    let admin = app.admin();
    let created = app
        .post(
            "/v1/organisations",
            Some(&admin),
            &json!({"name": "Worcestershire County Council", "kind": "local_authority",
                    "identifier": "GB-LAE-WOC", "area_codes": ["E10000034"],
                    "billing_emails": ["invoices@example.gov.uk"]}),
        )
        .await;
    let org = created.assert_status(201).clone();
    assert_eq!(org["kind"], "local_authority");
    assert_eq!(org["identifier"], "GB-LAE-WOC");
    assert_eq!(org["area_codes"], json!(["E10000034"]));
    let id = org["id"].as_str().unwrap();

    let read = app
        .get(&format!("/v1/organisations/{id}"), Some(&admin))
        .await;
    assert_eq!(
        read.assert_status(200)["billing_emails"],
        json!(["invoices@example.gov.uk"])
    );

    // Billing contacts are personal data: another organisation does not see them.
    let someone_else = app.org("Someone else", "provider", &[]).await;
    let other = app.token(Role::Provider, Some(&someone_else));
    let read = app
        .get(&format!("/v1/organisations/{id}"), Some(&other))
        .await;
    assert!(read.assert_status(200).get("billing_emails").is_none());
    // The organisation itself does.
    let own = app.token(Role::Commissioner, Some(id));
    let read = app
        .get(&format!("/v1/organisations/{id}"), Some(&own))
        .await;
    assert_eq!(
        read.assert_status(200)["billing_emails"],
        json!(["invoices@example.gov.uk"])
    );

    let missing = app.get("/v1/organisations/org_nope", Some(&admin)).await;
    missing.assert_problem(404);
}

#[tokio::test]
async fn lists_are_paginated_with_a_cursor() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.org(&format!("Council {i}"), "local_authority", &[])
            .await;
    }
    let admin = app.admin();
    let first = app.get("/v1/organisations?limit=2", Some(&admin)).await;
    let first = first.assert_status(200);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let mut seen: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect();
    let mut cursor = first["next_cursor"].as_str().unwrap().to_owned();
    loop {
        let page = app
            .get(
                &format!("/v1/organisations?limit=2&cursor={cursor}"),
                Some(&admin),
            )
            .await;
        let page = page.assert_status(200).clone();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["name"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let expected: Vec<String> = (0..5).map(|i| format!("Council {i}")).collect();
    assert_eq!(seen, expected, "every organisation once, in creation order");
    app.get("/v1/organisations?limit=0", Some(&admin))
        .await
        .assert_invalid_field("limit");
}

#[tokio::test]
async fn duplicate_or_malformed_identifiers_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin();
    let body = json!({"name": "Skill Mill", "kind": "provider", "identifier": "GB-COH-09506232"});
    app.post("/v1/organisations", Some(&admin), &body)
        .await
        .assert_status(201);
    app.post("/v1/organisations", Some(&admin), &body)
        .await
        .assert_problem(409);
    let bad = json!({"name": "X", "kind": "provider", "identifier": "not an org id"});
    app.post("/v1/organisations", Some(&admin), &bad)
        .await
        .assert_invalid_field("identifier");
    let bad_kind = json!({"name": "X", "kind": "charity"});
    app.post("/v1/organisations", Some(&admin), &bad_kind)
        .await
        .assert_invalid_field("kind");
    let bad_email = json!({"name": "X", "kind": "provider", "billing_emails": ["nobody"]});
    app.post("/v1/organisations", Some(&admin), &bad_email)
        .await
        .assert_invalid_field("billing_emails[0]");
    assert_eq!(app.count("organisations"), 1);
}

#[tokio::test]
async fn funds_are_created_with_their_budget_and_refuse_bad_input() {
    let app = spawn_app().await;
    let admin = app.admin();
    let dcms = app.org("DCMS", "central_fund", &[]).await;
    let council = app.org("Council", "local_authority", &[]).await;
    let fund = json!({"name": "Life Chances Fund", "owner_organisation_id": dcms,
                      "budget": gbp("80000000.00"), "service_start": "2016-07-01", "service_end": "2025-06-30"});
    let created = app.post("/v1/funds", Some(&admin), &fund).await;
    let created = created.assert_status(201).clone();
    assert_eq!(created["budget"], gbp("80000000.00"));
    assert_eq!(created["committed"], gbp("0.00"));
    let read = app
        .get(
            &format!("/v1/funds/{}", created["id"].as_str().unwrap()),
            Some(&admin),
        )
        .await;
    assert_eq!(read.assert_status(200)["name"], "Life Chances Fund");

    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"budget": {"amount": "10.001", "currency": "GBP"}}),
            "budget.amount",
        ),
        (
            json!({"budget": {"amount": "10", "currency": "XYZ"}}),
            "budget.currency",
        ),
        (
            json!({"budget": {"amount": 10, "currency": "GBP"}}),
            "budget.amount",
        ),
        (json!({"budget": gbp("0")}), "budget.amount"),
        (json!({"service_end": "2015-01-01"}), "service_end"),
        (json!({"service_end": "31/12/2025"}), "service_end"),
        (
            json!({"owner_organisation_id": council}),
            "owner_organisation_id",
        ),
        (
            json!({"owner_organisation_id": "org_missing"}),
            "owner_organisation_id",
        ),
    ];
    for (change, field) in cases {
        let mut body = fund.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        app.post("/v1/funds", Some(&admin), &body)
            .await
            .assert_invalid_field(field);
    }
    assert_eq!(app.count("funds"), 1);
}

#[tokio::test]
async fn a_project_is_created_with_payers_and_rate_card_and_read_back() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    let created = app
        .post("/v1/projects", Some(&app.admin()), &project_body(&p))
        .await;
    let project = created.assert_status(201).clone();
    assert_eq!(project["currency"], "GBP");
    assert_eq!(project["cap_policy"], "shortfall");
    assert_eq!(project["settlement_route"], "direct");
    assert_eq!(project["published"], false);
    let payers = project["payers"].as_array().unwrap();
    assert_eq!(payers.len(), 3);
    assert_eq!(payers[0]["organisation_id"], p.central.as_str());
    assert_eq!(payers[0]["share_basis"], "pro_rata");
    assert_eq!(payers[1]["max_commitment"], gbp("200000.00"));
    let outcomes = project["outcomes"].as_array().unwrap();
    assert_eq!(
        outcomes[1]["requires"],
        json!({"outcome_code": "emp_13w", "min_days_after": 91})
    );
    assert_eq!(outcomes[0]["max_claims_per_participant"], 1);

    let id = project["id"].as_str().unwrap();
    let read = app
        .get(&format!("/v1/projects/{id}"), Some(&app.admin()))
        .await;
    assert_eq!(read.assert_status(200), &project);

    let fund = app
        .get(&format!("/v1/funds/{}", p.fund), Some(&app.admin()))
        .await;
    assert_eq!(fund.assert_status(200)["committed"], gbp("100000.00"));
    assert_eq!(fund.body["uncommitted"], gbp("900000.00"));
}

#[tokio::test]
async fn fixed_shares_phases_and_home_areas_are_kept() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    let mut body = project_body(&p);
    body["payers"] = json!([
        {"organisation_id": p.central, "role": "central_top_up", "max_commitment": gbp("100000.00"), "share": "0.3",
         "phases": [{"from": "2021-01-01", "to": "2021-06-30", "share": "0.7"}]},
        {"organisation_id": p.council_a, "role": "local_commissioner", "max_commitment": gbp("200000.00"), "share": "0.35",
         "home_area_codes": ["E10000034"], "lead": true,
         "phases": [{"from": "2021-01-01", "to": "2021-06-30", "share": "0.15"}]},
        {"organisation_id": p.council_b, "role": "local_commissioner", "max_commitment": gbp("200000.00"), "share": "0.35",
         "home_area_codes": ["E08000025"],
         "phases": [{"from": "2021-01-01", "to": "2021-06-30", "share": "0.15"}]},
    ]);
    body["settlement_route"] = json!("via_commissioner");
    body["cap_policy"] = json!("reallocate");
    let project = app.post("/v1/projects", Some(&app.admin()), &body).await;
    let project = project.assert_status(201);
    assert_eq!(project["payers"][0]["share"], "0.3");
    assert_eq!(project["payers"][0]["share_basis"], "fixed");
    assert_eq!(
        project["payers"][0]["phases"],
        json!([{"from": "2021-01-01", "to": "2021-06-30", "share": "0.7"}])
    );
    assert_eq!(
        project["payers"][1]["home_area_codes"],
        json!(["E10000034"])
    );
    assert_eq!(project["payers"][1]["lead"], true);
    assert_eq!(project["settlement_route"], "via_commissioner");
    assert_eq!(project["cap_policy"], "reallocate");
}

/// Applies `change` to a valid project and expects a 422 naming `field`, with nothing written.
async fn refused(app: &TestApp, p: &Parties, change: impl FnOnce(&mut Value), field: &str) {
    let mut body = project_body(p);
    change(&mut body);
    let before = (
        app.count("projects"),
        app.count("project_payers"),
        app.count("outcome_metrics"),
    );
    app.post("/v1/projects", Some(&app.admin()), &body)
        .await
        .assert_invalid_field(field);
    let after = (
        app.count("projects"),
        app.count("project_payers"),
        app.count("outcome_metrics"),
    );
    assert_eq!(before, after, "a refused project wrote rows");
}

#[tokio::test]
async fn shares_must_sum_to_exactly_one() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    fn shares(s: [&'static str; 3]) -> impl FnOnce(&mut Value) {
        move |b: &mut Value| {
            for (i, share) in s.iter().enumerate() {
                b["payers"][i]["share"] = json!(share);
            }
        }
    }
    refused(
        &app,
        &p,
        shares(["0.333333", "0.333333", "0.333333"]),
        "payers",
    )
    .await;
    refused(&app, &p, shares(["0.5", "0.5", "0.0001"]), "payers").await;
    refused(
        &app,
        &p,
        |b| b["payers"][0]["share"] = json!("0.5"),
        "payers",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["payers"][0]["share"] = json!("1.5"),
        "payers[0].share",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["payers"][0]["share"] = json!("abc"),
        "payers[0].share",
    )
    .await;
    // Six-place thirds that do sum to one are accepted.
    let mut body = project_body(&p);
    shares(["0.333334", "0.333333", "0.333333"])(&mut body);
    app.post("/v1/projects", Some(&app.admin()), &body)
        .await
        .assert_status(201);
}

#[tokio::test]
async fn a_fund_never_commits_more_than_its_budget() {
    let app = spawn_app().await;
    let p = parties(&app).await; // budget 1,000,000.00
    let mut body = project_body(&p);
    body["payers"][0]["max_commitment"] = gbp("600000.00");
    app.post("/v1/projects", Some(&app.admin()), &body)
        .await
        .assert_status(201);
    // 600,000 + 400,000.01 is a penny over.
    refused(
        &app,
        &p,
        |b| b["payers"][0]["max_commitment"] = gbp("400000.01"),
        "payers",
    )
    .await;
    body["payers"][0]["max_commitment"] = gbp("400000.00");
    app.post("/v1/projects", Some(&app.admin()), &body)
        .await
        .assert_status(201);
    let fund = app
        .get(&format!("/v1/funds/{}", p.fund), Some(&app.admin()))
        .await;
    assert_eq!(fund.assert_status(200)["uncommitted"], gbp("0.00"));
}

#[tokio::test]
async fn concurrent_projects_cannot_overcommit_a_fund_together() {
    let app = spawn_app().await;
    let p = parties(&app).await; // budget 1,000,000.00
    let mut body = project_body(&p);
    body["payers"][0]["max_commitment"] = gbp("300000.00");
    let admin = app.admin();
    // Eight projects of 300,000 race for a budget that fits three.
    let requests = (0..8).map(|_| app.post("/v1/projects", Some(&admin), &body));
    let replies = futures_util::future::join_all(requests).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    for reply in replies.iter().filter(|r| r.status != 201) {
        reply.assert_invalid_field("payers");
    }
    assert_eq!(created, 3);
    let fund = app
        .get(&format!("/v1/funds/{}", p.fund), Some(&admin))
        .await;
    assert_eq!(fund.assert_status(200)["committed"], gbp("900000.00"));
}

#[tokio::test]
async fn phases_must_not_overlap_and_must_cover_every_payer() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    refused(
        &app,
        &p,
        |b| {
            for i in 0..3 {
                b["payers"][i]["phases"] = json!([
                    {"from": "2021-01-01", "to": "2021-06-30", "share": if i == 0 { "0.5" } else { "0.25" }},
                    {"from": "2021-06-01", "to": "2021-12-31", "share": if i == 0 { "0.5" } else { "0.25" }},
                ]);
            }
        },
        "payers[0].phases",
    )
    .await;
    refused(
        &app,
        &p,
        |b| {
            b["payers"][0]["phases"] =
                json!([{"from": "2021-01-01", "to": "2021-06-30", "share": "1"}])
        },
        "payers",
    )
    .await;
    refused(
        &app,
        &p,
        |b| {
            for i in 0..3 {
                b["payers"][i]["phases"] =
                    json!([{"from": "2021-01-01", "to": "2021-06-30", "share": "0.3"}]);
            }
        },
        "payers",
    )
    .await;
    refused(
        &app,
        &p,
        |b| {
            b["payers"][0]["phases"] =
                json!([{"from": "2021-06-30", "to": "2021-01-01", "share": "1"}])
        },
        "payers[0].phases[0].to",
    )
    .await;
}

#[tokio::test]
async fn rate_card_rules_are_checked() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    refused(
        &app,
        &p,
        |b| b["outcomes"][1]["code"] = json!("emp_13w"),
        "outcomes[1].code",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["outcomes"][1]["requires"]["outcome_code"] = json!("emp_52w"),
        "outcomes[1].requires.outcome_code",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["outcomes"][0]["requires"] = json!({"outcome_code": "emp_26w"}),
        "outcomes[0].requires",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["outcomes"][0]["unit"] = json!("month"),
        "outcomes[0].unit",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["outcomes"][0]["deadweight"] = json!("1"),
        "outcomes[0].deadweight",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["outcomes"][0]["volume_cap"] = json!(0),
        "outcomes[0].volume_cap",
    )
    .await;
    refused(
        &app,
        &p,
        |b| {
            b["outcomes"][0]["min_age_at_start"] = json!(25);
            b["outcomes"][0]["max_age_at_start"] = json!(18);
        },
        "outcomes[0].max_age_at_start",
    )
    .await;
    refused(&app, &p, |b| b["outcomes"] = json!([]), "outcomes").await;
    refused(
        &app,
        &p,
        |b| b["outcomes"][0]["price"] = gbp("-5.00"),
        "outcomes[0].price.amount",
    )
    .await;
}

#[tokio::test]
async fn dates_currencies_and_parties_are_checked() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    refused(
        &app,
        &p,
        |b| b["service_end"] = json!("2020-12-31"),
        "service_end",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["service_end"] = json!("2031-01-01"),
        "service_end",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["referral_cutoff"] = json!("2024-01-01"),
        "referral_cutoff",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["outcomes"][0]["price"] = json!({"amount": "10.00", "currency": "EUR"}),
        "outcomes[0].price.currency",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["payers"][1]["max_commitment"] = json!({"amount": "10.00", "currency": "gbp"}),
        "payers[1].max_commitment.currency",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["payers"][2]["organisation_id"] = json!(p.council_a),
        "payers[2].organisation_id",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["payers"][1]["organisation_id"] = json!("org_missing"),
        "payers[1].organisation_id",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["provider_organisation_id"] = json!(p.council_a),
        "provider_organisation_id",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["fund_id"] = json!("fund_missing"),
        "fund_id",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["payers"][0]["organisation_id"] = json!(p.council_b),
        "payers[0].organisation_id",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["settlement_route"] = json!("via_commissioner"),
        "payers",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["cap_policy"] = json!("sometimes"),
        "cap_policy",
    )
    .await;
    refused(
        &app,
        &p,
        |b| {
            b["payers"][1]["home_area_codes"] = json!(["E10000034"]);
            b["payers"][2]["home_area_codes"] = json!(["E10000034"]);
        },
        "payers[2].home_area_codes",
    )
    .await;
    refused(
        &app,
        &p,
        |b| b["validator_organisation_ids"] = json!([p.provider]),
        "validator_organisation_ids[0]",
    )
    .await;
    // An unknown field is reported at its parent, without its name: a name the client made
    // up may be anything, a participant reference included.
    refused(&app, &p, |b| b["surprise"] = json!(true), "body").await;
    refused(
        &app,
        &p,
        |b| b["payers"][0]["surprise"] = json!(true),
        "payers[0]",
    )
    .await;
}

#[tokio::test]
async fn each_role_sees_only_its_own_projects() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    let created = app
        .post("/v1/projects", Some(&app.admin()), &project_body(&p))
        .await;
    let id = created.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/projects/{id}");
    let stranger_council = app.org("Council C", "local_authority", &[]).await;
    let other_provider = app.org("Other Provider", "provider", &[]).await;
    let stranger_fund = app.org("Another fund", "central_fund", &[]).await;

    let can = [
        app.token(Role::Commissioner, Some(&p.council_a)),
        app.token(Role::Provider, Some(&p.provider)),
        app.token(Role::Validator, Some(&p.validator)),
        app.token(Role::FundManager, Some(&p.central)),
    ];
    for token in &can {
        app.get(&path, Some(token)).await.assert_status(200);
        let list = app.get("/v1/projects", Some(token)).await;
        assert_eq!(
            list.assert_status(200)["items"].as_array().unwrap().len(),
            1
        );
    }
    let cannot = [
        app.token(Role::Commissioner, Some(&stranger_council)),
        app.token(Role::Provider, Some(&other_provider)),
        app.token(Role::Validator, Some(&p.council_b)),
        app.token(Role::FundManager, Some(&stranger_fund)),
    ];
    for token in &cannot {
        app.get(&path, Some(token)).await.assert_problem(404);
        let list = app.get("/v1/projects", Some(token)).await;
        assert_eq!(
            list.assert_status(200)["items"].as_array().unwrap().len(),
            0
        );
    }
}

#[tokio::test]
async fn a_retried_create_with_the_same_idempotency_key_creates_once() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    let admin = app.admin();
    let body = project_body(&p);
    let key = [("Idempotency-Key", "project-2021-a")];
    let first = app
        .post_with("/v1/projects", Some(&admin), &body, &key)
        .await;
    let second = app
        .post_with("/v1/projects", Some(&admin), &body, &key)
        .await;
    assert_eq!(first.assert_status(201), second.assert_status(201));
    assert_eq!(app.count("projects"), 1);
    let mut changed = body.clone();
    changed["name"] = json!("Another name");
    app.post_with("/v1/projects", Some(&admin), &changed, &key)
        .await
        .assert_invalid_field("Idempotency-Key");
    // Concurrent retries of a new key still create one project.
    let key = [("Idempotency-Key", "project-2021-b")];
    let replies = futures_util::future::join_all(
        (0..6).map(|_| app.post_with("/v1/projects", Some(&admin), &body, &key)),
    )
    .await;
    let ids: std::collections::HashSet<&str> = replies
        .iter()
        .map(|r| r.assert_status(201)["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(app.count("projects"), 2);
}

#[tokio::test]
async fn a_project_draws_top_up_from_several_funds_each_within_its_own_budget() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    let sof_owner = app.org("Cabinet Office", "central_fund", &[]).await;
    let sof = app.fund(&sof_owner, "1000.00").await;
    let with_second_top_up = |second_max: &str, second: Value| {
        let mut body = project_body(&p);
        body["payers"] = json!([
            {"organisation_id": p.central, "role": "central_top_up", "max_commitment": gbp("300.00")},
            second,
            {"organisation_id": p.council_a, "role": "local_commissioner", "max_commitment": gbp("1000.00"), "lead": true},
        ]);
        body["payers"][1]["max_commitment"] = gbp(second_max);
        body
    };
    let top_up = json!({"organisation_id": sof_owner, "role": "central_top_up", "fund_id": sof});

    // A second top-up from a fund it does not own, a fund that does not exist, a fund named
    // by a payer that is not a top-up: each refused, naming the field.
    let mut not_owner = top_up.clone();
    not_owner["fund_id"] = json!(p.fund);
    app.post(
        "/v1/projects",
        Some(&app.admin()),
        &with_second_top_up("100.00", not_owner),
    )
    .await
    .assert_invalid_field("payers[1].organisation_id");
    let mut missing = top_up.clone();
    missing["fund_id"] = json!("fund_none");
    app.post(
        "/v1/projects",
        Some(&app.admin()),
        &with_second_top_up("100.00", missing),
    )
    .await
    .assert_invalid_field("payers[1].fund_id");
    let council_with_fund =
        json!({"organisation_id": p.council_b, "role": "co_commissioner", "fund_id": sof});
    app.post(
        "/v1/projects",
        Some(&app.admin()),
        &with_second_top_up("100.00", council_with_fund),
    )
    .await
    .assert_invalid_field("payers[1].fund_id");
    // Beyond the second fund's own budget (£1,000): refused, whatever the first fund has left.
    app.post(
        "/v1/projects",
        Some(&app.admin()),
        &with_second_top_up("1000.01", top_up.clone()),
    )
    .await
    .assert_invalid_field("payers");
    assert_eq!(app.count("projects"), 0);

    let created = app
        .post(
            "/v1/projects",
            Some(&app.admin()),
            &with_second_top_up("700.00", top_up),
        )
        .await;
    let created = created.assert_status(201);
    assert_eq!(created["payers"][0]["fund_id"], json!(p.fund));
    assert_eq!(created["payers"][1]["fund_id"], json!(sof));
    assert_eq!(created["payers"][2]["fund_id"], Value::Null);
    // A fund manager commits only its own organisation's funds, even as a second top-up.
    let manager = app.token(Role::FundManager, Some(&p.central));
    let mut body = with_second_top_up(
        "1.00",
        json!({"organisation_id": sof_owner, "role": "central_top_up", "fund_id": sof}),
    );
    body["name"] = json!("Another");
    app.post("/v1/projects", Some(&manager), &body)
        .await
        .assert_problem(403);
    // Each fund counts only its own payers' commitments.
    let committed = |fund: &str| {
        let app = &app;
        let path = format!("/v1/funds/{fund}");
        async move {
            let reply = app.get(&path, Some(&app.admin())).await;
            reply.assert_status(200)["committed"]["amount"].clone()
        }
    };
    assert_eq!(committed(&p.fund).await, "300.00");
    assert_eq!(committed(&sof).await, "700.00");
    // A top-up moved behind cofund's back to a fund its organisation does not own is reported.
    app.execute_sql(&format!(
        "UPDATE project_payers SET fund_id = '{}' WHERE organisation_id = '{sof_owner}'",
        p.fund
    ))
    .unwrap();
    let out = app.cofund(&["check"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("which its organisation does not own"));
}

#[tokio::test]
async fn registry_records_are_corrected_by_those_who_keep_them_with_a_history() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    let admin = app.admin();
    let project = app
        .post("/v1/projects", Some(&admin), &project_body(&p))
        .await;
    let project = project.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let council_token = app.token(Role::Commissioner, Some(&p.council_a));
    let org_path = format!("/v1/organisations/{}", p.council_a);

    // An organisation: by an admin only, checked as at registration.
    let correction = json!({"name": "Council A (Worcestershire)", "billing_emails": ["payables@council-a.example"]});
    app.patch(&org_path, Some(&council_token), &correction)
        .await
        .assert_problem(403);
    let corrected = app.patch(&org_path, Some(&admin), &correction).await;
    let changes = corrected.assert_status(200)["changes"]
        .as_array()
        .unwrap()
        .clone();
    let fields: Vec<&str> = changes
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "billing_emails"]);
    assert_eq!(changes[0]["old_value"], "Council A");
    assert_eq!(changes[0]["new_value"], "Council A (Worcestershire)");
    assert!(changes[0]["changed_at"].is_string() && changes[0]["changed_by"].is_string());
    // Addresses are personal data: the history says they changed, not what they were.
    assert_eq!(
        (&changes[1]["old_value"], &changes[1]["new_value"]),
        (&Value::Null, &Value::Null)
    );
    let read = app.get(&org_path, Some(&admin)).await;
    let read = read.assert_status(200);
    assert_eq!(read["name"], "Council A (Worcestershire)");
    assert_eq!(
        read["billing_emails"],
        json!(["payables@council-a.example"])
    );
    // The same again changes and records nothing; bad fields change nothing.
    let again = app.patch(&org_path, Some(&admin), &correction).await;
    assert_eq!(
        again.assert_status(200)["changes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    app.patch(&org_path, Some(&admin), &json!({}))
        .await
        .assert_invalid_field("body");
    app.patch(
        &org_path,
        Some(&admin),
        &json!({"name": " ", "billing_emails": ["nobody"]}),
    )
    .await
    .assert_invalid_field("billing_emails[0]");
    app.patch(&org_path, Some(&admin), &json!({"kind": "provider"}))
        .await
        .assert_invalid_field("body");
    app.post(
        "/v1/organisations",
        Some(&admin),
        &json!({"name": "Other", "kind": "provider", "identifier": "GB-COH-00000001"}),
    )
    .await
    .assert_status(201);
    app.patch(
        &org_path,
        Some(&admin),
        &json!({"identifier": "GB-COH-00000001"}),
    )
    .await
    .assert_problem(409);
    app.patch("/v1/organisations/org_nothing", Some(&admin), &correction)
        .await
        .assert_problem(404);
    // The organisation reads its own history; another does not.
    let own = app
        .get(&format!("{org_path}/history"), Some(&council_token))
        .await;
    let own = own.assert_status(200)["changes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(own.len(), 2);
    // Who at another organisation (here an admin) made a change is theirs to know.
    assert_eq!(own[0]["changed_by"], Value::Null);
    let other = app.token(Role::Commissioner, Some(&p.council_b));
    app.get(&format!("{org_path}/history"), Some(&other))
        .await
        .assert_problem(403);

    // A fund: by its own managers, not another fund's.
    let fund_path = format!("/v1/funds/{}", p.fund);
    let manager = app.token(Role::FundManager, Some(&p.central));
    let elsewhere = app.org("Another Fund", "central_fund", &[]).await;
    let stranger = app.token(Role::FundManager, Some(&elsewhere));
    let rename = json!({"name": "Life Chances Fund"});
    app.patch(&fund_path, Some(&stranger), &rename)
        .await
        .assert_problem(403);
    let renamed = app.patch(&fund_path, Some(&manager), &rename).await;
    let changes = &renamed.assert_status(200)["changes"];
    assert_eq!(changes[0]["changed_by_organisation_id"], p.central.as_str());
    let fund = app.get(&fund_path, Some(&admin)).await;
    assert_eq!(fund.assert_status(200)["name"], "Life Chances Fund");
    app.patch(&fund_path, Some(&manager), &json!({"budget": gbp("1.00")}))
        .await
        .assert_invalid_field("body");

    // A project: by the managers of its fund; its open-data flag too.
    let project_path = format!("/v1/projects/{project}");
    app.patch(
        &project_path,
        Some(&council_token),
        &json!({"published": true}),
    )
    .await
    .assert_problem(403);
    let published = app
        .patch(&project_path, Some(&manager), &json!({"published": true}))
        .await;
    let change = &published.assert_status(200)["changes"][0];
    assert_eq!(
        (&change["field"], &change["old_value"], &change["new_value"]),
        (&json!("published"), &json!("false"), &json!("true"))
    );
    let read = app.get(&project_path, Some(&admin)).await;
    assert_eq!(read.assert_status(200)["published"], true);
    let history = app
        .get(&format!("{project_path}/history"), Some(&admin))
        .await;
    assert_eq!(
        history.assert_status(200)["changes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.get(&format!("{project_path}/history"), Some(&council_token))
        .await
        .assert_problem(403);
}

/// A 404 does not repeat the id asked for: the caller's text is not echoed back.
#[tokio::test]
async fn a_missing_record_is_not_named_in_its_404() {
    let app = spawn_app().await;
    let admin = app.admin();
    let asked = "fund_<b>not-here</b>";
    for reply in [
        app.get(&format!("/v1/funds/{asked}/history"), Some(&admin))
            .await,
        app.patch(
            &format!("/v1/funds/{asked}"),
            Some(&admin),
            &serde_json::json!({"name": "Renamed"}),
        )
        .await,
        app.get(&format!("/v1/organisations/{asked}/history"), Some(&admin))
            .await,
        app.patch(
            &format!("/v1/organisations/{asked}"),
            Some(&admin),
            &serde_json::json!({"name": "Renamed"}),
        )
        .await,
    ] {
        let problem = reply.assert_problem(404);
        assert!(
            !problem.to_string().contains("not-here"),
            "the 404 repeats the id: {problem}"
        );
    }
}
