//! Migrations keep what is already stored: a ledger written in an earlier layout comes out of
//! the upgrade whole, and `cofund check` finds every invariant still holding; reverting gives
//! the earlier layout back.

use cofund::db::{self, DatabaseUrl, DbConn};
use diesel::connection::SimpleConnection;
use diesel::migration::{MigrationConnection, MigrationSource};
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::MigrationHarness;

use crate::helpers::fresh_database;

/// The first `count` migrations only, on a concrete connection.
fn migrate_first(conn: &mut DbConn, count: usize) {
    macro_rules! run_first {
        ($c:expr, $source:expr, $backend:ty) => {{
            $c.setup().unwrap();
            let mut migrations = MigrationSource::<$backend>::migrations(&$source).unwrap();
            migrations.sort_by_key(|m| m.name().version().to_string());
            for migration in migrations.iter().take(count) {
                $c.run_migration(migration.as_ref()).unwrap();
            }
        }};
    }
    match conn {
        DbConn::Pg(c) => run_first!(c, db::POSTGRES_MIGRATIONS, diesel::pg::Pg),
        DbConn::Sqlite(c) => run_first!(c, db::SQLITE_MIGRATIONS, diesel::sqlite::Sqlite),
    }
}

/// Migrations after the lean ledger (the third): the payers' own funds, settlement, open data,
/// frozen open data, adjustments, registry corrections, the frozen blocks' parts, how
/// documents were settled, the open-data caps' states, agreement to commitments, jobs, the
/// allocations' lean index, members and API keys, sessions.
const MIGRATIONS_AFTER_THE_LEDGER: usize = 15;

fn revert_last(conn: &mut DbConn) {
    match conn {
        DbConn::Pg(c) => c.revert_last_migration(db::POSTGRES_MIGRATIONS).map(|_| ()),
        DbConn::Sqlite(c) => c.revert_last_migration(db::SQLITE_MIGRATIONS).map(|_| ()),
    }
    .unwrap();
}

/// A database migrated to the claims ledger (the second migration) and holding
/// [`LEDGER_BEFORE_THE_ENTRY_TABLE`]; the database goes when the first value is dropped.
fn ledger_before_the_entry_table() -> (crate::helpers::FreshDatabase, DbConn) {
    let fresh = fresh_database();
    let mut conn = establish(&fresh.url);
    migrate_first(&mut conn, 2);
    match &mut conn {
        DbConn::Pg(c) => c.batch_execute(LEDGER_BEFORE_THE_ENTRY_TABLE).unwrap(),
        DbConn::Sqlite(c) => c.batch_execute(LEDGER_BEFORE_THE_ENTRY_TABLE).unwrap(),
    }
    (fresh, conn)
}

fn establish(url: &DatabaseUrl) -> DbConn {
    match url {
        DatabaseUrl::Postgres(u) => DbConn::Pg(diesel::PgConnection::establish(u).unwrap()),
        DatabaseUrl::Sqlite(p) => DbConn::Sqlite(diesel::SqliteConnection::establish(p).unwrap()),
    }
}

/// A project of two payers as the claims-ledger migration (the second) stored it: separate
/// postings beside the allocations. A claim paid 1,000.00 with a shortfall, a claim verified
/// for nothing (it had no postings) and a claim paid and then revoked.
const LEDGER_BEFORE_THE_ENTRY_TABLE: &str = "
INSERT INTO organisations (id, name, kind, created_at) VALUES
  ('org_fund', 'Fund', 'central_fund', '2020-01-01 00:00:00'),
  ('org_council', 'Council', 'local_authority', '2020-01-01 00:00:00'),
  ('org_provider', 'Provider', 'provider', '2020-01-01 00:00:00');
INSERT INTO projects (id, name, provider_organisation_id, currency, service_start, service_end,
  cap_policy, settlement_route, settlement_frequency, published, created_at) VALUES
  ('prj_old', 'Old', 'org_provider', 'GBP', '2016-01-01', '2030-12-31', 'shortfall', 'direct',
   'quarterly', FALSE, '2020-01-01 00:00:00');
