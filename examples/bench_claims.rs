//! National-scale claims benchmark: N claims submitted as bulk CSV files over HTTP, verified
//! upload by upload, split between four payers and posted to the ledger; then the same number
//! of claim rows inserted raw, in the same run, as the reference.
//!
//! cargo run --release --example bench_claims -- [CLAIMS] [sqlite|postgres]
//! (PostgreSQL: COFUND_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres;
//! SQLite: BENCH_DB=path keeps the database there, for `cofund check` to be timed again on it)

mod bench;

use std::time::Instant;

use cofund::db;
use cofund::domain::ids::ClaimId;

use bench::{claim_files, upload_and_verify, Bench, ROWS_PER_FILE};

#[tokio::main]
async fn main() {
    cofund::telemetry::init();
    let args: Vec<String> = std::env::args().collect();
    let claims: usize = args
        .get(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let backend = args.get(2).map(String::as_str).unwrap_or("sqlite");
    let bench = match (backend, std::env::var("BENCH_DB")) {
        ("sqlite", Ok(path)) => Bench::start_sqlite_at(&path),
        _ => Bench::start(backend),
    };
    let project = bench.project("direct").await;

    let started = Instant::now();
    let files = claim_files(claims);
    let generation = started.elapsed();
    println!("backend {backend}: {claims} claims in {} files of up to {ROWS_PER_FILE} rows (generated in {:.1} s)", files.len(), generation.as_secs_f64());

    let started = Instant::now();
    let loaded = upload_and_verify(&bench, &project, files).await;
    let (submit_secs, verify_secs) = (loaded.submit_secs, loaded.verify_secs);
    let end_to_end = started.elapsed().as_secs_f64();
    assert_eq!(loaded.verified as usize, claims, "every claim verified");
    let pool = bench.pool.clone();

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
            id: ClaimId::from(format!("raw_{n:09}")),
            participant_pseudonym: format!("{n:032}"),
            status: cofund::domain::claims::ClaimStatus::Submitted,
            gross_minor: None,
            payable_minor: None,
            paid_units: None,
            entry_id: None,
            ..template.clone()
        })
        .collect();
    let t = Instant::now();
    db::write_tx(&mut conn, |conn| -> Result<(), diesel::result::Error> {
        cofund::db::queries::claims::insert_claim_rows(conn, &raw_rows)?;
        Ok(())
    })
    .unwrap();
    let raw = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let steps = std::cell::RefCell::new(Vec::new());
    let today = chrono::Utc::now().date_naive();
    let report = cofund::services::check::run_with_progress(&mut conn, today, &|name| {
        steps
            .borrow_mut()
            .push((name.to_owned(), t.elapsed().as_secs_f64()))
    })
    .unwrap();
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
    let steps = steps.into_inner();
    for (i, (name, began)) in steps.iter().enumerate() {
        let ended = steps.get(i + 1).map_or(check, |next| next.1);
        println!("  {name}: {:.1} s", ended - began);
    }
    drop(conn);
    drop(pool);
}
