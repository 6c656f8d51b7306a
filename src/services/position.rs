//! Where a fund and a payer stand: the amounts behind a fund manager's position and a
//! commissioner's statement, read from the running totals, the ledger and the documents.

use crate::domain::commitment::{agreement, Agreement, CommitmentStatus};
use crate::domain::ids::{DocumentId, FundId, OrganisationId, PayerId, ProjectId};
use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::models::{Fund, PaymentPlanQuarter, ProjectPayer, ProjectRecord};
use crate::db::queries::insert_rows;
use crate::db::schema::{payment_plans, project_payers, projects};
use crate::db::{backend_specific, queries, totals, write_tx, DbConn};
use crate::domain::access::{admin_or_own, keeps_record, Principal};
use crate::domain::ledger::{payer_account, unfunded_account};
use crate::domain::money::{Minor, MoneyJson};
use crate::domain::period::Period;
use crate::domain::position::{
    cap_warning, parse_plan, plan_problems, projected_binding_quarter, CapWarning,
    PaymentPlanRequest, PlanLimits,
};
use crate::domain::registry::{PayerRole, SettlementFrequency};
use crate::domain::settlement::{DocumentKind, DocumentStatus};
use crate::services::access::{load_visible, VisibleProject};
use crate::services::claims::rules::lock_project;
use crate::services::error::ServiceError;

/// Invoiced and paid on a project, to one organisation or by it: issued and paid documents,
/// credit notes of a period's credits included; a voided document and the credit note that
/// cancels it count for nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Billed {
    pub invoiced_minor: Minor,
    pub paid_minor: Minor,
}

/// One payer's position on a project.
#[derive(Debug, Clone)]
pub struct PayerPosition {
    pub payer_id: PayerId,
    pub organisation_id: OrganisationId,
    pub role: PayerRole,
    /// The fund a central top-up pays from.
    pub fund_id: Option<FundId>,
    /// Where the payer's agreement to its commitment stands.
    pub commitment: CommitmentStatus,
    /// Its maximum commitment; nothing once a payer of the project has declined (it is never paid).
    pub committed_minor: Minor,
    pub allocated_minor: Minor,
    pub shortfall_minor: Minor,
    pub billed: Billed,
    pub warning: Option<CapWarning>,
    /// Where its cap binds at the last four quarters' pace.
    pub cap_binds_in: Option<Period>,
}

#[derive(Debug, Clone)]
pub struct ProjectPosition {
    pub project_id: ProjectId,
    pub name: String,
    pub currency: String,
    pub max_outcome_payment_minor: Option<Minor>,
    pub payers: Vec<PayerPosition>,
    /// Quarter, planned (if planned), actual: every quarter that has either.
    pub plan: Vec<(String, Option<Minor>, Minor)>,
    pub contract_cap_binds_in: Option<Period>,
    pub contract_warning: Option<CapWarning>,
}

#[derive(Debug, Clone)]
pub struct FundPosition {
    pub fund: Fund,
    pub committed_minor: Minor,
    pub projects: Vec<ProjectPosition>,
}

impl FundPosition {
    /// The fund's own payers across its projects: what its budget pays for.
    pub fn own_payers(&self) -> impl Iterator<Item = &PayerPosition> {
        let fund_id = self.fund.id.clone();
        self.projects
            .iter()
            .flat_map(|p| p.payers.iter())
            .filter(move |p| p.fund_id.as_deref() == Some(fund_id.as_str()))
    }
}

/// The use case "a fund's position": for its own managers and admins only (a fund that does
/// not exist is not found), as it stands on `today`.
pub fn fund_position(
    conn: &mut DbConn,
    principal: &Principal,
    fund_id: &FundId,
    today: NaiveDate,
) -> Result<FundPosition, ServiceError> {
    let fund = queries::funds::get_fund(conn, fund_id)?
        .ok_or_else(|| ServiceError::NotFound("no such fund".into()))?;
    if !admin_or_own(principal, &fund.owner_organisation_id) {
        return Err(ServiceError::Forbidden(
            "only the fund's own managers see its position".into(),
        ));
    }
    position_of(conn, fund, today)
}

