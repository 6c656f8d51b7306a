//! `/v1/projects`: social outcomes partnerships with their payers and rate cards.

use crate::domain::ids::{FundId, PayerId, ProjectId};
use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Principal;
use super::error::{ApiError, Problem};
use super::extract::{JsonBody, PageQuery};
use super::{idempotent_create, with_db, Page};
use crate::config::Config;
use crate::db::models::{OutcomeMetric, PayerRecord, ProjectRecord};
use crate::db::Pool;
use crate::domain::commitment::{agreement, Agreement, CommitmentStatus};
use crate::domain::ledger::{payer_account, unfunded_account};
use crate::domain::money::{Minor, MoneyJson};
use crate::domain::registry::{
    NewProject, OutcomeUnit, PayerRole, Requirement, SettlementFrequency, SettlementRoute,
};
use crate::domain::split::CapPolicy;
use crate::services::access::VisibleProject;
use crate::services::registry::{self, ProjectStanding};
use crate::services::stored_terms::check_currency;

/// A project with its payers, rate card and settlement terms.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::project_view)]
pub struct ProjectView {
    /// Its id, `prj_…`.
    pub id: String,
    /// The project's name.
    pub name: String,
    /// The central outcomes fund (`fund_…`) that tops the project up; null when it has none.
    pub fund_id: Option<String>,
    /// The organisation (`org_…`) that delivers the service and submits its claims.
    pub provider_organisation_id: String,
    /// ISO 4217 code of the one currency all the project's amounts are in.
    pub currency: String,
    /// First day of the service period; outcomes achieved before it are refused.
    pub service_start: NaiveDate,
    /// Last day of the service period (inclusive); outcomes achieved after it are refused.
    pub service_end: NaiveDate,
    /// Last day (inclusive) on which a participant may be referred; null when there is no cut-off.
    pub referral_cutoff: Option<NaiveDate>,
    /// The contract cap: the most the project pays in outcomes; null when uncapped.
    pub max_outcome_payment: Option<MoneyJson>,
    /// The most paid for any one participant; null when there is no such cap.
    pub participant_cap: Option<MoneyJson>,
    /// What happens to the part a capped payer cannot pay.
    pub cap_policy: CapPolicy,
    /// Who invoices whom.
    pub settlement_route: SettlementRoute,
    /// How often settlement documents are built: per quarter or per month.
    pub settlement_frequency: SettlementFrequency,
    /// Days after its issue date that a settlement document is due.
    pub payment_terms_days: i32,
    /// `agreed` once every payer has accepted its commitment (only then are claims
    /// verified), `declined` if any payer has declined, `proposed` otherwise.
    pub agreement: Agreement,
    /// Who pays for the outcomes, with their caps and shares.
    pub payers: Vec<PayerView>,
    /// The rate card: every outcome the project pays for.
    pub outcomes: Vec<OutcomeView>,
    /// Organisations (`org_…`) that may verify or reject the project's claims.
    pub validator_organisation_ids: Vec<String>,
    /// Whether the project is included in the published open data.
    pub published: bool,
    /// INDIGO `policy_sector`; null when not given.
    pub policy_sector: Option<String>,
    /// INDIGO `target_population`; null when not given.
    pub target_population: Option<String>,
    /// INDIGO `stage_development`; null when not given.
    pub stage_development: Option<String>,
    /// INDIGO `social_challenge`: the problem the project addresses; null when not given.
    pub social_challenge: Option<String>,
    /// When the project was created (UTC).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// One payer of a project: who pays, up to how much, and its share.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayerView {
    /// Its id on the project, `pyr_…`.
    pub id: String,
    /// The organisation (`org_…`) that pays this share.
    pub organisation_id: String,
    /// Its part on the project.
    pub role: PayerRole,
    /// The most this payer pays across the project (its cap).
    pub max_commitment: MoneyJson,
    /// `fixed`: `share` applies; `pro_rata`: max_commitment over the sum of all maximums.
    pub share_basis: ShareBasis,
    /// Its fixed share, a decimal string such as "0.3"; null when shares are pro rata.
    pub share: Option<String>,
    /// Shares for date ranges that replace `share` on the days they cover; may be empty.
    pub phases: Vec<PhaseView>,
    /// Area codes whose residents' local part this payer takes; may be empty.
    pub home_area_codes: Vec<String>,
    /// Whether it is the lead commissioner, which fronts the central share under
    /// `via_commissioner`.
    pub lead: bool,
    /// The fund a `central_top_up` payer pays from.
    pub fund_id: Option<String>,
    /// Whether the payer has agreed its commitment: `proposed` until it accepts or declines
    /// (`/v1/projects/{id}/commitments` has who, when and why).
    pub commitment: CommitmentStatus,
    /// Running totals from the ledger; absent where the caller may not see this payer's
    /// money (a commissioner sees its own only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totals: Option<PayerTotals>,
}

