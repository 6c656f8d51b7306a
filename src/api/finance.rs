//! What finance teams read: a fund's position (with payment plans and cap warnings) and an
//! organisation's statement of its own share.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Principal, Role};
use super::error::{ApiError, Problem};
use super::extract::JsonBody;
use super::with_db;
use crate::config::Config;
use crate::db::queries;
use crate::db::Pool;
use crate::domain::commitment::CommitmentStatus;
use crate::domain::ids::{FundId, OrganisationId, ProjectId};
use crate::domain::limits;
use crate::domain::money::{Minor, MoneyJson};
use crate::domain::position::{CapWarning, PaymentPlanRequest};
use crate::domain::spreadsheet::text_cell;
use crate::services::position::{
    self as service, Billed, FundPosition, PayerPosition, ProjectPosition, StatementDocument,
    StatementLine,
};

/// Budget, commitments and money moved: one row of a position.
#[derive(Debug, Serialize, ToSchema)]
pub struct Amounts {
    /// The maximum committed (for a payer, its cap).
    pub committed: MoneyJson,
    /// Verified outcome payments allocated to it (reversals netted).
    pub allocated: MoneyJson,
    /// What its cap left unfunded.
    pub shortfall: MoneyJson,
    /// Its own money invoiced: issued documents to it, less those it issued (under
    /// `via_commissioner` the lead's top-up claims are the central funds' money); credits
    /// netted; a voided document and its credit note count nothing.
    pub invoiced: MoneyJson,
    /// Its own money paid: payments on documents to it, less payments it received on those
    /// it issued.
    pub paid: MoneyJson,
    /// Invoiced and not yet paid; below nothing for a lead that has paid a central fund's part
    /// that the fund has not yet paid it.
    pub outstanding: MoneyJson,
    /// Committed and not yet allocated.
    pub headroom: MoneyJson,
}

/// One payer's position on a project.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayerPositionView {
    /// The project payer (`pyr_…`).
    pub payer_id: String,
    /// The organisation (`org_…`) that pays.
    pub organisation_id: String,
    /// Its role on the project: `central_top_up`, `local_commissioner` or `co_commissioner`.
    pub role: String,
    /// The fund (`fund_…`) a `central_top_up` payer pays from; null for any other payer.
    pub fund_id: Option<String>,
    /// Whether the payer has agreed its commitment; once any payer of the project has
    /// declined, the project is never paid and none of its payers commits anything.
    pub commitment: CommitmentStatus,
    #[serde(flatten)]
    pub amounts: Amounts,
    /// `near` from 80 % of its cap, `reached` at 100 %.
    pub warning: Option<CapWarning>,
    /// The quarter its cap will bind in at the pace of the last four complete quarters.
    pub cap_binds_in: Option<String>,
}

/// One quarter of a project's payment plan against what was actually allocated.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanQuarterView {
    /// The quarter, `2026-Q3`.
    pub quarter: String,
    /// What the payment plan expects in the quarter; null when the plan does not cover it.
    pub planned: Option<MoneyJson>,
    /// Allocated in the quarter (by posting date), every payer.
    pub actual: MoneyJson,
}

/// One project's position within a fund.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectPositionView {
    /// The project (`prj_…`).
    pub project_id: String,
    /// The project's name.
    pub name: String,
    /// The contract cap; null when the project has none.
    pub max_outcome_payment: Option<MoneyJson>,
    /// `near` from 80 % of the contract cap, `reached` at 100 %; null below 80 %, without a cap, or
    /// for a project the fund only tops up beside another.
    pub contract_warning: Option<CapWarning>,
    /// The quarter (`2027-Q2`) the contract cap will bind in at the pace of the last four complete
    /// quarters; null without a cap, with nothing paid in them or nothing left, or for a project
    /// the fund only tops up.
    pub contract_cap_binds_in: Option<String>,
    /// Every payer for a project of this fund; only this fund's own payers for a project it
    /// tops up beside another fund.
    pub payers: Vec<PayerPositionView>,
    /// Every quarter planned or allocated in, in time order; empty for a project the fund only tops
    /// up.
    pub plan: Vec<PlanQuarterView>,
}

