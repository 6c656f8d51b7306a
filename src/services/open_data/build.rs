//! Rebuilding the published tables from the registry and the ledger.
//!
//! The whole dataset is rebuilt in one write transaction (readers see the old tables or the
//! new ones, never a mix), under a lock on `published_tables` so that two processes on one
//! PostgreSQL never rebuild at once.

use crate::domain::ids::{FundId, ProjectId};
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};

use super::history;
use crate::db::backend_specific::{self, LockableTable};
use crate::db::dynamic::{self, Param};
use crate::db::models::ProjectRecord;
use crate::db::schema::{funds, organisations, project_payers, projects, published_tables};
use crate::db::{self, queries, DbConn};
use crate::domain::commitment::CommitmentStatus;
use crate::domain::money::Minor;
use crate::domain::open_data::catalog::{self, Table, TABLES};
use crate::domain::open_data::history::History;
use crate::domain::open_data::publish::{publish_with, ProjectPublication, Rules, Scrutiny};
use crate::domain::open_data::rows::{
    self, quarter_of, LedgerFacts, MetricFacts, MoneyFacts, Parts, PayerFacts, ProjectFacts,
    ProjectRows, ResultFacts,
};
use crate::domain::open_data::value::{Row, Stored, Value};
use crate::domain::period::Period;
use crate::domain::registry::OrganisationKind;
use crate::services::error::ServiceError;

/// What a rebuild wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildReport {
    pub projects: usize,
    /// Rows per published table.
    pub rows: BTreeMap<&'static str, usize>,
    /// Cells withheld to protect small numbers.
    pub suppressed_cells: usize,
    /// Closed quarters published (and frozen) for the first time by this rebuild.
    pub quarters_frozen: usize,
    /// Closed quarters not yet published, because publishing them now would expose a withheld
    /// count; a later rebuild tries again.
    pub quarters_waiting: usize,
}

/// What a rebuild adds to each project's history of publications.
type Additions = Vec<(String, ProjectPublication)>;

/// Every published table's rows, by table name.
pub type Tables = BTreeMap<&'static str, Vec<Row>>;

/// Rebuilds every published table under `rules` at `now`.
pub fn rebuild(
    conn: &mut DbConn,
    rules: Rules,
    now: NaiveDateTime,
) -> Result<BuildReport, ServiceError> {
    db::write_tx(conn, |conn| {
        backend_specific::lock_row_for_update(conn, LockableTable::PublishedTables, "funds")?;
        rebuild_locked(conn, rules, now)
    })
}

/// The rebuild, inside a write transaction that holds the lock on `published_tables`.
pub fn rebuild_locked(
    conn: &mut DbConn,
    rules: Rules,
    now: NaiveDateTime,
) -> Result<BuildReport, ServiceError> {
    let (tables, report, additions) = published_rows(conn, rules, now, Scrutiny::WhatIsNew)?;
    for (project, publication) in &additions {
        let added = history::Additions {
            frozen: &publication.newly_frozen,
            totals: &publication.new_totals,
            adjustments: &publication.new_adjustments,
            caps: &publication.new_caps,
            round: publication.adjustment_round.map(|year| (year, now)),
        };
        history::append(conn, project, added)?;
    }
    for table in TABLES {
        let rows = tables.get(table.name).map_or(&[][..], Vec::as_slice);
        replace_rows(conn, table, rows)?;
        diesel::update(published_tables::table.find(table.name))
            .set((
                published_tables::row_count.eq(rows.len() as i64),
                published_tables::built_at.eq(Some(now)),
            ))
            .execute(conn)?;
    }
    Ok(report)
}

