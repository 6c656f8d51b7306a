//! The frozen open data in the database: each project's quarters as first published, every
//! total ever published and every adjustment (see `domain::open_data::publish` and
//! `adjustments`). Written once, never changed (the database refuses updates and deletes of
//! these tables).

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::queries::insert_rows;
use crate::db::schema::{
    open_data_adjustment_money as adjustment_money, open_data_adjustment_rounds as rounds,
    open_data_adjustments as adjustments, open_data_cap_states as cap_states,
    open_data_frozen_blocks as blocks, open_data_frozen_money as money,
    open_data_frozen_quarters as quarters, open_data_published_totals as totals,
};
use crate::db::DbConn;
use crate::domain::money::Minor;
use crate::domain::open_data::history::{
    Adjustment, CapName, Change, FrozenBlock, FrozenQuarter, History, PublishedCap, PublishedTotal,
};
use crate::domain::open_data::rows::{quarter_of, MoneyFacts, Parts, ResultFacts};
use crate::services::error::ServiceError;

type BlockRow = (
    String,
    NaiveDate,
    String,
    (i64, i64, i64, i64, i64, Minor, i64),
    bool,
);

/// Every published project's history, by project id.
pub fn load(conn: &mut DbConn) -> Result<HashMap<String, History>, ServiceError> {
    let mut quarters = load_quarters(conn)?;
    let mut money = load_money(conn)?;
    for (project, start, block) in load_blocks(conn)? {
        let mut block = block;
        block.money = money
            .remove(&(project.clone(), start, block.code.clone()))
            .unwrap_or_default();
        let quarter = quarters
            .get_mut(&project)
            .and_then(|q| q.get_mut(&start))
            .ok_or_else(|| {
                ServiceError::Internal(format!("a frozen block of {project} has no quarter"))
            })?;
        quarter.blocks.push(block);
    }
    let mut history: HashMap<String, History> = quarters
        .into_iter()
        .map(|(project, quarters)| {
            let frozen = quarters.into_values().collect();
            (
                project,
                History {
                    frozen,
                    ..History::default()
                },
            )
        })
        .collect();
    for (project, total) in load_totals(conn)? {
        history.entry(project).or_default().totals.push(total);
    }
    for (project, cap) in load_caps(conn)? {
        history.entry(project).or_default().caps.push(cap);
    }
    for (project, adjustment) in load_adjustments(conn)? {
        let adjustments = &mut history.entry(project).or_default().adjustments;
        adjustments.push(adjustment);
    }
    let held: Vec<(String, i32)> = rounds::table
        .select((rounds::project_id, rounds::year))
        .load(conn)?;
    for (project, year) in held {
        let rounds = &mut history.entry(project).or_default().adjustment_rounds;
        rounds.insert(year);
    }
    Ok(history)
}

type AdjustmentRow = (
    String,
    String,
    i32,
    NaiveDateTime,
    (i64, i64, i64, Minor),
    bool,
);

/// Every adjustment published, with its project, in the order published.
fn load_adjustments(conn: &mut DbConn) -> Result<Vec<(String, Adjustment)>, ServiceError> {
    let mut money: HashMap<(String, String, i32), BTreeMap<String, Minor>> = HashMap::new();
    let rows: Vec<(String, String, i32, String, Minor)> = adjustment_money::table
        .select((
            adjustment_money::project_id,
            adjustment_money::outcome_code,
            adjustment_money::year,
            adjustment_money::payer_organisation_id,
            adjustment_money::amount_minor,
        ))
        .load(conn)?;
    for (project, code, year, payer, minor) in rows {
        money
            .entry((project, code, year))
            .or_default()
            .insert(payer, minor);
    }
    let rows: Vec<AdjustmentRow> = adjustments::table
        .order((
            adjustments::project_id,
            adjustments::year,
            adjustments::outcome_code,
        ))
        .select((
            adjustments::project_id,
            adjustments::outcome_code,
            adjustments::year,
            adjustments::published_at,
            (
                adjustments::achieved_units,
                adjustments::paid_units,
                adjustments::payable_units,
                adjustments::payable_minor,
            ),
            adjustments::money_shown,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(project, code, year, published_at, c, money_shown)| {
            let money = money
                .remove(&(project.clone(), code.clone(), year))
                .unwrap_or_default();
            let change = Change {
                achieved_units: c.0,
                paid_units: c.1,
                payable_units: c.2,
                payable_minor: c.3,
                money,
            };
            let adjustment = Adjustment {
                code,
                year,
                published_at,
                change,
                money_shown,
            };
            (project, adjustment)
        })
        .collect())
}

