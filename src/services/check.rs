//! `cofund check`: recomputes the ledger's invariants over the whole database and reports every
//! violation. Read-only.

// Maps of a million ids or more: foldhash, not std's DoS-resistant SipHash (the keys are
// our own ids, read from our own database).
use crate::domain::ids::{ClaimId, ProjectId};
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use chrono::NaiveDate;
use diesel::prelude::*;

use crate::db::ledger_sums::{allocation_sums, EntryAllocations, PayerSums};
use crate::db::schema::*;
use crate::db::{totals, DbConn};
use crate::domain::claims::ClaimStatus;
use crate::domain::ledger::{payer_account, provider_account, unfunded_account};
use crate::domain::money::Minor;
use crate::domain::Label;

/// Counts of what was checked, for the report.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub entries: usize,
    pub allocations: usize,
    pub claims: usize,
    pub payers: usize,
    pub violations: Vec<String>,
}

/// How many steps [`run_with_progress`] tells of.
pub const CHECK_STEPS: u64 = 9;

/// Checks every invariant over the whole database; `today` is the day the projects' stored
/// terms are read as of (see [`check_stored_terms`]).
pub fn run(conn: &mut DbConn, today: NaiveDate) -> QueryResult<CheckReport> {
    run_with_progress(conn, today, &|_| {})
}

/// [`run`], telling `step` the name of each of its [`CHECK_STEPS`] steps as it starts it.
///
/// The big tables are each read once: the entries and the claims whole, the allocations as
/// their sums per entry (with the claim and project they name) and per payer.
pub fn run_with_progress(
    conn: &mut DbConn,
    today: NaiveDate,
    step: &dyn Fn(&str),
) -> QueryResult<CheckReport> {
    let mut report = CheckReport::default();

    step("entries balance");
    let entries = load_entries(conn)?;
    let claims = load_claims(conn)?;
    let sums = allocation_sums(conn)?;
    let (per_entry, payer_sums) = (&sums.per_entry, &sums.per_payer);
    report.entries = entries.len();
    report.claims = claims.len();
    let known_claims: HashSet<&str> = claims.iter().map(|c| c.id.as_str()).collect();
    check_entries(conn, &entries, &known_claims, per_entry, &mut report)?;
    for allocation in &sums.not_whole {
        report.violations.push(format!(
            "allocation {allocation} holds an amount that is not a whole number of minor units"
        ));
    }
    report.allocations = payer_sums.iter().map(|p| p.allocations).sum::<i64>() as usize;

    step("payers within their caps");
    check_payer_caps(conn, payer_sums, &mut report)?;

    step("claims' allocations");
    check_claims_allocations(&claims, &known_claims, per_entry, &mut report);

    step("providers' dues");
    let provider_due = provider_due(&entries);
    check_providers_dues(conn, &claims, &provider_due, &mut report)?;

    step("running totals");
    check_running_totals(conn, &claims, payer_sums, &provider_due, &mut report)?;

    step("stored terms");
    check_stored_terms(conn, today, &mut report)?;

    step("adjustments");
    check_adjustment_kinds(conn, &mut report)?;

    step("payers' funds");
    check_fund_payers(conn, &mut report)?;
    step("settlement documents");
    check_documents(conn, &mut report)?;
    step("labels");
    check_labels(conn, &mut report)?;
    Ok(report)
}

