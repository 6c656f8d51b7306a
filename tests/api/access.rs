//! The access matrix: every endpoint × every role × its own and a foreign organisation,
//! against the rules stated once in `src/domain/access.rs`. Settlement and open data add their
//! endpoints as rows here.

use serde_json::{json, Value};

use crate::helpers::*;
use cofund::api::auth::Role;

/// The callers, in the order of every row's expectations.
const ACTORS: [&str; 11] = [
    "admin",
    "fund manager of the fund's owner",
    "fund manager of a payer that does not own the fund",
    "fund manager of another fund",
    "lead commissioner",
    "co-commissioner",
    "commissioner of another council",
    "the project's provider",
    "another provider",
    "the project's validator",
    "another validator",
];

struct World {
    project: String,
    fund_owner: String,
    fund: String,
    provider_token: String,
    validator_token: String,
    tokens: Vec<String>,
    /// A verified claim of a participant from the lead commissioner's area.
    verified: String,
}

async fn world(app: &TestApp) -> World {
    let fund_owner = app.org("DCMS", "central_fund", &[]).await;
    let payer_fund = app.org("National Lottery", "central_fund", &[]).await;
    let other_fund = app.org("Other fund", "central_fund", &[]).await;
    let lead = app.org("Durham", "local_authority", &["E1"]).await;
    let co = app.org("Newcastle", "local_authority", &["E2"]).await;
    let stranger = app.org("Leeds", "local_authority", &[]).await;
    let provider = app.org("Skill Mill", "provider", &[]).await;
    let other_provider = app.org("Other provider", "provider", &[]).await;
    let validator = app.org("Validator", "validator", &[]).await;
    let other_validator = app.org("Other validator", "validator", &[]).await;
    let fund = app.fund(&fund_owner, "1000000.00").await;
    let body = json!({
        "name": "Skill Mill", "fund_id": fund, "provider_organisation_id": provider,
        "service_start": "2020-01-01", "service_end": "2025-12-31",
        "payers": [
            {"organisation_id": fund_owner, "role": "central_top_up", "max_commitment": gbp("40000.00")},
            {"organisation_id": payer_fund, "role": "co_commissioner", "max_commitment": gbp("10000.00")},
            {"organisation_id": lead, "role": "local_commissioner", "max_commitment": gbp("25000.00"), "home_area_codes": ["E1"], "lead": true},
            {"organisation_id": co, "role": "co_commissioner", "max_commitment": gbp("25000.00"), "home_area_codes": ["E2"]},
        ],
        "outcomes": [{"code": "out", "name": "Outcome", "price": gbp("1000.00"), "unit": "achievement"}],
        "validator_organisation_ids": [validator],
    });
    let project = app.post("/v1/projects", Some(&app.admin()), &body).await;
    let project = project.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let orgs = [
        None,
        Some(&fund_owner),
        Some(&payer_fund),
        Some(&other_fund),
        Some(&lead),
        Some(&co),
        Some(&stranger),
        Some(&provider),
        Some(&other_provider),
        Some(&validator),
        Some(&other_validator),
    ];
    let roles = [
        Role::Admin,
        Role::FundManager,
        Role::FundManager,
        Role::FundManager,
        Role::Commissioner,
        Role::Commissioner,
        Role::Commissioner,
        Role::Provider,
        Role::Provider,
        Role::Validator,
        Role::Validator,
    ];
    let tokens = roles
        .iter()
        .zip(orgs)
        .map(|(role, org)| app.token_for(*role, org.map(String::as_str), "decider"))
        .collect();
    let mut w = World {
        provider_token: app.token_for(Role::Provider, Some(&provider), "clerk"),
        validator_token: app.token_for(Role::Validator, Some(&validator), "checker"),
        project,
        fund_owner,
        fund,
        tokens,
        verified: String::new(),
    };
    w.verified = w.claim(app, "E1").await;
    let path = format!("/v1/claims/{}/verify", w.verified);
    app.post(&path, Some(&w.validator_token), &json!({}))
        .await
        .assert_status(200);
    w
}

impl World {
    /// A new submitted claim of a participant from `area`.
    async fn claim(&self, app: &TestApp, area: &str) -> String {
        let reference = uuid::Uuid::new_v4().to_string();
        let body = json!({"participant_ref": reference, "outcome_code": "out",
                          "achieved_on": "2021-01-01", "home_area": area});
        let reply = app
            .post(
                &format!("/v1/projects/{}/claims", self.project),
                Some(&self.provider_token),
                &body,
            )
            .await;
        reply.assert_status(201)["id"].as_str().unwrap().to_owned()
    }
}

/// Expectations in [`ACTORS`] order, written as a row of numbers.
fn row(expected: &str) -> Vec<u16> {
    let codes: Vec<u16> = expected
        .split_whitespace()
        .map(|c| c.parse().unwrap())
        .collect();
    assert_eq!(codes.len(), ACTORS.len(), "a row names every actor");
    codes
}

#[track_caller]
fn check(endpoint: &str, actor: usize, reply: &Reply, expected: u16) {
    assert_eq!(
        reply.status, expected,
        "{endpoint} by {}: {}",
        ACTORS[actor], reply.body
    );
}

