//! Settlement benchmark: a quarter with N allocations (default 1,000,000: 250,000 claims split
//! between four payers, from the claims benchmark's generator), settled into documents and
//! issued; then the CSV of the largest document streamed, with the process's memory sampled
//! while it streams. The reference, in the same run, is a plain read of the same allocations
//! with the columns a document line needs.
//!
//! cargo run --release --example bench_settlement -- [ALLOCATIONS] [sqlite|postgres] [direct|via_commissioner]

mod bench;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cofund::api::auth::Role;
use diesel::prelude::*;
use serde_json::{json, Value};

use bench::{claim_files, upload_and_verify, Bench};

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    cofund::telemetry::init();
    let args: Vec<String> = std::env::args().collect();
    let allocations: usize = args
        .get(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let backend = args.get(2).map(String::as_str).unwrap_or("sqlite");
    let route = args.get(3).map(String::as_str).unwrap_or("direct");
    let claims = allocations / 4;
    let bench = Bench::start(backend);
    let project = bench.project(route).await;
    println!("backend {backend}, route {route}: {claims} claims, {allocations} allocations in this quarter");
    let t = Instant::now();
    let loaded = upload_and_verify(&bench, &project, claim_files(claims)).await;
    assert_eq!(loaded.verified as usize, claims);
    println!("loaded in {:.1} s", t.elapsed().as_secs_f64());

    // Reference: read the quarter's allocations with what a line needs, nothing else.
    let mut conn = bench.pool.get().unwrap();
    let t = Instant::now();
    let rows: Vec<(i64, String, String, String, i64)> = {
        use cofund::db::schema::{allocations as a, claims as c};
        a::table
            .inner_join(c::table)
            .filter(a::project_id.eq(&project.id))
            .select((
                a::id,
                a::claim_id,
                a::outcome_code,
                c::participant_pseudonym,
                a::amount_minor,
            ))
            .load(&mut *conn)
            .unwrap()
    };
    let reference = t.elapsed().as_secs_f64();
    assert_eq!(rows.len(), allocations);
    drop(rows);
    drop(conn);

    let quarter = cofund::domain::period::Period::containing(
        chrono::Utc::now().date_naive(),
        cofund::domain::registry::SettlementFrequency::Quarterly,
    );
    let t = Instant::now();
    let report = bench
        .post(
            &format!("/v1/projects/{}/settlements", project.id),
            &project.provider,
            json!({"period": quarter.to_string()}),
        )
        .await;
    let build = t.elapsed().as_secs_f64();
    let documents: Vec<Value> = report["documents"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        report["allocations_settled"].as_u64(),
        Some(
            allocations as u64 * if route == "direct" { 1 } else { 2 }
                - if route == "direct" { 0 } else { claims as u64 }
        ),
        "{report}"
    );

    // Issued, each by its issuer.
    let t = Instant::now();
    let lead = bench.token(
        "bench-lead",
        Role::Commissioner,
        Some(&project.payer_organisations[1]),
    );
    for d in &documents {
        let token = if d["issuer_organisation_id"] == project.provider_organisation.as_str() {
            &project.provider
        } else {
            &lead
        };
        let issued = bench
            .post(
                &format!("/v1/documents/{}/issue", d["id"].as_str().unwrap()),
                token,
                json!({}),
            )
            .await;
        assert_eq!(issued["status"], "issued", "{issued}");
    }
    let issue = t.elapsed().as_secs_f64();

    // The largest document's CSV, streamed; memory sampled while it streams.
    let largest = documents
        .iter()
        .max_by_key(|d| d["line_count"].as_i64())
        .unwrap();
    let before = rss_kib();
    let peak = Arc::new(AtomicU64::new(before));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peak, sampling) = (peak.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let t = Instant::now();
    let response = bench
        .client
        .get(format!(
            "{}/v1/documents/{}.csv",
            bench.base,
            largest["id"].as_str().unwrap()
        ))
        .bearer_auth(&project.provider)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut response = response;
    let (mut bytes, mut first_byte) = (0usize, None);
    while let Some(chunk) = response.chunk().await.unwrap() {
        first_byte.get_or_insert_with(|| t.elapsed().as_secs_f64());
        bytes += chunk.len();
    }
    let stream = t.elapsed().as_secs_f64();
    sampling.store(false, Ordering::Relaxed);
    sampler.await.unwrap();
    let peak = peak.load(Ordering::Relaxed);

    println!(
        "build the documents of {quarter}: {build:.2} s ({} documents, {:.0} allocations/s)",
        documents.len(),
        allocations as f64 / build
    );
    println!("reference: plain read of the {allocations} allocations with their lines' columns: {reference:.2} s; ratio build / read {:.1}", build / reference);
    println!("issue them: {issue:.2} s");
    println!(
        "CSV of the largest document ({} lines): {:.1} MB in {stream:.2} s, first byte after {:.3} s; process RSS {:.0} MB before, {:.0} MB at most while streaming (+{:.1} MB)",
        largest["line_count"],
        bytes as f64 / 1e6,
        first_byte.unwrap_or(0.0),
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        (peak.saturating_sub(before)) as f64 / 1024.0
    );
    let mut conn = bench.pool.get().unwrap();
    let t = Instant::now();
    let check = cofund::services::check::run(&mut conn).unwrap();
    assert!(check.violations.is_empty(), "{:?}", check.violations);
    println!(
        "cofund check: {:.1} s, nothing wrong",
        t.elapsed().as_secs_f64()
    );
}
