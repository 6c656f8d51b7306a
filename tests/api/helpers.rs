//! The test harness: a real cofund server on a random port over a fresh database, SQLite by
//! default and PostgreSQL when `COFUND_TEST_DATABASE_URL` names a server.

use std::net::TcpListener;

use cofund::api::auth::{Authenticator, Role};
use cofund::clock::Clock;
use cofund::config::{Config, Environment, JobSettings, JwtSettings, OpenDataSettings};
use cofund::db::{DatabaseUrl, Pool};
use cofund::notify::MailSettings;
use cofund::startup::Application;
use diesel::{Connection, RunQueryDsl};
use serde_json::{json, Value};

pub const TEST_SECRET: &[u8] = b"test-secret-that-is-at-least-32-bytes-long";

pub struct TestApp {
    pub address: String,
    /// Where `/metrics` is served when [`Options::metrics_bind`] asked for its own address.
    pub metrics_address: Option<String>,
    pub database: DatabaseUrl,
    pub pool: Pool,
    pub client: reqwest::Client,
    authenticator: Authenticator,
    /// The application's clock: `clock.advance_days(92)` moves the server into a later
    /// settlement period.
    pub clock: Clock,
    /// The mail settings, for a second server of the same deployment.
    mail: MailSettings,
    /// Every server this test started, to stop with [`TestApp::stop`].
    servers: std::sync::Mutex<Vec<actix_web::dev::ServerHandle>>,
    /// Dropped with the app: the test's own database goes with it.
    _database: FreshDatabase,
}

pub struct Options {
    pub jwt: JwtSettings,
    pub max_body_bytes: usize,
    pub workers: usize,
    pub mail: MailSettings,
    pub open_data: OpenDataSettings,
    /// Serve `/metrics` on an address of its own ([`TestApp::metrics_address`]).
    pub metrics_bind: bool,
    /// Which bulk requests run as jobs, and whether this server runs them.
    pub jobs: JobSettings,
    /// Development (the default) or production.
    pub environment: Environment,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            jwt: JwtSettings::hs256(TEST_SECRET, None, None),
            max_body_bytes: 1024 * 1024,
            workers: 2,
            mail: MailSettings::default(),
            // Rebuilt when a test asks (`rebuild_open_data`), never behind its back.
            open_data: OpenDataSettings {
                refresh: None,
                ..OpenDataSettings::default()
            },
            metrics_bind: false,
            jobs: JobSettings::default(),
            environment: Environment::Development,
        }
    }
}

