//! Members and API keys: the use cases that invite, read, change, disable and enable members,
//! make, list and revoke keys, and tell who a key or a member's token is. Each decides who may
//! act with [`crate::domain::members`] and stores the result in its own transaction.

use chrono::NaiveDateTime;
use rand::RngCore;

use crate::db::backend_specific::{lock_row_for_update, LockableTable};
use crate::db::models::{ApiKey, Member};
use crate::db::{queries, write_tx, DbConn};
use crate::domain::access::{Principal, Role};
use crate::domain::audit::AuditAction;
use crate::domain::ids::{ApiKeyId, MemberId, OrganisationId};
use crate::domain::members::{
    check_change, check_new_key, may_handle_key, may_manage_members, validate_member,
    ChangeRefused, MemberChange, MemberFacts, MemberPlan, MemberStatus, NewApiKey, NewMember,
};
use crate::domain::registry::OrganisationKind;
use crate::domain::sessions::same_secret;
use crate::services::access::acting_member;
use crate::services::audit::{self, Actor, Step};
use crate::services::error::ServiceError;

/// What every key begins with, so that a leaked key is recognised (secret scanners look for
/// such prefixes) and told apart from a JWT.
pub const KEY_PREFIX: &str = "cfk_";

impl From<ChangeRefused> for ServiceError {
    fn from(refused: ChangeRefused) -> ServiceError {
        match refused {
            ChangeRefused::Denied(denied) => denied.into(),
            ChangeRefused::Invalid(errors) => ServiceError::Invalid(errors),
            ChangeRefused::LastAdministrator(why) => ServiceError::Conflict(why),
        }
    }
}

/// What the rules need to know of the caller's member, if its token names one.
fn acting(conn: &mut DbConn, caller: &Principal) -> Result<Option<MemberFacts>, ServiceError> {
    Ok(acting_member(conn, caller)?)
}

fn kind_of(
    conn: &mut DbConn,
    organisation: &OrganisationId,
) -> Result<OrganisationKind, ServiceError> {
    queries::organisations::organisation_kinds(conn, &[organisation.as_str()])?
        .get(organisation.as_str())
        .copied()
        .ok_or_else(|| ServiceError::NotFound("no such organisation".into()))
}

/// The use case "invite a member": an admin or an administrator of the organisation invites
/// someone into it. They are `invited` until their first sign-in.
pub fn invite_member(
    conn: &mut DbConn,
    by: &Actor,
    organisation: &OrganisationId,
    input: NewMember,
) -> Result<Member, ServiceError> {
    write_tx(conn, |conn| {
        let kind = kind_of(conn, organisation)?;
        let acting_member = acting(conn, by.principal)?;
        may_manage_members(by.principal, acting_member.as_ref(), organisation)?;
        let plan = validate_member(input, Some(kind)).map_err(ServiceError::Invalid)?;
        let member = new_member(plan, Some(organisation), MemberStatus::Invited, by.at);
        insert_unique(conn, &member)?;
        let step = Step {
            organisation: Some(organisation),
            action: AuditAction::MemberInvited,
            target: Some(&member.id),
            detail: format!("invited as {}", standing(&member.facts())),
        };
        audit::record(conn, by, step)?;
        Ok(member)
    })
}

/// A member's role and flag in words, for the trail: "commissioner, administers".
fn standing(member: &MemberFacts) -> String {
    let flag = if member.administers {
        ", administers"
    } else {
        ""
    };
    format!("{}{flag}", member.role)
}

/// A member as the rules accepted it, with no identity bound yet.
fn new_member(
    plan: MemberPlan,
    organisation: Option<&OrganisationId>,
    status: MemberStatus,
    at: NaiveDateTime,
) -> Member {
    Member {
        id: MemberId::from(queries::new_id("mem")),
        organisation_id: organisation.cloned(),
        role: plan.role,
        administers: plan.administers,
        display_name: plan.display_name,
        email: plan.email,
        status,
        oidc_issuer: None,
        oidc_subject: None,
        created_at: at,
        updated_at: at,
    }
}

