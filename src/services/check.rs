//! `cofund check`: recomputes the ledger's invariants over the whole database and reports every
//! violation. Read-only.

use std::collections::HashMap;

use diesel::prelude::*;

use crate::db::schema::*;
use crate::db::{totals, DbConn};
use crate::domain::ledger::{payer_account, provider_account, unfunded_account};

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

pub fn run(conn: &mut DbConn) -> QueryResult<CheckReport> {
    run_with_progress(conn, &|_| {})
}

/// [`run`], telling `step` the name of each of its [`CHECK_STEPS`] steps as it starts it.
pub fn run_with_progress(conn: &mut DbConn, step: &dyn Fn(&str)) -> QueryResult<CheckReport> {
    let mut report = CheckReport::default();

    step("entries balance");
    // 1. Every entry balances: its provider line plus its allocations' amounts and shortfalls
    //    is zero. Every allocation belongs to an entry of its own claim.
    let provider_lines = totals::grouped(
        conn,
        "SELECT id AS key, provider_amount_minor AS total FROM ledger_entries",
        &[],
    )?;
    let entry_lines = totals::grouped(
        conn,
        "SELECT entry_id AS key, CAST(SUM(amount_minor + shortfall_minor) AS BIGINT) AS total FROM allocations GROUP BY entry_id",
        &[],
    )?;
    report.entries = provider_lines.len();
    for (entry, provider) in &provider_lines {
        let sum = provider + entry_lines.get(entry).copied().unwrap_or(0);
        if sum != 0 {
            report.violations.push(format!(
                "entry {entry} does not balance: its lines sum to {sum}"
            ));
        }
    }
    for entry in entry_lines.keys() {
        if !provider_lines.contains_key(entry) {
            report.violations.push(format!(
                "allocations name entry {entry}, which does not exist"
            ));
        }
    }
    let unanchored: Vec<(String, String)> = ledger_entries::table
        .left_join(claims::table.on(claims::id.eq(ledger_entries::claim_id)))
        .filter(claims::id.is_null())
        .select((ledger_entries::id, ledger_entries::claim_id))
        .load(conn)?;
    for (entry, claim) in unanchored {
        report.violations.push(format!(
            "entry {entry} names claim {claim}, which does not exist"
        ));
    }
    let reversals: Vec<(String, Option<String>)> = ledger_entries::table
        .filter(ledger_entries::reverses_entry_id.is_not_null())
        .select((ledger_entries::id, ledger_entries::reverses_entry_id))
        .load(conn)?;
    for (entry, reversed) in reversals {
        let reversed = reversed.unwrap_or_default();
        if !provider_lines.contains_key(&reversed) {
            report.violations.push(format!(
                "entry {entry} reverses entry {reversed}, which does not exist"
            ));
        }
    }
    let misfiled: Vec<(i64, String)> = allocations::table
        .left_join(ledger_entries::table.on(ledger_entries::id.eq(allocations::entry_id)))
        .filter(
            ledger_entries::claim_id
                .ne(allocations::claim_id)
                .or(ledger_entries::project_id.ne(allocations::project_id)),
        )
        .select((allocations::id, allocations::entry_id))
        .load(conn)?;
    for (allocation, entry) in misfiled {
        report.violations.push(format!(
            "allocation {allocation} names another claim or project than its entry {entry}"
        ));
    }
    // What each payer of each project was allocated and left short, in one read of the
    // allocations for steps 3 and 6 (a payer belongs to one project).
    let payer_sums = payer_sums(conn)?;
    report.allocations = payer_sums.iter().map(|p| p.allocations).sum::<i64>() as usize;

    step("payers within their caps");
    // 3. No payer above its maximum commitment, none below zero.
    let mut payer_totals: HashMap<&str, i64> = HashMap::new();
    for sums in &payer_sums {
        *payer_totals.entry(sums.payer_id.as_str()).or_default() += sums.allocated;
    }
    let payers: Vec<(String, i64)> = project_payers::table
        .select((project_payers::id, project_payers::max_commitment_minor))
        .load(conn)?;
    report.payers = payers.len();
    let known_payers: std::collections::HashSet<&str> =
        payers.iter().map(|(id, _)| id.as_str()).collect();
    for payer in payer_totals.keys() {
        if !known_payers.contains(payer) {
            report.violations.push(format!(
                "allocations name payer {payer}, which does not exist"
            ));
        }
    }
    for (payer, max) in &payers {
        let (payer, max) = (payer.as_str(), *max);
        let total = payer_totals.get(payer).copied().unwrap_or(0);
        if total > max || total < 0 {
            report.violations.push(format!(
                "payer {payer} has {total} allocated against a maximum of {max}"
            ));
        }
    }

    step("claims' allocations");
    // 4. Each claim's allocations add up to what it pays: its payable amount while verified,
    //    nothing once revoked, and no allocations at all before verification.
    let claim_allocated = totals::grouped(
        conn,
        "SELECT claim_id AS key, CAST(SUM(amount_minor + shortfall_minor) AS BIGINT) AS total FROM allocations GROUP BY claim_id",
        &[],
    )?;
    let claims: Vec<(String, String, Option<i64>)> = claims::table
        .select((claims::id, claims::status, claims::payable_minor))
        .load(conn)?;
    report.claims = claims.len();
    let known: std::collections::HashSet<&str> = claims.iter().map(|c| c.0.as_str()).collect();
    for claim in claim_allocated.keys() {
        if !known.contains(claim.as_str()) {
            report.violations.push(format!(
                "allocations name claim {claim}, which does not exist"
            ));
        }
    }
    for (claim, status, payable) in &claims {
        let allocated = claim_allocated.get(claim).copied();
        let expected = match status.as_str() {
            "verified" => Some(payable.unwrap_or(0)),
            "revoked" => allocated.map(|_| 0),
            _ => None,
        };
        let ok = match (expected, allocated) {
            (Some(0), None) | (None, None) => true,
            (Some(e), Some(a)) => e == a,
            _ => false,
        };
        if !ok {
            report.violations.push(format!(
                "claim {claim} ({status}) should have {} allocated but has {}",
                expected.unwrap_or(0),
                allocated.unwrap_or(0)
            ));
        }
    }

    step("providers' dues");
    // 5. What is due to each project's provider equals what its verified claims pay, and the
    //    contract and participant caps hold.
    let provider_due = totals::grouped(
        conn,
        "SELECT project_id AS key, CAST(-SUM(provider_amount_minor) AS BIGINT) AS total FROM ledger_entries GROUP BY project_id",
        &[],
    )?;
    let project_paid = totals::grouped(
        conn,
        "SELECT project_id AS key, CAST(SUM(payable_minor) AS BIGINT) AS total FROM claims WHERE status = 'verified' GROUP BY project_id",
        &[],
    )?;
    let projects: Vec<(String, Option<i64>, Option<i64>)> = projects::table
        .select((
            projects::id,
            projects::max_outcome_payment_minor,
            projects::participant_cap_minor,
        ))
        .load(conn)?;
    let participant_paid = totals::grouped(
        conn,
        "SELECT project_id || ' ' || participant_pseudonym AS key, CAST(SUM(payable_minor) AS BIGINT) AS total FROM claims WHERE status = 'verified' GROUP BY project_id, participant_pseudonym",
        &[],
    )?;
    for (project, contract_cap, participant_cap) in projects {
        let paid = project_paid.get(&project).copied().unwrap_or(0);
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
            let prefix = format!("{project} ");
            for (key, total) in participant_paid
                .iter()
                .filter(|(k, _)| k.starts_with(&prefix))
            {
                if *total > cap {
                    report.violations.push(format!("participant {} of project {project}: {total} paid exceeds the cap of {cap}", &key[prefix.len()..]));
                }
            }
        }
    }
    step("running totals");
    // 6. The running totals kept beside the ledger agree with it.
    //    The balance of each account, spelled out as `domain::ledger` names them.
    let mut account_balances: HashMap<String, i64> = HashMap::new();
    for sums in &payer_sums {
        let project = &sums.project_id;
        account_balances.insert(
            format!("{project} {}", payer_account(&sums.payer_id)),
            sums.allocated,
        );
        account_balances.insert(
            format!("{project} {}", unfunded_account(&sums.payer_id)),
            sums.shortfall,
        );
    }
    for (project, due) in &provider_due {
        account_balances.insert(format!("{project} {}", provider_account(project)), -due);
    }
    let units = totals::grouped(
        conn,
        "SELECT project_id || ' units:' || outcome_code AS key, CAST(SUM(paid_units) AS BIGINT) AS total FROM claims WHERE status = 'verified' GROUP BY project_id, outcome_code",
        &[],
    )?;
    let stored: Vec<(String, String, i64)> = running_totals::table
        .select((
            running_totals::project_id,
            running_totals::name,
            running_totals::value,
        ))
        .load(conn)?;
    let mut seen = std::collections::HashSet::new();
    for (project, name, value) in &stored {
        let key = format!("{project} {name}");
        let expected = account_balances
            .get(&key)
            .or_else(|| units.get(&key))
            .copied()
            .unwrap_or(0);
        if *value != expected {
            report.violations.push(format!("running total {name} of project {project} is {value} but the ledger says {expected}"));
        }
        seen.insert(key);
    }
    for (key, total) in account_balances.iter().chain(units.iter()) {
        if *total != 0 && !seen.contains(key) {
            report
                .violations
                .push(format!("{key} totals {total} but has no running total"));
        }
    }

    step("stored terms");
    // 7. Every project's stored terms parse: a corrupt share, phase, unit or cap policy would
    //    otherwise be refused only when a claim of the project is next priced.
    let project_ids: Vec<String> = projects::table.select(projects::id).load(conn)?;
    let today = chrono::Utc::now().date_naive();
    for id in project_ids {
        if let Some(record) = crate::db::queries::get_project(conn, &id)? {
            if let Err(corrupt) = crate::services::claims::ProjectRules::new(record, today) {
                report.violations.push(corrupt.to_string());
            }
        }
    }

    step("adjustments");
    // 8. Every stored adjustment names a kind cofund knows (a corrupt one would be shown as
    //    another, or fail the claim's every read).
    let kinds: Vec<String> = claim_adjustments::table
        .select(claim_adjustments::kind)
        .distinct()
        .load(conn)?;
    for kind in kinds {
        if crate::domain::claims::AdjustmentKind::from_db(&kind).is_none() {
            report.violations.push(format!(
                "claim adjustments of kind '{kind}', which is not a kind"
            ));
        }
    }

    step("payers' funds");
    // 9. A payer that pays from a fund is a central top-up that owns it: a fund's commitments
    //    count exactly its own payers.
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
    step("settlement documents");
    check_documents(conn, &mut report)?;
    Ok(report)
}

/// What one payer of one project was allocated and left short, and in how many allocations.
#[derive(diesel::QueryableByName)]
struct PayerSums {
    #[diesel(sql_type = diesel::sql_types::Text)]
    project_id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    payer_id: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    allocated: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    shortfall: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    allocations: i64,
}

fn payer_sums(conn: &mut DbConn) -> QueryResult<Vec<PayerSums>> {
    crate::db::dynamic::load(
        conn,
        "SELECT project_id, payer_id, CAST(SUM(amount_minor) AS BIGINT) AS allocated, \
         CAST(SUM(shortfall_minor) AS BIGINT) AS shortfall, CAST(COUNT(*) AS BIGINT) AS allocations \
         FROM allocations GROUP BY project_id, payer_id",
        &[],
    )
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
        if DocumentKind::from_db(kind).is_none() || DocumentStatus::from_db(status).is_none() {
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
