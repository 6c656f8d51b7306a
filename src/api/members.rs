//! `/v1/organisations/{id}/members`, `/v1/members/{id}`: the people of an organisation; and
//! `/v1/organisations/{id}/api-keys`, `/v1/api-keys/{id}/revoke`: its programs' keys.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::{Principal, Role};
use super::error::{ApiError, Problem};
use super::extract::{ClientAddress, JsonBody, NoBody, PageQuery};
use super::{with_db, Page};
use crate::config::Config;
use crate::db::models::{ApiKey, Member};
use crate::db::Pool;
use crate::domain::ids::{ApiKeyId, MemberId, OrganisationId};
use crate::domain::members::{MemberChange, MemberStatus, NewApiKey, NewMember};
use crate::services::audit::Actor;
use crate::services::members as service;

/// A member: a person in one organisation with one role (an admin: in none).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "mem_0190a1b2c3d4e5f60718293a4b5c6d7e", "organisation_id": "org_0190a1b2c3d4e5f60718293a4b5c6d7f", "role": "commissioner", "administers": false, "display_name": "Asha Patel", "email": "asha.patel@herefordshire.example", "status": "invited", "signed_in": false, "created_at": "2026-12-08T09:30:00Z", "updated_at": "2026-12-08T09:30:00Z"}))]
pub struct MemberView {
    /// Its id, `mem_…`.
    pub id: String,
    /// Its organisation; null for an admin.
    pub organisation_id: Option<String>,
    pub role: Role,
    /// Whether it manages its organisation's members.
    pub administers: bool,
    pub display_name: String,
    /// Shown only to the member and to those who manage its organisation's members.
    pub email: String,
    /// `invited` until the first sign-in, `active`, or `disabled` (refused wherever it acts).
    pub status: MemberStatus,
    /// Whether an identity provider's account is bound to it (at its first sign-in).
    pub signed_in: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> MemberView {
        MemberView {
            id: m.id.to_string(),
            organisation_id: m.organisation_id.map(String::from),
            role: m.role,
            administers: m.administers,
            display_name: m.display_name,
            email: m.email,
            status: m.status,
            signed_in: m.oidc_subject.is_some(),
            created_at: m.created_at.and_utc(),
            updated_at: m.updated_at.and_utc(),
        }
    }
}

/// An API key as listed: never the key itself, which was shown once when it was made.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "key_0190a1b2c3d4e5f60718293a4b5c6d80", "organisation_id": "org_0190a1b2c3d4e5f60718293a4b5c6d7f", "role": "commissioner", "name": "Finance system: quarterly statements", "prefix": "cfk_q3vz7k2m", "created_by": "mem_0190a1b2c3d4e5f60718293a4b5c6d7e", "created_at": "2026-12-08T09:30:00Z", "expires_at": "2027-06-06T09:30:00Z", "last_used_on": null, "revoked_at": null, "state": "active"}))]
pub struct ApiKeyView {
    /// Its id, `key_…`: what documents' histories and claim decisions name when it acts.
    pub id: String,
    pub organisation_id: String,
    /// The role it acts in.
    pub role: Role,
    pub name: String,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    /// The member who made it.
    pub created_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The last day it was used; null if never.
    pub last_used_on: Option<chrono::NaiveDate>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// `active`; `suspended` while its maker is disabled or no longer holds the key's role
    /// (it works again if that changes back); `expired`; or `revoked`; as of this answer.
    pub state: String,
}

impl ApiKeyView {
    fn new(k: ApiKey, now: chrono::NaiveDateTime, suspended: bool) -> ApiKeyView {
        let state = match (k.revoked_at, k.expires_at <= now) {
            (Some(_), _) => "revoked",
            (None, true) => "expired",
            (None, false) if suspended => "suspended",
            (None, false) => "active",
        };
        ApiKeyView {
            id: k.id.to_string(),
            organisation_id: k.organisation_id.to_string(),
            role: k.role,
            name: k.name,
            prefix: k.prefix,
            created_by: k.created_by.to_string(),
            created_at: k.created_at.and_utc(),
            expires_at: k.expires_at.and_utc(),
            last_used_on: k.last_used_on,
            revoked_at: k.revoked_at.map(|t| t.and_utc()),
            state: state.to_owned(),
        }
    }
}

/// A key just made: the only answer that holds the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewApiKeyView {
    /// The key (`cfk_` and 52 characters): send it as `Authorization: Bearer cfk_…`. It is
    /// shown now and never again: cofund keeps only its SHA-256.
    pub key: String,
    #[serde(flatten)]
    pub stored: ApiKeyView,
}

const PROBLEM: &str = "application/problem+json";

