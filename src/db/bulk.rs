//! Bulk work in a constant number of statements, however many rows it carries: verifying a
//! quarter-end upload of 50,000 claims costs the statements and round trips one of 50 does
//! (a test holds it). Only the work per statement grows with the rows.
//!
//! - Inserts ([`insert_all`]): every row in one COPY on PostgreSQL; on SQLite one
//!   `INSERT … SELECT` over the rows passed as a single JSON array and read with `json_each`,
//!   so that neither the statements nor the bound parameters (SQLite allows 32,766 in one
//!   statement) grow with the rows.
//! - Look-ups by many keys ([`load_where_in`]): `= ANY($1)` with one array parameter on
//!   PostgreSQL, `IN (SELECT value FROM json_each(?))` with one JSON parameter on SQLite.
//!
//! On SQLite a value is stored as the JSON gives it: text, integer, NULL. Dates serialise as
//! diesel stores them (`YYYY-MM-DD`); timestamps must be serialised with [`timestamp`] or
//! [`optional_timestamp`], diesel's `YYYY-MM-DD HH:MM:SS.f`, or they would not compare with
//! the rows diesel wrote. A test compares rows stored both ways.

use chrono::NaiveDateTime;
use diesel::result::Error as DieselError;
use diesel::sql_types::Text;
use diesel::{RunQueryDsl, SqliteConnection};
use serde::{Serialize, Serializer};

/// diesel's text form of a timestamp on SQLite.
const SQLITE_TIMESTAMP: &str = "%F %T%.f";

/// Serialises a timestamp as diesel stores it on SQLite.
pub fn timestamp<S: Serializer>(at: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&at.format(SQLITE_TIMESTAMP))
}

/// [`timestamp`] for an optional one.
pub fn optional_timestamp<S: Serializer>(
    at: &Option<NaiveDateTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => timestamp(at, s),
        None => s.serialize_none(),
    }
}

/// Inserts `rows` into the SQLite table `table` in one statement. The rows serialise as JSON
/// objects whose keys are the table's column names (the insertable struct's fields).
pub fn sqlite_insert<T: Serialize>(
    conn: &mut SqliteConnection,
    table: &str,
    rows: &[T],
) -> Result<usize, DieselError> {
    let Some(first) = rows.first() else {
        return Ok(0);
    };
    let columns = match serde_json::to_value(first).map_err(serialisation)? {
        serde_json::Value::Object(fields) => fields.keys().cloned().collect::<Vec<_>>(),
        _ => unreachable!("a row serialises as an object"),
    };
    let values: Vec<String> = columns.iter().map(|c| format!("value ->> '{c}'")).collect();
    // json_each reads the array in order, so rows are numbered in the order given.
    let sql = format!(
        "INSERT INTO {table} ({}) SELECT {} FROM json_each(?)",
        columns.join(", "),
        values.join(", ")
    );
    let json = serde_json::to_string(rows).map_err(serialisation)?;
    diesel::sql_query(sql).bind::<Text, _>(json).execute(conn)
}

/// The keys as one JSON array, for `IN (SELECT value FROM json_each(?))` on SQLite.
pub fn json_keys<K: Serialize>(keys: &[K]) -> Result<String, DieselError> {
    serde_json::to_string(keys).map_err(serialisation)
}

fn serialisation(e: serde_json::Error) -> DieselError {
    DieselError::SerializationError(Box::new(e))
}

/// Inserts every row in one statement (see the module). `$table` names a table of
/// [`crate::db::schema`] in scope; its rows must serialise as [`sqlite_insert`] asks.
macro_rules! insert_all {
    ($conn:expr, $table:ident, $rows:expr) => {{
        let rows = $rows;
        match &mut *$conn {
            _ if rows.is_empty() => Ok::<usize, diesel::result::Error>(0),
            $crate::db::DbConn::Pg(c) => {
                use diesel::ExecuteCopyFromDsl;
                diesel::copy_from($table::table)
                    .from_insertable(rows)
                    .execute(c)
            }
            $crate::db::DbConn::Sqlite(c) => {
                $crate::db::bulk::sqlite_insert(c, stringify!($table), rows)
            }
        }
    }};
}
pub(crate) use insert_all;