/// The frozen quarters, by project and first day, without their blocks.
fn load_quarters(
    conn: &mut DbConn,
) -> Result<HashMap<String, BTreeMap<NaiveDate, FrozenQuarter>>, ServiceError> {
    let mut by_project: HashMap<String, BTreeMap<NaiveDate, FrozenQuarter>> = HashMap::new();
    let frozen: Vec<(String, NaiveDate, NaiveDateTime)> = quarters::table
        .select((
            quarters::project_id,
            quarters::period_start,
            quarters::frozen_at,
        ))
        .load(conn)?;
    for (project, start, frozen_at) in frozen {
        let quarter = FrozenQuarter {
            period: quarter_of(start),
            frozen_at,
            blocks: Vec::new(),
        };
        by_project
            .entry(project)
            .or_default()
            .insert(start, quarter);
    }
    Ok(by_project)
}

/// Each frozen block's money by payer, keyed by project, quarter and outcome.
type MoneyByBlock = HashMap<(String, NaiveDate, String), BTreeMap<String, MoneyFacts>>;

fn load_money(conn: &mut DbConn) -> Result<MoneyByBlock, ServiceError> {
    let mut payments = MoneyByBlock::new();
    type Row = (
        String,
        NaiveDate,
        String,
        String,
        Minor,
        i64,
        Option<Minor>,
        Option<Minor>,
    );
    let rows: Vec<Row> = money::table
        .select((
            money::project_id,
            money::period_start,
            money::outcome_code,
            money::payer_organisation_id,
            money::amount_minor,
            money::participants,
            money::smallest_part_minor,
            money::largest_part_minor,
        ))
        .load(conn)?;
    for (project, start, code, payer, minor, participants, smallest, largest) in rows {
        let facts = MoneyFacts {
            minor,
            participants,
            parts: smallest
                .zip(largest)
                .map(|(smallest, largest)| Parts { smallest, largest }),
        };
        let block = payments.entry((project, start, code)).or_default();
        block.insert(payer, facts);
    }
    Ok(payments)
}

/// The frozen blocks (without their money), with their project and quarter.
fn load_blocks(conn: &mut DbConn) -> Result<Vec<(String, NaiveDate, FrozenBlock)>, ServiceError> {
    let rows: Vec<BlockRow> = blocks::table
        .order((
            blocks::project_id,
            blocks::period_start,
            blocks::outcome_code,
        ))
        .select((
            blocks::project_id,
            blocks::period_start,
            blocks::outcome_code,
            (
                blocks::achieved_units,
                blocks::achieved_participants,
                blocks::paid_units,
                blocks::paid_participants,
                blocks::payable_units,
                blocks::payable_minor,
                blocks::engaged,
            ),
            blocks::withheld,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(project, start, code, r, withheld)| {
            let results = ResultFacts {
                achieved_units: r.0,
                achieved_participants: r.1,
                paid_units: r.2,
                paid_participants: r.3,
                payable_units: r.4,
                payable_minor: r.5,
                engaged: r.6,
            };
            let money = BTreeMap::new();
            let block = FrozenBlock {
                code,
                results,
                money,
                withheld,
            };
            (project, start, block)
        })
        .collect())
}

