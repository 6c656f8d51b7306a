//! The published rows of one project, from what the registry and the ledger know of it, with
//! small numbers suppressed: pure, so that the rules can be read and tested without a
//! database.

use crate::domain::ids::FundId;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveDateTime};

use super::catalog::table;
use super::suppression::Grid;
use super::value::{Row, Value};
use crate::domain::money::Minor;
use crate::domain::period::Period;
use crate::domain::registry::{OrganisationKind, SettlementFrequency, SettlementRoute};

/// A published project as the registry holds it.
#[derive(Debug, Clone)]
pub struct ProjectFacts {
    pub id: String,
    pub name: String,
    pub fund_ids: Vec<FundId>,
    pub provider_organisation_id: String,
    pub stage_development: Option<String>,
    pub service_start: NaiveDate,
    pub service_end: NaiveDate,
    pub policy_sector: Option<String>,
    pub social_challenge: Option<String>,
    pub target_population: Option<String>,
    pub max_outcome_payment_minor: Option<Minor>,
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
    pub max_commitment_minor: Minor,
    pub share: Option<String>,
    pub lead: bool,
}

#[derive(Debug, Clone)]
pub struct MetricFacts {
    pub id: String,
    pub code: String,
    pub name: String,
    pub unit: String,
    pub price_minor: Minor,
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
    pub payable_minor: Minor,
    /// Distinct participants with any claim.
    pub engaged: i64,
}

/// Money due from one payer: its amount and the distinct participants it pays for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MoneyFacts {
    pub minor: Minor,
    pub participants: i64,
    /// The least and the most it pays any one of them; `None` where nobody is paid or where
    /// it is not known (quarters frozen before cofund kept it).
    pub parts: Option<Parts>,
}

/// The least and the most a payer pays any one participant in a block: where they are the
/// same, every participant was paid exactly that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    pub smallest: Minor,
    pub largest: Minor,
}

impl MoneyFacts {
    /// Adds `other`'s money, for other participants, to this.
    pub fn add(&mut self, other: MoneyFacts) {
        self.parts = match (self.participants, other.participants) {
            (0, _) => other.parts,
            (_, 0) => self.parts,
            _ => self.parts.zip(other.parts).map(|(a, b)| Parts {
                smallest: a.smallest.min(b.smallest),
                largest: a.largest.max(b.largest),
            }),
        };
        self.minor += other.minor;
        self.participants += other.participants;
    }
}