/// A payer's running totals from the ledger.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PayerTotals {
    /// Net of reversals.
    pub allocated: MoneyJson,
    /// What this payer's cap left unfunded.
    pub shortfall: MoneyJson,
    /// `max_commitment` less `allocated`.
    pub headroom: MoneyJson,
}

/// How a payer's share is set: `fixed` (its `share`) or `pro_rata` (its `max_commitment` over the
/// sum of all payers' maximums).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShareBasis {
    /// Every payer gave a share; `share` applies.
    Fixed,
    /// No payer gave a share: shares are pro rata to `max_commitment`.
    ProRata,
}

/// A share that applies from one date to another, both inclusive.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhaseView {
    /// First day the share applies (inclusive).
    pub from: NaiveDate,
    /// Last day the share applies (inclusive).
    pub to: NaiveDate,
    /// The payer's share on those days, a decimal string such as "0.5".
    pub share: String,
}

/// One outcome of a project's rate card.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutcomeView {
    /// Its id, `out_…`.
    pub id: String,
    /// Its code, unique within the project, that claims name (`EMPLOYED_13W`).
    pub code: String,
    /// Its name.
    pub name: String,
    /// Price per unit, before deadweight and caps.
    pub price: MoneyJson,
    /// What one unit is: an achievement, or a week or day of a time-based outcome.
    pub unit: OutcomeUnit,
    /// Most units (weeks or days) paid for one participant; null when unlimited.
    pub max_units_per_participant: Option<i32>,
    /// How many times one participant may be paid this outcome.
    pub max_claims_per_participant: i32,
    /// Outcomes sharing this group are mutually exclusive for one participant; null when none.
    pub exclusive_group: Option<String>,
    /// The outcome a participant must have achieved first, and how long before; null when none.
    pub requires: Option<Requirement>,
    /// Most achievements (or units) paid across the project; null when uncapped.
    pub volume_cap: Option<i32>,
    /// Fraction deducted from the price, a decimal string such as "0.1"; null when none.
    pub deadweight: Option<String>,
    /// Youngest age at start that is paid; null when not limited.
    pub min_age_at_start: Option<i32>,
    /// Oldest age at start that is paid; null when not limited.
    pub max_age_at_start: Option<i32>,
}

impl From<ProjectRecord> for ProjectView {
    fn from(record: ProjectRecord) -> ProjectView {
        let p = record.project;
        let currency = p.currency.clone();
        let money = |minor: Minor| MoneyJson::from_minor(minor, &currency);
        ProjectView {
            agreement: agreement(record.payers.iter().map(|r| r.payer.commitment)),
            payers: (record.payers.into_iter())
                .map(|r| PayerView::from_record(r, &currency))
                .collect(),
            outcomes: (record.outcomes.into_iter())
                .map(|o| OutcomeView::from_row(o, &currency))
                .collect(),
            max_outcome_payment: p.max_outcome_payment_minor.map(money),
            participant_cap: p.participant_cap_minor.map(money),
            cap_policy: p.cap_policy,
            settlement_route: p.settlement_route,
            settlement_frequency: p.settlement_frequency,
            validator_organisation_ids: (record.validator_organisation_ids.into_iter())
                .map(String::from)
                .collect(),
            payment_terms_days: p.payment_terms_days,
            id: String::from(p.id),
            name: p.name,
            fund_id: p.fund_id.map(String::from),
            provider_organisation_id: p.provider_organisation_id.to_string(),
            currency: p.currency,
            service_start: p.service_start,
            service_end: p.service_end,
            referral_cutoff: p.referral_cutoff,
            published: p.published,
            policy_sector: p.policy_sector,
            target_population: p.target_population,
            stage_development: p.stage_development,
            social_challenge: p.social_challenge,
            created_at: p.created_at.and_utc(),
        }
    }
}