/// Invite a member.
#[utoipa::path(
    post, path = "/v1/organisations/{id}/members", tag = "members", operation_id = "inviteMember",
    description = "An admin, or an active member of the organisation who administers it (`administers`). Invites a person into the organisation in a role that fits its kind (the same rule as tokens: no `admin`, who belongs to none). They are `invited` until their first sign-in, which binds their identity provider's account when it gives this email, verified. An email already in the organisation is a 409.",
    params(("id" = String, Path)),
    request_body = NewMember,
    responses(
        (status = 201, description = "The member, invited", body = MemberView),
        (status = 403, description = "The caller does not manage this organisation's members", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such organisation", body = Problem, content_type = PROBLEM),
        (status = 409, description = "A member with this email is already in the organisation", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A field the rules refuse; `errors` names each", body = crate::api::error::documented::ValidationProblem, content_type = PROBLEM),
    ),
    security(("bearer" = []))
)]
pub async fn invite(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<OrganisationId>,
    address: ClientAddress,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let input = body.parse::<NewMember>()?;
    let at = config.clock.now();
    let member = with_db(&pool, move |conn| {
        let by = Actor {
            principal: &principal,
            at,
            address: address.0,
        };
        Ok(service::invite_member(conn, &by, &id, input)?)
    })
    .await?;
    Ok(HttpResponse::Created().json(MemberView::from(member)))
}

/// List an organisation's members.
#[utoipa::path(
    get, path = "/v1/organisations/{id}/members", tag = "members", operation_id = "listMembers",
    description = "Those who manage the organisation's members (an admin, or its administrators); nothing changes. Ordered by id: pass `next_cursor` back as `cursor` for the next page.",
    params(("id" = String, Path), PageQuery),
    responses(
        (status = 200, description = "A page of members", body = Page<MemberView>),
        (status = 403, description = "The caller does not manage this organisation's members", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such organisation", body = Problem, content_type = PROBLEM),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    pool: web::Data<Pool>,
    principal: Principal,
    id: web::Path<OrganisationId>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<MemberView>>, ApiError> {
    let limit = query.limit()?;
    let cursor = query.cursor.clone();
    let members = with_db(&pool, move |conn| {
        Ok(service::list_members(
            conn,
            &principal,
            &id,
            cursor.as_deref(),
            limit,
        )?)
    })
    .await?;
    let items = members.into_iter().map(MemberView::from).collect();
    Ok(web::Json(Page::new(items, limit, |m: &MemberView| {
        m.id.clone()
    })))
}

/// One member.
#[utoipa::path(
    get, path = "/v1/members/{id}", tag = "members", operation_id = "getMember",
    description = "The member themself, or those who manage its organisation's members; to anyone else a 404, as if there were no such member. Nothing changes.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The member", body = MemberView),
        (status = 404, description = "No member with this id that the caller may see", body = Problem, content_type = PROBLEM),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    pool: web::Data<Pool>,
    principal: Principal,
    id: web::Path<MemberId>,
) -> Result<web::Json<MemberView>, ApiError> {
    let member = with_db(&pool, move |conn| {
        Ok(service::get_member(conn, &principal, &id)?)
    })
    .await?;
    Ok(web::Json(member.into()))
}

/// Runs a change to a member and answers it as it now stands.
async fn change(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    address: ClientAddress,
    (id, change): (MemberId, MemberChange),
) -> Result<web::Json<MemberView>, ApiError> {
    let at = config.clock.now();
    let member = with_db(&pool, move |conn| {
        let by = Actor {
            principal: &principal,
            at,
            address: address.0,
        };
        Ok(service::change_member(conn, &by, &id, change)?)
    })
    .await?;
    Ok(web::Json(member.into()))
}

/// Change a member's role or administrator flag.
#[utoipa::path(
    patch, path = "/v1/members/{id}", tag = "members", operation_id = "changeMember",
    description = "Those who manage the member's organisation. A field left out stays as it is. The role must fit the organisation's kind; nobody changes their own role, and an administrator cannot step down as the organisation's last (409). A token issued before a role change is refused from the next request on (401): the member signs in again.",
    params(("id" = String, Path)),
    request_body = MemberChange,
    responses(
        (status = 200, description = "The member as changed", body = MemberView),
        (status = 403, description = "The caller does not manage this member, or asks to change its own role", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No member with this id that the caller may see", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The organisation would be left with no administrator", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A role that does not fit the organisation; `errors` names it", body = crate::api::error::documented::ValidationProblem, content_type = PROBLEM),
    ),
    security(("bearer" = []))
)]
pub async fn patch(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<MemberId>,
    address: ClientAddress,
    body: JsonBody,
) -> Result<web::Json<MemberView>, ApiError> {
    let asked = body.parse::<MemberChange>()?;
    change(pool, config, principal, address, (id.into_inner(), asked)).await
}

/// Disable a member.
#[utoipa::path(
    post, path = "/v1/members/{id}/disable", tag = "members", operation_id = "disableMember",
    description = "Those who manage the member's organisation. From the next request on, every token naming the member and every API key it made are refused (401), on every process. An administrator cannot disable itself as the organisation's last (409). Disabling a disabled member changes nothing. No body.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The member, disabled", body = MemberView),
        (status = 403, description = "The caller does not manage this member", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No member with this id that the caller may see", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The organisation would be left with no administrator", body = Problem, content_type = PROBLEM),
    ),
    security(("bearer" = []))
)]
pub async fn disable(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<MemberId>,
    address: ClientAddress,
    _no_body: NoBody,
) -> Result<web::Json<MemberView>, ApiError> {
    let asked = MemberChange {
        status: Some(MemberStatus::Disabled),
        ..MemberChange::default()
    };
    change(pool, config, principal, address, (id.into_inner(), asked)).await
}

