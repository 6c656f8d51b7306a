//! Claims, verification and the split ledger through HTTP: the worked examples of DOMAIN.md,
//! each rule's accept and reject cases, idempotency, concurrency, revocation and the checker.

use serde_json::{json, Value};

use crate::helpers::*;
use cofund::api::auth::Role;

/// A project under test with the tokens of the people who work on it.
struct Setup {
    project: String,
    provider: String,
    validator: String,
    payers: Vec<String>,
    provider_token: String,
    validator_token: String,
}

/// Creates a project (no fund) with `payers` as (role, max commitment, share) and `outcomes`;
/// `extra` is merged into the project body.
async fn setup(
    app: &TestApp,
    payers: &[(&str, &str, Option<&str>)],
    outcomes: Value,
    extra: Value,
) -> Setup {
    let provider = app.org("Provider", "provider", &[]).await;
    let validator = app.org("Validator", "validator", &[]).await;
    let mut payer_ids = Vec::new();
    let mut payer_bodies = Vec::new();
    for (i, (role, max, share)) in payers.iter().enumerate() {
        let id = app.org(&format!("Payer {i}"), "local_authority", &[]).await;
        let mut body = json!({"organisation_id": id, "role": role, "max_commitment": gbp(max)});
        if let Some(share) = share {
            body["share"] = json!(share);
        }
        payer_bodies.push(body);
        payer_ids.push(id);
    }
    let mut body = json!({
        "name": "Test project", "provider_organisation_id": provider,
        "service_start": "2016-01-01", "service_end": "2025-12-31",
        "payers": payer_bodies, "outcomes": outcomes, "validator_organisation_ids": [validator],
    });
    for (k, v) in extra.as_object().unwrap() {
        if k == "payer_overrides" {
            for (i, o) in v.as_array().unwrap().iter().enumerate() {
                for (pk, pv) in o.as_object().unwrap() {
                    body["payers"][i][pk] = pv.clone();
                }
            }
        } else {
            body[k] = v.clone();
        }
    }
    let project = app.post("/v1/projects", Some(&app.admin()), &body).await;
    let project = project.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Setup {
        provider_token: app.token_for(Role::Provider, Some(&provider), "provider-clerk"),
        validator_token: app.token_for(Role::Validator, Some(&validator), "validator-officer"),
        project,
        provider,
        validator,
        payers: payer_ids,
    }
}

fn outcome(code: &str, price: &str) -> Value {
    json!({"code": code, "name": code, "price": gbp(price), "unit": "achievement"})
}

impl Setup {
    async fn submit(&self, app: &TestApp, claim: Value) -> Reply {
        app.post(
            &format!("/v1/projects/{}/claims", self.project),
            Some(&self.provider_token),
            &claim,
        )
        .await
    }