impl PayerView {
    fn from_record(r: PayerRecord, currency: &str) -> PayerView {
        PayerView {
            id: String::from(r.payer.id),
            organisation_id: r.payer.organisation_id.to_string(),
            role: r.payer.role,
            max_commitment: MoneyJson::from_minor(r.payer.max_commitment_minor, currency),
            share_basis: if r.payer.share.is_some() {
                ShareBasis::Fixed
            } else {
                ShareBasis::ProRata
            },
            share: r.payer.share,
            phases: (r.phases.into_iter())
                .map(|ph| PhaseView {
                    from: ph.starts_on,
                    to: ph.ends_on,
                    share: ph.share,
                })
                .collect(),
            home_area_codes: r.home_area_codes,
            lead: r.payer.lead,
            fund_id: r.payer.fund_id.map(String::from),
            commitment: r.payer.commitment,
            totals: None,
        }
    }
}

impl OutcomeView {
    fn from_row(o: OutcomeMetric, currency: &str) -> OutcomeView {
        OutcomeView {
            price: MoneyJson::from_minor(o.price_minor, currency),
            unit: o.unit,
            requires: o.requires_outcome_code.map(|code| Requirement {
                outcome_code: code,
                min_days_after: o.requires_min_days_after.unwrap_or(0),
            }),
            id: o.id,
            code: o.code,
            name: o.name,
            max_units_per_participant: o.max_units_per_participant,
            max_claims_per_participant: o.max_claims_per_participant,
            exclusive_group: o.exclusive_group,
            volume_cap: o.volume_cap,
            deadweight: o.deadweight,
            min_age_at_start: o.min_age_at_start,
            max_age_at_start: o.max_age_at_start,
        }
    }
}

/// The project as `viewer` may see it, with the running totals of the payers whose money the
/// viewer may see.
fn view_with_totals(
    ProjectStanding { project, totals }: ProjectStanding,
    viewer: &Principal,
) -> Result<ProjectView, ApiError> {
    view_of(project, &totals, viewer)
}

/// A project's view with its payers' totals from `totals` (its running totals), for those
/// payers whose money `viewer` may see.
fn view_of(
    project: VisibleProject,
    totals: &HashMap<String, i64>,
    viewer: &Principal,
) -> Result<ProjectView, ApiError> {
    let money = project.money(viewer);
    let record = project.record;
    // A view that defaulted a corrupt label would misstate the contract: refuse instead.
    check_currency(&record.project)?;
    let balance = |account: String| totals.get(&account).copied().unwrap_or(0);
    // Each payer's maximum, where the caller may see its money (decided on the typed row).
    let seen_maxima: Vec<(PayerId, Option<Minor>)> = (record.payers.iter())
        .map(|p| {
            let seen = money.sees(&p.payer.organisation_id);
            (
                p.payer.id.clone(),
                seen.then_some(p.payer.max_commitment_minor),
            )
        })
        .collect();
    let mut view = ProjectView::from(record);
    for (payer, (payer_id, max)) in view.payers.iter_mut().zip(seen_maxima) {
        let Some(max) = max else { continue };
        let currency = &payer.max_commitment.currency;
        let paid = balance(payer_account(&payer_id));
        payer.totals = Some(PayerTotals {
            allocated: MoneyJson::from_minor(paid, currency),
            shortfall: MoneyJson::from_minor(balance(unfunded_account(&payer_id)), currency),
            headroom: MoneyJson::from_minor(max.get().saturating_sub(paid), currency),
        });
    }
    Ok(view)
}

