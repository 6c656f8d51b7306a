//! Fills a SQLite database for the open-data rebuild benchmark: PROJECTS published projects
//! made through the registry API (two payers at half each, four outcomes at £500), then CLAIMS
//! verified claims with their ledger entries and allocations written by bulk SQL, spread over
//! ten years. Nine projects in ten are large (every quarter's blocks are large); one in ten is
//! small (most blocks are withheld); in every third project the first payer's maximum is set
//! to exactly what it paid, so that its cap has bound and the disclosure auditor must reason
//! about it. `scripts/bench-open-data --rebuild` times the rebuild on copies of the database.
//!
//! Usage: bench_rebuild CLAIMS DATABASE_PATH [PROJECTS]

mod bench;

use std::time::Instant;

use bench::Bench;
use cofund::api::auth::Role;
use diesel::connection::SimpleConnection;
use serde_json::{json, Value};

const OUTCOMES: usize = 4;
const PRICE_MINOR: i64 = 50_000;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let claims: u64 = args
        .get(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000_000);
    let path = args
        .get(2)
        .expect("usage: bench_rebuild CLAIMS DATABASE_PATH [PROJECTS]");
    let projects: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(500);
    let started = Instant::now();
    let bench = Bench::start_sqlite_at(path);
    let admin = bench.token("bench-admin", Role::Admin, None);
    let mut targets = Vec::new();
    for p in 0..projects {
        targets.extend(project(&bench, &admin, p).await);
    }
    eprintln!(
        "{projects} projects made through the API in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut conn = bench.pool.get().unwrap();
    let cofund::db::DbConn::Sqlite(sqlite) = &mut *conn else {
        panic!("the benchmark fills SQLite");
    };
    let t = Instant::now();
    sqlite
        .batch_execute(&fill_sql(&targets, claims, projects))
        .unwrap();
    eprintln!(
        "{claims} claims, their entries and {} allocations written in {:.1} s",
        2 * claims,
        t.elapsed().as_secs_f64()
    );
}

/// One target of claims: a project's outcome with its two payers.
struct Target {
    project: String,
    outcome_id: String,
    outcome_code: String,
    payers: [(String, String); 2],
    provider: String,
}

/// A published project of two payers and four outcomes, and its four targets.
async fn project(bench: &Bench, admin: &str, n: usize) -> Vec<Target> {
    let mut orgs = Vec::new();
    for (name, kind) in [
        ("Payer A", "local_authority"),
        ("Payer B", "local_authority"),
        ("Provider", "provider"),
    ] {
        let org = bench
            .post(
                "/v1/organisations",
                admin,
                json!({"name": format!("{name} {n}"), "kind": kind}),
            )
            .await;
        orgs.push(org["id"].as_str().unwrap().to_owned());
    }
    let gbp = |a: &str| json!({"amount": a, "currency": "GBP"});
    let outcomes: Vec<Value> = (0..OUTCOMES)
        .map(|o| json!({"code": format!("o{o}"), "name": format!("Outcome {o}"), "price": gbp("500.00"), "unit": "achievement"}))
        .collect();
    let project = bench
        .post("/v1/projects", admin, json!({
            "name": format!("Benchmark project {n}"), "provider_organisation_id": orgs[2],
            "service_start": "2016-01-01", "service_end": "2026-12-31", "published": true,
            "payers": [
                {"organisation_id": orgs[0], "role": "co_commissioner", "max_commitment": gbp("900000000.00"), "share": "0.5"},
                {"organisation_id": orgs[1], "role": "local_commissioner", "lead": true, "max_commitment": gbp("900000000.00"), "share": "0.5"},
            ],
            "outcomes": outcomes,
        }))
        .await;
    let id = project["id"]
        .as_str()
        .unwrap_or_else(|| panic!("project refused: {project}"))
        .to_owned();
    let payers: Vec<(String, String)> = project["payers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let org = p["organisation_id"].as_str().unwrap().to_owned();
            (p["id"].as_str().unwrap().to_owned(), org)
        })
        .collect();
    project["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| Target {
            project: id.clone(),
            outcome_id: o["id"].as_str().unwrap().to_owned(),
            outcome_code: o["code"].as_str().unwrap().to_owned(),
            payers: [payers[0].clone(), payers[1].clone()],
            provider: orgs[2].clone(),
        })
        .collect()
}