/// The use case "a project's payment plan": for those who keep it (an admin, or a fund manager
/// of the organisation that owns the project's fund), with the project's currency.
pub fn payment_plan(
    conn: &mut DbConn,
    principal: &Principal,
    project_id: &ProjectId,
) -> Result<(String, Vec<(Period, Minor)>), ServiceError> {
    let project = plan_keepers_project(conn, principal, project_id)?;
    let quarters = stored_plan(conn, project_id)?;
    Ok((project.record.project.currency, quarters))
}

/// The use case "set a project's payment plan": those who keep it replace the whole plan, in
/// its own transaction under the project's lock, if every quarter is valid (see
/// [`parse_plan`]) and the whole fits the project's quarters and what it may pay at most
/// (see [`plan_problems`]); otherwise every field at fault is reported and nothing changes.
pub fn set_payment_plan(
    conn: &mut DbConn,
    principal: &Principal,
    project_id: &ProjectId,
    request: &PaymentPlanRequest,
) -> Result<(), ServiceError> {
    write_tx(conn, |conn| {
        lock_project(conn, project_id)?;
        let project = plan_keepers_project(conn, principal, project_id)?;
        let record = &project.record;
        let currency = &record.project.currency;
        let quarters = parse_plan(request, currency).map_err(ServiceError::Invalid)?;
        let limits = PlanLimits {
            service_start: record.project.service_start,
            service_end: record.project.service_end,
            commitments: record
                .payers
                .iter()
                .map(|p| p.payer.max_commitment_minor)
                .collect(),
            contract_cap: record.project.max_outcome_payment_minor,
        };
        let money = |minor: Minor| MoneyJson::from_minor(minor, currency).to_string();
        let problems = plan_problems(&quarters, &limits, money);
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        store_plan(conn, project_id, &quarters)
    })
}

/// The project, if `principal` keeps its payment plan: an admin, or a fund manager of the
/// organisation that owns the project's fund.
fn plan_keepers_project(
    conn: &mut DbConn,
    principal: &Principal,
    project_id: &ProjectId,
) -> Result<VisibleProject, ServiceError> {
    let project = load_visible(conn, principal, project_id)?;
    if !keeps_record(principal, project.fund_owner.as_ref()) {
        return Err(ServiceError::Forbidden(
            "only the managers of the project's fund keep its payment plan".into(),
        ));
    }
    Ok(project)
}

/// The position of `fund` today. A project the fund tops up shows every payer if it is the
/// project's own fund, and only this fund's payers if it is a second central fund on it.
fn position_of(
    conn: &mut DbConn,
    fund: Fund,
    today: NaiveDate,
) -> Result<FundPosition, ServiceError> {
    let mut project_ids: Vec<ProjectId> = projects::table
        .filter(projects::fund_id.eq(&fund.id))
        .select(projects::id)
        .load(conn)?;
    project_ids.extend(
        project_payers::table
            .filter(project_payers::fund_id.eq(&fund.id))
            .select(project_payers::project_id)
            .load::<ProjectId>(conn)?,
    );
    project_ids.sort_unstable();
    project_ids.dedup();
    let mut projects = Vec::with_capacity(project_ids.len());
    for id in project_ids {
        let record = queries::projects::get_project(conn, &id)?
            .ok_or_else(|| ServiceError::Internal(format!("project {id} vanished")))?;
        let whole = record.project.fund_id.as_deref() == Some(fund.id.as_str());
        let mut position = project_position(conn, &record, today)?;
        if !whole {
            position
                .payers
                .retain(|p| p.fund_id.as_deref() == Some(fund.id.as_str()));
            position.plan.clear();
            position.contract_cap_binds_in = None;
            position.contract_warning = None;
        }
        projects.push(position);
    }
    let committed_minor = queries::funds::fund_committed_minor(conn, &fund.id)?;
    Ok(FundPosition {
        fund,
        committed_minor,
        projects,
    })
}

