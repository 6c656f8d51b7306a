//! The registry's use cases: organisations, funds and projects registered and read. Each
//! decides who may act with [`crate::domain::access`], checks the request with
//! [`crate::domain::registry`]'s rules, and stores it.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;

use crate::clock::Clock;
use crate::db::backend_specific::{lock_row_for_update, LockableTable};
use crate::db::models::{Fund, OrganisationRecord};
use crate::db::{queries, write_tx, DbConn};
use crate::domain::access::{may_create_fund, may_create_project, Principal, Role};
use crate::domain::ids::{FundId, OrganisationId, ProjectId};
use crate::domain::money::Minor;
use crate::domain::registry::{
    validate_fund, validate_organisation, validate_project, NewFund, NewOrganisation, NewProject,
    ProjectFacts,
};
use crate::services::access::{load_visible, project_scope, VisibleProject};
use crate::services::commitments::{self, Acting};
use crate::services::error::ServiceError;

/// The roles that may register organisations.
pub const ORGANISATION_REGISTRARS: &[Role] = &[Role::Admin];
/// The roles that may create funds and projects (a fund manager only with its own money).
pub const REGISTRY_CREATORS: &[Role] = &[Role::Admin, Role::FundManager];

/// The use case "register an organisation": an admin registers it, in its own transaction.
/// An identifier already registered is a conflict.
pub fn register_organisation(
    conn: &mut DbConn,
    principal: &Principal,
    input: NewOrganisation,
    at: NaiveDateTime,
) -> Result<OrganisationRecord, ServiceError> {
    principal.require(ORGANISATION_REGISTRARS)?;
    let plan = validate_organisation(input).map_err(ServiceError::Invalid)?;
    write_tx(conn, |conn| {
        if let Some(identifier) = &plan.identifier {
            if queries::organisations::identifier_taken(conn, identifier)? {
                return Err(ServiceError::Conflict(format!(
                    "an organisation with identifier {identifier} is already registered"
                )));
            }
        }
        Ok(queries::organisations::insert_organisation(conn, plan, at)?)
    })
}

/// A fund with what its projects have committed of its budget.
#[derive(Debug)]
pub struct FundStanding {
    pub fund: Fund,
    pub committed_minor: Minor,
}

/// The use case "create a fund": an admin, or a fund manager for its own organisation,
/// creates it with nothing committed. It runs in the caller's write transaction, which a
/// retried request shares (see [`crate::services::idempotency`]).
pub fn create_fund(
    conn: &mut DbConn,
    principal: &Principal,
    input: NewFund,
    at: NaiveDateTime,
) -> Result<FundStanding, ServiceError> {
    principal.require(REGISTRY_CREATORS)?;
    may_create_fund(
        principal,
        &OrganisationId::from(input.owner_organisation_id.as_str()),
    )?;
    let owner =
        queries::organisations::organisation_kinds(conn, &[input.owner_organisation_id.as_str()])?;
    let owner_kind = owner.get(&input.owner_organisation_id).copied();
    let plan = validate_fund(input, owner_kind).map_err(ServiceError::Invalid)?;
    let fund = queries::funds::insert_fund(conn, plan, at)?;
    standing(conn, fund)
}

/// One fund, which anyone signed in may read.
pub fn fund(conn: &mut DbConn, id: &FundId) -> Result<FundStanding, ServiceError> {
    let fund = queries::funds::get_fund(conn, id)?
        .ok_or_else(|| ServiceError::NotFound("no such fund".into()))?;
    standing(conn, fund)
}