/// Enable a disabled member.
#[utoipa::path(
    post, path = "/v1/members/{id}/enable", tag = "members", operation_id = "enableMember",
    description = "Those who manage the member's organisation. The member may act again: `active` if it has signed in before, else `invited`. Its API keys work again unless revoked or expired. No body.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The member, enabled", body = MemberView),
        (status = 403, description = "The caller does not manage this member", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No member with this id that the caller may see", body = Problem, content_type = PROBLEM),
    ),
    security(("bearer" = []))
)]
pub async fn enable(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<MemberId>,
    address: ClientAddress,
    _no_body: NoBody,
) -> Result<web::Json<MemberView>, ApiError> {
    let asked = MemberChange {
        status: Some(MemberStatus::Active),
        ..MemberChange::default()
    };
    change(pool, config, principal, address, (id.into_inner(), asked)).await
}

/// Make an API key.
#[utoipa::path(
    post, path = "/v1/organisations/{id}/api-keys", tag = "members", operation_id = "createApiKey",
    description = "A member of the organisation, for it, in its own role (an admin member: any role the organisation's kind allows but admin); a token that names no member, or a key, cannot make keys (403). The answer holds the key, once: cofund keeps only its SHA-256. Send it as `Authorization: Bearer cfk_…` wherever a token goes. It stops working when it expires (at most 366 days, default 90), when it is revoked, or while its maker is disabled.",
    params(("id" = String, Path)),
    request_body = NewApiKey,
    responses(
        (status = 201, description = "The key, shown this once, and its record", body = NewApiKeyView),
        (status = 403, description = "The caller is not a member of this organisation", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such organisation", body = Problem, content_type = PROBLEM),
        (status = 422, description = "A name, role or lifetime the rules refuse; `errors` names each", body = crate::api::error::documented::ValidationProblem, content_type = PROBLEM),
    ),
    security(("bearer" = []))
)]
pub async fn create_key(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<OrganisationId>,
    address: ClientAddress,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let input = body.parse::<NewApiKey>()?;
    let now = config.clock.now();
    let (stored, key) = with_db(&pool, move |conn| {
        let by = Actor {
            principal: &principal,
            at: now,
            address: address.0,
        };
        Ok(service::create_api_key(conn, &by, &id, input)?)
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(NewApiKeyView {
            key,
            stored: ApiKeyView::new(stored, now, false),
        }))
}

/// List an organisation's API keys.
#[utoipa::path(
    get, path = "/v1/organisations/{id}/api-keys", tag = "members", operation_id = "listApiKeys",
    description = "Those who manage the organisation's members see all its keys; any other member of it, the keys it made. Never the keys themselves. Nothing changes. Ordered by id: pass `next_cursor` back as `cursor`.",
    params(("id" = String, Path), PageQuery),
    responses(
        (status = 200, description = "A page of keys", body = Page<ApiKeyView>),
        (status = 403, description = "The caller is not a member of this organisation", body = Problem, content_type = PROBLEM),
        (status = 404, description = "No such organisation", body = Problem, content_type = PROBLEM),
    ),
    security(("bearer" = []))
)]
pub async fn list_keys(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<OrganisationId>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<ApiKeyView>>, ApiError> {
    let limit = query.limit()?;
    let cursor = query.cursor.clone();
    let now = config.clock.now();
    let keys = with_db(&pool, move |conn| {
        Ok(service::list_api_keys(
            conn,
            &principal,
            &id,
            cursor.as_deref(),
            limit,
        )?)
    })
    .await?;
    let items = keys
        .into_iter()
        .map(|k| ApiKeyView::new(k.key, now, k.suspended))
        .collect();
    Ok(web::Json(Page::new(items, limit, |k: &ApiKeyView| {
        k.id.clone()
    })))
}

/// Revoke an API key.
#[utoipa::path(
    post, path = "/v1/api-keys/{id}/revoke", tag = "members", operation_id = "revokeApiKey",
    description = "Its maker, or those who manage its organisation's members. From the next request on it is refused (401) by every process; revoking a revoked key changes nothing. No body.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The key, revoked", body = ApiKeyView),
        (status = 404, description = "No key with this id that the caller may see", body = Problem, content_type = PROBLEM),
    ),
    security(("bearer" = []))
)]
pub async fn revoke_key(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<ApiKeyId>,
    address: ClientAddress,
    _no_body: NoBody,
) -> Result<web::Json<ApiKeyView>, ApiError> {
    let now = config.clock.now();
    let key = with_db(&pool, move |conn| {
        let by = Actor {
            principal: &principal,
            at: now,
            address: address.0,
        };
        Ok(service::revoke_api_key(conn, &by, &id)?)
    })
    .await?;
    Ok(web::Json(ApiKeyView::new(key, now, false)))
}
