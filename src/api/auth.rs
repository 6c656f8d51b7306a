//! Bearer JWT authentication and the roles of API.md.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use jsonwebtoken::{decode, encode, Header, Validation};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::with_db;
use crate::config::{Config, JwtSettings};
use crate::db::{queries, Pool};
use crate::domain::access::role_fits;
use crate::domain::ids::OrganisationId;
use crate::domain::limits;
use crate::domain::registry::OrganisationKind;
use crate::domain::sessions::{origin_is_ours, same_secret};
use crate::metrics::Metrics;
use crate::services::{members, sessions};

pub use crate::domain::access::{Principal, Role};

/// The claims cofund reads from a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenClaims {
    pub sub: String,
    pub role: Role,
    /// The organisation the token acts for: required for every role but admin, and refused on
    /// an admin's token (an admin acts for none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    pub exp: i64,
    pub iat: i64,
    /// Not before: a token is refused until this time (checked when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

pub struct Authenticator {
    settings: JwtSettings,
    validation: Validation,
    /// Kinds of organisations tokens have named. Organisations are never deleted and their
    /// kind never changes, so an entry never goes stale; unknown ids are not cached.
    known_kinds: RwLock<HashMap<OrganisationId, OrganisationKind>>,
}

impl Authenticator {
    pub fn new(settings: JwtSettings) -> Authenticator {
        // Only the configured algorithm is accepted: no `none`, no HS/RS confusion.
        let mut validation = Validation::new(settings.algorithm);
        validation.required_spec_claims = HashSet::from(["exp".to_owned(), "sub".to_owned()]);
        validation.leeway = 30;
        validation.validate_nbf = true;
        match &settings.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.required_spec_claims.insert("aud".to_owned());
            }
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &settings.issuer {
            validation.set_issuer(&[iss]);
            validation.required_spec_claims.insert("iss".to_owned());
        }
        Authenticator {
            settings,
            validation,
            known_kinds: RwLock::new(HashMap::new()),
        }
    }

    /// Checks the signature and the claims of a token. The organisation it names is checked
    /// by [`Authenticator::check_organisation`], which needs the database.
    pub fn authenticate(&self, token: &str) -> Result<Principal, ApiError> {
        self.authenticate_issued(token)
            .map(|(principal, _)| principal)
    }

    /// [`Authenticator::authenticate`], with when the token was issued (`iat`, seconds since
    /// 1970).
    fn authenticate_issued(&self, token: &str) -> Result<(Principal, i64), ApiError> {
        let data = decode::<TokenClaims>(token, &self.settings.decoding_key, &self.validation)
            .map_err(|e| ApiError::Unauthorized(format!("the bearer token is not valid: {e}")))?;
        let claims = data.claims;
        // Both are stored (who submitted, who decided): held to what any stored text is.
        for (claim, value) in [("sub", Some(&claims.sub)), ("org", claims.org.as_ref())] {
            if value.is_some_and(|v| v.is_empty() || limits::text_problem(v, 255, false).is_some())
            {
                return Err(ApiError::Unauthorized(format!(
                    "the token's '{claim}' claim must be 1 to 255 characters without control characters"
                )));
            }
        }
        // These subjects name what is not a token: an API key's principal and the command
        // line, as the audit trail records them.
        if claims.sub.starts_with("key_") || claims.sub == "operator" {
            return Err(ApiError::Unauthorized(
                "the token's 'sub' claim is reserved: `key_…` names API keys and `operator` the command line".into(),
            ));
        }
        let organisation = claims.org.map(OrganisationId::from);
        let principal = Principal::new(claims.sub, claims.role, organisation)
            .map_err(ApiError::Unauthorized)?;
        Ok((principal, claims.iat))
    }

    /// Signs a token with the configured secret (HS256 only: RS256 tokens come from the
    /// identity provider that holds the private key).
    pub fn mint(
        &self,
        subject: &str,
        role: Role,
        organisation_id: Option<&str>,
        ttl: chrono::Duration,
    ) -> Result<String, String> {
        let key = self.settings.encoding_key.as_ref().ok_or(
            "this server verifies RS256 tokens from an external identity provider; get a token there",
        )?;
        match (role, organisation_id) {
            (Role::Admin, Some(_)) => {
                return Err("an admin token names no organisation: leave out --org".into())
            }
            (_, None) if role != Role::Admin => {
                return Err(format!("a {} token needs --org", role.as_str()))
            }
            _ => {}
        }
        // The system clock, not the application's: a token's times are checked by
        // jsonwebtoken against the system clock too, wherever it is presented.
        let now = chrono::Utc::now().timestamp();
        let claims = TokenClaims {
            sub: subject.to_owned(),
            role,
            org: organisation_id.map(str::to_owned),
            iat: now,
            nbf: None,
            exp: now + ttl.num_seconds(),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
        };
        encode(&Header::new(self.settings.algorithm), &claims, key).map_err(|e| e.to_string())
    }
}