/// Every published row, by table, the report of them, and what each project's history gains.
pub fn published_rows(
    conn: &mut DbConn,
    rules: Rules,
    now: NaiveDateTime,
    scrutiny: Scrutiny,
) -> Result<(Tables, BuildReport, Additions), ServiceError> {
    let ids = published_project_ids(conn)?;
    let started = std::time::Instant::now();
    let mut ledger = ledger_facts(conn)?;
    let mut histories = history::load(conn)?;
    let loaded = started.elapsed();
    let mut all = ProjectRows::default();
    let mut fund_ids = BTreeSet::new();
    let mut additions = Vec::new();
    let (mut quarters_frozen, mut quarters_waiting) = (0, 0);
    for id in &ids {
        let record = queries::projects::get_project(conn, id)?
            .ok_or_else(|| ServiceError::Internal(format!("project {id} vanished")))?;
        let payer_ids: Vec<&str> = record
            .payers
            .iter()
            .map(|p| p.payer.organisation_id.as_str())
            .collect();
        let kinds = queries::organisations::organisation_kinds(conn, &payer_ids)?;
        let facts = project_facts(&record, &kinds);
        fund_ids.extend(facts.fund_ids.iter().cloned());
        let project_ledger = ledger.remove(id.as_str()).unwrap_or_default();
        let history = histories.remove(id.as_str()).unwrap_or_default();
        let published = (&facts, &project_ledger, &history);
        let mut publication = audited_publication(id, published, rules, now, scrutiny)?;
        quarters_frozen += publication.newly_frozen.len();
        quarters_waiting += publication.waiting;
        let rows = std::mem::take(&mut publication.rows);
        all.project.extend(rows.project);
        all.payers.extend(rows.payers);
        all.metrics.extend(rows.metrics);
        all.results.extend(rows.results);
        all.payments.extend(rows.payments);
        all.adjustments.extend(rows.adjustments);
        all.suppressed += rows.suppressed;
        additions.push((id.to_string(), publication));
    }
    tracing::info!(
        projects = ids.len(),
        facts_seconds = loaded.as_secs_f64(),
        publishing_seconds = (started.elapsed() - loaded).as_secs_f64(),
        "open data: the ledger's facts loaded and every project published"
    );
    let suppressed_cells = all.suppressed;
    let tables = assemble_tables(conn, all, &fund_ids)?;
    let report = BuildReport {
        projects: ids.len(),
        rows: tables
            .iter()
            .map(|(name, rows)| (*name, rows.len()))
            .collect(),
        suppressed_cells,
        quarters_frozen,
        quarters_waiting,
    };
    Ok((tables, report, additions))
}

/// The projects published, in id order: those marked published whose every payer has
/// accepted its commitment (a commitment its payer has not accepted is not public fact).
fn published_project_ids(conn: &mut DbConn) -> Result<Vec<ProjectId>, ServiceError> {
    let unaccepted = project_payers::table
        .filter(project_payers::project_id.eq(projects::id))
        .filter(project_payers::commitment.ne(CommitmentStatus::Accepted.as_str()));
    Ok(projects::table
        .filter(projects::published.eq(true))
        .filter(diesel::dsl::not(diesel::dsl::exists(unaccepted)))
        .order(projects::id)
        .select(projects::id)
        .load(conn)?)
}

/// One project's publication, as the auditor passes it: a rebuild that would publish an
/// exposed count is refused (its transaction rolls back and the previous tables stay).
fn audited_publication(
    id: &str,
    (facts, ledger, history): (&ProjectFacts, &LedgerFacts, &History),
    rules: Rules,
    now: NaiveDateTime,
    scrutiny: Scrutiny,
) -> Result<ProjectPublication, ServiceError> {
    let publishing = std::time::Instant::now();
    let published = publish_with(facts, ledger, history, rules, now, scrutiny);
    let publication = published.map_err(|e| {
        tracing::error!(project = %id, "open-data rebuild refused: {e}");
        ServiceError::Internal(format!("open data for project {id} failed its audit: {e}"))
    })?;
    if publication.held_back {
        tracing::warn!(project = %id, waiting = publication.waiting,
            "open data: nothing new published for the project: the auditor finds a withheld count of its published quarters exposed under what the ledger has learnt since");
    }
    let seconds = publishing.elapsed().as_secs_f64();
    if seconds >= 1.0 {
        tracing::info!(project = %id, seconds, frozen = publication.newly_frozen.len(),
            waiting = publication.waiting, "open data: a project took long to audit");
    }
    Ok(publication)
}