/// Loads `$query` filtered to rows whose `$column` (named `$column_name` in SQL) is one of
/// `$keys`, in one statement (see the module).
macro_rules! load_where_in {
    ($conn:expr, $query:expr, $column:expr, $column_name:literal, $keys:expr) => {{
        let keys = $keys;
        match &mut *$conn {
            $crate::db::DbConn::Pg(c) => $query.filter($column.eq_any(keys)).load(c),
            $crate::db::DbConn::Sqlite(c) => {
                let json = $crate::db::bulk::json_keys(keys)?;
                $query
                    .filter(
                        diesel::dsl::sql::<diesel::sql_types::Bool>(concat!(
                            $column_name,
                            " IN (SELECT value FROM json_each("
                        ))
                        .bind::<diesel::sql_types::Text, _>(json)
                        .sql("))"),
                    )
                    .load(c)
            }
        }
    }};
}
pub(crate) use load_where_in;

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};
    use diesel_migrations::MigrationHarness;

    use super::sqlite_insert;
    use crate::db::models::{Claim, LedgerEntry};
    use crate::db::schema::{claims, ledger_entries};

    #[derive(QueryableByName, Debug, PartialEq)]
    struct Stored {
        #[diesel(sql_type = diesel::sql_types::Text)]
        row: String,
    }

    /// Every column of `table`'s rows with its SQLite type and value, one text per row, by id.
    fn stored(conn: &mut SqliteConnection, table: &str, columns: &[&str]) -> Vec<String> {
        let values: Vec<String> = columns
            .iter()
            .map(|c| format!("typeof({c}) || ':' || quote({c})"))
            .collect();
        let sql = format!(
            "SELECT {} AS row FROM {table} ORDER BY id",
            values.join(" || ' ' || ")
        );
        diesel::sql_query(sql)
            .load::<Stored>(conn)
            .unwrap()
            .into_iter()
            .map(|s| s.row)
            .collect()
    }

    fn claim(id: &str, decided: bool) -> Claim {
        let at = NaiveDate::from_ymd_opt(2026, 3, 31)
            .unwrap()
            .and_hms_micro_opt(23, 59, 58, 123_456)
            .unwrap();
        Claim {
            id: id.into(),
            project_id: "prj_1".into(),
            outcome_id: "out_1".into(),
            outcome_code: "emp_13w".into(),
            participant_pseudonym: "ab'c\"d\\e".into(),
            achieved_on: NaiveDate::from_ymd_opt(2026, 1, 2).unwrap(),
            period_start: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            quantity: 3,
            evidence_ref: decided.then(|| "Ünïcode — evidence".into()),
            home_area: None,
            age_at_start: Some(17),
            referred_on: None,
            upload_id: None,
            status: "verified".into(),
            submitted_by: "someone".into(),
            submitted_by_organisation_id: "org_1".into(),
            submitted_at: at,
            decided_by: decided.then(|| "validator".into()),
            decided_at: decided.then_some(at),
            rejection_reason: None,
            revoked_by: None,
            revoked_at: None,
            revocation_reason: None,
            gross_minor: Some(i64::MAX),
            payable_minor: Some(-1),
            paid_units: Some(0),
            entry_id: None,
        }
    }

    /// A row inserted through the JSON path is stored as diesel stores it: the same type and
    /// text for every column, timestamps and dates, NULLs, quotes, Unicode and extreme integers.
    #[test]
    fn rows_inserted_in_one_statement_are_stored_as_diesel_stores_them() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        conn.batch_execute("PRAGMA foreign_keys = OFF").unwrap();
        conn.run_pending_migrations(crate::db::SQLITE_MIGRATIONS)
            .unwrap();
        for (n, decided) in [false, true].into_iter().enumerate() {
            let by_diesel = claim(&format!("clm_{n}_a"), decided);
            let by_json = claim(&format!("clm_{n}_b"), decided);
            diesel::insert_into(claims::table)
                .values(&by_diesel)
                .execute(&mut conn)
                .unwrap();
            assert_eq!(sqlite_insert(&mut conn, "claims", &[by_json]).unwrap(), 1);
            let columns = [
                "project_id",
                "outcome_id",
                "outcome_code",
                "participant_pseudonym",
                "achieved_on",
                "period_start",
                "quantity",
                "evidence_ref",
                "home_area",
                "age_at_start",
                "referred_on",
                "upload_id",
                "status",
                "submitted_by",
                "submitted_by_organisation_id",
                "submitted_at",
                "decided_by",
                "decided_at",
                "rejection_reason",
                "revoked_by",
                "revoked_at",
                "revocation_reason",
                "gross_minor",
                "payable_minor",
                "paid_units",
                "entry_id",
            ];
            let rows = stored(&mut conn, "claims", &columns);
            assert_eq!(rows[2 * n], rows[2 * n + 1], "decided: {decided}");
        }
        let entry = |id: &str| LedgerEntry {
            id: id.into(),
            claim_id: "clm_1".into(),
            project_id: "prj_1".into(),
            provider_amount_minor: i64::MIN,
            posted_at: NaiveDate::from_ymd_opt(2026, 12, 6)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
            reverses_entry_id: None,
        };
        diesel::insert_into(ledger_entries::table)
            .values(&entry("ent_a"))
            .execute(&mut conn)
            .unwrap();
        sqlite_insert(&mut conn, "ledger_entries", &[entry("ent_b")]).unwrap();
        let columns = [
            "claim_id",
            "project_id",
            "provider_amount_minor",
            "posted_at",
            "reverses_entry_id",
        ];
        let rows = stored(&mut conn, "ledger_entries", &columns);
        assert_eq!(rows[0], rows[1]);
        assert_eq!(
            sqlite_insert::<LedgerEntry>(&mut conn, "ledger_entries", &[]).unwrap(),
            0
        );
    }
}