/// A database of its own for one test on the PostgreSQL server, dropped afterwards.
struct PostgresDatabase {
    server_url: String,
    name: String,
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = diesel::PgConnection::establish(&self.server_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

/// A new, empty database for one test: on the PostgreSQL server of
/// `COFUND_TEST_DATABASE_URL` when it is set, else a SQLite file in a temporary folder. Both
/// are removed when this is dropped.
pub struct FreshDatabase {
    pub url: DatabaseUrl,
    _sqlite_dir: Option<tempfile::TempDir>,
    _postgres: Option<PostgresDatabase>,
}

pub fn fresh_database() -> FreshDatabase {
    let (url, sqlite_dir, postgres) = match std::env::var("COFUND_TEST_DATABASE_URL") {
        Ok(server_url) if !server_url.is_empty() => {
            let name = format!("cofund_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = diesel::PgConnection::establish(&server_url)
                .expect("COFUND_TEST_DATABASE_URL must reach a PostgreSQL server");
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .unwrap();
            let base = server_url
                .rsplit_once('/')
                .map(|(b, _)| b)
                .unwrap_or(&server_url);
            // Loopback needs no TLS; without it no test thread is inside OpenSSL while the
            // process exits (libpq's TLS and OpenSSL's exit handlers race, and the test binary
            // can crash after every test has passed).
            let url = if server_url.contains("sslmode=") {
                format!("{base}/{name}")
            } else {
                format!("{base}/{name}?sslmode=disable")
            };
            (
                DatabaseUrl::Postgres(url),
                None,
                Some(PostgresDatabase { server_url, name }),
            )
        }
        _ => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("cofund.db").to_string_lossy().into_owned();
            (DatabaseUrl::Sqlite(path), Some(dir), None)
        }
    };
    FreshDatabase {
        url,
        _sqlite_dir: sqlite_dir,
        _postgres: postgres,
    }
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let fresh = fresh_database();
    let database = fresh.url.clone();
    let clock = Clock::system();
    let config = Config {
        environment: options.environment,
        database: database.clone(),
        bind: "127.0.0.1:0".into(),
        metrics_bind: options.metrics_bind.then(|| "127.0.0.1:0".to_owned()),
        jwt: options.jwt.clone(),
        pseudonym_key: b"test-pseudonym-key-of-32-bytes-or-more".to_vec(),
        mail: options.mail.clone(),
        db_pool_size: 8,
        max_body_bytes: options.max_body_bytes,
        workers: Some(options.workers),
        clock: clock.clone(),
        open_data: options.open_data.clone(),
        jobs: options.jobs.clone(),
    };
    // The application main builds, on a port of its own.
    let app = Application::build(&config).expect("the application starts");
    let port = app.port();
    let metrics_address = app.metrics_port().map(|p| format!("http://127.0.0.1:{p}"));
    let pool = app.pool();
    let servers = std::sync::Mutex::new(vec![app.handle()]);
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        metrics_address,
        database,
        pool,
        // A fresh connection for every request: a connection left idle (while a test waits
        // on pip or a slow relay) may be closed by the server as the client reuses it, and the
        // request would fail with an incomplete message.
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("a test client"),
        authenticator: Authenticator::new(options.jwt),
        clock,
        servers,
        mail: options.mail,
        _database: fresh,
    }
}

/// A response with its status, content type and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

impl Reply {
    pub async fn of(request: reqwest::RequestBuilder) -> Reply {
        Reply::from(request.send().await.unwrap()).await
    }

    async fn from(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            content_type,
            body,
        }
    }

    /// Asserts an RFC 9457 problem with this status; returns the problem.
    #[track_caller]
    pub fn assert_problem(&self, status: u16) -> &Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.content_type, "application/problem+json",
            "body: {}",
            self.body
        );
        for field in ["type", "title", "status", "detail"] {
            assert!(
                self.body.get(field).is_some(),
                "problem lacks '{field}': {}",
                self.body
            );
        }
        assert_eq!(self.body["status"], status);
        &self.body
    }

    /// Asserts a validation problem naming `field` among its errors.
    #[track_caller]
    pub fn assert_invalid_field(&self, field: &str) {
        let problem = self.assert_problem(422);
        let errors = problem["errors"]
            .as_array()
            .expect("validation problems list errors");
        assert!(
            errors.iter().any(|e| e["field"] == field),
            "no error for '{field}' in {problem}"
        );
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        &self.body
    }
}

impl TestApp {
    pub fn token(&self, role: Role, org: Option<&str>) -> String {
        self.authenticator
            .mint(
                &format!("{}-user", role.as_str()),
                role,
                org,
                chrono::Duration::hours(1),
            )
            .unwrap()
    }

    /// Stops every server of this test as `cofund serve` stops on a signal: requests finish,
    /// then the workers (the mail worker among them) stop with the server that holds them.
    pub async fn stop(&self) {
        let servers: Vec<_> = self.servers.lock().unwrap().drain(..).collect();
        for server in servers {
            server.stop(true).await;
        }
    }

