//! Pure rules of the domain: no IO, no HTTP, no database. Everything here is unit-testable.

pub mod access;
pub mod claims;
pub mod ledger;
pub mod limits;
pub mod money;
pub mod pseudonym;
pub mod registry;
pub mod shares;
pub mod split;

use serde::Serialize;
use utoipa::ToSchema;

/// One reason a request was refused, naming the field as a JSON path (`payers[1].share`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            detail: detail.into(),
        }
    }
}