    /// Submits and verifies; returns the verified claim.
    async fn claim_and_verify(&self, app: &TestApp, claim: Value) -> Value {
        let submitted = self.submit(app, claim).await;
        let id = submitted.assert_status(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.verify(app, &id).await.assert_status(200).clone()
    }

    async fn verify(&self, app: &TestApp, claim_id: &str) -> Reply {
        app.post(
            &format!("/v1/claims/{claim_id}/verify"),
            Some(&self.validator_token),
            &json!({}),
        )
        .await
    }
}

fn claim(participant: &str, code: &str, on: &str) -> Value {
    json!({"participant_ref": participant, "outcome_code": code, "achieved_on": on})
}

fn amounts(claim: &Value) -> Vec<(String, String)> {
    claim["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["payer_organisation_id"].as_str().unwrap().to_owned(),
                a["amount"]["amount"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn reconnections_three_payers_pro_rata() {
    let app = spawn_app().await;
    let s = setup(
        &app,
        // CBO, SOF and Worcestershire County Council.
        &[
            ("co_commissioner", "303000.00", None),
            ("co_commissioner", "697000.00", None),
            ("local_commissioner", "1020000.00", None),
        ],
        json!([outcome("loneliness_reduced", "1000.00")]),
        json!({}),
    )
    .await;
    let verified = s
        .claim_and_verify(&app, claim("R-1", "loneliness_reduced", "2017-03-01"))
        .await;
    assert_eq!(verified["status"], "verified");
    assert_eq!(verified["payable"], gbp("1000.00"));
    assert_eq!(
        amounts(&verified),
        vec![
            (s.payers[0].clone(), "150.00".to_owned()),
            (s.payers[1].clone(), "345.05".to_owned()),
            (s.payers[2].clone(), "504.95".to_owned()),
        ]
    );
    // Running totals on the project.
    let project = app
        .get(&format!("/v1/projects/{}", s.project), Some(&app.admin()))
        .await;
    let payers = project.assert_status(200)["payers"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(payers[1]["totals"]["allocated"], gbp("345.05"));
    assert_eq!(payers[1]["totals"]["headroom"], gbp("696654.95"));
    // A commissioner sees its own money only.
    let council = app.token(Role::Commissioner, Some(&s.payers[2]));
    let seen = app
        .get(
            &format!("/v1/claims/{}", verified["id"].as_str().unwrap()),
            Some(&council),
        )
        .await;
    assert_eq!(
        amounts(seen.assert_status(200)),
        vec![(s.payers[2].clone(), "504.95".to_owned())]
    );
    let project = app
        .get(&format!("/v1/projects/{}", s.project), Some(&council))
        .await;
    let payers = project.assert_status(200)["payers"]
        .as_array()
        .unwrap()
        .clone();
    assert!(payers[0].get("totals").is_none() && payers[2].get("totals").is_some());
    assert_ledger_ok(&app);
}

#[tokio::test]
async fn rough_sleeping_per_participant_cap() {
    let app = spawn_app().await;
    let outcomes = json!([
        outcome("accommodation_entry", "600.00"),
        outcome("accommodation_3m", "1500.00"),
        outcome("accommodation_6m", "1500.00"),
        outcome("accommodation_12m", "2600.00"),
        outcome("accommodation_18m", "2500.00"),
        outcome("accommodation_24m", "1800.00"),
        outcome("ft_work_13w", "2400.00"),
        outcome("ft_work_26w", "2200.00"),
        outcome("drugs_entry", "120.00"),
        outcome("drugs_sustained", "2600.00"),
        outcome("alcohol_entry", "100.00"),
        outcome("alcohol_sustained", "1100.00"),
        outcome("volunteering", "500.00"),
    ]);
    let s = setup(
        &app,
        &[("local_commissioner", "5000000.00", None)],
        outcomes,
        json!({"participant_cap": gbp("19000.00")}),
    )
    .await;
    let sequence = [
        ("accommodation_entry", "2016-02-01", "600.00"),
        ("accommodation_3m", "2016-05-01", "1500.00"),
        ("accommodation_6m", "2016-08-01", "1500.00"),
        ("accommodation_12m", "2017-02-01", "2600.00"),
        ("accommodation_18m", "2017-08-01", "2500.00"),
        ("accommodation_24m", "2018-02-01", "1800.00"),
        ("ft_work_13w", "2018-03-01", "2400.00"),
        ("ft_work_26w", "2018-06-01", "2200.00"),
        ("drugs_entry", "2018-07-01", "120.00"),
        ("drugs_sustained", "2018-10-01", "2600.00"),
        ("alcohol_entry", "2018-11-01", "100.00"),
        ("alcohol_sustained", "2019-02-01", "1080.00"),
        ("volunteering", "2019-03-01", "0.00"),
    ];
    let mut last = Value::Null;
    for (code, on, pays) in sequence {
        last = s.claim_and_verify(&app, claim("RS-7", code, on)).await;
        assert_eq!(last["payable"]["amount"], pays, "{code}");
    }
    // The claim past the cap pays nothing and says why.
    assert_eq!(last["gross"], gbp("500.00"));
    assert_eq!(last["adjustments"][0]["kind"], "participant_cap");
    assert_eq!(last["adjustments"][0]["amount"], gbp("500.00"));
    assert!(last["adjustments"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("19000.00"));
    // A second "3 months in accommodation" is a duplicate.
    let duplicate = s
        .submit(&app, claim("RS-7", "accommodation_3m", "2019-05-01"))
        .await;
    let problem = duplicate.assert_problem(422);
    assert_eq!(problem["reasons"][0]["code"], "duplicate");
    // Another participant is not affected by this one's cap.
    let other = s
        .claim_and_verify(&app, claim("RS-8", "accommodation_entry", "2019-05-01"))
        .await;
    assert_eq!(other["payable"], gbp("600.00"));
    assert_ledger_ok(&app);
}

#[tokio::test]
async fn dwp_ladder_needs_the_13_week_outcome_paid_and_13_more_weeks() {
    let app = spawn_app().await;
    let outcomes = json!([
        outcome("employment_13w", "2600.00"),
        {"code": "employment_26w", "name": "Employment 26 weeks", "price": gbp("1000.00"), "unit": "achievement",
         "requires": {"outcome_code": "employment_13w", "min_days_after": 91}},
    ]);
    let s = setup(
        &app,
        &[("local_commissioner", "3300000.00", None)],
        outcomes,
        json!({}),
    )
    .await;
    let early = s
        .submit(&app, claim("DWP-1", "employment_26w", "2016-07-01"))
        .await;
    assert_eq!(
        early.assert_problem(422)["reasons"][0]["code"],
        "prerequisite_missing"
    );

    let first = s
        .submit(&app, claim("DWP-1", "employment_13w", "2016-04-01"))
        .await;
    let first_id = first.assert_status(201)["id"].as_str().unwrap().to_owned();
    // Too soon: fewer than 13 weeks after the 13-week outcome.
    let soon = s
        .submit(&app, claim("DWP-1", "employment_26w", "2016-06-01"))
        .await;
    assert_eq!(
        soon.assert_problem(422)["reasons"][0]["code"],
        "prerequisite_too_recent"
    );
    // Submitted after the 13 weeks, but the 13-week outcome is not paid yet.
    let second = s
        .submit(&app, claim("DWP-1", "employment_26w", "2016-07-01"))
        .await;
    let second_id = second.assert_status(201)["id"].as_str().unwrap().to_owned();
    s.verify(&app, &second_id).await.assert_problem(409);
    s.verify(&app, &first_id).await.assert_status(200);
    let paid = s.verify(&app, &second_id).await;
    assert_eq!(paid.assert_status(200)["payable"], gbp("1000.00"));
    let project = app
        .get(&format!("/v1/projects/{}", s.project), Some(&app.admin()))
        .await;
    assert_eq!(
        project.assert_status(200)["payers"][0]["totals"]["allocated"],
        gbp("3600.00")
    );
}

#[tokio::test]
async fn rounding_never_loses_or_invents_a_penny() {
    let app = spawn_app().await;
    let outcomes = json!([{"code": "x", "name": "x", "price": gbp("0.01"), "unit": "day", "max_units_per_participant": 10000}]);
    let thirds = [
        ("local_commissioner", "1000000.00", Some("0.333334")),
        ("co_commissioner", "1000000.00", Some("0.333333")),
        ("co_commissioner", "1000000.00", Some("0.333333")),
    ];
    let decimal = setup(&app, &thirds, outcomes.clone(), json!({})).await;
    let pounds = setup(
        &app,
        &[
            ("local_commissioner", "1.00", None),
            ("co_commissioner", "1.00", None),
            ("co_commissioner", "1.00", None),
        ],
        outcomes,
        json!({}),
    )
    .await;
    let mut day = chrono::NaiveDate::from_ymd_opt(2016, 1, 1).unwrap();
    for pence in [1i64, 2, 3, 100, 200, 1001, 7] {
        for s in [&decimal, &pounds] {
            day += chrono::Duration::days(pence);
            let c = json!({"participant_ref": format!("P{pence}"), "outcome_code": "x", "achieved_on": day.to_string(), "quantity": pence});
            let verified = s.claim_and_verify(&app, c).await;
            let total: i64 = verified["allocations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    let minor = |v: &Value| {
                        v["amount"]
                            .as_str()
                            .unwrap()
                            .replace('.', "")
                            .parse::<i64>()
                            .unwrap()
                    };
                    minor(&a["amount"]) + minor(&a["shortfall"])
                })
                .sum();
            assert_eq!(total, pence, "allocated + shortfall = payable for {pence}p");
        }
    }
    // £1.00 by thirds: the extra penny goes to the payer listed first.
    let s = setup(
        &app,
        &[
            ("local_commissioner", "500.00", None),
            ("co_commissioner", "500.00", None),
            ("co_commissioner", "500.00", None),
        ],
        json!([outcome("y", "1.00")]),
        json!({}),
    )
    .await;
    let verified = s
        .claim_and_verify(&app, claim("Q", "y", "2016-01-01"))
        .await;
    let parts: Vec<String> = amounts(&verified).into_iter().map(|(_, a)| a).collect();
    assert_eq!(parts, ["0.34", "0.33", "0.33"]);
    // Pro rata maximums of £1 each: the caps hold and the rest is shortfall.
    let project = app
        .get(
            &format!("/v1/projects/{}", pounds.project),
            Some(&app.admin()),
        )
        .await;
    for payer in project.assert_status(200)["payers"].as_array().unwrap() {
        assert_eq!(
            payer["totals"]["headroom"],
            gbp("0.00"),
            "each £1 cap is used and never exceeded"
        );
    }
    assert_ledger_ok(&app);
}

#[tokio::test]
async fn each_rule_accepts_and_rejects_through_the_api() {
    let app = spawn_app().await;
    let outcomes = json!([
        {"code": "employment_entry", "name": "e", "price": gbp("500.00"), "unit": "achievement", "exclusive_group": "entry"},
        {"code": "self_employment_entry", "name": "s", "price": gbp("500.00"), "unit": "achievement", "exclusive_group": "entry"},
        {"code": "adult_job", "name": "a", "price": gbp("1000.00"), "unit": "achievement", "min_age_at_start": 18, "max_age_at_start": 24},
        {"code": "week_out_of_care", "name": "w", "price": gbp("650.00"), "unit": "week", "max_units_per_participant": 8},
        {"code": "wellbeing", "name": "wb", "price": gbp("100.00"), "unit": "achievement", "max_claims_per_participant": 3},
    ]);
    let s = setup(
        &app,
        &[("local_commissioner", "1000000.00", None)],
        outcomes,
        json!({"referral_cutoff": "2020-12-31"}),
    )
    .await;
    let with = |c: Value, extra: Value| {
        let mut c = c;
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let referred = json!({"referred_on": "2016-01-10"});
    let code = |r: &Reply| {
        r.assert_problem(422)["reasons"][0]["code"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    // Mutually exclusive group.
    s.submit(
        &app,
        with(
            claim("A", "employment_entry", "2016-03-01"),
            referred.clone(),
        ),
    )
    .await
    .assert_status(201);
    let r = s
        .submit(
            &app,
            with(
                claim("A", "self_employment_entry", "2016-03-02"),
                referred.clone(),
            ),
        )
        .await;
    assert_eq!(code(&r), "mutually_exclusive");
    // Service window and referral cut-off.
    assert_eq!(
        code(
            &s.submit(
                &app,
                with(
                    claim("B", "employment_entry", "2015-12-31"),
                    referred.clone()
                )
            )
            .await
        ),
        "outside_service_period"
    );
    assert_eq!(
        code(
            &s.submit(&app, claim("B", "employment_entry", "2016-03-01"))
                .await
        ),
        "referral_date_required"
    );
    let late = with(
        claim("B", "employment_entry", "2021-03-01"),
        json!({"referred_on": "2021-01-05"}),
    );
    assert_eq!(code(&s.submit(&app, late).await), "referred_after_cutoff");
    // Age at start.
    let young = with(
        claim("C", "adult_job", "2016-05-01"),
        json!({"referred_on": "2016-01-10", "age_at_start": 17}),
    );
    assert_eq!(code(&s.submit(&app, young).await), "age_not_eligible");
    let adult = with(
        claim("C", "adult_job", "2016-05-01"),
        json!({"referred_on": "2016-01-10", "age_at_start": 19}),
    );
    s.submit(&app, adult).await.assert_status(201);
    // Time units: periods cannot overlap, nor pass the maximum per participant.
    let weeks = |on: &str, q: i32| {
        with(
            claim("D", "week_out_of_care", on),
            json!({"referred_on": "2016-01-10", "quantity": q}),
        )
    };
    let first = s.submit(&app, weeks("2016-02-28", 4)).await;
    assert_eq!(first.assert_status(201)["period_start"], "2016-02-01");
    assert_eq!(
        code(&s.submit(&app, weeks("2016-03-06", 2)).await),
        "overlapping_period"
    );
    assert_eq!(
        code(&s.submit(&app, weeks("2016-04-24", 5)).await),
        "max_units"
    );
    let more = s.submit(&app, weeks("2016-03-27", 4)).await;
    let more_id = more.assert_status(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(
        s.verify(&app, &more_id).await.assert_status(200)["payable"],
        gbp("2600.00")
    );
    // Allowed repeats.
    for on in ["2016-02-01", "2016-03-01", "2016-04-01"] {
        s.submit(&app, with(claim("E", "wellbeing", on), referred.clone()))
            .await
            .assert_status(201);
    }
    assert_eq!(
        code(
            &s.submit(
                &app,
                with(claim("E", "wellbeing", "2016-05-01"), referred.clone())
            )
            .await
        ),
        "duplicate"
    );
    // Unknown outcome, future date.
    assert_eq!(
        code(
            &s.submit(
                &app,
                with(claim("F", "moon_landing", "2016-05-01"), referred.clone())
            )
            .await
        ),
        "unknown_outcome"
    );
    assert_eq!(
        code(
            &s.submit(
                &app,
                with(
                    claim("F", "employment_entry", "2099-01-01"),
                    referred.clone()
                )
            )
            .await
        ),
        "outside_service_period"
    );
    // A claim with a missing field names it.
    s.submit(
        &app,
        json!({"participant_ref": "G", "outcome_code": "wellbeing"}),
    )
    .await
    .assert_invalid_field("achieved_on");
}

#[tokio::test]
async fn deadweight_volume_and_contract_caps_explain_every_pound() {
    let app = spawn_app().await;
    let outcomes = json!([
        {"code": "edge_of_care_week", "name": "w", "price": gbp("300.00"), "unit": "achievement", "deadweight": "0.33"},
        {"code": "scarce", "name": "s", "price": gbp("1000.00"), "unit": "achievement", "volume_cap": 2},
    ]);
    let s = setup(
        &app,
        &[("local_commissioner", "1000000.00", None)],
        outcomes,
        json!({"max_outcome_payment": gbp("2500.00")}),
    )
    .await;
    let dw = s
        .claim_and_verify(&app, claim("N1", "edge_of_care_week", "2016-02-01"))
        .await;
    assert_eq!(dw["gross"], gbp("300.00"));
    assert_eq!(dw["adjustments"][0]["kind"], "deadweight");
    assert_eq!(dw["adjustments"][0]["amount"], gbp("99.00"));
    assert_eq!(dw["payable"], gbp("201.00"));
    s.claim_and_verify(&app, claim("N1", "scarce", "2016-02-02"))
        .await;
    s.claim_and_verify(&app, claim("N2", "scarce", "2016-02-03"))
        .await;
    let third = s
        .claim_and_verify(&app, claim("N3", "scarce", "2016-02-04"))
        .await;
    assert_eq!(third["adjustments"][0]["kind"], "volume_cap");
    assert_eq!(third["payable"], gbp("0.00"));
    // Paid so far 201 + 2,000 = 2,201 of the 2,500 contract cap.
    let fourth = s
        .claim_and_verify(&app, claim("N4", "edge_of_care_week", "2016-02-05"))
        .await;
    assert_eq!(fourth["payable"], gbp("201.00"));
    // 2,402 paid: 98.00 of the cap is left.
    let capped = s
        .claim_and_verify(&app, claim("N5", "edge_of_care_week", "2016-02-06"))
        .await;
    let project = app
        .get(&format!("/v1/projects/{}", s.project), Some(&app.admin()))
        .await;
    assert_eq!(
        project.assert_status(200)["payers"][0]["totals"]["allocated"],
        gbp("2500.00")
    );
    let kinds: Vec<&str> = capped["adjustments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["deadweight", "contract_cap"]);
    assert_eq!(capped["payable"], gbp("98.00"));
    assert_ledger_ok(&app);
}

#[tokio::test]
async fn home_area_payers_and_payer_caps() {
    let app = spawn_app().await;
    let provider = app.org("Skill Mill", "provider", &[]).await;
    let validator = app.org("Validator", "validator", &[]).await;
    let dcms = app.org("DCMS", "central_fund", &[]).await;
    let fund = app.fund(&dcms, "5000000.00").await;
    let newcastle = app
        .org("Newcastle", "local_authority", &["E08000021"])
        .await;
    let durham = app.org("Durham", "local_authority", &["E06000047"]).await;
    let body = json!({
        "name": "Skill Mill", "fund_id": fund, "provider_organisation_id": provider,
        "service_start": "2018-01-01", "service_end": "2023-12-31", "validator_organisation_ids": [validator],
        "payers": [
            {"organisation_id": dcms, "role": "central_top_up", "max_commitment": gbp("600.00")},
            {"organisation_id": newcastle, "role": "local_commissioner", "max_commitment": gbp("700.00"), "home_area_codes": ["E08000021"]},
            {"organisation_id": durham, "role": "local_commissioner", "max_commitment": gbp("700.00"), "home_area_codes": ["E06000047"]},
        ],
        "outcomes": [outcome("job", "1000.00")],
    });
    let project = app.post("/v1/projects", Some(&app.admin()), &body).await;
    let project = project.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let s = Setup {
        project,
        provider_token: app.token_for(Role::Provider, Some(&provider), "clerk"),
        validator_token: app.token_for(Role::Validator, Some(&validator), "officer"),
        provider,
        validator,
        payers: vec![dcms.clone(), newcastle.clone(), durham.clone()],
    };
    let from = |p: &str, area: &str, on: &str| json!({"participant_ref": p, "outcome_code": "job", "achieved_on": on, "home_area": area});
    // DCMS 600/2000 = 30%, the local part 70% goes wholly to the home council.
    let v = s
        .claim_and_verify(&app, from("Y1", "E06000047", "2019-01-01"))
        .await;
    assert_eq!(
        amounts(&v),
        vec![
            (dcms.clone(), "300.00".into()),
            (durham.clone(), "700.00".into())
        ]
    );
    let refused = s.submit(&app, from("Y2", "W06000001", "2019-01-01")).await;
    assert_eq!(
        refused.assert_problem(422)["reasons"][0]["code"],
        "home_area"
    );
    let refused = s.submit(&app, claim("Y2", "job", "2019-01-01")).await;
    assert_eq!(
        refused.assert_problem(422)["reasons"][0]["code"],
        "home_area"
    );
    // Durham is now at its cap: its part becomes shortfall (the default policy).
    let v = s
        .claim_and_verify(&app, from("Y3", "E06000047", "2019-02-01"))
        .await;
    let allocations = v["allocations"].as_array().unwrap();
    let durham_line = allocations
        .iter()
        .find(|a| a["payer_organisation_id"] == durham.as_str())
        .unwrap();
    assert_eq!(durham_line["amount"], gbp("0.00"));
    assert_eq!(durham_line["shortfall"], gbp("700.00"));
    assert_eq!(v["payable"], gbp("1000.00"));
    // The central fund reaches its cap too.
    let v = s
        .claim_and_verify(&app, from("Y4", "E08000021", "2019-03-01"))
        .await;
    assert_eq!(
        amounts(&v),
        vec![
            (dcms.clone(), "0.00".into()),
            (newcastle.clone(), "700.00".into())
        ]
    );
    let project = app
        .get(&format!("/v1/projects/{}", s.project), Some(&app.admin()))
        .await;
    let payers = project.assert_status(200)["payers"]
        .as_array()
        .unwrap()
        .clone();
    for payer in &payers {
        assert!(
            !payer["totals"]["headroom"]["amount"]
                .as_str()
                .unwrap()
                .starts_with('-'),
            "no payer above its cap"
        );
    }
    assert_eq!(payers[0]["totals"]["shortfall"], gbp("300.00"));
    assert_ledger_ok(&app);
}

#[tokio::test]
async fn reallocate_moves_a_capped_payers_part_to_payers_with_headroom() {
    let app = spawn_app().await;
    let s = setup(
        &app,
        &[
            ("local_commissioner", "100.00", Some("0.5")),
            ("co_commissioner", "10000.00", Some("0.5")),
        ],
        json!([outcome("x", "1000.00")]),
        json!({"cap_policy": "reallocate"}),
    )
    .await;
    let v = s
        .claim_and_verify(&app, claim("Z", "x", "2016-01-01"))
        .await;
    assert_eq!(
        amounts(&v),
        vec![
            (s.payers[0].clone(), "100.00".into()),
            (s.payers[1].clone(), "900.00".into())
        ]
    );
    assert!(v["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["shortfall"] == gbp("0.00")));
    assert_ledger_ok(&app);
}

#[tokio::test]
async fn revocation_reverses_exactly_and_restores_headroom() {
    let app = spawn_app().await;
    let s = setup(
        &app,
        &[
            ("local_commissioner", "1000.00", None),
            ("co_commissioner", "2000.00", None),
        ],
        json!([outcome("x", "900.00")]),
        json!({}),
    )
    .await;
    let v = s
        .claim_and_verify(&app, claim("R", "x", "2016-01-01"))
        .await;
    let id = v["id"].as_str().unwrap();
    let path = format!("/v1/claims/{id}/revoke");
    app.post(&path, Some(&s.validator_token), &json!({"reason": ""}))
        .await
        .assert_invalid_field("reason");
    let provider_try = app
        .post(&path, Some(&s.provider_token), &json!({"reason": "no"}))
        .await;
    provider_try.assert_problem(403);
    let revoked = app
        .post(
            &path,
            Some(&s.validator_token),
            &json!({"reason": "evidence was forged"}),
        )
        .await;
    let revoked = revoked.assert_status(200).clone();
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["revocation_reason"], "evidence was forged");
    let lines = revoked["allocations"].as_array().unwrap();
    assert_eq!(lines.len(), 4, "two allocations and their two reversals");
    for original in lines.iter().filter(|a| a["reverses"].is_null()) {
        let reversal = lines
            .iter()
            .find(|a| a["reverses"] == original["id"])
            .expect("each allocation is reversed");
        assert_eq!(
            reversal["amount"]["amount"].as_str().unwrap(),
            format!("-{}", original["amount"]["amount"].as_str().unwrap())
        );
    }
    app.post(&path, Some(&s.validator_token), &json!({"reason": "again"}))
        .await
        .assert_problem(409);
    let project = app
        .get(&format!("/v1/projects/{}", s.project), Some(&app.admin()))
        .await;
    let payers = project.assert_status(200)["payers"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(payers[0]["totals"]["allocated"], gbp("0.00"));
    assert_eq!(payers[0]["totals"]["headroom"], gbp("1000.00"));
    // The participant may be claimed for again, and the ledger never had a row changed.
    s.claim_and_verify(&app, claim("R", "x", "2016-02-01"))
        .await;
    assert!(
        app.execute_sql("UPDATE allocations SET amount_minor = 0")
            .is_err(),
        "allocations are append-only"
    );
    assert!(
        app.execute_sql("DELETE FROM ledger_entries").is_err(),
        "the ledger is append-only"
    );
    assert!(
        app.execute_sql("DELETE FROM claims").is_err(),
        "claims, which the ledger names, are never deleted"
    );
    assert_ledger_ok(&app);
}

#[tokio::test]
async fn rejection_needs_a_reason_and_a_submitted_claim() {
    let app = spawn_app().await;
    let s = setup(
        &app,
        &[("local_commissioner", "1000.00", None)],
        json!([outcome("x", "100.00")]),
        json!({}),
    )
    .await;
    let c = s.submit(&app, claim("J", "x", "2016-01-01")).await;
    let id = c.assert_status(201)["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/claims/{id}/reject");
    app.post(&path, Some(&s.validator_token), &json!({}))
        .await
        .assert_invalid_field("reason");
    let rejected = app
        .post(
            &path,
            Some(&s.validator_token),
            &json!({"reason": "no evidence"}),
        )
        .await;
    assert_eq!(rejected.assert_status(200)["status"], "rejected");
    s.verify(&app, &id).await.assert_problem(409);
    app.post(&path, Some(&s.validator_token), &json!({"reason": "twice"}))
        .await
        .assert_problem(409);
    // A rejected claim does not block a corrected one.
    s.submit(&app, claim("J", "x", "2016-01-02"))
        .await
        .assert_status(201);
}

#[tokio::test]
async fn the_submitter_cannot_verify_and_strangers_cannot_see() {
    let app = spawn_app().await;
    let s = setup(
        &app,
        &[("local_commissioner", "1000.00", None)],
        json!([outcome("x", "100.00")]),
        json!({}),
    )
    .await;
    let c = s.submit(&app, claim("K", "x", "2016-01-01")).await;
    let id = c.assert_status(201)["id"].as_str().unwrap().to_owned();
    // The same person, now holding a commissioner's token.
    let same_person = app.token_for(Role::Commissioner, Some(&s.payers[0]), "provider-clerk");
    app.post(
        &format!("/v1/claims/{id}/verify"),
        Some(&same_person),
        &json!({}),
    )
    .await
    .assert_problem(403);
    // A provider cannot verify at all; another validator is not this project's.
    app.post(
        &format!("/v1/claims/{id}/verify"),
        Some(&s.provider_token),
        &json!({}),
    )
    .await
    .assert_problem(403);
    let other_validator = app.org("Other validator", "validator", &[]).await;
    let stranger = app.token(Role::Validator, Some(&other_validator));
    app.post(
        &format!("/v1/claims/{id}/verify"),
        Some(&stranger),
        &json!({}),
    )
    .await
    .assert_problem(404);
    let other_provider = app.org("Other provider", "provider", &[]).await;
    let other = app.token(Role::Provider, Some(&other_provider));
    app.get(&format!("/v1/claims/{id}"), Some(&other))
        .await
        .assert_problem(404);
    app.post(
        &format!("/v1/projects/{}/claims", s.project),
        Some(&other),
        &claim("L", "x", "2016-01-01"),
    )
    .await
    .assert_problem(404);
    // A paying commissioner that is not the lead may not decide; an admin may.
    let council = app.token_for(Role::Commissioner, Some(&s.payers[0]), "council-officer");
    app.post(
        &format!("/v1/claims/{id}/verify"),
        Some(&council),
        &json!({}),
    )
    .await
    .assert_problem(403);
    app.post(
        &format!("/v1/claims/{id}/verify"),
        Some(&app.admin()),
        &json!({}),
    )
    .await
    .assert_status(200);
    let _ = (&s.provider, &s.validator);
}

#[tokio::test]
async fn participant_references_are_pseudonymised_before_they_are_stored() {
    let app = spawn_app().await;
    let s = setup(
        &app,
        &[("local_commissioner", "1000.00", None)],
        json!([outcome("x", "100.00")]),
        json!({}),
    )
    .await;
    let c = s
        .submit(&app, claim("NHS-943-476-5919", "x", "2016-01-01"))
        .await;
    let c = c.assert_status(201);
    let pseudonym = c["participant_pseudonym"].as_str().unwrap();
    assert_eq!(pseudonym.len(), 32);
    assert!(!c.to_string().contains("NHS-943"));
    assert_eq!(app.count("claims"), 1);
    let found = app.execute_sql("UPDATE claims SET evidence_ref = evidence_ref WHERE participant_pseudonym LIKE '%943%'").unwrap();
    assert_eq!(found, 0, "the raw reference is nowhere in the claims table");
}

#[tokio::test]
async fn a_retried_claim_with_the_same_key_is_stored_once() {
    let app = spawn_app().await;
    let s = setup(
        &app,
        &[("local_commissioner", "1000.00", None)],
        json!([outcome("x", "100.00")]),
        json!({}),
    )
    .await;
    let path = format!("/v1/projects/{}/claims", s.project);
    let body = claim("I", "x", "2016-01-01");
    let key = [("Idempotency-Key", "march-claim-1")];
    let first = app
        .post_with(&path, Some(&s.provider_token), &body, &key)
        .await;
    let again = app
        .post_with(&path, Some(&s.provider_token), &body, &key)
        .await;
    assert_eq!(first.assert_status(201), again.assert_status(201));
    assert_eq!(app.count("claims"), 1);
    let other = claim("I", "x", "2016-02-01");
    app.post_with(&path, Some(&s.provider_token), &other, &key)
        .await
        .assert_invalid_field("Idempotency-Key");
    assert_eq!(app.count("claims"), 1);
}

#[tokio::test]
async fn concurrent_requests_never_pay_twice_or_past_a_cap() {
    let app = spawn_app_with(Options {
        workers: 4,
        ..Options::default()
    })
    .await;
    let s = setup(
        &app,
        &[
            ("local_commissioner", "2500.00", None),
            ("co_commissioner", "2500.00", None),
        ],
        json!([outcome("x", "1000.00")]),
        json!({"max_outcome_payment": gbp("3000.00")}),
    )
    .await;
    let path = format!("/v1/projects/{}/claims", s.project);
    // The same claim submitted twelve times at once is stored once.
    let same = claim("C0", "x", "2016-01-01");
    let replies = futures_util::future::join_all(
        (0..12).map(|_| app.post(&path, Some(&s.provider_token), &same)),
    )
    .await;
    assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1);
    for r in replies.iter().filter(|r| r.status != 201) {
        assert_eq!(r.assert_problem(422)["reasons"][0]["code"], "duplicate");
    }
    // Ten claims of 1,000.00 race for a 3,000.00 contract cap.
    let mut ids = vec![];
    for i in 1..=10 {
        let c = app
            .post(
                &path,
                Some(&s.provider_token),
                &claim(&format!("C{i}"), "x", "2016-01-01"),
            )
            .await;
        ids.push(c.assert_status(201)["id"].as_str().unwrap().to_owned());
    }
    // Half the requests go to a second server on the same database, as a second process of
    // a scaled-out deployment would.
    let second = app.second_server().await;
    let verifications = futures_util::future::join_all(ids.iter().enumerate().map(|(i, id)| {
        let base = if i % 2 == 0 {
            app.address.clone()
        } else {
            second.clone()
        };
        let request = app
            .client
            .post(format!("{base}/v1/claims/{id}/verify"))
            .bearer_auth(&s.validator_token)
            .json(&json!({}));
        Reply::of(request)
    }))
    .await;
    let mut paid = 0i64;
    for v in &verifications {
        let body = v.assert_status(200);
        paid += body["payable"]["amount"]
            .as_str()
            .unwrap()
            .replace('.', "")
            .parse::<i64>()
            .unwrap();
    }
    assert_eq!(
        paid, 300_000,
        "exactly the contract cap is paid, never more"
    );
    // Verifying the same claim concurrently posts it once.
    let again = futures_util::future::join_all((0..6).map(|_| s.verify(&app, &ids[0]))).await;
    assert!(again.iter().all(|r| r.status == 409));
    let project = app
        .get(&format!("/v1/projects/{}", s.project), Some(&app.admin()))
        .await;
    let payers = project.assert_status(200)["payers"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(payers[0]["totals"]["allocated"], gbp("1500.00"));
    assert_ledger_ok(&app);
}

#[tokio::test]
async fn the_checker_catches_a_corrupted_ledger() {
    let app = spawn_app().await;
    let s = setup(
        &app,
        &[
            ("local_commissioner", "1000.00", None),
            ("co_commissioner", "1000.00", None),
        ],
        json!([outcome("x", "100.00")]),
        json!({}),
    )
    .await;
    let v = s
        .claim_and_verify(&app, claim("X", "x", "2016-01-01"))
        .await;
    let ok = app.cofund(&["check"]);
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("every invariant holds"));
    // A claim's recorded payable no longer matches its allocations.
    app.execute_sql(&format!(
        "UPDATE claims SET payable_minor = 10001 WHERE id = '{}'",
        v["id"].as_str().unwrap()
    ))
    .unwrap();
    let bad = app.cofund(&["check"]);
    assert_eq!(bad.status.code(), Some(1));
    let report = String::from_utf8_lossy(&bad.stdout);
    assert!(
        report.contains("VIOLATION") && report.contains(v["id"].as_str().unwrap()),
        "{report}"
    );
    // An unbalanced entry, inserted behind the API's back.
    app.execute_sql(&format!(
        "UPDATE claims SET payable_minor = 10000 WHERE id = '{}'",
        v["id"].as_str().unwrap()
    ))
    .unwrap();
    assert!(app.cofund(&["check"]).status.success());
    app.execute_sql(&format!(
        "INSERT INTO ledger_entries (id, claim_id, project_id, provider_amount_minor, posted_at) \
         VALUES ('ent_forged', '{}', '{}', -500, '2020-01-01 00:00:00')",
        v["id"].as_str().unwrap(),
        s.project
    ))
    .unwrap();
    let bad = app.cofund(&["check"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("ent_forged does not balance"));
    // An allocation line of an entry that does not exist: no foreign key stops it, the
    // checker finds it.
    app.execute_sql(&format!(
        "INSERT INTO allocations (entry_id, claim_id, project_id, payer_id, payer_organisation_id, \
         amount_minor, shortfall_minor, achieved_on, posted_at, outcome_code) \
         VALUES ('ent_ghost', '{}', '{}', 'pyr_ghost', 'org_ghost', 0, 0, '2020-01-01', '2020-01-01 00:00:00', 'x')",
        v["id"].as_str().unwrap(),
        s.project
    ))
    .unwrap();
    // An entry that names no claim.
    app.execute_sql(&format!(
        "INSERT INTO ledger_entries (id, claim_id, project_id, provider_amount_minor, posted_at) \
         VALUES ('ent_stray', 'clm_ghost', '{}', 0, '2020-01-01 00:00:00')",
        s.project
    ))
    .unwrap();
    // Allocations of the claim's real entry that name other claims (each sums to nothing, so
    // every balance still holds), written apart: an entry's allocations must all name its own
    // claim, and each stray is named once.
    for stray in ["clm_elsewhere", "clm_further"] {
        app.execute_sql(&format!(
            "INSERT INTO allocations (entry_id, claim_id, project_id, payer_id, payer_organisation_id, \
             amount_minor, shortfall_minor, achieved_on, posted_at, outcome_code) \
             SELECT entry_id, '{stray}', project_id, payer_id, payer_organisation_id, 0, 0, \
             achieved_on, posted_at, outcome_code FROM allocations WHERE claim_id = '{}' LIMIT 1",
            v["id"].as_str().unwrap()
        ))
        .unwrap();
    }
    let report = String::from_utf8_lossy(&app.cofund(&["check"]).stdout).into_owned();
    assert_eq!(
        report
            .matches("names another claim or project than its entry")
            .count(),
        2,
        "{report}"
    );
    assert!(
        report.contains("allocations name claim clm_elsewhere, which does not exist"),
        "{report}"
    );
    if matches!(app.database, cofund::db::DatabaseUrl::Sqlite(_)) {
        // SQLite stores a fraction in an integer column: read as an integer it would be
        // summed truncated (two halves of a penny make a penny the entry does not balance by).
        app.execute_sql(&format!(
            "INSERT INTO allocations (entry_id, claim_id, project_id, payer_id, payer_organisation_id, \
             amount_minor, shortfall_minor, achieved_on, posted_at, outcome_code) \
             SELECT entry_id, claim_id, project_id, payer_id, payer_organisation_id, 0.5, 0, \
             achieved_on, posted_at, outcome_code FROM allocations WHERE claim_id = '{}' LIMIT 1",
            v["id"].as_str().unwrap()
        ))
        .unwrap();
        let report = String::from_utf8_lossy(&app.cofund(&["check"]).stdout).into_owned();
        assert!(
            report.contains("holds an amount that is not a whole number of minor units"),
            "{report}"
        );
    }
    assert!(
        report.contains("entry ent_ghost, which does not exist")
            && report.contains("payer pyr_ghost, which does not exist")
            && report.contains("entry ent_stray names claim clm_ghost, which does not exist"),
        "{report}"
    );
}

const CSV_HEADER: &str = "participant_ref,outcome_code,achieved_on,quantity,evidence_ref,home_area,age_at_start,referred_on\n";

async fn post_file(
    app: &TestApp,
    s: &Setup,
    query: &str,
    content_type: &str,
    body: String,
) -> Reply {
    let request = app
        .client
        .post(app.url(&format!("/v1/projects/{}/claims/bulk{query}", s.project)))
        .bearer_auth(&s.provider_token)
        .header("content-type", content_type)
        .body(body);
    Reply::of(request).await
}

#[tokio::test]
async fn bulk_files_are_reported_row_by_row_all_or_nothing_or_good_rows_only() {
    let app = spawn_app().await;
    let s = setup(
        &app,
        &[("local_commissioner", "1000000.00", None)],
        json!([outcome("x", "100.00"), outcome("y", "50.00")]),
        json!({}),
    )
    .await;
    let file = format!("{CSV_HEADER}P1,x,2016-01-01,,ev-1,,,\nP2,x,2016-01-02,,,,,\nP1,x,2016-01-03,,,,,\nP3,nope,2016-01-04,,,,,\nP4,y,not-a-date,,,,,\n");
    let refused = post_file(&app, &s, "", "text/csv", file.clone()).await;
    let problem = refused.assert_problem(422).clone();
    let counts = |r: &Value| {
        (
            r["rows"].as_u64(),
            r["accepted"].as_u64(),
            r["rejected"].as_u64(),
            r["stored"].as_u64(),
        )
    };
    assert_eq!(counts(&problem), (Some(5), Some(2), Some(3), Some(0)));
    let codes: Vec<Value> = problem["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reasons"][0]["code"].clone())
        .collect();
    assert_eq!(
        codes,
        [
            Value::Null,
            Value::Null,
            json!("duplicate"),
            json!("unknown_outcome"),
            json!("malformed_row")
        ]
    );
    assert_eq!(app.count("claims"), 0, "all or nothing: nothing stored");

    let partial = post_file(&app, &s, "?mode=accept_valid", "text/csv", file).await;
    let report = partial.assert_status(201).clone();
    assert_eq!(counts(&report), (Some(5), Some(2), Some(3), Some(2)));
    assert_eq!(app.count("claims"), 2);
    assert_eq!(report["results"][0]["status"], "accepted");
    assert_eq!(report["results"][3]["status"], "rejected");

    // JSON lines, then the whole upload verified in one call.
    let lines = [
        claim("P5", "x", "2016-02-01"),
        claim("P6", "y", "2016-02-02"),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let upload = post_file(&app, &s, "", "application/x-ndjson", lines).await;
    let upload_id = upload.assert_status(201)["upload_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let verified = app
        .post(
            &format!("/v1/projects/{}/claims/verify", s.project),
            Some(&s.validator_token),
            &json!({"upload_id": upload_id}),
        )
        .await;
    let verified = verified.assert_status(200);
    assert_eq!(
        (
            verified["requested"].as_u64(),
            verified["verified"].as_u64()
        ),
        (Some(2), Some(2))
    );
    let listed = app
        .get(
            &format!("/v1/projects/{}/claims?status=verified", s.project),
            Some(&s.validator_token),
        )
        .await;
    assert_eq!(
        listed.assert_status(200)["items"].as_array().unwrap().len(),
        2
    );
    let allocations = app
        .get(
            &format!("/v1/projects/{}/allocations?period=2016-Q1", s.project),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(
        allocations.assert_status(200)["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let none = app
        .get(
            &format!("/v1/projects/{}/allocations?period=2017-Q1", s.project),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(
        none.assert_status(200)["items"].as_array().unwrap().len(),
        0
    );
    app.get(
        &format!("/v1/projects/{}/allocations?period=Q1", s.project),
        Some(&app.admin()),
    )
    .await
    .assert_invalid_field("period");

    // Wrong type, missing column, empty file.
    post_file(&app, &s, "", "application/pdf", "x".into())
        .await
        .assert_problem(415);
    post_file(
        &app,
        &s,
        "",
        "text/csv",
        "participant_ref,achieved_on\nP,2016-01-01\n".into(),
    )
    .await
    .assert_invalid_field("body");
    post_file(&app, &s, "", "text/csv", CSV_HEADER.into())
        .await
        .assert_invalid_field("body");
    assert_ledger_ok(&app);
}
