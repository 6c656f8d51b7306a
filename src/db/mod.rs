//! Storage: one diesel code path over SQLite (embedded default) and PostgreSQL (production).
//!
//! Everything above this module talks to [`DbConn`]; the only backend-specific SQL lives in
//! [`backend_specific`], named so that it is easy to find (and in [`ledger_sums`], the one read
//! of the whole allocations table that `cofund check` makes, which each database does its way).

pub mod bulk;
pub mod ledger_sums;
pub mod models;
pub mod queries;
pub mod schema;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConn = r2d2::PooledConnection<Manager>;

/// Which database a `DATABASE_URL` selects. Chosen from the URL's scheme alone: a PostgreSQL URL
/// that cannot be reached is an error, never a silent fall-back to a SQLite file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(String),
}

impl DatabaseUrl {
    pub fn parse(raw: Option<&str>) -> DatabaseUrl {
        match raw.map(str::trim).filter(|s| !s.is_empty()) {
            None => DatabaseUrl::Sqlite("./data/cofund.db".to_owned()),
            Some(url)
                if ["postgres://", "postgresql://"].iter().any(|scheme| {
                    url.get(..scheme.len())
                        .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
                }) =>
            {
                DatabaseUrl::Postgres(url.to_owned())
            }
            Some(url) => DatabaseUrl::Sqlite(
                url.strip_prefix("sqlite://")
                    .or_else(|| url.strip_prefix("sqlite:"))
                    .unwrap_or(url)
                    .to_owned(),
            ),
        }
    }

    /// A form safe to log: a PostgreSQL URL's password, in its user part or its query
    /// (`?password=…`), is masked, and only where there is one.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{path}"),
            DatabaseUrl::Postgres(url) => redacted_postgres_url(url),
        }
    }
}

fn redacted_postgres_url(raw: &str) -> String {
    const MASK: &str = "***";
    // As libpq reads it: the credentials run from the scheme to the last '@', and a password
    // follows the user's first ':'. Everything after the user is masked, whatever it holds.
    let (head, rest) = match (raw.find("://"), raw.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &raw[scheme_end + 3..at];
            let user = match credentials.split_once(':') {
                Some((user, _)) => format!("{user}:{MASK}"),
                None => credentials.to_owned(),
            };
            (format!("{}{user}@", &raw[..scheme_end + 3]), &raw[at + 1..])
        }
        _ => (String::new(), raw),
    };
    // And any password among the query's parameters.
    let rest = match rest.split_once('?') {
        Some((path, query)) => {
            let parameters: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.to_ascii_lowercase().contains("password") => {
                        format!("{name}={MASK}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", parameters.join("&"))
        }
        None => rest.to_owned(),
    };
    format!("{head}{rest}")
}

#[cfg(test)]
mod redaction_tests {
    use super::DatabaseUrl;

    fn redacted(url: &str) -> String {
        DatabaseUrl::Postgres(url.to_owned()).redacted()
    }