/// Stores a new member; an email already in the organisation is a conflict that says so.
fn insert_unique(conn: &mut DbConn, member: &Member) -> Result<(), ServiceError> {
    queries::members::insert_member(conn, member).map_err(|e| match ServiceError::from(e) {
        ServiceError::Conflict(_) => {
            ServiceError::Conflict("a member with this email is already here".into())
        }
        other => other,
    })
}

/// The use case "add a member" on the command line, trusted as the installation's operator:
/// the first admin of a new installation is made this way. The member is `active`.
pub fn add_member_by_operator(
    conn: &mut DbConn,
    organisation: Option<&OrganisationId>,
    input: NewMember,
    at: NaiveDateTime,
) -> Result<Member, ServiceError> {
    write_tx(conn, |conn| {
        add_active_member(conn, organisation, input, at)
    })
}

/// [`add_member_by_operator`] in the caller's write transaction (the demo's loader adds its
/// people in its own).
pub fn add_active_member(
    conn: &mut DbConn,
    organisation: Option<&OrganisationId>,
    input: NewMember,
    at: NaiveDateTime,
) -> Result<Member, ServiceError> {
    let kind = match organisation {
        Some(org) => Some(kind_of(conn, org)?),
        None => None,
    };
    let plan = validate_member(input, kind).map_err(ServiceError::Invalid)?;
    let member = new_member(plan, organisation, MemberStatus::Active, at);
    insert_unique(conn, &member)?;
    let step = Step {
        organisation,
        action: AuditAction::MemberAdded,
        target: Some(&member.id),
        detail: format!("added on the command line as {}", standing(&member.facts())),
    };
    audit::record_operator(conn, at, step)?;
    Ok(member)
}

