//! Settlement through HTTP: both routes on the Reconnections worked example, the lifecycle of a
//! document (draft, issued, paid, void with its credit note), reversals credited once in the
//! next period, gap-free numbering under concurrent issuing, who may see and act on what, and
//! documents that reconcile with the ledger on a seeded random workload.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Value};

use crate::helpers::*;
use cofund::api::auth::Role;
use cofund::domain::period::Period;
use cofund::domain::registry::SettlementFrequency;

/// Reconnections (Worcestershire): CBO £303,000, SOF £697,000 (both central top-ups, each from
/// its own fund), Worcestershire County Council £1,020,000, the lead.
struct Reconnections {
    project: String,
    provider: String,
    cbo: String,
    sof: String,
    council: String,
    provider_token: String,
    validator_token: String,
}

async fn reconnections(app: &TestApp, route: &str) -> Reconnections {
    let cbo = app
        .org("The National Lottery Community Fund", "central_fund", &[])
        .await;
    let sof = app.org("Cabinet Office", "central_fund", &[]).await;
    let council = app
        .org("Worcestershire County Council", "local_authority", &[])
        .await;
    let provider = app.org("Reconnections Ltd", "provider", &[]).await;
    let validator = app.org("Independent Validator", "validator", &[]).await;
    let cbo_fund = app.fund(&cbo, "40000000.00").await;
    let sof_fund = app.fund(&sof, "20000000.00").await;
    let body = json!({
        "name": "Reconnections", "fund_id": cbo_fund, "provider_organisation_id": provider,
        "service_start": "2016-01-01", "service_end": "2030-12-31", "settlement_route": route,
        "payers": [
            {"organisation_id": cbo, "role": "central_top_up", "max_commitment": gbp("303000.00")},
            {"organisation_id": sof, "role": "central_top_up", "fund_id": sof_fund, "max_commitment": gbp("697000.00")},
            {"organisation_id": council, "role": "local_commissioner", "lead": true, "max_commitment": gbp("1020000.00")},
        ],
        "outcomes": [{"code": "loneliness_reduced", "name": "Loneliness reduced", "price": gbp("1000.00"), "unit": "achievement"}],
        "validator_organisation_ids": [validator],
    });
    let reply = app.post("/v1/projects", Some(&app.admin()), &body).await;
    let project = reply.assert_status(201)["id"].as_str().unwrap().to_owned();
    Reconnections {
        provider_token: app.token_for(Role::Provider, Some(&provider), "provider-clerk"),
        validator_token: app.token_for(Role::Validator, Some(&validator), "validator-officer"),
        project,
        provider,
        cbo,
        sof,
        council,
    }
}

impl Reconnections {
    async fn verified_claim(&self, app: &TestApp, participant: &str) -> String {
        let reply = app
            .post(
                &format!("/v1/projects/{}/claims", self.project),
                Some(&self.provider_token),
                &json!({"participant_ref": participant, "outcome_code": "loneliness_reduced", "achieved_on": "2017-03-01"}),
            )
            .await;
        let id = reply.assert_status(201)["id"].as_str().unwrap().to_owned();
        app.post(
            &format!("/v1/claims/{id}/verify"),
            Some(&self.validator_token),
            &json!({}),
        )
        .await
        .assert_status(200);
        id
    }

    async fn settle(&self, app: &TestApp, token: &str, period: &str) -> Reply {
        app.post(
            &format!("/v1/projects/{}/settlements", self.project),
            Some(token),
            &json!({"period": period}),
        )
        .await
    }
}

/// The period the application's clock is in now.
fn current_period(app: &TestApp) -> String {
    Period::containing(app.clock.today(), SettlementFrequency::Quarterly).to_string()
}

fn document_for<'a>(report: &'a Value, kind: &str, recipient: &str) -> &'a Value {
    report["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == kind && d["recipient_organisation_id"] == recipient)
        .unwrap_or_else(|| panic!("no {kind} to {recipient} in {report}"))
}

/// How many documents `token` finds in the list.
async fn documents_seen(app: &TestApp, token: &str) -> usize {
    let list = app.get("/v1/documents", Some(token)).await;
    list.assert_status(200)["items"].as_array().unwrap().len()
}