    #[test]
    fn a_postgres_password_is_masked_wherever_it_is_and_only_if_there_is_one() {
        assert_eq!(
            redacted("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
        assert_eq!(
            redacted("postgres://cofund:s3cret@db:5432/cofund"),
            "postgres://cofund:***@db:5432/cofund"
        );
        let query = redacted(
            "postgresql://db/cofund?user=cofund&password=s3cret&sslpassword=k3y&sslmode=require",
        );
        assert!(
            !query.contains("s3cret") && !query.contains("k3y"),
            "{query}"
        );
        assert!(query.contains("sslmode=require"), "{query}");
        // Passwords holding '/', '?', '#' or '@', which a URL parser would read otherwise.
        for url in [
            "postgres://cofund:/s3cret@db/cofund",
            "postgres://cofund:2024/s3cret@db/cofund",
            "postgres://cofund:?s3cret@db/cofund",
            "postgres://cofund:#s3cret@db/cofund",
            "postgres://cofund:s3@cret@db/cofund",
        ] {
            let shown = redacted(url);
            assert!(
                !shown.contains("s3cret") && !shown.contains("cret"),
                "{url} → {shown}"
            );
            assert!(shown.starts_with("postgres://cofund:***@"), "{shown}");
        }
    }
}

/// Each SQLite connection's page cache: 64 MiB.
const SQLITE_CACHE_PRAGMA: &str = "PRAGMA cache_size = -65536";
/// While a connection scans a whole table for a download: 2 MiB. A scan reads each page once,
/// so a large cache only fills with pages nobody reads again, and the process grows by it.
const SQLITE_SCAN_CACHE_PRAGMA: &str = "PRAGMA cache_size = -2048";

#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
    /// SQLite, in the server: WAL checkpoints are left to [`Checkpointer`].
    checkpointer: Option<Checkpointer>,
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let mut conn =
                    PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                conn.set_instrumentation(count_statements);
                Ok(DbConn::Pg(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn =
                    SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                conn.set_instrumentation(count_statements);
                // WAL lets readers run beside the one writer; busy_timeout makes a writer wait
                // for the lock instead of failing; NORMAL is durable in WAL mode at commit.
                // busy_timeout comes first so that the others wait for a lock too.
                for pragma in [
                    // A bulk verification can hold the write lock for several seconds; writers
                    // queue behind it rather than fail.
                    "PRAGMA busy_timeout = 60000",
                    "PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = NORMAL",
                    "PRAGMA foreign_keys = ON",
                    // The default 2 MB page cache makes a ledger of millions of rows read the
                    // same pages from the OS again and again.
                    SQLITE_CACHE_PRAGMA,
                    "PRAGMA temp_store = MEMORY",
                ] {
                    diesel::sql_query(pragma)
                        .execute(&mut conn)
                        .map_err(r2d2::Error::QueryError)?;
                }
                if self.checkpointer.is_some() {
                    diesel::sql_query("PRAGMA wal_autocheckpoint = 0")
                        .execute(&mut conn)
                        .map_err(r2d2::Error::QueryError)?;
                }
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

thread_local! {
    /// Statements started on this thread's pooled connections ([`count_statements`]).
    static STATEMENTS_ON_THREAD: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Every pooled connection counts the statements it starts, for the metric of statements per
/// request (the metrics read them through [`statements_of`]).
fn count_statements(event: diesel::connection::InstrumentationEvent<'_>) {
    if let diesel::connection::InstrumentationEvent::StartQuery { .. } = event {
        STATEMENTS_ON_THREAD.with(|n| n.set(n.get() + 1));
    }
}

/// Runs `work` (database work on the current thread) and returns how many statements it ran.
pub fn statements_of<T>(work: impl FnOnce() -> T) -> (T, u64) {
    let before = STATEMENTS_ON_THREAD.with(std::cell::Cell::get);
    let value = work();
    (
        value,
        STATEMENTS_ON_THREAD.with(std::cell::Cell::get) - before,
    )
}

/// One connection to a database that must exist already, for a command that only reads:
/// nothing is created, migrated or switched to WAL mode.
pub fn connect_existing(url: &DatabaseUrl) -> Result<DbConn, String> {
    match url {
        DatabaseUrl::Postgres(raw) => PgConnection::establish(raw)
            .map(DbConn::Pg)
            .map_err(|e| format!("cannot open the database {}: {e}", url.redacted())),
        DatabaseUrl::Sqlite(path) if !Path::new(path).is_file() => Err(format!(
            "there is no database at {path}: give the server's DATABASE_URL"
        )),
        DatabaseUrl::Sqlite(path) => SqliteConnection::establish(path)
            .map(DbConn::Sqlite)
            .map_err(|e| format!("cannot open the database {}: {e}", url.redacted())),
    }
}

/// Opens a pool and applies pending migrations: for one-shot commands (SQLite checkpoints its
/// write-ahead log itself).
pub fn connect(url: &DatabaseUrl, max_size: u32) -> Result<Pool, String> {
    open(url, max_size, None)
}

/// The server's pool. On SQLite, the write-ahead log is copied back into the database file by
/// a background thread rather than by whichever request's commit crosses SQLite's threshold:
/// after a bulk verification that copy costs a fifth of the request again.
pub fn connect_server(url: &DatabaseUrl, max_size: u32) -> Result<Pool, String> {
    let DatabaseUrl::Sqlite(path) = url else {
        return open(url, max_size, None);
    };
    let checkpointer = Checkpointer::default();
    let stop = checkpointer.stop.clone();
    let pool = open(url, max_size, Some(checkpointer))?;
    // Started once the pool has put the database in WAL mode and migrated it.
    Checkpointer::spawn(path, stop)?;
    Ok(pool)
}

fn open(
    url: &DatabaseUrl,
    max_size: u32,
    checkpointer: Option<Checkpointer>,
) -> Result<Pool, String> {
    if let DatabaseUrl::Sqlite(path) = url {
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create the database folder {}: {e}", dir.display()))?;
        }
        // Into WAL mode once, on one connection: the pool opens its first connections in
        // parallel, and on a new file they would race for the lock that the switch takes,
        // which SQLite may refuse without waiting. A new file gets 16 KiB pages (a database
        // keeps the page size it was made with): the bulk paths append to B-trees, and a
        // quarter as many pages to look up, log and checksum made them a tenth faster
        // (BENCHMARKS.md).
        let mut first = SqliteConnection::establish(path)
            .map_err(|e| format!("cannot open the database {}: {e}", url.redacted()))?;
        for pragma in [
            "PRAGMA busy_timeout = 60000",
            "PRAGMA page_size = 16384",
            "PRAGMA journal_mode = WAL",
        ] {
            diesel::sql_query(pragma)
                .execute(&mut first)
                .map_err(|e| format!("cannot open the database {}: {e}", url.redacted()))?;
        }
    }
    let pool = r2d2::Pool::builder()
        .max_size(max_size)
        .connection_timeout(Duration::from_secs(15))
        .build(Manager {
            url: url.clone(),
            checkpointer,
        })
        .map_err(|e| format!("cannot open the database {}: {e}", url.redacted()))?;
    let mut conn = pool
        .get()
        .map_err(|e| format!("cannot open the database {}: {e}", url.redacted()))?;
    run_migrations(&mut conn)?;
    Ok(pool)
}

/// A thread that checkpoints a SQLite database's write-ahead log every second, on a
/// connection of its own. PASSIVE checkpoints never block readers or writers; SQLite starts
/// the log afresh once a checkpoint has copied all of it. The thread ends within a second of
/// the pool that owns this being dropped.
#[derive(Debug, Default)]
struct Checkpointer {
    stop: Arc<AtomicBool>,
}

impl Checkpointer {
    const INTERVAL: Duration = Duration::from_secs(1);

    /// Starts the thread; it runs until `stop` is set.
    fn spawn(path: &str, stop: Arc<AtomicBool>) -> Result<(), String> {
        let mut conn = SqliteConnection::establish(path)
            .map_err(|e| format!("cannot open the database {path}: {e}"))?;
        diesel::sql_query("PRAGMA busy_timeout = 5000")
            .execute(&mut conn)
            .map_err(|e| format!("cannot open the database {path}: {e}"))?;
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Self::INTERVAL);
                    let checkpoint = diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)");
                    if let Err(e) = checkpoint.execute(&mut conn) {
                        tracing::warn!(error = %e, "WAL checkpoint failed; trying again in a second");
                    }
                }
            })
            .map_err(|e| format!("cannot start the WAL checkpoint thread: {e}"))?;
        Ok(())
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Applies every pending migration; returns how many were applied.
pub fn run_migrations(conn: &mut DbConn) -> Result<usize, String> {
    let applied = match conn {
        DbConn::Pg(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.len()),
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    applied.map_err(|e| format!("migration failed: {e}"))
}

/// Runs `f` in a write transaction.
///
/// On SQLite the transaction starts with `BEGIN IMMEDIATE`, so that it takes the write lock
/// before reading: a deferred transaction that reads and then writes fails with SQLITE_BUSY
/// under concurrent load instead of waiting its turn. And it first waits for
/// [`SQLITE_WRITER`]. PostgreSQL writers guard what they read with row locks (see
/// [`backend_specific::lock_row_for_update`]).
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    match conn {
        DbConn::Pg(_) => conn.transaction(f),
        DbConn::Sqlite(sqlite) => {
            // Held until the transaction has committed or rolled back (end of this arm).
            let _turn = SQLITE_WRITER.lock();
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
            match f(conn) {
                Ok(value) => {
                    <DbConn as TransactionManager<DbConn>>::commit_transaction(conn)?;
                    Ok(value)
                }
                Err(e) => {
                    <DbConn as TransactionManager<DbConn>>::rollback_transaction(conn)?;
                    Err(e)
                }
            }
        }
    }
}

/// SQLite lets one transaction write at a time. A writer that finds the database locked
/// sleeps in SQLite's busy handler, waking on a growing back-off, so that under load the
/// unlucky ones wait far longer than the queue is long (p99 756 ms at 8 connections). This
/// process's writers instead queue here, first come first served, and each is handed the lock
/// as the one before it finishes: a writer waits for the writers ahead of it and no longer.
/// One queue for the process: a server serves one database (tests that open several only
/// order their writes). The busy handler remains for writers of other processes (`cofund
/// release`, a second server on the same file). Never taken twice on one thread: write
/// transactions do not nest.
static SQLITE_WRITER: parking_lot::FairMutex<()> = parking_lot::const_fair_mutex(());

/// The few statements that differ between the backends.
pub mod backend_specific {
    use super::DbConn;
    use diesel::sql_types::Text;
    use diesel::RunQueryDsl;

