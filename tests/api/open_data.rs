//! Open data through HTTP, on a seeded workload: the published tables against the ledger,
//! small numbers withheld and not recoverable by subtraction, no personal data in any
//! published byte, Datasette-style pages, CSV equal to the JSON, the INDIGO document, and
//! releases that never change and that `frictionless validate` accepts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;

use serde_json::{json, Value};

use crate::helpers::*;
use cofund::api::auth::Role;
use cofund::domain::period::Period;
use cofund::domain::registry::SettlementFrequency;

const PRICE_A: i64 = 10_000; // £100.00
const PRICE_B: i64 = 25_000; // £250.00

/// A published project of two payers (a central top-up and a council, pro rata 1:2) with two
/// outcomes, and an unpublished one beside it. Claims of the published project: outcome `a`
/// for 7 participants in 2021 Q1 and 6 in Q2, outcome `b` for 3 in Q1 (a small number), and
/// five rejected claims in Q1.
struct World {
    published: String,
    hidden: String,
    central: String,
    council: String,
    provider: String,
    provider_token: String,
    validator_token: String,
}

const HEADER: &str =
    "participant_ref,outcome_code,achieved_on,quantity,evidence_ref,home_area,age_at_start,referred_on\n";

/// A claim row with personal data the open data must never show.
fn claim_row(participant: &str, outcome: &str, achieved_on: &str) -> String {
    format!("{participant},{outcome},{achieved_on},,EVIDENCE-{participant},E10000034,19,\n")
}

async fn world(app: &TestApp) -> World {
    let central = app.org("Central Outcomes Fund", "central_fund", &[]).await;
    let council = app
        .org("Council A", "local_authority", &["E10000034"])
        .await;
    let provider = app.org("Provider Ltd", "provider", &[]).await;
    let validator = app.org("Validator Ltd", "validator", &[]).await;
    let fund = app.fund(&central, "1000000.00").await;
    let project = |name: &str, published: bool| {
        json!({
            "name": name, "fund_id": fund, "provider_organisation_id": provider,
            "service_start": "2021-01-01", "service_end": "2023-12-31", "published": published,
            "policy_sector": "Employment and training", "social_challenge": "Youth unemployment",
            "payers": [
                {"organisation_id": central, "role": "central_top_up", "max_commitment": gbp("100000.00")},
                {"organisation_id": council, "role": "local_commissioner", "max_commitment": gbp("200000.00")},
            ],
            "outcomes": [
                {"code": "a", "name": "Outcome A", "price": gbp("100.00"), "unit": "achievement"},
                {"code": "b", "name": "Outcome B", "price": gbp("250.00"), "unit": "achievement"},
            ],
            "validator_organisation_ids": [validator],
        })
    };
    let create = |body: Value| async move {
        let reply = app.post("/v1/projects", Some(&app.admin()), &body).await;
        reply.assert_status(201)["id"].as_str().unwrap().to_owned()
    };
    let w = World {
        published: create(project("Open Project", true)).await,
        hidden: create(project("Hidden Project", false)).await,
        provider_token: app.token(Role::Provider, Some(&provider)),
        validator_token: app.token(Role::Validator, Some(&validator)),
        central,
        council,
        provider,
    };
    let mut rows = String::new();
    for i in 0..7 {
        rows += &claim_row(&format!("PA1-{i}"), "a", "2021-02-10");
    }
    for i in 0..6 {
        rows += &claim_row(&format!("PA2-{i}"), "a", "2021-05-10");
    }
    for i in 0..3 {
        rows += &claim_row(&format!("PB1-{i}"), "b", "2021-02-20");
    }
    w.upload_and_verify(app, &w.published, &rows).await;
    // Five claims rejected: participants engaged but not achieving, enough to publish.
    for i in 0..5 {
        let rejected = app
            .post(
                &format!("/v1/projects/{}/claims", w.published),
                Some(&w.provider_token),
                &json!({"participant_ref": format!("PREJ-{i}"), "outcome_code": "a", "achieved_on": "2021-03-01"}),
            )
            .await;
        let id = rejected.assert_status(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.post(
            &format!("/v1/claims/{id}/reject"),
            Some(&w.validator_token),
            &json!({"reason": "not eligible"}),
        )
        .await
        .assert_status(200);
    }
    let hidden_rows: String = (0..6)
        .map(|i| claim_row(&format!("HID-{i}"), "a", "2021-02-10"))
        .collect();
    w.upload_and_verify(app, &w.hidden, &hidden_rows).await;
    rebuild(app).await;
    w
}

impl World {
    async fn upload_and_verify(&self, app: &TestApp, project: &str, rows: &str) {
        let upload = app
            .client
            .post(app.url(&format!("/v1/projects/{project}/claims/bulk")))
            .bearer_auth(&self.provider_token)
            .header("content-type", "text/csv")
            .body(format!("{HEADER}{rows}"));
        let upload = Reply::of(upload).await;
        let upload_id = upload.assert_status(201)["upload_id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.post(
            &format!("/v1/projects/{project}/claims/verify"),
            Some(&self.validator_token),
            &json!({"upload_id": upload_id}),
        )
        .await
        .assert_status(200);
    }
}

async fn rebuild(app: &TestApp) -> Value {
    app.post("/v1/open-data/rebuild", Some(&app.admin()), &json!({}))
        .await
        .assert_status(200)
        .clone()
}

/// Every row of a table through the JSON API, page by page.
async fn all_rows(app: &TestApp, table: &str, query: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut url = format!("/open-data/v1/{table}?_size=2{query}");
    loop {
        let page = app.get(&url, None).await;
        let page = page.assert_status(200);
        rows.extend(page["rows"].as_array().unwrap().iter().cloned());
        match page["next_url"].as_str() {
            Some(next) => url = next.to_owned(),
            None => return rows,
        }
    }
}

fn minor(amount: &Value) -> Option<i64> {
    let text = amount.as_str()?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "00"));
    Some(whole.parse::<i64>().unwrap() * 100 + fraction.parse::<i64>().unwrap())
}

