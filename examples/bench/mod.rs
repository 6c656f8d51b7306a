//! What the benchmarks share: a cofund Application on a fresh database, the Life Chances
//! Fund-like project of four payers, and N claims uploaded as bulk CSV files and verified.
//! Each benchmark uses part of it.
#![allow(dead_code)]

use std::time::Instant;

use cofund::api::auth::{Authenticator, Role};
use cofund::config::{Config, Environment, JwtSettings};
use cofund::db::{DatabaseUrl, Pool};
use diesel::{Connection, RunQueryDsl};
use serde_json::{json, Value};

const SECRET: &[u8] = b"benchmark-secret-of-at-least-32-bytes!!";
pub const ROWS_PER_FILE: usize = 50_000;
const OUTCOMES: [&str; 4] = [
    "assessment_1",
    "accommodation_entry",
    "education_training_entry",
    "employment_entry",
];

/// A running cofund on a database of its own, dropped (on PostgreSQL) with this.
pub struct Bench {
    pub base: String,
    pub pool: Pool,
    pub client: reqwest::Client,
    auth: Authenticator,
    _dir: tempfile::TempDir,
    pg_name: Option<(String, String)>,
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Some((server, name)) = &self.pg_name {
            // BENCH_KEEP_PG keeps the filled database, for `cofund check` to be timed on it.
            if std::env::var_os("BENCH_KEEP_PG").is_some() {
                eprintln!("kept the PostgreSQL database {name}");
                return;
            }
            if let Ok(mut conn) = diesel::PgConnection::establish(server) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

/// The project the claims go to, with the tokens of its provider and validator.
pub struct Project {
    pub id: String,
    pub payer_organisations: Vec<String>,
    pub provider_organisation: String,
    pub provider: String,
    pub validator: String,
}

impl Bench {
    /// Starts cofund on a fresh `sqlite` or `postgres` database
    /// (COFUND_BENCH_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres).
    pub fn start(backend: &str) -> Bench {
        Bench::start_with(backend, None)
    }

    /// Starts cofund on the SQLite database at `path`, which stays when the bench ends.
    pub fn start_sqlite_at(path: &str) -> Bench {
        Bench::start_with("sqlite", Some(path))
    }

    fn start_with(backend: &str, sqlite_path: Option<&str>) -> Bench {
        let dir = tempfile::tempdir().unwrap();
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
                DatabaseUrl::Sqlite(sqlite_path.map_or_else(
                    || dir.path().join("bench.db").to_string_lossy().into_owned(),
                    str::to_owned,
                )),
                None,
            ),
        };
        let jwt = JwtSettings::hs256(SECRET, None, None);
        let config = Config {
            environment: Environment::Development,
            database,
            bind: "127.0.0.1:0".into(),
            metrics_bind: None,
            jwt: jwt.clone(),
            pseudonym_key: b"benchmark-pseudonym-key-of-32-bytes".to_vec(),
            mail: Default::default(),
            db_pool_size: 4,
            max_body_bytes: 256 * 1024 * 1024,
            workers: Some(2),
            clock: cofund::clock::Clock::system(),
            // The open data is rebuilt when a benchmark asks, never behind its back.
            open_data: cofund::config::OpenDataSettings {
                refresh: None,
                ..Default::default()
            },
            jobs: Default::default(),
        };
        let app = cofund::startup::Application::build(&config).unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let pool = app.pool();
        tokio::spawn(app.run_until_stopped());
        Bench {
            base,
            pool,
            client: reqwest::Client::new(),
            auth: Authenticator::new(jwt),
            _dir: dir,
            pg_name,
        }
    }