/// Create a project with its payers and rate card.
#[utoipa::path(
    post, path = "/v1/projects", tag = "registry", operation_id = "createProject",
    description = "An admin, or a fund manager committing only its own organisation's money: a project in a fund must be in a fund its organisation owns, a project without one must have its organisation among the payers, and every fund a payer tops up from must be its organisation's too. Creates the project with its payers, share schedule, rate card and validators, and commits each `central_top_up` payer's `max_commitment` against its fund's budget, which it may not exceed. Send an `Idempotency-Key` to retry safely: the same key with the same request returns the first response, with a different request it is a 422.",
    request_body = NewProject,
    params(("Idempotency-Key" = Option<String>, Header, description = "retry-safe key")),
    responses(
        (status = 201, description = "The project as created, with the running totals of the payers whose money the caller sees", body = ProjectView),
        (status = 403, description = "Not an admin or fund manager, or a fund manager committing another organisation's fund", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid project (shares that do not sum to 1, an organisation of the wrong kind, a fund's budget exceeded…); `errors` names each field", body = crate::api::error::documented::ValidationProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    req: HttpRequest,
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    // Asked before the body is read, so that a caller who may not create projects is told so
    // first.
    principal.require(registry::REGISTRY_CREATORS)?;
    let input: NewProject = body.parse()?;
    let creator = principal.clone();
    idempotent_create(&pool, &principal, &req, body.bytes(), move |conn| {
        let created = registry::create_project(conn, &creator, input, &config.clock)?;
        view_with_totals(created, &creator)
    })
    .await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProjectListQuery {
    /// Only projects of this fund.
    pub fund_id: Option<String>,
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// List the projects the caller may see.
#[utoipa::path(
    get, path = "/v1/projects", tag = "registry", operation_id = "listProjects",
    description = "Any role; only the projects the caller may see: every project for an admin; for a fund manager those of its organisation's funds and those its organisation pays into; for a commissioner those its organisation pays into; for a provider its own; for a validator those naming its organisation. Nothing changes. A payer's `totals` appear only where the caller sees that payer's money (a payer that neither owns the project's fund nor is the lead under `via_commissioner` sees only its own). Ordered by id: pass `next_cursor` back as `cursor` for the next page.",
    params(ProjectListQuery),
    responses((status = 200, description = "A page of the projects the caller may see", body = Page<ProjectView>, example = json!(crate::api::examples::project_page()))),
    security(("bearer" = []))
)]
pub async fn list(
    pool: web::Data<Pool>,
    principal: Principal,
    query: web::Query<ProjectListQuery>,
) -> Result<web::Json<Page<ProjectView>>, ApiError> {
    let query = query.into_inner();
    let limit = PageQuery {
        cursor: None,
        limit: query.limit,
    }
    .limit()?;
    let viewer = principal.clone();
    let projects = with_db(&pool, move |conn| {
        let fund = query.fund_id.map(FundId::from);
        let cursor = query.cursor.as_deref();
        Ok(registry::projects_page(
            conn,
            &principal,
            fund.as_ref(),
            cursor,
            limit,
        )?)
    })
    .await?;
    let items = projects
        .into_iter()
        .map(|p| view_with_totals(p, &viewer))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(web::Json(Page::new(items, limit, |p: &ProjectView| {
        p.id.clone()
    })))
}

/// One project with its payers and rate card.
#[utoipa::path(
    get, path = "/v1/projects/{id}", tag = "registry", operation_id = "getProject",
    description = "Any role, for a project it may see (as listProjects says); a project it may not see is a 404, so that its existence is not revealed. Nothing changes. A payer's `totals` appear only where the caller sees that payer's money.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The project", body = ProjectView),
        (status = 404, description = "No project with this id that the caller can see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    pool: web::Data<Pool>,
    principal: Principal,
    id: web::Path<ProjectId>,
) -> Result<web::Json<ProjectView>, ApiError> {
    let id = id.into_inner();
    let viewer = principal.clone();
    let project = with_db(&pool, move |conn| {
        Ok(registry::project(conn, &principal, &id)?)
    })
    .await?;
    let view = view_with_totals(project, &viewer)?;
    Ok(web::Json(view))
}
