//! Projects with their payers and outcomes: created, read, listed, the parties and validators that access needs, and their running totals.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::Error as DieselError;

use super::new_id;
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::{DbConn, MultiBackend};
use crate::domain::commitment::{CommitmentStatus, Creator};
use crate::domain::ids::{FundId, OrganisationId, PayerId, ProjectId};
use crate::domain::registry::{PayerRole, ProjectPlan};

/// A project's running totals (see the `running_totals` table): ledger account balances and
/// units paid per outcome, by name.
pub fn running_totals(
    conn: &mut DbConn,
    project_id: &ProjectId,
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
    project_ids: &[&ProjectId],
) -> Result<HashMap<ProjectId, HashMap<String, i64>>, DieselError> {
    let rows: Vec<(ProjectId, String, i64)> = running_totals::table
        .filter(running_totals::project_id.eq_any(project_ids))
        .select((
            running_totals::project_id,
            running_totals::name,
            running_totals::value,
        ))
        .load(conn)?;
    let mut totals: HashMap<ProjectId, HashMap<String, i64>> = HashMap::new();
    for (project_id, name, value) in rows {
        totals.entry(project_id).or_default().insert(name, value);
    }
    Ok(totals)
}

/// The owning organisation of each of these funds, by fund id.
pub fn fund_owners(
    conn: &mut DbConn,
    fund_ids: &[&FundId],
) -> Result<HashMap<FundId, OrganisationId>, DieselError> {
    let rows: Vec<(FundId, OrganisationId)> = funds::table
        .filter(funds::id.eq_any(fund_ids))
        .select((funds::id, funds::owner_organisation_id))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Adds `deltas` to a project's running totals. The caller holds the project's lock, so a
/// read-then-write cannot race.
pub fn add_running_totals(
    conn: &mut DbConn,
    project_id: &ProjectId,
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
    Ok(String::from(project.id))
}

fn project_row(plan: &ProjectPlan, at: NaiveDateTime) -> Project {
    Project {
        id: ProjectId::from(new_id("prj")),
        name: plan.name.clone(),
        fund_id: plan.fund_id.clone(),
        provider_organisation_id: plan.provider_organisation_id.clone(),
        currency: plan.currency.code().to_owned(),
        service_start: plan.service_start,
        service_end: plan.service_end,
        referral_cutoff: plan.referral_cutoff,
        max_outcome_payment_minor: plan.max_outcome_payment_minor,
        participant_cap_minor: plan.participant_cap_minor,
        cap_policy: plan.cap_policy,
        settlement_route: plan.settlement_route,
        settlement_frequency: plan.settlement_frequency,
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
    project_id: &ProjectId,
    plan: &ProjectPlan,
    creator: Creator,
) -> (Vec<ProjectPayer>, Vec<PayerPhase>, Vec<PayerHomeArea>) {
    let mut payers = Vec::new();
    let mut phases = Vec::new();
    let mut areas = Vec::new();
    for (position, payer) in plan.payers.iter().enumerate() {
        let payer_id = PayerId::from(new_id("pyr"));
        payers.push(ProjectPayer {
            id: payer_id.clone(),
            project_id: project_id.to_owned(),
            position: position as i32,
            organisation_id: payer.organisation_id.clone(),
            role: payer.role,
            max_commitment_minor: payer.max_commitment_minor,
            share: payer.share.map(|s| s.to_string()),
            lead: payer.lead,
            fund_id: payer.fund_id.clone(),
            commitment: creator.commitment_of(&payer.organisation_id),
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

fn outcome_rows(project_id: &ProjectId, plan: &ProjectPlan) -> Vec<OutcomeMetric> {
    (plan.outcomes.iter().enumerate())
        .map(|(position, o)| OutcomeMetric {
            id: new_id("out"),
            project_id: project_id.to_owned(),
            position: position as i32,
            code: o.code.clone(),
            name: o.name.clone(),
            price_minor: o.price_minor,
            unit: o.unit,
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
    FundOwner(OrganisationId),
    Payer(OrganisationId),
    Provider(OrganisationId),
    Validator(OrganisationId),
}

pub fn list_projects(
    conn: &mut DbConn,
    scope: &ProjectScope,
    fund_id: Option<&FundId>,
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
    id: &ProjectId,
) -> Result<Option<(ProjectRecord, Option<OrganisationId>)>, DieselError> {
    let row: Option<(Project, Option<OrganisationId>)> = projects::table
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
/// decision and a money scope need, with the payers' labels (a corrupt one fails the load), in
/// one statement (the whole registry record, [`get_project_and_fund_owner`], takes six).
/// Validators are [`project_validator_ids`].
pub fn get_project_parties(
    conn: &mut DbConn,
    id: &ProjectId,
) -> Result<Option<ProjectWithPayers>, DieselError> {
    // One row per payer (one with no payer if it has none).
    type Payer = (OrganisationId, bool, PayerRole, CommitmentStatus);
    type Row = (Project, Option<OrganisationId>, Option<Payer>);
    let rows: Vec<Row> = projects::table
        .left_join(funds::table)
        .left_join(project_payers::table)
        .filter(projects::id.eq(id))
        .order(project_payers::position.asc())
        .select((
            Project::as_select(),
            funds::owner_organisation_id.nullable(),
            (
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
        .map(|(organisation_id, lead, role, commitment)| PayerParty {
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
    pub fund_owner: Option<OrganisationId>,
    /// In the project's order.
    pub payers: Vec<PayerParty>,
}

/// A payer as an access decision sees it. Its role and commitment are read so that a corrupt
/// one fails this load as it fails the whole record's: nothing is shown of a project whose
/// payers' terms cofund cannot read.
pub struct PayerParty {
    pub organisation_id: OrganisationId,
    pub lead: bool,
    pub role: PayerRole,
    pub commitment: CommitmentStatus,
}

/// The organisations validating a project's claims, in id order.
pub fn project_validator_ids(
    conn: &mut DbConn,
    id: &ProjectId,
) -> Result<Vec<OrganisationId>, DieselError> {
    project_validators::table
        .filter(project_validators::project_id.eq(id))
        .order(project_validators::organisation_id.asc())
        .select(project_validators::organisation_id)
        .load(conn)
}

pub fn get_project(
    conn: &mut DbConn,
    id: &ProjectId,
) -> Result<Option<ProjectRecord>, DieselError> {
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
        let ids: &[&_] = $ids;
        let filter: Box<dyn BoxableExpression<_, MultiBackend, SqlType = diesel::sql_types::Bool>> =
            match ids {
                [one] => Box::new($column.eq((*one).to_owned())),
                many => Box::new(
                    $column.eq_any(many.iter().map(|id| (*id).to_owned()).collect::<Vec<_>>()),
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
    let project_ids: Vec<&ProjectId> = projects.iter().map(|p| &p.id).collect();
    let mut payers_of = load_payers_of(conn, &project_ids)?;
    let mut outcomes: HashMap<ProjectId, Vec<OutcomeMetric>> = HashMap::new();
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
    let mut validators: HashMap<ProjectId, Vec<OrganisationId>> = HashMap::new();
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
        .load::<(ProjectId, OrganisationId)>(conn)?
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
    project_ids: &[&ProjectId],
) -> Result<HashMap<ProjectId, Vec<PayerRecord>>, DieselError> {
    let payers: Vec<ProjectPayer> = project_payers::table
        .filter(one_of!(project_payers::project_id, project_ids))
        .order((
            project_payers::project_id.asc(),
            project_payers::position.asc(),
        ))
        .select(ProjectPayer::as_select())
        .load(conn)?;
    // Phases and home areas by their payers' project (a join), not by a list of payer ids.
    let mut phases: HashMap<PayerId, Vec<PayerPhase>> = HashMap::new();
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
    let mut areas: HashMap<PayerId, Vec<String>> = HashMap::new();
    for area in payer_home_areas::table
        .inner_join(project_payers::table)
        .filter(one_of!(project_payers::project_id, project_ids))
        .order(payer_home_areas::area_code.asc())
        .select(PayerHomeArea::as_select())
        .load(conn)?
    {
        areas.entry(area.payer_id).or_default().push(area.area_code);
    }
    let mut payers_of: HashMap<ProjectId, Vec<PayerRecord>> = HashMap::new();
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
