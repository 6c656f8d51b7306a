//! Settlement benchmark: a quarter with N allocations (default 1,000,000: 250,000 claims split
//! between four payers, from the claims benchmark's generator), settled into documents and
//! issued; then the CSV of the largest document streamed, with the process's memory sampled
//! while it streams. The reference, in the same run, is a plain read of the same allocations
//! with the columns a document line needs.
//!
//! cargo run --release --example bench_settlement -- [ALLOCATIONS] [sqlite|postgres] [direct|via_commissioner]

mod bench;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

    let reference = reference_read(&bench, &project, allocations);
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
    // Under via_commissioner every allocation is on the invoice, and all but the lead's on a
    // top-up claim too.
    let legs = if route == "direct" {
        allocations
    } else {
        allocations * 2 - claims
    };
    assert_eq!(
        report["allocations_settled"].as_u64(),
        Some(legs as u64),
        "{report}"
    );
    let documents: Vec<Value> = report["documents"].as_array().cloned().unwrap_or_default();
    let t = Instant::now();
    issue_all(&bench, &project, &documents).await;
    let issue = t.elapsed().as_secs_f64();
    let largest = documents
        .iter()
        .max_by_key(|d| d["line_count"].as_i64())
        .unwrap();
    let streamed = stream_csv(&bench, &project, largest["id"].as_str().unwrap()).await;

    println!(
        "build the documents of {quarter}: {build:.2} s ({} documents, {:.0} allocations/s)",
        documents.len(),
        allocations as f64 / build
    );
    println!("reference: plain read of the {allocations} allocations with their lines' columns: {reference:.2} s; ratio build / read {:.1}", build / reference);
    println!("issue them: {issue:.2} s");
    println!(
        "CSV of the largest document ({} lines): {:.1} MB in {:.2} s, first byte after {:.3} s; process RSS {:.0} MB before, {:.0} MB at most while streaming (+{:.1} MB)",
        largest["line_count"],
        streamed.bytes as f64 / 1e6,
        streamed.seconds,
        streamed.first_byte,
        streamed.rss_before_kib as f64 / 1024.0,
        streamed.rss_peak_kib as f64 / 1024.0,
        streamed.rss_peak_kib.saturating_sub(streamed.rss_before_kib) as f64 / 1024.0
    );
    let mut conn = bench.pool.get().unwrap();
    let t = Instant::now();
    let check = cofund::services::check::run(&mut conn, chrono::Utc::now().date_naive()).unwrap();
    assert!(check.violations.is_empty(), "{:?}", check.violations);
    println!(
        "cofund check: {:.1} s, nothing wrong",
        t.elapsed().as_secs_f64()
    );
}

/// The reference: the quarter's allocations read with what a line needs, nothing else.
fn reference_read(bench: &Bench, project: &bench::Project, allocations: usize) -> f64 {
    use cofund::db::schema::{allocations as a, claims as c};
    let mut conn = bench.pool.get().unwrap();
    let t = Instant::now();
    let rows: Vec<(i64, String, String, String, i64)> = a::table
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
        .unwrap();
    let seconds = t.elapsed().as_secs_f64();
    assert_eq!(rows.len(), allocations);
    seconds
}

/// Issues every document, each by its issuer.
async fn issue_all(bench: &Bench, project: &bench::Project, documents: &[Value]) {
    let lead = bench.token(
        "bench-lead",
        Role::Commissioner,
        Some(&project.payer_organisations[1]),
    );
    for d in documents {
        let token = if d["issuer_organisation_id"] == project.provider_organisation.as_str() {
            &project.provider
        } else {
            &lead
        };
        let path = format!("/v1/documents/{}/issue", d["id"].as_str().unwrap());
        let issued = bench.post(&path, token, json!({})).await;
        assert_eq!(issued["status"], "issued", "{issued}");
    }
}

struct Streamed {
    bytes: usize,
    seconds: f64,
    first_byte: f64,
    rss_before_kib: u64,
    rss_peak_kib: u64,
}

/// Streams a document's CSV, sampling the process's memory every 20 ms while it streams.
async fn stream_csv(bench: &Bench, project: &bench::Project, document_id: &str) -> Streamed {
    let rss_before_kib = rss_kib();
    let peak = Arc::new(AtomicU64::new(rss_before_kib));
    let sampling = Arc::new(AtomicBool::new(true));
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
    let mut response = bench
        .client
        .get(format!("{}/v1/documents/{document_id}.csv", bench.base))
        .bearer_auth(&project.provider)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (mut bytes, mut first_byte) = (0usize, None);
    while let Some(chunk) = response.chunk().await.unwrap() {
        first_byte.get_or_insert_with(|| t.elapsed().as_secs_f64());
        bytes += chunk.len();
    }
    let seconds = t.elapsed().as_secs_f64();
    sampling.store(false, Ordering::Relaxed);
    sampler.await.unwrap();
    Streamed {
        bytes,
        seconds,
        first_byte: first_byte.unwrap_or(0.0),
        rss_before_kib,
        rss_peak_kib: peak.load(Ordering::Relaxed),
    }
}