impl Authenticator {
    /// The organisation a token names must exist and its kind must fit the token's role (a
    /// provider token for a council is refused).
    pub fn check_organisation(
        &self,
        principal: &Principal,
        kind_of: impl FnOnce(&str) -> Result<Option<OrganisationKind>, ApiError>,
    ) -> Result<(), ApiError> {
        let Some((role, org)) = principal.member() else {
            return Ok(());
        };
        let cached = self
            .known_kinds
            .read()
            .ok()
            .and_then(|k| k.get(org).copied());
        let kind = match cached {
            Some(kind) => kind,
            None => {
                let kind = kind_of(org)?.ok_or_else(|| {
                    ApiError::Unauthorized(
                        "the token names an organisation that does not exist".into(),
                    )
                })?;
                if let Ok(mut known) = self.known_kinds.write() {
                    known.insert(org.clone(), kind);
                }
                kind
            }
        };
        if role_fits(role.into(), kind) {
            Ok(())
        } else {
            Err(ApiError::Unauthorized(format!(
                "a {} token cannot act for a {} organisation",
                principal.role().as_str(),
                kind.as_str()
            )))
        }
    }
}

/// What a request authenticates with: the `Authorization: Bearer` header's token (a JWT, its
/// signature and claims already checked) or API key (which only the database can tell), else
/// the session cookie, else nothing.
enum Credential {
    /// A token, with when it was issued (`iat`).
    Token(Principal, i64),
    /// No credential at all: refused, but not counted as a refused credential.
    Missing,
    Key(String),
    /// A browser's session cookie (only when no `Authorization` header is sent).
    Session(String),
}

/// The session cookie: `__Host-` so that it is sent only to this host, over HTTPS, for every
/// path, and set by nobody else (a subdomain cannot plant one).
pub const SESSION_COOKIE: &str = "__Host-cofund-session";
/// The header a state-changing request made with the session cookie carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Principal, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let credential = credential_of(req);
        let authenticator = req.app_data::<web::Data<Authenticator>>().cloned();
        let pool = req.app_data::<web::Data<Pool>>().cloned();
        let now = req
            .app_data::<web::Data<Config>>()
            .map(|config| config.clock.now());
        let metrics = req.app_data::<web::Data<Metrics>>().cloned();
        let address = req.peer_addr().map(|a| a.ip().to_string());
        // Read only for a session: a token's or a key's request needs none of it.
        let req_facts =
            matches!(credential, Ok(Credential::Session(_))).then(|| RequestFacts::of(req));
        Box::pin(async move {
            let (Some(authenticator), Some(pool), Some(now)) = (authenticator, pool, now) else {
                return Err(ApiError::Internal("no authenticator configured".into()));
            };
            let refused = |credential: &str, e: ApiError| {
                if let (ApiError::Unauthorized(why), Some(metrics)) = (&e, &metrics) {
                    metrics.refused_credential(credential);
                    tracing::info!(credential, reason = %why, "credential refused");
                }
                e
            };
            match credential.map_err(|e| refused("token", e))? {
                Credential::Key(key) => with_db(&pool, move |conn| {
                    members::authenticate_key(conn, &key, now, address).map_err(refusal)
                })
                .await
                .map_err(|e| refused("api_key", e)),
                Credential::Session(cookie) => {
                    let live = with_db(&pool, move |conn| {
                        sessions::authenticate(conn, &cookie, now).map_err(refusal)
                    })
                    .await
                    .map_err(|e| refused("session", e))?;
                    if let Some(facts) = req_facts {
                        facts.check(&live.csrf_token)?;
                    }
                    Ok(live.principal)
                }
                Credential::Missing => Err(ApiError::Unauthorized(
                    "send 'Authorization: Bearer <token>'".into(),
                )),
                Credential::Token(principal, issued_at) => {
                    check_token(&pool, &authenticator, principal.clone(), issued_at)
                        .await
                        .map_err(|e| refused("token", e))?;
                    Ok(principal)
                }
            }
        })
    }
}