/// The use case "list an organisation's members", for those who manage them.
pub fn list_members(
    conn: &mut DbConn,
    caller: &Principal,
    organisation: &OrganisationId,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<Member>, ServiceError> {
    kind_of(conn, organisation)?;
    let acting_member = acting(conn, caller)?;
    may_manage_members(caller, acting_member.as_ref(), organisation)?;
    Ok(queries::members::list_members(
        conn,
        Some(organisation),
        cursor,
        limit,
    )?)
}

/// The use case "read a member": the member themself, or whoever manages its organisation's
/// members. Anyone else is told there is no such member.
pub fn get_member(
    conn: &mut DbConn,
    caller: &Principal,
    id: &MemberId,
) -> Result<Member, ServiceError> {
    let acting_member = acting(conn, caller)?;
    let member = queries::members::get_member(conn, id)?.filter(|member| {
        acting_member.as_ref().is_some_and(|a| a.id == member.id)
            || match &member.organisation_id {
                Some(org) => may_manage_members(caller, acting_member.as_ref(), org).is_ok(),
                None => caller.is_admin(),
            }
    });
    member.ok_or_else(|| ServiceError::NotFound("no member with this id that you can see".into()))
}

/// The use case "change a member" (role, administrator flag, or status: disable and enable).
/// Disabling refuses the member's tokens and keys from the next request on.
pub fn change_member(
    conn: &mut DbConn,
    by: &Actor,
    id: &MemberId,
    change: MemberChange,
) -> Result<Member, ServiceError> {
    write_tx(conn, |conn| {
        let found = get_member(conn, by.principal, id)?;
        lock_members_of(conn, found.organisation_id.as_ref())?;
        let mut member = get_member(conn, by.principal, id)?;
        let kind = match &member.organisation_id {
            Some(org) => Some(kind_of(conn, org)?),
            None => None,
        };
        let acting_member = acting(conn, by.principal)?;
        let before = member.facts();
        let others = queries::members::other_administrators(conn, &before)?;
        let mut change = change;
        // Enabling changes only a disabled member, and restores one who never signed in to
        // `invited`: they still have to.
        if change.status == Some(MemberStatus::Active) {
            change.status = match member.status {
                MemberStatus::Disabled if member.oidc_subject.is_none() => {
                    Some(MemberStatus::Invited)
                }
                MemberStatus::Disabled => Some(MemberStatus::Active),
                _ => None,
            };
        }
        let after = check_change(
            by.principal,
            acting_member.as_ref(),
            &before,
            kind,
            &change,
            others,
        )?;
        if after == before {
            return Ok(member);
        }
        queries::members::update_member(conn, &after, by.at)?;
        if after.status == MemberStatus::Disabled {
            // Signed out everywhere at once; the member's tokens and keys are refused by
            // their next request's check.
            queries::sessions::delete_member_sessions(conn, id)?;
        }
        let step = Step {
            organisation: member.organisation_id.as_ref(),
            action: change_action(&before, &after),
            target: Some(id),
            detail: format!("{} → {}", describe(&before), describe(&after)),
        };
        audit::record(conn, by, step)?;
        member.role = after.role;
        member.administers = after.administers;
        member.status = after.status;
        member.updated_at = by.at;
        Ok(member)
    })
}

/// Changes to one organisation's members (or to the admins) run one after another, so that
/// two administrators stepping down at once cannot each count the other as staying: the
/// organisation's row is locked (for the admins, the oldest admin's). Nothing on SQLite,
/// whose write transactions run one at a time anyway.
pub(crate) fn lock_members_of(
    conn: &mut DbConn,
    organisation: Option<&OrganisationId>,
) -> Result<(), ServiceError> {
    match organisation {
        Some(org) => lock_row_for_update(conn, LockableTable::Organisations, org)?,
        None => {
            if let Some(oldest) = queries::members::list_members(conn, None, None, 1)?.first() {
                lock_row_for_update(conn, LockableTable::Members, &oldest.id)?;
            }
        }
    }
    Ok(())
}

/// Which kind of change the trail records: a change of status first.
fn change_action(before: &MemberFacts, after: &MemberFacts) -> AuditAction {
    match (before.status, after.status) {
        (b, MemberStatus::Disabled) if b != MemberStatus::Disabled => AuditAction::MemberDisabled,
        (MemberStatus::Disabled, a) if a != MemberStatus::Disabled => AuditAction::MemberEnabled,
        _ => AuditAction::MemberChanged,
    }
}

fn describe(member: &MemberFacts) -> String {
    format!("{} ({})", standing(member), member.status)
}

/// A new key, shown once: `cfk_` and 256 random bits in base32.
fn new_secret() -> String {
    format!("{KEY_PREFIX}{}", random_secret())
}

/// 256 random bits in lower-case base32 (52 characters): keys, session ids, CSRF tokens.
pub(crate) fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    data_encoding::BASE32_NOPAD.encode(&bytes).to_lowercase()
}