fn quarter_start(date: &str) -> String {
    let date = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    Period::containing(date, SettlementFrequency::Quarterly)
        .start()
        .to_string()
}

/// The ledger's split, from the authenticated API: minor units by (outcome code, quarter of
/// achievement, payer organisation).
async fn ledger_split(app: &TestApp, project: &str) -> BTreeMap<(String, String, String), i64> {
    let mut split = BTreeMap::new();
    let mut url = format!("/v1/projects/{project}/allocations?limit=500");
    loop {
        let page = app.get(&url, Some(&app.admin())).await;
        let page = page.assert_status(200).clone();
        for a in page["items"].as_array().unwrap() {
            let claim = app
                .get(
                    &format!("/v1/claims/{}", a["claim_id"].as_str().unwrap()),
                    Some(&app.admin()),
                )
                .await;
            let claim = claim.assert_status(200);
            let key = (
                claim["outcome_code"].as_str().unwrap().to_owned(),
                quarter_start(claim["achieved_on"].as_str().unwrap()),
                a["payer_organisation_id"].as_str().unwrap().to_owned(),
            );
            *split.entry(key).or_default() += minor(&a["amount"]["amount"]).unwrap();
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                url = format!("/v1/projects/{project}/allocations?limit=500&cursor={cursor}")
            }
            None => return split,
        }
    }
}

/// A published project of one payer (the council) and one outcome (`a`, £100.00) with
/// `participants` verified claims in 2021 Q1.
async fn one_payer_project(app: &TestApp, w: &World, name: &str, participants: usize) -> String {
    let project = app
        .post(
            "/v1/projects",
            Some(&app.admin()),
            &json!({
                "name": name, "provider_organisation_id": w.provider,
                "service_start": "2021-01-01", "service_end": "2023-12-31", "published": true,
                "payers": [{"organisation_id": w.council, "role": "local_commissioner", "max_commitment": gbp("50000.00")}],
                "outcomes": [{"code": "a", "name": "Outcome A", "price": gbp("100.00"), "unit": "achievement"}],
                "validator_organisation_ids": [],
            }),
        )
        .await;
    let project = project.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rows: String = (0..participants)
        .map(|i| claim_row(&format!("{name}-{i}").replace(' ', ""), "a", "2021-02-10"))
        .collect();
    let upload = app
        .client
        .post(app.url(&format!("/v1/projects/{project}/claims/bulk")))
        .bearer_auth(&w.provider_token)
        .header("content-type", "text/csv")
        .body(format!("{HEADER}{rows}"));
    let upload_id = Reply::of(upload).await.assert_status(201)["upload_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/v1/projects/{project}/claims/verify"),
        Some(&app.admin()),
        &json!({"upload_id": upload_id}),
    )
    .await
    .assert_status(200);
    project
}