    pub fn token(&self, subject: &str, role: Role, org: Option<&str>) -> String {
        self.auth
            .mint(subject, role, org, chrono::Duration::hours(4))
            .unwrap()
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Value {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// A Life Chances Fund-like project: DCMS tops up three councils, pro rata.
    pub async fn project(&self, route: &str) -> Project {
        let admin = self.token("bench-admin", Role::Admin, None);
        let mut orgs = Vec::new();
        for (name, kind) in [
            ("DCMS", "central_fund"),
            ("Council A", "local_authority"),
            ("Council B", "local_authority"),
            ("Council C", "local_authority"),
            ("Provider", "provider"),
            ("Validator", "validator"),
        ] {
            let org = self
                .post(
                    "/v1/organisations",
                    &admin,
                    json!({"name": name, "kind": kind}),
                )
                .await;
            orgs.push(org["id"].as_str().unwrap().to_owned());
        }
        let gbp = |a: &str| json!({"amount": a, "currency": "GBP"});
        let fund = self
            .post("/v1/funds", &admin, json!({"name": "Fund", "owner_organisation_id": orgs[0],
                "budget": gbp("900000000.00"), "service_start": "2016-01-01", "service_end": "2030-12-31"}))
            .await;
        let outcomes: Vec<Value> = OUTCOMES
            .iter()
            .map(|c| json!({"code": c, "name": c, "price": gbp("500.00"), "unit": "achievement"}))
            .collect();
        let project = self
            .post("/v1/projects", &admin, json!({
                "name": "Benchmark project", "fund_id": fund["id"], "provider_organisation_id": orgs[4],
                "service_start": "2016-01-01", "service_end": "2025-12-31", "validator_organisation_ids": [orgs[5]],
                "settlement_route": route,
                "payers": [
                    {"organisation_id": orgs[0], "role": "central_top_up", "max_commitment": gbp("150000000.00")},
                    {"organisation_id": orgs[1], "role": "local_commissioner", "lead": true, "max_commitment": gbp("130000000.00")},
                    {"organisation_id": orgs[2], "role": "co_commissioner", "max_commitment": gbp("120000000.00")},
                    {"organisation_id": orgs[3], "role": "co_commissioner", "max_commitment": gbp("110000000.00")},
                ],
                "outcomes": outcomes,
            }))
            .await;
        Project {
            id: project["id"].as_str().unwrap().to_owned(),
            provider: self.token("bench-provider", Role::Provider, Some(&orgs[4])),
            validator: self.token("bench-validator", Role::Validator, Some(&orgs[5])),
            provider_organisation: orgs[4].clone(),
            payer_organisations: orgs[..4].to_vec(),
        }
    }
}

/// `claims` claim rows as CSV files of up to [`ROWS_PER_FILE`] rows: each participant
/// achieves the four outcomes on different days.
pub fn claim_files(claims: usize) -> Vec<String> {
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
    files
}

/// Seconds spent submitting and verifying, and claims verified.
pub struct Loaded {
    pub submit_secs: f64,
    pub verify_secs: f64,
    pub verified: u64,
}

/// Uploads every file and verifies each upload in one call, printing progress.
pub async fn upload_and_verify(bench: &Bench, project: &Project, files: Vec<String>) -> Loaded {
    let started = Instant::now();
    let mut loaded = Loaded {
        submit_secs: 0.0,
        verify_secs: 0.0,
        verified: 0,
    };
    for (i, body) in files.into_iter().enumerate() {
        let t = Instant::now();
        let report: Value = bench
            .client
            .post(format!(
                "{}/v1/projects/{}/claims/bulk",
                bench.base, project.id
            ))
            .bearer_auth(&project.provider)
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        loaded.submit_secs += t.elapsed().as_secs_f64();
        let upload = report["upload_id"]
            .as_str()
            .unwrap_or_else(|| panic!("file {i} refused: {}", report["detail"]));
        let t = Instant::now();
        let verified = bench
            .post(
                &format!("/v1/projects/{}/claims/verify", project.id),
                &project.validator,
                json!({"upload_id": upload}),
            )
            .await;
        loaded.verify_secs += t.elapsed().as_secs_f64();
        loaded.verified += verified["verified"].as_u64().unwrap_or(0);
        eprintln!(
            "  file {:>3}: {} stored, {} verified ({:.1} s so far)",
            i + 1,
            report["stored"],
            verified["verified"],
            started.elapsed().as_secs_f64()
        );
    }
    loaded
}
