//! Browser sessions: a member signs in (today through the development sign-in page; through
//! the organisation's identity provider to come), its requests carry the session's cookie,
//! and it signs out here or everywhere. Each step is in the audit trail.

use chrono::NaiveDateTime;

use crate::db::models::Session;
use crate::db::{queries, write_tx, DbConn};
use crate::domain::access::Principal;
use crate::domain::audit::AuditAction;
use crate::domain::ids::MemberId;
use crate::domain::members::MemberStatus;
use crate::domain::sessions::{ended, ABSOLUTE_TIMEOUT, IDLE_TIMEOUT, MAX_SESSIONS, TOUCH_EVERY};
use crate::services::audit::{self, Actor, Step};
use crate::services::error::ServiceError;
use crate::services::members::{key_digest, lock_members_of, random_secret, Refused};

/// A session just started: the cookie's value (shown to the browser, never stored) and its
/// CSRF token.
pub struct Started {
    pub cookie: String,
    pub csrf_token: String,
    pub principal: Principal,
}

/// A session found live for a request: who it is, and the token its state-changing requests
/// must carry.
pub struct Live {
    pub principal: Principal,
    pub csrf_token: String,
}

/// The use case "sign in": a new session for `member`, whatever cookie the browser held
/// before (a session id is never chosen by the browser, so it cannot be fixed in advance).
/// A member that does not exist, or is disabled, is refused; a disabled member's attempt is
/// in the audit trail. Every session that has ended is cleared away, and at most
/// [`MAX_SESSIONS`] stay live (the oldest ends first).
pub fn start(
    conn: &mut DbConn,
    member: &MemberId,
    at: NaiveDateTime,
    address: Option<String>,
    how: &str,
) -> Result<Started, ServiceError> {
    let refused = || ServiceError::Forbidden("this member may not sign in".into());
    // A refusal that is recorded: the outer result commits the step, the inner refuses.
    write_tx(
        conn,
        |conn| -> Result<Result<Started, ServiceError>, ServiceError> {
            let found = queries::members::get_member(conn, member)?.ok_or_else(refused)?;
            // In turn with changes to the organisation's members: a sign-in that races a
            // disable either ends with it or sees it.
            lock_members_of(conn, found.organisation_id.as_ref())?;
            let found = queries::members::get_member(conn, member)?.ok_or_else(refused)?;
            let principal = Principal::new(found.id.to_string(), found.role, found.organisation_id)
                .map_err(ServiceError::Internal)?;
            let by = Actor {
                principal: &principal,
                at,
                address: address.clone(),
            };
            if found.status == MemberStatus::Disabled {
                let step = Step {
                    organisation: principal.organisation(),
                    action: AuditAction::SignInFailed,
                    target: Some(member),
                    detail: format!("refused {how}: the member is disabled"),
                };
                audit::record(conn, &by, step)?;
                return Ok(Err(refused()));
            }
            queries::sessions::delete_ended_sessions(
                conn,
                at - IDLE_TIMEOUT,
                at - ABSOLUTE_TIMEOUT,
            )?;
            queries::sessions::keep_newest_sessions(conn, member, MAX_SESSIONS - 1)?;
            let cookie = random_secret();
            let session = Session {
                id_sha256: key_digest(&cookie),
                member_id: found.id,
                csrf_token: random_secret(),
                created_at: at,
                last_seen_at: at,
                address,
            };
            queries::sessions::insert_session(conn, &session)?;
            let step = Step {
                organisation: principal.organisation(),
                action: AuditAction::SignedIn,
                target: Some(&session.member_id),
                detail: format!("signed in {how}"),
            };
            audit::record(conn, &by, step)?;
            Ok(Ok(Started {
                cookie,
                csrf_token: session.csrf_token,
                principal,
            }))
        },
    )?
}

/// Who a session cookie signs in, if its session is live: not ended by sign-out, by the idle
/// or absolute time-out, or by its member being disabled. Its last use is written down at
/// most once a minute.
pub fn authenticate(conn: &mut DbConn, cookie: &str, now: NaiveDateTime) -> Result<Live, Refused> {
    let digest = key_digest(cookie);
    let (session, member) = queries::sessions::session_by_digest(conn, &digest)?
        .ok_or(Refused::Credential("the session has ended; sign in again"))?;
    if member.status == MemberStatus::Disabled {
        return Err(Refused::Credential("this member is disabled"));
    }
    if let Some(why) = ended(session.created_at, session.last_seen_at, now) {
        write_tx(conn, |conn| {
            queries::sessions::delete_session(conn, &digest)
        })?;
        return Err(Refused::Credential(why));
    }
    if now >= session.last_seen_at + TOUCH_EVERY {
        write_tx(conn, |conn| {
            queries::sessions::touch_session(conn, &digest, now)
        })?;
    }
    let principal = Principal::new(member.id.to_string(), member.role, member.organisation_id)
        .map_err(|_| Refused::Credential("this member's role does not fit its organisation"))?;
    Ok(Live {
        principal,
        csrf_token: session.csrf_token,
    })
}

/// The use case "sign out": this session ends, or (`everywhere`) every session of the member.
pub fn end(
    conn: &mut DbConn,
    by: &Actor,
    cookie: &str,
    everywhere: bool,
) -> Result<(), ServiceError> {
    write_tx(conn, |conn| {
        let digest = key_digest(cookie);
        let Some((session, _)) = queries::sessions::session_by_digest(conn, &digest)? else {
            return Ok(());
        };
        let (ended, detail) = if everywhere {
            let n = queries::sessions::delete_member_sessions(conn, &session.member_id)?;
            (n, format!("signed out everywhere ({n} sessions)"))
        } else {
            let n = queries::sessions::delete_session(conn, &digest)?;
            (n, "signed out".to_owned())
        };
        if ended == 0 {
            return Ok(());
        }
        let step = Step {
            organisation: by.principal.organisation(),
            action: AuditAction::SignedOut,
            target: Some(&session.member_id),
            detail,
        };
        audit::record(conn, by, step)
    })
}

/// The members the development sign-in page offers: everyone not disabled, with their
/// organisation's name. Only the development door asks.
pub fn sign_in_choices(
    conn: &mut DbConn,
) -> Result<Vec<(crate::db::models::Member, Option<String>)>, ServiceError> {
    Ok(queries::members::members_who_may_sign_in(conn)?)
}

/// Ends the session of a cookie a browser held when it signed in again (as whoever): one
/// browser, one session. Not a sign-out of anyone, so not in the trail.
pub fn forget(conn: &mut DbConn, cookie: &str) -> Result<(), ServiceError> {
    write_tx(conn, |conn| {
        queries::sessions::delete_session(conn, &key_digest(cookie))?;
        Ok(())
    })
}