#[tokio::test]
async fn published_tables_match_the_ledger_and_withhold_small_numbers() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let metrics = all_rows(&app, "outcome_metrics", "").await;
    let metric_code: HashMap<String, String> = metrics
        .iter()
        .map(|m| {
            (
                m["outcome_metric_id"].as_str().unwrap().to_owned(),
                m["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        metrics.len(),
        2,
        "the unpublished project's rate card is not published"
    );

    // Results: counts of the quarter of achievement; outcome b (3 participants) withheld.
    let results = all_rows(&app, "results_quarterly", "").await;
    let by_cell: BTreeMap<(String, String), &Value> = results
        .iter()
        .map(|r| {
            (
                (
                    metric_code[r["outcome_metric_id"].as_str().unwrap()].clone(),
                    r["period_start_date"].as_str().unwrap().to_owned(),
                ),
                r,
            )
        })
        .collect();
    let counts = |code: &str, quarter: &str| {
        let r = by_cell[&(code.to_owned(), quarter.to_owned())];
        (
            r["outcomes_achieved"].clone(),
            r["outcomes_paid"].clone(),
            r["number_engaged_in_impact_bond"].clone(),
        )
    };
    assert_eq!(by_cell.len(), 3);
    assert_eq!(
        counts("a", "2021-01-01"),
        (json!(7), json!(7), json!(12)),
        "rejected claims engage, not achieve"
    );
    assert_eq!(counts("a", "2021-04-01"), (json!(6), json!(6), json!(6)));
    assert_eq!(
        counts("b", "2021-01-01"),
        (Value::Null, Value::Null, Value::Null)
    );
    assert_eq!(
        by_cell[&("a".into(), "2021-01-01".into())]["period_end_date"],
        "2021-03-31"
    );

    // Payments: every published cell is the ledger's sum; b is withheld (3 participants) for
    // both payers.
    let ledger = ledger_split(&app, &w.published).await;
    let payments = all_rows(&app, "payments_quarterly", "").await;
    assert_eq!(payments.len(), ledger.len());
    let mut withheld = BTreeSet::new();
    for p in &payments {
        let key = (
            metric_code[p["outcome_metric_id"].as_str().unwrap()].clone(),
            p["period_start_date"].as_str().unwrap().to_owned(),
            p["payer_organisation_id"].as_str().unwrap().to_owned(),
        );
        assert_eq!(p["recipient_organisation_id"], w.provider.as_str());
        assert_eq!(p["money_currency"], "GBP");
        match minor(&p["money_amount"]) {
            Some(amount) => assert_eq!(amount, ledger[&key], "{key:?}"),
            None => {
                withheld.insert((key.0, key.1));
            }
        }
    }
    assert_eq!(
        withheld,
        BTreeSet::from([("b".into(), "2021-01-01".into())])
    );

    // Totals by payer and project: each has a withheld part (b), so each is withheld too.
    let payers = all_rows(&app, "project_payers", "").await;
    assert_eq!(payers.len(), 2);
    for payer in &payers {
        assert_eq!(payer["total_outcome_payments_amount"], Value::Null);
        assert_eq!(
            payer["organisation_role_category"],
            "Government/Public Sector/Public Bank"
        );
    }
    let projects = all_rows(&app, "projects", "").await;
    assert_eq!(projects.len(), 1, "only the published project");
    assert_eq!(projects[0]["project_id"], w.published.as_str());
    assert_eq!(projects[0]["social_challenge"], "Youth unemployment");
    assert_eq!(
        projects[0]["total_outcome_payments_made_amount"],
        Value::Null
    );
    assert_eq!(ledger.values().sum::<i64>(), 13 * PRICE_A + 3 * PRICE_B);
    // A project with nothing to withhold publishes its totals: the ledger's.
    let whole = one_payer_project(&app, &w, "Whole Project", 6).await;
    rebuild(&app).await;
    let ledger = ledger_split(&app, &whole).await;
    let row = &all_rows(&app, "projects", &format!("&project_id={whole}")).await[0];
    assert_eq!(
        minor(&row["total_outcome_payments_made_amount"]),
        Some(ledger.values().sum::<i64>())
    );
    assert_eq!(ledger.values().sum::<i64>(), 6 * PRICE_A);
    let payer = &all_rows(&app, "project_payers", &format!("&project_id={whole}")).await[0];
    assert_eq!(
        minor(&payer["total_outcome_payments_amount"]),
        Some(6 * PRICE_A)
    );
    // Organisations on the published project; the validator is not a party to any table.
    let orgs: BTreeSet<String> = all_rows(&app, "organisations", "")
        .await
        .iter()
        .map(|o| o["organisation_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        orgs,
        BTreeSet::from([w.central.clone(), w.council.clone(), w.provider.clone()])
    );
    assert_eq!(all_rows(&app, "funds", "").await.len(), 1);
    let everything = all_rows(&app, "payments_quarterly", "").await;
    assert!(everything
        .iter()
        .all(|p| p["project_id"] != w.hidden.as_str()));
}

/// A reader who knows the rules tries to recover every withheld cell by subtraction: a
/// payer's cells add up to its published total, the payers' totals (and all cells) to the
/// project's, and the payers' cells of one outcome and quarter to price × outcomes paid.
/// Peeling groups with a single unknown, again and again, must recover nothing withheld.
#[tokio::test]
async fn no_withheld_cell_can_be_recovered_from_the_published_tables() {
    let app = spawn_app().await;
    let w = world(&app).await;
    // A second published project small enough that its totals must be withheld too.
    let small = one_payer_project(&app, &w, "Small Project", 2).await;
    rebuild(&app).await;

    let price: HashMap<String, i64> = all_rows(&app, "outcome_metrics", "")
        .await
        .iter()
        .map(|m| {
            (
                m["outcome_metric_id"].as_str().unwrap().to_owned(),
                minor(&m["price_per_unit_amount"]).unwrap(),
            )
        })
        .collect();
    let results = all_rows(&app, "results_quarterly", "").await;
    let payments = all_rows(&app, "payments_quarterly", "").await;
    let payers = all_rows(&app, "project_payers", "").await;
    let projects = all_rows(&app, "projects", "").await;
    let mut withheld_total = 0;
    for project in &projects {
        let id = project["project_id"].as_str().unwrap();
        // Unknowns and known values, by name.
        let mut known: HashMap<String, Option<i64>> = HashMap::new();
        // (members, total, whether a known total gives every member: the payers' shares are
        // public, so a quarter's total of one outcome gives each payer's part)
        let mut groups: Vec<(Vec<String>, String, bool)> = Vec::new();
        let cell = |p: &Value| {
            format!(
                "cell {} {} {}",
                p["outcome_metric_id"], p["period_start_date"], p["payer_organisation_id"]
            )
        };
        let cells: Vec<&Value> = payments.iter().filter(|p| p["project_id"] == id).collect();
        for p in &cells {
            known.insert(cell(p), minor(&p["money_amount"]));
        }
        known.insert(
            "project".into(),
            minor(&project["total_outcome_payments_made_amount"]),
        );
        let mut payer_totals = Vec::new();
        for payer in payers.iter().filter(|p| p["project_id"] == id) {
            let org = payer["organisation_id"].clone();
            let name = format!("payer {org}");
            known.insert(name.clone(), minor(&payer["total_outcome_payments_amount"]));
            let members = cells
                .iter()
                .filter(|p| p["payer_organisation_id"] == org)
                .map(|p| cell(p))
                .collect();
            groups.push((members, name.clone(), false));
            payer_totals.push(name);
        }
        groups.push((payer_totals, "project".into(), false));
        groups.push((
            cells.iter().map(|p| cell(p)).collect(),
            "project".into(),
            false,
        ));
        for r in results.iter().filter(|r| r["project_id"] == id) {
            let metric = r["outcome_metric_id"].as_str().unwrap();
            let name = format!("paid {metric} {}", r["period_start_date"]);
            known.insert(
                name.clone(),
                r["outcomes_paid"].as_i64().map(|n| n * price[metric]),
            );
            let members = cells
                .iter()
                .filter(|p| {
                    p["outcome_metric_id"] == metric
                        && p["period_start_date"] == r["period_start_date"]
                })
                .map(|p| cell(p))
                .collect();
            groups.push((members, name, true));
        }
        let withheld: BTreeSet<String> = known
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        withheld_total += withheld.len();
        // Peel: a group whose total and all members but one are known gives that one away;
        // a group whose members are all known gives its total away.
        let mut values = known.clone();
        loop {
            let mut learned = None;
            for (members, total, by_share) in &groups {
                let unknown: Vec<&String> =
                    members.iter().filter(|m| values[*m].is_none()).collect();
                match (values[total], unknown.as_slice()) {
                    (Some(t), [one]) => {
                        let rest: i64 = members.iter().filter_map(|m| values[m]).sum();
                        learned = Some(((*one).clone(), t - rest));
                    }
                    (Some(t), [first, ..]) if *by_share => learned = Some(((*first).clone(), t)),
                    // One payer's part and its public share give the quarter's total.
                    (None, _) if *by_share && unknown.len() < members.len() => {
                        learned = Some((total.clone(), 0));
                    }
                    (None, []) => {
                        learned = Some((
                            total.clone(),
                            members.iter().filter_map(|m| values[m]).sum(),
                        ))
                    }
                    _ => {}
                }
                if learned.is_some() {
                    break;
                }
            }
            match learned {
                Some((name, value)) => {
                    assert!(
                        !withheld.contains(&name),
                        "{name} of {id} recovered as {value} by subtraction"
                    );
                    values.insert(name, Some(value));
                }
                None => break,
            }
        }
    }
    assert!(
        withheld_total >= 6,
        "the workload withholds cells to attack ({withheld_total})"
    );
    let small_row = projects
        .iter()
        .find(|p| p["project_id"] == small.as_str())
        .unwrap();
    assert_eq!(
        small_row["total_outcome_payments_made_amount"],
        Value::Null,
        "2 participants: withheld"
    );
}

/// Every published table's name, from the catalog.
fn table_names() -> impl Iterator<Item = &'static str> {
    cofund::domain::open_data::catalog::TABLES
        .iter()
        .map(|t| t.name)
}

/// Everything a member of the public can download, as bytes.
async fn every_published_byte(app: &TestApp, project: &str) -> Vec<u8> {
    let mut paths: Vec<String> = ["/open-data/v1/", "/open-data/v1/datapackage.json"]
        .map(String::from)
        .to_vec();
    for table in table_names() {
        paths.push(format!("/open-data/v1/{table}?_size=1000"));
        paths.push(format!("/open-data/v1/{table}.csv"));
    }
    paths.push(format!("/open-data/v1/projects/{project}/indigo.json"));
    let release = app
        .post("/v1/open-data/releases", Some(&app.admin()), &json!({}))
        .await;
    let files = release.assert_status(201)["files"]
        .as_array()
        .unwrap()
        .clone();
    paths.push("/open-data/v1/releases".into());
    let mut bytes = Vec::new();
    for path in &paths {
        bytes.extend(download(app, path).await.1);
    }
    for file in &files {
        let body = download(app, file["url"].as_str().unwrap()).await.1;
        if !file["name"].as_str().unwrap().ends_with(".zip") {
            bytes.extend(body);
            continue;
        }
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body)).unwrap();
        for i in 0..zip.len() {
            zip.by_index(i).unwrap().read_to_end(&mut bytes).unwrap();
        }
    }
    bytes
}

