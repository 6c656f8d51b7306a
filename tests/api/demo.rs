//! The demo a new user loads (`cofund serve --demo`): the registry with a few years of its
//! projects' history, so that positions, statements and the open data have something to show.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::helpers::*;

const PSEUDONYM_KEY: &[u8] = b"test-pseudonym-key-of-32-bytes-or-more";

/// Loads the demo into the app's (empty) database and publishes its open data.
async fn load_demo(app: &TestApp) -> cofund::demo::DemoSummary {
    let summary = {
        let mut conn = app.pool.get().unwrap();
        cofund::demo::load(&mut conn, PSEUDONYM_KEY, chrono::Utc::now().naive_utc())
            .unwrap()
            .expect("the database was empty")
    };
    app.post("/v1/open-data/rebuild", Some(&app.admin()), &json!({}))
        .await
        .assert_status(200);
    summary
}

/// A published table as CSV rows of column → value.
async fn csv_rows(app: &TestApp, table: &str) -> Vec<BTreeMap<String, String>> {
    let reply = app.get(&format!("/open-data/v1/{table}.csv"), None).await;
    let Value::String(text) = reply.body else {
        panic!("{table}.csv is text");
    };
    csv::Reader::from_reader(text.as_bytes())
        .deserialize()
        .map(Result::unwrap)
        .collect()
}

/// What the results table says, without the ids (which differ from load to load).
async fn results_without_ids(app: &TestApp) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = csv_rows(app, "results_quarterly")
        .await
        .into_iter()
        .map(|r| {
            ["period_start_date", "outcomes_achieved", "outcomes_paid"]
                .iter()
                .map(|c| r[*c].clone())
                .collect()
        })
        .collect();
    rows.sort();
    rows
}

fn amount(v: &Value) -> f64 {
    // Only compared with zero: parsing the decimal text is exact enough for that.
    v["amount"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_demo_has_a_history_with_money_in_every_position_and_numbers_in_its_open_data() {
    let app = spawn_app().await;
    let summary = load_demo(&app).await;
    let h = &summary.history;
    assert!(h.claims > 2_000, "{h:?}");
    assert!(h.rejected > 0 && h.revoked > 0, "{h:?}");
    assert_eq!(
        h.claims,
        h.verified + h.rejected,
        "every claim decided: {h:?}"
    );
    assert!(
        h.documents > 300 && h.payments > 0 && h.payments < h.documents,
        "{h:?}"
    );

    // Every invariant of the ledger, the documents and the open data holds.
    let report = {
        let mut conn = app.pool.get().unwrap();
        cofund::services::check::run(&mut conn, chrono::Utc::now().date_naive()).unwrap()
    };
    assert_eq!(report.violations, Vec::<String>::new());

    // The history is the past: none of its documents or cap warnings is emailed.
    let outbox = app.get("/v1/outbox", Some(&app.admin())).await;
    assert_eq!(
        outbox.body["counts"]["queued"], 0,
        "{}",
        outbox.body["counts"]
    );
    assert_eq!(outbox.body["counts"]["sent"], 0);

    // Every fund's position has money allocated, paid, and (the last quarter) outstanding.
    let funds = app.get("/v1/funds", Some(&app.admin())).await;
    let funds = funds.body["items"].as_array().unwrap().clone();
    assert_eq!(funds.len(), 4);
    for fund in funds {
        let path = format!("/v1/funds/{}/position", fund["id"].as_str().unwrap());
        let position = app.get(&path, Some(&app.admin())).await.body;
        for column in ["allocated", "invoiced", "paid", "outstanding"] {
            assert!(
                amount(&position[column]) > 0.0,
                "{} {column}: {position}",
                fund["name"]
            );
        }
    }

    // Some participants reached the £19,000 limit and were paid only to it.
    let capped: i64 = {
        use diesel::prelude::*;
        let mut conn = app.pool.get().unwrap();
        diesel::sql_query(
            "SELECT COUNT(*) AS n FROM claim_adjustments WHERE kind = 'participant_cap'",
        )
        .get_result::<Count>(&mut conn)
        .unwrap()
        .n
    };
    assert!(capped > 0);

    // The open data shows numbers, and withholds the small ones: some cells of each kind.
    let results = csv_rows(&app, "results_quarterly").await;
    let shown = results
        .iter()
        .filter(|r| r["outcomes_achieved"].parse::<i64>().is_ok_and(|n| n >= 5))
        .count();
    let withheld = results
        .iter()
        .filter(|r| r["outcomes_achieved"] == "suppressed")
        .count();
    assert!(
        shown >= 50 && withheld >= 50,
        "{shown} shown, {withheld} withheld"
    );
    let payments = csv_rows(&app, "payments_quarterly").await;
    assert!(payments.iter().any(|r| r["money_amount"] != "suppressed"));
    assert!(payments.iter().any(|r| r["money_amount"] == "suppressed"));
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test]
async fn the_demo_history_is_the_same_on_every_load() {
    let (first, second) = (spawn_app().await, spawn_app().await);
    let (a, b) = (load_demo(&first).await, load_demo(&second).await);
    assert_eq!(a.history, b.history);
    assert_eq!(
        results_without_ids(&first).await,
        results_without_ids(&second).await
    );
}
