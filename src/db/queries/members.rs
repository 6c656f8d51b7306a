//! Members and API keys: stored, read, listed, changed.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::result::Error as DieselError;

use crate::db::models::{ApiKey, Member};
use crate::db::schema::{api_keys, members};
use crate::db::DbConn;
use crate::domain::ids::{ApiKeyId, MemberId, OrganisationId};
use crate::domain::members::{MemberFacts, MemberStatus};

pub fn insert_member(conn: &mut DbConn, member: &Member) -> Result<(), DieselError> {
    diesel::insert_into(members::table)
        .values(member)
        .execute(conn)?;
    Ok(())
}

pub fn get_member(conn: &mut DbConn, id: &str) -> Result<Option<Member>, DieselError> {
    members::table
        .find(id)
        .select(Member::as_select())
        .first(conn)
        .optional()
}

/// A page of `organisation`'s members in id order (`None`: the admins), after `cursor`.
pub fn list_members(
    conn: &mut DbConn,
    organisation: Option<&OrganisationId>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<Member>, DieselError> {
    let mut query = members::table
        .select(Member::as_select())
        .order(members::id)
        .limit(limit)
        .into_boxed();
    query = match organisation {
        Some(org) => query.filter(members::organisation_id.eq(org)),
        None => query.filter(members::organisation_id.is_null()),
    };
    if let Some(cursor) = cursor {
        query = query.filter(members::id.gt(cursor));
    }
    query.load(conn)
}

/// Every member, for the command line: admins first, then by organisation.
pub fn all_members(conn: &mut DbConn) -> Result<Vec<Member>, DieselError> {
    members::table
        .select(Member::as_select())
        .order((members::organisation_id, members::id))
        .load(conn)
}

/// Stores a member's role, administrator flag and status as the rules left them.
pub fn update_member(
    conn: &mut DbConn,
    after: &MemberFacts,
    at: NaiveDateTime,
) -> Result<(), DieselError> {
    diesel::update(members::table.find(&after.id))
        .set((
            members::role.eq(after.role),
            members::administers.eq(after.administers),
            members::status.eq(after.status),
            members::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The administrators of `target`'s organisation other than `target` who are not disabled
/// (for an admin: the other admins not disabled).
pub fn other_administrators(conn: &mut DbConn, target: &MemberFacts) -> Result<u64, DieselError> {
    let mut query = members::table
        .filter(members::id.ne(&target.id))
        .filter(members::status.ne(MemberStatus::Disabled))
        .into_boxed();
    query = match &target.organisation_id {
        Some(org) => query
            .filter(members::organisation_id.eq(org))
            .filter(members::administers.eq(true)),
        None => query.filter(members::organisation_id.is_null()),
    };
    let count: i64 = query.count().get_result(conn)?;
    Ok(count as u64)
}

pub fn insert_api_key(conn: &mut DbConn, key: &ApiKey) -> Result<(), DieselError> {
    diesel::insert_into(api_keys::table)
        .values(key)
        .execute(conn)?;
    Ok(())
}

pub fn get_api_key(conn: &mut DbConn, id: &ApiKeyId) -> Result<Option<ApiKey>, DieselError> {
    api_keys::table
        .find(id)
        .select(ApiKey::as_select())
        .first(conn)
        .optional()
}

/// A page of `organisation`'s keys in id order, each with its maker; only `creator`'s when
/// given.
pub fn list_api_keys(
    conn: &mut DbConn,
    organisation: &OrganisationId,
    creator: Option<&MemberId>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<(ApiKey, Member)>, DieselError> {
    let mut query = api_keys::table
        .inner_join(members::table)
        .filter(api_keys::organisation_id.eq(organisation))
        .select((ApiKey::as_select(), Member::as_select()))
        .order(api_keys::id)
        .limit(limit)
        .into_boxed();
    if let Some(creator) = creator {
        query = query.filter(api_keys::created_by.eq(creator));
    }
    if let Some(cursor) = cursor {
        query = query.filter(api_keys::id.gt(cursor));
    }
    query.load(conn)
}

/// The key with this digest and the member who made it.
pub fn api_key_by_digest(
    conn: &mut DbConn,
    digest: &str,
) -> Result<Option<(ApiKey, Member)>, DieselError> {
    api_keys::table
        .inner_join(members::table)
        .filter(api_keys::secret_sha256.eq(digest))
        .select((ApiKey::as_select(), Member::as_select()))
        .first(conn)
        .optional()
}

/// Records that a key was used on `day`: 1 if this is its first use that day, else 0 (the
/// row is written only on a new day).
pub fn key_used_on(conn: &mut DbConn, id: &ApiKeyId, day: NaiveDate) -> Result<usize, DieselError> {
    diesel::update(
        api_keys::table.find(id).filter(
            api_keys::last_used_on
                .is_null()
                .or(api_keys::last_used_on.lt(day)),
        ),
    )
    .set(api_keys::last_used_on.eq(day))
    .execute(conn)
}

/// Revokes a key at `at` (a key already revoked keeps its first revocation).
pub fn revoke_api_key(
    conn: &mut DbConn,
    id: &ApiKeyId,
    by: &str,
    at: NaiveDateTime,
) -> Result<(), DieselError> {
    diesel::update(
        api_keys::table
            .find(id)
            .filter(api_keys::revoked_at.is_null()),
    )
    .set((api_keys::revoked_at.eq(at), api_keys::revoked_by.eq(by)))
    .execute(conn)?;
    Ok(())
}

/// Every member who may sign in (not disabled), with its organisation's name (none for an
/// admin), for the development sign-in page.
pub fn members_who_may_sign_in(
    conn: &mut DbConn,
) -> Result<Vec<(Member, Option<String>)>, DieselError> {
    use crate::db::schema::organisations;
    members::table
        .left_join(
            organisations::table.on(members::organisation_id.eq(organisations::id.nullable())),
        )
        .filter(members::status.ne(MemberStatus::Disabled))
        .order((organisations::name.nullable(), members::display_name))
        .select((Member::as_select(), organisations::name.nullable()))
        .load(conn)
}