    /// Locks one row until the transaction ends, so that a check of remaining headroom and the
    /// write that uses it cannot interleave with another writer's. On SQLite the whole database
    /// is already locked by `BEGIN IMMEDIATE`, so nothing more is needed.
    pub fn lock_row_for_update(
        conn: &mut DbConn,
        table: LockableTable,
        id: &str,
    ) -> diesel::QueryResult<()> {
        lock_row(conn, table, id, "FOR UPDATE")
    }

    /// Locks one row against writers that lock it for update, but not against each other,
    /// until the transaction ends (PostgreSQL's `FOR KEY SHARE`). Nothing on SQLite, as above.
    pub fn lock_row_for_key_share(
        conn: &mut DbConn,
        table: LockableTable,
        id: &str,
    ) -> diesel::QueryResult<()> {
        lock_row(conn, table, id, "FOR KEY SHARE")
    }

    fn lock_row(
        conn: &mut DbConn,
        table: LockableTable,
        id: &str,
        strength: &str,
    ) -> diesel::QueryResult<()> {
        match conn {
            DbConn::Pg(pg) => {
                let sql = format!("SELECT id FROM {} WHERE id = $1 {strength}", table.name());
                diesel::sql_query(sql)
                    .bind::<Text, _>(id)
                    .execute(pg)
                    .map(|_| ())
            }
            DbConn::Sqlite(_) => Ok(()),
        }
    }

