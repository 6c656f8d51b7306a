//! Bearer JWT authentication and the roles of API.md.

use std::collections::HashSet;
use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use jsonwebtoken::{decode, encode, Header, Validation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use crate::config::JwtSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[clap(rename_all = "snake_case")]
pub enum Role {
    Admin,
    FundManager,
    Commissioner,
    Provider,
    Validator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::FundManager => "fund_manager",
            Role::Commissioner => "commissioner",
            Role::Provider => "provider",
            Role::Validator => "validator",
        }
    }
}

/// The claims cofund reads from a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenClaims {
    pub sub: String,
    pub role: Role,
    /// The organisation the token acts for; required for every role but admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Who is calling: the authenticated subject, its role and its organisation.
#[derive(Debug, Clone)]
pub struct Principal {
    pub subject: String,
    pub role: Role,
    pub organisation_id: Option<String>,
}

impl Principal {
    /// Refuses the request unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::Forbidden(format!(
                "a {} token may not do this (allowed: {})",
                self.role.as_str(),
                allowed.join(", ")
            )))
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// True when the caller acts for `organisation_id`.
    pub fn acts_for(&self, organisation_id: &str) -> bool {
        self.organisation_id.as_deref() == Some(organisation_id)
    }

    /// Whose money the caller may see on a project it can see: a commissioner sees its own
    /// organisation's only (`Some(org)`); every other role sees every payer's (`None`).
    pub fn own_money_only(&self) -> Option<&str> {
        (self.role == Role::Commissioner).then(|| self.organisation_id.as_deref().unwrap_or(""))
    }

    /// A stable name for the caller, used to scope idempotency keys.
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}",
            self.role.as_str(),
            self.organisation_id.as_deref().unwrap_or("-"),
            self.subject
        )
    }
}

pub struct Authenticator {
    settings: JwtSettings,
    validation: Validation,
}

impl Authenticator {
    pub fn new(settings: JwtSettings) -> Authenticator {
        // Only the configured algorithm is accepted: no `none`, no HS/RS confusion.
        let mut validation = Validation::new(settings.algorithm);
        validation.required_spec_claims = HashSet::from(["exp".to_owned(), "sub".to_owned()]);
        validation.leeway = 30;
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
        }
    }

    pub fn authenticate(&self, token: &str) -> Result<Principal, ApiError> {
        let data = decode::<TokenClaims>(token, &self.settings.decoding_key, &self.validation)
            .map_err(|e| ApiError::Unauthorized(format!("the bearer token is not valid: {e}")))?;
        let claims = data.claims;
        if claims.role != Role::Admin && claims.org.as_deref().unwrap_or("").is_empty() {
            return Err(ApiError::Unauthorized(format!(
                "a {} token must name its organisation in the 'org' claim",
                claims.role.as_str()
            )));
        }
        Ok(Principal {
            subject: claims.sub,
            role: claims.role,
            organisation_id: claims.org,
        })
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
        if role != Role::Admin && organisation_id.is_none() {
            return Err(format!("a {} token needs --org", role.as_str()));
        }
        let now = chrono::Utc::now().timestamp();
        let claims = TokenClaims {
            sub: subject.to_owned(),
            role,
            org: organisation_id.map(str::to_owned),
            iat: now,
            exp: now + ttl.num_seconds(),
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
        };
        encode(&Header::new(self.settings.algorithm), &claims, key).map_err(|e| e.to_string())
    }
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Principal, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(principal_of(req))
    }
}

fn principal_of(req: &HttpRequest) -> Result<Principal, ApiError> {
    let authenticator = req
        .app_data::<web::Data<Authenticator>>()
        .ok_or_else(|| ApiError::Internal("no authenticator configured".into()))?;
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("send 'Authorization: Bearer <token>'".into()))?;
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
    authenticator.authenticate(token)
}