/// A cap at or near its limit.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarningView {
    /// The project (`prj_…`) whose cap it is.
    pub project_id: String,
    /// The payer (`org_…`) whose maximum commitment it is; null for the project's contract cap.
    pub payer_organisation_id: Option<String>,
    /// `near` from 80 % of the cap, `reached` at 100 %.
    pub level: CapWarning,
    /// The warning in words.
    pub detail: String,
}

/// A fund's position: its budget, commitments and money moved, per project and payer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::fund_position)]
pub struct FundPositionView {
    /// The fund (`fund_…`).
    pub fund_id: String,
    /// The fund's name.
    pub name: String,
    /// Its whole budget.
    pub budget: MoneyJson,
    /// The fund's own payers only (its central top-ups), summed.
    #[serde(flatten)]
    pub amounts: Amounts,
    /// Budget not committed to any project.
    pub uncommitted: MoneyJson,
    /// Every project of the fund, and every other project one of its payers tops up from it.
    pub projects: Vec<ProjectPositionView>,
    /// Every contract cap and payer cap shown that is at 80 % or more.
    pub warnings: Vec<WarningView>,
}

fn amounts(
    committed: Minor,
    allocated: Minor,
    shortfall: Minor,
    billed: Billed,
    currency: &str,
) -> Amounts {
    let m = |minor: Minor| MoneyJson::from_minor(minor, currency);
    Amounts {
        committed: m(committed),
        allocated: m(allocated),
        shortfall: m(shortfall),
        invoiced: m(billed.invoiced_minor),
        paid: m(billed.paid_minor),
        outstanding: m(billed.invoiced_minor - billed.paid_minor),
        headroom: m(committed - allocated),
    }
}

fn payer_view(p: &PayerPosition, currency: &str) -> PayerPositionView {
    PayerPositionView {
        payer_id: p.payer_id.to_string(),
        organisation_id: p.organisation_id.to_string(),
        role: p.role.as_str().to_owned(),
        fund_id: p.fund_id.clone().map(String::from),
        commitment: p.commitment,
        amounts: amounts(
            p.committed_minor,
            p.allocated_minor,
            p.shortfall_minor,
            p.billed,
            currency,
        ),
        warning: p.warning,
        cap_binds_in: p.cap_binds_in.map(|q| q.to_string()),
    }
}

fn project_view(p: &ProjectPosition) -> ProjectPositionView {
    let m = |minor: Minor| MoneyJson::from_minor(minor, &p.currency);
    ProjectPositionView {
        project_id: p.project_id.to_string(),
        name: p.name.clone(),
        max_outcome_payment: p.max_outcome_payment_minor.map(m),
        contract_warning: p.contract_warning,
        contract_cap_binds_in: p.contract_cap_binds_in.map(|q| q.to_string()),
        payers: p
            .payers
            .iter()
            .map(|payer| payer_view(payer, &p.currency))
            .collect(),
        plan: p
            .plan
            .iter()
            .map(|(quarter, planned, actual)| PlanQuarterView {
                quarter: quarter.clone(),
                planned: planned.map(m),
                actual: m(*actual),
            })
            .collect(),
    }
}

fn warnings(position: &FundPosition) -> Vec<WarningView> {
    let mut out = Vec::new();
    let percent = |level: CapWarning| {
        if level == CapWarning::Reached {
            "100 %"
        } else {
            "80 %"
        }
    };
    for project in &position.projects {
        if let Some(level) = project.contract_warning {
            out.push(WarningView {
                project_id: project.project_id.to_string(),
                payer_organisation_id: None,
                level,
                detail: format!(
                    "{}: the contract cap is {} used",
                    project.name,
                    percent(level)
                ),
            });
        }
        for payer in &project.payers {
            if let Some(level) = payer.warning {
                out.push(WarningView {
                    project_id: project.project_id.to_string(),
                    payer_organisation_id: Some(payer.organisation_id.to_string()),
                    level,
                    detail: format!(
                        "{}: payer {} has used {} of its maximum commitment",
                        project.name,
                        payer.organisation_id,
                        percent(level)
                    ),
                });
            }
        }
    }
    out
}