#[tokio::test]
async fn no_personal_data_appears_in_any_published_byte() {
    let app = spawn_app().await;
    let w = world(&app).await;
    app.post(
        "/v1/organisations",
        Some(&app.admin()),
        &json!({"name": "Billing Council", "kind": "local_authority", "billing_emails": ["finance@council.example"]}),
    )
    .await
    .assert_status(201);
    let published = String::from_utf8(every_published_byte(&app, &w.published).await).unwrap();
    #[derive(diesel::QueryableByName)]
    struct Private {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let mut conn = app.pool.get().unwrap();
    let private: Vec<Private> = diesel::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT participant_pseudonym AS value FROM claims UNION SELECT id AS value FROM claims \
             UNION SELECT email AS value FROM organisation_billing_emails \
             UNION SELECT COALESCE(evidence_ref, '') AS value FROM claims",
        ),
        &mut *conn,
    )
    .unwrap();
    assert!(private.len() > 20);
    for p in private.iter().filter(|p| !p.value.is_empty()) {
        assert!(!published.contains(&p.value), "{} is published", p.value);
    }
    for needle in [
        "PA1-0",
        "PB1-",
        "PREJ-1",
        "EVIDENCE-",
        "E10000034",
        "not eligible",
        "@",
    ] {
        assert!(!published.contains(needle), "{needle} is published");
    }
    assert!(
        published.contains("Open Project"),
        "the published bytes were read"
    );
}

