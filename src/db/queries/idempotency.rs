//! Stored answers to requests made with an `Idempotency-Key`.

use diesel::prelude::*;
use diesel::result::Error as DieselError;

use crate::db::models::*;
use crate::db::schema::*;
use crate::db::DbConn;

pub fn find_idempotent_response(
    conn: &mut DbConn,
    principal: &str,
    key: &str,
) -> Result<Option<IdempotencyRecord>, DieselError> {
    idempotency_keys::table
        .find((principal, key))
        .select(IdempotencyRecord::as_select())
        .first(conn)
        .optional()
}

/// Writes the response of a key reserved by
/// [`reserve_idempotency_key`](crate::db::backend_specific::reserve_idempotency_key).
pub fn store_idempotent_response(
    conn: &mut DbConn,
    principal: &str,
    key: &str,
    status: i32,
    body: &str,
) -> Result<(), DieselError> {
    diesel::update(idempotency_keys::table.find((principal, key)))
        .set((
            idempotency_keys::response_status.eq(status),
            idempotency_keys::response_body.eq(body),
        ))
        .execute(conn)
        .map(|_| ())
}