fn fund_view(position: FundPosition) -> FundPositionView {
    let currency = position.fund.currency.clone();
    let own: Vec<&PayerPosition> = position.own_payers().collect();
    let sum = |f: &dyn Fn(&PayerPosition) -> Minor| own.iter().map(|p| f(p)).sum::<Minor>();
    let billed = Billed {
        invoiced_minor: sum(&|p| p.billed.invoiced_minor),
        paid_minor: sum(&|p| p.billed.paid_minor),
    };
    let allocated = sum(&|p| p.allocated_minor);
    let shortfall = sum(&|p| p.shortfall_minor);
    FundPositionView {
        fund_id: position.fund.id.to_string(),
        name: position.fund.name.clone(),
        budget: MoneyJson::from_minor(position.fund.budget_minor, &currency),
        amounts: amounts(
            position.committed_minor,
            allocated,
            shortfall,
            billed,
            &currency,
        ),
        uncommitted: MoneyJson::from_minor(
            position.fund.budget_minor - position.committed_minor,
            &currency,
        ),
        warnings: warnings(&position),
        projects: position.projects.iter().map(project_view).collect(),
    }
}

/// A fund's position: budget, commitments, allocations, invoices and payments, per project
/// and payer, with payment plans against actuals and cap warnings.
#[utoipa::path(
    get, path = "/v1/funds/{id}/position", tag = "settlement", operation_id = "getFundPosition",
    description = "An admin, or a fund manager of the organisation that owns the fund; nothing changes. The fund's own totals sum only its `central_top_up` payers; a project it tops up beside another fund shows only this fund's payers, without its plan or contract-cap warning. A cap warns `near` from 80 % and `reached` at 100 %, and `cap_binds_in` projects the quarter a cap binds in at the pace of the last four complete quarters.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The fund's position", body = FundPositionView),
        (status = 403, description = "Not an admin, or a fund manager of another organisation", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No fund with this id", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn position(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<FundId>,
) -> Result<web::Json<FundPositionView>, ApiError> {
    principal.require(&[Role::Admin, Role::FundManager])?;
    let id = id.into_inner();
    let today = config.clock.today();
    let view = with_db(&pool, move |conn| {
        Ok(fund_view(service::fund_position(
            conn, &principal, &id, today,
        )?))
    })
    .await?;
    Ok(web::Json(view))
}