/// 11. The outbox's, the document histories', the payments', the commitment histories' and
///     the jobs' labels are ones cofund knows
///     (a corrupt one, or one written by a newer version, fails the reads that show it).
fn check_labels(conn: &mut DbConn, report: &mut CheckReport) -> QueryResult<()> {
    use crate::domain::access::Role;
    use crate::domain::commitment::CommitmentStatus;
    use crate::domain::jobs::JobState;
    use crate::domain::outbox::{OutboxKind, OutboxStatus};
    use crate::domain::settlement::{DocumentAction, SettledBy};
    let outbox_kinds = outbox::table.select(outbox::kind).distinct().load(conn)?;
    unknown_labels::<OutboxKind>("outbox messages of kind", outbox_kinds, report);
    let outbox_statuses = outbox::table.select(outbox::status).distinct().load(conn)?;
    unknown_labels::<OutboxStatus>("outbox messages of status", outbox_statuses, report);
    let actions = document_events::table
        .select(document_events::action)
        .distinct()
        .load(conn)?;
    unknown_labels::<DocumentAction>("document history of action", actions, report);
    let settled_by = document_payments::table
        .select(document_payments::settled_by)
        .distinct()
        .load(conn)?;
    unknown_labels::<SettledBy>("document payments settled by", settled_by, report);
    let commitments = commitment_events::table
        .select(commitment_events::status)
        .distinct()
        .load(conn)?;
    unknown_labels::<CommitmentStatus>("commitment history of status", commitments, report);
    let job_roles = jobs::table.select(jobs::role).distinct().load(conn)?;
    unknown_labels::<Role>("jobs asked in the role", job_roles, report);
    let job_states = jobs::table.select(jobs::state).distinct().load(conn)?;
    unknown_labels::<JobState>("jobs in the state", job_states, report);
    Ok(())
}

fn unknown_labels<T: Label>(what: &str, stored: Vec<String>, report: &mut CheckReport) {
    for label in stored.iter().filter(|l| T::from_label(l).is_none()) {
        report
            .violations
            .push(format!("{what} '{label}', which cofund does not know"));
    }
}

/// 7. Every project's stored terms parse: a corrupt share, phase or deadweight would otherwise
///    be refused only when a claim of the project is next priced. A project holding a label
///    cofund does not know (a route, a cap policy, a payer's role, an outcome's unit) cannot be
///    loaded at all: those rows are named instead, and its other terms are read once they are
///    mended.
fn check_stored_terms(
    conn: &mut DbConn,
    today: NaiveDate,
    report: &mut CheckReport,
) -> QueryResult<()> {
    let unreadable = check_registry_labels(conn, report)?;
    let project_ids: Vec<ProjectId> = projects::table.select(projects::id).load(conn)?;
    for id in project_ids
        .iter()
        .filter(|id| !unreadable.contains(id.as_str()))
    {
        if let Some(record) =
            crate::db::queries::projects::get_project(conn, &ProjectId::from(id.as_str()))?
        {
            if let Err(corrupt) = crate::services::claims::rules::ProjectRules::new(record, today) {
                report.violations.push(corrupt.to_string());
            }
        }
    }
    Ok(())
}

/// The registry's labels (organisations' kinds; projects' routes, frequencies and cap
/// policies; payers' roles and commitments; outcomes' units) are ones cofund knows. Returns
/// the projects that cannot be loaded because of one.
fn check_registry_labels(
    conn: &mut DbConn,
    report: &mut CheckReport,
) -> QueryResult<HashSet<String>> {
    use crate::domain::commitment::CommitmentStatus;
    use crate::domain::registry::{
        OrganisationKind, OutcomeUnit, PayerRole, SettlementFrequency, SettlementRoute,
    };
    use crate::domain::split::CapPolicy;
    let mut unreadable = HashSet::new();
    let kinds: Vec<(String, String)> = (organisations::table)
        .select((organisations::id, organisations::kind))
        .load(conn)?;
    for (id, kind) in kinds {
        if OrganisationKind::from_label(&kind).is_none() {
            let known = OrganisationKind::listed();
            report.violations.push(format!(
                "organisation {id}: stored kind '{kind}' is not valid (not {known})"
            ));
        }
    }
    let projects: Vec<(String, String, String, String)> = (projects::table)
        .select((
            projects::id,
            projects::settlement_route,
            projects::settlement_frequency,
            projects::cap_policy,
        ))
        .load(conn)?;
    let mut labels = Labels {
        report,
        unreadable: &mut unreadable,
    };
    for (id, route, frequency, cap_policy) in projects {
        labels.check::<SettlementRoute>(&id, "project", "settlement_route", &route);
        labels.check::<SettlementFrequency>(&id, "project", "settlement_frequency", &frequency);
        labels.check::<CapPolicy>(&id, "project", "cap_policy", &cap_policy);
    }
    let payers: Vec<(String, String, String, String)> = (project_payers::table)
        .select((
            project_payers::project_id,
            project_payers::id,
            project_payers::role,
            project_payers::commitment,
        ))
        .load(conn)?;
    for (project_id, id, role, commitment) in payers {
        let row = format!("payer {id}");
        labels.check::<PayerRole>(&project_id, &row, "role", &role);
        labels.check::<CommitmentStatus>(&project_id, &row, "commitment", &commitment);
    }
    let outcomes: Vec<(String, String, String)> = (outcome_metrics::table)
        .select((
            outcome_metrics::project_id,
            outcome_metrics::code,
            outcome_metrics::unit,
        ))
        .load(conn)?;
    for (project_id, code, unit) in outcomes {
        labels.check::<OutcomeUnit>(&project_id, &format!("outcome {code}"), "unit", &unit);
    }
    Ok(unreadable)
}