/// Every table from the projects' rows and the funds and organisations they name, each in
/// key order and checked against its declaration.
fn assemble_tables(
    conn: &mut DbConn,
    all: ProjectRows,
    fund_ids: &BTreeSet<FundId>,
) -> Result<Tables, ServiceError> {
    let funds = fund_rows(conn, fund_ids)?;
    let organisations = organisation_rows(conn, &rows::referenced_organisations(&all, &funds))?;
    let mut tables = BTreeMap::from([
        ("funds", funds),
        ("organisations", organisations),
        ("projects", all.project),
        ("project_payers", all.payers),
        ("outcome_metrics", all.metrics),
        ("results_quarterly", all.results),
        ("payments_quarterly", all.payments),
        ("adjustments", all.adjustments),
    ]);
    for rows in tables.values_mut() {
        rows.sort_by(|a, b| a.key.cmp(&b.key));
    }
    for (name, rows) in &tables {
        let table = catalog::table(name).expect("declared");
        if let Some(bad) = rows.iter().find(|r| !r.conforms_to(table)) {
            return Err(ServiceError::Internal(format!(
                "a {name} row does not match its declaration: {}",
                bad.key
            )));
        }
    }
    Ok(tables)
}

fn project_facts(
    record: &ProjectRecord,
    kinds: &HashMap<String, OrganisationKind>,
) -> ProjectFacts {
    let p = &record.project;
    let mut fund_ids: Vec<FundId> = p.fund_id.iter().cloned().collect();
    for payer in &record.payers {
        if let Some(fund) = &payer.payer.fund_id {
            if !fund_ids.contains(fund) {
                fund_ids.push(fund.clone());
            }
        }
    }
    ProjectFacts {
        id: p.id.to_string(),
        name: p.name.clone(),
        fund_ids,
        provider_organisation_id: p.provider_organisation_id.to_string(),
        stage_development: p.stage_development.clone(),
        service_start: p.service_start,
        service_end: p.service_end,
        policy_sector: p.policy_sector.clone(),
        social_challenge: p.social_challenge.clone(),
        target_population: p.target_population.clone(),
        max_outcome_payment_minor: p.max_outcome_payment_minor,
        currency: p.currency.clone(),
        settlement_route: p.settlement_route,
        created_at: p.created_at,
        payers: record
            .payers
            .iter()
            .map(|r| PayerFacts {
                organisation_id: r.payer.organisation_id.to_string(),
                category: kinds
                    .get(r.payer.organisation_id.as_str())
                    .map_or("Other", |k| rows::role_category(*k)),
                role: r.payer.role.as_str().to_owned(),
                max_commitment_minor: r.payer.max_commitment_minor,
                share: r.payer.share.clone(),
                lead: r.payer.lead,
            })
            .collect(),
        metrics: record
            .outcomes
            .iter()
            .map(|m| MetricFacts {
                id: m.id.clone(),
                code: m.code.clone(),
                name: m.name.clone(),
                unit: m.unit.as_str().to_owned(),
                price_minor: m.price_minor,
                max_units_per_participant: m.max_units_per_participant.map(i64::from),
                max_claims_per_participant: i64::from(m.max_claims_per_participant),
                volume_cap: m.volume_cap.map(i64::from),
                min_age_at_start: m.min_age_at_start.map(i64::from),
                max_age_at_start: m.max_age_at_start.map(i64::from),
            })
            .collect(),
    }
}