/// Every total ever published, with its project, in the order published.
fn load_totals(conn: &mut DbConn) -> Result<Vec<(String, PublishedTotal)>, ServiceError> {
    let rows: Vec<(String, String, NaiveDateTime, Minor)> = totals::table
        .order((totals::project_id, totals::as_of))
        .select((
            totals::project_id,
            totals::payer_organisation_id,
            totals::as_of,
            totals::amount_minor,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(project, payer, as_of, amount)| {
            let payer = (!payer.is_empty()).then_some(payer);
            (
                project,
                PublishedTotal {
                    payer,
                    as_of,
                    amount,
                },
            )
        })
        .collect())
}

/// How a cap is named in `open_data_cap_states`.
fn cap_text(cap: &CapName) -> String {
    match cap {
        CapName::Payer(id) => format!("payer:{id}"),
        CapName::Contract => "contract".to_owned(),
        CapName::Volume(code) => format!("volume:{code}"),
    }
}

fn cap_named(text: &str) -> Result<CapName, ServiceError> {
    match text.split_once(':') {
        Some(("payer", id)) => Ok(CapName::Payer(id.to_owned())),
        Some(("volume", code)) => Ok(CapName::Volume(code.to_owned())),
        None if text == "contract" => Ok(CapName::Contract),
        _ => Err(ServiceError::Internal(format!(
            "open_data_cap_states names an unknown cap {text:?}"
        ))),
    }
}

/// How every cap stood at each rebuild that kept it, with its project, in time order.
fn load_caps(conn: &mut DbConn) -> Result<Vec<(String, PublishedCap)>, ServiceError> {
    let rows: Vec<(String, String, NaiveDateTime, bool, i32)> = cap_states::table
        .order((cap_states::project_id, cap_states::as_of))
        .select((
            cap_states::project_id,
            cap_states::cap,
            cap_states::as_of,
            cap_states::bound,
            cap_states::beyond,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(project, cap, as_of, bound, beyond)| {
            let cap = cap_named(&cap)?;
            let beyond = i64::from(beyond);
            Ok((
                project,
                PublishedCap {
                    cap,
                    as_of,
                    bound,
                    beyond,
                },
            ))
        })
        .collect()
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = cap_states)]
struct CapStateRow {
    project_id: String,
    cap: String,
    as_of: NaiveDateTime,
    bound: bool,
    beyond: i32,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = quarters)]
struct QuarterRow {
    project_id: String,
    period_start: NaiveDate,
    frozen_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = blocks)]
struct FrozenBlockRow {
    project_id: String,
    period_start: NaiveDate,
    outcome_code: String,
    achieved_units: i64,
    achieved_participants: i64,
    paid_units: i64,
    paid_participants: i64,
    payable_units: i64,
    payable_minor: Minor,
    engaged: i64,
    withheld: bool,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = money)]
struct MoneyRow {
    project_id: String,
    period_start: NaiveDate,
    outcome_code: String,
    payer_organisation_id: String,
    amount_minor: Minor,
    participants: i64,
    smallest_part_minor: Option<Minor>,
    largest_part_minor: Option<Minor>,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = totals)]
struct TotalRow {
    project_id: String,
    payer_organisation_id: String,
    as_of: NaiveDateTime,
    amount_minor: Minor,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = adjustments)]
struct AdjustmentRecord {
    project_id: String,
    outcome_code: String,
    year: i32,
    published_at: NaiveDateTime,
    achieved_units: i64,
    paid_units: i64,
    payable_units: i64,
    payable_minor: Minor,
    money_shown: bool,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = rounds)]
struct RoundRecord {
    project_id: String,
    year: i32,
    held_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(treat_none_as_default_value = false, table_name = adjustment_money)]
struct AdjustmentMoneyRecord {
    project_id: String,
    outcome_code: String,
    year: i32,
    payer_organisation_id: String,
    amount_minor: Minor,
}

/// What one rebuild adds to a project's history.
pub struct Additions<'a> {
    pub frozen: &'a [FrozenQuarter],
    pub totals: &'a [PublishedTotal],
    pub adjustments: &'a [Adjustment],
    pub caps: &'a [PublishedCap],
    /// The year whose adjustment round was held, and when.
    pub round: Option<(i32, NaiveDateTime)>,
}