/// The distinct payer organisations whose money a list of allocations shows.
fn payer_orgs(allocations: &Value) -> usize {
    let mut orgs: Vec<&str> = allocations
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["payer_organisation_id"].as_str().unwrap())
        .collect();
    orgs.sort_unstable();
    orgs.dedup();
    orgs.len()
}

#[tokio::test]
async fn every_endpoint_by_every_role_for_its_own_and_a_foreign_organisation() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let sees = row("200 200 200 404 200 200 404 200 404 200 404");
    // Whose money each actor sees: 4 payers' totals (3 of whom the verified claim charges),
    // or only its own organisation's.
    let payers_with_totals = row("4 4 1 0 1 1 0 4 0 4 0");
    let claim_payers = row("3 3 1 0 1 0 0 3 0 3 0");
    // A claim's value (gross, payable, adjustments) only to those who see every payer's
    // money or pay part of it: the co-commissioner pays nothing of the lead's area's claim.
    let sees_value = row("1 1 1 0 1 0 0 1 0 1 0");
    let listed = row("1 1 1 0 1 1 0 1 0 1 0");

    for (i, token) in w.tokens.iter().enumerate() {
        let t = Some(token.as_str());
        let project = app.get(&format!("/v1/projects/{}", w.project), t).await;
        check("GET /v1/projects/{id}", i, &project, sees[i]);
        if project.status == 200 {
            let with_totals = project.body["payers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p.get("totals").is_some())
                .count();
            assert_eq!(
                with_totals,
                usize::from(payers_with_totals[i]),
                "totals seen by {}",
                ACTORS[i]
            );
        }
        let list = app.get("/v1/projects", t).await;
        check("GET /v1/projects", i, &list, 200);
        assert_eq!(
            list.body["items"].as_array().unwrap().len(),
            usize::from(listed[i]),
            "{}",
            ACTORS[i]
        );

        let claims = app
            .get(&format!("/v1/projects/{}/claims", w.project), t)
            .await;
        check("GET /v1/projects/{id}/claims", i, &claims, sees[i]);
        let claim = app.get(&format!("/v1/claims/{}", w.verified), t).await;
        check("GET /v1/claims/{id}", i, &claim, sees[i]);
        let allocations = app
            .get(&format!("/v1/projects/{}/allocations", w.project), t)
            .await;
        check(
            "GET /v1/projects/{id}/allocations",
            i,
            &allocations,
            sees[i],
        );
        if claim.status == 200 {
            assert_eq!(
                claim.body["payable"].is_string() || claim.body["payable"].is_object(),
                sees_value[i] == 1,
                "claim value seen by {}: {}",
                ACTORS[i],
                claim.body
            );
            assert_eq!(
                payer_orgs(&claim.body["allocations"]),
                usize::from(claim_payers[i]),
                "claim lines seen by {}",
                ACTORS[i]
            );
            assert_eq!(
                payer_orgs(&allocations.body["items"]),
                usize::from(claim_payers[i]),
                "ledger lines seen by {}",
                ACTORS[i]
            );
        }

        // The registry is public to every authenticated caller.
        check(
            "GET /v1/organisations",
            i,
            &app.get("/v1/organisations", t).await,
            200,
        );
        check(
            "GET /v1/organisations/{id}",
            i,
            &app.get(&format!("/v1/organisations/{}", w.fund_owner), t)
                .await,
            200,
        );
        check("GET /v1/funds", i, &app.get("/v1/funds", t).await, 200);
        check(
            "GET /v1/funds/{id}",
            i,
            &app.get(&format!("/v1/funds/{}", w.fund), t).await,
            200,
        );
    }

    let submit = row("403 403 403 403 403 403 403 201 404 403 403");
    let decide_own_area = row("200 403 403 403 200 403 404 403 403 200 404");
    let decide_other_area = row("200 403 403 403 403 403 404 403 403 200 404");
    for (i, token) in w.tokens.iter().enumerate() {
        let t = Some(token.as_str());
        let claim = json!({"participant_ref": format!("S{i}"), "outcome_code": "out", "achieved_on": "2021-01-01", "home_area": "E1"});
        let submitted = app
            .post(&format!("/v1/projects/{}/claims", w.project), t, &claim)
            .await;
        check("POST /v1/projects/{id}/claims", i, &submitted, submit[i]);

        for (action, body) in [
            ("verify", json!({})),
            ("reject", json!({"reason": "no evidence"})),
        ] {
            for (area, expected) in [("E1", &decide_own_area), ("E2", &decide_other_area)] {
                let claim = w.claim(&app, area).await;
                let reply = app
                    .post(&format!("/v1/claims/{claim}/{action}"), t, &body)
                    .await;
                let endpoint = format!("POST /v1/claims/{{id}}/{action} (home area {area})");
                check(&endpoint, i, &reply, expected[i]);
            }
        }

        let to_revoke = w.claim(&app, "E1").await;
        app.post(
            &format!("/v1/claims/{to_revoke}/verify"),
            Some(&w.validator_token),
            &json!({}),
        )
        .await
        .assert_status(200);
        let revoke = app
            .post(
                &format!("/v1/claims/{to_revoke}/revoke"),
                t,
                &json!({"reason": "ineligible"}),
            )
            .await;
        check(
            "POST /v1/claims/{id}/revoke",
            i,
            &revoke,
            decide_own_area[i],
        );

        let batch = w.claim(&app, "E1").await;
        let other = w.claim(&app, "E2").await;
        let bulk = app
            .post(
                &format!("/v1/projects/{}/claims/verify", w.project),
                t,
                &json!({"claim_ids": [batch, other]}),
            )
            .await;
        check(
            "POST /v1/projects/{id}/claims/verify",
            i,
            &bulk,
            decide_own_area[i],
        );
        if bulk.status == 200 {
            // Within a batch, each claim is decided by the same rule as alone.
            let results = bulk.body["results"].as_array().unwrap();
            assert_eq!(results[0]["verified"], true);
            assert_eq!(
                results[1]["verified"],
                decide_other_area[i] == 200,
                "{}: {}",
                ACTORS[i],
                bulk.body
            );
        }
    }

    let admin_only = row("201 403 403 403 403 403 403 403 403 403 403");
    let fund_creators = row("201 201 403 403 403 403 403 403 403 403 403");
    for (i, token) in w.tokens.iter().enumerate() {
        let t = Some(token.as_str());
        let org = app
            .post(
                "/v1/organisations",
                t,
                &json!({"name": format!("New {i}"), "kind": "provider"}),
            )
            .await;
        check("POST /v1/organisations", i, &org, admin_only[i]);
        let fund = json!({"name": format!("Fund {i}"), "owner_organisation_id": w.fund_owner, "budget": gbp("10.00"),
                          "service_start": "2020-01-01", "service_end": "2030-01-01"});
        check(
            "POST /v1/funds",
            i,
            &app.post("/v1/funds", t, &fund).await,
            fund_creators[i],
        );
    }

    // Members and keys: an admin manages every organisation's members; a token that names
    // no member (every one of these) neither manages members nor makes keys. What members'
    // own tokens may do is walked in `members.rs`.
    let member_managers = row("200 403 403 403 403 403 403 403 403 403 403");
    let nobody = row("403 403 403 403 403 403 403 403 403 403 403");
    for (i, token) in w.tokens.iter().enumerate() {
        let t = Some(token.as_str());
        let members = format!("/v1/organisations/{}/members", w.fund_owner);
        let keys = format!("/v1/organisations/{}/api-keys", w.fund_owner);
        check(
            "GET /v1/organisations/{id}/members",
            i,
            &app.get(&members, t).await,
            member_managers[i],
        );
        check(
            "GET /v1/organisations/{id}/api-keys",
            i,
            &app.get(&keys, t).await,
            member_managers[i],
        );
        check(
            "POST /v1/organisations/{id}/api-keys",
            i,
            &app.post(&keys, t, &json!({"name": "k"})).await,
            nobody[i],
        );
    }

    // Without a token nothing under /v1 answers but 401.
    for path in ["/v1/projects", "/v1/organisations", "/v1/funds"] {
        app.get(path, None).await.assert_problem(401);
    }
    app.get(&format!("/v1/claims/{}", w.verified), None)
        .await
        .assert_problem(401);
    for path in [
        format!("/v1/organisations/{}/members", w.fund_owner),
        format!("/v1/organisations/{}/api-keys", w.fund_owner),
        "/v1/members/mem_1".to_owned(),
    ] {
        app.get(&path, None).await.assert_problem(401);
    }
}