fn project_position(
    conn: &mut DbConn,
    record: &ProjectRecord,
    today: NaiveDate,
) -> Result<ProjectPosition, ServiceError> {
    let p = &record.project;
    let running = queries::projects::running_totals(conn, &p.id)?;
    let billed = billed_by_payer(conn, &p.id)?;
    let quarterly = quarterly_allocations(conn, &p.id)?;
    let current = Period::containing(today, SettlementFrequency::Quarterly);
    let trailing = Trailing::before(current, &quarterly);
    // A declined project is never paid: none of its payers commits anything.
    let declined =
        agreement(record.payers.iter().map(|r| r.payer.commitment)) == Agreement::Declined;
    let payers: Vec<PayerPosition> = (record.payers.iter())
        .map(|r| {
            let mut position = payer_position(&r.payer, &running, &billed, declined);
            let headroom = r.payer.max_commitment_minor - position.allocated_minor;
            let pace = trailing.sum(Some(&r.payer.id));
            position.cap_binds_in = projected_binding_quarter(headroom, pace, current);
            position
        })
        .collect();
    let paid_total: Minor = payers.iter().map(|p| p.allocated_minor).sum();
    let plan = plan_against_actuals(conn, &p.id, &quarterly)?;
    Ok(ProjectPosition {
        project_id: p.id.clone(),
        name: p.name.clone(),
        currency: p.currency.clone(),
        max_outcome_payment_minor: p.max_outcome_payment_minor,
        contract_cap_binds_in: p.max_outcome_payment_minor.and_then(|cap| {
            projected_binding_quarter(cap - paid_total, trailing.sum(None), current)
        }),
        contract_warning: p
            .max_outcome_payment_minor
            .and_then(|cap| cap_warning(paid_total, cap)),
        payers,
        plan,
    })
}

/// What was allocated in the four complete quarters before the current one: the pace a cap
/// is projected to bind at.
struct Trailing<'q> {
    quarters: Vec<String>,
    quarterly: &'q HashMap<(String, String), Minor>,
}