/// How a key is stored and looked up: the hex SHA-256 of the whole key.
pub fn key_digest(key: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// The use case "make an API key": a member makes one for its organisation, in its own role
/// (an admin member: any role the organisation's kind allows). Answers the stored key and the
/// key itself, which is never stored and never shown again.
pub fn create_api_key(
    conn: &mut DbConn,
    by: &Actor,
    organisation: &OrganisationId,
    input: NewApiKey,
) -> Result<(ApiKey, String), ServiceError> {
    let now = by.at;
    write_tx(conn, |conn| {
        let kind = kind_of(conn, organisation)?;
        let creator = acting(conn, by.principal)?;
        let plan = check_new_key(creator.as_ref(), organisation, kind, input, now)?;
        let creator = creator.expect("check_new_key refuses a caller that is no member");
        let secret = new_secret();
        let key = ApiKey {
            id: ApiKeyId::from(queries::new_id("key")),
            organisation_id: organisation.clone(),
            role: plan.role,
            name: plan.name,
            prefix: secret[..KEY_PREFIX.len() + 8].to_owned(),
            secret_sha256: key_digest(&secret),
            created_by: creator.id,
            created_at: now,
            expires_at: plan.expires_at,
            last_used_on: None,
            revoked_at: None,
            revoked_by: None,
        };
        queries::members::insert_api_key(conn, &key)?;
        let step = Step {
            organisation: Some(organisation),
            action: AuditAction::ApiKeyCreated,
            target: Some(&key.id),
            detail: format!(
                "\"{}\" ({}…) as {}, until {}",
                key.name,
                key.prefix,
                key.role,
                key.expires_at.date()
            ),
        };
        audit::record(conn, by, step)?;
        Ok((key, secret))
    })
}

/// A key as listed: whether it stands suspended (its maker disabled, or no longer in its
/// role) beside its record.
pub struct ListedKey {
    pub key: ApiKey,
    pub suspended: bool,
}

/// The use case "list an organisation's keys": all of them for those who manage its
/// members, a member's own for anyone else of it.
pub fn list_api_keys(
    conn: &mut DbConn,
    caller: &Principal,
    organisation: &OrganisationId,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<ListedKey>, ServiceError> {
    kind_of(conn, organisation)?;
    let acting_member = acting(conn, caller)?;
    let only_of = if may_manage_members(caller, acting_member.as_ref(), organisation).is_ok() {
        None
    } else {
        match acting_member.filter(|m| m.organisation_id.as_ref() == Some(organisation)) {
            Some(member) => Some(member.id),
            None => {
                return Err(ServiceError::Forbidden(
                    "only the organisation's members see its keys".into(),
                ))
            }
        }
    };
    let keys =
        queries::members::list_api_keys(conn, organisation, only_of.as_ref(), cursor, limit)?;
    Ok(keys
        .into_iter()
        .map(|(key, maker)| ListedKey {
            suspended: key_suspended(&key, &maker.facts()).is_some(),
            key,
        })
        .collect())
}

/// The use case "revoke a key": its maker, or whoever manages its organisation's members.
/// From the next request on, the key is refused by every process.
pub fn revoke_api_key(
    conn: &mut DbConn,
    by: &Actor,
    id: &ApiKeyId,
) -> Result<ApiKey, ServiceError> {
    write_tx(conn, |conn| {
        let acting_member = acting(conn, by.principal)?;
        let key = queries::members::get_api_key(conn, id)?
            .filter(|k| {
                may_handle_key(
                    by.principal,
                    acting_member.as_ref(),
                    &k.organisation_id,
                    &k.created_by,
                )
            })
            .ok_or_else(|| {
                ServiceError::NotFound("no API key with this id that you can see".into())
            })?;
        if key.revoked_at.is_some() {
            return Ok(key);
        }
        queries::members::revoke_api_key(conn, id, by.principal.subject(), by.at)?;
        let step = Step {
            organisation: Some(&key.organisation_id),
            action: AuditAction::ApiKeyRevoked,
            target: Some(id),
            detail: format!("\"{}\" ({}…)", key.name, key.prefix),
        };
        audit::record(conn, by, step)?;
        Ok(ApiKey {
            revoked_at: Some(by.at),
            revoked_by: Some(by.principal.subject().to_owned()),
            ..key
        })
    })
}

/// Why a presented key or member token is refused (401): the reason is told to the caller.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Credential(&'static str),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<diesel::result::Error> for Refused {
    fn from(e: diesel::result::Error) -> Refused {
        Refused::Service(e.into())
    }
}

/// Who an API key acts as: its organisation, in its role, named by the key's id. A key that
/// is unknown, revoked or expired, or whose maker is disabled, is refused. Its first use on a
/// day is written down (`last_used_on`).
pub fn authenticate_key(
    conn: &mut DbConn,
    key: &str,
    now: NaiveDateTime,
    address: Option<String>,
) -> Result<Principal, Refused> {
    let digest = key_digest(key);
    let found = queries::members::api_key_by_digest(conn, &digest)?;
    let (stored, maker) = found.ok_or(Refused::Credential("the API key is not valid"))?;
    // The digest was found by the index; compared again in constant time.
    if !same_secret(Some(&stored.secret_sha256), &digest) {
        return Err(Refused::Credential("the API key is not valid"));
    }
    if stored.revoked_at.is_some() {
        return Err(Refused::Credential("the API key has been revoked"));
    }
    if stored.expires_at <= now {
        return Err(Refused::Credential("the API key has expired"));
    }
    if let Some(why) = key_suspended(&stored, &maker.facts()) {
        return Err(Refused::Credential(why));
    }
    let principal = Principal::new(
        stored.id.to_string(),
        stored.role,
        Some(stored.organisation_id.clone()),
    )
    .map_err(|_| Refused::Credential("the API key's role does not fit its organisation"))?;
    if stored.last_used_on != Some(now.date()) {
        let by = Actor {
            principal: &principal,
            at: now,
            address,
        };
        write_tx(conn, |conn| first_use_today(conn, &by, &stored))?;
    }
    Ok(principal)
}

/// Writes down a key's first use of the day, once however many processes see it at once.
fn first_use_today(conn: &mut DbConn, by: &Actor, key: &ApiKey) -> Result<(), ServiceError> {
    let today = by.at.date();
    if queries::members::key_used_on(conn, &key.id, today)? == 0 {
        return Ok(());
    }
    let step = Step {
        organisation: Some(&key.organisation_id),
        action: AuditAction::ApiKeyUsed,
        target: Some(&key.id),
        detail: format!("first use on {today}"),
    };
    audit::record(conn, by, step)
}

/// Why a key stands suspended, if it does: its maker is disabled, or no longer holds the role
/// (or organisation) the key acts in. It works again if the maker is enabled or given the
/// role back.
pub fn key_suspended(key: &ApiKey, maker: &MemberFacts) -> Option<&'static str> {
    if maker.status == MemberStatus::Disabled {
        return Some("the member who made this API key is disabled");
    }
    let holds_its_role = maker.role == Role::Admin
        || (maker.role == key.role && maker.organisation_id.as_ref() == Some(&key.organisation_id));
    (!holds_its_role).then_some("the member who made this API key no longer holds its role")
}