INSERT INTO project_payers (id, project_id, position, organisation_id, role, max_commitment_minor, lead) VALUES
  ('pyr_a', 'prj_old', 0, 'org_fund', 'central_top_up', 10000000, FALSE),
  ('pyr_b', 'prj_old', 1, 'org_council', 'local_commissioner', 10000000, FALSE);
INSERT INTO outcome_metrics (id, project_id, position, code, name, price_minor, unit, max_claims_per_participant) VALUES
  ('out_x', 'prj_old', 0, 'x', 'X', 100000, 'achievement', 1);
INSERT INTO claims (id, project_id, outcome_id, outcome_code, participant_pseudonym, achieved_on,
  period_start, quantity, status, submitted_by, submitted_by_organisation_id, submitted_at,
  decided_by, decided_at, gross_minor, payable_minor, paid_units, entry_id) VALUES
  ('clm_1', 'prj_old', 'out_x', 'x', 'p1', '2020-01-01', '2020-01-01', 1, 'verified', 'alice', 'org_provider',
   '2020-01-02 00:00:00', 'victor', '2020-01-03 00:00:00', 100000, 100000, 1, 'ent_1'),
  ('clm_2', 'prj_old', 'out_x', 'x', 'p2', '2020-01-01', '2020-01-01', 1, 'verified', 'alice', 'org_provider',
   '2020-01-02 00:00:00', 'victor', '2020-01-03 00:00:00', 100000, 0, 0, 'ent_2'),
  ('clm_3', 'prj_old', 'out_x', 'x', 'p3', '2020-01-01', '2020-01-01', 1, 'revoked', 'alice', 'org_provider',
   '2020-01-02 00:00:00', 'victor', '2020-01-03 00:00:00', 100000, 100000, 1, 'ent_3');
INSERT INTO allocations (id, entry_id, claim_id, project_id, payer_id, payer_organisation_id,
  amount_minor, shortfall_minor, achieved_on, posted_at, reverses_id) VALUES
  (1, 'ent_1', 'clm_1', 'prj_old', 'pyr_a', 'org_fund', 50000, 0, '2020-01-01', '2020-01-03 00:00:00', NULL),
  (2, 'ent_1', 'clm_1', 'prj_old', 'pyr_b', 'org_council', 30000, 20000, '2020-01-01', '2020-01-03 00:00:00', NULL),
  (3, 'ent_3', 'clm_3', 'prj_old', 'pyr_a', 'org_fund', 50000, 0, '2020-01-01', '2020-01-03 00:00:00', NULL),
  (4, 'ent_3', 'clm_3', 'prj_old', 'pyr_b', 'org_council', 50000, 0, '2020-01-01', '2020-01-03 00:00:00', NULL),
  (5, 'ent_3r', 'clm_3', 'prj_old', 'pyr_a', 'org_fund', -50000, 0, '2020-01-01', '2020-01-04 00:00:00', 3),
  (6, 'ent_3r', 'clm_3', 'prj_old', 'pyr_b', 'org_council', -50000, 0, '2020-01-01', '2020-01-04 00:00:00', 4);
INSERT INTO ledger_postings (entry_id, claim_id, project_id, account, amount_minor, posted_at, reverses_entry_id) VALUES
  ('ent_1', 'clm_1', 'prj_old', 'payer:pyr_a', 50000, '2020-01-03 00:00:00', NULL),
  ('ent_1', 'clm_1', 'prj_old', 'payer:pyr_b', 30000, '2020-01-03 00:00:00', NULL),
  ('ent_1', 'clm_1', 'prj_old', 'unfunded:pyr_b', 20000, '2020-01-03 00:00:00', NULL),
  ('ent_1', 'clm_1', 'prj_old', 'provider:prj_old', -100000, '2020-01-03 00:00:00', NULL),
  ('ent_3', 'clm_3', 'prj_old', 'payer:pyr_a', 50000, '2020-01-03 00:00:00', NULL),
  ('ent_3', 'clm_3', 'prj_old', 'payer:pyr_b', 50000, '2020-01-03 00:00:00', NULL),
  ('ent_3', 'clm_3', 'prj_old', 'provider:prj_old', -100000, '2020-01-03 00:00:00', NULL),
  ('ent_3r', 'clm_3', 'prj_old', 'payer:pyr_a', -50000, '2020-01-04 00:00:00', 'ent_3'),
  ('ent_3r', 'clm_3', 'prj_old', 'payer:pyr_b', -50000, '2020-01-04 00:00:00', 'ent_3'),
  ('ent_3r', 'clm_3', 'prj_old', 'provider:prj_old', 100000, '2020-01-04 00:00:00', 'ent_3');