/// What the ledger knows of one project, keyed by outcome code, quarter and payer.
#[derive(Debug, Clone, Default)]
pub struct LedgerFacts {
    pub results: BTreeMap<(String, Period), ResultFacts>,
    pub payments: BTreeMap<(String, Period, String), MoneyFacts>,
    /// Totals over `payments`, participants counted once: made by `publish` over the
    /// quarters it publishes (the ledger's facts need not carry them).
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
    /// Changes to the published quarters (see `adjustments`).
    pub adjustments: Vec<Row>,
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
pub(super) struct Cells {
    pub(super) grid: Grid,
    achieved: BTreeMap<(String, Period), usize>,
    pub(super) paid: BTreeMap<(String, Period), usize>,
    engaged: BTreeMap<(String, Period), usize>,
    payments: BTreeMap<(String, Period, String), usize>,
    pub(super) payer_totals: BTreeMap<String, usize>,
    pub(super) project_total: usize,
    /// Every cell of each block (one outcome in one quarter): withheld together or not at all.
    pub(super) block_cells: BTreeMap<(String, Period), Vec<usize>>,
}

/// Lays out the grid: every count and sum a cell, and the totals that could be subtracted
/// from: a payer's cells add up to its total, the payers' totals (and all cells) to the
/// project's, the payers' cells of one metric and quarter to what its outcomes paid cost
/// (price × count). The cells of one metric and quarter are withheld together (amount ÷ price
/// would give a count back, and the public shares each payer's part from the total).
pub(super) fn lay_out(ledger: &LedgerFacts) -> Cells {
    let mut grid = Grid::default();
    let mut block_cells = BTreeMap::new();
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
        .map(|(key, m)| (key.clone(), grid.cell(m.minor.get(), m.participants)))
        .collect();
    let payer_totals: BTreeMap<_, _> = ledger
        .payer_totals
        .iter()
        .map(|(payer, m)| (payer.clone(), grid.cell(m.minor.get(), m.participants)))
        .collect();
    let project_total = grid.cell(
        ledger.project_total.minor.get(),
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
        let key = (code.clone(), *quarter);
        let cells = (achieved[&key], engaged[&key]);
        let together = tie_block(&mut grid, ledger, &key, (count, cells), &payments);
        block_cells.insert(key, together);
    }
    Cells {
        grid,
        achieved,
        paid,
        engaged,
        payments,
        payer_totals,
        project_total,
        block_cells,
    }
}

/// Ties one outcome's quarter together: its counts (paid `count`, achieved and engaged
/// `cells`), the counts their differences give, and every payer's money in it are withheld
/// together or not at all, and the payers' money adds up to what was paid. Returns the
/// block's cells.
#[allow(clippy::type_complexity)]
fn tie_block(
    grid: &mut Grid,
    ledger: &LedgerFacts,
    key: &(String, Period),
    (count, (achieved, engaged)): (usize, (usize, usize)),
    payments: &BTreeMap<(String, Period, String), usize>,
) -> Vec<usize> {
    let (code, quarter) = key;
    let members: Vec<usize> = payments
        .iter()
        .filter(|((c, q, _), _)| c == code && q == quarter)
        .map(|(_, &cell)| cell)
        .collect();
    // The payers' shares are public: from a quarter's total each payer's part follows, and
    // from one payer's part the total. The quarter of one outcome is withheld whole or not at
    // all: its counts, the differences between them, and every payer's money.
    let r = &ledger.results[key];
    // What one count less another gives is a count too: participants engaged but not
    // achieving, outcomes achieved but not paid.
    let not_achieving = r.engaged - r.achieved_participants;
    let unpaid = grid.cell(
        r.achieved_units - r.paid_units,
        r.achieved_participants - r.paid_participants,
    );
    let mut together = vec![
        count,
        achieved,
        engaged,
        grid.cell(not_achieving, not_achieving),
        unpaid,
    ];
    together.extend(&members);
    for pair in together.windows(2) {
        grid.implies(pair[0], pair[1]);
        grid.implies(pair[1], pair[0]);
    }
    grid.group(members, count);
    together
}

/// Writes the project's rows from `ledger` (the blocks it publishes and totals over them),
/// withholding the cells in `withheld`.
pub(super) fn write_rows(
    project: &ProjectFacts,
    ledger: &LedgerFacts,
    cells: &Cells,
    withheld: &BTreeSet<usize>,
) -> ProjectRows {
    let rows = Writer {
        project,
        ledger,
        cells,
        withheld,
        metric_ids: project
            .metrics
            .iter()
            .map(|m| (m.code.as_str(), m.id.as_str()))
            .collect(),
    };
    ProjectRows {
        project: vec![rows.project_row()],
        payers: rows.payer_rows(),
        metrics: rows.metric_rows(),
        results: rows.result_rows(),
        payments: rows.payment_rows(),
        adjustments: Vec::new(),
        suppressed: withheld.len(),
    }
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

    fn money(&self, cell: usize, minor: Minor) -> Value {
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
                    Value::Text(
                        p.fund_ids
                            .iter()
                            .map(FundId::as_str)
                            .collect::<Vec<_>>()
                            .join(";"),
                    )
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
                    None => Value::amount(Minor(0), &self.project.currency),
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
pub(super) mod tests {
    use super::*;
    use crate::domain::open_data::publish::project_rows;

    pub(in crate::domain::open_data) fn facts(route: SettlementRoute) -> ProjectFacts {
        let payer = |id: &str, lead: bool| PayerFacts {
            organisation_id: id.into(),
            category: "Government/Public Sector/Public Bank",
            role: "local_commissioner".into(),
            max_commitment_minor: Minor(1_000_000),
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
            metrics: vec![MetricFacts {
                id: "m_a".into(),
                code: "a".into(),
                name: "A".into(),
                unit: "achievement".into(),
                price_minor: Minor(1_000),
                max_units_per_participant: None,
                max_claims_per_participant: 1,
                volume_cap: None,
                min_age_at_start: None,
                max_age_at_start: None,
            }],
        }
    }

    pub(in crate::domain::open_data) fn ledger() -> LedgerFacts {
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
                payable_minor: Minor(participants * 1_000),
                engaged: participants,
            };
            ledger.results.insert(("a".into(), quarter), units);
            for (payer, share) in [("lead", 7), ("fund", 3)] {
                let money = MoneyFacts {
                    minor: Minor(participants * share * 100),
                    participants,
                    parts: Some(Parts {
                        smallest: Minor(share * 100),
                        largest: Minor(share * 100),
                    }),
                };
                ledger
                    .payments
                    .insert(("a".into(), quarter, payer.into()), money);
            }
        }
        for (payer, share) in [("lead", 7), ("fund", 3)] {
            let money = MoneyFacts {
                minor: Minor(10 * share * 100),
                participants: 10,
                parts: None,
            };
            ledger.payer_totals.insert(payer.into(), money);
        }
        ledger.project_total = MoneyFacts {
            minor: Minor(10_000),
            participants: 10,
            parts: None,
        };
        ledger
    }

    #[test]
    fn via_the_lead_commissioner_the_other_payers_pay_the_lead() {
        let rows = project_rows(&facts(SettlementRoute::ViaCommissioner), &ledger(), 5).unwrap();
        let recipients: Vec<String> = rows
            .payments
            .iter()
            .map(|r| r.values[5].display().unwrap())
            .collect();
        // Keys sort by payer within a quarter: fund, lead.
        assert_eq!(recipients, ["lead", "provider", "lead", "provider"]);
        let direct = project_rows(&facts(SettlementRoute::Direct), &ledger(), 5).unwrap();
        assert!(direct
            .payments
            .iter()
            .all(|r| r.values[5] == Value::text("provider")));
    }
}
