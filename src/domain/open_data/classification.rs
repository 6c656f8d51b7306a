//! Every column of the database, classified once: what open data may show of it.
//!
//! - `Public`: may be published row by row (names, dates, prices, identifiers of public
//!   bodies and companies).
//! - `Aggregate`: may be published only as a count or sum over many rows, with small numbers
//!   suppressed (amounts and units of verified outcomes).
//! - `Private`: never published, in any form (participants, evidence, people, contact data,
//!   credentials and internal bookkeeping). Participants' pseudonyms are private too: an
//!   aggregate may count how many distinct ones it covers, to suppress small numbers, and
//!   declares so (`counts_distinct` in the catalog).
//!
//! A test compares this list with the columns the migrations create, on both databases, and
//! fails when a column has been added without a classification; another checks that every
//! published column reads only what its classification allows.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Public,
    Aggregate,
    Private,
}

use Visibility::{Aggregate, Private, Public};

/// `(table, [(column, visibility)])` for every table the migrations create.
pub static COLUMNS: &[(&str, &[(&str, Visibility)])] = &[
    (
        "organisations",
        &[
            ("id", Public),
            ("name", Public),
            ("kind", Public),
            ("identifier", Public),
            ("created_at", Public),
        ],
    ),
    // The areas an organisation covers decide which participants' claims it pays: published,
    // they would locate participants.
    (
        "organisation_area_codes",
        &[("organisation_id", Private), ("area_code", Private)],
    ),
    (
        "organisation_billing_emails",
        &[("organisation_id", Private), ("email", Private)],
    ),
    (
        "funds",
        &[
            ("id", Public),
            ("name", Public),
            ("owner_organisation_id", Public),
            ("currency", Public),
            ("budget_minor", Public),
            ("service_start", Public),
            ("service_end", Public),
            ("created_at", Public),
        ],
    ),
    (
        "projects",
        &[
            ("id", Public),
            ("name", Public),
            ("fund_id", Public),
            ("provider_organisation_id", Public),
            ("currency", Public),
            ("service_start", Public),
            ("service_end", Public),
            ("referral_cutoff", Public),
            ("max_outcome_payment_minor", Public),
            ("participant_cap_minor", Public),
            ("cap_policy", Public),
            ("settlement_route", Public),
            ("settlement_frequency", Public),
            ("policy_sector", Public),
            ("target_population", Public),
            ("stage_development", Public),
            ("published", Public),
            ("created_at", Public),
            ("payment_terms_days", Public),
            ("social_challenge", Public),
        ],
    ),
    (
        "project_payers",
        &[
            ("id", Public),
            ("project_id", Public),
            ("position", Public),
            ("organisation_id", Public),
            ("role", Public),
            ("max_commitment_minor", Public),
            ("share", Public),
            ("lead", Public),
            ("fund_id", Public),
            // Only agreed projects are published: where a payer's commitment stands is
            // the registry's business until then.
            ("commitment", Private),
        ],
    ),
    (
        "payer_phases",
        &[
            ("payer_id", Public),
            ("starts_on", Public),
            ("ends_on", Public),
            ("share", Public),
        ],
    ),
    (
        "payer_home_areas",
        &[("payer_id", Private), ("area_code", Private)],
    ),
    (
        "project_validators",
        &[("project_id", Public), ("organisation_id", Public)],
    ),
    (
        "outcome_metrics",
        &[
            ("id", Public),
            ("project_id", Public),
            ("position", Public),
            ("code", Public),
            ("name", Public),
            ("price_minor", Public),
            ("unit", Public),
            ("max_units_per_participant", Public),
            ("max_claims_per_participant", Public),
            ("exclusive_group", Public),
            ("requires_outcome_code", Public),
            ("requires_min_days_after", Public),
            ("volume_cap", Public),
            ("deadweight", Public),
            ("min_age_at_start", Public),
            ("max_age_at_start", Public),
        ],
    ),
    (
        "idempotency_keys",
        &[
            ("principal", Private),
            ("idempotency_key", Private),
            ("request_hash", Private),
            ("response_status", Private),
            ("response_body", Private),
            ("created_at", Private),
        ],
    ),
    (
        "bulk_uploads",
        &[
            ("id", Private),
            ("project_id", Private),
            ("submitted_by", Private),
            ("mode", Private),
            ("rows_total", Private),
            ("rows_accepted", Private),
            ("rows_rejected", Private),
            ("created_at", Private),
        ],
    ),
    (
        "claims",
        &[
            ("id", Private),
            ("project_id", Aggregate),
            ("outcome_id", Aggregate),
            ("outcome_code", Aggregate),
            // Counted as distinct participants (to suppress small numbers), never shown.
            ("participant_pseudonym", Private),
            ("achieved_on", Aggregate),
            ("period_start", Private),
            ("quantity", Aggregate),
            ("evidence_ref", Private),
            ("home_area", Private),
            ("age_at_start", Private),
            ("referred_on", Private),
            ("upload_id", Private),
            ("status", Aggregate),
            ("submitted_by", Private),
            ("submitted_by_organisation_id", Private),
            ("submitted_at", Private),
            ("decided_by", Private),
            ("decided_at", Private),
            ("rejection_reason", Private),
            ("revoked_by", Private),
            ("revoked_at", Private),
            ("revocation_reason", Private),
            ("gross_minor", Aggregate),
            ("payable_minor", Aggregate),
            ("paid_units", Aggregate),
            ("entry_id", Private),
        ],
    ),
    (
        "claim_adjustments",
        &[
            ("claim_id", Private),
            ("position", Private),
            ("kind", Private),
            ("amount_minor", Private),
            ("detail", Private),
        ],
    ),
    (
        "allocations",
        &[
            ("id", Private),
            ("entry_id", Private),
            ("claim_id", Aggregate),
            ("project_id", Aggregate),
            ("payer_id", Aggregate),
            ("payer_organisation_id", Aggregate),
            ("amount_minor", Aggregate),
            ("shortfall_minor", Aggregate),
            ("achieved_on", Aggregate),
            ("posted_at", Aggregate),
            ("reverses_id", Private),
            ("outcome_code", Aggregate),
        ],
    ),
    (
        "ledger_entries",
        &[
            ("id", Private),
            ("claim_id", Private),
            ("project_id", Aggregate),
            ("provider_amount_minor", Aggregate),
            ("posted_at", Aggregate),
            ("reverses_entry_id", Private),
        ],
    ),
    (
        "running_totals",
        &[
            ("project_id", Private),
            ("name", Private),
            ("value", Private),
        ],
    ),
    // Settlement documents are between the parties; their lines name participants.
    (
        "settlement_documents",
        &[
            ("id", Private),
            ("project_id", Private),
            ("kind", Private),
            ("status", Private),
            ("period", Private),
            ("period_start", Private),
            ("period_end", Private),
            ("issuer_organisation_id", Private),
            ("recipient_organisation_id", Private),
            ("currency", Private),
            ("total_minor", Private),
            ("paid_minor", Private),
            ("line_count", Private),
            ("number", Private),
            ("issued_on", Private),
            ("due_on", Private),
            ("credits_document_id", Private),
            ("void_reason", Private),
            ("created_by", Private),
            ("created_at", Private),
        ],
    ),
    (
        "document_lines",
        &[
            ("document_id", Private),
            ("position", Private),
            ("claim_id", Private),
            ("outcome_code", Private),
            ("participant_pseudonym", Private),
            ("achieved_on", Private),
            ("posted_at", Private),
            ("amount_minor", Private),
        ],
    ),
    (
        "settlement_links",
        &[
            ("allocation_id", Private),
            ("leg", Private),
            ("document_id", Private),
            ("line_position", Private),
        ],
    ),
    (
        "document_payments",
        &[
            ("id", Private),
            ("document_id", Private),
            ("amount_minor", Private),
            ("paid_on", Private),
            ("reference", Private),
            ("recorded_by", Private),
            ("recorded_by_organisation_id", Private),
            ("recorded_at", Private),
            ("settled_by", Private),
            ("counterpart_document_id", Private),
        ],
    ),
    (
        "document_events",
        &[
            ("id", Private),
            ("document_id", Private),
            ("action", Private),
            ("actor", Private),
            ("actor_organisation_id", Private),
            ("at", Private),
            ("detail", Private),
        ],
    ),
    (
        "document_sequences",
        &[
            ("issuer_organisation_id", Private),
            ("year", Private),
            ("last_number", Private),
        ],
    ),
    (
        "payment_plans",
        &[
            ("project_id", Private),
            ("quarter", Private),
            ("planned_minor", Private),
        ],
    ),
    (
        "outbox",
        &[
            ("id", Private),
            ("kind", Private),
            ("recipients", Private),
            ("subject", Private),
            ("body", Private),
            ("status", Private),
            ("attempts", Private),
            ("next_attempt_at", Private),
            ("last_error", Private),
            ("created_at", Private),
            ("sent_at", Private),
        ],
    ),
    // The published tables hold what has already passed these rules.
    ("published_funds", PUBLISHED_STORAGE),
    ("published_organisations", PUBLISHED_STORAGE),
    ("published_projects", PUBLISHED_STORAGE),
    ("published_project_payers", PUBLISHED_STORAGE),
    ("published_outcome_metrics", PUBLISHED_STORAGE),
    ("published_results_quarterly", PUBLISHED_STORAGE),
    ("published_payments_quarterly", PUBLISHED_STORAGE),
    ("published_adjustments", PUBLISHED_STORAGE),
    (
        "published_tables",
        &[("id", Public), ("row_count", Public), ("built_at", Public)],
    ),
    // The frozen open data: aggregates as they stood when each quarter was first published
    // (what the disclosure auditor reasons about), withheld ones included, so never published
    // from here; the published tables are built from them.
    (
        "open_data_frozen_quarters",
        &[
            ("project_id", Aggregate),
            ("period_start", Aggregate),
            ("frozen_at", Aggregate),
        ],
    ),
    (
        "open_data_frozen_blocks",
        &[
            ("project_id", Aggregate),
            ("period_start", Aggregate),
            ("outcome_code", Aggregate),
            ("achieved_units", Aggregate),
            ("achieved_participants", Aggregate),
            ("paid_units", Aggregate),
            ("paid_participants", Aggregate),
            ("payable_units", Aggregate),
            ("payable_minor", Aggregate),
            ("engaged", Aggregate),
            ("withheld", Aggregate),
        ],
    ),
    (
        "open_data_frozen_money",
        &[
            ("project_id", Aggregate),
            ("period_start", Aggregate),
            ("outcome_code", Aggregate),
            ("payer_organisation_id", Aggregate),
            ("amount_minor", Aggregate),
            ("participants", Aggregate),
            ("smallest_part_minor", Aggregate),
            ("largest_part_minor", Aggregate),
        ],
    ),
    (
        "open_data_published_totals",
        &[
            ("project_id", Aggregate),
            ("payer_organisation_id", Aggregate),
            ("as_of", Aggregate),
            ("amount_minor", Aggregate),
        ],
    ),
    (
        "open_data_cap_states",
        &[
            ("project_id", Aggregate),
            ("cap", Aggregate),
            ("as_of", Aggregate),
            ("bound", Aggregate),
            ("beyond", Aggregate),
        ],
    ),
    (
        "open_data_adjustments",
        &[
            ("project_id", Aggregate),
            ("outcome_code", Aggregate),
            ("year", Aggregate),
            ("published_at", Aggregate),
            ("achieved_units", Aggregate),
            ("paid_units", Aggregate),
            ("payable_units", Aggregate),
            ("payable_minor", Aggregate),
            ("money_shown", Aggregate),
        ],
    ),
    (
        "open_data_adjustment_rounds",
        &[
            ("project_id", Aggregate),
            ("year", Aggregate),
            ("held_at", Aggregate),
        ],
    ),
    (
        "open_data_adjustment_money",
        &[
            ("project_id", Aggregate),
            ("outcome_code", Aggregate),
            ("year", Aggregate),
            ("payer_organisation_id", Aggregate),
            ("amount_minor", Aggregate),
        ],
    ),
    // Who corrected which registry record, and how: internal bookkeeping.
    // Who decided each commitment, and why: the registry's own record.
    (
        "commitment_events",
        &[
            ("id", Private),
            ("project_id", Private),
            ("payer_id", Private),
            ("status", Private),
            ("decided_by", Private),
            ("decided_by_organisation_id", Private),
            ("decided_at", Private),
            ("reason", Private),
            ("note", Private),
        ],
    ),
    // People and their credentials: names, emails, identities and key digests, never
    // published.
    (
        "members",
        &[
            ("id", Private),
            ("organisation_id", Private),
            ("role", Private),
            ("administers", Private),
            ("display_name", Private),
            ("email", Private),
            ("status", Private),
            ("oidc_issuer", Private),
            ("oidc_subject", Private),
            ("created_at", Private),
            ("updated_at", Private),
        ],
    ),
    (
        "api_keys",
        &[
            ("id", Private),
            ("organisation_id", Private),
            ("role", Private),
            ("name", Private),
            ("prefix", Private),
            ("secret_sha256", Private),
            ("created_by", Private),
            ("created_at", Private),
            ("expires_at", Private),
            ("last_used_on", Private),
            ("revoked_at", Private),
            ("revoked_by", Private),
        ],
    ),
    // Browser sessions: credentials, never published.
    (
        "sessions",
        &[
            ("id_sha256", Private),
            ("member_id", Private),
            ("csrf_token", Private),
            ("created_at", Private),
            ("last_seen_at", Private),
            ("address", Private),
        ],
    ),
    // Who did what to members and keys, from where: never published.
    (
        "audit_events",
        &[
            ("id", Private),
            ("at", Private),
            ("actor", Private),
            ("actor_organisation_id", Private),
            ("organisation_id", Private),
            ("action", Private),
            ("target", Private),
            ("detail", Private),
            ("address", Private),
        ],
    ),
    // Long bulk requests: pseudonymised claim rows and their reports, never published.
    (
        "jobs",
        &[
            ("id", Private),
            ("kind", Private),
            ("project_id", Private),
            ("subject", Private),
            ("role", Private),
            ("organisation_id", Private),
            ("input", Private),
            ("state", Private),
            ("rows_total", Private),
            ("rows_done", Private),
            ("attempts", Private),
            ("lease_until", Private),
            ("result", Private),
            ("created_at", Private),
            ("started_at", Private),
            ("finished_at", Private),
        ],
    ),
    (
        "registry_changes",
        &[
            ("id", Private),
            ("subject_id", Private),
            ("field", Private),
            ("old_value", Private),
            ("new_value", Private),
            ("changed_by", Private),
            ("changed_by_organisation_id", Private),
            ("changed_at", Private),
        ],
    ),
    (
        "open_data_releases",
        &[
            ("version", Public),
            ("released_at", Public),
            ("released_by", Private),
            ("manifest", Public),
        ],
    ),
    (
        "open_data_release_files",
        &[
            ("version", Public),
            ("name", Public),
            ("media_type", Public),
            ("sha256", Public),
            ("byte_count", Public),
            ("content", Public),
        ],
    ),
];