#[tokio::test]
async fn tokens_must_be_current_and_name_an_organisation_that_fits_the_role() {
    use jsonwebtoken::{encode, EncodingKey, Header};
    let app = spawn_app().await;
    let council = app.org("Council", "local_authority", &[]).await;
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: Value| {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(TEST_SECRET),
        )
        .unwrap()
    };
    let cases = [
        (
            "not yet valid",
            json!({"sub": "a", "role": "commissioner", "org": council, "iat": now, "exp": now + 3600, "nbf": now + 600}),
        ),
        (
            "unknown organisation",
            json!({"sub": "a", "role": "commissioner", "org": "org_nobody", "iat": now, "exp": now + 3600}),
        ),
        (
            "provider role for a council",
            json!({"sub": "a", "role": "provider", "org": council, "iat": now, "exp": now + 3600}),
        ),
        (
            "NUL in the subject",
            json!({"sub": "a\u{0}b", "role": "commissioner", "org": council, "iat": now, "exp": now + 3600}),
        ),
    ];
    for (case, claims) in cases {
        let reply = app.get("/v1/projects", Some(&sign(claims))).await;
        assert_eq!(reply.status, 401, "{case}: {}", reply.body);
    }
    let fine = json!({"sub": "a", "role": "commissioner", "org": council, "iat": now, "exp": now + 3600, "nbf": now - 10});
    app.get("/v1/projects", Some(&sign(fine)))
        .await
        .assert_status(200);
}
