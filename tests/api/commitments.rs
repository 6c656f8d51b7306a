//! A payer's commitment binds it only once it agrees: a project naming another organisation's
//! money starts proposed, each such payer accepts or declines its own commitment, and claims
//! are verified only once every payer has accepted.

use serde_json::{json, Value};

use crate::helpers::*;
use cofund::api::auth::Role;

/// A project proposed by the central fund's manager: its own top-up is made, both councils'
/// commitments are proposed. Returns the project as created.
async fn proposed(app: &TestApp, p: &Parties) -> Value {
    let manager = app.token(Role::FundManager, Some(&p.central));
    let reply = app
        .post("/v1/projects", Some(&manager), &project_body(p))
        .await;
    reply.assert_status(201).clone()
}

fn payer<'a>(project: &'a Value, organisation: &str) -> &'a Value {
    project["payers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["organisation_id"] == organisation)
        .unwrap()
}

fn decision_path(project: &Value, organisation: &str, decision: &str) -> String {
    let payer_id = payer(project, organisation)["id"].as_str().unwrap();
    format!(
        "/v1/projects/{}/payers/{payer_id}/{decision}",
        project["id"].as_str().unwrap()
    )
}

async fn outbox_kinds(app: &TestApp) -> Vec<String> {
    let outbox = app.get("/v1/outbox", Some(&app.admin())).await;
    outbox.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// A submitted claim of the project, and what verifying it answers.
async fn submit_and_verify(app: &TestApp, p: &Parties, project: &str, who: &str) -> Reply {
    let provider = app.token(Role::Provider, Some(&p.provider));
    let claim =
        json!({"participant_ref": who, "outcome_code": "emp_13w", "achieved_on": "2021-06-01"});
    let path = format!("/v1/projects/{project}/claims");
    let submitted = app.post(&path, Some(&provider), &claim).await;
    let id = submitted.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let validator = app.token(Role::Validator, Some(&p.validator));
    app.post(
        &format!("/v1/claims/{id}/verify"),
        Some(&validator),
        &json!({}),
    )
    .await
}

#[tokio::test]
async fn a_fund_manager_proposes_other_payers_commitments_and_nothing_is_paid_until_they_accept() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    for council in [&p.council_a, &p.council_b] {
        let addresses = json!({"billing_emails": ["finance@council.example"]});
        app.patch(
            &format!("/v1/organisations/{council}"),
            Some(&app.admin()),
            &addresses,
        )
        .await
        .assert_status(200);
    }
    let project = proposed(&app, &p).await;
    let id = project["id"].as_str().unwrap().to_owned();
    assert_eq!(project["agreement"], "proposed");
    assert_eq!(payer(&project, &p.central)["commitment"], "accepted");
    assert_eq!(payer(&project, &p.council_a)["commitment"], "proposed");
    // Each council is asked, by email to its billing address.
    let asked = outbox_kinds(&app).await;
    assert_eq!(asked, ["commitment_proposed", "commitment_proposed"]);

    // Claims may be submitted, but none is verified (nor money split) before agreement.
    // Asked as a job, verification is refused at once rather than queued to fail.
    let validator = app.token(Role::Validator, Some(&p.validator));
    let as_job = app
        .post_with(
            &format!("/v1/projects/{id}/claims/verify"),
            Some(&validator),
            &json!({"claim_ids": ["clm_0"]}),
            &[("Prefer", "respond-async")],
        )
        .await;
    as_job.assert_problem(409);
    assert_eq!(app.count("jobs"), 0);
    let refused = submit_and_verify(&app, &p, &id, "P-1").await;
    let problem = refused.assert_problem(409);
    assert!(
        problem["detail"].as_str().unwrap().contains(&p.council_a),
        "{problem}"
    );
    assert_eq!(app.count("allocations"), 0);

    // Only the payer's own people (or an admin) decide its commitment.
    let accept_a = decision_path(&project, &p.council_a, "accept");
    for outsider in [
        app.token(Role::Commissioner, Some(&p.council_b)),
        app.token(Role::FundManager, Some(&p.central)),
        app.token(Role::Provider, Some(&p.provider)),
    ] {
        app.post(&accept_a, Some(&outsider), &json!({}))
            .await
            .assert_problem(403);
    }
    let council_a = app.token_for(Role::Commissioner, Some(&p.council_a), "ada");
    // A body (a decline's reason sent to the wrong door) is refused, and nothing is done.
    let misdirected = json!({"reason": "no budget"});
    let refused = app.post(&accept_a, Some(&council_a), &misdirected).await;
    refused.assert_invalid_field("body");
    let still = app
        .get(&format!("/v1/projects/{id}"), Some(&council_a))
        .await;
    assert_eq!(
        payer(still.assert_status(200), &p.council_a)["commitment"],
        "proposed"
    );
    let accepted = app.post(&accept_a, Some(&council_a), &json!({})).await;
    assert_eq!(accepted.assert_status(200)["agreement"], "proposed");
    app.post(&accept_a, Some(&council_a), &json!({}))
        .await
        .assert_problem(409);
    submit_and_verify(&app, &p, &id, "P-2")
        .await
        .assert_problem(409);

    // The second council accepts too: the project is agreed and its claims are verified.
    let council_b = app.token_for(Role::Commissioner, Some(&p.council_b), "bea");
    let accept_b = decision_path(&project, &p.council_b, "accept");
    let agreed = app.post(&accept_b, Some(&council_b), &json!({})).await;
    let agreed = agreed.assert_status(200).clone();
    assert_eq!(agreed["agreement"], "agreed");
    submit_and_verify(&app, &p, &id, "P-3")
        .await
        .assert_status(200);
    assert!(app.count("allocations") > 0);

    // The history says who took each step and when; the person only to their own people.
    let events = agreed["events"].as_array().unwrap();
    let notes: Vec<&str> = events.iter().map(|e| e["note"].as_str().unwrap()).collect();
    assert_eq!(
        notes
            .iter()
            .filter(|n| n.contains("accepted by the payer"))
            .count(),
        2
    );
    assert_eq!(
        notes.iter().filter(|n| n.starts_with("proposed")).count(),
        2
    );
    let b_step = events
        .iter()
        .find(|e| e["decided_by_organisation_id"] == p.council_b.as_str());
    assert_eq!(b_step.unwrap()["decided_by"], "bea");
    let seen_by_a = app
        .get(&format!("/v1/projects/{id}/commitments"), Some(&council_a))
        .await;
    let seen_by_a = seen_by_a.assert_status(200)["events"].clone();
    let b_step = seen_by_a
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["decided_by_organisation_id"] == p.council_b.as_str())
        .unwrap();
    assert_eq!(
        b_step["decided_by"],
        Value::Null,
        "another council's person is not shown"
    );
    let told = outbox_kinds(&app).await;
    assert_eq!(
        told.iter().filter(|k| *k == "commitment_decided").count(),
        2
    );
}