INSERT INTO running_totals (project_id, name, value) VALUES
  ('prj_old', 'payer:pyr_a', 50000), ('prj_old', 'payer:pyr_b', 30000),
  ('prj_old', 'unfunded:pyr_b', 20000), ('prj_old', 'provider:prj_old', -100000),
  ('prj_old', 'units:x', 1);
";

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct EntryRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    claim_id: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    provider_amount_minor: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    reverses_entry_id: Option<String>,
}

#[test]
fn the_lean_ledger_migration_keeps_every_entry_and_line() {
    let (_fresh, mut conn) = ledger_before_the_entry_table();

    assert_eq!(
        db::run_migrations(&mut conn).unwrap(),
        MIGRATIONS_AFTER_THE_LEDGER,
        "the rest"
    );

    let entries: Vec<EntryRow> = diesel::sql_query(
        "SELECT id, claim_id, provider_amount_minor, reverses_entry_id FROM ledger_entries ORDER BY id",
    )
    .load(&mut conn)
    .unwrap();
    let entry = |id: &str, claim: &str, provider: i64, reverses: Option<&str>| EntryRow {
        id: id.into(),
        claim_id: claim.into(),
        provider_amount_minor: provider,
        reverses_entry_id: reverses.map(Into::into),
    };
    assert_eq!(
        entries,
        vec![
            entry("ent_1", "clm_1", -100_000, None),
            entry("ent_2", "clm_2", 0, None),
            entry("ent_3", "clm_3", -100_000, None),
            entry("ent_3r", "clm_3", 100_000, Some("ent_3")),
        ]
    );
    let allocations: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "CAST(COUNT(*) AS BIGINT) FROM allocations",
    ))
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(allocations, 6, "every allocation kept, with its id");
    assert!(
        diesel::sql_query("SELECT 1 FROM ledger_postings")
            .execute(&mut conn)
            .is_err(),
        "the postings table is gone"
    );

    let report = cofund::services::check::run(&mut conn, chrono::Utc::now().date_naive()).unwrap();
    assert_eq!(report.violations, Vec::<String>::new());
    assert_eq!((report.entries, report.allocations), (4, 6));

    // And back: the postings come back line for line (no line of zero), every entry balancing.
    for _ in 0..MIGRATIONS_AFTER_THE_LEDGER {
        revert_last(&mut conn);
    }
    #[derive(diesel::QueryableByName)]
    struct EntrySum {
        #[diesel(sql_type = diesel::sql_types::Text)]
        entry_id: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        lines: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        total: i64,
    }
    let sums: Vec<EntrySum> = diesel::sql_query(
        "SELECT entry_id, CAST(COUNT(*) AS BIGINT) AS lines, CAST(SUM(amount_minor) AS BIGINT) AS total \
         FROM ledger_postings GROUP BY entry_id ORDER BY entry_id",
    )
    .load(&mut conn)
    .unwrap();
    let sums: Vec<(&str, i64, i64)> = sums
        .iter()
        .map(|s| (s.entry_id.as_str(), s.lines, s.total))
        .collect();
    assert_eq!(
        sums,
        vec![("ent_1", 4, 0), ("ent_3", 3, 0), ("ent_3r", 3, 0)]
    );

    // Forward once more, to where the server runs.
    assert_eq!(
        db::run_migrations(&mut conn).unwrap(),
        MIGRATIONS_AFTER_THE_LEDGER
    );
    let report = cofund::services::check::run(&mut conn, chrono::Utc::now().date_naive()).unwrap();
    assert_eq!(report.violations, Vec::<String>::new());
}

