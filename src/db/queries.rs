//! Reads and writes of the registry. Every function takes a connection; the caller decides the
//! transaction (see [`super::write_tx`]).

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::Error as DieselError;

use super::bulk::load_where_in;
use super::models::*;
use super::schema::*;
use super::{DbConn, MultiBackend};
use crate::domain::claims::ClaimStatus;
use crate::domain::commitment::Creator;
use crate::domain::outbox::OutboxStatus;
use crate::domain::registry::{
    FundFacts, FundPlan, NewProject, OrganisationKind, OrganisationPlan, ProjectPlan,
};
use crate::domain::settlement::{DocumentKind, DocumentStatus};

/// Inserts many rows: on PostgreSQL every row in one COPY, its bulk path (several times the
/// rate of a multi-row INSERT), so that a batch costs one statement and one round trip however
/// many rows it carries. On SQLite, which has no round trips, multi-row INSERTs of a fixed
/// number of rows, which diesel prepares once per connection and reuses (a statement of any
/// other size is parsed anew each time, which cost as much as a sixth of a bulk write; one
/// statement for every row, passed as JSON, was measured half as fast again). The
/// multi-backend connection cannot build a multi-row INSERT, so this goes through the concrete
/// connection.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let rows = $rows;
        let mut inserted = 0usize;
        match &mut *$conn {
            _ if rows.is_empty() => {}
            $crate::db::DbConn::Pg(c) => {
                use diesel::ExecuteCopyFromDsl;
                inserted += diesel::copy_from($table).from_insertable(rows).execute(c)?;
            }
            $crate::db::DbConn::Sqlite(c) => {
                const BATCH: usize = $crate::db::queries::SQLITE_BATCH_ROWS;
                let mut batches = rows.chunks_exact(BATCH);
                for batch in &mut batches {
                    let batch: &[_; BATCH] = batch.try_into().expect("chunks_exact");
                    inserted += diesel::insert_into($table).values(batch).execute(c)?;
                }
                let rest = batches.remainder();
                if !rest.is_empty() {
                    inserted += diesel::insert_into($table).values(rest).execute(c)?;
                }
            }
        }
        Ok::<usize, diesel::result::Error>(inserted)
    }};
}
pub(crate) use insert_rows;

/// Rows per SQLite INSERT statement of a bulk write (at 32 columns, 4,096 parameters).
pub const SQLITE_BATCH_ROWS: usize = 128;

