//! Rows as stored. Money columns end in `_minor` (integer minor units of the row's currency).

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::*;
use crate::domain::access::Role;
use crate::domain::audit::AuditAction;
use crate::domain::claims::{AdjustmentKind, ClaimStatus};
use crate::domain::commitment::CommitmentStatus;
use crate::domain::ids::{
    ApiKeyId, ClaimId, DocumentId, EntryId, FundId, JobId, MemberId, OrganisationId, PayerId,
    ProjectId, UploadId,
};
use crate::domain::jobs::JobState;
use crate::domain::members::{MemberFacts, MemberStatus};
use crate::domain::money::Minor;
use crate::domain::outbox::{OutboxKind, OutboxStatus};
use crate::domain::registry::{
    OrganisationKind, OutcomeUnit, PayerRole, SettlementFrequency, SettlementRoute,
};
use crate::domain::settlement::{DocumentAction, DocumentKind, DocumentStatus, SettledBy};
use crate::domain::split::CapPolicy;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = organisations)]
pub struct Organisation {
    pub id: OrganisationId,
    pub name: String,
    pub kind: OrganisationKind,
    pub identifier: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = organisation_area_codes)]
pub struct OrganisationAreaCode {
    pub organisation_id: OrganisationId,
    pub area_code: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = organisation_billing_emails)]
pub struct OrganisationBillingEmail {
    pub organisation_id: OrganisationId,
    pub email: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = funds)]
pub struct Fund {
    pub id: FundId,
    pub name: String,
    pub owner_organisation_id: OrganisationId,
    pub currency: String,
    pub budget_minor: Minor,
    pub service_start: NaiveDate,
    pub service_end: NaiveDate,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = projects)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub fund_id: Option<FundId>,
    pub provider_organisation_id: OrganisationId,
    pub currency: String,
    pub service_start: NaiveDate,
    pub service_end: NaiveDate,
    pub referral_cutoff: Option<NaiveDate>,
    pub max_outcome_payment_minor: Option<Minor>,
    pub participant_cap_minor: Option<Minor>,
    pub cap_policy: CapPolicy,
    pub settlement_route: SettlementRoute,
    pub settlement_frequency: SettlementFrequency,
    pub policy_sector: Option<String>,
    pub target_population: Option<String>,
    pub stage_development: Option<String>,
    pub published: bool,
    pub created_at: NaiveDateTime,
    pub payment_terms_days: i32,
    pub social_challenge: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = project_payers)]
pub struct ProjectPayer {
    pub id: PayerId,
    pub project_id: ProjectId,
    pub position: i32,
    pub organisation_id: OrganisationId,
    pub role: PayerRole,
    pub max_commitment_minor: Minor,
    pub share: Option<String>,
    pub lead: bool,
    /// The fund a `central_top_up` payer pays from; none for other payers.
    pub fund_id: Option<FundId>,
    /// Where the payer's agreement to its commitment stands (`CommitmentStatus`).
    pub commitment: CommitmentStatus,
}

/// One step in the history of a payer's commitment: made, proposed, accepted or declined.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = commitment_events)]
pub struct CommitmentEvent {
    pub id: String,
    pub project_id: ProjectId,
    pub payer_id: PayerId,
    pub status: CommitmentStatus,
    /// The token's subject that recorded or decided it.
    pub decided_by: String,
    /// The organisation they acted for; none for an admin.
    pub decided_by_organisation_id: Option<OrganisationId>,
    pub decided_at: NaiveDateTime,
    /// Why a commitment was declined.
    pub reason: Option<String>,
    /// What the step was, in words.
    pub note: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = payer_phases)]
pub struct PayerPhase {
    pub payer_id: PayerId,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub share: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = payer_home_areas)]
pub struct PayerHomeArea {
    pub payer_id: PayerId,
    pub area_code: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = project_validators)]
pub struct ProjectValidator {
    pub project_id: ProjectId,
    pub organisation_id: OrganisationId,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = outcome_metrics)]
pub struct OutcomeMetric {
    pub id: String,
    pub project_id: ProjectId,
    pub position: i32,
    pub code: String,
    pub name: String,
    pub price_minor: Minor,
    pub unit: OutcomeUnit,
    pub max_units_per_participant: Option<i32>,
    pub max_claims_per_participant: i32,
    pub exclusive_group: Option<String>,
    pub requires_outcome_code: Option<String>,
    pub requires_min_days_after: Option<i32>,
    pub volume_cap: Option<i32>,
    pub deadweight: Option<String>,
    pub min_age_at_start: Option<i32>,
    pub max_age_at_start: Option<i32>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = idempotency_keys)]
pub struct IdempotencyRecord {
    pub principal: String,
    pub idempotency_key: String,
    pub request_hash: String,
    pub response_status: i32,
    pub response_body: String,
    pub created_at: NaiveDateTime,
}