/// Set a project's payment plan: planned outcome payments per quarter, shown against actuals
/// in its fund's position.
#[utoipa::path(
    put, path = "/v1/projects/{id}/payment-plan", tag = "settlement", operation_id = "setPaymentPlan",
    description = "An admin, or a fund manager of the organisation that owns the project's fund (a project the caller cannot see is a 404). Replaces the project's whole plan with these quarters (at most 200, each once, in the project's currency, none negative, each from the quarter the service starts in to four quarters after the one it ends in, and together no more than the payers' maximum commitments or the contract's maximum outcome payment); an empty list clears it, and repeating the same request leaves the same plan. It changes no money: the plan is only shown against actuals in the fund's position.",
    params(("id" = String, Path)),
    request_body = PaymentPlanRequest,
    responses(
        (status = 204, description = "The plan is stored"),
        (status = 403, description = "Not an admin, or not a fund manager of the project's fund", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or one the caller cannot see", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid quarters or amounts (not a quarter such as 2026-Q3, planned twice, outside the project's quarters, another currency, negative, or more in all than the project can pay); `errors` names each", body = crate::api::error::documented::ValidationProblem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn set_plan(
    pool: web::Data<Pool>,
    principal: Principal,
    id: web::Path<String>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[Role::Admin, Role::FundManager])?;
    let request: PaymentPlanRequest = body.parse()?;
    if request.quarters.len() > 200 {
        return Err(ApiError::validation("quarters", "at most 200 quarters"));
    }
    let project_id = id.into_inner();
    with_db(&pool, move |conn| {
        Ok(service::set_payment_plan(
            conn,
            &principal,
            &ProjectId::from(project_id.as_str()),
            &request,
        )?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A project's payment plan as stored.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"quarters": [
    {"quarter": "2026-Q3", "planned": {"amount": "36000.00", "currency": "GBP"}},
    {"quarter": "2026-Q4", "planned": {"amount": "54000.00", "currency": "GBP"}}
], "total": {"amount": "90000.00", "currency": "GBP"}}))]
pub struct PaymentPlanView {
    /// The planned quarters in time order.
    pub quarters: Vec<PlannedQuarterView>,
    /// Their sum.
    pub total: MoneyJson,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlannedQuarterView {
    #[schema(example = "2026-Q3")]
    pub quarter: String,
    pub planned: MoneyJson,
}

/// Read a project's payment plan.
#[utoipa::path(
    get, path = "/v1/projects/{id}/payment-plan", tag = "settlement", operation_id = "getPaymentPlan",
    description = "An admin, or a fund manager of the organisation that owns the project's fund (a project the caller cannot see is a 404): the plan as the last PUT stored it, quarters in time order, with its total; no quarters when none is set.",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The plan", body = PaymentPlanView),
        (status = 403, description = "Not an admin, or not a fund manager of the project's fund", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such project, or one the caller cannot see", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_plan(
    pool: web::Data<Pool>,
    principal: Principal,
    id: web::Path<String>,
) -> Result<web::Json<PaymentPlanView>, ApiError> {
    principal.require(&[Role::Admin, Role::FundManager])?;
    let project_id = id.into_inner();
    let view = with_db(&pool, move |conn| {
        let (currency, quarters) =
            service::payment_plan(conn, &principal, &ProjectId::from(project_id.as_str()))?;
        let money = |minor: Minor| MoneyJson::from_minor(minor, &currency);
        Ok(PaymentPlanView {
            total: money(quarters.iter().map(|(_, planned)| planned).sum()),
            quarters: quarters
                .into_iter()
                .map(|(quarter, planned)| PlannedQuarterView {
                    quarter: quarter.to_string(),
                    planned: money(planned),
                })
                .collect(),
        })
    })
    .await?;
    Ok(web::Json(view))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    /// First day (default: the beginning of records).
    #[serde(default, deserialize_with = "limits::optional_date")]
    pub from: Option<NaiveDate>,
    /// Last day, included (default: today).
    #[serde(default, deserialize_with = "limits::optional_date")]
    pub to: Option<NaiveDate>,
}

/// An organisation's own share on one project, within the statement's dates.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementLineView {
    /// The project (`prj_…`).
    pub project_id: String,
    /// The project's name.
    pub project_name: String,
    /// The organisation's role on the project.
    pub role: String,
    /// Its allocations posted in the window.
    pub allocated: MoneyJson,
    /// Reversals of its allocations posted in the window.
    pub reversed: MoneyJson,
    /// `allocated` plus `reversed`.
    pub net: MoneyJson,
    /// What its cap left unfunded on allocations posted in the window, reversals netted.
    pub shortfall: MoneyJson,
    /// Documents to it issued in the window.
    pub invoiced: MoneyJson,
    /// Payments recorded on those documents.
    pub paid: MoneyJson,
    /// `invoiced` less `paid`.
    pub outstanding: MoneyJson,
    /// Documents it issued in the window: under `via_commissioner`, the lead's top-up claims
    /// to the central funds.
    pub issued_by_it: MoneyJson,
    /// Payments recorded on those documents.
    pub received: MoneyJson,
    /// `issued_by_it` less `received`.
    pub receivable: MoneyJson,
    /// `outstanding` less `receivable`: what it owes on the documents, net of what it is owed.
    pub net_outstanding: MoneyJson,
    /// Each document counted above, to it or by it, by the day it was issued, then number.
    pub documents: Vec<StatementDocumentView>,
}