#[derive(QueryableByName)]
struct ResultAggregate {
    #[diesel(sql_type = Text)]
    project_id: String,
    #[diesel(sql_type = Text)]
    outcome_code: String,
    #[diesel(sql_type = Text)]
    quarter: String,
    #[diesel(sql_type = BigInt)]
    achieved_units: i64,
    #[diesel(sql_type = BigInt)]
    achieved_participants: i64,
    #[diesel(sql_type = BigInt)]
    paid_units: i64,
    #[diesel(sql_type = BigInt)]
    paid_participants: i64,
    #[diesel(sql_type = BigInt)]
    payable_units: i64,
    #[diesel(sql_type = BigInt)]
    payable_minor: Minor,
    #[diesel(sql_type = BigInt)]
    engaged: i64,
}

#[derive(QueryableByName)]
struct MoneyAggregate {
    #[diesel(sql_type = Text)]
    project_id: String,
    #[diesel(sql_type = Text)]
    outcome_code: String,
    #[diesel(sql_type = Text)]
    quarter: String,
    #[diesel(sql_type = Text)]
    payer: String,
    #[diesel(sql_type = BigInt)]
    minor: Minor,
    #[diesel(sql_type = BigInt)]
    participants: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    smallest: Option<Minor>,
    #[diesel(sql_type = Nullable<BigInt>)]
    largest: Option<Minor>,
}

impl MoneyAggregate {
    fn money(&self) -> MoneyFacts {
        MoneyFacts {
            minor: self.minor,
            participants: self.participants,
            parts: self
                .smallest
                .zip(self.largest)
                .map(|(smallest, largest)| Parts { smallest, largest }),
        }
    }
}

/// Money due per project, outcome, quarter (`quarter` is its label's SQL over `a`, the
/// allocations) and payer, net per participant first so that a participant whose payments
/// were all revoked is not counted, with the least and most any one participant is due.
fn money_sql(quarter: &str) -> String {
    let (outcome, payer) = ("a.outcome_code", "a.payer_organisation_id");
    format!(
        "SELECT project_id, outcome_code, quarter, payer, \
                CAST(SUM(net) AS BIGINT) AS minor, \
                CAST(SUM(CASE WHEN net <> 0 THEN 1 ELSE 0 END) AS BIGINT) AS participants, \
                CAST(MIN(CASE WHEN net <> 0 THEN net END) AS BIGINT) AS smallest, \
                CAST(MAX(CASE WHEN net <> 0 THEN net END) AS BIGINT) AS largest \
         FROM (SELECT a.project_id AS project_id, {outcome} AS outcome_code, {quarter} AS quarter, \
                      {payer} AS payer, SUM(a.amount_minor) AS net \
               FROM allocations a \
               JOIN claims c ON c.id = a.claim_id \
               JOIN projects p ON p.id = a.project_id \
               WHERE p.published = TRUE \
               GROUP BY a.project_id, {outcome}, {quarter}, {payer}, c.participant_pseudonym) per_participant \
         GROUP BY project_id, outcome_code, quarter, payer",
    )
}

