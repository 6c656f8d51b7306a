//! Pure rules of the domain: no IO, no HTTP, no database. Everything here is unit-testable.

/// A closed set of labels stored and sent as snake_case text.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[derive(diesel::AsExpression, diesel::FromSqlRow)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every value, in the order declared.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn from_label(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        $crate::domain::label_impls!($name);
    };
}

/// What makes a closed enum with `ALL`, `as_str` and `from_label` a label: [`Label`],
/// `Display`, and its storage as text, a label that is none of them failing its load loudly.
macro_rules! label_impls {
    ($name:ident) => {
        impl $crate::domain::Label for $name {
            const ALL: &'static [$name] = $name::ALL;
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
            fn from_label(text: &str) -> Option<$name> {
                $name::from_label(text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Stored as its label; a label that is not one of them fails the load loudly.
        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                $name::from_label(&text).ok_or_else(|| {
                    format!(
                        "{text:?} is stored where a {} is expected",
                        stringify!($name)
                    )
                    .into()
                })
            }
        }

        $crate::domain::text_to_sql!($name);
    };
}
pub(crate) use label_impls;

/// Stores a type that reads as text (`as_str`) as that text: labels and ids alike.
macro_rules! text_to_sql {
    ($name:ident) => {
        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }
    };
}
pub(crate) use text_to_sql;

/// A closed set of values stored and shown as labels (see `string_enum!`).
pub trait Label: Copy + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;

    fn from_label(text: &str) -> Option<Self>;

    /// The labels in words: `a, b or c`.
    fn listed() -> String {
        let labels: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
        match labels.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

pub mod access;
pub mod audit;
pub mod claim_reports;
pub mod claims;
pub mod commitment;
pub mod corrections;
pub mod ids;
pub mod jobs;
pub mod ledger;
pub mod limits;
pub mod members;
pub mod money;
pub mod open_data;
pub mod outbox;
pub mod period;
pub mod position;
pub mod pseudonym;
pub mod registry;
pub mod sessions;
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

#[cfg(test)]
mod tests {
    use super::{access, claims, commitment, jobs, outbox, registry, settlement, split, Label};

    /// The JSON (and so the OpenAPI document's enum) spells each value as it is stored.
    fn spelled_as_stored<T>()
    where
        T: Label + serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        for value in T::ALL {
            let json = serde_json::to_value(value).expect("serialises");
            assert_eq!(json, value.as_str(), "{value:?}");
            let back: T = serde_json::from_value(json).expect("reads back");
            assert_eq!(back, *value);
            assert_eq!(T::from_label(value.as_str()), Some(*value));
        }
    }

    #[test]
    fn every_label_is_spelled_in_json_as_it_is_stored() {
        spelled_as_stored::<access::Role>();
        spelled_as_stored::<claims::ClaimStatus>();
        spelled_as_stored::<commitment::CommitmentStatus>();
        spelled_as_stored::<commitment::Agreement>();
        spelled_as_stored::<jobs::JobState>();
        spelled_as_stored::<outbox::OutboxKind>();
        spelled_as_stored::<outbox::OutboxStatus>();
        spelled_as_stored::<registry::OrganisationKind>();
        spelled_as_stored::<registry::OutcomeUnit>();
        spelled_as_stored::<registry::PayerRole>();
        spelled_as_stored::<registry::SettlementFrequency>();
        spelled_as_stored::<registry::SettlementRoute>();
        spelled_as_stored::<settlement::DocumentAction>();
        spelled_as_stored::<settlement::DocumentKind>();
        spelled_as_stored::<settlement::DocumentStatus>();
        spelled_as_stored::<settlement::Leg>();
        spelled_as_stored::<settlement::SettledBy>();
        spelled_as_stored::<split::CapPolicy>();
    }
}
