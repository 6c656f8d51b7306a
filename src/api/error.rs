//! One error type for the whole API, rendered as `application/problem+json` (RFC 9457).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::FieldError;
use crate::services::access::AccessError;
use crate::services::error::ServiceError;
use crate::services::stored_terms::CorruptTerms;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// `Display` and `Debug` are written by hand (below): they are what the request log prints for
/// a failed request, and they stay short whatever the error carries. The problem sent to the
/// client has the whole [`ApiError::detail`].
pub enum ApiError {
    BadRequest(String),
    Validation(Vec<FieldError>),
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    MethodNotAllowed {
        allow: &'static str,
    },
    Conflict(String),
    PayloadTooLarge(String),
    UriTooLong(String),
    UnsupportedMediaType(String),
    Unavailable(String),
    /// A well-formed request the rules refuse (422), with members added to the problem, such
    /// as the reasons a claim was rejected or a bulk file's per-row results.
    Refused {
        slug: &'static str,
        title: &'static str,
        detail: String,
        /// Boxed: errors travel in every `Result`, and most carry none.
        extensions: Box<serde_json::Map<String, serde_json::Value>>,
    },
    /// Logged in full; the client sees only that something failed.
    Internal(String),
}

/// Longest detail a log line carries for one error.
const MAX_LOGGED_DETAIL: usize = 300;
/// Most field errors or reasons a log line names.
const MAX_LOGGED_ITEMS: usize = 3;

impl ApiError {
    /// The whole detail, as the client is told it.
    pub fn detail(&self) -> String {
        match self {
            ApiError::BadRequest(m)
            | ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::PayloadTooLarge(m)
            | ApiError::UriTooLong(m)
            | ApiError::UnsupportedMediaType(m)
            | ApiError::Unavailable(m) => m.clone(),
            ApiError::Validation(_) => "the request has invalid fields".to_owned(),
            ApiError::MethodNotAllowed { allow } => {
                format!("this method is not allowed here; use {allow}")
            }
            ApiError::Refused { detail, .. } => detail.clone(),
            ApiError::Internal(m) => format!("internal error: {m}"),
        }
    }
}

/// Bounded, for log lines: the start of the detail.
impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&truncated(&self.detail()))
    }
}

impl std::error::Error for ApiError {}

/// Bounded: the kind, the start of the detail and counts, never a whole report. A refused bulk
/// file's per-row results are in the response, not in the log.
impl std::fmt::Debug for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (status, slug, _) = self.kind();
        write!(
            f,
            "{} {slug}: {}",
            status.as_u16(),
            truncated(&self.detail())
        )?;
        match self {
            ApiError::Validation(errors) => {
                let fields: Vec<&str> = errors
                    .iter()
                    .take(MAX_LOGGED_ITEMS)
                    .map(|e| e.field.as_str())
                    .collect();
                write!(
                    f,
                    " ({} fields: {}",
                    errors.len(),
                    truncated(&fields.join(", "))
                )?;
                if errors.len() > MAX_LOGGED_ITEMS {
                    f.write_str(", …")?;
                }
                f.write_str(")")
            }
            ApiError::Refused { extensions, .. } => {
                let sizes: Vec<String> = extensions
                    .iter()
                    .map(|(name, value)| match value {
                        serde_json::Value::Array(items) => format!("{name}: {} items", items.len()),
                        _ => name.clone(),
                    })
                    .take(MAX_LOGGED_ITEMS)
                    .collect();
                write!(f, " [{}]", sizes.join(", "))
            }
            _ => Ok(()),
        }
    }
}

fn truncated(text: &str) -> String {
    match text.char_indices().nth(MAX_LOGGED_DETAIL) {
        Some((at, _)) => format!("{}… ({} bytes)", &text[..at], text.len()),
        None => text.to_owned(),
    }
}

/// A problem document (RFC 9457). `type` is `/problems/{slug}`; problems of particular kinds
/// add members: `errors` ([`ValidationProblem`]), `reasons` ([`ClaimRejectedProblem`]) or a
/// bulk file's report ([`BulkRejectedProblem`]).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/not-found",
    "title": "Not found",
    "status": 404,
    "detail": "no such project"
}))]
pub struct Problem {
    /// `/problems/` and a slug such as `not-found`, `conflict` or `forbidden`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem, the same for every problem of its `type` (`Not
    /// found`).
    pub title: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// What went wrong, in words a person can act on. Never quotes a participant reference.
    pub detail: String,
    /// Documented by [`ValidationProblem`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(ignore)]
    pub errors: Vec<FieldError>,
    /// Problem-specific members (RFC 9457 extensions), e.g. `reasons` or `results`.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// The response documents of the problems that carry members of their own. They describe
/// what [`ApiError::problem`] writes (a [`Problem`] with `errors` or extensions); nothing
/// builds them.
pub mod documented {
    use serde::Serialize;
    use utoipa::ToSchema;

    use super::Problem;
    use crate::domain::claims::Reason;
    use crate::domain::FieldError;