/// One document on a statement, from the organisation's side.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementDocumentView {
    /// The document (`doc_…`).
    pub id: String,
    /// Its number, given when it was issued.
    pub number: Option<String>,
    /// `invoice`, `top_up_claim` or `credit_note`.
    pub kind: String,
    /// `to_it` (it pays) or `by_it` (it issued the document and is paid): `paid` and
    /// `outstanding` are from that side.
    pub side: String,
    /// The other party (`org_…`): the issuer of a document to it, the recipient of one by it.
    pub counterparty_organisation_id: String,
    pub issued_on: NaiveDate,
    pub total: MoneyJson,
    pub paid: MoneyJson,
    /// `total` less `paid`.
    pub outstanding: MoneyJson,
}

/// An organisation's statement: its own share across every project it pays into.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::statement)]
pub struct StatementView {
    /// The organisation (`org_…`) the statement is for.
    pub organisation_id: String,
    /// First day of the statement (inclusive); the start of records unless asked.
    pub from: NaiveDate,
    /// Last day of the statement (inclusive); today unless asked.
    pub to: NaiveDate,
    /// One line per project it pays into: its own share, and the documents to it and by it.
    pub lines: Vec<StatementLineView>,
}

fn statement_line(l: StatementLine) -> StatementLineView {
    let m = |minor: Minor| MoneyJson::from_minor(minor, &l.currency);
    let (owed, owed_to_it) = (
        l.billed.invoiced_minor - l.billed.paid_minor,
        l.issued.invoiced_minor - l.issued.paid_minor,
    );
    let document = |d: &StatementDocument| StatementDocumentView {
        id: d.id.to_string(),
        number: d.number.clone(),
        kind: d.kind.as_str().to_owned(),
        side: if d.to_it { "to_it" } else { "by_it" }.to_owned(),
        counterparty_organisation_id: d.counterparty.to_string(),
        issued_on: d.issued_on,
        total: m(d.total_minor),
        paid: m(d.paid_minor),
        outstanding: m(d.total_minor - d.paid_minor),
    };
    StatementLineView {
        allocated: m(l.allocated_minor),
        reversed: m(l.reversed_minor),
        net: m(l.allocated_minor + l.reversed_minor),
        shortfall: m(l.shortfall_minor),
        invoiced: m(l.billed.invoiced_minor),
        paid: m(l.billed.paid_minor),
        outstanding: m(owed),
        issued_by_it: m(l.issued.invoiced_minor),
        received: m(l.issued.paid_minor),
        receivable: m(owed_to_it),
        net_outstanding: m(owed - owed_to_it),
        documents: l.documents.iter().map(document).collect(),
        project_id: String::from(l.project_id),
        project_name: l.project_name,
        role: l.role.as_str().to_owned(),
    }
}

async fn load_statement(
    pool: &web::Data<Pool>,
    config: &Config,
    principal: Principal,
    organisation_id: String,
    query: StatementQuery,
) -> Result<StatementView, ApiError> {
    if !principal.is_admin() && !principal.acts_for(&OrganisationId::from(organisation_id.as_str()))
    {
        return Err(ApiError::Forbidden(
            "an organisation's statement is for that organisation alone".into(),
        ));
    }
    let from = query.from.unwrap_or(limits::MIN_DATE);
    let to = query.to.unwrap_or_else(|| config.clock.today());
    if to < from {
        return Err(ApiError::validation("to", "is before from"));
    }
    let until = to.succ_opt().unwrap_or(to);
    with_db(pool, move |conn| {
        if queries::organisations::get_organisation(conn, &organisation_id)?.is_none() {
            return Err(ApiError::NotFound("no such organisation".into()));
        }
        let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight");
        let lines = service::statement(
            conn,
            &OrganisationId::from(organisation_id.as_str()),
            midnight(from),
            midnight(until),
        )?;
        Ok(StatementView {
            organisation_id,
            from,
            to,
            lines: lines.into_iter().map(statement_line).collect(),
        })
    })
    .await
}