/// A project with everything that hangs off it, as read back in one go.
#[derive(Debug, Clone)]
pub struct ProjectRecord {
    pub project: Project,
    pub payers: Vec<PayerRecord>,
    pub outcomes: Vec<OutcomeMetric>,
    pub validator_organisation_ids: Vec<OrganisationId>,
}

#[derive(Debug, Clone)]
pub struct PayerRecord {
    pub payer: ProjectPayer,
    pub phases: Vec<PayerPhase>,
    pub home_area_codes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct OrganisationRecord {
    pub organisation: Organisation,
    pub area_codes: Vec<String>,
    pub billing_emails: Vec<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = bulk_uploads)]
pub struct BulkUpload {
    pub id: UploadId,
    pub project_id: ProjectId,
    pub submitted_by: String,
    pub mode: String,
    pub rows_total: i32,
    pub rows_accepted: i32,
    pub rows_rejected: i32,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = claims)]
pub struct Claim {
    pub id: ClaimId,
    pub project_id: ProjectId,
    pub outcome_id: String,
    pub outcome_code: String,
    pub participant_pseudonym: String,
    pub achieved_on: NaiveDate,
    pub period_start: NaiveDate,
    pub quantity: i32,
    pub evidence_ref: Option<String>,
    pub home_area: Option<String>,
    pub age_at_start: Option<i32>,
    pub referred_on: Option<NaiveDate>,
    pub upload_id: Option<UploadId>,
    pub status: ClaimStatus,
    pub submitted_by: String,
    pub submitted_by_organisation_id: OrganisationId,
    pub submitted_at: NaiveDateTime,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub rejection_reason: Option<String>,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<NaiveDateTime>,
    pub revocation_reason: Option<String>,
    pub gross_minor: Option<Minor>,
    pub payable_minor: Option<Minor>,
    pub paid_units: Option<i32>,
    pub entry_id: Option<EntryId>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = claim_adjustments)]
pub struct ClaimAdjustment {
    pub claim_id: ClaimId,
    pub position: i32,
    pub kind: AdjustmentKind,
    pub amount_minor: Minor,
    pub detail: String,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = allocations)]
pub struct Allocation {
    pub id: i64,
    pub entry_id: EntryId,
    pub claim_id: ClaimId,
    pub project_id: ProjectId,
    pub payer_id: PayerId,
    pub payer_organisation_id: OrganisationId,
    pub amount_minor: Minor,
    pub shortfall_minor: Minor,
    pub achieved_on: NaiveDate,
    pub posted_at: NaiveDateTime,
    pub reverses_id: Option<i64>,
    pub outcome_code: String,
}

/// An allocation before the database numbers it.
#[derive(Debug, Clone, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = allocations)]
pub struct NewAllocation {
    pub entry_id: EntryId,
    pub claim_id: ClaimId,
    pub project_id: ProjectId,
    pub payer_id: PayerId,
    pub payer_organisation_id: OrganisationId,
    pub amount_minor: Minor,
    pub shortfall_minor: Minor,
    pub achieved_on: NaiveDate,
    pub posted_at: NaiveDateTime,
    pub reverses_id: Option<i64>,
    pub outcome_code: String,
}

/// One entry of the double-entry ledger: a claim's verification or its reversal. Its payer
/// lines are its allocations; this row carries the provider's line, so that the entry
/// balances when `provider_amount_minor` plus its allocations' amount and shortfall is zero.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = ledger_entries)]
pub struct LedgerEntry {
    pub id: EntryId,
    pub claim_id: ClaimId,
    pub project_id: ProjectId,
    pub provider_amount_minor: Minor,
    pub posted_at: NaiveDateTime,
    pub reverses_entry_id: Option<EntryId>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = settlement_documents)]
pub struct SettlementDocument {
    pub id: DocumentId,
    pub project_id: ProjectId,
    pub kind: DocumentKind,
    pub status: DocumentStatus,
    pub period: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub issuer_organisation_id: OrganisationId,
    pub recipient_organisation_id: OrganisationId,
    pub currency: String,
    pub total_minor: Minor,
    pub paid_minor: Minor,
    pub line_count: i32,
    pub number: Option<String>,
    pub issued_on: Option<NaiveDate>,
    pub due_on: Option<NaiveDate>,
    pub credits_document_id: Option<DocumentId>,
    pub void_reason: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = document_lines)]
pub struct DocumentLine {
    pub document_id: DocumentId,
    pub position: i32,
    pub claim_id: ClaimId,
    pub outcome_code: String,
    pub participant_pseudonym: String,
    pub achieved_on: NaiveDate,
    pub posted_at: NaiveDateTime,
    pub amount_minor: Minor,
}

/// Which document line settles an allocation in a leg of settlement.
#[derive(Debug, Clone, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = settlement_links)]
pub struct SettlementLink {
    pub allocation_id: i64,
    /// A [`crate::domain::settlement::Leg`]'s label.
    pub leg: &'static str,
    pub document_id: DocumentId,
    pub line_position: i32,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = document_payments)]
