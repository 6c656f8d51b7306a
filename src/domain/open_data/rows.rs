//! The published rows of one project, from what the registry and the ledger know of it, with
//! small numbers suppressed: pure, so that the rules can be read and tested without a
//! database.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveDateTime};

use super::catalog::table;
use super::disclosure::{
    self, Block, Exposure, OutcomeTerms, PayerTerms, ProjectTerms, Publication, Quantity,
};
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
    /// Units of verified outcomes that a payer paid something for.
    pub paid_units: i64,
    /// Distinct participants among the verified claims paid for.
    pub paid_participants: i64,
    /// Units the rate card's caps left payable (paid, or unfunded where a payer's cap bound).
    pub payable_units: i64,
    /// Their value before the payers' caps.
    pub payable_minor: i64,
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
/// from: a payer's cells add up to its total, the payers' totals (and all cells) to the
/// project's, the payers' cells of one metric and quarter to what its outcomes paid cost
/// (price × count). The cells of one metric and quarter are withheld together (amount ÷ price
/// would give a count back, and the public shares each payer's part from the total).
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
        // The payers' shares are public: from a quarter's total each payer's part follows,
        // and from one payer's part the total. The quarter of one outcome is withheld whole
        // or not at all: its counts, the differences between them, and every payer's money.
        let key = (code.clone(), *quarter);
        let r = &ledger.results[&key];
        // What one count less another gives is a count too: participants engaged but not
        // achieving, outcomes achieved but not paid.
        let not_achieving = r.engaged - r.achieved_participants;
        let unpaid = grid.cell(
            r.achieved_units - r.paid_units,
            r.achieved_participants - r.paid_participants,
        );
        let mut together = vec![
            count,
            achieved[&key],
            engaged[&key],
            grid.cell(not_achieving, not_achieving),
            unpaid,
        ];
        together.extend(&members);
        for pair in together.windows(2) {
            grid.implies(pair[0], pair[1]);
            grid.implies(pair[1], pair[0]);
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

/// Builds the project's rows, withholding cells for threshold `k` until the disclosure
/// auditor finds no withheld count that a reader could narrow (see `protect`).
pub fn project_rows(project: &ProjectFacts, ledger: &LedgerFacts, k: i64) -> ProjectRows {
    let cells = lay_out(ledger);
    let (withheld, quarters_published) = protect(project, ledger, &cells, k);
    let rows = Writer {
        project,
        ledger,
        cells: &cells,
        withheld: &withheld,
        metric_ids: project
            .metrics
            .iter()
            .map(|m| (m.code.as_str(), m.id.as_str()))
            .collect(),
    };
    let (results, payments) = if quarters_published {
        (rows.result_rows(), rows.payment_rows())
    } else {
        (Vec::new(), Vec::new())
    };
    ProjectRows {
        project: vec![rows.project_row()],
        payers: rows.payer_rows(),
        metrics: rows.metric_rows(),
        results,
        payments,
        suppressed: withheld.len(),
    }
}

/// The withheld cells, and whether the project's quarterly rows are published at all.
///
/// The small-number rules come first; then the auditor asks, for every withheld count, what a
/// reader of everything published (the caps that bound included) can rule out. While some
/// count is exposed, more is withheld, in steps: every block that shares a bound cap with an
/// exposed one (a payer's whole series once its cap binds, an outcome's once its volume cap
/// does, everything once the contract's does); then every block of the project; and if even
/// that leaves a count exposed (a reader of the terms alone would know no more, so only the
/// caps' binding can do it), no quarterly row of the project is published, and its totals are
/// withheld.
fn protect(
    project: &ProjectFacts,
    ledger: &LedgerFacts,
    cells: &Cells,
    k: i64,
) -> (BTreeSet<usize>, bool) {
    let audit = Audit::new(project, ledger, cells);
    let mut withheld = cells.grid.suppress(k);
    if audit.blocks.is_empty() {
        return (withheld, true);
    }
    for widen_to_the_whole_project in [false, true] {
        let exposed = audit.exposures(&withheld, k);
        if exposed.is_empty() {
            return (withheld, true);
        }
        let blocks = if widen_to_the_whole_project {
            (0..audit.blocks.len()).collect()
        } else {
            audit.sharing_a_bound_cap(&exposed)
        };
        let mut also = withheld.clone();
        also.extend(blocks.into_iter().map(|b| cells.paid[&audit.keys[b]]));
        withheld = cells.grid.suppress_with(k, &also);
    }
    if audit.exposures(&withheld, k).is_empty() {
        return (withheld, true);
    }
    let mut all: BTreeSet<usize> = audit.keys.iter().map(|key| cells.paid[key]).collect();
    all.extend(cells.payer_totals.values());
    all.insert(cells.project_total);
    (cells.grid.suppress_with(k, &all), false)
}

/// Audits a project's rows as written, against its ledger: each block is withheld whole or
/// not at all, and no withheld count is exposed to a reader of the rows (see `disclosure`).
/// Where no quarterly row is written, no total may be either. The rebuild refuses rows that
/// fail, so that a fault between deciding and writing never publishes.
pub fn audit_rows(
    project: &ProjectFacts,
    ledger: &LedgerFacts,
    rows: &ProjectRows,
    k: i64,
) -> Result<(), String> {
    let cells = lay_out(ledger);
    let audit = Audit::new(project, ledger, &cells);
    let amount = |v: &Value| match v {
        Value::Amount { minor, .. } => Some(*minor),
        _ => None,
    };
    let payer_totals: Vec<Option<i64>> = rows.payers.iter().map(|r| amount(&r.values[7])).collect();
    let project_total = amount(&rows.project[0].values[12]);
    if rows.results.is_empty() {
        let shown = payer_totals.iter().flatten().chain(&project_total);
        return match shown.filter(|&&t| t != 0).count() {
            0 => Ok(()),
            _ => Err("no quarterly row is published, yet a total with money in it is".into()),
        };
    }
    let metric_ids: BTreeMap<&str, &str> = project
        .metrics
        .iter()
        .map(|m| (m.code.as_str(), m.id.as_str()))
        .collect();
    let mut withheld = Vec::with_capacity(audit.keys.len());
    for (code, quarter) in &audit.keys {
        let metric = Value::text(metric_ids.get(code.as_str()).copied().unwrap_or(code));
        let start = Value::Date(quarter.start());
        let of_block = |r: &&Row| r.values[1] == metric && r.values[2] == start;
        let values: Vec<&Value> = rows
            .results
            .iter()
            .filter(of_block)
            .flat_map(|r| &r.values[4..7])
            .chain(rows.payments.iter().filter(of_block).map(|r| &r.values[6]))
            .collect();
        let suppressed = values.iter().filter(|v| ***v == Value::Suppressed).count();
        if suppressed != 0 && suppressed != values.len() {
            return Err(format!("the {code} block of {quarter} is withheld in part"));
        }
        withheld.push(suppressed != 0);
    }
    let publication = Publication {
        withheld,
        payer_totals,
        project_total,
    };
    let exposed = disclosure::audit(&audit.terms, &audit.blocks, &publication, k);
    match exposed.first() {
        None => Ok(()),
        Some(e) => {
            let (code, quarter) = &audit.keys[e.block];
            Err(format!(
                "{} withheld counts are exposed, the first the outcomes {} of {code} in {quarter}: a reader rules out {:?}",
                exposed.len(),
                match e.quantity {
                    Quantity::Achieved => "achieved",
                    Quantity::Paid => "paid",
                },
                e.ruled_out
            ))
        }
    }
}

/// A project's blocks (one outcome in one quarter) and terms as the disclosure auditor reads
/// them.
struct Audit<'a> {
    cells: &'a Cells,
    terms: ProjectTerms,
    keys: Vec<(String, Period)>,
    blocks: Vec<Block>,
    payer_ids: Vec<&'a str>,
    payer_totals: Vec<i64>,
    project_total: i64,
}

