//! Rows as stored. Money columns end in `_minor` (integer minor units of the row's currency).

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = organisations)]
pub struct Organisation {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub identifier: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = organisation_area_codes)]
pub struct OrganisationAreaCode {
    pub organisation_id: String,
    pub area_code: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = organisation_billing_emails)]
pub struct OrganisationBillingEmail {
    pub organisation_id: String,
    pub email: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = funds)]
pub struct Fund {
    pub id: String,
    pub name: String,
    pub owner_organisation_id: String,
    pub currency: String,
    pub budget_minor: i64,
    pub service_start: NaiveDate,
    pub service_end: NaiveDate,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = projects)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub fund_id: Option<String>,
    pub provider_organisation_id: String,
    pub currency: String,
    pub service_start: NaiveDate,
    pub service_end: NaiveDate,
    pub referral_cutoff: Option<NaiveDate>,
    pub max_outcome_payment_minor: Option<i64>,
    pub participant_cap_minor: Option<i64>,
    pub cap_policy: String,
    pub settlement_route: String,
    pub settlement_frequency: String,
    pub policy_sector: Option<String>,
    pub target_population: Option<String>,
    pub stage_development: Option<String>,
    pub published: bool,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = project_payers)]
pub struct ProjectPayer {
    pub id: String,
    pub project_id: String,
    pub position: i32,
    pub organisation_id: String,
    pub role: String,
    pub max_commitment_minor: i64,
    pub share: Option<String>,
    pub lead: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = payer_phases)]
pub struct PayerPhase {
    pub payer_id: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub share: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = payer_home_areas)]
pub struct PayerHomeArea {
    pub payer_id: String,
    pub area_code: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = project_validators)]
pub struct ProjectValidator {
    pub project_id: String,
    pub organisation_id: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = outcome_metrics)]
pub struct OutcomeMetric {
    pub id: String,
    pub project_id: String,
    pub position: i32,
    pub code: String,
    pub name: String,
    pub price_minor: i64,
    pub unit: String,
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
    pub validator_organisation_ids: Vec<String>,
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