/// A token that names a member (its subject a member id) holds only while the member does:
/// refused once the member is disabled, once their role or organisation is no longer the
/// token's, and if it was issued (`issued_at`, seconds since 1970) before the member's last
/// change or in the same second, so that enabling a member again does not bring back the
/// tokens of before.
pub fn check_member_token(
    conn: &mut DbConn,
    principal: &Principal,
    issued_at: i64,
) -> Result<(), Refused> {
    let id = principal.subject();
    let member = queries::members::get_member(conn, id)?.ok_or(Refused::Credential(
        "the token names a member that does not exist",
    ))?;
    if member.status == MemberStatus::Disabled {
        return Err(Refused::Credential("this member is disabled"));
    }
    let role: Role = principal.role();
    if member.role != role || member.organisation_id.as_ref() != principal.organisation() {
        return Err(Refused::Credential(
            "this member's role or organisation has changed since the token was issued; sign in again",
        ));
    }
    // Whole seconds: a token issued in the same second as a change is refused too (but not
    // one issued in the second the member was made).
    let changed_at = member.updated_at.and_utc().timestamp();
    let changed = member.updated_at > member.created_at;
    if issued_at < changed_at || (changed && issued_at == changed_at) {
        return Err(Refused::Credential(
            "this member was changed after the token was issued; sign in again",
        ));
    }
    Ok(())
}

/// Every member, for `cofund member list`.
pub fn all_members(conn: &mut DbConn) -> Result<Vec<Member>, ServiceError> {
    Ok(queries::members::all_members(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_its_prefix_and_256_random_bits_and_is_stored_as_a_digest() {
        let key = new_secret();
        assert!(key.starts_with(KEY_PREFIX));
        // 32 bytes in unpadded base32: 52 characters.
        assert_eq!(key.len(), KEY_PREFIX.len() + 52);
        assert_ne!(key, new_secret());
        let digest = key_digest(&key);
        assert_eq!(digest.len(), 64);
        assert!(!digest.contains(&key[KEY_PREFIX.len()..]));
    }
}