pub struct DocumentPayment {
    pub id: String,
    pub document_id: DocumentId,
    pub amount_minor: Minor,
    pub paid_on: NaiveDate,
    pub reference: String,
    pub recorded_by: String,
    pub recorded_by_organisation_id: Option<OrganisationId>,
    pub recorded_at: NaiveDateTime,
    /// `payment`, `refund` or `set_off` (`domain::settlement::SettledBy`).
    pub settled_by: SettledBy,
    /// For a set-off, the document on the other side.
    pub counterpart_document_id: Option<DocumentId>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = document_events)]
pub struct DocumentEvent {
    pub id: i64,
    pub document_id: DocumentId,
    pub action: DocumentAction,
    pub actor: String,
    pub actor_organisation_id: Option<OrganisationId>,
    pub at: NaiveDateTime,
    pub detail: String,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = document_events)]
pub struct NewDocumentEvent {
    pub document_id: DocumentId,
    pub action: DocumentAction,
    pub actor: String,
    pub actor_organisation_id: Option<OrganisationId>,
    pub at: NaiveDateTime,
    pub detail: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = payment_plans)]
pub struct PaymentPlanQuarter {
    pub project_id: ProjectId,
    pub quarter: String,
    pub planned_minor: Minor,
}

/// One notification in the transactional outbox. `recipients` are personal data: never
/// logged, never published.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = outbox)]
pub struct OutboxMessage {
    pub id: String,
    pub kind: OutboxKind,
    pub recipients: String,
    pub subject: String,
    pub body: String,
    pub status: OutboxStatus,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

/// What the delivery worker reads of a queued message. Not its kind: a message of a kind this
/// version does not know (queued by a newer process during an upgrade) is still sent, and
/// cannot stop the delivery of the others.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = outbox)]
pub struct DueMessage {
    pub id: String,
    pub recipients: String,
    pub subject: String,
    pub body: String,
    pub attempts: i32,
}

/// A long bulk request, run by a worker (see `services::jobs`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = jobs)]
pub struct Job {
    pub id: JobId,
    pub kind: String,
    pub project_id: ProjectId,
    /// Who asked: the token's subject, role and organisation (none for an admin).
    pub subject: String,
    pub role: Role,
    pub organisation_id: Option<OrganisationId>,
    /// JSON: what to work on (pseudonymised rows, or claim ids).
    pub input: String,
    pub state: JobState,
    pub rows_total: i64,
    pub rows_done: i64,
    pub attempts: i32,
    pub lease_until: Option<NaiveDateTime>,
    /// JSON: the report, or the problem that refused the work.
    pub result: Option<String>,
    pub created_at: NaiveDateTime,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
}

/// A person who acts in cofund: one role in one organisation (an admin: in none).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = members)]
pub struct Member {
    pub id: MemberId,
    pub organisation_id: Option<OrganisationId>,
    pub role: Role,
    /// Manages its organisation's members.
    pub administers: bool,
    pub display_name: String,
    /// Lower-cased. Personal data: shown only to those who manage members, never logged.
    pub email: String,
    pub status: MemberStatus,
    /// The identity provider's issuer and subject, bound at the first sign-in.
    pub oidc_issuer: Option<String>,
    pub oidc_subject: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Member {
    /// What the access rules need to know of it.
    pub fn facts(&self) -> MemberFacts {
        MemberFacts {
            id: self.id.clone(),
            organisation_id: self.organisation_id.clone(),
            role: self.role,
            administers: self.administers,
            status: self.status,
        }
    }
}

/// A program's key to the API. The key itself is never stored: only its SHA-256.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = api_keys)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub organisation_id: OrganisationId,
    pub role: Role,
    pub name: String,
    /// The key's first characters (`cfk_` and eight more), to recognise it in a list.
    pub prefix: String,
    /// Hex SHA-256 of the whole key.
    pub secret_sha256: String,
    pub created_by: MemberId,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    /// The last day it was used (a day, not a time: one write a key a day at most).
    pub last_used_on: Option<NaiveDate>,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_by: Option<String>,
}

/// One step of the audit trail. Holds no secret: no key, no token, no session id.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = audit_events)]
pub struct AuditEvent {
    pub id: String,
    pub at: NaiveDateTime,
    /// Who acted: a member (`mem_…`), a key (`key_…`), a token's subject, or `operator` (the
    /// command line).
    pub actor: String,
    pub actor_organisation_id: Option<OrganisationId>,
    /// Whose trail it is; `None`: the installation's (admins).
    pub organisation_id: Option<OrganisationId>,
    pub action: AuditAction,
    /// The member or key acted on.
    pub target: Option<String>,
    /// What changed, in words (never an email or a key).
    pub detail: String,
    /// The address the request came from (behind a proxy, the proxy's).
    pub address: Option<String>,
}

/// A browser's session: the SHA-256 of the cookie's id, never the id itself.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = sessions)]
pub struct Session {
    pub id_sha256: String,
    pub member_id: MemberId,
    pub csrf_token: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub address: Option<String>,
}