impl<'a> Audit<'a> {
    fn new(project: &'a ProjectFacts, ledger: &LedgerFacts, cells: &'a Cells) -> Audit<'a> {
        let terms = ProjectTerms {
            payers: project
                .payers
                .iter()
                .zip(published_weights(&project.payers))
                .map(|(p, weight)| PayerTerms {
                    cap_minor: p.max_commitment_minor,
                    weight,
                })
                .collect(),
            outcomes: project
                .metrics
                .iter()
                .map(|m| OutcomeTerms {
                    price_minor: m.price_minor,
                    volume_cap: m.volume_cap,
                })
                .collect(),
            contract_cap_minor: project.max_outcome_payment_minor,
        };
        let payer_ids: Vec<&str> = project
            .payers
            .iter()
            .map(|p| p.organisation_id.as_str())
            .collect();
        let mut keys = Vec::new();
        let mut blocks = Vec::new();
        for ((code, quarter), r) in &ledger.results {
            let Some(outcome) = project.metrics.iter().position(|m| &m.code == code) else {
                continue;
            };
            let payments: Vec<Option<MoneyFacts>> = payer_ids
                .iter()
                .map(|payer| {
                    let key = (code.clone(), *quarter, (*payer).to_owned());
                    ledger.payments.get(&key).copied()
                })
                .collect();
            let one_unit_each =
                r.achieved_units == r.achieved_participants && r.paid_units == r.paid_participants;
            let paid_for = one_unit_each.then(|| {
                payments
                    .iter()
                    .map(|m| m.map_or(0, |m| m.participants))
                    .collect()
            });
            keys.push((code.clone(), *quarter));
            blocks.push(Block {
                outcome,
                achieved_units: r.achieved_units,
                paid_units: r.paid_units,
                payable_units: r.payable_units,
                payable_minor: r.payable_minor,
                money: payments.iter().map(|m| m.map(|m| m.minor)).collect(),
                paid_for,
            });
        }
        let payer_totals = payer_ids
            .iter()
            .map(|p| ledger.payer_totals.get(*p).map_or(0, |m| m.minor))
            .collect();
        Audit {
            cells,
            terms,
            keys,
            blocks,
            payer_ids,
            payer_totals,
            project_total: ledger.project_total.minor,
        }
    }

    fn exposures(&self, withheld: &BTreeSet<usize>, k: i64) -> Vec<Exposure> {
        let shown = |cell: Option<&usize>, value: i64| match cell {
            Some(cell) if withheld.contains(cell) => None,
            _ => Some(value),
        };
        let publication = Publication {
            withheld: self
                .keys
                .iter()
                .map(|key| withheld.contains(&self.cells.paid[key]))
                .collect(),
            payer_totals: self
                .payer_ids
                .iter()
                .zip(&self.payer_totals)
                .map(|(p, &total)| shown(self.cells.payer_totals.get(*p), total))
                .collect(),
            project_total: shown(Some(&self.cells.project_total), self.project_total),
        };
        disclosure::audit(&self.terms, &self.blocks, &publication, k)
    }

    /// The blocks that share a cap that has bound with an exposed block.
    fn sharing_a_bound_cap(&self, exposed: &[Exposure]) -> BTreeSet<usize> {
        let blocks = &self.blocks;
        let mut linked = BTreeSet::new();
        for e in exposed {
            let b = &blocks[e.block];
            for (r, payer) in self.terms.payers.iter().enumerate() {
                let bound = self.payer_totals[r] >= payer.cap_minor;
                if bound && b.money[r].is_some() {
                    linked.extend(
                        (0..blocks.len()).filter(|&i| blocks[i].money[r].unwrap_or(0) != 0),
                    );
                }
            }
            let used: i64 = blocks.iter().map(|b| b.payable_minor).sum();
            if self.terms.contract_cap_minor.is_some_and(|cap| used >= cap) {
                linked.extend((0..blocks.len()).filter(|&i| blocks[i].payable_minor != 0));
            }
            let same_outcome = |i: &usize| blocks[*i].outcome == b.outcome;
            let volume: i64 = (0..blocks.len())
                .filter(same_outcome)
                .map(|i| blocks[i].payable_units)
                .sum();
            if self.terms.outcomes[b.outcome]
                .volume_cap
                .is_some_and(|cap| volume >= cap)
            {
                linked.extend((0..blocks.len()).filter(same_outcome));
            }
            linked.insert(e.block);
        }
        linked
    }
}

