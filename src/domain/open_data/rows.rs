//! The published rows of one project, from what the registry and the ledger know of it, with
//! small numbers suppressed: pure, so that the rules can be read and tested without a
//! database.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveDateTime};

use super::catalog::table;
use super::suppression::Grid;
use super::value::{Row, Value};
use crate::domain::period::Period;
use crate::domain::registry::{OrganisationKind, SettlementFrequency, SettlementRoute};

/// A published project as the registry holds it.
#[derive(Debug, Clone)]
pub struct ProjectFacts {
    pub id: String,
    pub name: String,
    pub fund_ids: Vec<String>,
    pub provider_organisation_id: String,
    pub stage_development: Option<String>,
    pub service_start: NaiveDate,
    pub service_end: NaiveDate,
    pub policy_sector: Option<String>,
    pub social_challenge: Option<String>,
    pub target_population: Option<String>,
    pub max_outcome_payment_minor: Option<i64>,
    pub currency: String,
    pub settlement_route: SettlementRoute,
    pub created_at: NaiveDateTime,
    pub payers: Vec<PayerFacts>,
    pub metrics: Vec<MetricFacts>,
}

#[derive(Debug, Clone)]
pub struct PayerFacts {
    pub organisation_id: String,
    /// INDIGO's category of the paying organisation.
    pub category: &'static str,
    pub role: String,
    pub max_commitment_minor: i64,
    pub share: Option<String>,
    pub lead: bool,
}

#[derive(Debug, Clone)]
pub struct MetricFacts {
    pub id: String,
    pub code: String,
    pub name: String,
    pub unit: String,
    pub price_minor: i64,
    pub max_units_per_participant: Option<i64>,
    pub max_claims_per_participant: i64,
    pub volume_cap: Option<i64>,
    pub min_age_at_start: Option<i64>,
    pub max_age_at_start: Option<i64>,
}

/// Verified outcomes of one metric achieved in one quarter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultFacts {
    pub achieved_units: i64,
    /// Distinct participants among the verified claims.
    pub achieved_participants: i64,
    pub paid_units: i64,
    /// Distinct participants among the verified claims paid for.
    pub paid_participants: i64,
    /// Distinct participants with any claim.
    pub engaged: i64,
}

/// Money due from one payer: its amount and the distinct participants it pays for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MoneyFacts {
    pub minor: i64,
    pub participants: i64,
}

/// What the ledger knows of one project, keyed by outcome code, quarter and payer.
#[derive(Debug, Clone, Default)]
pub struct LedgerFacts {
    pub results: BTreeMap<(String, Period), ResultFacts>,
    pub payments: BTreeMap<(String, Period, String), MoneyFacts>,
    pub payer_totals: BTreeMap<String, MoneyFacts>,
    pub project_total: MoneyFacts,
}

/// Every published row of one project.
#[derive(Debug, Default)]
pub struct ProjectRows {
    pub project: Vec<Row>,
    pub payers: Vec<Row>,
    pub metrics: Vec<Row>,
    pub results: Vec<Row>,
    pub payments: Vec<Row>,
    /// How many cells were withheld.
    pub suppressed: usize,
}

/// The quarter a date falls in.
pub fn quarter_of(date: NaiveDate) -> Period {
    Period::containing(date, SettlementFrequency::Quarterly)
}

/// INDIGO's organisation role category for cofund's kind of organisation. cofund does not
/// know whether a provider is a charity or a company: it is `Other`.
pub fn role_category(kind: OrganisationKind) -> &'static str {
    match kind {
        OrganisationKind::CentralFund
        | OrganisationKind::LocalAuthority
        | OrganisationKind::NhsBody => "Government/Public Sector/Public Bank",
        OrganisationKind::Investor => "Investment Fund",
        OrganisationKind::Provider
        | OrganisationKind::Intermediary
        | OrganisationKind::Validator
        | OrganisationKind::Other => "Other",
    }
}

