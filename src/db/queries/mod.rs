//! Reads and writes, a room per aggregate. Every function takes a connection; the caller
//! decides the transaction (see [`super::write_tx`]).

/// Inserts many rows: on PostgreSQL every row in one COPY, its bulk path (several times the
/// rate of a multi-row INSERT), so that a batch costs one statement and one round trip however
/// many rows it carries. On SQLite, which has no round trips, multi-row INSERTs of a fixed
/// number of rows, which diesel prepares once per connection and reuses (a statement of any
/// other size is parsed anew each time, which cost as much as a sixth of a bulk write; one
/// statement for every row, passed as JSON, was measured half as fast again). The
/// multi-backend connection cannot build a multi-row INSERT, so this goes through the concrete
/// connection.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let rows = $rows;
        let mut inserted = 0usize;
        match &mut *$conn {
            _ if rows.is_empty() => {}
            $crate::db::DbConn::Pg(c) => {
                use diesel::ExecuteCopyFromDsl;
                inserted += diesel::copy_from($table).from_insertable(rows).execute(c)?;
            }
            $crate::db::DbConn::Sqlite(c) => {
                const BATCH: usize = $crate::db::queries::SQLITE_BATCH_ROWS;
                let mut batches = rows.chunks_exact(BATCH);
                for batch in &mut batches {
                    let batch: &[_; BATCH] = batch.try_into().expect("chunks_exact");
                    inserted += diesel::insert_into($table).values(batch).execute(c)?;
                }
                let rest = batches.remainder();
                if !rest.is_empty() {
                    inserted += diesel::insert_into($table).values(rest).execute(c)?;
                }
            }
        }
        Ok::<usize, diesel::result::Error>(inserted)
    }};
}
pub(crate) use insert_rows;

/// Rows per SQLite INSERT statement of a bulk write (at 32 columns, 4,096 parameters).
pub const SQLITE_BATCH_ROWS: usize = 128;

/// A new opaque identifier: a readable prefix and a time-ordered UUID, so that ordering by id
/// is ordering by creation (which is what cursors page through).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

pub mod audit;
pub mod claims;
pub mod documents;
pub mod funds;
pub mod idempotency;
pub mod members;
pub mod metrics;
pub mod organisations;
pub mod outbox;
pub mod projects;
pub mod sessions;