/// The database's part of accepting a token: a token naming a member holds only while the
/// member does, and the organisation it names must exist in a kind that fits its role.
async fn check_token(
    pool: &web::Data<Pool>,
    authenticator: &web::Data<Authenticator>,
    principal: Principal,
    issued_at: i64,
) -> Result<(), ApiError> {
    let names_member = crate::services::access::names_member(&principal);
    if principal.organisation().is_none() && !names_member {
        return Ok(());
    }
    let checker = authenticator.clone();
    with_db(pool, move |conn| {
        if names_member {
            members::check_member_token(conn, &principal, issued_at).map_err(refusal)?;
        }
        checker.check_organisation(&principal, |org| {
            Ok(queries::organisations::organisation_kinds(conn, &[org])?
                .get(org)
                .copied())
        })
    })
    .await
}

/// A refused credential is a 401 with its reason; anything else is what it is.
fn refusal(refused: members::Refused) -> ApiError {
    match refused {
        members::Refused::Credential(why) => ApiError::Unauthorized(why.into()),
        members::Refused::Service(e) => e.into(),
    }
}

fn credential_of(req: &HttpRequest) -> Result<Credential, ApiError> {
    let authenticator = req
        .app_data::<web::Data<Authenticator>>()
        .ok_or_else(|| ApiError::Internal("no authenticator configured".into()))?;
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return match req.cookie(SESSION_COOKIE) {
            Some(cookie) => Ok(Credential::Session(cookie.value().to_owned())),
            None => Ok(Credential::Missing),
        };
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("the Authorization header must be 'Bearer <token>'".into())
        })?;
    if token.starts_with(members::KEY_PREFIX) {
        return Ok(Credential::Key(token.to_owned()));
    }
    authenticator
        .authenticate_issued(token)
        .map(|(principal, issued_at)| Credential::Token(principal, issued_at))
}

/// What a session's state-changing request must show: the session's CSRF token in a header,
/// and this site's `Origin`. A cross-site page can make a browser send the cookie, but can
/// neither read the token nor forge the `Origin`.
struct RequestFacts {
    changes_state: bool,
    token: Option<String>,
    origin: Option<String>,
    host: Option<String>,
    public_url: String,
}

impl RequestFacts {
    fn of(req: &HttpRequest) -> RequestFacts {
        let text = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        RequestFacts {
            changes_state: !req.method().is_safe(),
            token: text(CSRF_HEADER),
            origin: text("origin"),
            host: text("host"),
            public_url: req
                .app_data::<web::Data<Config>>()
                .map(|c| c.mail.public_url.clone())
                .unwrap_or_default(),
        }
    }

    fn check(&self, session_token: &str) -> Result<(), ApiError> {
        if !self.changes_state {
            return Ok(());
        }
        let token_matches = same_secret(self.token.as_deref(), session_token);
        let ours = origin_is_ours(
            self.origin.as_deref(),
            self.host.as_deref(),
            &self.public_url,
        );
        if token_matches && ours {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "a request that changes something with the session cookie must carry the session's X-CSRF-Token header and come from this site (Origin)".into(),
            ))
        }
    }
}