/// The payers' weights as their published shares state them: fixed shares scaled to integers
/// when every payer has one, else their maximum commitments (pro rata).
fn published_weights(payers: &[PayerFacts]) -> Vec<i128> {
    use rust_decimal::prelude::ToPrimitive;
    let scale = rust_decimal::Decimal::from(1_000_000_000_i64);
    let fixed: Option<Vec<i128>> = payers
        .iter()
        .map(|p| {
            let share = rust_decimal::Decimal::from_str_exact(p.share.as_deref()?).ok()?;
            (share * scale).trunc().to_i128()
        })
        .collect();
    fixed.unwrap_or_else(|| {
        payers
            .iter()
            .map(|p| i128::from(p.max_commitment_minor))
            .collect()
    })
}

/// Writes one project's rows from its facts and the withheld cells.
struct Writer<'a> {
    project: &'a ProjectFacts,
    ledger: &'a LedgerFacts,
    cells: &'a Cells,
    withheld: &'a BTreeSet<usize>,
    metric_ids: BTreeMap<&'a str, &'a str>,
}

impl Writer<'_> {
    fn shown(&self, cell: usize, value: Value) -> Value {
        if self.withheld.contains(&cell) {
            Value::Suppressed
        } else {
            value
        }
    }

    fn money(&self, cell: usize, minor: i64) -> Value {
        self.shown(cell, Value::amount(minor, &self.project.currency))
    }

    fn currency(&self) -> Value {
        Value::text(&self.project.currency)
    }

    fn id(&self) -> Value {
        Value::text(&self.project.id)
    }

    fn metric_id(&self, code: &str) -> Value {
        Value::text(self.metric_ids.get(code).copied().unwrap_or(code))
    }

    fn project_row(&self) -> Row {
        let p = self.project;
        Row::new(
            table("projects").expect("declared"),
            vec![
                self.id(),
                Value::text(&p.name),
                if p.fund_ids.is_empty() {
                    Value::Empty
                } else {
                    Value::Text(p.fund_ids.join(";"))
                },
                Value::text(&p.provider_organisation_id),
                Value::optional_text(p.stage_development.as_deref()),
                Value::Date(p.service_start),
                Value::Date(p.service_end),
                Value::optional_text(p.policy_sector.as_deref()),
                Value::optional_text(p.social_challenge.as_deref()),
                Value::optional_text(p.target_population.as_deref()),
                p.max_outcome_payment_minor
                    .map_or(Value::Empty, |m| Value::amount(m, &p.currency)),
                self.currency(),
                self.money(self.cells.project_total, self.ledger.project_total.minor),
                self.currency(),
                Value::DateTime(p.created_at),
            ],
        )
    }

    fn payer_rows(&self) -> Vec<Row> {
        let payer_table = table("project_payers").expect("declared");
        self.project
            .payers
            .iter()
            .map(|p| {
                let total = self
                    .ledger
                    .payer_totals
                    .get(&p.organisation_id)
                    .copied()
                    .unwrap_or_default();
                let paid = match self.cells.payer_totals.get(&p.organisation_id) {
                    Some(&cell) => self.money(cell, total.minor),
                    None => Value::amount(0, &self.project.currency),
                };
                Row::new(
                    payer_table,
                    vec![
                        self.id(),
                        Value::text(&p.organisation_id),
                        Value::text(p.category),
                        Value::text(&p.role),
                        Value::amount(p.max_commitment_minor, &self.project.currency),
                        self.currency(),
                        p.share.clone().map_or(Value::Empty, Value::Share),
                        paid,
                        self.currency(),
                    ],
                )
            })
            .collect()
    }

    fn metric_rows(&self) -> Vec<Row> {
        let metric_table = table("outcome_metrics").expect("declared");
        let optional = |n: Option<i64>| n.map_or(Value::Empty, Value::Integer);
        self.project
            .metrics
            .iter()
            .map(|m| {
                Row::new(
                    metric_table,
                    vec![
                        self.id(),
                        Value::text(&m.id),
                        Value::text(&m.code),
                        Value::text(&m.name),
                        Value::text(&m.unit),
                        Value::amount(m.price_minor, &self.project.currency),
                        self.currency(),
                        optional(m.max_units_per_participant),
                        Value::Integer(m.max_claims_per_participant),
                        optional(m.volume_cap),
                        optional(m.min_age_at_start),
                        optional(m.max_age_at_start),
                    ],
                )
            })
            .collect()
    }

    fn result_rows(&self) -> Vec<Row> {
        let results_table = table("results_quarterly").expect("declared");
        self.ledger
            .results
            .iter()
            .map(|(key, r)| {
                let (code, quarter) = key;
                Row::new(
                    results_table,
                    vec![
                        self.id(),
                        self.metric_id(code),
                        Value::Date(quarter.start()),
                        Value::Date(quarter.last_day()),
                        self.shown(self.cells.achieved[key], Value::Integer(r.achieved_units)),
                        self.shown(self.cells.paid[key], Value::Integer(r.paid_units)),
                        self.shown(self.cells.engaged[key], Value::Integer(r.engaged)),
                    ],
                )
            })
            .collect()
    }

    /// The provider is paid, but under settlement via the lead commissioner the other payers
    /// pay the lead.
    fn recipient(&self, payer: &str) -> Value {
        let p = self.project;
        let lead = p
            .payers
            .iter()
            .find(|p| p.lead)
            .map(|p| p.organisation_id.as_str());
        match (p.settlement_route, lead) {
            (SettlementRoute::ViaCommissioner, Some(lead)) if payer != lead => Value::text(lead),
            _ => Value::text(&p.provider_organisation_id),
        }
    }

    fn payment_rows(&self) -> Vec<Row> {
        let payments_table = table("payments_quarterly").expect("declared");
        self.ledger
            .payments
            .iter()
            .map(|(key, m)| {
                let (code, quarter, payer) = key;
                Row::new(
                    payments_table,
                    vec![
                        self.id(),
                        self.metric_id(code),
                        Value::Date(quarter.start()),
                        Value::Date(quarter.last_day()),
                        Value::text(payer),
                        self.recipient(payer),
                        self.money(self.cells.payments[key], m.minor),
                        self.currency(),
                    ],
                )
            })
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(route: SettlementRoute) -> ProjectFacts {
        let payer = |id: &str, lead: bool| PayerFacts {
            organisation_id: id.into(),
            category: "Government/Public Sector/Public Bank",
            role: "local_commissioner".into(),
            max_commitment_minor: 1_000_000,
            share: None,
            lead,
        };
        ProjectFacts {
            id: "prj".into(),
            name: "P".into(),
            fund_ids: vec![],
            provider_organisation_id: "provider".into(),
            stage_development: None,
            service_start: NaiveDate::from_ymd_opt(2021, 1, 1).unwrap(),
            service_end: NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(),
            policy_sector: None,
            social_challenge: None,
            target_population: None,
            max_outcome_payment_minor: None,
            currency: "GBP".into(),
            settlement_route: route,
            created_at: NaiveDate::from_ymd_opt(2021, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
            payers: vec![payer("lead", true), payer("fund", false)],
            metrics: vec![],
        }
    }

    fn ledger() -> LedgerFacts {
        let q1 = quarter_of(NaiveDate::from_ymd_opt(2021, 2, 1).unwrap());
        let q2 = quarter_of(NaiveDate::from_ymd_opt(2021, 5, 1).unwrap());
        let mut ledger = LedgerFacts::default();
        for (quarter, participants) in [(q1, 8), (q2, 2)] {
            let units = ResultFacts {
                achieved_units: participants,
                achieved_participants: participants,
                paid_units: participants,
                paid_participants: participants,
                payable_units: participants,
                payable_minor: participants * 1_000,
                engaged: participants,
            };
            ledger.results.insert(("a".into(), quarter), units);
            for (payer, share) in [("lead", 7), ("fund", 3)] {
                let money = MoneyFacts {
                    minor: participants * share * 100,
                    participants,
                };
                ledger
                    .payments
                    .insert(("a".into(), quarter, payer.into()), money);
            }
        }
        for (payer, share) in [("lead", 7), ("fund", 3)] {
            let money = MoneyFacts {
                minor: 10 * share * 100,
                participants: 10,
            };
            ledger.payer_totals.insert(payer.into(), money);
        }
        ledger.project_total = MoneyFacts {
            minor: 10_000,
            participants: 10,
        };
        ledger
    }

    /// The facts and ledger of `ledger()` with outcome `a` priced at 10.00, fixed shares of
    /// 0.7 and 0.3, and the lead's maximum at exactly what it paid: its cap has bound.
    fn capped() -> (ProjectFacts, LedgerFacts) {
        let mut project = facts(SettlementRoute::Direct);
        for (payer, share) in project.payers.iter_mut().zip(["0.7", "0.3"]) {
            payer.share = Some(share.into());
        }
        project.payers[0].max_commitment_minor = 7_000;
        project.metrics.push(MetricFacts {
            id: "m_a".into(),
            code: "a".into(),
            name: "A".into(),
            unit: "achievement".into(),
            price_minor: 1_000,
            max_units_per_participant: None,
            max_claims_per_participant: 1,
            volume_cap: None,
            min_age_at_start: None,
            max_age_at_start: None,
        });
        (project, ledger())
    }

    #[test]
    fn a_bound_cap_withholds_the_quarters_it_covers_and_the_rows_pass_the_audit() {
        let (project, ledger) = capped();
        let rows = project_rows(&project, &ledger, 5);
        // The lead paid exactly its maximum over both quarters: with Q1 shown, Q2 would be the
        // maximum less Q1. Both are withheld.
        assert!(rows
            .results
            .iter()
            .all(|r| r.values[5] == Value::Suppressed));
        assert_eq!(audit_rows(&project, &ledger, &rows, 5), Ok(()));
    }

    #[test]
    fn rows_that_show_what_the_auditor_withheld_are_refused() {
        let (project, ledger) = capped();
        let mut rows = project_rows(&project, &ledger, 5);
        // Q1 shown again, as a faulty writer would: Q2 follows from the lead's maximum.
        let q1 = ledger.results.values().next().unwrap();
        rows.results[0].values[4] = Value::Integer(q1.achieved_units);
        rows.results[0].values[5] = Value::Integer(q1.paid_units);
        rows.results[0].values[6] = Value::Integer(q1.engaged);
        for (row, money) in rows.payments[..2].iter_mut().zip([2_400, 5_600]) {
            row.values[6] = Value::amount(money, "GBP");
        }
        let refused = audit_rows(&project, &ledger, &rows, 5).unwrap_err();
        assert!(refused.contains("exposed"), "{refused}");
        // A block shown in part is refused before any arithmetic.
        rows.payments[0].values[6] = Value::Suppressed;
        let refused = audit_rows(&project, &ledger, &rows, 5).unwrap_err();
        assert!(refused.contains("in part"), "{refused}");
    }

    #[test]
    fn via_the_lead_commissioner_the_other_payers_pay_the_lead() {
        let rows = project_rows(&facts(SettlementRoute::ViaCommissioner), &ledger(), 5);
        let recipients: Vec<String> = rows
            .payments
            .iter()
            .map(|r| r.values[5].display().unwrap())
            .collect();
        // Keys sort by payer within a quarter: fund, lead.
        assert_eq!(recipients, ["lead", "provider", "lead", "provider"]);
        let direct = project_rows(&facts(SettlementRoute::Direct), &ledger(), 5);
        assert!(direct
            .payments
            .iter()
            .all(|r| r.values[5] == Value::text("provider")));
    }

    #[test]
    fn a_small_quarter_withholds_its_counts_its_money_and_the_totals_over_it() {
        let rows = project_rows(&facts(SettlementRoute::Direct), &ledger(), 5);
        // Q2 has 2 participants: its counts and both payers' money are withheld, and so are
        // the payers' totals and the project's (each has a withheld part); Q1 stays.
        let withheld = [Value::Suppressed, Value::Suppressed, Value::Suppressed];
        assert_eq!(
            rows.results[0].values[4..],
            [Value::Integer(8), Value::Integer(8), Value::Integer(8)]
        );
        assert_eq!(rows.results[1].values[4..], withheld);
        let q2: Vec<&Value> = rows.payments[2..].iter().map(|r| &r.values[6]).collect();
        assert_eq!(q2, [&Value::Suppressed, &Value::Suppressed]);
        assert_eq!(rows.payments[0].values[6], Value::amount(2_400, "GBP"));
        assert_eq!(rows.project[0].values[12], Value::Suppressed);
        assert!(rows.payers.iter().all(|r| r.values[7] == Value::Suppressed));
        assert!(rows
            .project
            .iter()
            .chain(&rows.payments)
            .chain(&rows.results)
            .all(|r| {
                let t = match r.values.len() {
                    15 => "projects",
                    8 => "payments_quarterly",
                    _ => "results_quarterly",
                };
                r.conforms_to(table(t).unwrap())
            }));
    }
}
