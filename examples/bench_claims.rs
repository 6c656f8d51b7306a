//! National-scale claims benchmark: N claims submitted as bulk CSV files over HTTP, verified
//! upload by upload, split between four payers and posted to the ledger; then the same number
//! of claim rows inserted raw, in the same run, as the reference.
//!
//! cargo run --release --example bench_claims -- [CLAIMS] [sqlite|postgres]
//! (PostgreSQL: COFUND_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres)

use std::time::Instant;

use cofund::api::auth::{Authenticator, Role};
use cofund::config::{Config, Environment, JwtSettings};
use cofund::db::{self, DatabaseUrl};
use diesel::{Connection, RunQueryDsl};
use serde_json::{json, Value};

const SECRET: &[u8] = b"benchmark-secret-of-at-least-32-bytes!!";
const ROWS_PER_FILE: usize = 50_000;
const OUTCOMES: [&str; 4] = [
    "assessment_1",
    "accommodation_entry",
    "education_training_entry",
    "employment_entry",
];

#[tokio::main]
async fn main() {
    cofund::telemetry::init();
    let args: Vec<String> = std::env::args().collect();
    let claims: usize = args
        .get(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let backend = args.get(2).map(String::as_str).unwrap_or("sqlite");
    let _dir = tempfile::tempdir().unwrap();
    let (database, pg_name) = match backend {
        "postgres" => {
            let server = std::env::var("COFUND_BENCH_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!("cofund_bench_{}", std::process::id());
            let mut conn = diesel::PgConnection::establish(&server).unwrap();
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .unwrap();
            let base = server.rsplit_once('/').unwrap().0;
            (
                DatabaseUrl::Postgres(format!("{base}/{name}")),
                Some((server, name)),
            )
        }
        _ => (
            DatabaseUrl::Sqlite(_dir.path().join("bench.db").to_string_lossy().into_owned()),
            None,
        ),
    };
    let jwt = JwtSettings::hs256(SECRET, None, None);
    let config = Config {
        environment: Environment::Development,
        database: database.clone(),
        bind: "127.0.0.1:0".into(),
        jwt: jwt.clone(),
        pseudonym_key: b"benchmark-pseudonym-key-of-32-bytes".to_vec(),
        mail: Default::default(),
        db_pool_size: 4,
        max_body_bytes: 256 * 1024 * 1024,
        workers: Some(2),
        clock: cofund::clock::Clock::system(),
    };
    let app = cofund::startup::Application::build(&config).unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let pool = app.pool();
    tokio::spawn(app.run_until_stopped());
    let auth = Authenticator::new(jwt);
    let admin = auth
        .mint("bench-admin", Role::Admin, None, chrono::Duration::hours(4))
        .unwrap();
    let client = reqwest::Client::new();
    let post = |path: &str, token: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let id = |v: Value| v["id"].as_str().unwrap().to_owned();

    // A Life Chances Fund-like project: DCMS tops up three councils, pro rata.
    let org = |name: &str, kind: &str| json!({"name": name, "kind": kind});
    let mut orgs = Vec::new();
    for (name, kind) in [
        ("DCMS", "central_fund"),
        ("Council A", "local_authority"),
        ("Council B", "local_authority"),
        ("Council C", "local_authority"),
        ("Provider", "provider"),
        ("Validator", "validator"),
    ] {
        orgs.push(id(post("/v1/organisations", &admin, org(name, kind))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()));
    }
    let fund = id(post("/v1/funds", &admin, json!({"name": "Fund", "owner_organisation_id": orgs[0],
        "budget": {"amount": "900000000.00", "currency": "GBP"}, "service_start": "2016-01-01", "service_end": "2030-12-31"}))
        .await.unwrap().json().await.unwrap());
    let gbp = |a: &str| json!({"amount": a, "currency": "GBP"});
    let outcomes: Vec<Value> = OUTCOMES
        .iter()
        .map(|c| json!({"code": c, "name": c, "price": gbp("500.00"), "unit": "achievement"}))
        .collect();
    let project_body = json!({
        "name": "Benchmark project", "fund_id": fund, "provider_organisation_id": orgs[4],
        "service_start": "2016-01-01", "service_end": "2025-12-31", "validator_organisation_ids": [orgs[5]],
        "payers": [
            {"organisation_id": orgs[0], "role": "central_top_up", "max_commitment": gbp("150000000.00")},
            {"organisation_id": orgs[1], "role": "local_commissioner", "max_commitment": gbp("130000000.00")},
            {"organisation_id": orgs[2], "role": "co_commissioner", "max_commitment": gbp("120000000.00")},
            {"organisation_id": orgs[3], "role": "co_commissioner", "max_commitment": gbp("110000000.00")},
        ],
        "outcomes": outcomes,
    });
    let project: Value = post("/v1/projects", &admin, project_body)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let project = id(project);
    let provider = auth
        .mint(
            "bench-provider",
            Role::Provider,
            Some(&orgs[4]),
            chrono::Duration::hours(4),
        )
        .unwrap();
    let validator = auth
        .mint(
            "bench-validator",
            Role::Validator,
            Some(&orgs[5]),
            chrono::Duration::hours(4),
        )
        .unwrap();

    // The data set: each participant achieves the four outcomes on different days.
    let started = Instant::now();
    let mut files = Vec::new();
    let mut file = String::new();
    for n in 0..claims {
        if n % ROWS_PER_FILE == 0 {
            if !file.is_empty() {
                files.push(std::mem::take(&mut file));
            }
            file.push_str("participant_ref,outcome_code,achieved_on\n");
        }
        let participant = n / OUTCOMES.len();
        let day = chrono::NaiveDate::from_ymd_opt(2016, 1, 1).unwrap()
            + chrono::Duration::days((n % 3000) as i64);
        file.push_str(&format!(
            "LA{:07},{},{}\n",
            participant,
            OUTCOMES[n % OUTCOMES.len()],
            day
        ));
    }
    files.push(file);
    let generation = started.elapsed();
    println!("backend {backend}: {claims} claims in {} files of up to {ROWS_PER_FILE} rows (generated in {:.1} s)", files.len(), generation.as_secs_f64());

    let started = Instant::now();
    let mut submit_secs = 0.0;
    let mut verify_secs = 0.0;
    let mut verified_total = 0u64;
    for (i, body) in files.into_iter().enumerate() {
        let t = Instant::now();
        let report: Value = client
            .post(format!("{base}/v1/projects/{project}/claims/bulk"))
            .bearer_auth(&provider)
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        submit_secs += t.elapsed().as_secs_f64();
        let upload = report["upload_id"]
            .as_str()
            .unwrap_or_else(|| panic!("file {i} refused: {}", report["detail"]));
        let t = Instant::now();
        let verified: Value = post(
            &format!("/v1/projects/{project}/claims/verify"),
            &validator,
            json!({"upload_id": upload}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        verify_secs += t.elapsed().as_secs_f64();
        verified_total += verified["verified"].as_u64().unwrap_or(0);
        eprintln!(
            "  file {:>3}: {} stored, {} verified ({:.1} s so far)",
            i + 1,
            report["stored"],
            verified["verified"],
            started.elapsed().as_secs_f64()
        );
    }
    let end_to_end = started.elapsed().as_secs_f64();
    assert_eq!(verified_total as usize, claims, "every claim verified");

    // Reference: the same number of claim rows inserted raw, in batches, in one transaction.
    let mut conn = pool.get().unwrap();
    let sample: Vec<cofund::db::models::Claim> = {
        use cofund::db::schema::claims::dsl as c;
        use diesel::prelude::*;
        c::claims
            .select(cofund::db::models::Claim::as_select())
            .limit(1)
            .load(&mut *conn)
            .unwrap()
    };
    let template = sample.into_iter().next().unwrap();
    let raw_rows: Vec<cofund::db::models::Claim> = (0..claims)
        .map(|n| cofund::db::models::Claim {
            id: format!("raw_{n:09}"),
            participant_pseudonym: format!("{n:032}"),
            status: "submitted".into(),
            gross_minor: None,
            payable_minor: None,
            paid_units: None,
            entry_id: None,
            ..template.clone()
        })
        .collect();
    let t = Instant::now();
    db::write_tx(&mut conn, |conn| -> Result<(), diesel::result::Error> {
        cofund::db::queries::insert_claim_rows(conn, &raw_rows)?;
        Ok(())
    })
    .unwrap();
    let raw = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let report = cofund::services::check::run(&mut conn).unwrap();
    let check = t.elapsed().as_secs_f64();
    assert!(
        report.violations.is_empty(),
        "ledger invariants hold: {:?}",
        report.violations
    );

    println!(
        "end to end (upload + rules + verify + split + ledger): {end_to_end:.1} s = {:.0} claims/s",
        claims as f64 / end_to_end
    );
    println!("  submit (HTTP upload, parse, pseudonymise, rules, store): {submit_secs:.1} s");
    println!("  verify (price, split between 4 payers, allocations, ledger): {verify_secs:.1} s");
    println!(
        "reference: raw insert of {claims} claim rows: {raw:.1} s = {:.0} rows/s",
        claims as f64 / raw
    );
    println!("ratio end to end / raw insert: {:.1}", end_to_end / raw);
    println!(
        "cofund check over the whole ledger: {check:.1} s ({} entries, {} allocations)",
        report.entries, report.allocations
    );
    drop(conn);
    drop(pool);
    if let Some((server, name)) = pg_name {
        let mut conn = diesel::PgConnection::establish(&server).unwrap();
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn);
    }
}
