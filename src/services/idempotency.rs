//! Writes made safe to retry. A request that carries an idempotency key reserves the key in
//! the same transaction as its work and stores its answer there: a crash before the commit
//! leaves neither, and a retry after it is answered with the first answer, the work not done
//! again. Keys are scoped to the caller's organisation (so that a colleague's retry of the same
//! request is recognised), or to an admin's own subject; a key is never matched across
//! organisations.

use chrono::NaiveDateTime;

use crate::db::{self, write_tx, DbConn};
use crate::domain::FieldError;
use crate::services::error::ServiceError;

/// A request that may be a retry of an earlier one.
#[derive(Debug, Clone)]
pub struct Retry {
    /// Whose keys this key is among.
    pub scope: String,
    /// The caller's key; without one the work is simply done.
    pub key: Option<String>,
    /// What makes two requests the same request (the door decides: for HTTP, method, path,
    /// content type and body); the same key with another fingerprint is refused.
    pub fingerprint: String,
    pub received_at: NaiveDateTime,
    /// The status the work's answer is given with, stored for a retry (a 2xx).
    pub status: u16,
}

/// Runs `work` once per key, in one write transaction with the key's reservation and its
/// stored answer: `work` renders its result as the body a retry will be answered with. Returns
/// the status and body, the first request's for a retry.
pub fn once<E>(
    conn: &mut DbConn,
    retry: &Retry,
    work: impl FnOnce(&mut DbConn) -> Result<String, E>,
) -> Result<(u16, String), E>
where
    E: From<ServiceError> + From<diesel::result::Error>,
{
    write_tx(conn, |conn| {
        if let Some(key) = &retry.key {
            let reservation = db::models::IdempotencyRecord {
                principal: retry.scope.clone(),
                idempotency_key: key.clone(),
                request_hash: retry.fingerprint.clone(),
                response_status: 0,
                response_body: String::new(),
                created_at: retry.received_at,
            };
            if !db::backend_specific::reserve_idempotency_key(conn, &reservation)? {
                return Ok(replay(conn, retry, key)?);
            }
        }
        let body = work(conn)?;
        if let Some(key) = &retry.key {
            let status = i32::from(retry.status);
            db::queries::idempotency::store_idempotent_response(
                conn,
                &retry.scope,
                key,
                status,
                &body,
            )?;
        }
        Ok((retry.status, body))
    })
}

/// The stored answer to a request already made with this key.
fn replay(conn: &mut DbConn, retry: &Retry, key: &str) -> Result<(u16, String), ServiceError> {
    let stored = db::queries::idempotency::find_idempotent_response(conn, &retry.scope, key)?
        .ok_or_else(|| ServiceError::Internal("a reserved idempotency key has no row".into()))?;
    if stored.request_hash != retry.fingerprint {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "Idempotency-Key",
            "this key was already used for a different request (another body, path or method)",
        )]));
    }
    match u16::try_from(stored.response_status) {
        Ok(status) if (200..300).contains(&status) => Ok((status, stored.response_body)),
        // Only possible if a reservation was committed without its response: refuse rather
        // than answer with nothing.
        _ => Err(ServiceError::Conflict(
            "the first request with this key has not finished".into(),
        )),
    }
}