/// The cells of a project's aggregates in one suppression grid.
struct Cells {
    grid: Grid,
    achieved: BTreeMap<(String, Period), usize>,
    paid: BTreeMap<(String, Period), usize>,
    engaged: BTreeMap<(String, Period), usize>,
    payments: BTreeMap<(String, Period, String), usize>,
    payer_totals: BTreeMap<String, usize>,
    project_total: usize,
}

/// Lays out the grid: every count and sum a cell, and the totals that could be subtracted
/// from. A payer's cells add up to its published total, the payers' totals to the project's;
/// the payers' cells of one metric and quarter add up to what the outcomes paid that quarter
/// cost (price × count), so the count stands as their total, and withholding the count
/// withholds the money (amount ÷ price would give it back).
fn lay_out(ledger: &LedgerFacts) -> Cells {
    let mut grid = Grid::default();
    let mut achieved = BTreeMap::new();
    let mut paid = BTreeMap::new();
    let mut engaged = BTreeMap::new();
    for (key, r) in &ledger.results {
        achieved.insert(
            key.clone(),
            grid.cell(r.achieved_units, r.achieved_participants),
        );
        paid.insert(key.clone(), grid.cell(r.paid_units, r.paid_participants));
        engaged.insert(key.clone(), grid.cell(r.engaged, r.engaged));
    }
    let payments: BTreeMap<_, _> = ledger
        .payments
        .iter()
        .map(|(key, m)| (key.clone(), grid.cell(m.minor, m.participants)))
        .collect();
    let payer_totals: BTreeMap<_, _> = ledger
        .payer_totals
        .iter()
        .map(|(payer, m)| (payer.clone(), grid.cell(m.minor, m.participants)))
        .collect();
    let project_total = grid.cell(
        ledger.project_total.minor,
        ledger.project_total.participants,
    );
    for (payer, &total) in &payer_totals {
        let members = payments
            .iter()
            .filter(|((_, _, p), _)| p == payer)
            .map(|(_, &cell)| cell)
            .collect();
        grid.group(members, total);
    }
    grid.group(payer_totals.values().copied().collect(), project_total);
    grid.group(payments.values().copied().collect(), project_total);
    for ((code, quarter), &count) in &paid {
        let members: Vec<usize> = payments
            .iter()
            .filter(|((c, q, _), _)| c == code && q == quarter)
            .map(|(_, &cell)| cell)
            .collect();
        for &member in &members {
            grid.implies(count, member);
        }
        grid.group(members, count);
    }
    Cells {
        grid,
        achieved,
        paid,
        engaged,
        payments,
        payer_totals,
        project_total,
    }
}