#[tokio::test]
async fn a_payer_declines_saying_why_and_the_project_is_never_paid() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    let project = proposed(&app, &p).await;
    let council_a = app.token(Role::Commissioner, Some(&p.council_a));
    let decline = decision_path(&project, &p.council_a, "decline");
    app.post(&decline, Some(&council_a), &json!({}))
        .await
        .assert_problem(422);
    app.post(&decline, Some(&council_a), &json!({"reason": "  "}))
        .await
        .assert_invalid_field("reason");
    let committed = || async {
        let path = format!("/v1/funds/{}/position", p.fund);
        let position = app.get(&path, Some(&app.admin())).await;
        position.assert_status(200)["committed"]["amount"].clone()
    };
    assert_eq!(
        committed().await,
        "100000.00",
        "a proposal holds the fund's budget"
    );
    let reason = "No budget for this in 2021/22";
    let declined = app
        .post(&decline, Some(&council_a), &json!({"reason": reason}))
        .await;
    let declined = declined.assert_status(200).clone();
    assert_eq!(declined["agreement"], "declined");
    let step = declined["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (step["status"].clone(), step["reason"].clone()),
        (json!("declined"), json!(reason))
    );
    // A declined project is never paid: the fund's top-up for it is released.
    assert_eq!(committed().await, "0.00");
    // A decline is final: neither accepted later nor declined again.
    let accept = decision_path(&project, &p.council_a, "accept");
    app.post(&accept, Some(&council_a), &json!({}))
        .await
        .assert_problem(409);
    // An admin may accept the other council's part, but a declined project is never paid.
    let accept_b = decision_path(&project, &p.council_b, "accept");
    app.post(&accept_b, Some(&app.admin()), &json!({}))
        .await
        .assert_status(200);
    let id = project["id"].as_str().unwrap();
    let refused = submit_and_verify(&app, &p, id, "P-1").await;
    assert!(refused.assert_problem(409)["detail"]
        .as_str()
        .unwrap()
        .contains("declined"));
    let viewed = app
        .get(&format!("/v1/projects/{id}"), Some(&council_a))
        .await;
    assert_eq!(viewed.assert_status(200)["agreement"], "declined");
}

#[tokio::test]
async fn what_an_admin_records_is_agreed_as_it_is_made_and_the_history_says_so() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    let created = app
        .post("/v1/projects", Some(&app.admin()), &project_body(&p))
        .await;
    let created = created.assert_status(201).clone();
    assert_eq!(created["agreement"], "agreed");
    let id = created["id"].as_str().unwrap();
    let commitments = app
        .get(
            &format!("/v1/projects/{id}/commitments"),
            Some(&app.admin()),
        )
        .await;
    let events = commitments.assert_status(200)["events"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e["status"] == "accepted"
        && e["note"].as_str().unwrap().contains("recorded by an admin")));
    assert!(outbox_kinds(&app).await.is_empty(), "nobody is asked");
    submit_and_verify(&app, &p, id, "P-1")
        .await
        .assert_status(200);
    // A stranger sees neither the project nor its commitments.
    let stranger = app.org("Council C", "local_authority", &[]).await;
    let stranger = app.token(Role::Commissioner, Some(&stranger));
    let path = format!("/v1/projects/{id}/commitments");
    app.get(&path, Some(&stranger)).await.assert_problem(404);
}

#[tokio::test]
async fn a_project_is_published_as_open_data_only_once_every_payer_has_agreed() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    let manager = app.token(Role::FundManager, Some(&p.central));
    let mut body = project_body(&p);
    body["published"] = json!(true);
    let project = app.post("/v1/projects", Some(&manager), &body).await;
    let project = project.assert_status(201).clone();
    let published = || async {
        app.post("/v1/open-data/rebuild", Some(&app.admin()), &json!({}))
            .await
            .assert_status(200);
        let rows = app.get("/open-data/v1/projects", None).await;
        rows.assert_status(200)["rows"].as_array().unwrap().len()
    };
    assert_eq!(
        published().await,
        0,
        "a proposed commitment is not public fact"
    );
    for council in [&p.council_a, &p.council_b] {
        let accept = decision_path(&project, council, "accept");
        let token = app.token(Role::Commissioner, Some(council));
        app.post(&accept, Some(&token), &json!({}))
            .await
            .assert_status(200);
    }
    assert_eq!(published().await, 1);
}