    /// Takes a lock named by `key` until the transaction ends: writers naming the same key take
    /// turns (PostgreSQL's transaction-scoped advisory locks, keyed by a 64-bit hash of `key`;
    /// two keys with the same hash only wait for each other). Nothing on SQLite, as above.
    pub fn lock_name(conn: &mut DbConn, key: &str) -> diesel::QueryResult<()> {
        match conn {
            DbConn::Pg(pg) => {
                diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind::<Text, _>(key)
                    .execute(pg)
                    .map(|_| ())
            }
            DbConn::Sqlite(_) => Ok(()),
        }
    }

    /// Runs `scan`, a read of a whole table, with a small SQLite page cache on its
    /// connection (the usual one is put back after), so that a download of any size leaves
    /// the process's memory as it found it. PostgreSQL caches in its own server.
    pub fn with_scan_cache<T, E>(
        conn: &mut DbConn,
        scan: impl FnOnce(&mut DbConn) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<diesel::result::Error>,
    {
        if let DbConn::Pg(_) = conn {
            return scan(conn);
        }
        diesel::sql_query(super::SQLITE_SCAN_CACHE_PRAGMA).execute(conn)?;
        let result = scan(conn);
        diesel::sql_query(super::SQLITE_CACHE_PRAGMA).execute(conn)?;
        result
    }

    /// Refreshes the planner's statistics after a bulk load. PostgreSQL plans from statistics
    /// that autovacuum refreshes only now and then; a table that has just grown by tens of
    /// thousands of rows would otherwise be scanned where its index should be used. SQLite's
    /// planner does not depend on them.
    pub fn refresh_statistics(conn: &mut DbConn, tables: &[&str]) -> diesel::QueryResult<()> {
        if let DbConn::Pg(pg) = conn {
            for table in tables {
                diesel::sql_query(format!("ANALYZE {table}")).execute(pg)?;
            }
        }
        Ok(())
    }

    /// Reserves an idempotency key for this transaction: inserts `record` (its response not
    /// yet written) unless the key is taken, and says whether it was inserted. On PostgreSQL
    /// a concurrent request with the same key waits here, on the unique index, until the first
    /// commits (the key is then taken and its response can be read) or rolls back (the key is
    /// free again); it never proceeds to repeat the work. On SQLite the write lock of `BEGIN
    /// IMMEDIATE` already orders the two.
    pub fn reserve_idempotency_key(
        conn: &mut DbConn,
        record: &crate::db::models::IdempotencyRecord,
    ) -> diesel::QueryResult<bool> {
        use crate::db::schema::idempotency_keys;
        let inserted = match conn {
            DbConn::Pg(pg) => diesel::insert_into(idempotency_keys::table)
                .values(record)
                .on_conflict_do_nothing()
                .execute(pg)?,
            DbConn::Sqlite(sqlite) => diesel::insert_into(idempotency_keys::table)
                .values(record)
                .on_conflict_do_nothing()
                .execute(sqlite)?,
        };
        Ok(inserted == 1)
    }

    /// Makes sure the issuer has a numbering sequence for `year` (starting at nothing
    /// issued), leaving an existing one as it is. On PostgreSQL a concurrent first issue of
    /// the year waits here on the key until the other commits.
    pub fn ensure_document_sequence(
        conn: &mut DbConn,
        issuer_organisation_id: &crate::domain::ids::OrganisationId,
        year: i32,
    ) -> diesel::QueryResult<()> {
        use crate::db::schema::document_sequences as seq;
        use diesel::ExpressionMethods;
        let row = (
            seq::issuer_organisation_id.eq(issuer_organisation_id),
            seq::year.eq(year),
            seq::last_number.eq(0),
        );
        match conn {
            DbConn::Pg(pg) => diesel::insert_into(seq::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(pg)?,
            DbConn::Sqlite(sqlite) => diesel::insert_into(seq::table)
                .values(row)
                .on_conflict_do_nothing()
                .execute(sqlite)?,
        };
        Ok(())
    }

    /// An SQL expression for the calendar quarter (`2021-Q1`) of a timestamp column.
    pub fn quarter_label_sql(conn: &DbConn, column: &str) -> String {
        match conn {
            DbConn::Pg(_) => format!("(to_char({column}, 'YYYY') || '-Q' || to_char({column}, 'Q'))"),
            DbConn::Sqlite(_) => format!(
                "(strftime('%Y', {column}) || '-Q' || ((CAST(strftime('%m', {column}) AS INTEGER) + 2) / 3))"
            ),
        }
    }

    /// A text parameter compared with a timestamp (`timestamp`) or date column, as
    /// [`crate::db::totals::grouped`] binds every parameter as text: PostgreSQL casts it;
    /// SQLite stores both as ISO text, which compares in order as it is (a cast there would
    /// make a number of it).
    pub fn temporal_param(conn: &DbConn, timestamp: bool) -> &'static str {
        match (conn, timestamp) {
            (DbConn::Pg(_), true) => "CAST(? AS TIMESTAMP)",
            (DbConn::Pg(_), false) => "CAST(? AS DATE)",
            (DbConn::Sqlite(_), _) => "?",
        }
    }

    /// Up to `limit` outbox messages due at `now`, oldest first, locked for this transaction.
    /// On PostgreSQL, `SKIP LOCKED` lets several workers take different messages at once; on
    /// SQLite the write lock of `BEGIN IMMEDIATE` already makes them take turns.
    pub fn due_outbox_messages(
        conn: &mut DbConn,
        now: chrono::NaiveDateTime,
        limit: i64,
    ) -> diesel::QueryResult<Vec<crate::db::models::DueMessage>> {
        use crate::db::models::DueMessage;
        use crate::db::schema::outbox;
        use diesel::prelude::*;
        match conn {
            DbConn::Pg(pg) => outbox::table
                .filter(outbox::status.eq(crate::domain::outbox::OutboxStatus::Queued))
                .filter(outbox::next_attempt_at.le(now))
                .order((outbox::next_attempt_at.asc(), outbox::id.asc()))
                .limit(limit)
                .for_update()
                .skip_locked()
                .select(DueMessage::as_select())
                .load(pg),
            DbConn::Sqlite(sqlite) => outbox::table
                .filter(outbox::status.eq(crate::domain::outbox::OutboxStatus::Queued))
                .filter(outbox::next_attempt_at.le(now))
                .order((outbox::next_attempt_at.asc(), outbox::id.asc()))
                .limit(limit)
                .select(DueMessage::as_select())
                .load(sqlite),
        }
    }

    /// One verified claim's decision, for [`mark_claims_verified`].
    #[derive(serde::Serialize)]
    pub struct VerifiedClaim<'a> {
        pub id: &'a crate::domain::ids::ClaimId,
        pub gross_minor: crate::domain::money::Minor,
        pub payable_minor: crate::domain::money::Minor,
        pub paid_units: i32,
        pub entry_id: &'a crate::domain::ids::EntryId,
    }