/// A project's running totals (see the `running_totals` table): ledger account balances and
/// units paid per outcome, by name.
pub fn running_totals(
    conn: &mut DbConn,
    project_id: &str,
) -> Result<HashMap<String, i64>, DieselError> {
    let rows: Vec<(String, i64)> = running_totals::table
        .filter(running_totals::project_id.eq(project_id))
        .select((running_totals::name, running_totals::value))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// The running totals of several projects (one query for a page of them), by project id.
pub fn running_totals_of(
    conn: &mut DbConn,
    project_ids: &[&str],
) -> Result<HashMap<String, HashMap<String, i64>>, DieselError> {
    let rows: Vec<(String, String, i64)> = running_totals::table
        .filter(running_totals::project_id.eq_any(project_ids))
        .select((
            running_totals::project_id,
            running_totals::name,
            running_totals::value,
        ))
        .load(conn)?;
    let mut totals: HashMap<String, HashMap<String, i64>> = HashMap::new();
    for (project_id, name, value) in rows {
        totals.entry(project_id).or_default().insert(name, value);
    }
    Ok(totals)
}

/// The owning organisation of each of these funds, by fund id.
pub fn fund_owners(
    conn: &mut DbConn,
    fund_ids: &[&str],
) -> Result<HashMap<String, String>, DieselError> {
    let rows: Vec<(String, String)> = funds::table
        .filter(funds::id.eq_any(fund_ids))
        .select((funds::id, funds::owner_organisation_id))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Adds `deltas` to a project's running totals. The caller holds the project's lock, so a
/// read-then-write cannot race.
pub fn add_running_totals(
    conn: &mut DbConn,
    project_id: &str,
    deltas: &HashMap<String, i64>,
) -> Result<(), DieselError> {
    for (name, delta) in deltas.iter().filter(|(_, d)| **d != 0) {
        let target = running_totals::table
            .filter(running_totals::project_id.eq(project_id))
            .filter(running_totals::name.eq(name));
        let updated = diesel::update(target)
            .set(running_totals::value.eq(running_totals::value + *delta))
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(running_totals::table)
                .values((
                    running_totals::project_id.eq(project_id),
                    running_totals::name.eq(name),
                    running_totals::value.eq(*delta),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// Inserts claim rows as they are, without any rule (the benchmark's reference).
pub fn insert_claim_rows(conn: &mut DbConn, rows: &[Claim]) -> Result<usize, DieselError> {
    insert_rows!(conn, claims::table, rows)
}

/// A new opaque identifier: a readable prefix and a time-ordered UUID, so that ordering by id
/// is ordering by creation (which is what cursors page through).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

// --- organisations ---------------------------------------------------------------------------

/// Stores a validated organisation, registered at `at`.
pub fn insert_organisation(
    conn: &mut DbConn,
    plan: OrganisationPlan,
    at: NaiveDateTime,
) -> Result<OrganisationRecord, DieselError> {
    let organisation = Organisation {
        id: new_id("org"),
        name: plan.name,
        kind: plan.kind.as_str().to_owned(),
        identifier: plan.identifier,
        created_at: at,
    };
    diesel::insert_into(organisations::table)
        .values(&organisation)
        .execute(conn)?;
    let areas: Vec<OrganisationAreaCode> = plan
        .area_codes
        .iter()
        .map(|code| OrganisationAreaCode {
            organisation_id: organisation.id.clone(),
            area_code: code.clone(),
        })
        .collect();
    insert_rows!(conn, organisation_area_codes::table, &areas)?;
    let emails: Vec<OrganisationBillingEmail> = plan
        .billing_emails
        .iter()
        .map(|email| OrganisationBillingEmail {
            organisation_id: organisation.id.clone(),
            email: email.clone(),
        })
        .collect();
    insert_rows!(conn, organisation_billing_emails::table, &emails)?;
    Ok(OrganisationRecord {
        organisation,
        area_codes: plan.area_codes,
        billing_emails: plan.billing_emails,
    })
}

/// Adds billing addresses, each `(organisation id, address)`.
pub fn add_billing_emails(
    conn: &mut DbConn,
    addresses: &[(String, String)],
) -> Result<(), DieselError> {
    let rows: Vec<OrganisationBillingEmail> = addresses
        .iter()
        .map(|(organisation_id, email)| OrganisationBillingEmail {
            organisation_id: organisation_id.clone(),
            email: email.clone(),
        })
        .collect();
    insert_rows!(conn, organisation_billing_emails::table, &rows)?;
    Ok(())
}

pub fn identifier_taken(conn: &mut DbConn, identifier: &str) -> Result<bool, DieselError> {
    let n: i64 = organisations::table
        .filter(organisations::identifier.eq(identifier))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

pub fn get_organisation(
    conn: &mut DbConn,
    id: &str,
) -> Result<Option<OrganisationRecord>, DieselError> {
    let found = organisations::table
        .find(id)
        .select(Organisation::as_select())
        .first(conn)
        .optional()?;
    match found {
        None => Ok(None),
        Some(org) => Ok(attach_organisation_details(conn, vec![org])?.pop()),
    }
}

pub fn list_organisations(
    conn: &mut DbConn,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<OrganisationRecord>, DieselError> {
    let mut query = organisations::table
        .select(Organisation::as_select())
        .into_boxed::<MultiBackend>();
    if let Some(after) = after {
        query = query.filter(organisations::id.gt(after.to_owned()));
    }
    let rows = query
        .order(organisations::id.asc())
        .limit(limit)
        .load(conn)?;
    attach_organisation_details(conn, rows)
}

fn attach_organisation_details(
    conn: &mut DbConn,
    rows: Vec<Organisation>,
) -> Result<Vec<OrganisationRecord>, DieselError> {
    let ids: Vec<&String> = rows.iter().map(|o| &o.id).collect();
    let mut areas: HashMap<String, Vec<String>> = HashMap::new();
    for row in organisation_area_codes::table
        .filter(organisation_area_codes::organisation_id.eq_any(&ids))
        .order(organisation_area_codes::area_code.asc())
        .select(OrganisationAreaCode::as_select())
        .load(conn)?
    {
        areas
            .entry(row.organisation_id)
            .or_default()
            .push(row.area_code);
    }
    let mut emails: HashMap<String, Vec<String>> = HashMap::new();
    for row in organisation_billing_emails::table
        .filter(organisation_billing_emails::organisation_id.eq_any(&ids))
        .order(organisation_billing_emails::email.asc())
        .select(OrganisationBillingEmail::as_select())
        .load(conn)?
    {
        emails
            .entry(row.organisation_id)
            .or_default()
            .push(row.email);
    }
    Ok(rows
        .into_iter()
        .map(|organisation| OrganisationRecord {
            area_codes: areas.remove(&organisation.id).unwrap_or_default(),
            billing_emails: emails.remove(&organisation.id).unwrap_or_default(),
            organisation,
        })
        .collect())
}

/// Kinds of those of `ids` that exist.
pub fn organisation_kinds(
    conn: &mut DbConn,
    ids: &[&str],
) -> Result<HashMap<String, OrganisationKind>, DieselError> {
    let rows: Vec<(String, String)> = organisations::table
        .filter(organisations::id.eq_any(ids))
        .select((organisations::id, organisations::kind))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, kind)| OrganisationKind::from_db(&kind).map(|k| (id, k)))
        .collect())
}

// --- funds -----------------------------------------------------------------------------------

/// Stores a validated fund, registered at `at`.
pub fn insert_fund(
    conn: &mut DbConn,
    plan: FundPlan,
    at: NaiveDateTime,
) -> Result<Fund, DieselError> {
    let fund = Fund {
        id: new_id("fund"),
        name: plan.name,
        owner_organisation_id: plan.owner_organisation_id,
        currency: plan.currency.code().to_owned(),
        budget_minor: plan.budget_minor,
        service_start: plan.service_start,
        service_end: plan.service_end,
        created_at: at,
    };
    diesel::insert_into(funds::table)
        .values(&fund)
        .execute(conn)?;
    Ok(fund)
}

pub fn get_fund(conn: &mut DbConn, id: &str) -> Result<Option<Fund>, DieselError> {
    funds::table
        .find(id)
        .select(Fund::as_select())
        .first(conn)
        .optional()
}

pub fn list_funds(
    conn: &mut DbConn,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Fund>, DieselError> {
    let mut query = funds::table
        .select(Fund::as_select())
        .into_boxed::<MultiBackend>();
    if let Some(after) = after {
        query = query.filter(funds::id.gt(after.to_owned()));
    }
    query.order(funds::id.asc()).limit(limit).load(conn)
}

/// Top-up committed from a fund: the maximum commitments of the central top-up payers that
/// pay from it, on whichever projects, but for projects a payer has declined (a declined
/// project is never paid; a proposed commitment holds its budget until it is answered).
/// Summed in Rust: `SUM(BIGINT)` is NUMERIC on PostgreSQL, which the multi-backend connection
/// cannot load.
pub fn fund_committed_minor(conn: &mut DbConn, fund_id: &str) -> Result<i64, DieselError> {
    // Only central top-ups name a fund (`cofund check` audits it); not filtering by role
    // as well keeps a corrupt role from freeing budget.
    let commitments: Vec<(String, i64)> = project_payers::table
        .filter(project_payers::fund_id.eq(fund_id))
        .select((
            project_payers::project_id,
            project_payers::max_commitment_minor,
        ))
        .load(conn)?;
    let projects: Vec<&str> = commitments.iter().map(|(p, _)| p.as_str()).collect();
    let declined = crate::domain::commitment::CommitmentStatus::Declined.as_str();
    let declined: HashSet<String> = project_payers::table
        .filter(project_payers::project_id.eq_any(&projects))
        .filter(project_payers::commitment.eq(declined))
        .select(project_payers::project_id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    Ok(commitments
        .iter()
        .filter(|(project, _)| !declined.contains(project))
        .map(|(_, minor)| minor)
        .sum())
}

/// Every fund a new project or its payers name, in id order (the order to lock them in).
pub fn funds_named(input: &NewProject) -> Vec<&str> {
    let mut ids: Vec<&str> = input
        .fund_id
        .iter()
        .chain(input.payers.iter().filter_map(|p| p.fund_id.as_ref()))
        .map(String::as_str)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The facts of every fund a new project or its payers name that exists, by id.
pub fn named_fund_facts(
    conn: &mut DbConn,
    input: &NewProject,
) -> Result<HashMap<String, FundFacts>, DieselError> {
    let mut funds = HashMap::new();
    for id in funds_named(input) {
        if let Some(facts) = fund_facts(conn, id)? {
            funds.insert(id.to_owned(), facts);
        }
    }
    Ok(funds)
}

pub fn fund_facts(conn: &mut DbConn, fund_id: &str) -> Result<Option<FundFacts>, DieselError> {
    let Some(fund) = get_fund(conn, fund_id)? else {
        return Ok(None);
    };
    Ok(Some(FundFacts {
        committed_minor: fund_committed_minor(conn, fund_id)?,
        owner_organisation_id: fund.owner_organisation_id,
        currency: fund.currency,
        budget_minor: fund.budget_minor,
        service_end: fund.service_end,
    }))
}

// --- projects --------------------------------------------------------------------------------

/// Stores a validated project; each payer's commitment stands as `creator` may make it
/// (see [`Creator::commitment_of`]).
pub fn insert_project(
    conn: &mut DbConn,
    plan: &ProjectPlan,
    creator: Creator,
    at: NaiveDateTime,
) -> Result<String, DieselError> {
    let project = project_row(plan, at);
    diesel::insert_into(projects::table)
        .values(&project)
        .execute(conn)?;
    let (payers, phases, areas) = payer_rows(&project.id, plan, creator);
    insert_rows!(conn, project_payers::table, &payers)?;
    insert_rows!(conn, payer_phases::table, &phases)?;
    insert_rows!(conn, payer_home_areas::table, &areas)?;
    let outcomes = outcome_rows(&project.id, plan);
    insert_rows!(conn, outcome_metrics::table, &outcomes)?;
    let validators: Vec<ProjectValidator> = plan
        .validator_organisation_ids
        .iter()
        .map(|org| ProjectValidator {
            project_id: project.id.clone(),
            organisation_id: org.clone(),
        })
        .collect();
    insert_rows!(conn, project_validators::table, &validators)?;
    Ok(project.id)
}

fn project_row(plan: &ProjectPlan, at: NaiveDateTime) -> Project {
    Project {
        id: new_id("prj"),
        name: plan.name.clone(),
        fund_id: plan.fund_id.clone(),
        provider_organisation_id: plan.provider_organisation_id.clone(),
        currency: plan.currency.code().to_owned(),
        service_start: plan.service_start,
        service_end: plan.service_end,
        referral_cutoff: plan.referral_cutoff,
        max_outcome_payment_minor: plan.max_outcome_payment_minor,
        participant_cap_minor: plan.participant_cap_minor,
        cap_policy: plan.cap_policy.as_str().to_owned(),
        settlement_route: plan.settlement_route.as_str().to_owned(),
        settlement_frequency: plan.settlement_frequency.as_str().to_owned(),
        policy_sector: plan.policy_sector.clone(),
        target_population: plan.target_population.clone(),
        stage_development: plan.stage_development.clone(),
        social_challenge: plan.social_challenge.clone(),
        published: plan.published,
        created_at: at,
        payment_terms_days: i32::from(plan.payment_terms_days),
    }
}

/// The payers' rows, with their phases and home areas; each commitment as `creator` may make it.
fn payer_rows(
    project_id: &str,
    plan: &ProjectPlan,
    creator: Creator,
) -> (Vec<ProjectPayer>, Vec<PayerPhase>, Vec<PayerHomeArea>) {
    let mut payers = Vec::new();
    let mut phases = Vec::new();
    let mut areas = Vec::new();
    for (position, payer) in plan.payers.iter().enumerate() {
        let payer_id = new_id("pyr");
        payers.push(ProjectPayer {
            id: payer_id.clone(),
            project_id: project_id.to_owned(),
            position: position as i32,
            organisation_id: payer.organisation_id.clone(),
            role: payer.role.as_str().to_owned(),
            max_commitment_minor: payer.max_commitment_minor,
            share: payer.share.map(|s| s.to_string()),
            lead: payer.lead,
            fund_id: payer.fund_id.clone(),
            commitment: creator
                .commitment_of(&payer.organisation_id)
                .as_str()
                .to_owned(),
        });
        phases.extend(payer.phases.iter().map(|ph| PayerPhase {
            payer_id: payer_id.clone(),
            starts_on: ph.from,
            ends_on: ph.to,
            share: ph.share.to_string(),
        }));
        areas.extend(payer.home_area_codes.iter().map(|code| PayerHomeArea {
            payer_id: payer_id.clone(),
            area_code: code.clone(),
        }));
    }
    (payers, phases, areas)
}

fn outcome_rows(project_id: &str, plan: &ProjectPlan) -> Vec<OutcomeMetric> {
    (plan.outcomes.iter().enumerate())
        .map(|(position, o)| OutcomeMetric {
            id: new_id("out"),
            project_id: project_id.to_owned(),
            position: position as i32,
            code: o.code.clone(),
            name: o.name.clone(),
            price_minor: o.price_minor,
            unit: o.unit.as_str().to_owned(),
            max_units_per_participant: o.max_units_per_participant,
            max_claims_per_participant: o.max_claims_per_participant,
            exclusive_group: o.exclusive_group.clone(),
            requires_outcome_code: o.requires.as_ref().map(|r| r.outcome_code.clone()),
            requires_min_days_after: o.requires.as_ref().map(|r| r.min_days_after),
            volume_cap: o.volume_cap,
            deadweight: o.deadweight.map(|d| d.to_string()),
            min_age_at_start: o.min_age_at_start,
            max_age_at_start: o.max_age_at_start,
        })
        .collect()
}

/// Whose projects a caller may see.
#[derive(Debug, Clone)]
pub enum ProjectScope {
    All,
    /// A fund manager: projects of funds its organisation owns, and projects it pays into.
    FundOwner(String),
    Payer(String),
    Provider(String),
    Validator(String),
}

pub fn list_projects(
    conn: &mut DbConn,
    scope: &ProjectScope,
    fund_id: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<ProjectRecord>, DieselError> {
    let mut query = projects::table
        .select(Project::as_select())
        .into_boxed::<MultiBackend>();
    match scope {
        ProjectScope::All => {}
        ProjectScope::FundOwner(org) => {
            let owned = funds::table
                .filter(funds::owner_organisation_id.eq(org.clone()))
                .select(funds::id);
            let paid = project_payers::table
                .filter(project_payers::organisation_id.eq(org.clone()))
                .select(project_payers::project_id);
            query = query.filter(
                projects::fund_id
                    .nullable()
                    .eq_any(owned.nullable())
                    .or(projects::id.eq_any(paid)),
            );
        }
        ProjectScope::Payer(org) => {
            let paid = project_payers::table
                .filter(project_payers::organisation_id.eq(org.clone()))
                .select(project_payers::project_id);
            query = query.filter(projects::id.eq_any(paid));
        }
        ProjectScope::Provider(org) => {
            query = query.filter(projects::provider_organisation_id.eq(org.clone()));
        }
        ProjectScope::Validator(org) => {
            let validated = project_validators::table
                .filter(project_validators::organisation_id.eq(org.clone()))
                .select(project_validators::project_id);
            query = query.filter(projects::id.eq_any(validated));
        }
    }
    if let Some(fund_id) = fund_id {
        query = query.filter(projects::fund_id.eq(fund_id.to_owned()));
    }
    if let Some(after) = after {
        query = query.filter(projects::id.gt(after.to_owned()));
    }
    let rows = query.order(projects::id.asc()).limit(limit).load(conn)?;
    load_project_details(conn, rows)
}

/// A project with the organisation owning the fund it draws on (read in the same query), as
/// every access check needs them.
pub fn get_project_and_fund_owner(
    conn: &mut DbConn,
    id: &str,
) -> Result<Option<(ProjectRecord, Option<String>)>, DieselError> {
    let row: Option<(Project, Option<String>)> = projects::table
        .left_join(funds::table)
        .filter(projects::id.eq(id))
        .select((
            Project::as_select(),
            funds::owner_organisation_id.nullable(),
        ))
        .first(conn)
        .optional()?;
    let Some((project, fund_owner)) = row else {
        return Ok(None);
    };
    Ok(load_project_details(conn, vec![project])?
        .pop()
        .map(|record| (record, fund_owner)))
}

/// A project row with its fund's owner and its payers (in the project's order): what an access
/// decision and a money scope need, with the payers' labels to check, in one statement (the
/// whole registry record, [`get_project_and_fund_owner`], takes six). Validators are
/// [`project_validator_ids`].
pub fn get_project_parties(
    conn: &mut DbConn,
    id: &str,
) -> Result<Option<ProjectWithPayers>, DieselError> {
    // One row per payer (one with no payer if it has none).
    type Payer = (String, String, bool, String, String);
    type Row = (Project, Option<String>, Option<Payer>);
    let rows: Vec<Row> = projects::table
        .left_join(funds::table)
        .left_join(project_payers::table)
        .filter(projects::id.eq(id))
        .order(project_payers::position.asc())
        .select((
            Project::as_select(),
            funds::owner_organisation_id.nullable(),
            (
                project_payers::id,
                project_payers::organisation_id,
                project_payers::lead,
                project_payers::role,
                project_payers::commitment,
            )
                .nullable(),
        ))
        .load(conn)?;
    let mut rows = rows.into_iter();
    let Some((project, fund_owner, first)) = rows.next() else {
        return Ok(None);
    };
    let payers = first
        .into_iter()
        .chain(rows.filter_map(|(_, _, payer)| payer))
        .map(|(id, organisation_id, lead, role, commitment)| PayerParty {
            id,
            organisation_id,
            lead,
            role,
            commitment,
        })
        .collect();
    Ok(Some(ProjectWithPayers {
        project,
        fund_owner,
        payers,
    }))
}

/// What [`get_project_parties`] reads.
pub struct ProjectWithPayers {
    pub project: Project,
    pub fund_owner: Option<String>,
    /// In the project's order.
    pub payers: Vec<PayerParty>,
}

/// A payer as an access decision sees it, with the labels loading it checks.
pub struct PayerParty {
    pub id: String,
    pub organisation_id: String,
    pub lead: bool,
    pub role: String,
    pub commitment: String,
}

/// The organisations validating a project's claims, in id order.
pub fn project_validator_ids(conn: &mut DbConn, id: &str) -> Result<Vec<String>, DieselError> {
    project_validators::table
        .filter(project_validators::project_id.eq(id))
        .order(project_validators::organisation_id.asc())
        .select(project_validators::organisation_id)
        .load(conn)
}

pub fn get_project(conn: &mut DbConn, id: &str) -> Result<Option<ProjectRecord>, DieselError> {
    match projects::table
        .find(id)
        .select(Project::as_select())
        .first(conn)
        .optional()?
    {
        None => Ok(None),
        Some(project) => Ok(load_project_details(conn, vec![project])?.pop()),
    }
}

/// `$column` is one of `$ids`: `=` for a single id, a statement each connection prepares once
/// and keeps (diesel does not keep `IN (…)` lists, so PostgreSQL would plan those again each
/// time), `IN (…)` for a page of them.
macro_rules! one_of {
    ($column:expr, $ids:expr) => {{
        let ids: &[&str] = $ids;
        let filter: Box<dyn BoxableExpression<_, MultiBackend, SqlType = diesel::sql_types::Bool>> =
            match ids {
                [one] => Box::new($column.eq((*one).to_owned())),
                many => Box::new(
                    $column.eq_any(
                        many.iter()
                            .map(|id| (*id).to_owned())
                            .collect::<Vec<String>>(),
                    ),
                ),
            };
        filter
    }};
}

/// The projects with their payers (phases, home areas), rate cards and validators: five
/// queries however many projects there are.
fn load_project_details(
    conn: &mut DbConn,
    projects: Vec<Project>,
) -> Result<Vec<ProjectRecord>, DieselError> {
    let project_ids: Vec<&str> = projects.iter().map(|p| p.id.as_str()).collect();
    let mut payers_of = load_payers_of(conn, &project_ids)?;
    let mut outcomes: HashMap<String, Vec<OutcomeMetric>> = HashMap::new();
    for outcome in outcome_metrics::table
        .filter(one_of!(outcome_metrics::project_id, &project_ids))
        .order((
            outcome_metrics::project_id.asc(),
            outcome_metrics::position.asc(),
        ))
        .select(OutcomeMetric::as_select())
        .load(conn)?
    {
        outcomes
            .entry(outcome.project_id.clone())
            .or_default()
            .push(outcome);
    }
    let mut validators: HashMap<String, Vec<String>> = HashMap::new();
    for (project_id, organisation_id) in project_validators::table
        .filter(one_of!(project_validators::project_id, &project_ids))
        .order((
            project_validators::project_id.asc(),
            project_validators::organisation_id.asc(),
        ))
        .select((
            project_validators::project_id,
            project_validators::organisation_id,
        ))
        .load::<(String, String)>(conn)?
    {
        validators
            .entry(project_id)
            .or_default()
            .push(organisation_id);
    }
    Ok(projects
        .into_iter()
        .map(|project| ProjectRecord {
            payers: payers_of.remove(&project.id).unwrap_or_default(),
            outcomes: outcomes.remove(&project.id).unwrap_or_default(),
            validator_organisation_ids: validators.remove(&project.id).unwrap_or_default(),
            project,
        })
        .collect())
}

/// The payers of the projects, with their phases and home areas, by project: three queries.
fn load_payers_of(
    conn: &mut DbConn,
    project_ids: &[&str],
) -> Result<HashMap<String, Vec<PayerRecord>>, DieselError> {
    let payers: Vec<ProjectPayer> = project_payers::table
        .filter(one_of!(project_payers::project_id, project_ids))
        .order((
            project_payers::project_id.asc(),
            project_payers::position.asc(),
        ))
        .select(ProjectPayer::as_select())
        .load(conn)?;
    // Phases and home areas by their payers' project (a join), not by a list of payer ids.
    let mut phases: HashMap<String, Vec<PayerPhase>> = HashMap::new();
    for phase in payer_phases::table
        .inner_join(project_payers::table)
        .filter(one_of!(project_payers::project_id, project_ids))
        .order(payer_phases::starts_on.asc())
        .select(PayerPhase::as_select())
        .load(conn)?
    {
        phases
            .entry(phase.payer_id.clone())
            .or_default()
            .push(phase);
    }
    let mut areas: HashMap<String, Vec<String>> = HashMap::new();
    for area in payer_home_areas::table
        .inner_join(project_payers::table)
        .filter(one_of!(project_payers::project_id, project_ids))
        .order(payer_home_areas::area_code.asc())
        .select(PayerHomeArea::as_select())
        .load(conn)?
    {
        areas.entry(area.payer_id).or_default().push(area.area_code);
    }
    let mut payers_of: HashMap<String, Vec<PayerRecord>> = HashMap::new();
    for payer in payers {
        payers_of
            .entry(payer.project_id.clone())
            .or_default()
            .push(PayerRecord {
                phases: phases.remove(&payer.id).unwrap_or_default(),
                home_area_codes: areas.remove(&payer.id).unwrap_or_default(),
                payer,
            });
    }
    Ok(payers_of)
}

pub fn count_organisations(conn: &mut DbConn) -> Result<i64, DieselError> {
    organisations::table.count().get_result(conn)
}

// --- idempotency -----------------------------------------------------------------------------

pub fn find_idempotent_response(
    conn: &mut DbConn,
    principal: &str,
    key: &str,
) -> Result<Option<IdempotencyRecord>, DieselError> {
    idempotency_keys::table
        .find((principal, key))
        .select(IdempotencyRecord::as_select())
        .first(conn)
        .optional()
}

/// Writes the response of a key reserved by
/// [`reserve_idempotency_key`](crate::db::backend_specific::reserve_idempotency_key).
pub fn store_idempotent_response(
    conn: &mut DbConn,
    principal: &str,
    key: &str,
    status: i32,
    body: &str,
) -> Result<(), DieselError> {
    diesel::update(idempotency_keys::table.find((principal, key)))
        .set((
            idempotency_keys::response_status.eq(status),
            idempotency_keys::response_body.eq(body),
        ))
        .execute(conn)
        .map(|_| ())
}

// --- claims and the ledger, as the API reads them ---------------------------------------------

/// How many claims an upload holds.
pub fn upload_claim_count(conn: &mut DbConn, upload_id: &str) -> Result<usize, DieselError> {
    let n: i64 = claims::table
        .filter(claims::upload_id.eq(upload_id))
        .count()
        .get_result(conn)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

pub fn find_claim(conn: &mut DbConn, id: &str) -> Result<Option<Claim>, DieselError> {
    claims::table
        .find(id)
        .select(Claim::as_select())
        .first(conn)
        .optional()
}

/// Which of a project's claims a list shows, after which id (keyset pagination).
#[derive(Debug, Default)]
pub struct ClaimFilter {
    pub status: Option<ClaimStatus>,
    pub upload_id: Option<String>,
    pub after: Option<String>,
}

pub fn list_claims(
    conn: &mut DbConn,
    project_id: &str,
    filter: ClaimFilter,
    limit: i64,
) -> Result<Vec<Claim>, DieselError> {
    let mut query = claims::table
        .filter(claims::project_id.eq(project_id.to_owned()))
        .select(Claim::as_select())
        .into_boxed::<MultiBackend>();
    if let Some(status) = filter.status {
        query = query.filter(claims::status.eq(status));
    }
    if let Some(upload) = filter.upload_id {
        query = query.filter(claims::upload_id.eq(upload));
    }
    if let Some(after) = filter.after {
        query = query.filter(claims::id.gt(after));
    }
    query.order(claims::id.asc()).limit(limit).load(conn)
}

/// The adjustments of these claims (one query for a whole page), each claim's in the order
/// they were applied.
pub fn claim_adjustments(
    conn: &mut DbConn,
    claim_ids: &[&str],
) -> Result<Vec<ClaimAdjustment>, DieselError> {
    load_where_in!(
        conn,
        claim_adjustments::table
            .order((
                claim_adjustments::claim_id.asc(),
                claim_adjustments::position.asc(),
            ))
            .select(ClaimAdjustment::as_select()),
        claim_adjustments::claim_id,
        "claim_adjustments.claim_id",
        claim_ids
    )
}

/// The allocations of some claims in the order they were posted, one statement however many
/// claims (a page's, see [`super::bulk`]); only those of `only_payer`'s organisation when the
/// caller sees only its own money. Read by the claim index alone: named with the project too,
/// the planner may walk the project's every allocation instead.
pub fn claim_allocations(
    conn: &mut DbConn,
    claim_ids: &[&str],
    only_payer: Option<&str>,
) -> Result<Vec<Allocation>, DieselError> {
    let rows: Vec<Allocation> = load_where_in!(
        conn,
        allocations::table
            .order(allocations::id.asc())
            .select(Allocation::as_select()),
        allocations::claim_id,
        "allocations.claim_id",
        claim_ids
    )?;
    Ok(match only_payer {
        None => rows,
        Some(org) => rows
            .into_iter()
            .filter(|a| a.payer_organisation_id == org)
            .collect(),
    })
}

/// Which allocations of a project a list shows: `only_payer`
/// is the caller's money scope, `payer` the caller's own filter; after which id (keyset
/// pagination).
#[derive(Debug, Default)]
pub struct AllocationFilter {
    pub only_payer: Option<String>,
    pub payer: Option<String>,
    pub achieved_between: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
    pub after: Option<i64>,
}

pub fn list_allocations(
    conn: &mut DbConn,
    project_id: &str,
    filter: AllocationFilter,
    limit: Option<i64>,
) -> Result<Vec<Allocation>, DieselError> {
    let mut query = allocations::table
        .select(Allocation::as_select())
        .into_boxed::<MultiBackend>();
    query = query.filter(allocations::project_id.eq(project_id.to_owned()));
    for org in [filter.only_payer, filter.payer].into_iter().flatten() {
        query = query.filter(allocations::payer_organisation_id.eq(org));
    }
    if let Some((from, to)) = filter.achieved_between {
        query = query.filter(allocations::achieved_on.between(from, to));
    }
    if let Some(after) = filter.after {
        query = query.filter(allocations::id.gt(after));
    }
    let query = query.order(allocations::id.asc());
    match limit {
        Some(limit) => query.limit(limit).load(conn),
        None => query.load(conn),
    }
}

// --- settlement documents ----------------------------------------------------------------------

/// Names and org-id identifiers of organisations, by id.
pub fn organisation_names(
    conn: &mut DbConn,
    ids: &[&str],
) -> Result<HashMap<String, (String, Option<String>)>, DieselError> {
    let rows: Vec<(String, String, Option<String>)> = organisations::table
        .filter(organisations::id.eq_any(ids))
        .select((
            organisations::id,
            organisations::name,
            organisations::identifier,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, identifier)| (id, (name, identifier)))
        .collect())
}

pub fn get_document(
    conn: &mut DbConn,
    id: &str,
) -> Result<Option<SettlementDocument>, DieselError> {
    settlement_documents::table
        .find(id)
        .select(SettlementDocument::as_select())
        .first(conn)
        .optional()
}

/// The organisation owning the project's fund, if it has one.
pub fn project_fund_owner(
    conn: &mut DbConn,
    project_id: &str,
) -> Result<Option<String>, DieselError> {
    projects::table
        .inner_join(funds::table)
        .filter(projects::id.eq(project_id))
        .select(funds::owner_organisation_id)
        .first(conn)
        .optional()
}

/// What a document list may be narrowed to; `visible_to` limits it to the documents an
/// organisation issued, received or whose project its fund tops up (see
/// [`crate::domain::access::sees_document`]).
#[derive(Debug, Default)]
pub struct DocumentFilter {
    pub visible_to: Option<String>,
    pub project_id: Option<String>,
    pub issuer_organisation_id: Option<String>,
    pub recipient_organisation_id: Option<String>,
    pub period: Option<String>,
    pub status: Option<DocumentStatus>,
    pub kind: Option<DocumentKind>,
    pub after: Option<String>,
}

pub fn list_documents(
    conn: &mut DbConn,
    filter: DocumentFilter,
    limit: i64,
) -> Result<Vec<SettlementDocument>, DieselError> {
    use settlement_documents as d;
    let mut query = d::table
        .select(SettlementDocument::as_select())
        .into_boxed::<MultiBackend>();
    if let Some(org) = filter.visible_to {
        let funded_projects = projects::table
            .inner_join(funds::table)
            .filter(funds::owner_organisation_id.eq(org.clone()))
            .select(projects::id);
        query = query.filter(
            d::issuer_organisation_id
                .eq(org.clone())
                .or(d::recipient_organisation_id.eq(org))
                .or(d::project_id.eq_any(funded_projects)),
        );
    }
    if let Some(v) = filter.project_id {
        query = query.filter(d::project_id.eq(v));
    }
    if let Some(v) = filter.issuer_organisation_id {
        query = query.filter(d::issuer_organisation_id.eq(v));
    }
    if let Some(v) = filter.recipient_organisation_id {
        query = query.filter(d::recipient_organisation_id.eq(v));
    }
    if let Some(v) = filter.period {
        query = query.filter(d::period.eq(v));
    }
    if let Some(v) = filter.status {
        query = query.filter(d::status.eq(v));
    }
    if let Some(v) = filter.kind {
        query = query.filter(d::kind.eq(v));
    }
    if let Some(after) = filter.after {
        query = query.filter(d::id.gt(after));
    }
    query.order(d::id.asc()).limit(limit).load(conn)
}

/// A document's lines from `after_position` on, at most `limit`, in order.
pub fn document_lines_page(
    conn: &mut DbConn,
    document_id: &str,
    after_position: i32,
    limit: i64,
) -> Result<Vec<DocumentLine>, DieselError> {
    document_lines::table
        .filter(document_lines::document_id.eq(document_id))
        .filter(document_lines::position.gt(after_position))
        .order(document_lines::position.asc())
        .limit(limit)
        .select(DocumentLine::as_select())
        .load(conn)
}

pub fn document_payments(
    conn: &mut DbConn,
    document_id: &str,
) -> Result<Vec<DocumentPayment>, DieselError> {
    document_payments::table
        .filter(document_payments::document_id.eq(document_id))
        .order((
            document_payments::recorded_at.asc(),
            document_payments::id.asc(),
        ))
        .select(DocumentPayment::as_select())
        .load(conn)
}

pub fn document_history(
    conn: &mut DbConn,
    document_id: &str,
) -> Result<Vec<DocumentEvent>, DieselError> {
    document_events::table
        .filter(document_events::document_id.eq(document_id))
        .order(document_events::id.asc())
        .select(DocumentEvent::as_select())
        .load(conn)
}

// --- outbox ------------------------------------------------------------------------------------

/// Messages by status.
pub fn outbox_counts(conn: &mut DbConn) -> Result<HashMap<String, i64>, DieselError> {
    super::totals::grouped(
        conn,
        "SELECT status AS key, CAST(COUNT(*) AS BIGINT) AS total FROM outbox GROUP BY status",
        &[],
    )
}

pub fn list_outbox(
    conn: &mut DbConn,
    status: Option<OutboxStatus>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxMessage>, DieselError> {
    let mut query = outbox::table
        .select(OutboxMessage::as_select())
        .into_boxed::<MultiBackend>();
    if let Some(status) = status {
        query = query.filter(outbox::status.eq(status));
    }
    if let Some(after) = after.filter(|a| !a.is_empty()) {
        query = query.filter(outbox::id.gt(after.to_owned()));
    }
    query.order(outbox::id.asc()).limit(limit).load(conn)
}

// --- metrics -------------------------------------------------------------------------------

#[derive(diesel::QueryableByName)]
struct AllocatedByRole {
    #[diesel(sql_type = diesel::sql_types::Text)]
    role: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    currency: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    minor: i64,
}

/// Money allocated to payers, net of reversals, by payer role and currency: read from the
/// running totals (one row per payer account), never from the ledger's rows. SUM of a BIGINT
/// is NUMERIC on PostgreSQL, hence the cast.
pub fn allocated_by_role(conn: &mut DbConn) -> Result<Vec<(String, String, i64)>, DieselError> {
    let prefix = crate::domain::ledger::PAYER_ACCOUNT_PREFIX;
    let rows: Vec<AllocatedByRole> = diesel::sql_query(format!(
        "SELECT pp.role AS role, p.currency AS currency, CAST(SUM(rt.value) AS BIGINT) AS minor \
         FROM running_totals rt \
         JOIN project_payers pp ON pp.project_id = rt.project_id AND rt.name = '{prefix}' || pp.id \
         JOIN projects p ON p.id = pp.project_id \
         GROUP BY pp.role, p.currency ORDER BY pp.role, p.currency"
    ))
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| (r.role, r.currency, r.minor))
        .collect())
}

/// Emails in the outbox by status.
pub fn outbox_by_status(conn: &mut DbConn) -> Result<Vec<(String, i64)>, DieselError> {
    outbox::table
        .group_by(outbox::status)
        .select((outbox::status, diesel::dsl::count_star()))
        .order(outbox::status.asc())
        .load(conn)
}