/// A project in a fund, with its central top-up and a council, as the registry stored them
/// before payers named their own funds.
const PAYERS_BEFORE_THEIR_FUNDS: &str = "
INSERT INTO organisations (id, name, kind, created_at) VALUES
  ('org_fund', 'Fund', 'central_fund', '2020-01-01 00:00:00'),
  ('org_council', 'Council', 'local_authority', '2020-01-01 00:00:00'),
  ('org_provider', 'Provider', 'provider', '2020-01-01 00:00:00');
INSERT INTO funds (id, name, owner_organisation_id, currency, budget_minor, service_start, service_end, created_at) VALUES
  ('fund_old', 'Old fund', 'org_fund', 'GBP', 100000000, '2016-01-01', '2030-12-31', '2020-01-01 00:00:00');
INSERT INTO projects (id, name, fund_id, provider_organisation_id, currency, service_start, service_end,
  cap_policy, settlement_route, settlement_frequency, published, created_at) VALUES
  ('prj_old', 'Old', 'fund_old', 'org_provider', 'GBP', '2016-01-01', '2030-12-31', 'shortfall', 'direct',
   'quarterly', FALSE, '2020-01-01 00:00:00');
INSERT INTO project_payers (id, project_id, position, organisation_id, role, max_commitment_minor, lead) VALUES
  ('pyr_a', 'prj_old', 0, 'org_fund', 'central_top_up', 10000000, FALSE),
  ('pyr_b', 'prj_old', 1, 'org_council', 'local_commissioner', 10000000, TRUE);
";

#[test]
fn central_top_ups_stored_before_payer_funds_pay_from_their_projects_fund() {
    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct PayerFund {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        fund_id: Option<String>,
    }
    let fresh = fresh_database();
    let mut conn = establish(&fresh.url);
    migrate_first(&mut conn, 3);
    match &mut conn {
        DbConn::Pg(c) => c.batch_execute(PAYERS_BEFORE_THEIR_FUNDS).unwrap(),
        DbConn::Sqlite(c) => c.batch_execute(PAYERS_BEFORE_THEIR_FUNDS).unwrap(),
    }
    assert_eq!(
        db::run_migrations(&mut conn).unwrap(),
        MIGRATIONS_AFTER_THE_LEDGER - 1
    );
    let payers: Vec<PayerFund> =
        diesel::sql_query("SELECT id, fund_id FROM project_payers ORDER BY id")
            .load(&mut conn)
            .unwrap();
    let payer = |id: &str, fund: Option<&str>| PayerFund {
        id: id.into(),
        fund_id: fund.map(Into::into),
    };
    assert_eq!(
        payers,
        vec![payer("pyr_a", Some("fund_old")), payer("pyr_b", None)]
    );
    // Commitments made before agreement was asked for stand as made, and their history says so.
    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Commitment {
        #[diesel(sql_type = diesel::sql_types::Text)]
        payer_id: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        commitment: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        status: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        note: String,
    }
    let commitments: Vec<Commitment> = diesel::sql_query(
        "SELECT e.payer_id, p.commitment, e.status, e.note FROM commitment_events e \
         JOIN project_payers p ON p.id = e.payer_id ORDER BY e.payer_id",
    )
    .load(&mut conn)
    .unwrap();
    assert_eq!(commitments.len(), 2);
    for c in &commitments {
        assert_eq!(
            (c.commitment.as_str(), c.status.as_str()),
            ("accepted", "accepted")
        );
        assert!(
            c.note.contains("before a payer's agreement was asked for"),
            "{c:?}"
        );
    }
    // The fund's commitments are still counted: its top-up pays from it.
    assert_eq!(
        cofund::db::queries::funds::fund_committed_minor(&mut conn, &"fund_old".into()).unwrap(),
        cofund::domain::money::Minor(10_000_000)
    );
    // Back and forth again.
    revert_last(&mut conn);
    revert_last(&mut conn);
    revert_last(&mut conn);
    assert_eq!(db::run_migrations(&mut conn).unwrap(), 3);
    let report = cofund::services::check::run(&mut conn, chrono::Utc::now().date_naive()).unwrap();
    assert_eq!(report.violations, Vec::<String>::new());
}