    /// Marks many claims verified with few statements instead of one round trip per claim:
    /// on PostgreSQL one `UPDATE … FROM unnest(…)` with a column of values per array
    /// parameter; on SQLite, which has no arrays, one `UPDATE … FROM json_each(?)` over them as
    /// one JSON parameter (see [`super::bulk`]).
    pub fn mark_claims_verified(
        conn: &mut DbConn,
        decided_by: &str,
        decided_at: chrono::NaiveDateTime,
        claims: &[VerifiedClaim],
    ) -> diesel::QueryResult<usize> {
        use diesel::sql_types::{Array, BigInt, Integer, Timestamp};
        let sqlite = match conn {
            DbConn::Pg(pg) => {
                return diesel::sql_query(
                    "UPDATE claims SET status = 'verified', decided_by = $1, decided_at = $2, \
                     gross_minor = v.gross, payable_minor = v.payable, paid_units = v.units, entry_id = v.entry \
                     FROM unnest($3::TEXT[], $4::BIGINT[], $5::BIGINT[], $6::INTEGER[], $7::TEXT[]) \
                     AS v(id, gross, payable, units, entry) WHERE claims.id = v.id",
                )
                .bind::<Text, _>(decided_by)
                .bind::<Timestamp, _>(decided_at)
                .bind::<Array<Text>, _>(claims.iter().map(|c| c.id).collect::<Vec<_>>())
                .bind::<Array<BigInt>, _>(claims.iter().map(|c| c.gross_minor.get()).collect::<Vec<_>>())
                .bind::<Array<BigInt>, _>(claims.iter().map(|c| c.payable_minor.get()).collect::<Vec<_>>())
                .bind::<Array<Integer>, _>(claims.iter().map(|c| c.paid_units).collect::<Vec<_>>())
                .bind::<Array<Text>, _>(claims.iter().map(|c| c.entry_id).collect::<Vec<_>>())
                .execute(pg);
            }
            DbConn::Sqlite(sqlite) => sqlite,
        };
        let json = super::bulk::json_array(claims)?;
        // Each row's object is materialised once: named directly, json_each would render it
        // again for every field read from it.
        diesel::sql_query(
            "WITH v(row) AS MATERIALIZED (SELECT value FROM json_each(?3)) \
             UPDATE claims SET status = 'verified', decided_by = ?1, decided_at = ?2, \
             gross_minor = v.row ->> 'gross_minor', payable_minor = v.row ->> 'payable_minor', \
             paid_units = v.row ->> 'paid_units', entry_id = v.row ->> 'entry_id' \
             FROM v WHERE claims.id = v.row ->> 'id'",
        )
        .bind::<Text, _>(decided_by)
        .bind::<Timestamp, _>(decided_at)
        .bind::<Text, _>(json)
        .execute(sqlite)
    }