    /// The request was well-formed but fields are invalid (422, `/problems/validation-failed`).
    #[derive(Serialize, ToSchema)]
    #[schema(example = json!({
        "type": "/problems/validation-failed",
        "title": "Validation failed",
        "status": 422,
        "detail": "the request has invalid fields",
        "errors": [{"field": "payers", "detail": "shares must sum to exactly 1; they sum to 0.9"}]
    }))]
    pub struct ValidationProblem {
        #[serde(flatten)]
        problem: Problem,
        /// Each offending field, by its path in the request (`payers[1].share`).
        errors: Vec<FieldError>,
    }

    /// The contract's rules refuse the claim (422, `/problems/claim-rejected`); nothing is
    /// stored.
    #[derive(Serialize, ToSchema)]
    #[schema(example = json!({
        "type": "/problems/claim-rejected",
        "title": "Claim rejected",
        "status": 422,
        "detail": "EMPLOYED_13W has already been claimed for this participant",
        "reasons": [{"code": "duplicate", "detail": "EMPLOYED_13W has already been claimed for this participant"}]
    }))]
    pub struct ClaimRejectedProblem {
        #[serde(flatten)]
        problem: Problem,
        /// Every rule the claim breaks, with a stable `code`.
        reasons: Vec<Reason>,
    }

    /// An all-or-nothing bulk file had rows that break the rules (422,
    /// `/problems/bulk-rejected`): nothing was stored; the members are the file's report, with
    /// every row's result.
    #[derive(Serialize, ToSchema)]
    pub struct BulkRejectedProblem {
        #[serde(flatten)]
        problem: Problem,
        #[serde(flatten)]
        report: crate::domain::claim_reports::BulkReport,
    }

    /// What submitting one claim can be refused with (422).
    #[derive(Serialize, ToSchema)]
    #[serde(untagged)]
    pub enum ClaimSubmissionProblem {
        Validation(ValidationProblem),
        Rejected(ClaimRejectedProblem),
    }

    /// What a bulk upload can be refused with (422).
    #[derive(Serialize, ToSchema)]
    #[serde(untagged)]
    pub enum BulkSubmissionProblem {
        Validation(ValidationProblem),
        Rejected(BulkRejectedProblem),
    }
}

impl ApiError {
    pub fn validation(field: &str, detail: impl Into<String>) -> ApiError {
        ApiError::Validation(vec![FieldError::new(field, detail)])
    }

    fn kind(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            ApiError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-failed",
                "Validation failed",
            ),
            ApiError::Unauthorized(_) => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Authentication required",
            ),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::MethodNotAllowed { .. } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            ApiError::UriTooLong(_) => (StatusCode::URI_TOO_LONG, "uri-too-long", "URI too long"),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            ApiError::Refused { slug, title, .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, *slug, *title)
            }
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal-error",
                "Internal server error",
            ),
        }
    }

    pub fn problem(&self) -> Problem {
        let (status, slug, title) = self.kind();
        let detail = match self {
            ApiError::Internal(_) => {
                "the server failed to handle this request; it has been logged".to_owned()
            }
            other => other.detail(),
        };
        let errors = match self {
            ApiError::Validation(errors) => errors.clone(),
            _ => Vec::new(),
        };
        let extensions = match self {
            ApiError::Refused { extensions, .. } => (**extensions).clone(),
            _ => serde_json::Map::new(),
        };
        Problem {
            problem_type: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors,
            extensions,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind().0
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(message) = self {
            // Logged inside the request's span, so the line carries the request id.
            tracing::error!(error = %message, "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, *allow));
            }
            // Busy now, likely free in a moment: the request may be retried as it is.
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        response.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        match e {
            ServiceError::NotFound(m) => ApiError::NotFound(m),
            ServiceError::Forbidden(m) => ApiError::Forbidden(m),
            ServiceError::Invalid(errors) => ApiError::Validation(errors),
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::Busy(m) => ApiError::Unavailable(m),
            ServiceError::Internal(m) => ApiError::Internal(m),
            ServiceError::ClaimRefused(reasons) => claim_rejected(reasons),
            ServiceError::BulkRejected(report) => {
                let detail = format!(
                    "{} of {} rows break the rules; nothing was stored (send ?mode=accept_valid to store the good rows)",
                    report.rejected, report.rows
                );
                let mut extensions = serde_json::Map::new();
                if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(&*report) {
                    extensions.extend(fields);
                }
                ApiError::Refused {
                    slug: "bulk-rejected",
                    title: "Bulk file rejected",
                    detail,
                    extensions: Box::new(extensions),
                }
            }
        }
    }
}

/// Handlers' own queries fail as the services' do: a unique violation is a 409, a lock not
/// granted or a serialization failure a 503 to retry, anything else a logged 500.
impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> ApiError {
        ServiceError::from(e).into()
    }
}

impl From<crate::domain::access::Denied> for ApiError {
    fn from(e: crate::domain::access::Denied) -> ApiError {
        ApiError::Forbidden(e.0)
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> ApiError {
        ServiceError::from(e).into()
    }
}

impl From<CorruptTerms> for ApiError {
    fn from(e: CorruptTerms) -> ApiError {
        ServiceError::from(e).into()
    }
}

impl From<diesel::r2d2::PoolError> for ApiError {
    fn from(e: diesel::r2d2::PoolError) -> ApiError {
        ApiError::Unavailable(format!("no database connection available: {e}"))
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> ApiError {
        ApiError::Validation(errors)
    }
}

/// Turns actix's own extractor errors (bad JSON, path, query, oversized bodies) into problems.
pub fn from_actix(error: &actix_web::Error) -> ApiError {
    let status = error.as_response_error().status_code();
    let message = error.to_string();
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(message),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(message),
        StatusCode::NOT_FOUND => ApiError::NotFound(message),
        s if s.is_server_error() => ApiError::Internal(message),
        _ => ApiError::BadRequest(message),
    }
}

/// The problem of a claim the rules refused: 422, with every reason in `reasons`.
fn claim_rejected(reasons: Vec<crate::domain::claims::Reason>) -> ApiError {
    let detail = reasons
        .iter()
        .map(|r| r.detail.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let mut extensions = serde_json::Map::new();
    extensions.insert(
        "reasons".into(),
        serde_json::to_value(&reasons).unwrap_or_default(),
    );
    ApiError::Refused {
        slug: "claim-rejected",
        title: "Claim rejected",
        detail,
        extensions: Box::new(extensions),
    }
}