    /// Starts another cofund server on the same database, as a second process of a scaled-out
    /// deployment would be (its own connection pool, its own workers); returns its address.
    pub async fn second_server(&self) -> String {
        let config = Config {
            environment: Environment::Development,
            database: self.database.clone(),
            bind: "127.0.0.1:0".into(),
            metrics_bind: None,
            jwt: JwtSettings::hs256(TEST_SECRET, None, None),
            pseudonym_key: b"test-pseudonym-key-of-32-bytes-or-more".to_vec(),
            mail: self.mail.clone(),
            db_pool_size: 8,
            max_body_bytes: 1024 * 1024,
            workers: Some(2),
            clock: self.clock.clone(),
            open_data: OpenDataSettings {
                refresh: None,
                ..OpenDataSettings::default()
            },
            jobs: JobSettings::default(),
        };
        let app = Application::build(&config).expect("a second server starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        self.servers.lock().unwrap().push(app.handle());
        tokio::spawn(app.run_until_stopped());
        address
    }

    /// Starts the `cofund serve` binary on this test's database with its log (stderr) going
    /// to a file, as an operator would run it; returns its address and the log.
    pub async fn logged_server(&self) -> (String, ServerLog) {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log_path).unwrap();
        let child = self
            .cofund_command()
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env("COFUND_LOG", "info")
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("cofund serve starts");
        let address = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if self
                .client
                .get(format!("{address}/readyz"))
                .send()
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let log = ServerLog {
            child,
            path: log_path,
            _dir: dir,
        };
        (address, log)
    }

    fn database_url_string(&self) -> String {
        match &self.database {
            DatabaseUrl::Postgres(url) | DatabaseUrl::Sqlite(url) => url.clone(),
        }
    }

    /// A token for a named person, for tests of who did what.
    pub fn token_for(&self, role: Role, org: Option<&str>, subject: &str) -> String {
        self.authenticator
            .mint(subject, role, org, chrono::Duration::hours(1))
            .unwrap()
    }

    /// Runs the `cofund` command against this test's database.
    pub fn cofund(&self, args: &[&str]) -> std::process::Output {
        self.cofund_command().args(args).output().unwrap()
    }

