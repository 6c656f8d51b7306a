//! The `cofund` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cofund::api::auth::{Authenticator, Role};
use cofund::config::Config;
use cofund::startup::Application;
use cofund::{api, db, demo, telemetry};

#[derive(Parser)]
#[command(
    name = "cofund",
    version,
    about = "Outcome funds server: registry, claims, the exact multi-payer split ledger, settlement and open data.",
    long_about = "Outcome funds server: registry, claims, the exact multi-payer split ledger, settlement and open data.\n\nConfiguration comes from environment variables: DATABASE_URL (postgres://… or a SQLite path; default ./data/cofund.db), COFUND_BIND, COFUND_METRICS_BIND, COFUND_ENV, COFUND_JWT_SECRET(_FILE), COFUND_JWT_PUBLIC_KEY_FILE, COFUND_JWT_ISSUER, COFUND_JWT_AUDIENCE, COFUND_PSEUDONYM_KEY(_FILE), COFUND_SMTP_URL, COFUND_MAIL_FROM, COFUND_OPEN_DATA_K, COFUND_OPEN_DATA_LICENCE, COFUND_OPEN_DATA_REFRESH_SECONDS, COFUND_LOG, COFUND_LOG_FORMAT."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (applies pending migrations first).
    Serve {
        /// Address to listen on (overrides COFUND_BIND; default 127.0.0.1:8080).
        #[arg(long)]
        bind: Option<String>,
        /// Load the demo data first if the database is empty, and print tokens to try it.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load the demo data into an empty database and exit.
    Demo,
    /// Print a signed bearer token for the configured HS256 secret.
    Token {
        #[arg(long, value_enum)]
        role: Role,
        /// Organisation the token acts for (required for every role but admin).
        #[arg(long)]
        org: Option<String>,
        /// Subject: who the token names (default: the role).
        #[arg(long)]
        sub: Option<String>,
        /// Lifetime such as 30m, 1h, 7d (default 1h).
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
    /// Members: add one (the first admin of a new installation is made this way), or list
    /// them.
    Member {
        #[command(subcommand)]
        action: MemberCommand,
    },
    /// Print the OpenAPI document (the one committed at openapi/openapi.json).
    Openapi,
    /// Check every ledger invariant over the whole database; exits 1 on any violation.
    Check,
    /// Rebuild the open-data tables from the ledger and cut an immutable release of them;
    /// prints its version and files.
    Release,
}

#[derive(Subcommand)]
enum MemberCommand {
    /// Add a member, active at once (no invitation): an admin with `--role admin` and no
    /// `--org`, or a member of an organisation.
    Add {
        #[arg(long, value_enum)]
        role: Role,
        /// The organisation (required for every role but admin).
        #[arg(long)]
        org: Option<String>,
        /// The address their identity provider gives them at sign-in.
        #[arg(long)]
        email: String,
        /// How pages and histories name them.
        #[arg(long)]
        name: String,
        /// They manage their organisation's members.
        #[arg(long)]
        administers: bool,
    },
    /// List every member: id, organisation, role, status and name (emails are not printed).
    List,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    if let Command::Openapi = cli.command {
        print!("{}", api::openapi::document());
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("cofund: the configuration is not valid:");
            for e in errors {
                eprintln!("  - {e}");
            }
            return ExitCode::from(2);
        }
    };
    match run(cli.command, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cofund: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, config: Config) -> Result<(), String> {
    match command {
        Command::Openapi => unreachable!("handled before configuration is read"),
        Command::Token {
            role,
            org,
            sub,
            ttl,
        } => token(&config, role, org, sub, &ttl),
        Command::Migrate => migrate(&config),
        Command::Check => check(&config),
        Command::Demo => {
            let pool = db::connect(&config.database, 1)?;
            load_demo(&pool, &config)
        }
        Command::Release => release(&config),
        Command::Member { action } => member(&config, action),
        Command::Serve { bind, demo } => serve(config, bind, demo),
    }
}

/// `cofund token`: a token for `role` in `org`, for `sub` (the role's name by default).
fn token(
    config: &Config,
    role: Role,
    org: Option<String>,
    sub: Option<String>,
    ttl: &str,
) -> Result<(), String> {
    let ttl = parse_ttl(ttl)?;
    if let Some(org) = &org {
        organisation_must_exist(config, org)?;
    }
    let authenticator = Authenticator::new(config.jwt.clone());
    let subject = sub.unwrap_or_else(|| role.as_str().to_owned());
    println!(
        "{}",
        authenticator.mint(&subject, role, org.as_deref(), ttl)?
    );
    Ok(())
}

/// `cofund member add|list`.
fn member(config: &Config, action: MemberCommand) -> Result<(), String> {
    use cofund::domain::ids::OrganisationId;
    use cofund::domain::members::NewMember;
    use cofund::services::members;
    let pool = db::connect(&config.database, 1)?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    db::run_migrations(&mut conn)?;
    match action {
        MemberCommand::Add {
            role,
            org,
            email,
            name,
            administers,
        } => {
            let input = NewMember {
                display_name: name,
                email,
                role,
                administers,
            };
            let org = org.map(OrganisationId::from);
            let member =
                members::add_member_by_operator(&mut conn, org.as_ref(), input, config.clock.now())
                    .map_err(|e| match e {
                        cofund::services::error::ServiceError::Invalid(errors) => errors
                            .iter()
                            .map(|e| format!("--{}: {}", e.field.replace('_', "-"), e.detail))
                            .collect::<Vec<_>>()
                            .join("; "),
                        other => other.to_string(),
                    })?;
            println!("{}", member.id);
            let org_flag = member
                .organisation_id
                .map(|org| format!(" --org {org}"))
                .unwrap_or_default();
            eprintln!(
                "added {} as {}{}; until sign-in is configured, a token for them: cofund token --role {}{} --sub {}",
                member.display_name, member.role, org_flag, member.role, org_flag, member.id
            );
            Ok(())
        }
        MemberCommand::List => {
            for m in members::all_members(&mut conn).map_err(|e| e.to_string())? {
                println!(
                    "{}\t{}\t{}\t{}{}\t{}",
                    m.id,
                    m.organisation_id.as_deref().unwrap_or("-"),
                    m.role,
                    m.status,
                    if m.administers { " (administers)" } else { "" },
                    m.display_name
                );
            }
            Ok(())
        }
    }
}

/// `cofund migrate`: the database's schema brought up to date.
fn migrate(config: &Config) -> Result<(), String> {
    let pool = db::connect(&config.database, 1)?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let applied = db::run_migrations(&mut conn)?;
    println!(
        "{}: migrations up to date ({applied} applied now)",
        config.database.redacted()
    );
    Ok(())
}

/// `cofund check`: every invariant of the ledger, and the open data against it.
fn check(config: &Config) -> Result<(), String> {
    let pool = db::connect(&config.database, 1)?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let bar = steps_bar(cofund::services::check::CHECK_STEPS + 1);
    let mut report =
        cofund::services::check::run_with_progress(&mut conn, config.clock.today(), &|step| {
            bar.step(step)
        })
        .map_err(|e| e.to_string())?;
    bar.step("the open data, against the ledger");
    let open_data = cofund::services::open_data::build::check(
        &mut conn,
        config.open_data.rules(),
        config.clock.now(),
    )
    .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    println!(
        "checked {} ledger entries, {} allocations, {} claims, {} payers",
        report.entries, report.allocations, report.claims, report.payers
    );
    if open_data.violations.is_empty() {
        println!(
            "audited the open data of {} published projects against the ledger (k = {})",
            open_data.projects, config.open_data.k
        );
    }
    if !open_data.stale_tables.is_empty() {
        println!(
            "note: the stored {} are from an earlier rebuild; the next rebuild publishes what was audited now",
            open_data.stale_tables.join(", ")
        );
    }
    report.violations.extend(
        open_data
            .violations
            .into_iter()
            .map(|v| format!("open data: {v}")),
    );
    if report.violations.is_empty() {
        println!("ok: every invariant holds");
        Ok(())
    } else {
        for v in &report.violations {
            println!("VIOLATION: {v}");
        }
        let count = report.violations.len();
        let noun = if count == 1 {
            "violation"
        } else {
            "violations"
        };
        Err(format!("{count} invariant {noun}"))
    }
}

/// `cofund release`: a new versioned release of the open data.
fn release(config: &Config) -> Result<(), String> {
    let pool = db::connect(&config.database, 1)?;
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let now = config.clock.now();
    let release = cofund::services::open_data::release::cut_with_progress;
    let bar = steps_bar(cofund::services::open_data::release::cut_steps());
    let step = |what: &str| bar.step(what);
    let manifest = release(&mut conn, &config.open_data, now, "cofund release", &step)
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    eprintln!(
        "cofund: release {} cut: {} rows in {} tables, licence {}",
        manifest.version,
        manifest.rows.values().sum::<usize>(),
        manifest.rows.len(),
        manifest.licence
    );
    for file in &manifest.files {
        eprintln!(
            "  {:>10} bytes  sha256 {}  {}",
            file.bytes, file.sha256, file.name
        );
    }
    println!("{}", manifest.version);
    Ok(())
}

/// `cofund serve`: the API (with the demo data loaded first, if asked for).
fn serve(mut config: Config, bind: Option<String>, demo: bool) -> Result<(), String> {
    if let Some(bind) = bind {
        config.bind = bind;
    }
    // The server is built inside the runtime that will run it.
    actix_web::rt::System::new().block_on(async {
        let app = Application::build(&config)?;
        if demo {
            load_demo(&app.pool(), &config)?;
        }
        tracing::info!(bind = %config.bind, database = %config.database.redacted(), "cofund is serving; API docs at /docs");
        eprintln!(
            "cofund: serving on http://{} (API docs at http://{}/docs)",
            config.bind, config.bind
        );
        match config.environment {
            cofund::config::Environment::Development => eprintln!(
                "cofund: development: sign in as any member at http://{}/sign-in",
                config.bind
            ),
            cofund::config::Environment::Production => tracing::warn!(
                "people sign in through OpenID Connect, which this version does not yet offer: \
                 until it does, only tokens and API keys reach the API, and /sign-in says so"
            ),
        }
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}

/// A token for an organisation the database does not hold would be refused by the server:
/// it is refused here, with the way to find the right id.
fn organisation_must_exist(config: &Config, id: &str) -> Result<(), String> {
    let mut conn = db::connect_existing(&config.database)?;
    match db::queries::organisations::get_organisation(&mut conn, id).map_err(|e| e.to_string())? {
        Some(_) => Ok(()),
        None => Err(format!(
            "no organisation {id} in {}; list them with an admin token \
             (cofund token --role admin) and GET /v1/organisations",
            config.database.redacted()
        )),
    }
}

fn load_demo(pool: &db::Pool, config: &Config) -> Result<(), String> {
    let mut conn = pool.get().map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let bar = steps_bar(demo::LOAD_STEPS);
    let loaded =
        demo::load_with_progress(&mut conn, &config.pseudonym_key, config.clock.now(), &|s| {
            bar.step(s)
        });
    bar.finish_and_clear();
    match loaded? {
        Some(summary) => {
            let h = &summary.history;
            eprintln!(
                "cofund: demo data loaded in {:.1} s: {} organisations, {} funds, {} projects; \
                 {} claims ({} verified, {} rejected, {} revoked), {} documents, {} payments",
                started.elapsed().as_secs_f64(),
                summary.organisations,
                summary.funds,
                summary.projects,
                h.claims,
                h.verified,
                h.rejected,
                h.revoked,
                h.documents,
                h.payments
            );
            // Published at once, not at the first scheduled rebuild.
            let report = cofund::services::open_data::build::rebuild(
                &mut conn,
                config.open_data.rules(),
                config.clock.now(),
            )
            .map_err(|e| format!("the demo's open data could not be built: {e}"))?;
            eprintln!(
                "cofund: open data built: {} projects published, {} cells withheld",
                report.projects, report.suppressed_cells
            );
        }
        None => eprintln!("cofund: the database already holds data; demo data not loaded"),
    }
    let authenticator = Authenticator::new(config.jwt.clone());
    if let Ok(token) =
        authenticator.mint("demo-admin", Role::Admin, None, chrono::Duration::hours(12))
    {
        // The token alone on its own line of standard output, where a script or a reader
        // finds it; what it is, on standard error.
        eprintln!("cofund: an admin token for the next 12 hours (see README for others):");
        println!("{token}");
    }
    Ok(())
}

fn parse_ttl(raw: &str) -> Result<chrono::Duration, String> {
    let bad = || format!("--ttl '{raw}' must be a number followed by s, m, h or d (e.g. 1h)");
    let unit_at = raw.char_indices().last().map_or(0, |(i, _)| i);
    let (number, unit) = raw.split_at(unit_at);
    let n: i64 = number.parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(bad());
    }
    match unit {
        "s" => Ok(chrono::Duration::seconds(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "d" => Ok(chrono::Duration::days(n)),
        _ => Err(bad()),
    }
}

/// A bar of `steps` steps on standard error for a long command, drawn only at a terminal (a
/// log or a pipe gets none).
struct StepsBar(indicatif::ProgressBar);

fn steps_bar(steps: u64) -> StepsBar {
    let bar = indicatif::ProgressBar::new(steps);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} [{bar:30}] {pos}/{len} {msg} ({elapsed})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    StepsBar(bar)
}

impl StepsBar {
    /// Starts the next step, named.
    fn step(&self, name: &str) {
        self.0.set_message(name.to_owned());
        self.0.inc(1);
    }

    fn finish_and_clear(&self) {
        self.0.finish_and_clear();
    }
}