/// Builds the project's rows, withholding cells for threshold `k`.
pub fn project_rows(project: &ProjectFacts, ledger: &LedgerFacts, k: i64) -> ProjectRows {
    let cells = lay_out(ledger);
    let withheld = cells.grid.suppress(k);
    let shown = |cell: usize, value: Value| {
        if withheld.contains(&cell) {
            Value::Suppressed
        } else {
            value
        }
    };
    let currency = project.currency.as_str();
    let money = |cell: usize, minor: i64| shown(cell, Value::amount(minor, currency));
    let metric_ids: BTreeMap<&str, &str> = project
        .metrics
        .iter()
        .map(|m| (m.code.as_str(), m.id.as_str()))
        .collect();
    let metric_id = |code: &str| Value::text(metric_ids.get(code).copied().unwrap_or(code));
    let id = Value::text(&project.id);

    let project_row = Row::new(
        table("projects").expect("declared"),
        vec![
            id.clone(),
            Value::text(&project.name),
            if project.fund_ids.is_empty() {
                Value::Empty
            } else {
                Value::Text(project.fund_ids.join(";"))
            },
            Value::text(&project.provider_organisation_id),
            Value::optional_text(project.stage_development.as_deref()),
            Value::Date(project.service_start),
            Value::Date(project.service_end),
            Value::optional_text(project.policy_sector.as_deref()),
            Value::optional_text(project.social_challenge.as_deref()),
            Value::optional_text(project.target_population.as_deref()),
            project
                .max_outcome_payment_minor
                .map_or(Value::Empty, |m| Value::amount(m, currency)),
            Value::text(currency),
            money(cells.project_total, ledger.project_total.minor),
            Value::text(currency),
            Value::DateTime(project.created_at),
        ],
    );

    let payer_table = table("project_payers").expect("declared");
    let payers = project
        .payers
        .iter()
        .map(|p| {
            let total = ledger
                .payer_totals
                .get(&p.organisation_id)
                .copied()
                .unwrap_or_default();
            let cell = cells.payer_totals.get(&p.organisation_id);
            Row::new(
                payer_table,
                vec![
                    id.clone(),
                    Value::text(&p.organisation_id),
                    Value::text(p.category),
                    Value::text(&p.role),
                    Value::amount(p.max_commitment_minor, currency),
                    Value::text(currency),
                    p.share.clone().map_or(Value::Empty, Value::Share),
                    cell.map_or(Value::amount(0, currency), |&c| money(c, total.minor)),
                    Value::text(currency),
                ],
            )
        })
        .collect();

    let metric_table = table("outcome_metrics").expect("declared");
    let optional_integer = |n: Option<i64>| n.map_or(Value::Empty, Value::Integer);
    let metrics = project
        .metrics
        .iter()
        .map(|m| {
            Row::new(
                metric_table,
                vec![
                    id.clone(),
                    Value::text(&m.id),
                    Value::text(&m.code),
                    Value::text(&m.name),
                    Value::text(&m.unit),
                    Value::amount(m.price_minor, currency),
                    Value::text(currency),
                    optional_integer(m.max_units_per_participant),
                    Value::Integer(m.max_claims_per_participant),
                    optional_integer(m.volume_cap),
                    optional_integer(m.min_age_at_start),
                    optional_integer(m.max_age_at_start),
                ],
            )
        })
        .collect();

    let results_table = table("results_quarterly").expect("declared");
    let results = ledger
        .results
        .iter()
        .map(|(key, r)| {
            let (code, quarter) = key;
            Row::new(
                results_table,
                vec![
                    id.clone(),
                    metric_id(code),
                    Value::Date(quarter.start()),
                    Value::Date(quarter.last_day()),
                    shown(cells.achieved[key], Value::Integer(r.achieved_units)),
                    shown(cells.paid[key], Value::Integer(r.paid_units)),
                    shown(cells.engaged[key], Value::Integer(r.engaged)),
                ],
            )
        })
        .collect();

    let lead = project
        .payers
        .iter()
        .find(|p| p.lead)
        .map(|p| p.organisation_id.as_str());
    let recipient = |payer: &str| match (project.settlement_route, lead) {
        (SettlementRoute::ViaCommissioner, Some(lead)) if payer != lead => lead,
        _ => project.provider_organisation_id.as_str(),
    };
    let payments_table = table("payments_quarterly").expect("declared");
    let payments = ledger
        .payments
        .iter()
        .map(|(key, m)| {
            let (code, quarter, payer) = key;
            Row::new(
                payments_table,
                vec![
                    id.clone(),
                    metric_id(code),
                    Value::Date(quarter.start()),
                    Value::Date(quarter.last_day()),
                    Value::text(payer),
                    Value::text(recipient(payer)),
                    money(cells.payments[key], m.minor),
                    Value::text(currency),
                ],
            )
        })
        .collect();

    ProjectRows {
        project: vec![project_row],
        payers,
        metrics,
        results,
        payments,
        suppressed: withheld.len(),
    }
}

/// The organisations a set of published rows refers to.
pub fn referenced_organisations(rows: &ProjectRows, funds: &[Row]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut take = |table_name: &str, rows: &[Row]| {
        let t = table(table_name).expect("declared");
        for fk in t
            .foreign_keys
            .iter()
            .filter(|fk| fk.table == "organisations")
        {
            let at = t
                .fields
                .iter()
                .position(|f| f.name == fk.fields[0])
                .expect("a key field");
            for row in rows {
                if let Some(id) = row.values[at].display() {
                    ids.insert(id);
                }
            }
        }
    };
    take("projects", &rows.project);
    take("project_payers", &rows.payers);
    take("payments_quarterly", &rows.payments);
    take("funds", funds);
    // Recipients are the provider or a payer, both already named.
    ids
}