impl<'q> Trailing<'q> {
    fn before(current: Period, quarterly: &'q HashMap<(String, String), Minor>) -> Trailing<'q> {
        let mut q = current;
        let mut quarters = Vec::new();
        for _ in 0..4 {
            q = previous_quarter(q);
            quarters.push(q.to_string());
        }
        Trailing {
            quarters,
            quarterly,
        }
    }

    /// The trailing quarters' allocations to `payer`, or to every payer.
    fn sum(&self, payer: Option<&str>) -> Minor {
        (self.quarterly.iter())
            .filter(|((who, quarter), _)| {
                payer.is_none_or(|p| p == who) && self.quarters.contains(quarter)
            })
            .map(|(_, amount)| *amount)
            .sum()
    }
}

/// One payer's position from the project's running totals and billing, its cap's binding
/// quarter not yet projected.
fn payer_position(
    payer: &ProjectPayer,
    running: &HashMap<String, i64>,
    billed: &HashMap<String, Billed>,
    declined: bool,
) -> PayerPosition {
    let balance = |account: String| Minor(running.get(&account).copied().unwrap_or(0));
    let allocated = balance(payer_account(&payer.id));
    PayerPosition {
        commitment: payer.commitment,
        payer_id: payer.id.clone(),
        organisation_id: payer.organisation_id.clone(),
        role: payer.role,
        fund_id: payer.fund_id.clone(),
        committed_minor: if declined {
            Minor::ZERO
        } else {
            payer.max_commitment_minor
        },
        allocated_minor: allocated,
        shortfall_minor: balance(unfunded_account(&payer.id)),
        billed: billed
            .get(payer.organisation_id.as_str())
            .copied()
            .unwrap_or_default(),
        warning: cap_warning(allocated, payer.max_commitment_minor),
        cap_binds_in: None,
    }
}

/// Every quarter planned or paid in: (quarter, planned, allocated), in time order.
fn plan_against_actuals(
    conn: &mut DbConn,
    project_id: &ProjectId,
    quarterly: &HashMap<(String, String), Minor>,
) -> Result<Vec<(String, Option<Minor>, Minor)>, ServiceError> {
    let planned: Vec<PaymentPlanQuarter> = payment_plans::table
        .filter(payment_plans::project_id.eq(project_id))
        .select(PaymentPlanQuarter::as_select())
        .load(conn)?;
    let mut plan: HashMap<String, (Option<Minor>, Minor)> = HashMap::new();
    for q in planned {
        plan.entry(q.quarter).or_default().0 = Some(q.planned_minor);
    }
    for ((_, quarter), amount) in quarterly {
        plan.entry(quarter.clone()).or_default().1 += *amount;
    }
    let mut plan: Vec<(String, Option<Minor>, Minor)> =
        plan.into_iter().map(|(q, (p, a))| (q, p, a)).collect();
    plan.sort_by_key(|(quarter, _, _)| Period::parse(quarter));
    Ok(plan)
}

fn previous_quarter(q: Period) -> Period {
    let day_before = q.start().pred_opt().expect("periods start after 1900");
    Period::containing(day_before, SettlementFrequency::Quarterly)
}

/// What each organisation has been invoiced and has paid on a project of its own money:
/// documents to it, less documents it issued. Under `via_commissioner` the lead is invoiced
/// for the whole value of each outcome and claims each central fund's top-up back from it:
/// that part is the fund's money, counted against the fund (invoiced when the lead issues the
/// claim, paid when the fund pays it), so that each pound is counted once and the payers'
/// columns add up to what the provider invoiced and was paid (until the lead issues a claim,
/// the fund's part counts against the lead). Once the lead has paid the provider, and until a
/// fund pays the lead, its own outstanding is below nothing by the fund's part. The map holds
/// the provider too (documents it issued, negative): read it by payer, never sum it.
pub fn billed_by_payer(
    conn: &mut DbConn,
    project_id: &ProjectId,
) -> Result<HashMap<String, Billed>, ServiceError> {
    let mut billed: HashMap<String, Billed> = HashMap::new();
    for (party, sign) in [
        ("recipient_organisation_id", 1),
        ("issuer_organisation_id", -1),
    ] {
        for (column, paid) in [("total_minor", false), ("paid_minor", true)] {
            let sums = totals::grouped(
                conn,
                &format!(
                    "SELECT {party} AS key, CAST(SUM({column}) AS BIGINT) AS total \
                     FROM settlement_documents WHERE project_id = ? AND {LIVE} GROUP BY {party}"
                ),
                &[project_id],
            )?;
            for (organisation, amount) in sums {
                let entry = billed.entry(organisation).or_default();
                match paid {
                    false => entry.invoiced_minor += Minor(amount) * sign,
                    true => entry.paid_minor += Minor(amount) * sign,
                }
            }
        }
    }
    Ok(billed)
}

/// Documents that count: issued or paid, and not a void's cancelling credit note (a voided
/// document and its credit note count for nothing).
const LIVE: &str = "status IN ('issued', 'paid') AND credits_document_id IS NULL";

/// Allocated amounts of a project by (payer, quarter of posting).
fn quarterly_allocations(
    conn: &mut DbConn,
    project_id: &ProjectId,
) -> Result<HashMap<(String, String), Minor>, ServiceError> {
    let quarter = backend_specific::quarter_label_sql(conn, "posted_at");
    let rows = totals::grouped(
        conn,
        &format!(
            "SELECT payer_id || '|' || {quarter} AS key, CAST(SUM(amount_minor) AS BIGINT) AS total \
             FROM allocations WHERE project_id = ? GROUP BY payer_id, {quarter}"
        ),
        &[project_id],
    )?;
    Ok(rows
        .into_iter()
        .filter_map(|(key, total)| {
            let (payer, quarter) = key.split_once('|')?;
            Some(((payer.to_owned(), quarter.to_owned()), Minor(total)))
        })
        .collect())
}

/// A project's payment plan: (quarter, planned amount) in time order.
fn stored_plan(
    conn: &mut DbConn,
    project_id: &ProjectId,
) -> Result<Vec<(Period, Minor)>, ServiceError> {
    let stored: Vec<PaymentPlanQuarter> = payment_plans::table
        .filter(payment_plans::project_id.eq(project_id))
        .select(PaymentPlanQuarter::as_select())
        .load(conn)?;
    let mut plan = Vec::with_capacity(stored.len());
    for q in stored {
        let quarter = Period::parse(&q.quarter).ok_or_else(|| {
            ServiceError::Internal(format!(
                "a stored plan quarter is not a quarter: {}",
                q.quarter
            ))
        })?;
        plan.push((quarter, q.planned_minor));
    }
    plan.sort_by_key(|(quarter, _)| quarter.start());
    Ok(plan)
}

/// Replaces a project's payment plan with `quarters` (quarter, planned amount).
fn store_plan(
    conn: &mut DbConn,
    project_id: &ProjectId,
    quarters: &[(Period, Minor)],
) -> Result<(), ServiceError> {
    diesel::delete(payment_plans::table.filter(payment_plans::project_id.eq(project_id)))
        .execute(conn)?;
    let rows: Vec<PaymentPlanQuarter> = quarters
        .iter()
        .map(|(q, planned)| PaymentPlanQuarter {
            project_id: project_id.to_owned(),
            quarter: q.to_string(),
            planned_minor: *planned,
        })
        .collect();
    insert_rows!(conn, payment_plans::table, &rows)?;
    Ok(())
}

/// One organisation's own money on one project between two instants.
#[derive(Debug, Clone)]
pub struct StatementLine {
    pub project_id: ProjectId,
    pub project_name: String,
    pub currency: String,
    pub role: PayerRole,
    /// Allocations posted in the window, reversals excluded.
    pub allocated_minor: Minor,
    /// Reversals posted in the window (negative or zero).
    pub reversed_minor: Minor,
    pub shortfall_minor: Minor,
    /// Documents to it issued in the window, and what was paid on them.
    pub billed: Billed,
    /// Documents it issued in the window (under `via_commissioner`, the lead's top-up claims
    /// to the central funds), and what it was paid on them.
    pub issued: Billed,
    /// Each of those documents, to it and by it, by the day it was issued, then number.
    pub documents: Vec<StatementDocument>,
}

/// One document on a statement, from the organisation's side.
#[derive(Debug, Clone)]
pub struct StatementDocument {
    pub id: DocumentId,
    pub number: Option<String>,
    pub kind: DocumentKind,
    /// True for a document to the organisation (it pays), false for one it issued (it is
    /// paid).
    pub to_it: bool,
    /// The other party: the issuer of a document to it, the recipient of one it issued.
    pub counterparty: OrganisationId,
    pub issued_on: NaiveDate,
    pub total_minor: Minor,
    pub paid_minor: Minor,
}

/// The organisation's own share on every project it pays into, posted in `[from, until)`, and
/// the documents to it and by it issued in that window; of any other payer, only what the
/// documents it issued or received show (a lead's top-up claim names the fund and its share).
pub fn statement(
    conn: &mut DbConn,
    organisation_id: &OrganisationId,
    from: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<Vec<StatementLine>, ServiceError> {
    let payers: Vec<(PayerId, ProjectId, PayerRole)> = project_payers::table
        .filter(project_payers::organisation_id.eq(organisation_id))
        .select((
            project_payers::id,
            project_payers::project_id,
            project_payers::role,
        ))
        .order((project_payers::project_id, project_payers::id))
        .load(conn)?;
    let mut lines = Vec::with_capacity(payers.len());
    for (payer_id, project_id, role) in payers {
        let (name, currency): (String, String) = projects::table
            .find(&project_id)
            .select((projects::name, projects::currency))
            .first(conn)?;
        let sums = payer_sums_between(conn, &payer_id, from, until)?;
        let sum_of = |name: &str| Minor(sums.get(name).copied().unwrap_or(0));
        let window = (from.date(), until.date());
        let documents = documents_between(conn, &project_id, organisation_id, window)?;
        let sum = |to_it: bool| {
            let of_side = documents.iter().filter(|d| d.to_it == to_it);
            of_side.fold(Billed::default(), |sum, d| Billed {
                invoiced_minor: sum.invoiced_minor + d.total_minor,
                paid_minor: sum.paid_minor + d.paid_minor,
            })
        };
        let (billed, issued) = (sum(true), sum(false));
        lines.push(StatementLine {
            project_id,
            project_name: name,
            currency,
            role,
            allocated_minor: sum_of("allocated"),
            reversed_minor: sum_of("reversed"),
            shortfall_minor: sum_of("shortfall"),
            billed,
            issued,
            documents,
        });
    }
    Ok(lines)
}

fn payer_sums_between(
    conn: &mut DbConn,
    payer_id: &PayerId,
    from: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<HashMap<String, i64>, ServiceError> {
    let (from, until) = (timestamp_text(from), timestamp_text(until));
    let at = backend_specific::temporal_param(conn, true);
    let window = format!("payer_id = ? AND posted_at >= {at} AND posted_at < {at}");
    let mut sums = totals::grouped(
        conn,
        &format!(
            "SELECT CASE WHEN reverses_id IS NULL THEN 'allocated' ELSE 'reversed' END AS key, \
             CAST(SUM(amount_minor) AS BIGINT) AS total FROM allocations WHERE {window} \
             GROUP BY CASE WHEN reverses_id IS NULL THEN 'allocated' ELSE 'reversed' END"
        ),
        &[payer_id, &from, &until],
    )?;
    sums.extend(totals::grouped(
        conn,
        &format!("SELECT 'shortfall' AS key, CAST(COALESCE(SUM(shortfall_minor), 0) AS BIGINT) AS total FROM allocations WHERE {window}"),
        &[payer_id, &from, &until],
    )?);
    Ok(sums)
}

/// The live documents of a project to or by an organisation issued in `[from, until)`.
fn documents_between(
    conn: &mut DbConn,
    project_id: &ProjectId,
    organisation_id: &OrganisationId,
    (from, until): (NaiveDate, NaiveDate),
) -> Result<Vec<StatementDocument>, ServiceError> {
    use crate::db::schema::settlement_documents as d;
    type Row = (
        DocumentId,
        Option<String>,
        DocumentKind,
        OrganisationId,
        OrganisationId,
        Option<NaiveDate>,
        Minor,
        Minor,
    );
    let rows: Vec<Row> = d::table
        .filter(d::project_id.eq(project_id))
        .filter(
            d::recipient_organisation_id
                .eq(organisation_id)
                .or(d::issuer_organisation_id.eq(organisation_id)),
        )
        .filter(d::status.eq_any([DocumentStatus::Issued, DocumentStatus::Paid]))
        .filter(d::credits_document_id.is_null())
        .filter(d::issued_on.is_not_null())
        .filter(d::issued_on.ge(from).and(d::issued_on.lt(until)))
        .select((
            d::id,
            d::number,
            d::kind,
            d::issuer_organisation_id,
            d::recipient_organisation_id,
            d::issued_on,
            d::total_minor,
            d::paid_minor,
        ))
        .order((d::issued_on, d::number, d::id))
        .load(conn)?;
    let document = |(id, number, kind, issuer, recipient, issued_on, total, paid): Row| {
        let to_it = &recipient == organisation_id;
        Ok(StatementDocument {
            issued_on: issued_on.ok_or_else(|| {
                ServiceError::Internal(format!("issued document {id} has no issue date"))
            })?,
            id,
            number,
            kind,
            to_it,
            counterparty: if to_it { issuer } else { recipient },
            total_minor: total,
            paid_minor: paid,
        })
    };
    rows.into_iter().map(document).collect()
}

/// A timestamp as both backends compare it with a stored one.
fn timestamp_text(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.f").to_string()
}