/// A page of funds, ordered by id, after `cursor`.
pub fn funds_page(
    conn: &mut DbConn,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<FundStanding>, ServiceError> {
    queries::funds::list_funds(conn, cursor, limit)?
        .into_iter()
        .map(|fund| standing(conn, fund))
        .collect()
}

fn standing(conn: &mut DbConn, fund: Fund) -> Result<FundStanding, ServiceError> {
    let committed_minor = queries::funds::fund_committed_minor(conn, &fund.id)?;
    Ok(FundStanding {
        fund,
        committed_minor,
    })
}

/// A project the caller may see, with its ledger's running totals by account.
#[derive(Debug)]
pub struct ProjectStanding {
    pub project: VisibleProject,
    pub totals: HashMap<String, i64>,
}

/// The use case "create a project": an admin, or a fund manager committing only its own
/// organisation's money, creates it with its payers, rate card and validators, committing
/// each central top-up payer's maximum against its fund's budget. It runs in the caller's
/// write transaction, which a retried request shares (see [`crate::services::idempotency`]).
pub fn create_project(
    conn: &mut DbConn,
    principal: &Principal,
    input: NewProject,
    clock: &Clock,
) -> Result<ProjectStanding, ServiceError> {
    principal.require(REGISTRY_CREATORS)?;
    // Every fund whose budget the project draws on, locked in id order: two projects of the
    // same funds cannot both take the last of a budget.
    for fund_id in queries::funds::funds_named(&input) {
        lock_row_for_update(conn, LockableTable::Funds, fund_id)?;
    }
    let facts = project_facts(conn, &input)?;
    may_create_project(principal, &input, &facts)?;
    let plan = validate_project(input, &facts).map_err(ServiceError::Invalid)?;
    // Read once the funds are locked: the commitments are made, in order, at this time.
    let acting = Acting {
        principal,
        at: clock.now(),
    };
    let id = commitments::create_project(conn, &plan, &acting)?;
    project(conn, principal, &id)
}

/// One project, for those who may see it (any other is not found).
pub fn project(
    conn: &mut DbConn,
    principal: &Principal,
    id: &ProjectId,
) -> Result<ProjectStanding, ServiceError> {
    let project = load_visible(conn, principal, id)?;
    let totals = queries::projects::running_totals(conn, &project.record.project.id)?;
    Ok(ProjectStanding { project, totals })
}

/// A page of the projects `principal` may see, ordered by id, after `cursor`; of one fund
/// only, if `fund_id` is given. A fixed number of queries for the page, however long: the
/// projects' details, their funds' owners and their running totals are each read for all of
/// them at once.
pub fn projects_page(
    conn: &mut DbConn,
    principal: &Principal,
    fund_id: Option<&FundId>,
    cursor: Option<&str>,
    limit: i64,
) -> Result<Vec<ProjectStanding>, ServiceError> {
    let scope = project_scope(principal);
    let rows = queries::projects::list_projects(conn, &scope, fund_id, cursor, limit)?;
    let fund_ids: Vec<&FundId> = rows
        .iter()
        .filter_map(|r| r.project.fund_id.as_ref())
        .collect();
    let owners = queries::projects::fund_owners(conn, &fund_ids)?;
    let project_ids: Vec<&ProjectId> = rows.iter().map(|r| &r.project.id).collect();
    let mut totals = queries::projects::running_totals_of(conn, &project_ids)?;
    Ok(rows
        .into_iter()
        .map(|record| {
            let fund_owner =
                (record.project.fund_id.as_ref()).and_then(|fund_id| owners.get(fund_id).cloned());
            let totals = totals.remove(&record.project.id).unwrap_or_default();
            let project = VisibleProject { record, fund_owner };
            ProjectStanding { project, totals }
        })
        .collect())
}

/// What the registry knows of every organisation and fund a new project names.
fn project_facts(conn: &mut DbConn, input: &NewProject) -> Result<ProjectFacts, ServiceError> {
    let mut ids: HashSet<&str> = HashSet::new();
    ids.insert(&input.provider_organisation_id);
    ids.extend(input.payers.iter().map(|p| p.organisation_id.as_str()));
    ids.extend(input.validator_organisation_ids.iter().map(String::as_str));
    let ids: Vec<&str> = ids.into_iter().collect();
    let organisations = queries::organisations::organisation_kinds(conn, &ids)?;
    let funds = queries::funds::named_fund_facts(conn, input)?;
    Ok(ProjectFacts {
        organisations,
        fund: input.fund_id.as_ref().and_then(|id| funds.get(id)).cloned(),
        funds,
    })
}