fn id_of(document: &Value) -> String {
    document["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn direct_route_invoices_each_payer_its_share_then_pays_and_credits_a_revocation() {
    let app = spawn_app().await;
    let r = reconnections(&app, "direct").await;
    let claim = r.verified_claim(&app, "R-1").await;
    let q = current_period(&app);
    let built = r.settle(&app, &r.provider_token, &q).await;
    let report = built.assert_status(201).clone();
    assert_eq!(report["allocations_settled"], 3);
    let invoice = |payer: &str| document_for(&report, "invoice", payer).clone();
    for (payer, amount) in [
        (&r.cbo, "150.00"),
        (&r.sof, "345.05"),
        (&r.council, "504.95"),
    ] {
        let doc = invoice(payer);
        assert_eq!(doc["total"], gbp(amount), "{payer}");
        assert_eq!(doc["status"], "draft");
        assert_eq!(doc["issuer_organisation_id"], r.provider.as_str());
        assert_eq!(doc["issuer"]["name"], "Reconnections Ltd");
        assert!(doc["number"].is_null());
    }
    // Rebuilding a draft replaces it; nothing is settled twice.
    let again = r.settle(&app, &r.provider_token, &q).await;
    let again = again.assert_status(201).clone();
    assert_eq!(
        (
            again["replaced_drafts"].as_u64(),
            again["allocations_settled"].as_u64()
        ),
        (Some(3), Some(3))
    );
    let council_invoice = id_of(document_for(&again, "invoice", &r.council));

    // Issued: numbered from the provider's sequence, due after the 30 days' default terms.
    let issued = app
        .post(
            &format!("/v1/documents/{council_invoice}/issue"),
            Some(&r.provider_token),
            &json!({}),
        )
        .await;
    let issued = issued.assert_status(200).clone();
    let year = app.clock.today().format("%Y").to_string();
    assert_eq!(issued["number"], format!("REL-{year}-0001"));
    assert_eq!(issued["status"], "issued");
    let issued_on: chrono::NaiveDate = issued["issued_on"].as_str().unwrap().parse().unwrap();
    let due_on: chrono::NaiveDate = issued["due_on"].as_str().unwrap().parse().unwrap();
    assert_eq!((due_on - issued_on).num_days(), 30);
    app.post(
        &format!("/v1/documents/{council_invoice}/issue"),
        Some(&r.provider_token),
        &json!({}),
    )
    .await
    .assert_problem(409);

    // Paid in two parts by the council; an overpayment is refused and changes nothing.
    let council_token = app.token(Role::Commissioner, Some(&r.council));
    let pay = |amount: &str, reference: &str| json!({"amount": gbp(amount), "paid_on": app.clock.today().to_string(), "reference": reference});
    let path = format!("/v1/documents/{council_invoice}/payments");
    let part = app
        .post(&path, Some(&council_token), &pay("500.00", "BACS 1"))
        .await;
    assert_eq!(part.assert_status(201)["outstanding"], gbp("4.95"));
    let payments_before = app.count("document_payments");
    app.post(&path, Some(&council_token), &pay("5.00", "BACS 2"))
        .await
        .assert_invalid_field("amount");
    assert_eq!(app.count("document_payments"), payments_before);
    let paid = app
        .post(&path, Some(&council_token), &pay("4.95", "BACS 2"))
        .await;
    let paid = paid.assert_status(201).clone();
    assert_eq!(
        (paid["status"].as_str(), paid["outstanding"].clone()),
        (Some("paid"), gbp("0.00"))
    );
    let full = app
        .get(
            &format!("/v1/documents/{council_invoice}"),
            Some(&council_token),
        )
        .await;
    let actions: Vec<&str> = full.assert_status(200)["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["built", "issued", "payment", "paid"]);
    // Who recorded the payment is the council's business: the provider sees the organisation.
    let payment = &full.body["payments"][0];
    assert_eq!(
        (
            payment["recorded_by"].as_str(),
            payment["recorded_by_organisation_id"].as_str()
        ),
        (Some("commissioner-user"), Some(r.council.as_str()))
    );
    let provider_view = app
        .get(
            &format!("/v1/documents/{council_invoice}"),
            Some(&r.provider_token),
        )
        .await;
    let provider_view = provider_view.assert_status(200).clone();
    assert!(
        provider_view["payments"][0]["recorded_by"].is_null(),
        "{provider_view}"
    );
    assert_eq!(
        provider_view["history"][2]["actor_organisation_id"],
        r.council.as_str()
    );
    assert!(provider_view["history"][2]["actor"].is_null());
    assert_eq!(
        provider_view["history"][1]["actor"], "provider-clerk",
        "its own people by name"
    );
    let html = app
        .client
        .get(app.url(&format!("/v1/documents/{council_invoice}.html")))
        .bearer_auth(&r.provider_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("by a user of Worcestershire County Council")
            && !html.contains("commissioner-user")
    );
    // A payment is recorded once the money has arrived, not ahead of it, and not dated before
    // its document was issued (today); its date is written YYYY-MM-DD, nothing else.
    let tomorrow = (app.clock.today() + chrono::Duration::days(1)).to_string();
    let yesterday = (app.clock.today() - chrono::Duration::days(1)).to_string();
    for paid_on in [
        tomorrow.as_str(),
        yesterday.as_str(),
        "2021-2-3",
        " 2021-02-03",
    ] {
        app.post(
            &path,
            Some(&council_token),
            &json!({"amount": gbp("1.00"), "paid_on": paid_on, "reference": "refused"}),
        )
        .await
        .assert_invalid_field("paid_on");
    }
    assert_eq!(full.body["lines"][0]["claim_id"], claim.as_str());

    // Revoked in the next quarter: a credit note for the council, once, in that period.
    app.clock.advance_days(92);
    app.post(
        &format!("/v1/claims/{claim}/revoke"),
        Some(&r.validator_token),
        &json!({"reason": "ineligible"}),
    )
    .await
    .assert_status(200);
    let next = current_period(&app);
    assert_ne!(next, q);
    let later = r.settle(&app, &r.provider_token, &next).await;
    let later = later.assert_status(201).clone();
    let credit = document_for(&later, "credit_note", &r.council);
    assert_eq!(credit["total"], gbp("-504.95"));
    // The CBO and SOF drafts of the first quarter were never issued: their allocations stay
    // on them, and the reversals are credited in the new period.
    assert_eq!(
        document_for(&later, "credit_note", &r.cbo)["total"],
        gbp("-150.00")
    );
    let rebuilt = r.settle(&app, &r.provider_token, &next).await;
    let rebuilt = rebuilt.assert_status(201).clone();
    assert_eq!(
        rebuilt["allocations_settled"], 3,
        "each reversal credited once"
    );
    // Issued, a credit note owes nothing and is never voided (that would make a charge of it).
    let credit = id_of(document_for(&rebuilt, "credit_note", &r.council));
    let issued = app
        .post(
            &format!("/v1/documents/{credit}/issue"),
            Some(&r.provider_token),
            &json!({}),
        )
        .await;
    assert!(issued.assert_status(200)["due_on"].is_null());
    app.post(
        &format!("/v1/documents/{credit}/void"),
        Some(&r.provider_token),
        &json!({"reason": "undo"}),
    )
    .await
    .assert_problem(409);
    assert_ledger_ok(&app);
}

#[tokio::test]
async fn via_commissioner_invoices_the_lead_for_the_whole_value_and_the_lead_claims_each_top_up() {
    let app = spawn_app().await;
    let r = reconnections(&app, "via_commissioner").await;
    r.verified_claim(&app, "R-1").await;
    r.verified_claim(&app, "R-2").await;
    let q = current_period(&app);
    let report = r.settle(&app, &app.admin(), &q).await;
    let report = report.assert_status(201).clone();
    assert_eq!(report["documents"].as_array().unwrap().len(), 3);
    let invoice = document_for(&report, "invoice", &r.council);
    assert_eq!(
        invoice["total"],
        gbp("2000.00"),
        "the whole value of both outcomes"
    );
    assert_eq!(invoice["line_count"], 2, "a line per outcome");
    let cbo_claim = document_for(&report, "top_up_claim", &r.cbo);
    assert_eq!(cbo_claim["issuer_organisation_id"], r.council.as_str());
    assert_eq!(cbo_claim["total"], gbp("300.00"));
    let sof_claim = document_for(&report, "top_up_claim", &r.sof);
    assert_eq!(sof_claim["total"], gbp("690.10"));

    // The lead issues its top-up claim; the Cabinet Office pays it.
    let council_token = app.token(Role::Commissioner, Some(&r.council));
    let sof_claim = id_of(sof_claim);
    let issued = app
        .post(
            &format!("/v1/documents/{sof_claim}/issue"),
            Some(&council_token),
            &json!({}),
        )
        .await;
    let year = app.clock.today().format("%Y").to_string();
    assert_eq!(
        issued.assert_status(200)["number"],
        format!("WCC-{year}-0001")
    );
    let sof_token = app.token(Role::FundManager, Some(&r.sof));
    let paid = app
        .post(
            &format!("/v1/documents/{sof_claim}/payments"),
            Some(&sof_token),
            &json!({"amount": gbp("690.10"), "paid_on": app.clock.today().to_string(), "reference": "SOF-REMIT-7"}),
        )
        .await;
    assert_eq!(paid.assert_status(201)["status"], "paid");

    // The renderings say the same.
    let csv = app
        .client
        .get(app.url(&format!("/v1/documents/{sof_claim}.csv")))
        .bearer_auth(&sof_token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let amounts: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[11].to_owned())
        .collect();
    assert_eq!(amounts, ["345.05", "345.05"]);
    let html = app
        .client
        .get(app.url(&format!("/v1/documents/{sof_claim}.html")))
        .bearer_auth(&sof_token)
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), 200);
    let page = html.text().await.unwrap();
    let number = format!("WCC-{year}-0001");
    for expected in [
        number.as_str(),
        "Worcestershire County Council",
        "Cabinet Office",
        "690.10 GBP",
        "How the amounts were split",
        "pro rata: 697000.00 / 2020000.00",
    ] {
        assert!(page.contains(expected), "the page shows {expected}");
    }
    assert_ledger_ok(&app);
}