    #[derive(Debug, Clone, Copy)]
    pub enum LockableTable {
        Organisations,
        Funds,
        Projects,
        SettlementDocuments,
        PublishedTables,
        Members,
    }

    impl LockableTable {
        fn name(self) -> &'static str {
            match self {
                LockableTable::Organisations => "organisations",
                LockableTable::Members => "members",
                LockableTable::Funds => "funds",
                LockableTable::Projects => "projects",
                LockableTable::SettlementDocuments => "settlement_documents",
                LockableTable::PublishedTables => "published_tables",
            }
        }
    }
}

/// Grouped sums that both backends return as BIGINT (`SUM` of a BIGINT is NUMERIC on
/// PostgreSQL, which the multi-backend connection cannot load, so every sum is cast).
pub mod totals {
    use std::collections::HashMap;

    use diesel::sql_types::{BigInt, Text};

    use super::dynamic::{self, Param};
    use super::DbConn;

    #[derive(diesel::QueryableByName)]
    struct KeyTotal {
        #[diesel(sql_type = Text)]
        key: String,
        #[diesel(sql_type = BigInt)]
        total: i64,
    }

    /// Runs `sql`, which selects `key` (text) and `total` (BIGINT) and uses `?` for its text
    /// parameters, binding `params` in order.
    pub fn grouped(
        conn: &mut DbConn,
        sql: &str,
        params: &[&str],
    ) -> diesel::QueryResult<HashMap<String, i64>> {
        let params: Vec<Param> = params.iter().map(|p| Param::text(p)).collect();
        let rows: Vec<KeyTotal> = dynamic::load(conn, sql, &params)?;
        Ok(rows.into_iter().map(|r| (r.key, r.total)).collect())
    }
}

