//! Request extractors whose failures are problems that name the offending field.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::IntoParams;

use super::error::{from_actix, ApiError};
use crate::domain::limits;
use crate::domain::FieldError;

/// A JSON body, read but not yet parsed: handlers check who is asking before they look at
/// what is asked (a 403 comes before a 422). [`JsonBody::parse`] turns malformed JSON into a
/// 400 and a well-formed body with a wrong field into a 422 whose `errors` names the field by
/// its path (`payers[1].max_commitment.amount`).
pub struct JsonBody {
    bytes: web::Bytes,
}

impl JsonBody {
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.bytes)
    }

    /// The body as sent, which idempotent writes fingerprint.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl FromRequest for JsonBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<mime::Mime>().ok())
            .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType(
                    "send the body as JSON with Content-Type: application/json".into(),
                ));
            }
            let bytes = body.await.map_err(|e| from_actix(&e))?;
            Ok(JsonBody { bytes })
        })
    }
}

/// A request that takes no body: an empty one or `{}` (what a client that always sends JSON
/// sends); anything else is a mistake, and refused before anything is done.
pub struct NoBody;

impl FromRequest for NoBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(|e| from_actix(&e))?;
            match String::from_utf8_lossy(&bytes).trim() {
                "" | "{}" => Ok(NoBody),
                _ => Err(ApiError::validation("body", "this request takes no body")),
            }
        })
    }
}

/// Parses a JSON body: malformed JSON is a 400; a string that could not be stored (too long,
/// or holding a control character such as NUL, which PostgreSQL refuses) or a field of the
/// wrong shape is a 422 naming the field. Error details never quote a value the client sent:
/// any field may hold a participant reference.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::BadRequest(format!(
            "the body is not valid JSON: {}",
            limits::without_values(&e.to_string())
        ))
    })?;
    // Every body cofund takes is an object: serde would otherwise read a struct from an
    // array of its fields' values (`[null, null]`), which no client means.
    if !value.is_object() {
        return Err(ApiError::validation("body", "must be a JSON object"));
    }
    // Shape first: every input type refuses unknown fields, so the strings are then checked
    // under cofund's own field names only, never a name the client made up.
    let typed = serde_path_to_error::deserialize(&value).map_err(|e| {
        let message = limits::without_values(&e.inner().to_string());
        // An unknown field is reported at its parent: its own name is the client's.
        let unknown = message.starts_with("unknown field");
        let path = path_string(e.path(), unknown);
        ApiError::validation(&field_of(&path, &message), message)
    })?;
    let mut errors = Vec::new();
    check_strings(&value, &mut String::new(), &mut errors);
    if errors.is_empty() {
        Ok(typed)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Holds every string of a JSON document to what the database can store: at most
/// [`limits::MAX_TEXT_CHARS`] characters (fields with tighter limits check them later) and no
/// control characters, except line breaks and tabs in a free-text `reason`.
fn check_strings(value: &serde_json::Value, path: &mut String, errors: &mut Vec<FieldError>) {
    const MAX_REPORTED: usize = 20;
    match value {
        serde_json::Value::String(s) => {
            let multiline = path.ends_with("reason");
            if let Some(problem) = limits::text_problem(s, limits::MAX_TEXT_CHARS, multiline) {
                if errors.len() < MAX_REPORTED {
                    let field = if path.is_empty() {
                        "body"
                    } else {
                        path.as_str()
                    };
                    errors.push(FieldError::new(field, problem));
                }
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_strings(item, path, errors);
                path.truncate(len);
            }
        }
        serde_json::Value::Object(members) => {
            for (name, member) in members {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(name);
                check_strings(member, path, errors);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// A deserialisation path as `payers[1].share`, without its last segment when `parent`.
fn path_string(path: &serde_path_to_error::Path, parent: bool) -> String {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let keep = if parent {
        segments.len().saturating_sub(1)
    } else {
        segments.len()
    };
    let mut out = String::new();
    for segment in &segments[..keep] {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => out.push('?'),
        }
    }
    if out.is_empty() {
        ".".to_owned()
    } else {
        out
    }
}

/// The field a deserialisation error is about. serde reports a missing field at its parent's
/// path, so the field's own name is taken from the message.
fn field_of(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, missing) {
        (".", Some(name)) => name.to_owned(),
        (".", None) => "body".to_owned(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        (path, None) => path.to_owned(),
    }
}

/// Hex SHA-256 of the concatenated parts: what idempotent writes compare between retries.
pub fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// `?cursor=&limit=` on every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

impl PageQuery {
    pub const DEFAULT_LIMIT: u32 = 100;
    pub const MAX_LIMIT: u32 = 500;

    pub fn limit(&self) -> Result<i64, ApiError> {
        match self.limit.unwrap_or(Self::DEFAULT_LIMIT) {
            n if (1..=Self::MAX_LIMIT).contains(&n) => Ok(i64::from(n)),
            _ => Err(ApiError::validation(
                "limit",
                format!("must be from 1 to {}", Self::MAX_LIMIT),
            )),
        }
    }
}

/// A query parameter that must be one of a closed set of labels, if given.
pub fn label<T: crate::domain::Label>(
    field: &str,
    text: Option<&str>,
) -> Result<Option<T>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    T::from_label(text)
        .map(Some)
        .ok_or_else(|| ApiError::validation(field, format!("must be {}", T::listed())))
}

/// A settlement period given as `period` (a body field or query parameter).
pub fn period(text: &str) -> Result<crate::domain::period::Period, ApiError> {
    crate::domain::period::Period::parse(text).ok_or_else(|| {
        ApiError::validation(
            "period",
            "is not a period such as 2021-Q1 or 2021-03, from 1900 to 2199",
        )
    })
}

/// The `Idempotency-Key` header, when sent.
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    match req.headers().get("idempotency-key") {
        None => Ok(None),
        Some(value) => {
            let key = value.to_str().unwrap_or("").trim();
            if key.is_empty() || key.len() > 255 {
                Err(ApiError::validation(
                    "Idempotency-Key",
                    "must be 1 to 255 visible characters",
                ))
            } else {
                Ok(Some(key.to_owned()))
            }
        }
    }
}

/// The address a request came from, for the audit trail: the connection's peer (behind a
/// proxy, the proxy's). A `Forwarded` or `X-Forwarded-For` header is not believed: anyone can
/// send one.
pub struct ClientAddress(pub Option<String>);

impl FromRequest for ClientAddress {
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(ClientAddress(
            req.peer_addr().map(|a| a.ip().to_string()),
        )))
    }
}