/// A published table's columns are the catalog's fields plus these; the test of the
/// classification checks each against the catalog instead of a list.
const PUBLISHED_STORAGE: &[(&str, Visibility)] = &[];

/// The columns every published table stores beside its fields.
pub const PUBLISHED_STORAGE_COLUMNS: [&str; 3] = ["row_key", "row_json", "row_csv"];

/// The classification of `table.column`, if it has one.
pub fn visibility(table: &str, column: &str) -> Option<Visibility> {
    COLUMNS
        .iter()
        .find(|(t, _)| *t == table)
        .and_then(|(_, columns)| columns.iter().find(|(c, _)| *c == column))
        .map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::open_data::catalog::TABLES;

    /// A row-level published value reads only public columns; a count or sum reads public or
    /// aggregate-only ones; nothing reads a private column.
    #[test]
    fn every_published_column_reads_only_what_its_classification_allows() {
        for table in TABLES {
            for field in table.fields {
                assert!(
                    !field.sources.is_empty(),
                    "{}.{} names no source",
                    table.name,
                    field.name
                );
                for source in field.sources {
                    let (t, c) = source.split_once('.').expect("table.column");
                    let visibility = visibility(t, c).unwrap_or_else(|| {
                        panic!(
                            "{source} (read by {}.{}) is not classified",
                            table.name, field.name
                        )
                    });
                    let allowed = match visibility {
                        Public => true,
                        Aggregate => field.aggregate,
                        Private => false,
                    };
                    assert!(
                        allowed,
                        "{}.{} reads {source}, which is {visibility:?}",
                        table.name, field.name
                    );
                }
                for counted in field.counts_distinct {
                    let (t, c) = counted.split_once('.').expect("table.column");
                    assert!(visibility(t, c).is_some(), "{counted} is not classified");
                    assert!(
                        field.aggregate,
                        "{}.{} counts {counted} but is not an aggregate",
                        table.name, field.name
                    );
                }
            }
        }
    }

    #[test]
    fn the_named_personal_data_is_private() {
        for (table, column) in [
            ("claims", "home_area"),
            ("claims", "age_at_start"),
            ("claims", "evidence_ref"),
            ("document_lines", "participant_pseudonym"),
            ("organisation_billing_emails", "email"),
            ("outbox", "recipients"),
            ("members", "email"),
            ("members", "oidc_subject"),
            ("api_keys", "secret_sha256"),
        ] {
            assert_eq!(visibility(table, column), Some(Private), "{table}.{column}");
        }
        assert_eq!(visibility("claims", "participant_pseudonym"), Some(Private));
    }
}