/// An organisation's statement: its own share across every project it pays into, between two
/// dates.
#[utoipa::path(
    get, path = "/v1/organisations/{id}/statement", tag = "settlement", operation_id = "getStatement",
    description = "An admin, or a token of any role acting for this organisation; nothing changes. One line per project the organisation pays into, with its own allocations, reversals and shortfall posted between `from` and `to` (default: from the start of records to today, both included), and both sides of the documents issued in those days: those to it (invoiced, paid, outstanding) and those it issued (`issued_by_it`, `received`, `receivable`: under `via_commissioner` the lead's top-up claims), each listed, with `net_outstanding`. Of any other payer it shows only what those documents show.",
    params(("id" = String, Path), StatementQuery),
    responses(
        (status = 200, description = "The organisation's statement", body = StatementView),
        (status = 403, description = "Not an admin and not acting for this organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn statement(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<String>,
    query: web::Query<StatementQuery>,
) -> Result<web::Json<StatementView>, ApiError> {
    let view = load_statement(
        &pool,
        &config,
        principal,
        id.into_inner(),
        query.into_inner(),
    )
    .await?;
    Ok(web::Json(view))
}

/// The same statement as CSV, one row per project.
#[utoipa::path(
    get, path = "/v1/organisations/{id}/statement.csv", tag = "settlement", operation_id = "getStatementCsv",
    description = "Who may read it, and the window, as for getStatement; nothing changes. The header is `organisation_id,from,to,project_id,project_name,role,currency,allocated,reversed,net,shortfall,invoiced,paid,outstanding,issued_by_it,received,receivable,net_outstanding` (the documents are listed in the JSON statement); a text cell a spreadsheet would read as a formula is prefixed with an apostrophe.",
    params(("id" = String, Path), StatementQuery),
    responses(
        (status = 200, description = "The statement as CSV, an attachment named `statement.csv`", content_type = "text/csv", body = String, example = json!(crate::api::examples::STATEMENT_CSV)),
        (status = 403, description = "Not an admin and not acting for this organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn statement_csv(
    pool: web::Data<Pool>,
    config: web::Data<Config>,
    principal: Principal,
    id: web::Path<String>,
    query: web::Query<StatementQuery>,
) -> Result<HttpResponse, ApiError> {
    let view = load_statement(
        &pool,
        &config,
        principal,
        id.into_inner(),
        query.into_inner(),
    )
    .await?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = [
        "organisation_id",
        "from",
        "to",
        "project_id",
        "project_name",
        "role",
        "currency",
        "allocated",
        "reversed",
        "net",
        "shortfall",
        "invoiced",
        "paid",
        "outstanding",
        "issued_by_it",
        "received",
        "receivable",
        "net_outstanding",
    ];
    let internal = |e: csv::Error| ApiError::Internal(format!("statement CSV: {e}"));
    // Names are text a spreadsheet could read as a formula: the one CSV rule neutralises them.
    let text = |cell: &str| text_cell(cell).into_owned();
    writer.write_record(header).map_err(internal)?;
    for l in &view.lines {
        writer
            .write_record([
                view.organisation_id.as_str(),
                &view.from.to_string(),
                &view.to.to_string(),
                &l.project_id,
                &text(&l.project_name),
                &l.role,
                &l.net.currency,
                &l.allocated.amount,
                &l.reversed.amount,
                &l.net.amount,
                &l.shortfall.amount,
                &l.invoiced.amount,
                &l.paid.amount,
                &l.outstanding.amount,
                &l.issued_by_it.amount,
                &l.received.amount,
                &l.receivable.amount,
                &l.net_outstanding.amount,
            ])
            .map_err(internal)?;
    }
    let body = writer
        .into_inner()
        .map_err(|e| ApiError::Internal(format!("statement CSV: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"statement.csv\"",
        ))
        .body(body))
}
