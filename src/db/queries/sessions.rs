//! Browser sessions: started, found by the digest of their cookie, touched, ended.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::Error as DieselError;

use crate::db::models::{Member, Session};
use crate::db::schema::{members, sessions};
use crate::db::DbConn;
use crate::domain::ids::MemberId;

pub fn insert_session(conn: &mut DbConn, session: &Session) -> Result<(), DieselError> {
    diesel::insert_into(sessions::table)
        .values(session)
        .execute(conn)?;
    Ok(())
}

/// The session with this digest and its member.
pub fn session_by_digest(
    conn: &mut DbConn,
    digest: &str,
) -> Result<Option<(Session, Member)>, DieselError> {
    sessions::table
        .inner_join(members::table)
        .filter(sessions::id_sha256.eq(digest))
        .select((Session::as_select(), Member::as_select()))
        .first(conn)
        .optional()
}

pub fn touch_session(
    conn: &mut DbConn,
    digest: &str,
    at: NaiveDateTime,
) -> Result<(), DieselError> {
    diesel::update(sessions::table.find(digest))
        .set(sessions::last_seen_at.eq(at))
        .execute(conn)?;
    Ok(())
}

/// Ends one session; answers how many were ended (0: it had ended already).
pub fn delete_session(conn: &mut DbConn, digest: &str) -> Result<usize, DieselError> {
    diesel::delete(sessions::table.find(digest)).execute(conn)
}

/// Ends every session of a member; answers how many.
pub fn delete_member_sessions(conn: &mut DbConn, member: &MemberId) -> Result<usize, DieselError> {
    diesel::delete(sessions::table.filter(sessions::member_id.eq(member))).execute(conn)
}

/// Ends every session unused since `idle_before` or started before `started_before`.
pub fn delete_ended_sessions(
    conn: &mut DbConn,
    idle_before: NaiveDateTime,
    started_before: NaiveDateTime,
) -> Result<usize, DieselError> {
    diesel::delete(
        sessions::table.filter(
            sessions::last_seen_at
                .le(idle_before)
                .or(sessions::created_at.le(started_before)),
        ),
    )
    .execute(conn)
}

/// Ends all but `member`'s `keep` newest sessions.
pub fn keep_newest_sessions(
    conn: &mut DbConn,
    member: &MemberId,
    keep: i64,
) -> Result<usize, DieselError> {
    let newest: Vec<String> = sessions::table
        .filter(sessions::member_id.eq(member))
        .order(sessions::created_at.desc())
        .limit(keep)
        .select(sessions::id_sha256)
        .load(conn)?;
    diesel::delete(
        sessions::table
            .filter(sessions::member_id.eq(member))
            .filter(sessions::id_sha256.ne_all(newest)),
    )
    .execute(conn)
}