/// The SQL that writes `claims` verified claims over the targets: claim `i` goes to a small
/// project's target when `i` is a multiple of 5,000, else to a large one's, and is achieved
/// on one of 3,650 days from 1 January 2016.
fn fill_sql(targets: &[Target], claims: u64, projects: usize) -> String {
    let small = (projects / 10).max(1) * OUTCOMES;
    let large = targets.len() - small;
    let mut sql = String::from(
        "CREATE TEMP TABLE targets (k INTEGER PRIMARY KEY, project_id TEXT, outcome_id TEXT, \
         outcome_code TEXT, payer_a TEXT, org_a TEXT, payer_b TEXT, org_b TEXT, provider TEXT);\n",
    );
    for (k, t) in targets.iter().enumerate() {
        // The small projects' targets come last.
        sql += &format!(
            "INSERT INTO targets VALUES ({k}, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}');\n",
            t.project,
            t.outcome_id,
            t.outcome_code,
            t.payers[0].0,
            t.payers[0].1,
            t.payers[1].0,
            t.payers[1].1,
            t.provider
        );
    }
    let half = PRICE_MINOR / 2;
    sql += &format!(
        "BEGIN;
CREATE TEMP TABLE numbers AS
  WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last})
  SELECT i,
         CASE WHEN i % 5000 = 0 THEN {large} + (i / 5000) % {small} ELSE i % {large} END AS k,
         date('2016-01-01', '+' || ((i / 7) % 3650) || ' days') AS day
  FROM n;
INSERT INTO claims (id, project_id, outcome_id, outcome_code, participant_pseudonym, achieved_on,
    period_start, quantity, status, submitted_by, submitted_by_organisation_id, submitted_at,
    decided_by, decided_at, gross_minor, payable_minor, paid_units, entry_id)
  SELECT 'clm_' || i, t.project_id, t.outcome_id, t.outcome_code, printf('%016x', i), day, day, 1,
         'verified', 'bench', t.provider, '2026-01-01 00:00:00', 'bench', '2026-01-02 00:00:00',
         {PRICE_MINOR}, {PRICE_MINOR}, 1, 'ent_' || i
  FROM numbers JOIN targets t USING (k);
INSERT INTO ledger_entries (id, claim_id, project_id, provider_amount_minor, posted_at)
  SELECT 'ent_' || i, 'clm_' || i, t.project_id, -{PRICE_MINOR}, '2026-01-02 00:00:00'
  FROM numbers JOIN targets t USING (k);
INSERT INTO allocations (entry_id, claim_id, project_id, payer_id, payer_organisation_id,
    amount_minor, shortfall_minor, achieved_on, posted_at, outcome_code)
  SELECT 'ent_' || i, 'clm_' || i, t.project_id, t.payer_a, t.org_a, {half}, 0, day,
         '2026-01-02 00:00:00', t.outcome_code
  FROM numbers JOIN targets t USING (k)
  UNION ALL
  SELECT 'ent_' || i, 'clm_' || i, t.project_id, t.payer_b, t.org_b, {half}, 0, day,
         '2026-01-02 00:00:00', t.outcome_code
  FROM numbers JOIN targets t USING (k);
-- Every third project's first payer has paid exactly its maximum: its cap has bound.
UPDATE project_payers SET max_commitment_minor = MAX(1, (
    SELECT COALESCE(SUM(a.amount_minor), 0) FROM allocations a WHERE a.payer_id = project_payers.id))
  WHERE position = 0 AND project_id IN (
    SELECT project_id FROM targets WHERE k % {every_third} = 0);
DROP TABLE numbers;
COMMIT;
ANALYZE;
PRAGMA wal_checkpoint(TRUNCATE);
",
        last = claims.saturating_sub(1),
        every_third = 3 * OUTCOMES,
    );
    sql
}