#[test]
fn the_settlement_migration_gives_every_allocation_its_outcome_and_keeps_the_ledger_whole() {
    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct AllocationOutcome {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        outcome_code: String,
    }
    let (_fresh, mut conn) = ledger_before_the_entry_table();
    // To the layout just before settlement, then settlement (and open data after it).
    assert_eq!(
        db::run_migrations(&mut conn).unwrap(),
        MIGRATIONS_AFTER_THE_LEDGER
    );
    revert_last(&mut conn);
    revert_last(&mut conn);
    assert_eq!(db::run_migrations(&mut conn).unwrap(), 2);
    let outcomes: Vec<AllocationOutcome> =
        diesel::sql_query("SELECT id, outcome_code FROM allocations ORDER BY id")
            .load(&mut conn)
            .unwrap();
    assert_eq!(outcomes.len(), 6, "every allocation kept");
    assert!(
        outcomes.iter().all(|a| a.outcome_code == "x"),
        "{outcomes:?}"
    );
    // Still append-only after the conversion lifted its guard.
    assert!(
        diesel::sql_query("UPDATE allocations SET amount_minor = 0 WHERE id = 1")
            .execute(&mut conn)
            .is_err()
    );
    assert!(diesel::sql_query("DELETE FROM allocations WHERE id = 1")
        .execute(&mut conn)
        .is_err());
    let report = cofund::services::check::run(&mut conn, chrono::Utc::now().date_naive()).unwrap();
    assert_eq!(report.violations, Vec::<String>::new());
    assert_eq!((report.entries, report.allocations), (4, 6));
    // Back and forth again.
    revert_last(&mut conn);
    revert_last(&mut conn);
    assert_eq!(db::run_migrations(&mut conn).unwrap(), 2);
}

#[test]
fn the_open_data_migration_keeps_the_ledger_and_goes_back_and_forth() {
    let rebuild = |conn: &mut DbConn| {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0);
        let rules = cofund::domain::open_data::publish::Rules {
            k: 5,
            close_after_days: 92,
        };
        cofund::services::open_data::build::rebuild(conn, rules, at.unwrap()).unwrap()
    };
    let (_fresh, mut conn) = ledger_before_the_entry_table();
    assert_eq!(
        db::run_migrations(&mut conn).unwrap(),
        MIGRATIONS_AFTER_THE_LEDGER
    );
    let whole = |conn: &mut DbConn| {
        let report = cofund::services::check::run(conn, chrono::Utc::now().date_naive()).unwrap();
        assert_eq!(report.violations, Vec::<String>::new());
        assert_eq!((report.entries, report.allocations), (4, 6));
    };
    whole(&mut conn);
    // The published tables are built from the converted ledger, and empty before.
    let report = rebuild(&mut conn);
    assert_eq!(report.projects, 0, "the old project is not published");
    // The registry's corrections, the adjustments, the frozen open data, then the open data
    // itself, back and forth.
    for _ in 0..4 {
        revert_last(&mut conn);
    }
    assert_eq!(db::run_migrations(&mut conn).unwrap(), 4);
    whole(&mut conn);
    assert!(
        diesel::sql_query("UPDATE allocations SET amount_minor = 0 WHERE id = 1")
            .execute(&mut conn)
            .is_err(),
        "allocations stay append-only"
    );
    assert!(diesel::sql_query("UPDATE projects SET published = TRUE")
        .execute(&mut conn)
        .is_ok());
    let report = rebuild(&mut conn);
    assert_eq!(
        (report.projects, report.rows["payments_quarterly"] > 0),
        (1, true)
    );
}