#[tokio::test]
async fn pages_filter_sort_facet_and_keep_their_cursor_while_rows_are_added() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let metric_a = all_rows(&app, "outcome_metrics", "&code=a").await;
    assert_eq!(metric_a.len(), 1);
    let expensive = all_rows(&app, "outcome_metrics", "&price_per_unit_amount__gte=200").await;
    assert_eq!(expensive.len(), 1);
    assert_eq!(expensive[0]["code"], "b");
    let both = all_rows(&app, "outcome_metrics", "&code__in=a,b,zzz").await;
    assert_eq!(both.len(), 2);
    let q1 = all_rows(
        &app,
        "payments_quarterly",
        "&period_start_date__lt=2021-04-01",
    )
    .await;
    assert!(q1.iter().all(|p| p["period_start_date"] == "2021-01-01") && q1.len() == 4);
    // Sorted by amount, descending, withheld (null) last, one row a page.
    let sorted = all_rows(&app, "payments_quarterly", "&_sort_desc=money_amount").await;
    let amounts: Vec<Option<i64>> = sorted.iter().map(|p| minor(&p["money_amount"])).collect();
    let mut expected = amounts.clone();
    expected.sort_by(|a, b| match (a, b) {
        (Some(a), Some(b)) => b.cmp(a),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    assert_eq!(amounts, expected);
    assert_eq!(sorted.len(), 6);
    // Facets count the filtered rows.
    let faceted = app.get("/open-data/v1/payments_quarterly?_facet=payer_organisation_id&_facet=period_start_date", None).await;
    let facets = &faceted.assert_status(200)["facets"];
    assert_eq!(facets["payer_organisation_id"].as_array().unwrap().len(), 2);
    assert_eq!(
        facets["period_start_date"][0],
        json!({"value": "2021-01-01", "count": 4})
    );

    // A cursor taken before rows are added goes on correctly after: no row twice, none lost.
    let first = app
        .get(
            "/open-data/v1/payments_quarterly?_size=2&_sort=money_amount",
            None,
        )
        .await;
    let first = first.assert_status(200).clone();
    let mut seen: Vec<Value> = first["rows"].as_array().unwrap().clone();
    let more: String = (0..5)
        .map(|i| claim_row(&format!("NEW-{i}"), "a", "2021-08-10"))
        .collect();
    w.upload_and_verify(&app, &w.published, &more).await;
    rebuild(&app).await;
    let mut next = first["next_url"].as_str().map(str::to_owned);
    while let Some(url) = next {
        let page = app.get(&url, None).await;
        let page = page.assert_status(200).clone();
        seen.extend(page["rows"].as_array().unwrap().iter().cloned());
        next = page["next_url"].as_str().map(str::to_owned);
    }
    let keys: Vec<String> = seen
        .iter()
        .map(|p| {
            format!(
                "{}{}{}",
                p["outcome_metric_id"], p["period_start_date"], p["payer_organisation_id"]
            )
        })
        .collect();
    let distinct: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(distinct.len(), keys.len(), "no row twice");
    assert!(
        keys.len() >= 6,
        "every row that was there before is still reached"
    );

    // Bad requests are problems naming what is wrong, and change nothing.
    let problem = app.get("/open-data/v1/funds?colour=red", None).await;
    assert!(problem.assert_problem(400)["detail"]
        .as_str()
        .unwrap()
        .contains("colour"));
    let problem = app.get("/open-data/v1/funds?name__like=x", None).await;
    assert!(problem.assert_problem(400)["detail"]
        .as_str()
        .unwrap()
        .contains("__like"));
    app.get("/open-data/v1/funds?_size=5000", None)
        .await
        .assert_problem(400);
    app.get("/open-data/v1/funds?cursor=garbage", None)
        .await
        .assert_problem(400);
    app.get("/open-data/v1/claims", None)
        .await
        .assert_problem(404);
    app.get("/open-data/v1/claims.csv", None)
        .await
        .assert_problem(404);
}

fn csv_rows(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

#[tokio::test]
async fn whole_tables_as_csv_equal_the_json_api_plain_or_gzipped() {
    let app = spawn_app().await;
    world(&app).await;
    for table in table_names() {
        let response = app
            .client
            .get(app.url(&format!("/open-data/v1/{table}.csv")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["content-type"],
            "text/csv; charset=utf-8"
        );
        let text = response.text().await.unwrap();
        assert!(
            text.ends_with("\r\n") && text.contains("\r\n"),
            "RFC 4180 line ends"
        );
        let (header, rows) = csv_rows(&text);
        let json = all_rows(&app, table, "").await;
        assert_eq!(rows.len(), json.len(), "{table}");
        let json_header: Vec<String> = json
            .first()
            .map(|r| r.as_object().unwrap().keys().cloned().collect())
            .unwrap_or_default();
        if !json.is_empty() {
            assert_eq!(header, json_header, "{table}");
        }
        for (csv_row, json_row) in rows.iter().zip(&json) {
            for (column, cell) in header.iter().zip(csv_row) {
                let expected = match &json_row[column] {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
                let read = match cell.as_str() {
                    "" | "suppressed" => None,
                    text => Some(text.to_owned()),
                };
                assert_eq!(read, expected, "{table}.{column}");
            }
        }
        let gzipped = app
            .client
            .get(app.url(&format!("/open-data/v1/{table}.csv")))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(gzipped.headers()["content-encoding"], "gzip");
        let bytes = gzipped.bytes().await.unwrap();
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, text, "{table} gzipped");
    }
    // The withheld cells say so, unlike unknown ones.
    let results = app
        .client
        .get(app.url("/open-data/v1/results_quarterly.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(results.contains(",suppressed,suppressed,suppressed\r\n"));
}

#[tokio::test]
async fn a_published_project_exports_as_an_indigo_document() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let doc = app
        .get(
            &format!("/open-data/v1/projects/{}/indigo.json", w.published),
            None,
        )
        .await;
    let doc = doc.assert_status(200);
    assert_eq!(
        doc["name"],
        json!({"value": "Open Project", "status": "PUBLIC"})
    );
    assert_eq!(
        doc["dates"]["start_date_of_service_provision"]["value"],
        "2021-01-01"
    );
    assert_eq!(
        doc["purpose_and_classifications"]["policy_sector"]["value"],
        "Employment and training"
    );
    assert_eq!(
        doc["outcome_payment_commitments"].as_array().unwrap().len(),
        2
    );
    assert_eq!(doc["outcome_metrics"].as_array().unwrap().len(), 2);
    assert_eq!(
        doc["outcome_pricings"][0]["price_per_unit"]["amount"]["value"],
        json!(100.0)
    );
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let withheld: Vec<&Value> = results
        .iter()
        .filter(|r| r["outcomes_achieved"]["status"] == "PRIVATE")
        .collect();
    assert_eq!(withheld.len(), 1, "the small quarter");
    // INDIGO's schema allows a withheld value no `value` at all, not null; a published count of
    // outcomes achieved is text there (INDIGO's is a description).
    assert!(withheld[0]["outcomes_achieved"].get("value").is_none());
    let shown = results
        .iter()
        .find(|r| r["outcomes_achieved"]["status"] == "PUBLIC");
    assert!(shown.unwrap()["outcomes_achieved"]["value"].is_string());
    let payments = doc["outcome_payments"].as_array().unwrap();
    assert_eq!(payments.len(), 6);
    let problems = indigo_schema_problems(doc);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(payments
        .iter()
        .all(|p| p["status"] == "PUBLIC" && p["money"]["currency"]["value"] == "GBP"));
    app.get(
        &format!("/open-data/v1/projects/{}/indigo.json", w.hidden),
        None,
    )
    .await
    .assert_problem(404);
}

/// What INDIGO's own project schema (Draft 7) finds wrong with `doc`. The schema is read from
/// `../shared/indigo/` beside the repository (its repository states no licence, so cofund does
/// not carry a copy), or from the directory `COFUND_INDIGO_SCHEMAS` names.
fn indigo_schema_problems(doc: &Value) -> Vec<String> {
    let dir = std::env::var("COFUND_INDIGO_SCHEMAS")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/indigo").to_owned());
    let path = std::path::Path::new(&dir).join("project.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "INDIGO's project schema is needed at {} ({e}): set COFUND_INDIGO_SCHEMAS to the \
             directory holding schema/project.json of INDIGO-Initiative/indigo-data-standard",
            path.display()
        )
    });
    let schema: Value = serde_json::from_str(&text).unwrap();
    let validator = jsonschema::draft7::new(&schema).expect("INDIGO's schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_indigo_schema_check_finds_what_indigo_forbids() {
    // A withheld value sent as null, and a count where INDIGO wants text: both refused.
    let doc = json!({
        "id": "prj_1",
        "results": [{"outcomes_achieved": {"value": 3, "status": "PUBLIC"}}],
        "outcome_payments": [{"money": {"amount": {"value": null, "status": "PRIVATE"}}}],
    });
    let problems = indigo_schema_problems(&doc);
    assert!(problems.len() >= 2, "{problems:#?}");
}

async fn download(app: &TestApp, url: &str) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let response = app.client.get(app.url(url)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let headers = response.headers().clone();
    (headers, response.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn releases_never_change_and_validate_as_a_frictionless_data_package() {
    // Made (once) before the server's connections exist: pip can outlast their keep-alive.
    let python = test_python();
    let app = spawn_app().await;
    let w = world(&app).await;
    let provider = app
        .post(
            "/v1/open-data/releases",
            Some(&w.provider_token),
            &json!({}),
        )
        .await;
    provider.assert_problem(403);
    let first = app
        .post("/v1/open-data/releases", Some(&app.admin()), &json!({}))
        .await;
    let first = first.assert_status(201).clone();
    let version = first["version"].as_str().unwrap().to_owned();
    assert!(version.ends_with(".1"), "{version}");
    let names: Vec<&str> = first["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"datapackage.json")
            && names.contains(&"SHA256SUMS")
            && names.contains(&"payments_quarterly.csv")
    );
    let listed = app.get("/open-data/v1/releases", None).await;
    assert_eq!(
        listed.assert_status(200)["releases"][0]["version"],
        version.as_str()
    );

    // Every file twice: the same bytes, its SHA-256 as ETag, cacheable for ever.
    let dir = tempfile::tempdir().unwrap();
    let mut before = BTreeMap::new();
    for file in first["files"].as_array().unwrap() {
        let url = file["url"].as_str().unwrap();
        let (headers, once) = download(&app, url).await;
        let (_, twice) = download(&app, url).await;
        assert_eq!(once, twice, "{url}");
        let sha = file["sha256"].as_str().unwrap();
        assert_eq!(headers["etag"], format!("\"{sha}\"").as_str());
        assert!(headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable"));
        assert_eq!(once.len() as u64, file["bytes"].as_u64().unwrap());
        let not_modified = app
            .client
            .get(app.url(url))
            .header("if-none-match", format!("\"{sha}\""))
            .send()
            .await
            .unwrap();
        assert_eq!(not_modified.status(), 304);
        std::fs::write(dir.path().join(file["name"].as_str().unwrap()), &once).unwrap();
        before.insert(url.to_owned(), once);
    }
    let sums = std::fs::read_to_string(dir.path().join("SHA256SUMS")).unwrap();
    assert_eq!(sums.lines().count(), 9, "eight tables and the data package");

    // More verified claims and a second release: the first still serves the same bytes.
    let more: String = (0..5)
        .map(|i| claim_row(&format!("LATE-{i}"), "a", "2021-11-10"))
        .collect();
    w.upload_and_verify(&app, &w.published, &more).await;
    let second = app
        .post("/v1/open-data/releases", Some(&app.admin()), &json!({}))
        .await;
    let second = second.assert_status(201).clone();
    assert_ne!(second["version"], first["version"]);
    for (url, bytes) in &before {
        assert_eq!(&download(&app, url).await.1, bytes, "{url} changed");
    }
    let results_url = format!(
        "/open-data/v1/releases/{}/results_quarterly.csv",
        second["version"].as_str().unwrap()
    );
    assert_ne!(
        download(&app, &results_url).await.1,
        before[&format!("/open-data/v1/releases/{version}/results_quarterly.csv")],
        "the new release has the new quarter"
    );
    app.get(&format!("/open-data/v1/releases/{version}/nope.csv"), None)
        .await
        .assert_problem(404);
    app.get("/open-data/v1/releases/1999-01-01.1", None)
        .await
        .assert_problem(404);

    // frictionless checks the package: schemas, types, keys, sizes and hashes.
    let validated = std::process::Command::new(python)
        .args([
            "-m",
            "frictionless",
            "validate",
            "--json",
            "datapackage.json",
        ])
        .current_dir(dir.path())
        .output()
        .expect("frictionless runs");
    let report: Value = serde_json::from_slice(&validated.stdout).unwrap_or_else(|_| {
        panic!(
            "frictionless: {}{}",
            String::from_utf8_lossy(&validated.stdout),
            String::from_utf8_lossy(&validated.stderr)
        )
    });
    assert_eq!(report["valid"], true, "{report}");
}

/// Every column the migrations create is classified, on this database, and the published
/// tables store exactly their declared fields.
#[tokio::test]
async fn every_database_column_is_classified() {
    use cofund::domain::open_data::catalog::TABLES;
    use cofund::domain::open_data::classification::{visibility, PUBLISHED_STORAGE_COLUMNS};
    let app = spawn_app().await;
    #[derive(diesel::QueryableByName)]
    struct Column {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        column_name: String,
    }
    let sql = match app.database {
        cofund::db::DatabaseUrl::Postgres(_) => {
            "SELECT CAST(table_name AS TEXT) AS table_name, CAST(column_name AS TEXT) AS column_name \
             FROM information_schema.columns WHERE table_schema = current_schema() \
             AND table_name NOT LIKE '\\_\\_diesel%'"
        }
        cofund::db::DatabaseUrl::Sqlite(_) => {
            "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m \
             JOIN pragma_table_info(m.name) p WHERE m.type = 'table' \
             AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND m.name NOT LIKE '\\_\\_diesel%' ESCAPE '\\'"
        }
    };
    let mut conn = app.pool.get().unwrap();
    let columns: Vec<Column> =
        diesel::RunQueryDsl::load(diesel::sql_query(sql), &mut *conn).unwrap();
    assert!(
        columns.len() > 150,
        "read the schema ({} columns)",
        columns.len()
    );
    let mut published: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in &columns {
        if c.table_name.starts_with("published_") && c.table_name != "published_tables" {
            published
                .entry(c.table_name.clone())
                .or_default()
                .insert(c.column_name.clone());
        } else {
            assert!(
                visibility(&c.table_name, &c.column_name).is_some(),
                "{}.{} has no classification in domain/open_data/classification.rs",
                c.table_name,
                c.column_name
            );
        }
    }
    assert_eq!(published.len(), TABLES.len());
    for table in TABLES {
        let declared: BTreeSet<String> = table
            .fields
            .iter()
            .map(|f| f.name.to_owned())
            .chain(PUBLISHED_STORAGE_COLUMNS.iter().map(|c| c.to_string()))
            .collect();
        assert_eq!(published[&table.stored_in()], declared, "{}", table.name);
    }
}

/// What a careless client meets: HEAD works wherever GET does, any origin may read, a weak
/// validator revalidates a release file, the CSV takes filters but not page parameters, and a
/// 404 does not repeat what was asked for.
#[tokio::test]
async fn careless_clients_get_clear_answers() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let head = app
        .client
        .head(app.url("/open-data/v1/funds.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["access-control-allow-origin"], "*");
    assert!(head.bytes().await.unwrap().is_empty());
    let filtered = app
        .client
        .get(app.url(&format!(
            "/open-data/v1/payments_quarterly.csv?payer_organisation_id={}",
            w.council
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (_, rows) = csv_rows(&filtered);
    assert_eq!(rows.len(), 3, "the council's three cells");
    let refused = app.get("/open-data/v1/funds.csv?_sort=name", None).await;
    assert!(refused.assert_problem(400)["detail"]
        .as_str()
        .unwrap()
        .contains("whole table"));
    app.get("/open-data/v1/funds.csv?colour=red", None)
        .await
        .assert_problem(400);
    // A NUL inside a cursor's value or a filter is malformed input on both databases, not a
    // database error.
    use base64::Engine;
    let nul_cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"{"sort":null,"descending":false,"value":null,"key":"fund\u0000x"}"#);
    for query in [format!("cursor={nul_cursor}"), "name=a%00b".to_owned()] {
        app.get(&format!("/open-data/v1/funds?{query}"), None)
            .await
            .assert_problem(400);
    }
    let share = all_rows(&app, "project_payers", "&share__in=0.30,1").await;
    assert!(share.is_empty(), "pro rata payers have no fixed share");
    let missing = app.get("/open-data/v1/claimz", None).await;
    assert!(!missing.assert_problem(404)["detail"]
        .as_str()
        .unwrap()
        .contains("claimz"));
    let release = app
        .post("/v1/open-data/releases", Some(&app.admin()), &json!({}))
        .await;
    let file = release.assert_status(201)["files"][0].clone();
    let weak = app
        .client
        .get(app.url(file["url"].as_str().unwrap()))
        .header(
            "if-none-match",
            format!("W/\"{}\"", file["sha256"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), 304);
    let index = app.get("/open-data/v1", None).await;
    let index = index.assert_status(200);
    assert!(index["queries"].as_str().unwrap().contains("__gte"));
    assert_eq!(index["tables"].as_array().unwrap().len(), 8);
}