    /// The `cofund` binary, configured for this test's database and keys.
    fn cofund_command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cofund"));
        command
            .env("DATABASE_URL", self.database_url_string())
            .env(
                "COFUND_JWT_SECRET",
                std::str::from_utf8(TEST_SECRET).unwrap(),
            )
            .env(
                "COFUND_PSEUDONYM_KEY",
                "test-pseudonym-key-of-32-bytes-or-more",
            );
        command
    }

    /// Runs SQL directly, as an attacker or a bug would.
    pub fn execute_sql(&self, sql: &str) -> diesel::QueryResult<usize> {
        let mut conn = self.pool.get().unwrap();
        diesel::sql_query(sql).execute(&mut *conn)
    }

    pub fn admin(&self) -> String {
        self.token(Role::Admin, None)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::from(request.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        self.post_with(path, token, body, &[]).await
    }

    pub async fn post_with(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Reply::from(request.send().await.unwrap()).await
    }

    pub async fn put_json(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        let mut request = self.client.put(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::from(request.send().await.unwrap()).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        let mut request = self.client.patch(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Reply::from(request.send().await.unwrap()).await
    }

    /// Creates an organisation as admin and returns its id.
    pub async fn org(&self, name: &str, kind: &str, areas: &[&str]) -> String {
        let reply = self
            .post(
                "/v1/organisations",
                Some(&self.admin()),
                &json!({"name": name, "kind": kind, "area_codes": areas}),
            )
            .await;
        reply.assert_status(201)["id"].as_str().unwrap().to_owned()
    }

    pub async fn fund(&self, owner: &str, budget: &str) -> String {
        let reply = self
            .post(
                "/v1/funds",
                Some(&self.admin()),
                &json!({"name": "Outcomes Fund", "owner_organisation_id": owner,
                        "budget": gbp(budget), "service_start": "2020-01-01", "service_end": "2030-12-31"}),
            )
            .await;
        reply.assert_status(201)["id"].as_str().unwrap().to_owned()
    }

    /// Number of rows in `table`, to show that a refused request wrote nothing.
    pub fn count(&self, table: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.pool.get().unwrap();
        diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"))
            .get_result::<Count>(&mut *conn)
            .unwrap()
            .n
    }
}

pub fn gbp(amount: &str) -> Value {
    json!({"amount": amount, "currency": "GBP"})
}

/// The organisations of a typical co-commissioned project.
pub struct Parties {
    pub central: String,
    pub council_a: String,
    pub council_b: String,
    pub provider: String,
    pub validator: String,
    pub fund: String,
}

pub async fn parties(app: &TestApp) -> Parties {
    let central = app
        .org(
            "Department for Culture, Media and Sport",
            "central_fund",
            &[],
        )
        .await;
    let fund = app.fund(&central, "1000000.00").await;
    Parties {
        council_a: app
            .org("Council A", "local_authority", &["E10000034"])
            .await,
        council_b: app
            .org("Council B", "local_authority", &["E08000025"])
            .await,
        provider: app.org("Provider Ltd", "provider", &[]).await,
        validator: app.org("Validator Ltd", "validator", &[]).await,
        central,
        fund,
    }
}

/// A valid project body: the central fund tops up two councils, pro rata.
pub fn project_body(p: &Parties) -> Value {
    json!({
        "name": "Youth Outcomes Partnership",
        "fund_id": p.fund,
        "provider_organisation_id": p.provider,
        "service_start": "2021-01-01",
        "service_end": "2023-12-31",
        "max_outcome_payment": gbp("500000.00"),
        "participant_cap": gbp("19000.00"),
        "payers": [
            {"organisation_id": p.central, "role": "central_top_up", "max_commitment": gbp("100000.00")},
            {"organisation_id": p.council_a, "role": "local_commissioner", "max_commitment": gbp("200000.00")},
            {"organisation_id": p.council_b, "role": "co_commissioner", "max_commitment": gbp("200000.00")},
        ],
        "outcomes": [
            {"code": "emp_13w", "name": "Employment 13 weeks", "price": gbp("2600.00"), "unit": "achievement"},
            {"code": "emp_26w", "name": "Employment 26 weeks", "price": gbp("1000.00"), "unit": "achievement",
             "requires": {"outcome_code": "emp_13w", "min_days_after": 91}},
        ],
        "validator_organisation_ids": [p.validator],
    })
}

/// A server process started by [`TestApp::logged_server`] and the file its log goes to.
pub struct ServerLog {
    child: std::process::Child,
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl ServerLog {
    /// Stops the server and returns everything it logged.
    pub fn finish(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.path).unwrap()
    }
}

impl Drop for ServerLog {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// `cofund check` over the test's database finds nothing wrong.
#[track_caller]
pub fn assert_ledger_ok(app: &TestApp) {
    let out = app.cofund(&["check"]);
    assert!(
        out.status.success(),
        "cofund check: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Python with the tests' PyPI packages (aiosmtpd for mail, frictionless for open data,
/// prometheus-client's parser for metrics):
/// `COFUND_TEST_PYTHON` if set, else a virtualenv made once under `target/test-venv`.
pub fn test_python() -> &'static std::path::Path {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        if let Ok(python) = std::env::var("COFUND_TEST_PYTHON") {
            return PathBuf::from(python);
        }
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv");
        let python = venv.join("bin/python");
        let has_packages = |python: &Path| {
            Command::new(python)
                .args(["-c", "import aiosmtpd, frictionless, prometheus_client"])
                .status()
                .is_ok_and(|s| s.success())
        };
        if !has_packages(&python) {
            let made = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status();
            assert!(
                made.is_ok_and(|s| s.success()),
                "the tests need python3 with venv"
            );
            let installed = Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "aiosmtpd==1.4.6",
                    "frictionless==5.21.0",
                    "prometheus-client==0.26.0",
                ])
                .status();
            assert!(
                installed.is_ok_and(|s| s.success()),
                "could not install the tests' packages from PyPI"
            );
        }
        python
    })
}