/// Under `via_commissioner` the lead is invoiced for the whole value and claims the central
/// funds' top-ups back. Its statement shows both sides, each document and the net; a fund's
/// position counts each pound once, against the payer whose money it is, so that the payers'
/// columns add up to what the provider invoiced and was paid.
#[tokio::test]
async fn via_the_lead_statements_show_both_sides_and_positions_count_each_pound_once() {
    let app = spawn_app().await;
    let r = reconnections(&app, "via_commissioner").await;
    let first = r.verified_claim(&app, "R-1").await;
    r.verified_claim(&app, "R-2").await;
    let q = current_period(&app);
    let report = r
        .settle(&app, &app.admin(), &q)
        .await
        .assert_status(201)
        .clone();
    let invoice = id_of(document_for(&report, "invoice", &r.council));
    let sof_claim = id_of(document_for(&report, "top_up_claim", &r.sof));
    let cbo_claim = id_of(document_for(&report, "top_up_claim", &r.cbo));
    let council = app.token(Role::Commissioner, Some(&r.council));
    let sof = app.token(Role::FundManager, Some(&r.sof));
    let today = app.clock.today().to_string();
    let pay = |document: String, token: String, amount: &'static str| {
        let app = &app;
        let today = today.clone();
        async move {
            let body = json!({"amount": gbp(amount), "paid_on": today, "reference": "REMIT"});
            let path = format!("/v1/documents/{document}/payments");
            app.post(&path, Some(&token), &body)
                .await
                .assert_status(201);
        }
    };
    let issue = |document: String, token: String| {
        let app = &app;
        async move {
            let path = format!("/v1/documents/{document}/issue");
            app.post(&path, Some(&token), &json!({}))
                .await
                .assert_status(200);
        }
    };
    // The provider invoices the council £2,000.00, which it pays; it claims the Cabinet
    // Office's £690.10, which is paid, and the Lottery's £300.00, which is not yet.
    issue(invoice.clone(), r.provider_token.clone()).await;
    pay(invoice.clone(), council.clone(), "2000.00").await;
    issue(sof_claim.clone(), council.clone()).await;
    pay(sof_claim.clone(), sof.clone(), "690.10").await;
    issue(cbo_claim.clone(), council.clone()).await;

    let path = format!("/v1/organisations/{}/statement", r.council);
    let statement = app
        .get(&path, Some(&council))
        .await
        .assert_status(200)
        .clone();
    let line = &statement["lines"][0];
    let amounts: Vec<&Value> = [
        "invoiced",
        "paid",
        "outstanding",
        "issued_by_it",
        "received",
        "receivable",
        "net_outstanding",
    ]
    .iter()
    .map(|field| &line[field])
    .collect();
    let expected = [
        "2000.00", "2000.00", "0.00", "990.10", "690.10", "300.00", "-300.00",
    ];
    assert_eq!(amounts, expected.map(gbp).iter().collect::<Vec<_>>());
    let documents: Vec<(&str, &str, &str, &Value)> = line["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let text = |field: &str| d[field].as_str().unwrap();
            (
                text("id"),
                text("side"),
                text("counterparty_organisation_id"),
                &d["outstanding"],
            )
        })
        .collect();
    let (cbo_owes, none) = (gbp("300.00"), gbp("0.00"));
    for expected in [
        (invoice.as_str(), "to_it", r.provider.as_str(), &none),
        (sof_claim.as_str(), "by_it", r.sof.as_str(), &none),
        (cbo_claim.as_str(), "by_it", r.cbo.as_str(), &cbo_owes),
    ] {
        assert!(
            documents.contains(&expected),
            "{expected:?} in {documents:?}"
        );
    }
    assert_eq!(documents.len(), 3);
    // The CSV says the same, after the columns it had.
    let csv = app
        .client
        .get(app.url(&format!("{path}.csv")))
        .bearer_auth(&council)
        .send()
        .await
        .unwrap();
    let text = csv.text().await.unwrap();
    let row = csv::Reader::from_reader(text.as_bytes())
        .records()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(&row.iter().skip(11).collect::<Vec<_>>(), &expected);

    // The Lottery's fund owns the project and sees every payer.
    let cbo_fund = app
        .get(&format!("/v1/projects/{}", r.project), Some(&app.admin()))
        .await;
    let cbo_fund = cbo_fund.assert_status(200)["fund_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let manager = app.token(Role::FundManager, Some(&r.cbo));
    let position = app
        .get(&format!("/v1/funds/{cbo_fund}/position"), Some(&manager))
        .await;
    let payers = position.assert_status(200)["projects"][0]["payers"].clone();
    let column = |name: &str| -> Vec<(String, String)> {
        let payers = payers.as_array().unwrap().iter();
        let of = |p: &Value| {
            (
                p["organisation_id"].as_str().unwrap().to_owned(),
                p[name]["amount"].as_str().unwrap().to_owned(),
            )
        };
        payers.map(of).collect()
    };
    let (cbo, sof, lead) = (r.cbo.clone(), r.sof.clone(), r.council.clone());
    let row = |values: [&str; 3]| {
        vec![
            (cbo.clone(), values[0].to_owned()),
            (sof.clone(), values[1].to_owned()),
            (lead.clone(), values[2].to_owned()),
        ]
    };
    // Each payer is invoiced its own allocation; the lead has paid the Lottery's part for it.
    assert_eq!(column("allocated"), row(["300.00", "690.10", "1009.90"]));
    assert_eq!(column("invoiced"), row(["300.00", "690.10", "1009.90"]));
    assert_eq!(column("paid"), row(["0.00", "690.10", "1309.90"]));
    assert_eq!(column("outstanding"), row(["300.00", "0.00", "-300.00"]));
    // Once the Lottery pays, every payer has paid its own.
    pay(cbo_claim, manager.clone(), "300.00").await;
    let position = app
        .get(&format!("/v1/funds/{cbo_fund}/position"), Some(&manager))
        .await;
    let payers_now = position.assert_status(200)["projects"][0]["payers"].clone();
    let paid: Vec<&str> = payers_now
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["paid"]["amount"].as_str().unwrap())
        .collect();
    assert_eq!(paid, ["300.00", "690.10", "1009.90"]);

    // One outcome revoked next quarter: a credit note from the provider to the lead, and the
    // lead's to each fund. Issued, every payer's invoiced is again its own allocation, and
    // the payers' invoiced adds up to what the provider invoiced net: £1,000.00.
    app.clock.advance_days(92);
    let path = format!("/v1/claims/{first}/revoke");
    let reason = json!({"reason": "ineligible"});
    app.post(&path, Some(&r.validator_token), &reason)
        .await
        .assert_status(200);
    let later = r.settle(&app, &app.admin(), &current_period(&app)).await;
    let later = later.assert_status(201).clone();
    issue(
        id_of(document_for(&later, "credit_note", &r.council)),
        r.provider_token.clone(),
    )
    .await;
    for fund in [&r.sof, &r.cbo] {
        issue(
            id_of(document_for(&later, "credit_note", fund)),
            council.clone(),
        )
        .await;
    }
    let position = app
        .get(&format!("/v1/funds/{cbo_fund}/position"), Some(&manager))
        .await;
    let payers = position.assert_status(200)["projects"][0]["payers"].clone();
    let of = |name: &str| -> Vec<String> {
        let payers = payers.as_array().unwrap().iter();
        payers
            .map(|p| p[name]["amount"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(of("invoiced"), of("allocated"));
    let cents = |amount: &String| amount.replace('.', "").parse::<i64>().unwrap();
    assert_eq!(of("invoiced").iter().map(cents).sum::<i64>(), 100_000);
}

#[tokio::test]
async fn voiding_an_issued_invoice_credits_it_and_settles_its_outcomes_again() {
    let app = spawn_app().await;
    let r = reconnections(&app, "direct").await;
    r.verified_claim(&app, "R-1").await;
    let q = current_period(&app);
    let report = r.settle(&app, &r.provider_token, &q).await;
    let invoice = id_of(document_for(
        report.assert_status(201),
        "invoice",
        &r.council,
    ));
    app.post(
        &format!("/v1/documents/{invoice}/issue"),
        Some(&r.provider_token),
        &json!({}),
    )
    .await
    .assert_status(200);
    let council_token = app.token(Role::Commissioner, Some(&r.council));
    // The recipient may not void; the issuer must give a reason.
    app.post(
        &format!("/v1/documents/{invoice}/void"),
        Some(&council_token),
        &json!({"reason": "no"}),
    )
    .await
    .assert_problem(403);
    app.post(
        &format!("/v1/documents/{invoice}/void"),
        Some(&r.provider_token),
        &json!({"reason": " "}),
    )
    .await
    .assert_invalid_field("reason");
    let voided = app
        .post(
            &format!("/v1/documents/{invoice}/void"),
            Some(&r.provider_token),
            &json!({"reason": "wrong purchase order"}),
        )
        .await;
    let voided = voided.assert_status(200).clone();
    assert_eq!(voided["voided"]["status"], "void");
    assert_eq!(voided["credit_note"]["kind"], "credit_note");
    assert_eq!(voided["credit_note"]["total"], gbp("-504.95"));
    assert_eq!(
        voided["credit_note"]["credits_document_id"],
        invoice.as_str()
    );
    let year = app.clock.today().format("%Y").to_string();
    assert_eq!(voided["credit_note"]["number"], format!("REL-{year}-0002"));
    // A void document takes no payment; its outcomes go on the next draft of the period.
    app.post(
        &format!("/v1/documents/{invoice}/payments"),
        Some(&council_token),
        &json!({"amount": gbp("1.00"), "paid_on": app.clock.today().to_string(), "reference": "x"}),
    )
    .await
    .assert_invalid_field("amount");
    let rebuilt = r.settle(&app, &r.provider_token, &q).await;
    let rebuilt = rebuilt.assert_status(201).clone();
    assert_eq!(
        document_for(&rebuilt, "invoice", &r.council)["total"],
        gbp("504.95")
    );
    assert_ledger_ok(&app);
}

#[tokio::test]
async fn nobody_reads_or_acts_on_a_document_that_is_not_theirs() {
    let app = spawn_app().await;
    let r = reconnections(&app, "direct").await;
    r.verified_claim(&app, "R-1").await;
    let q = current_period(&app);
    let council_token = app.token(Role::Commissioner, Some(&r.council));
    // A payer does not build (and so replace) drafts: the provider, their issuer, does.
    r.settle(&app, &council_token, &q).await.assert_problem(403);
    let report = r.settle(&app, &r.provider_token, &q).await;
    let report = report.assert_status(201).clone();
    assert_eq!(
        report["documents"].as_array().unwrap().len(),
        3,
        "the provider sees what it issues"
    );
    let mine = app
        .get(
            &format!("/v1/documents?project_id={}", r.project),
            Some(&council_token),
        )
        .await;
    let seen: Vec<&str> = mine.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["recipient_organisation_id"].as_str().unwrap())
        .collect();
    assert_eq!(seen, [r.council.as_str()]);
    let admin_view = app
        .get(
            &format!("/v1/documents?project_id={}", r.project),
            Some(&app.admin()),
        )
        .await;
    let all = admin_view.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(all.len(), 3);
    let cbo_invoice = all
        .iter()
        .find(|d| d["recipient_organisation_id"] == r.cbo.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another payer: not found (its existence is not told), and it cannot issue or pay it.
    let stranger = app.org("Another Council", "local_authority", &[]).await;
    for token in [
        council_token.clone(),
        app.token(Role::Commissioner, Some(&stranger)),
    ] {
        app.get(&format!("/v1/documents/{cbo_invoice}"), Some(&token))
            .await
            .assert_problem(404);
        app.get(&format!("/v1/documents/{cbo_invoice}.csv"), Some(&token))
            .await
            .assert_problem(404);
        app.get(&format!("/v1/documents/{cbo_invoice}.html"), Some(&token))
            .await
            .assert_problem(404);
        app.post(
            &format!("/v1/documents/{cbo_invoice}/issue"),
            Some(&token),
            &json!({}),
        )
        .await
        .assert_problem(404);
        app.post(
            &format!("/v1/documents/{cbo_invoice}/payments"),
            Some(&token),
            &json!({"amount": gbp("1.00"), "paid_on": app.clock.today().to_string(), "reference": "x"}),
        )
        .await
        .assert_problem(404);
    }
    let listed = app.get("/v1/documents", Some(&council_token)).await;
    let listed: Vec<String> = listed.assert_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["recipient_organisation_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, std::slice::from_ref(&r.council));
    // The recipient may not issue what it receives, nor the provider pay what it issued.
    let council_invoice = id_of(document_for(&report, "invoice", &r.council));
    app.post(
        &format!("/v1/documents/{council_invoice}/issue"),
        Some(&council_token),
        &json!({}),
    )
    .await
    .assert_problem(403);
    app.post(
        &format!("/v1/documents/{council_invoice}/issue"),
        Some(&app.admin()),
        &json!({}),
    )
    .await
    .assert_problem(403);
    app.post(
        &format!("/v1/documents/{council_invoice}/issue"),
        Some(&r.provider_token),
        &json!({}),
    )
    .await
    .assert_status(200);
    app.post(
        &format!("/v1/documents/{council_invoice}/payments"),
        Some(&r.provider_token),
        &json!({"amount": gbp("1.00"), "paid_on": app.clock.today().to_string(), "reference": "x"}),
    )
    .await
    .assert_problem(403);
    // The provider sees every document it issued; the CBO, owner of the project's fund, sees
    // the project's documents; the SOF only its own.
    assert_eq!(documents_seen(&app, &r.provider_token).await, 3);
    let cbo_manager = app.token(Role::FundManager, Some(&r.cbo));
    assert_eq!(documents_seen(&app, &cbo_manager).await, 3);
    let sof_manager = app.token(Role::FundManager, Some(&r.sof));
    assert_eq!(documents_seen(&app, &sof_manager).await, 1);
    // A validator does not build settlements; a bad period is named.
    r.settle(&app, &r.validator_token, &q)
        .await
        .assert_problem(403);
    r.settle(&app, &r.provider_token, "2021-13")
        .await
        .assert_invalid_field("period");
    r.settle(&app, &r.provider_token, "2021-03")
        .await
        .assert_invalid_field("period");
    r.settle(&app, &r.provider_token, "2199-Q4")
        .await
        .assert_invalid_field("period");
}

#[tokio::test]
async fn numbers_stay_gap_free_when_many_documents_are_issued_at_once_on_two_servers() {
    let app = spawn_app().await;
    let provider = app.org("The Skill Mill", "provider", &[]).await;
    let validator = app.org("Validator", "validator", &[]).await;
    let mut payers = Vec::new();
    for i in 0..12 {
        let org = app
            .org(&format!("Council {i}"), "local_authority", &[])
            .await;
        let role = if i == 0 {
            "local_commissioner"
        } else {
            "co_commissioner"
        };
        payers.push(json!({"organisation_id": org, "role": role, "max_commitment": gbp("1000.00"), "lead": i == 0}));
    }
    let body = json!({
        "name": "The Skill Mill", "provider_organisation_id": provider,
        "service_start": "2016-01-01", "service_end": "2030-12-31", "payers": payers,
        "outcomes": [{"code": "x", "name": "X", "price": gbp("120.00"), "unit": "achievement"}],
        "validator_organisation_ids": [validator],
    });
    let project = app.post("/v1/projects", Some(&app.admin()), &body).await;
    let project = project.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let provider_token = app.token_for(Role::Provider, Some(&provider), "clerk");
    let validator_token = app.token(Role::Validator, Some(&validator));
    let claim = app
        .post(
            &format!("/v1/projects/{project}/claims"),
            Some(&provider_token),
            &json!({"participant_ref": "P", "outcome_code": "x", "achieved_on": "2020-01-01"}),
        )
        .await;
    let claim = claim.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/v1/claims/{claim}/verify"),
        Some(&validator_token),
        &json!({}),
    )
    .await
    .assert_status(200);
    let report = app
        .post(
            &format!("/v1/projects/{project}/settlements"),
            Some(&provider_token),
            &json!({"period": current_period(&app)}),
        )
        .await;
    let ids: Vec<String> = report.assert_status(201)["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids.len(), 12);

    let second = app.second_server().await;
    let issues = ids.iter().enumerate().map(|(i, id)| {
        let base = if i % 2 == 0 {
            app.address.clone()
        } else {
            second.clone()
        };
        let request = app
            .client
            .post(format!("{base}/v1/documents/{id}/issue"))
            .bearer_auth(&provider_token)
            .json(&json!({}));
        async move { Reply::of(request).await }
    });
    let replies = futures_util::future::join_all(issues).await;
    let mut numbers: Vec<String> = replies
        .iter()
        .map(|r| r.assert_status(200)["number"].as_str().unwrap().to_owned())
        .collect();
    numbers.sort();
    let year = app.clock.today().format("%Y").to_string();
    let expected: Vec<String> = (1..=12).map(|n| format!("SKM-{year}-{n:04}")).collect();
    assert_eq!(numbers, expected);
}

/// One payer's money in one period, as the ledger has it and as the documents do.
#[derive(Debug, Default, PartialEq)]
struct Movement {
    ledger: i64,
    documents: i64,
}

#[tokio::test]
async fn documents_reconcile_with_the_ledger_on_a_seeded_random_workload() {
    let app = spawn_app().await;
    for route in ["direct", "via_commissioner"] {
        let r = reconnections(&app, route).await;
        let council_token = app.token(Role::Commissioner, Some(&r.council));
        // A small deterministic generator: the same workload on every run and backend.
        let mut seed: u64 = 0x05ee_dc0f_u64 ^ route.len() as u64;
        let mut next = move |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut verified: Vec<String> = Vec::new();
        let mut participant = 0;
        for _period in 0..4 {
            for _ in 0..(3 + next(4)) {
                participant += 1;
                verified.push(r.verified_claim(&app, &format!("P-{participant}")).await);
            }
            for _ in 0..next(3) {
                if verified.is_empty() {
                    break;
                }
                let claim = verified.remove(next(verified.len() as u64) as usize);
                app.post(
                    &format!("/v1/claims/{claim}/revoke"),
                    Some(&r.validator_token),
                    &json!({"reason": "ineligible"}),
                )
                .await
                .assert_status(200);
            }
            let period = current_period(&app);
            let report = r.settle(&app, &r.provider_token, &period).await;
            let ids: Vec<String> = report.assert_status(201)["documents"]
                .as_array()
                .unwrap()
                .iter()
                .map(id_of)
                .collect();
            // Issue most documents; leave some drafts, which the next period's build leaves alone.
            for id in ids.iter().filter(|_| next(4) != 0) {
                let doc = app
                    .get(&format!("/v1/documents/{id}"), Some(&app.admin()))
                    .await;
                let issuer = doc.assert_status(200)["issuer_organisation_id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                let token = if issuer == r.provider {
                    r.provider_token.clone()
                } else {
                    council_token.clone()
                };
                app.post(
                    &format!("/v1/documents/{id}/issue"),
                    Some(&token),
                    &json!({}),
                )
                .await
                .assert_status(200);
            }
            app.clock.advance_days(92);
        }
        reconcile(&app, &r, route);
    }
    assert_ledger_ok(&app);
}

/// For every leg, payer and period: the lines of the documents equal the ledger's movements,
/// no allocation is on two lines, every reversal credited exactly once.
fn reconcile(app: &TestApp, r: &Reconnections, route: &str) {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        payer: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        amount: i64,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        leg: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        period: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        recipient: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Timestamp)]
        posted_at: chrono::NaiveDateTime,
    }
    let mut conn = app.pool.get().unwrap();
    let rows: Vec<Row> = diesel::sql_query(format!(
        "SELECT a.id, a.payer_organisation_id AS payer, a.amount_minor AS amount, l.leg, d.period, d.recipient_organisation_id AS recipient, a.posted_at \
         FROM allocations a LEFT JOIN settlement_links l ON l.allocation_id = a.id \
         LEFT JOIN settlement_documents d ON d.id = l.document_id \
         WHERE a.project_id = '{}' AND a.amount_minor <> 0",
        r.project
    ))
    .load(&mut *conn)
    .unwrap();
    let legs: &[&str] = if route == "direct" {
        &["invoice"]
    } else {
        &["invoice", "top_up_claim"]
    };
    let mut links: HashMap<(i64, String), usize> = HashMap::new();
    for row in &rows {
        if let Some(leg) = &row.leg {
            *links.entry((row.id, leg.clone())).or_default() += 1;
        }
    }
    assert!(
        links.values().all(|n| *n == 1),
        "no allocation on two lines of a leg"
    );
    let ids: HashSet<i64> = rows.iter().map(|r| r.id).collect();
    for leg in legs {
        for id in &ids {
            let payer = &rows.iter().find(|r| r.id == *id).unwrap().payer;
            let expected = usize::from(*leg == "invoice" || payer != &r.council);
            assert_eq!(
                links.get(&(*id, leg.to_string())).copied().unwrap_or(0),
                expected,
                "allocation {id} in {leg}"
            );
        }
    }

    // Per recipient and period: what the documents' lines add to, and what the allocations
    // they settle add to.
    #[derive(diesel::QueryableByName)]
    struct Total {
        #[diesel(sql_type = diesel::sql_types::Text)]
        key: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        total: i64,
    }
    let documents: Vec<Total> = diesel::sql_query(format!(
        "SELECT d.kind || '/' || d.recipient_organisation_id || '/' || d.period AS key, CAST(SUM(x.amount_minor) AS BIGINT) AS total \
         FROM document_lines x JOIN settlement_documents d ON d.id = x.document_id \
         WHERE d.project_id = '{}' AND d.credits_document_id IS NULL \
         GROUP BY d.kind, d.recipient_organisation_id, d.period",
        r.project
    ))
    .load(&mut *conn)
    .unwrap();
    let mut by_document: BTreeMap<String, Movement> = BTreeMap::new();
    for t in documents {
        let key = t.key.replace("credit_note/", "");
        by_document
            .entry(key.replace("invoice/", "").replace("top_up_claim/", ""))
            .or_default()
            .documents += t.total;
    }
    for row in &rows {
        if let (Some(period), Some(recipient)) = (&row.period, &row.recipient) {
            // Built in the period of its posting, every allocation is settled in it.
            let posted_in =
                Period::containing(row.posted_at.date(), SettlementFrequency::Quarterly);
            assert_eq!(
                &posted_in.to_string(),
                period,
                "allocation {} settled in its posting period",
                row.id
            );
            by_document
                .entry(format!("{recipient}/{period}"))
                .or_default()
                .ledger += row.amount;
        }
    }
    for (key, movement) in &by_document {
        assert_eq!(
            movement.ledger, movement.documents,
            "{key}: lines = ledger movements"
        );
    }
    // Every reversal is on a document, as a credit line, exactly once per leg.
    let reversal_ids: Vec<Row> = diesel::sql_query(format!(
        "SELECT a.id, a.payer_organisation_id AS payer, a.amount_minor AS amount, NULL AS leg, NULL AS period, NULL AS recipient, a.posted_at \
         FROM allocations a WHERE a.project_id = '{}' AND a.reverses_id IS NOT NULL AND a.amount_minor <> 0",
        r.project
    ))
    .load(&mut *conn)
    .unwrap();
    assert!(!reversal_ids.is_empty(), "the workload revoked claims");
    for reversal in reversal_ids {
        assert!(
            links.contains_key(&(reversal.id, "invoice".into())),
            "reversal {} credited",
            reversal.id
        );
    }
}