/// SQL whose text or parameters are only known at run time (the open-data filters, batched
/// inserts of a table chosen at run time): `?` placeholders, numbered for PostgreSQL, and
/// parameters of the two types such SQL needs.
pub mod dynamic {
    use diesel::deserialize::QueryableByName;
    use diesel::pg::Pg;
    use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
    use diesel::sql_types::{BigInt, Nullable, Text};
    use diesel::sqlite::Sqlite;
    use diesel::RunQueryDsl;

    use super::DbConn;

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Param {
        Text(Option<String>),
        BigInt(Option<i64>),
    }

    impl Param {
        pub fn text(text: &str) -> Param {
            Param::Text(Some(text.to_owned()))
        }
    }

    fn numbered(sql: &str) -> String {
        let mut out = String::with_capacity(sql.len() + 16);
        let mut n = 0;
        for ch in sql.chars() {
            if ch == '?' {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            } else {
                out.push(ch);
            }
        }
        out
    }

    fn bind_all<'f, DB>(
        mut query: BoxedSqlQuery<'f, DB, SqlQuery>,
        params: &[Param],
    ) -> BoxedSqlQuery<'f, DB, SqlQuery>
    where
        DB: diesel::backend::Backend
            + diesel::sql_types::HasSqlType<Nullable<Text>>
            + diesel::sql_types::HasSqlType<Nullable<BigInt>>,
        Option<String>: diesel::serialize::ToSql<Nullable<Text>, DB>,
        Option<i64>: diesel::serialize::ToSql<Nullable<BigInt>, DB>,
    {
        for p in params {
            query = match p.clone() {
                Param::Text(t) => query.bind::<Nullable<Text>, _>(t),
                Param::BigInt(n) => query.bind::<Nullable<BigInt>, _>(n),
            };
        }
        query
    }

    /// Loads the rows `sql` selects, `params` bound to its `?` in order.
    pub fn load<T>(conn: &mut DbConn, sql: &str, params: &[Param]) -> diesel::QueryResult<Vec<T>>
    where
        T: QueryableByName<Pg> + QueryableByName<Sqlite> + 'static,
    {
        match conn {
            DbConn::Pg(pg) => {
                bind_all(diesel::sql_query(numbered(sql)).into_boxed::<Pg>(), params).load(pg)
            }
            DbConn::Sqlite(sqlite) => {
                bind_all(diesel::sql_query(sql).into_boxed::<Sqlite>(), params).load(sqlite)
            }
        }
    }

    /// Runs `sql`, `params` bound to its `?` in order; returns the rows it changed.
    pub fn execute(conn: &mut DbConn, sql: &str, params: &[Param]) -> diesel::QueryResult<usize> {
        match conn {
            DbConn::Pg(pg) => {
                bind_all(diesel::sql_query(numbered(sql)).into_boxed::<Pg>(), params).execute(pg)
            }
            DbConn::Sqlite(sqlite) => {
                bind_all(diesel::sql_query(sql).into_boxed::<Sqlite>(), params).execute(sqlite)
            }
        }
    }
}