/// Reports a project's stored labels that cofund does not know, and the projects that hold one.
struct Labels<'r> {
    report: &'r mut CheckReport,
    unreadable: &'r mut HashSet<String>,
}

impl Labels<'_> {
    fn check<T: Label>(&mut self, project_id: &str, row: &str, field: &str, label: &str) {
        if T::from_label(label).is_none() {
            self.report.violations.push(format!(
                "project {project_id}: {row}: stored {field} '{label}' is not valid (not {})",
                T::listed()
            ));
            self.unreadable.insert(project_id.to_owned());
        }
    }
}

/// 8. Every stored adjustment names a kind cofund knows (a corrupt one would be shown as
///    another, or fail the claim's every read).
fn check_adjustment_kinds(conn: &mut DbConn, report: &mut CheckReport) -> QueryResult<()> {
    let kinds: Vec<String> = claim_adjustments::table
        .select(claim_adjustments::kind)
        .distinct()
        .load(conn)?;
    for kind in kinds {
        if crate::domain::claims::AdjustmentKind::from_label(&kind).is_none() {
            report.violations.push(format!(
                "claim adjustments of kind '{kind}', which is not a kind"
            ));
        }
    }
    Ok(())
}

/// 9. A payer that pays from a fund is a central top-up that owns it: a fund's commitments
///    count exactly its own payers.
fn check_fund_payers(conn: &mut DbConn, report: &mut CheckReport) -> QueryResult<()> {
    let owners: HashMap<String, String> = funds::table
        .select((funds::id, funds::owner_organisation_id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    let paying: Vec<(String, String, String, Option<String>)> = project_payers::table
        .filter(project_payers::fund_id.is_not_null())
        .select((
            project_payers::id,
            project_payers::role,
            project_payers::organisation_id,
            project_payers::fund_id,
        ))
        .load(conn)?;
    for (payer, role, org, fund) in paying {
        let fund = fund.unwrap_or_default();
        if role != crate::domain::registry::PayerRole::CentralTopUp.as_str() {
            report.violations.push(format!(
                "payer {payer} pays from fund {fund} but is a {role}, not a central_top_up"
            ));
        } else if owners.get(&fund) != Some(&org) {
            report.violations.push(format!(
                "payer {payer} tops up from fund {fund}, which its organisation does not own"
            ));
        }
    }
    Ok(())
}

/// A ledger entry: the provider's line of one claim's posting (or of its reversal).
#[derive(diesel::Queryable)]
struct Entry {
    id: String,
    claim_id: ClaimId,
    project_id: ProjectId,
    provider_amount_minor: Minor,
    reverses_entry_id: Option<String>,
}

fn load_entries(conn: &mut DbConn) -> QueryResult<Vec<Entry>> {
    ledger_entries::table
        .select((
            ledger_entries::id,
            ledger_entries::claim_id,
            ledger_entries::project_id,
            ledger_entries::provider_amount_minor,
            ledger_entries::reverses_entry_id,
        ))
        .load(conn)
}

/// A claim, with what `check` compares against the ledger.
#[derive(diesel::Queryable)]
struct ClaimRow {
    id: String,
    project_id: String,
    status: String,
    outcome_code: String,
    payable_minor: Option<i64>,
    paid_units: Option<i32>,
}

impl ClaimRow {
    fn verified(&self) -> bool {
        ClaimStatus::from_label(&self.status) == Some(ClaimStatus::Verified)
    }
}

fn load_claims(conn: &mut DbConn) -> QueryResult<Vec<ClaimRow>> {
    claims::table
        .select((
            claims::id,
            claims::project_id,
            claims::status,
            claims::outcome_code,
            claims::payable_minor,
            claims::paid_units,
        ))
        .load(conn)
}

/// 1. Every entry balances: its provider line plus its allocations' amounts and shortfalls
///    is zero. Every allocation belongs to an entry of its own claim and project; every entry
///    names a claim, and every reversal an entry.
fn check_entries(
    conn: &mut DbConn,
    entries: &[Entry],
    known_claims: &HashSet<&str>,
    per_entry: &[EntryAllocations],
    report: &mut CheckReport,
) -> QueryResult<()> {
    let by_id: HashMap<&str, &Entry> = entries.iter().map(|e| (e.id.as_str(), e)).collect();
    let mut allocated: HashMap<&str, i64> = HashMap::with_capacity(entries.len());
    let mut missing: HashSet<&str> = HashSet::new();
    let mut misfiled = false;
    for group in per_entry {
        let entry = group.entry_id.as_str();
        *allocated.entry(entry).or_default() += group.total;
        match by_id.get(entry) {
            None if missing.insert(entry) => report.violations.push(format!(
                "allocations name entry {entry}, which does not exist"
            )),
            Some(e) if e.claim_id != group.claim_id || e.project_id != group.project_id => {
                misfiled = true
            }
            _ => {}
        }
    }
    for entry in entries {
        let sum =
            entry.provider_amount_minor.get() + allocated.get(entry.id.as_str()).unwrap_or(&0);
        if sum != 0 {
            report.violations.push(format!(
                "entry {} does not balance: its lines sum to {sum}",
                entry.id
            ));
        }
    }
    for entry in entries {
        if !known_claims.contains(entry.claim_id.as_str()) {
            report.violations.push(format!(
                "entry {} names claim {}, which does not exist",
                entry.id, entry.claim_id
            ));
        }
        if let Some(reversed) = &entry.reverses_entry_id {
            if !by_id.contains_key(reversed.as_str()) {
                report.violations.push(format!(
                    "entry {} reverses entry {reversed}, which does not exist",
                    entry.id
                ));
            }
        }
    }
    if misfiled {
        report_misfiled(conn, report)?;
    }
    Ok(())
}

/// Names each allocation that names another claim or project than its entry: one join of
/// the whole table, made only when [`check_entries`] has found that there are some.
fn report_misfiled(conn: &mut DbConn, report: &mut CheckReport) -> QueryResult<()> {
    let misfiled: Vec<(i64, String)> = allocations::table
        .inner_join(ledger_entries::table.on(ledger_entries::id.eq(allocations::entry_id)))
        .filter(
            ledger_entries::claim_id
                .ne(allocations::claim_id)
                .or(ledger_entries::project_id.ne(allocations::project_id)),
        )
        .select((allocations::id, allocations::entry_id))
        .order(allocations::id)
        .load(conn)?;
    for (allocation, entry) in misfiled {
        report.violations.push(format!(
            "allocation {allocation} names another claim or project than its entry {entry}"
        ));
    }
    Ok(())
}

/// 3. No payer above its maximum commitment, none below zero.
fn check_payer_caps(
    conn: &mut DbConn,
    payer_sums: &[PayerSums],
    report: &mut CheckReport,
) -> QueryResult<()> {
    let mut payer_totals: HashMap<&str, i64> = HashMap::new();
    for sums in payer_sums {
        *payer_totals.entry(sums.payer_id.as_str()).or_default() += sums.allocated;
    }
    let payers: Vec<(String, i64)> = project_payers::table
        .select((project_payers::id, project_payers::max_commitment_minor))
        .load(conn)?;
    report.payers = payers.len();
    let known_payers: HashSet<&str> = payers.iter().map(|(id, _)| id.as_str()).collect();
    for payer in payer_totals.keys() {
        if !known_payers.contains(payer) {
            report.violations.push(format!(
                "allocations name payer {payer}, which does not exist"
            ));
        }
    }
    for (payer, max) in &payers {
        let total = payer_totals.get(payer.as_str()).copied().unwrap_or(0);
        if total > *max || total < 0 {
            report.violations.push(format!(
                "payer {payer} has {total} allocated against a maximum of {max}"
            ));
        }
    }
    Ok(())
}

/// 4. Each claim's allocations add up to what it pays: its payable amount while verified,
///    nothing once revoked, and no allocations at all before verification.
fn check_claims_allocations(
    claims: &[ClaimRow],
    known_claims: &HashSet<&str>,
    per_entry: &[EntryAllocations],
    report: &mut CheckReport,
) {
    let mut allocated: HashMap<&str, i64> = HashMap::with_capacity(claims.len());
    for group in per_entry {
        *allocated.entry(group.claim_id.as_str()).or_default() += group.total;
    }
    for claim in allocated.keys() {
        if !known_claims.contains(claim) {
            report.violations.push(format!(
                "allocations name claim {claim}, which does not exist"
            ));
        }
    }
    for claim in claims {
        let allocated = allocated.get(claim.id.as_str()).copied();
        let status = ClaimStatus::from_label(&claim.status);
        if status.is_none() {
            report.violations.push(format!(
                "claim {} has the stored status '{}', which is not a claim status",
                claim.id, claim.status
            ));
        }
        let expected = match status {
            Some(ClaimStatus::Verified) => Some(claim.payable_minor.unwrap_or(0)),
            Some(ClaimStatus::Revoked) => allocated.map(|_| 0),
            _ => None,
        };
        let ok = match (expected, allocated) {
            (Some(0), None) | (None, None) => true,
            (Some(e), Some(a)) => e == a,
            _ => false,
        };
        match (ok, expected) {
            (true, _) => {}
            (false, None) => report.violations.push(format!(
                "claim {} ({}) has allocations (summing to {}) but should have none",
                claim.id,
                claim.status,
                allocated.unwrap_or(0)
            )),
            (false, Some(expected)) => report.violations.push(format!(
                "claim {} ({}) should have {expected} allocated but has {}",
                claim.id,
                claim.status,
                allocated.unwrap_or(0)
            )),
        }
    }
}

/// What is due to each project's provider: the negated sum of its entries' provider lines.
fn provider_due(entries: &[Entry]) -> HashMap<ProjectId, i64> {
    let mut due: HashMap<ProjectId, i64> = HashMap::new();
    for entry in entries {
        *due.entry(entry.project_id.clone()).or_default() -= entry.provider_amount_minor.get();
    }
    due
}

/// 5. What is due to each project's provider equals what its verified claims pay, and the
///    contract and participant caps hold.
fn check_providers_dues(
    conn: &mut DbConn,
    claims: &[ClaimRow],
    provider_due: &HashMap<ProjectId, i64>,
    report: &mut CheckReport,
) -> QueryResult<()> {
    let mut project_paid: HashMap<&str, i64> = HashMap::new();
    for claim in claims.iter().filter(|c| c.verified()) {
        *project_paid.entry(claim.project_id.as_str()).or_default() +=
            claim.payable_minor.unwrap_or(0);
    }
    let projects: Vec<(ProjectId, Option<i64>, Option<i64>)> = projects::table
        .select((
            projects::id,
            projects::max_outcome_payment_minor,
            projects::participant_cap_minor,
        ))
        .load(conn)?;
    for (project, contract_cap, participant_cap) in projects {
        let paid = project_paid.get(project.as_str()).copied().unwrap_or(0);
        let due = provider_due.get(&project).copied().unwrap_or(0);
        // Shortfall is part of the provider's line but unfunded: compare with what was posted
        // as payable (allocated + shortfall), which is what verified claims pay.
        if due != paid {
            report.violations.push(format!(
                "project {project}: {due} due to the provider but verified claims pay {paid}"
            ));
        }
        if contract_cap.is_some_and(|cap| paid > cap) {
            report.violations.push(format!(
                "project {project}: {paid} paid exceeds its contract cap"
            ));
        }
        if let Some(cap) = participant_cap {
            check_participant_cap(conn, &project, cap, report)?;
        }
    }
    Ok(())
}

/// No participant of a project with a participant cap was paid more than it.
fn check_participant_cap(
    conn: &mut DbConn,
    project: &str,
    cap: i64,
    report: &mut CheckReport,
) -> QueryResult<()> {
    // (The cap is an integer from the database, written into the SQL as a number.)
    let paid = totals::grouped(
        conn,
        &format!(
            "SELECT participant_pseudonym AS key, CAST(SUM(payable_minor) AS BIGINT) AS total \
             FROM claims WHERE status = 'verified' AND project_id = ? \
             GROUP BY participant_pseudonym HAVING SUM(payable_minor) > {cap}"
        ),
        &[project],
    )?;
    for (participant, total) in paid {
        report.violations.push(format!(
            "participant {participant} of project {project}: {total} paid exceeds the cap of {cap}"
        ));
    }
    Ok(())
}

/// 6. The running totals kept beside the ledger agree with it: each payer's allocated and
///    unfunded balance, each provider's, and the units paid of each outcome.
fn check_running_totals(
    conn: &mut DbConn,
    claims: &[ClaimRow],
    payer_sums: &[PayerSums],
    provider_due: &HashMap<ProjectId, i64>,
    report: &mut CheckReport,
) -> QueryResult<()> {
    // The balance of each account, spelled out as `domain::ledger` names them.
    let mut expected: HashMap<String, i64> = HashMap::new();
    for sums in payer_sums {
        let project = &sums.project_id;
        expected.insert(
            format!("{project} {}", payer_account(&sums.payer_id)),
            sums.allocated,
        );
        expected.insert(
            format!("{project} {}", unfunded_account(&sums.payer_id)),
            sums.shortfall,
        );
    }
    for (project, due) in provider_due {
        expected.insert(format!("{project} {}", provider_account(project)), -due);
    }
    let mut units: HashMap<(&str, &str), i64> = HashMap::new();
    for claim in claims.iter().filter(|c| c.verified()) {
        let key = (claim.project_id.as_str(), claim.outcome_code.as_str());
        *units.entry(key).or_default() += i64::from(claim.paid_units.unwrap_or(0));
    }
    for ((project, outcome), total) in units {
        expected.insert(format!("{project} units:{outcome}"), total);
    }
    let stored: Vec<(String, String, i64)> = running_totals::table
        .select((
            running_totals::project_id,
            running_totals::name,
            running_totals::value,
        ))
        .load(conn)?;
    let mut seen = HashSet::new();
    for (project, name, value) in &stored {
        let key = format!("{project} {name}");
        let expected = expected.get(&key).copied().unwrap_or(0);
        if *value != expected {
            report.violations.push(format!("running total {name} of project {project} is {value} but the ledger says {expected}"));
        }
        seen.insert(key);
    }
    for (key, total) in &expected {
        if *total != 0 && !seen.contains(key) {
            report
                .violations
                .push(format!("{key} totals {total} but has no running total"));
        }
    }
    Ok(())
}

/// 10. Settlement documents say what the ledger says: each total is the sum of its lines,
///     each line the sum of the allocations it settles, each amount paid the sum of its
///     payments and never beyond the total; no link names a missing allocation or a void
///     document.
fn check_documents(conn: &mut DbConn, report: &mut CheckReport) -> QueryResult<()> {
    use crate::domain::settlement::{DocumentKind, DocumentStatus};
    let documents: Vec<(String, String, String, i64, i64, i32)> = settlement_documents::table
        .select((
            settlement_documents::id,
            settlement_documents::kind,
            settlement_documents::status,
            settlement_documents::total_minor,
            settlement_documents::paid_minor,
            settlement_documents::line_count,
        ))
        .load(conn)?;
    let line_counts = totals::grouped(
        conn,
        "SELECT document_id AS key, CAST(COUNT(*) AS BIGINT) AS total FROM document_lines GROUP BY document_id",
        &[],
    )?;
    let line_sums = totals::grouped(
        conn,
        "SELECT document_id AS key, CAST(SUM(amount_minor) AS BIGINT) AS total FROM document_lines GROUP BY document_id",
        &[],
    )?;
    let payment_sums = totals::grouped(
        conn,
        "SELECT document_id AS key, CAST(SUM(amount_minor) AS BIGINT) AS total FROM document_payments GROUP BY document_id",
        &[],
    )?;
    for (id, kind, status, total, paid, line_count) in &documents {
        let lines = line_sums.get(id).copied().unwrap_or(0);
        let counted = line_counts.get(id).copied().unwrap_or(0);
        if counted != i64::from(*line_count) {
            report.violations.push(format!(
                "document {id} says it has {line_count} lines but has {counted}"
            ));
        }
        let payments = payment_sums.get(id).copied().unwrap_or(0);
        if DocumentKind::from_label(kind).is_none() || DocumentStatus::from_label(status).is_none()
        {
            report.violations.push(format!("document {id} is of kind '{kind}' and status '{status}', one of which cofund does not know"));
        }
        if lines != *total {
            report.violations.push(format!(
                "document {id} totals {total} but its lines sum to {lines}"
            ));
        }
        // Paid moves from nothing towards the total, whichever its sign (a credit note's
        // refunds and set-offs are negative, as its total is).
        let beyond = (*paid > 0 && *paid > *total) || (*paid < 0 && *paid < *total);
        if payments != *paid || beyond {
            report.violations.push(format!(
                "document {id} records {paid} paid of {total}; its payments sum to {payments}"
            ));
        }
    }
    check_links(conn, report)
}

/// Each link and line against the allocations and documents it names.
fn check_links(conn: &mut DbConn, report: &mut CheckReport) -> QueryResult<()> {
    // Each settled line against the allocations it settles (void documents have none left):
    // only the lines that differ come back.
    let mismatched = totals::grouped(
        conn,
        "SELECT x.document_id || ':' || CAST(x.position AS TEXT) AS key, \
         CAST(x.amount_minor - SUM(a.amount_minor) AS BIGINT) AS total \
         FROM document_lines x JOIN settlement_links l ON l.document_id = x.document_id AND l.line_position = x.position \
         JOIN allocations a ON a.id = l.allocation_id \
         GROUP BY x.document_id, x.position, x.amount_minor HAVING x.amount_minor <> SUM(a.amount_minor)",
        &[],
    )?;
    for (line, difference) in &mismatched {
        report.violations.push(format!(
            "document line {line} differs by {difference} from the allocations it settles"
        ));
    }
    let dangling = totals::grouped(
        conn,
        "SELECT CAST(l.allocation_id AS TEXT) || ':' || l.leg AS key, CAST(1 AS BIGINT) AS total FROM settlement_links l \
         LEFT JOIN allocations a ON a.id = l.allocation_id LEFT JOIN settlement_documents d ON d.id = l.document_id \
         WHERE a.id IS NULL OR d.id IS NULL OR d.status = 'void'",
        &[],
    )?;
    let orphans = totals::grouped(
        conn,
        "SELECT x.document_id AS key, CAST(COUNT(*) AS BIGINT) AS total FROM document_lines x \
         LEFT JOIN settlement_documents d ON d.id = x.document_id WHERE d.id IS NULL GROUP BY x.document_id",
        &[],
    )?;
    for (document, lines) in &orphans {
        report.violations.push(format!(
            "{lines} document lines name document {document}, which does not exist"
        ));
    }
    for link in dangling.keys() {
        report.violations.push(format!(
            "settlement link {link} names a missing allocation or a missing or void document"
        ));
    }
    Ok(())
}