#[tokio::test]
async fn a_fund_sees_its_position_and_a_council_its_own_statement() {
    let app = spawn_app().await;
    let r = reconnections(&app, "direct").await;
    r.verified_claim(&app, "R-1").await;
    r.verified_claim(&app, "R-2").await;
    let q = current_period(&app);
    let report = r.settle(&app, &r.provider_token, &q).await;
    let cbo_invoice = id_of(document_for(report.assert_status(201), "invoice", &r.cbo));
    app.post(
        &format!("/v1/documents/{cbo_invoice}/issue"),
        Some(&r.provider_token),
        &json!({}),
    )
    .await
    .assert_status(200);
    let cbo_token = app.token(Role::FundManager, Some(&r.cbo));
    app.post(
        &format!("/v1/documents/{cbo_invoice}/payments"),
        Some(&cbo_token),
        &json!({"amount": gbp("150.00"), "paid_on": app.clock.today().to_string(), "reference": "CBO-1"}),
    )
    .await
    .assert_status(201);

    let funds = app.get("/v1/funds", Some(&app.admin())).await;
    let fund_of = |owner: &str| {
        funds.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["owner_organisation_id"] == owner)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (cbo_fund, sof_fund) = (fund_of(&r.cbo), fund_of(&r.sof));
    // The plan for this quarter, set by the fund that owns the project.
    let plan = json!({"quarters": [{"quarter": q, "planned": gbp("5000.00")}]});
    let path = format!("/v1/projects/{}/payment-plan", r.project);
    let sof_token = app.token(Role::FundManager, Some(&r.sof));
    app.put_json(&path, Some(&sof_token), &plan)
        .await
        .assert_problem(403);
    app.put_json(
        &path,
        Some(&cbo_token),
        &json!({"quarters": [{"quarter": "2021-03", "planned": gbp("1.00")}]}),
    )
    .await
    .assert_invalid_field("quarters[0].quarter");
    app.put_json(&path, Some(&cbo_token), &plan)
        .await
        .assert_status(204);
    // The plan reads back, to those who keep it.
    let stored =
        json!({"quarters": [{"quarter": q, "planned": gbp("5000.00")}], "total": gbp("5000.00")});
    let read = app.get(&path, Some(&cbo_token)).await;
    assert_eq!(read.assert_status(200), &stored);
    app.get(&path, Some(&sof_token)).await.assert_problem(403);
    // It stays within the service's quarters (2016-Q1 to four quarters after 2030-Q4) and what
    // the payers committed (£2,020,000.00 in all); a refused plan changes nothing.
    let outside = json!({"quarters": [
        {"quarter": "2015-Q4", "planned": gbp("1.00")},
        {"quarter": "2031-Q4", "planned": gbp("1.00")},
        {"quarter": "2032-Q1", "planned": gbp("1.00")},
    ]});
    let refused = app.put_json(&path, Some(&cbo_token), &outside).await;
    refused.assert_invalid_field("quarters[0].quarter");
    refused.assert_invalid_field("quarters[2].quarter");
    let too_much = json!({"quarters": [
        {"quarter": "2021-Q1", "planned": gbp("2000000.00")},
        {"quarter": "2021-Q2", "planned": gbp("20000.01")},
    ]});
    app.put_json(&path, Some(&cbo_token), &too_much)
        .await
        .assert_invalid_field("quarters");
    let read = app.get(&path, Some(&cbo_token)).await;
    assert_eq!(read.assert_status(200), &stored);

    let position = app
        .get(&format!("/v1/funds/{cbo_fund}/position"), Some(&cbo_token))
        .await;
    let p = position.assert_status(200).clone();
    // The CBO's own payer alone makes the fund's totals.
    assert_eq!(p["committed"], gbp("303000.00"));
    assert_eq!(p["allocated"], gbp("300.00"));
    assert_eq!(p["invoiced"], gbp("300.00"));
    assert_eq!(p["paid"], gbp("150.00"));
    assert_eq!(p["outstanding"], gbp("150.00"));
    assert_eq!(p["headroom"], gbp("302700.00"));
    assert_eq!(p["uncommitted"], gbp("39697000.00"));
    let project = &p["projects"][0];
    assert_eq!(
        project["payers"].as_array().unwrap().len(),
        3,
        "the project's own fund sees every payer"
    );
    assert_eq!(project["payers"][2]["allocated"], gbp("1009.90"));
    assert_eq!(
        project["plan"],
        json!([{"quarter": q, "planned": gbp("5000.00"), "actual": gbp("2000.00")}])
    );
    // The Social Outcomes Fund tops the same project up: it sees its own payer only.
    let sof = app
        .get(&format!("/v1/funds/{sof_fund}/position"), Some(&sof_token))
        .await;
    let sof = sof.assert_status(200).clone();
    assert_eq!(sof["allocated"], gbp("690.10"));
    let payers: Vec<&str> = sof["projects"][0]["payers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["organisation_id"].as_str().unwrap())
        .collect();
    assert_eq!(payers, [r.sof.as_str()]);
    // Nobody else reads a fund's position.
    app.get(&format!("/v1/funds/{cbo_fund}/position"), Some(&sof_token))
        .await
        .assert_problem(403);
    app.get(
        &format!("/v1/funds/{cbo_fund}/position"),
        Some(&app.token(Role::Commissioner, Some(&r.council))),
    )
    .await
    .assert_problem(403);

    // The council's statement: its own share, nothing of any other payer's.
    let council_token = app.token(Role::Commissioner, Some(&r.council));
    let statement = app
        .get(
            &format!("/v1/organisations/{}/statement", r.council),
            Some(&council_token),
        )
        .await;
    let statement = statement.assert_status(200).clone();
    assert_eq!(statement["lines"].as_array().unwrap().len(), 1);
    let line = &statement["lines"][0];
    assert_eq!(
        (
            line["allocated"].clone(),
            line["net"].clone(),
            line["invoiced"].clone()
        ),
        (gbp("1009.90"), gbp("1009.90"), gbp("0.00"))
    );
    let text = statement.to_string();
    for other in [r.cbo.as_str(), r.sof.as_str(), "300.00", "690.10"] {
        assert!(
            !text.contains(other),
            "the statement shows nothing of {other}"
        );
    }
    let csv = app
        .client
        .get(app.url(&format!(
            "/v1/organisations/{}/statement.csv?from=2020-01-01",
            r.council
        )))
        .bearer_auth(&council_token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let text = csv.text().await.unwrap();
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        (rows.len(), &rows[0][7], &rows[0][9]),
        (1, "1009.90", "1009.90")
    );
    // Before the claims: nothing allocated in the window.
    let empty = app
        .get(
            &format!(
                "/v1/organisations/{}/statement?from=2020-01-01&to=2020-12-31",
                r.council
            ),
            Some(&council_token),
        )
        .await;
    assert_eq!(
        empty.assert_status(200)["lines"][0]["allocated"],
        gbp("0.00")
    );
    app.get(
        &format!("/v1/organisations/{}/statement", r.cbo),
        Some(&council_token),
    )
    .await
    .assert_problem(403);
    app.get(
        &format!(
            "/v1/organisations/{}/statement?from=2021-01-02&to=2021-01-01",
            r.council
        ),
        Some(&council_token),
    )
    .await
    .assert_invalid_field("to");
}

#[tokio::test]
async fn caps_warn_at_eighty_percent_and_project_where_they_bind() {
    let app = spawn_app().await;
    let p = parties(&app).await;
    let body = json!({
        "name": "=HYPERLINK(\"http://x.example\") caps", "fund_id": p.fund, "provider_organisation_id": p.provider,
        "service_start": "2016-01-01", "service_end": "2030-12-31",
        "payers": [
            {"organisation_id": p.central, "role": "central_top_up", "max_commitment": gbp("1000.00")},
            {"organisation_id": p.council_a, "role": "local_commissioner", "lead": true, "max_commitment": gbp("1000.00")},
        ],
        "outcomes": [{"code": "x", "name": "X", "price": gbp("1700.00"), "unit": "achievement"}],
        "validator_organisation_ids": [p.validator],
    });
    let project = app.post("/v1/projects", Some(&app.admin()), &body).await;
    let project = project.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let provider = app.token(Role::Provider, Some(&p.provider));
    let claim = app
        .post(
            &format!("/v1/projects/{project}/claims"),
            Some(&provider),
            &json!({"participant_ref": "A", "outcome_code": "x", "achieved_on": "2020-01-01"}),
        )
        .await;
    let claim = claim.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/v1/claims/{claim}/verify"),
        Some(&app.token(Role::Validator, Some(&p.validator))),
        &json!({}),
    )
    .await
    .assert_status(200);
    // A quarter later, the last four complete quarters paid 850.00 each payer: 150.00 left
    // binds this quarter.
    app.clock.advance_days(92);
    let manager = app.token(Role::FundManager, Some(&p.central));
    let position = app
        .get(&format!("/v1/funds/{}/position", p.fund), Some(&manager))
        .await;
    let position = position.assert_status(200).clone();
    let payer = &position["projects"][0]["payers"][0];
    assert_eq!(payer["warning"], "near");
    assert_eq!(payer["cap_binds_in"], current_period(&app));
    let levels: Vec<&str> = position["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["near", "near"]);
    // A name that a spreadsheet would run as a formula is shown as text in the CSV.
    let council = app.token(Role::Commissioner, Some(&p.council_a));
    let csv = app
        .client
        .get(app.url(&format!("/v1/organisations/{}/statement.csv", p.council_a)))
        .bearer_auth(&council)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(csv.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    assert!(rows[0][4].starts_with("'=HYPERLINK"), "{csv}");
}

/// A verification and its revocation in one period make a document of nothing: issuing it
/// numbers it (the sequence keeps it) and closes it, with nothing due and nobody emailed.
#[tokio::test]
async fn a_document_of_nothing_is_closed_when_issued() {
    let app = spawn_app().await;
    let r = reconnections(&app, "direct").await;
    let claim = r.verified_claim(&app, "R-0").await;
    app.post(
        &format!("/v1/claims/{claim}/revoke"),
        Some(&r.validator_token),
        &json!({"reason": "entered twice"}),
    )
    .await
    .assert_status(200);
    let report = r
        .settle(&app, &r.provider_token, &current_period(&app))
        .await;
    let report = report.assert_status(201).clone();
    let nothing = document_for(&report, "invoice", &r.council);
    assert_eq!(nothing["total"], gbp("0.00"));
    let emails = app.count("outbox");
    let issued = app
        .post(
            &format!("/v1/documents/{}/issue", id_of(nothing)),
            Some(&r.provider_token),
            &json!({}),
        )
        .await;
    let issued = issued.assert_status(200);
    assert_eq!(issued["status"], "paid", "{issued}");
    assert!(issued["number"]
        .as_str()
        .is_some_and(|n| n.ends_with("-0001")));
    assert!(issued["due_on"].is_null());
    assert_eq!(app.count("outbox"), emails, "nobody is asked to act");
    // Nothing is outstanding, and nothing can be paid.
    app.post(
        &format!("/v1/documents/{}/payments", id_of(nothing)),
        Some(&app.token(Role::Commissioner, Some(&r.council))),
        &json!({"amount": gbp("0.01"), "paid_on": app.clock.today().to_string(), "reference": "x"}),
    )
    .await
    .assert_invalid_field("amount");
    assert_ledger_ok(&app);
}

/// A credit note that comes after its invoice was paid is settled by a refund its issuer
/// records, or set against a later invoice of the same parties: the council's statement then
/// owes nothing either way, and `cofund check` finds every document's payments add up.
#[tokio::test]
async fn a_credit_note_is_settled_by_refunds_and_a_set_off() {
    let app = spawn_app().await;
    let r = reconnections(&app, "direct").await;
    let council_token = app.token(Role::Commissioner, Some(&r.council));
    let today = |app: &TestApp| app.clock.today().to_string();
    let money = |amount: &str, app: &TestApp| json!({"amount": gbp(amount), "paid_on": today(app), "reference": "BACS"});
    // Two outcomes invoiced to the council and paid.
    let claims = [
        r.verified_claim(&app, "R-1").await,
        r.verified_claim(&app, "R-2").await,
    ];
    let built = r
        .settle(&app, &r.provider_token, &current_period(&app))
        .await;
    let first = issue_council_invoice(&app, &r, built.assert_status(201)).await;
    app.post(
        &format!("/v1/documents/{first}/payments"),
        Some(&council_token),
        &money("1009.90", &app),
    )
    .await
    .assert_status(201);
    // Both revoked next quarter: a credit note of −1,009.90 to the council.
    app.clock.advance_days(92);
    for claim in &claims {
        app.post(
            &format!("/v1/claims/{claim}/revoke"),
            Some(&r.validator_token),
            &json!({"reason": "ineligible"}),
        )
        .await
        .assert_status(200);
    }
    let built = r
        .settle(&app, &r.provider_token, &current_period(&app))
        .await;
    let credit = id_of(document_for(
        built.assert_status(201),
        "credit_note",
        &r.council,
    ));
    app.post(
        &format!("/v1/documents/{credit}/issue"),
        Some(&r.provider_token),
        &json!({}),
    )
    .await
    .assert_status(200);
    // The provider refunds part of it; the council cannot record the provider's refund, a
    // refund beyond what is left is refused, and a credit note is never "paid" by its recipient.
    let refunds = format!("/v1/documents/{credit}/refunds");
    app.post(&refunds, Some(&council_token), &money("500.00", &app))
        .await
        .assert_problem(403);
    app.post(&refunds, Some(&r.provider_token), &money("1009.91", &app))
        .await
        .assert_invalid_field("amount");
    app.post(
        &format!("/v1/documents/{credit}/payments"),
        Some(&council_token),
        &money("1.00", &app),
    )
    .await
    .assert_invalid_field("amount");
    let part = app
        .post(&refunds, Some(&r.provider_token), &money("500.00", &app))
        .await;
    let part = part.assert_status(201);
    assert_eq!(
        (&part["status"], &part["paid"], &part["outstanding"]),
        (&json!("issued"), &gbp("-500.00"), &gbp("-509.90"))
    );
    // A new outcome the quarter after: its invoice takes the rest of the credit note as far as
    // it goes (504.95 of the 509.90 left), and the provider refunds the last 4.95.
    app.clock.advance_days(92);
    r.verified_claim(&app, "R-3").await;
    let built = r
        .settle(&app, &r.provider_token, &current_period(&app))
        .await;
    let built = built.assert_status(201).clone();
    let cbo_invoice = id_of(document_for(&built, "invoice", &r.cbo));
    // Issued and voided unpaid, that invoice is cancelled by a credit note that owes nothing
    // back: it is neither refunded nor set off (the outcome is invoiced again).
    let voided = issue_council_invoice(&app, &r, &built).await;
    let void = app
        .post(
            &format!("/v1/documents/{voided}/void"),
            Some(&r.provider_token),
            &json!({"reason": "sent to the wrong address"}),
        )
        .await;
    let cancelling = void.assert_status(200)["credit_note"].clone();
    assert_eq!(cancelling["outstanding"], gbp("0.00"));
    let cancelling = id_of(&cancelling);
    app.post(
        &format!("/v1/documents/{cancelling}/refunds"),
        Some(&r.provider_token),
        &money("1.00", &app),
    )
    .await
    .assert_invalid_field("amount");
    let rebuilt = r
        .settle(&app, &r.provider_token, &current_period(&app))
        .await;
    let third = issue_council_invoice(&app, &r, rebuilt.assert_status(201)).await;
    app.post(
        &format!("/v1/documents/{cancelling}/set-off"),
        Some(&council_token),
        &json!({"against": third}),
    )
    .await
    .assert_problem(409);
    let set_off = format!("/v1/documents/{credit}/set-off");
    app.post(
        &set_off,
        Some(&council_token),
        &json!({"against": cbo_invoice}),
    )
    .await
    .assert_invalid_field("against");
    let set = app
        .post(&set_off, Some(&council_token), &json!({"against": third}))
        .await;
    assert_eq!(set.assert_status(200)["paid"], gbp("-1004.95"));
    let invoice = app
        .get(&format!("/v1/documents/{third}"), Some(&council_token))
        .await;
    let invoice = invoice.assert_status(200);
    assert_eq!(invoice["status"], "paid");
    let payment = &invoice["payments"][0];
    assert_eq!(
        (&payment["settled_by"], &payment["counterpart_document_id"]),
        (&json!("set_off"), &json!(credit))
    );
    let last = app
        .post(&refunds, Some(&r.provider_token), &money("4.95", &app))
        .await;
    assert_eq!(last.assert_status(201)["status"], "paid");
    // The council was invoiced 504.95 net and paid 504.95 net: nothing is outstanding.
    let statement = app
        .get(
            &format!("/v1/organisations/{}/statement?from=2020-01-01", r.council),
            Some(&council_token),
        )
        .await;
    let line = &statement.assert_status(200)["lines"][0];
    assert_eq!(
        (&line["invoiced"], &line["paid"], &line["outstanding"]),
        (&gbp("504.95"), &gbp("504.95"), &gbp("0.00"))
    );
    assert_ledger_ok(&app);
}

/// Issues the council's invoice in a settlement report, and gives its id.
async fn issue_council_invoice(app: &TestApp, r: &Reconnections, report: &Value) -> String {
    let id = id_of(document_for(report, "invoice", &r.council));
    let path = format!("/v1/documents/{id}/issue");
    app.post(&path, Some(&r.provider_token), &json!({}))
        .await
        .assert_status(200);
    id
}
