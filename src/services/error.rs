//! What a use case can fail with, in its own terms; `api::error` turns each into a problem.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::domain::access::Denied;
use crate::domain::FieldError;
use crate::services::access::AccessError;
use crate::services::stored_terms::CorruptTerms;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    /// The request names something the rules refuse, field by field.
    #[error("invalid: {}", .0.iter().map(|e| e.field.as_str()).collect::<Vec<_>>().join(", "))]
    Invalid(Vec<FieldError>),
    /// The state forbids it (a claim already decided) or a unique row already exists.
    #[error("{0}")]
    Conflict(String),
    /// The database could not serve the request now (SQLite's write lock not granted in
    /// time, a PostgreSQL serialization failure or deadlock); retrying as it is may succeed.
    #[error("{0}")]
    Busy(String),
    /// A claim the rules refuse to store or to price (422), with every reason.
    #[error("claim refused: {}", .0.iter().map(|r| r.code.as_str()).collect::<Vec<_>>().join(", "))]
    ClaimRefused(Vec<crate::domain::claims::Reason>),
    /// An all-or-nothing bulk file with a bad row: nothing is stored; the report says which.
    #[error("{} of {} rows break the rules", .0.rejected, .0.rows)]
    BulkRejected(Box<crate::domain::claim_reports::BulkReport>),
    /// Stored data that cannot be trusted, or a broken invariant: logged, never shown.
    #[error("{0}")]
    Internal(String),
}

impl From<DieselError> for ServiceError {
    fn from(e: DieselError) -> ServiceError {
        match &e {
            DieselError::NotFound => ServiceError::NotFound("not found".into()),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                ServiceError::Conflict(format!(
                    "this already exists ({})",
                    info.constraint_name().unwrap_or("a unique key")
                ))
            }
            DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                ServiceError::Busy("the database could not serialise this request; retry it".into())
            }
            // SQLite reports a lock it waited for in vain as an unclassified error.
            DieselError::DatabaseError(_, info)
                if info.message().contains("database is locked") =>
            {
                ServiceError::Busy("the database is busy; retry the request".into())
            }
            DieselError::DatabaseError(_, info) if info.message().contains("deadlock detected") => {
                ServiceError::Busy("the request met another in a deadlock; retry it".into())
            }
            _ => ServiceError::Internal(format!("database: {e}")),
        }
    }
}

impl From<Denied> for ServiceError {
    fn from(e: Denied) -> ServiceError {
        ServiceError::Forbidden(e.0)
    }
}

impl From<AccessError> for ServiceError {
    fn from(e: AccessError) -> ServiceError {
        match e {
            AccessError::NotFound(_) | AccessError::NoDocument(_) => {
                ServiceError::NotFound(e.to_string())
            }
            AccessError::Database(e) => e.into(),
            AccessError::Corrupt(e) => e.into(),
        }
    }
}

impl From<CorruptTerms> for ServiceError {
    fn from(e: CorruptTerms) -> ServiceError {
        ServiceError::Internal(e.to_string())
    }
}