/// Stores what a rebuild adds to a project's history.
pub fn append(conn: &mut DbConn, project: &str, added: Additions) -> Result<(), ServiceError> {
    let (frozen, published) = (added.frozen, added.totals);
    let mut quarter_rows = Vec::new();
    let mut block_rows = Vec::new();
    let mut money_rows = Vec::new();
    for q in frozen {
        let period_start = q.period.start();
        quarter_rows.push(QuarterRow {
            project_id: project.to_owned(),
            period_start,
            frozen_at: q.frozen_at,
        });
        for b in &q.blocks {
            let r = &b.results;
            block_rows.push(FrozenBlockRow {
                project_id: project.to_owned(),
                period_start,
                outcome_code: b.code.clone(),
                achieved_units: r.achieved_units,
                achieved_participants: r.achieved_participants,
                paid_units: r.paid_units,
                paid_participants: r.paid_participants,
                payable_units: r.payable_units,
                payable_minor: r.payable_minor,
                engaged: r.engaged,
                withheld: b.withheld,
            });
            money_rows.extend(b.money.iter().map(|(payer, m)| MoneyRow {
                project_id: project.to_owned(),
                period_start,
                outcome_code: b.code.clone(),
                payer_organisation_id: payer.clone(),
                amount_minor: m.minor,
                participants: m.participants,
                smallest_part_minor: m.parts.map(|p| p.smallest),
                largest_part_minor: m.parts.map(|p| p.largest),
            }));
        }
    }
    let total_rows: Vec<TotalRow> = published
        .iter()
        .map(|t| TotalRow {
            project_id: project.to_owned(),
            payer_organisation_id: t.payer.clone().unwrap_or_default(),
            as_of: t.as_of,
            amount_minor: t.amount,
        })
        .collect();
    insert_rows!(conn, quarters::table, &quarter_rows)?;
    insert_rows!(conn, blocks::table, &block_rows)?;
    insert_rows!(conn, money::table, &money_rows)?;
    insert_rows!(conn, totals::table, &total_rows)?;
    append_caps(conn, project, added.caps)?;
    if let Some((year, held_at)) = added.round {
        let round = RoundRecord {
            project_id: project.to_owned(),
            year,
            held_at,
        };
        insert_rows!(conn, rounds::table, &[round])?;
    }
    append_adjustments(conn, project, added.adjustments)
}

fn append_caps(
    conn: &mut DbConn,
    project: &str,
    caps: &[PublishedCap],
) -> Result<(), ServiceError> {
    let rows: Vec<CapStateRow> = caps
        .iter()
        .map(|c| CapStateRow {
            project_id: project.to_owned(),
            cap: cap_text(&c.cap),
            as_of: c.as_of,
            bound: c.bound,
            beyond: c.beyond.signum() as i32,
        })
        .collect();
    insert_rows!(conn, cap_states::table, &rows)?;
    Ok(())
}

fn append_adjustments(
    conn: &mut DbConn,
    project: &str,
    adjusted: &[Adjustment],
) -> Result<(), ServiceError> {
    let records: Vec<AdjustmentRecord> = adjusted
        .iter()
        .map(|a| AdjustmentRecord {
            project_id: project.to_owned(),
            outcome_code: a.code.clone(),
            year: a.year,
            published_at: a.published_at,
            achieved_units: a.change.achieved_units,
            paid_units: a.change.paid_units,
            payable_units: a.change.payable_units,
            payable_minor: a.change.payable_minor,
            money_shown: a.money_shown,
        })
        .collect();
    let money: Vec<AdjustmentMoneyRecord> = adjusted
        .iter()
        .flat_map(|a| {
            a.change
                .money
                .iter()
                .map(|(payer, minor)| AdjustmentMoneyRecord {
                    project_id: project.to_owned(),
                    outcome_code: a.code.clone(),
                    year: a.year,
                    payer_organisation_id: payer.clone(),
                    amount_minor: *minor,
                })
        })
        .collect();
    insert_rows!(conn, adjustments::table, &records)?;
    insert_rows!(conn, adjustment_money::table, &money)?;
    Ok(())
}