/// The results and money of every published project, from the claims and the allocations.
fn ledger_facts(conn: &mut DbConn) -> Result<HashMap<String, LedgerFacts>, ServiceError> {
    let claim_quarter = backend_specific::quarter_label_sql(conn, "c.achieved_on");
    // A verified claim's units are payable when the caps on the rate card leave them
    // (`paid_units`), and paid when a payer paid something for them: an outcome verified
    // after a payer's or the contract's cap has bound is achieved, and payable or not, but
    // not paid.
    let paid = "(c.status = 'verified' AND COALESCE(c.paid_units, 0) > 0 AND al.net > 0)";
    let results_sql = format!(
        "SELECT c.project_id AS project_id, c.outcome_code AS outcome_code, {claim_quarter} AS quarter, \
            CAST(SUM(CASE WHEN c.status = 'verified' THEN c.quantity ELSE 0 END) AS BIGINT) AS achieved_units, \
            CAST(COUNT(DISTINCT CASE WHEN c.status = 'verified' THEN c.participant_pseudonym END) AS BIGINT) AS achieved_participants, \
            CAST(SUM(CASE WHEN {paid} THEN c.paid_units ELSE 0 END) AS BIGINT) AS paid_units, \
            CAST(COUNT(DISTINCT CASE WHEN {paid} THEN c.participant_pseudonym END) AS BIGINT) AS paid_participants, \
            CAST(SUM(CASE WHEN c.status = 'verified' THEN COALESCE(c.paid_units, 0) ELSE 0 END) AS BIGINT) AS payable_units, \
            CAST(SUM(CASE WHEN c.status = 'verified' THEN COALESCE(c.payable_minor, 0) ELSE 0 END) AS BIGINT) AS payable_minor, \
            CAST(COUNT(DISTINCT c.participant_pseudonym) AS BIGINT) AS engaged \
         FROM claims c JOIN projects p ON p.id = c.project_id \
         LEFT JOIN (SELECT claim_id, SUM(amount_minor) AS net FROM allocations GROUP BY claim_id) al \
                ON al.claim_id = c.id \
         WHERE p.published = TRUE \
         GROUP BY c.project_id, c.outcome_code, {claim_quarter}"
    );
    let mut facts: HashMap<String, LedgerFacts> = HashMap::new();
    for r in dynamic::load::<ResultAggregate>(conn, &results_sql, &[])? {
        let quarter = parse_quarter(&r.quarter)?;
        facts.entry(r.project_id).or_default().results.insert(
            (r.outcome_code, quarter),
            ResultFacts {
                achieved_units: r.achieved_units,
                achieved_participants: r.achieved_participants,
                paid_units: r.paid_units,
                paid_participants: r.paid_participants,
                payable_units: r.payable_units,
                payable_minor: r.payable_minor,
                engaged: r.engaged,
            },
        );
    }
    let quarter = backend_specific::quarter_label_sql(conn, "a.achieved_on");
    // Only each cell's money is read here: the totals a rebuild publishes are sums over the
    // quarters it publishes, which `publish` makes itself.
    let by_cell = money_sql(&quarter);
    for m in dynamic::load::<MoneyAggregate>(conn, &by_cell, &[])? {
        let (quarter, money) = (parse_quarter(&m.quarter)?, m.money());
        facts
            .entry(m.project_id)
            .or_default()
            .payments
            .insert((m.outcome_code, quarter, m.payer), money);
    }
    Ok(facts)
}

fn parse_quarter(label: &str) -> Result<Period, ServiceError> {
    Period::parse(label)
        .map(|p| quarter_of(p.start()))
        .ok_or_else(|| {
            ServiceError::Internal(format!("the ledger gave an unreadable quarter {label}"))
        })
}

fn fund_rows(conn: &mut DbConn, ids: &BTreeSet<FundId>) -> Result<Vec<Row>, ServiceError> {
    let table = catalog::table("funds").expect("declared");
    let found: Vec<crate::db::models::Fund> = funds::table
        .filter(funds::id.eq_any(ids))
        .select(crate::db::models::Fund::as_select())
        .load(conn)?;
    Ok(found
        .into_iter()
        .map(|f| {
            Row::new(
                table,
                vec![
                    Value::text(&f.id),
                    Value::text(&f.name),
                    Value::text(&f.owner_organisation_id),
                    Value::amount(f.budget_minor, &f.currency),
                    Value::text(&f.currency),
                    Value::Date(f.service_start),
                    Value::Date(f.service_end),
                    Value::DateTime(f.created_at),
                ],
            )
        })
        .collect())
}

fn organisation_rows(conn: &mut DbConn, ids: &BTreeSet<String>) -> Result<Vec<Row>, ServiceError> {
    let table = catalog::table("organisations").expect("declared");
    let found: Vec<crate::db::models::Organisation> = organisations::table
        .filter(organisations::id.eq_any(ids))
        .select(crate::db::models::Organisation::as_select())
        .load(conn)?;
    Ok(found
        .into_iter()
        .map(|o| {
            let category = rows::role_category(o.kind);
            Row::new(
                table,
                vec![
                    Value::text(&o.id),
                    Value::text(&o.name),
                    Value::text(category),
                    Value::text(o.kind.as_str()),
                    Value::optional_text(o.identifier.as_deref()),
                    Value::DateTime(o.created_at),
                ],
            )
        })
        .collect())
}

