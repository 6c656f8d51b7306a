//! Ids as types, so that a function that asks for a project's id is given one and not some
//! other text (a payer's, a claim's). Each is stored and sent as its text (`prj_…`): the
//! database columns, the API and the open data keep it as it is.
//!
//! Text becomes an id only through `From`, at the edges: a request's path or field, a token's
//! claim, a fixture, an id just minted by `queries::new_id`. The rows, plans and filters, and
//! the queries and services that take an id, carry the types; the API's views turn them back
//! into text. An id still reads as a `&str` (it dereferences to one, and compares equal to its
//! text), so it passes where plain text is asked for: a pseudonym's key, a ledger account's
//! name, a row lock, the audit of `cofund check`. That is also its limit: a function that asks
//! for `&str` takes any kind of id.

/// A string id type with its storage as text.
macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[derive(serde::Serialize, serde::Deserialize, diesel::AsExpression, diesel::FromSqlRow)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// Maps keyed by id are read with the id's text: the derived `Hash` and `Eq` are the
        /// text's own (one field), as `Borrow` requires.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> $name {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> $name {
                $name(id.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                String::from_sql(bytes).map($name)
            }
        }

        $crate::domain::text_to_sql!($name);
    };
}

id_type!(
    /// An organisation's id (`org_…`): a central fund, a council or NHS body, or a provider.
    OrganisationId
);

id_type!(
    /// A fund's id (`fund_…`): a central top-up fund's budget and rules.
    FundId
);

id_type!(
    /// A project's id (`prj_…`): one social outcomes partnership.
    ProjectId
);

id_type!(
    /// A payer's id (`pyr_…`): one organisation's place on one project.
    PayerId
);

id_type!(
    /// An outcome claim's id (`clm_…`).
    ClaimId
);

id_type!(
    /// A bulk upload's id (`upl_…`): one file of claims.
    UploadId
);

id_type!(
    /// A ledger entry's id (`ent_…`): one verification or reversal, balanced.
    EntryId
);

id_type!(
    /// A background job's id (`job_…`): a large upload checked and stored out of the request.
    JobId
);

id_type!(
    /// A settlement document's id (`doc_…`): an invoice, a top-up claim or a statement.
    DocumentId
);

id_type!(
    /// A member's id (`mem_…`): one person in one organisation (an admin: in none).
    MemberId
);

id_type!(
    /// An API key's id (`key_…`): not the key, which is shown once and stored only as a hash.
    ApiKeyId
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn an_id_reads_as_its_text_and_is_made_from_text_only_when_asked() {
        let id = OrganisationId::from("org_1");
        assert_eq!(id, "org_1");
        assert_eq!(id.len(), 5, "reads as a str");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"org_1\"");
        let back: OrganisationId = serde_json::from_str("\"org_1\"").unwrap();
        assert_eq!(back, id);
        let mut seen = HashMap::new();
        seen.insert(id.clone(), 1);
        assert_eq!(
            seen.get("org_1"),
            Some(&1),
            "a map keyed by id is read by text"
        );
        assert_eq!(id.to_string(), "org_1");
    }
}
