//! Pure rules of the domain: no IO, no HTTP, no database. Everything here is unit-testable.

/// A closed set of labels stored and sent as snake_case text.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn from_db(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

pub mod access;
pub mod claim_reports;
pub mod claims;
pub mod commitment;
pub mod corrections;
pub mod ledger;
pub mod limits;
pub mod money;
pub mod open_data;
pub mod period;
pub mod position;
pub mod pseudonym;
pub mod registry;
pub mod settlement;
pub mod shares;
pub mod split;
pub mod spreadsheet;

use serde::Serialize;
use utoipa::ToSchema;

/// One reason a request was refused, naming the field as a JSON path (`payers[1].share`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON path of the offending field in the request, e.g. `payers[1].share` or `budget.amount`.
    pub field: String,
    /// What is wrong with it, in words a person can act on.
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