/// What `cofund check` finds of the open data.
#[derive(Debug, Default)]
pub struct OpenDataCheck {
    /// Published projects audited.
    pub projects: usize,
    /// A build from the ledger as it is now that fails the disclosure audit.
    pub violations: Vec<String>,
    /// Tables whose stored rows are not that build (an older rebuild: every rebuild was
    /// audited before it was stored, and the next one publishes this one).
    pub stale_tables: Vec<&'static str>,
}

/// Builds the published tables from the ledger as it is now, without storing them (which
/// audits every project), and compares them with the stored tables. Read-only.
pub fn check(
    conn: &mut DbConn,
    rules: Rules,
    now: NaiveDateTime,
) -> Result<OpenDataCheck, ServiceError> {
    let mut report = OpenDataCheck::default();
    let tables = match published_rows(conn, rules, now, Scrutiny::Everything) {
        Ok((tables, built, _)) => {
            report.projects = built.projects;
            tables
        }
        Err(ServiceError::Internal(why)) => {
            report.violations.push(why);
            return Ok(report);
        }
        Err(other) => return Err(other),
    };
    #[derive(QueryableByName)]
    struct Stored {
        #[diesel(sql_type = Text)]
        row_key: String,
        #[diesel(sql_type = Text)]
        row_json: String,
    }
    for table in TABLES {
        let fresh = tables.get(table.name).map_or(&[][..], Vec::as_slice);
        let sql = format!(
            "SELECT row_key, row_json FROM {} ORDER BY row_key",
            table.stored_in()
        );
        let stored: Vec<Stored> = dynamic::load(conn, &sql, &[])?;
        let same = stored.len() == fresh.len()
            && stored
                .iter()
                .zip(fresh)
                .all(|(s, f)| s.row_key == f.key && s.row_json == f.json(table));
        if !same {
            report.stale_tables.push(table.name);
        }
    }
    Ok(report)
}

/// Rows per INSERT: under both databases' limits on bound parameters for the widest table.
const INSERT_BATCH_ROWS: usize = 500;

/// Replaces the stored rows of `table` with `rows`.
pub fn replace_rows(conn: &mut DbConn, table: &Table, rows: &[Row]) -> Result<(), ServiceError> {
    dynamic::execute(conn, &format!("DELETE FROM {}", table.stored_in()), &[])?;
    append_rows(conn, table, rows)
}

/// Adds `rows` to the stored rows of `table`.
pub fn append_rows(conn: &mut DbConn, table: &Table, rows: &[Row]) -> Result<(), ServiceError> {
    let columns: Vec<&str> = ["row_key", "row_json", "row_csv"]
        .into_iter()
        .chain(table.fields.iter().map(|f| f.name))
        .collect();
    let placeholders = format!("({})", vec!["?"; columns.len()].join(", "));
    for batch in rows.chunks(INSERT_BATCH_ROWS) {
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            table.stored_in(),
            columns.join(", "),
            vec![placeholders.as_str(); batch.len()].join(", ")
        );
        let mut params = Vec::with_capacity(batch.len() * columns.len());
        for row in batch {
            params.push(Param::text(&row.key));
            params.push(Param::Text(Some(row.json(table))));
            params.push(Param::Text(Some(row.csv())));
            params.extend(row.stored(table).into_iter().map(|s| match s {
                Stored::Text(t) => Param::Text(t),
                Stored::Integer(n) => Param::BigInt(n),
            }));
        }
        dynamic::execute(conn, &sql, &params)?;
    }
    Ok(())
}
