//! Bulk reads and updates in a constant number of statements, however many rows they carry:
//! verifying a quarter-end upload of 50,000 claims costs the statements and round trips that
//! one of 50 does (a test holds it; inserts are [`super::queries::insert_rows`]).
//!
//! - Look-ups by many keys ([`load_where_in`]): `= ANY($1)` with one array parameter on
//!   PostgreSQL, `IN (SELECT value FROM json_each(?))` with one JSON parameter on SQLite,
//!   which has no arrays: neither the statements nor the bound parameters (SQLite allows
//!   32,766 in one statement) grow with the keys.
//! - Updates of many rows: PostgreSQL's `UPDATE … FROM unnest(…)` with an array per column,
//!   SQLite's `UPDATE … FROM` the rows as one JSON array (see
//!   [`super::backend_specific::mark_claims_verified`]).

use diesel::result::Error as DieselError;
use serde::Serialize;

/// Keys or rows as one JSON array, for `json_each(?)` on SQLite.
pub fn json_array<K: Serialize>(keys: &[K]) -> Result<String, DieselError> {
    serde_json::to_string(keys).map_err(|e| DieselError::SerializationError(Box::new(e)))
}

/// Loads `$query` filtered to rows whose `$column` (named `$column_name` in SQL) is one of
/// `$keys`, in one statement (see the module).
macro_rules! load_where_in {
    ($conn:expr, $query:expr, $column:expr, $column_name:literal, $keys:expr) => {{
        let keys = $keys;
        match &mut *$conn {
            $crate::db::DbConn::Pg(c) => $query.filter($column.eq_any(keys)).load(c),
            $crate::db::DbConn::Sqlite(c) => {
                let json = $crate::db::bulk::json_array(keys)?;
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
