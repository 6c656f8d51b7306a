//! Submitting, verifying, rejecting and revoking outcome claims, and posting the split.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::backend_specific::{
    lock_name, lock_row_for_key_share, lock_row_for_update, LockableTable,
};
use crate::db::backend_specific::{mark_claims_verified, VerifiedClaim};
use crate::db::bulk::load_where_in;
use crate::db::models::*;
use crate::db::queries::{self, insert_rows, new_id};
use crate::db::schema::*;
use crate::db::DbConn;
use crate::domain::access::{not_yours_to_decide, Decider};
use crate::domain::claims::{
    check_eligibility, prerequisite_met, price_claim, ClaimInput, EligibilityWindow, OutcomeRule,
    PaidSoFar, Pricing, PriorClaim, Reason,
};
use crate::domain::commitment::{agreement, Agreement, CommitmentStatus};
use crate::domain::ledger::{provider_amount, ProjectAccounts};
use crate::domain::money::MoneyJson;
use crate::domain::registry::{CapPolicy, OutcomeUnit};
use crate::domain::shares::parse_share;
use crate::domain::split::{
    phase_schedule_gap, share_weights, split, PayerPart, PayerShareTerms, Phases,
};
use crate::services::bulk::{pseudonymise_rows, FileRow, Progress};
use crate::services::error::ServiceError;
use crate::services::stored_terms::{check_stored_labels, CorruptTerms};

pub const SUBMITTED: &str = "submitted";
pub const VERIFIED: &str = "verified";
pub const REJECTED: &str = "rejected";
pub const REVOKED: &str = "revoked";

/// A project's rules, read once per request.
pub struct ProjectRules {
    pub record: ProjectRecord,
    pub outcomes: HashMap<String, OutcomeRule>,
    pub payers: Vec<PayerShareTerms>,
    pub window: EligibilityWindow,
    pub cap_policy: CapPolicy,
    pub has_home_area_payers: bool,
}

impl ProjectRules {
    /// The project's rules from its stored record. Every stored term must parse; a corrupt one
    /// is an error naming the row, never a default.
    pub fn new(record: ProjectRecord, today: NaiveDate) -> Result<ProjectRules, CorruptTerms> {
        let p = &record.project;
        let corrupt = |row: String, field: &'static str, value: &str, problem: String| {
            CorruptTerms::new(&p.id, row, field, value, &problem)
        };
        let window = EligibilityWindow {
            service_start: p.service_start,
            service_end: p.service_end,
            referral_cutoff: p.referral_cutoff,
            today,
        };
        let mut outcomes = HashMap::new();
        for o in &record.outcomes {
            let row = || format!("outcome {}", o.code);
            let unit = OutcomeUnit::from_db(&o.unit)
                .ok_or_else(|| corrupt(row(), "unit", &o.unit, "not a unit".into()))?;
            let deadweight = match o.deadweight.as_deref() {
                None => None,
                Some(d) => Some(parse_share(d).map_err(|e| corrupt(row(), "deadweight", d, e))?),
            };
            let rule = OutcomeRule {
                id: o.id.clone(),
                code: o.code.clone(),
                price_minor: o.price_minor,
                unit,
                max_units_per_participant: o.max_units_per_participant,
                max_claims_per_participant: o.max_claims_per_participant,
                exclusive_group: o.exclusive_group.clone(),
                requires: o
                    .requires_outcome_code
                    .clone()
                    .map(|code| (code, o.requires_min_days_after.unwrap_or(0))),
                volume_cap: o.volume_cap,
                deadweight,
                min_age_at_start: o.min_age_at_start,
                max_age_at_start: o.max_age_at_start,
            };
            outcomes.insert(o.code.clone(), rule);
        }
        let mut payers = Vec::with_capacity(record.payers.len());
        for r in &record.payers {
            let row = || format!("payer {}", r.payer.id);
            let share = match r.payer.share.as_deref() {
                None => None,
                Some(s) => Some(parse_share(s).map_err(|e| corrupt(row(), "share", s, e))?),
            };
            let mut phases = Vec::with_capacity(r.phases.len());
            for ph in &r.phases {
                let share = parse_share(&ph.share)
                    .map_err(|e| corrupt(row(), "phase share", &ph.share, e))?;
                phases.push((ph.starts_on, ph.ends_on, share));
            }
            payers.push(PayerShareTerms {
                max_commitment_minor: r.payer.max_commitment_minor,
                share,
                phases,
                home_area_codes: r.home_area_codes.clone(),
            });
        }
        let phases: Vec<&Phases> = payers.iter().map(|p| p.phases.as_slice()).collect();
        if let Some(gap) = phase_schedule_gap(&phases) {
            let value = gap.to_string();
            return Err(corrupt("payers".into(), "phases", "", value));
        }
        check_stored_labels(&record)?;
        let cap_policy = CapPolicy::from_db(&p.cap_policy).ok_or_else(|| {
            corrupt(
                "project".into(),
                "cap_policy",
                &p.cap_policy,
                "not shortfall or reallocate".into(),
            )
        })?;
        Ok(ProjectRules {
            has_home_area_payers: payers.iter().any(|p| !p.home_area_codes.is_empty()),
            cap_policy,
            outcomes,
            payers,
            window,
            record,
        })
    }

    pub fn project_id(&self) -> &str {
        &self.record.project.id
    }

    fn check_agreed(&self) -> Result<(), ServiceError> {
        require_agreed(&self.record)
    }

    fn money(&self, minor: i64) -> String {
        MoneyJson::from_minor(minor, &self.record.project.currency).to_string()
    }
}

/// Locks the project for update, so that verifications, bulk submissions, settlements and
/// plans of it take turns with each other and with single submissions
/// ([`lock_for_submission`]): caps and duplicates are checked against what the previous
/// writer committed.
pub fn lock_project(conn: &mut DbConn, project_id: &str) -> Result<(), ServiceError> {
    Ok(lock_row_for_update(
        conn,
        LockableTable::Projects,
        project_id,
    )?)
}

/// Takes what one claim's submission must hold, and no more. A submission is checked against
/// its participant's earlier claims and inserts one row: on PostgreSQL it locks the project
/// for key share (submissions do not wait for each other, but verifications, settlements and
/// plans, which lock the project for update, wait for them and they for those) and the
/// participant by name, so that two claims for the same person take turns and each is checked
/// against the other. On SQLite the write transaction already holds the database.
pub fn lock_for_submission(
    conn: &mut DbConn,
    project_id: &str,
    participant_pseudonym: &str,
) -> Result<(), ServiceError> {
    lock_row_for_key_share(conn, LockableTable::Projects, project_id)?;
    lock_name(
        conn,
        &format!("participant:{project_id}:{participant_pseudonym}"),
    )?;
    Ok(())
}

/// Refuses to split money until every payer has accepted its commitment: a commitment binds a
/// payer only once it has agreed it.
pub fn require_agreed(record: &ProjectRecord) -> Result<(), ServiceError> {
    let statuses = record.payers.iter().map(|p| {
        CommitmentStatus::from_db(&p.payer.commitment).unwrap_or(CommitmentStatus::Proposed)
    });
    let waiting: Vec<&str> = record
        .payers
        .iter()
        .filter(|p| p.payer.commitment != CommitmentStatus::Accepted.as_str())
        .map(|p| p.payer.organisation_id.as_str())
        .collect();
    match agreement(statuses) {
        Agreement::Agreed => Ok(()),
        Agreement::Declined => Err(ServiceError::Conflict(format!(
            "a payer has declined its commitment, so the project's claims are never verified (payers not accepted: {})",
            waiting.join(", ")
        ))),
        Agreement::Proposed => Err(ServiceError::Conflict(format!(
            "the project's claims are verified once every payer has accepted its commitment; not yet accepted by {}",
            waiting.join(", ")
        ))),
    }
}

// --- submission -------------------------------------------------------------------------------

/// How a bulk file is taken: `all_or_nothing` (any bad row refuses the whole file) or
/// `accept_valid` (good rows are stored, bad rows reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkMode {
    /// Any bad row refuses the whole file; nothing is stored.
    AllOrNothing,
    /// Good rows are stored; bad rows are reported and left out.
    AcceptValid,
}

/// The result of one submitted row.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RowResult {
    /// 1-based number of the data row (the CSV header is not counted).
    pub row: usize,
    /// Whether the row meets every rule.
    pub status: RowStatus,
    /// The claim stored for the row (`clm_…`); absent when the row was rejected or
    /// nothing was stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim_id: Option<String>,
    /// Every rule the row breaks; absent for an accepted row.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
}

/// Whether a bulk row meets every rule (`accepted`) or breaks one (`rejected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowStatus {
    /// The row meets every rule.
    Accepted,
    /// The row breaks at least one rule; `reasons` says which.
    Rejected,
}

pub struct Submitter<'a> {
    pub subject: &'a str,
    pub organisation_id: &'a str,
    /// When the claims are received.
    pub at: NaiveDateTime,
}

/// Checks every row and stores the acceptable ones as submitted claims. Rows are checked in
/// order against the participant's earlier claims and the rows before them, so a file that
/// repeats a claim is caught too. Returns the per-row results and the claims stored (none
/// when `mode` is all-or-nothing and a row failed).
pub fn submit(
    conn: &mut DbConn,
    rules: &ProjectRules,
    submitter: &Submitter,
    rows: Vec<Result<ClaimInput, Vec<Reason>>>,
    mode: BulkMode,
    pseudonym_key: &[u8],
    upload_id: Option<&str>,
) -> Result<(Vec<RowResult>, Vec<Claim>), ServiceError> {
    let rows = pseudonymise_rows(pseudonym_key, rules.project_id(), rows);
    submit_rows(conn, rules, submitter, rows, mode, upload_id, &|_| {})
}

/// [`submit`] for rows whose participants are already pseudonymised; `progress` is told the
/// rows checked as it goes.
pub fn submit_rows(
    conn: &mut DbConn,
    rules: &ProjectRules,
    submitter: &Submitter,
    rows: Vec<FileRow>,
    mode: BulkMode,
    upload_id: Option<&str>,
    progress: Progress,
) -> Result<(Vec<RowResult>, Vec<Claim>), ServiceError> {
    let project_id = rules.project_id();
    let (rows, pseudonyms): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .map(|r| (r.claim.map(|c| (c, r.participant_reasons)), r.pseudonym))
        .unzip();
    let mut wanted: Vec<&str> = pseudonyms.iter().flatten().map(String::as_str).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut history = load_history(conn, rules, &wanted, &[SUBMITTED, VERIFIED])?;

    let now = submitter.at;
    let mut results = Vec::with_capacity(rows.len());
    let mut accepted = Vec::new();
    for (index, (row, pseudonym)) in rows.into_iter().zip(pseudonyms).enumerate() {
        let row_number = index + 1;
        if row_number % PROGRESS_EVERY == 0 {
            progress(row_number);
        }
        let checked = match (row, pseudonym) {
            (Err(reasons), _) => Err(reasons),
            (Ok((input, mut participant_reasons)), Some(pseudonym)) => {
                let prior = history.get(&pseudonym).map(Vec::as_slice).unwrap_or(&[]);
                match check_row(rules, &input, prior) {
                    Ok(_) if !participant_reasons.is_empty() => Err(participant_reasons),
                    Ok((rule, ok)) => Ok((input, pseudonym, rule, ok)),
                    Err(mut more) => {
                        participant_reasons.append(&mut more);
                        Err(participant_reasons)
                    }
                }
            }
            (Ok(_), None) => unreachable!("every readable row was given a pseudonym"),
        };
        match checked {
            Err(reasons) => results.push(RowResult {
                row: row_number,
                status: RowStatus::Rejected,
                claim_id: None,
                reasons,
            }),
            Ok((input, pseudonym, rule, ok)) => {
                let claim = Claim {
                    id: new_id("clm"),
                    project_id: project_id.to_owned(),
                    outcome_id: rule.id.clone(),
                    outcome_code: rule.code.clone(),
                    participant_pseudonym: pseudonym.clone(),
                    achieved_on: input.achieved_on,
                    period_start: ok.period_start,
                    quantity: ok.quantity,
                    evidence_ref: input.evidence_ref,
                    home_area: input.home_area,
                    age_at_start: input.age_at_start,
                    referred_on: input.referred_on,
                    upload_id: upload_id.map(str::to_owned),
                    status: SUBMITTED.to_owned(),
                    submitted_by: submitter.subject.to_owned(),
                    submitted_by_organisation_id: submitter.organisation_id.to_owned(),
                    submitted_at: now,
                    decided_by: None,
                    decided_at: None,
                    rejection_reason: None,
                    revoked_by: None,
                    revoked_at: None,
                    revocation_reason: None,
                    gross_minor: None,
                    payable_minor: None,
                    paid_units: None,
                    entry_id: None,
                };
                history.entry(pseudonym).or_default().push(PriorClaim {
                    outcome_code: rule.code.clone(),
                    exclusive_group: rule.exclusive_group.clone(),
                    achieved_on: claim.achieved_on,
                    period_start: claim.period_start,
                    quantity: claim.quantity,
                    verified: false,
                });
                results.push(RowResult {
                    row: row_number,
                    status: RowStatus::Accepted,
                    claim_id: Some(claim.id.clone()),
                    reasons: Vec::new(),
                });
                accepted.push(claim);
            }
        }
    }
    let any_rejected = results.iter().any(|r| r.status == RowStatus::Rejected);
    if any_rejected && mode == BulkMode::AllOrNothing {
        for r in &mut results {
            r.claim_id = None;
        }
        return Ok((results, Vec::new()));
    }
    if let Some(upload_id) = upload_id {
        let upload = BulkUpload {
            id: upload_id.to_owned(),
            project_id: project_id.to_owned(),
            submitted_by: submitter.subject.to_owned(),
            mode: match mode {
                BulkMode::AllOrNothing => "all_or_nothing",
                BulkMode::AcceptValid => "accept_valid",
            }
            .to_owned(),
            rows_total: results.len() as i32,
            rows_accepted: accepted.len() as i32,
            rows_rejected: (results.len() - accepted.len()) as i32,
            created_at: now,
        };
        diesel::insert_into(bulk_uploads::table)
            .values(&upload)
            .execute(conn)?;
    }
    insert_rows!(conn, claims::table, &accepted)?;
    progress(results.len());
    Ok((results, accepted))
}

fn check_row<'r>(
    rules: &'r ProjectRules,
    input: &ClaimInput,
    prior: &[PriorClaim],
) -> Result<(&'r OutcomeRule, crate::domain::claims::Accepted), Vec<Reason>> {
    let Some(rule) = rules.outcomes.get(&input.outcome_code) else {
        // The code is not echoed: in a column-shifted file it may be a participant reference.
        return Err(vec![Reason::new(
            "unknown_outcome",
            "outcome_code is not an outcome of this project's rate card",
        )]);
    };
    let mut reasons = Vec::new();
    if rules.has_home_area_payers {
        if let Err(e) = share_weights(&rules.payers, input.achieved_on, input.home_area.as_deref())
        {
            reasons.push(Reason::new("home_area", e.to_string()));
        }
    }
    match check_eligibility(input, rule, &rules.window, prior) {
        Ok(accepted) if reasons.is_empty() => Ok((rule, accepted)),
        Ok(_) => Err(reasons),
        Err(mut more) => {
            reasons.append(&mut more);
            Err(reasons)
        }
    }
}

/// The claims of these participants that are in one of `statuses`, as the rules see them,
/// with what each verified one paid.
fn load_history(
    conn: &mut DbConn,
    rules: &ProjectRules,
    pseudonyms: &[&str],
    statuses: &[&str],
) -> Result<HashMap<String, Vec<PriorClaim>>, ServiceError> {
    Ok(load_history_with_paid(conn, rules, pseudonyms, statuses)?
        .into_iter()
        .map(|(k, v)| (k, v.claims))
        .collect())
}

/// A participant's claims as the rules see them, and what the verified ones paid in all.
#[derive(Debug, Default)]
struct ParticipantHistory {
    claims: Vec<PriorClaim>,
    paid_minor: i64,
}

impl ParticipantHistory {
    fn push(&mut self, claim: PriorClaim, paid_minor: i64) {
        self.claims.push(claim);
        self.paid_minor += paid_minor;
    }
}

type History = HashMap<String, ParticipantHistory>;

/// project, participant, outcome, achieved on, period start, quantity, status, payable
type HistoryRow = (
    String,
    String,
    String,
    NaiveDate,
    NaiveDate,
    i32,
    String,
    Option<i64>,
);

fn load_history_with_paid(
    conn: &mut DbConn,
    rules: &ProjectRules,
    pseudonyms: &[&str],
    statuses: &[&str],
) -> Result<History, ServiceError> {
    // Only the participant index is named in SQL: given the project or the status too, the
    // planner may walk the project's every claim instead. The rest is filtered here.
    let rows: Vec<HistoryRow> = load_where_in!(
        conn,
        claims::table.select((
            claims::project_id,
            claims::participant_pseudonym,
            claims::outcome_code,
            claims::achieved_on,
            claims::period_start,
            claims::quantity,
            claims::status,
            claims::payable_minor,
        )),
        claims::participant_pseudonym,
        "claims.participant_pseudonym",
        pseudonyms
    )?;
    let mut history: History = HashMap::new();
    for (project, pseudonym, code, achieved_on, period_start, quantity, status, payable) in rows {
        if project != rules.project_id() || !statuses.contains(&status.as_str()) {
            continue;
        }
        let exclusive_group = rules
            .outcomes
            .get(&code)
            .and_then(|o| o.exclusive_group.clone());
        history.entry(pseudonym).or_default().push(
            PriorClaim {
                outcome_code: code,
                exclusive_group,
                achieved_on,
                period_start,
                quantity,
                verified: status == VERIFIED,
            },
            payable.unwrap_or(0),
        );
    }
    Ok(history)
}

// --- verification -----------------------------------------------------------------------------

/// The result of verifying one claim.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerifyResult {
    /// The claim (`clm_…`) this result is for.
    pub claim_id: String,
    /// Whether the claim was verified and its allocations posted.
    pub verified: bool,
    /// What the verified claim pays after every adjustment; absent when it was not
    /// verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payable: Option<MoneyJson>,
    /// Why the claim was not verified; absent when it was.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
}

impl VerifyResult {
    fn refused(claim_id: &str, reason: Reason) -> VerifyResult {
        VerifyResult {
            claim_id: claim_id.to_owned(),
            verified: false,
            payable: None,
            reasons: vec![reason],
        }
    }
}

/// Reason code of a claim the decider may not decide (see [`Decider::may_decide`]).
pub const NOT_YOURS_TO_DECIDE: &str = "not_yours_to_decide";
/// Reason code of a claim refused because the submitter tried to verify it.
pub const SEPARATION_OF_DUTIES: &str = "separation_of_duties";

pub struct Verifier<'a> {
    /// The authenticated person (the token's `sub`).
    pub subject: &'a str,
    /// The organisation they act for (none for an admin).
    pub organisation_id: Option<&'a str>,
    /// In what capacity they decide, from [`crate::domain::access::decider`].
    pub capacity: Decider,
    /// When they decide: the time the allocations are posted at.
    pub at: NaiveDateTime,
    /// Told the claims decided so far, as a batch goes.
    pub progress: Option<Progress<'a>>,
}

/// How often, in rows, long work reports its progress.
const PROGRESS_EVERY: usize = 1_000;

/// Running totals of a project while a batch of claims is verified: the stored totals plus
/// what this batch has added so far (`deltas`, written back once at the end).
struct Running {
    stored: HashMap<String, i64>,
    deltas: HashMap<String, i64>,
    history: History,
}

impl Running {
    fn get(&self, name: &str) -> i64 {
        let stored = self.stored.get(name).copied().unwrap_or(0);
        let delta = self.deltas.get(name).copied().unwrap_or(0);
        stored
            .checked_add(delta)
            .expect("running totals are checked before they are added")
    }

    /// Whether every line can be added to its total without overflow, stored or in this batch.
    fn can_add(&self, lines: &[(&str, i64)]) -> bool {
        lines.iter().all(|(name, amount)| {
            let delta = self.deltas.get(*name).copied().unwrap_or(0);
            delta
                .checked_add(*amount)
                .and_then(|d| d.checked_add(self.stored.get(*name).copied().unwrap_or(0)))
                .is_some()
        })
    }

    fn add(&mut self, name: &str, amount: i64) {
        let total = self.deltas.entry(name.to_owned()).or_insert(0);
        *total = total.checked_add(amount).expect("checked by can_add");
    }
}

fn units_total(outcome_code: &str) -> String {
    format!("units:{outcome_code}")
}

/// Verifies the given submitted claims of one project: prices each, splits it between the
/// payers and posts the allocations and ledger entries. Claims are taken in achievement-date
/// order, so that a ladder's earlier rung is paid before the later one in the same batch.
pub fn verify(
    conn: &mut DbConn,
    rules: &ProjectRules,
    verifier: &Verifier,
    claim_ids: &[String],
) -> Result<Vec<VerifyResult>, ServiceError> {
    let found: Vec<Claim> = load_where_in!(
        conn,
        claims::table.select(Claim::as_select()),
        claims::id,
        "claims.id",
        claim_ids
    )?;
    verify_found(conn, rules, verifier, claim_ids, found)
}

/// Verifies every claim of one bulk upload, as [`verify`] does; returns the upload's claim ids
/// with the results.
pub fn verify_upload(
    conn: &mut DbConn,
    rules: &ProjectRules,
    verifier: &Verifier,
    upload_id: &str,
) -> Result<(Vec<String>, Vec<VerifyResult>), ServiceError> {
    // By the upload index alone (the planner might otherwise walk the project's claims); an
    // upload of another project is as good as none, and its claims are not named.
    let mut found: Vec<Claim> = claims::table
        .filter(claims::upload_id.eq(upload_id))
        .select(Claim::as_select())
        .load(conn)?;
    found.retain(|c| c.project_id == rules.project_id());
    let claim_ids: Vec<String> = found.iter().map(|c| c.id.clone()).collect();
    let results = verify_found(conn, rules, verifier, &claim_ids, found)?;
    Ok((claim_ids, results))
}

/// `found`: the stored claims among `claim_ids`, in any order.
fn verify_found(
    conn: &mut DbConn,
    rules: &ProjectRules,
    verifier: &Verifier,
    claim_ids: &[String],
    mut found: Vec<Claim>,
) -> Result<Vec<VerifyResult>, ServiceError> {
    let started = std::time::Instant::now();
    rules.check_agreed()?;
    // Filtered here rather than in SQL, where the planner may prefer a project index over
    // the primary key and scan the project's every claim.
    found.retain(|c| c.project_id == rules.project_id());
    let (mut results, todo) = triage(claim_ids, &found, verifier);
    let mut batch = Batch::start(conn, rules, &todo, verifier.at)?;
    let loaded = started.elapsed();
    for (n, claim) in todo.into_iter().enumerate() {
        let result = batch.decide(claim, verifier)?;
        results.insert(claim.id.clone(), result);
        if let Some(progress) = verifier.progress.filter(|_| (n + 1) % PROGRESS_EVERY == 0) {
            progress(n + 1);
        }
    }
    let decided = started.elapsed();
    // Caps crossed by this batch are told once, from the totals before and after it.
    let verified_any = !batch.decisions.is_empty();
    let before = batch.running.stored.clone();
    batch.post(conn, verifier.subject)?;
    if verified_any {
        let after = queries::running_totals(conn, rules.project_id())?;
        super::notices::cap_crossings(conn, &rules.record, &before, &after, verifier.at)?;
    }
    tracing::debug!(
        claims = claim_ids.len(),
        load_ms = loaded.as_millis() as u64,
        decide_ms = (decided - loaded).as_millis() as u64,
        post_ms = (started.elapsed() - decided).as_millis() as u64,
        "verification batch posted"
    );
    Ok(claim_ids
        .iter()
        .filter_map(|id| results.remove(id))
        .collect())
}

/// Sorts the requested claims into those refused outright (missing, not submitted, submitted
/// by the verifier) and those to price, in pricing order: achievement date, then submission.
fn triage<'c>(
    claim_ids: &[String],
    found: &'c [Claim],
    verifier: &Verifier,
) -> (HashMap<String, VerifyResult>, Vec<&'c Claim>) {
    let by_id: HashMap<&str, &Claim> = found.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut refused = HashMap::new();
    let mut todo: Vec<&Claim> = Vec::new();
    let mut queued: HashSet<&str> = HashSet::new();
    for id in claim_ids {
        let reason = match by_id.get(id.as_str()) {
            None => Reason::new("not_found", "no such claim on this project"),
            Some(c) if c.status != SUBMITTED => Reason::new(
                "not_submitted",
                format!("the claim is {}, not submitted", c.status),
            ),
            // The same person, whatever role or organisation they now act for; or the same
            // organisation, whoever acts for it.
            Some(c)
                if c.submitted_by == verifier.subject
                    || verifier.organisation_id
                        == Some(c.submitted_by_organisation_id.as_str()) =>
            {
                Reason::new(
                    SEPARATION_OF_DUTIES,
                    "the person or organisation that submitted a claim cannot verify it",
                )
            }
            Some(c) => {
                if queued.insert(c.id.as_str()) {
                    todo.push(c);
                }
                continue;
            }
        };
        refused.insert(id.clone(), VerifyResult::refused(id, reason));
    }
    todo.sort_by(|a, b| {
        a.achieved_on
            .cmp(&b.achieved_on)
            .then(a.submitted_at.cmp(&b.submitted_at))
            .then(a.id.cmp(&b.id))
    });
    (refused, todo)
}

/// One verification batch: the project's running totals and the participants' histories as
/// the batch goes, and the rows it will post.
struct Batch<'r> {
    rules: &'r ProjectRules,
    accounts: ProjectAccounts,
    units_names: HashMap<&'r str, String>,
    running: Running,
    now: NaiveDateTime,
    adjustments: Vec<ClaimAdjustment>,
    allocations: Vec<NewAllocation>,
    entries: Vec<LedgerEntry>,
    decisions: Vec<(String, Pricing, String)>,
}

impl<'r> Batch<'r> {
    fn start(
        conn: &mut DbConn,
        rules: &'r ProjectRules,
        todo: &[&Claim],
        now: NaiveDateTime,
    ) -> Result<Self, ServiceError> {
        let mut pseudonyms: Vec<&str> = todo
            .iter()
            .map(|c| c.participant_pseudonym.as_str())
            .collect();
        pseudonyms.sort_unstable();
        pseudonyms.dedup();
        let project_id = rules.project_id();
        Ok(Batch {
            rules,
            accounts: ProjectAccounts::new(
                project_id,
                rules.record.payers.iter().map(|p| p.payer.id.as_str()),
            ),
            units_names: rules
                .outcomes
                .keys()
                .map(|code| (code.as_str(), units_total(code)))
                .collect(),
            running: Running {
                stored: queries::running_totals(conn, project_id)?,
                deltas: HashMap::new(),
                history: load_history_with_paid(conn, rules, &pseudonyms, &[VERIFIED])?,
            },
            now,
            adjustments: Vec::new(),
            allocations: Vec::new(),
            entries: Vec::new(),
            decisions: Vec::new(),
        })
    }

    /// Prices and splits one claim against the totals so far and records its rows, or says
    /// why it is refused (nothing is recorded then).
    fn decide(&mut self, claim: &Claim, verifier: &Verifier) -> Result<VerifyResult, ServiceError> {
        let rules = self.rules;
        let rule = rules.outcomes.get(&claim.outcome_code).ok_or_else(|| {
            ServiceError::Internal(format!("claim {} names a missing outcome", claim.id))
        })?;
        let (pricing, parts) = match self.price_and_split(claim, rule, verifier) {
            Ok(decided) => decided,
            Err(reason) => return Ok(VerifyResult::refused(&claim.id, reason)),
        };
        self.record(claim, rule, pricing, &parts);
        let payable = self.decisions.last().map_or(0, |d| d.1.payable_minor);
        Ok(VerifyResult {
            claim_id: claim.id.clone(),
            verified: true,
            payable: Some(MoneyJson::from_minor(
                payable,
                &rules.record.project.currency,
            )),
            reasons: Vec::new(),
        })
    }

    fn price_and_split(
        &self,
        claim: &Claim,
        rule: &OutcomeRule,
        verifier: &Verifier,
    ) -> Result<(Pricing, Vec<PayerPart>), Reason> {
        let rules = self.rules;
        let project = &rules.record.project;
        let no_history = ParticipantHistory::default();
        let history = self
            .running
            .history
            .get(&claim.participant_pseudonym)
            .unwrap_or(&no_history);
        prerequisite_met(rule, claim.achieved_on, &history.claims, true)?;
        let weights = share_weights(&rules.payers, claim.achieved_on, claim.home_area.as_deref())
            .map_err(|e| Reason::new("home_area", e.to_string()))?;
        if !verifier.capacity.may_decide(&weights) {
            return Err(Reason::new(NOT_YOURS_TO_DECIDE, not_yours_to_decide()));
        }
        let paid = PaidSoFar {
            outcome_units: self
                .running
                .get(&self.units_names[claim.outcome_code.as_str()]),
            participant_minor: history.paid_minor,
            // The provider's account is credited (negative) with what verified claims pay.
            project_minor: self.running.get(&self.accounts.provider).saturating_neg(),
        };
        let pricing = price_claim(
            rule,
            claim.quantity,
            project.participant_cap_minor,
            project.max_outcome_payment_minor,
            paid,
            |m| rules.money(m),
        )?;
        let headroom: Vec<i64> = rules
            .record
            .payers
            .iter()
            .zip(&self.accounts.payers)
            .map(|(p, (account, _))| {
                p.payer
                    .max_commitment_minor
                    .saturating_sub(self.running.get(account))
            })
            .collect();
        let parts = if pricing.payable_minor > 0 && weights.iter().any(|w| *w > 0) {
            split(pricing.payable_minor, &weights, &headroom, rules.cap_policy)
        } else {
            vec![PayerPart::default(); weights.len()]
        };
        // Where money moves: the parts place exactly the payable amount, within every cap.
        let placed: i128 = parts
            .iter()
            .map(|p| i128::from(p.allocated) + i128::from(p.shortfall))
            .sum();
        assert!(
            placed == i128::from(pricing.payable_minor) || weights.iter().all(|w| *w == 0),
            "claim {}: split placed {placed} of {}",
            claim.id,
            pricing.payable_minor
        );
        for (part, room) in parts.iter().zip(&headroom) {
            assert!(part.allocated >= 0 && part.shortfall >= 0 && part.allocated <= (*room).max(0));
        }
        let mut lines = self.accounts.entry_lines(&parts);
        let units = self.units_names[claim.outcome_code.as_str()].as_str();
        lines.push((units, i64::from(pricing.paid_units)));
        if !self.running.can_add(&lines) {
            return Err(Reason::new(
                "amount_out_of_range",
                "paying this claim would take the project's running totals beyond the amounts cofund can hold",
            ));
        }
        Ok((pricing, parts))
    }

    /// Records a decided claim's rows and adds it to the running totals and its participant's
    /// history, so that the next claim of the batch is priced after it.
    fn record(&mut self, claim: &Claim, rule: &OutcomeRule, pricing: Pricing, parts: &[PayerPart]) {
        let project_id = self.rules.project_id();
        let entry_id = new_id("ent");
        for (position, adjustment) in pricing.adjustments.iter().enumerate() {
            self.adjustments.push(ClaimAdjustment {
                claim_id: claim.id.clone(),
                position: position as i32,
                kind: adjustment.kind.as_str().to_owned(),
                amount_minor: adjustment.amount_minor,
                detail: adjustment.detail.clone(),
            });
        }
        for (payer, part) in self.rules.record.payers.iter().zip(parts) {
            if part.allocated == 0 && part.shortfall == 0 {
                continue;
            }
            self.allocations.push(NewAllocation {
                entry_id: entry_id.clone(),
                claim_id: claim.id.clone(),
                project_id: project_id.to_owned(),
                payer_id: payer.payer.id.clone(),
                payer_organisation_id: payer.payer.organisation_id.clone(),
                amount_minor: part.allocated,
                shortfall_minor: part.shortfall,
                achieved_on: claim.achieved_on,
                posted_at: self.now,
                reverses_id: None,
                outcome_code: claim.outcome_code.clone(),
            });
        }
        for (account, amount) in self.accounts.entry_lines(parts) {
            self.running.add(account, amount);
        }
        self.running.add(
            &self.units_names[claim.outcome_code.as_str()].clone(),
            i64::from(pricing.paid_units),
        );
        self.entries.push(LedgerEntry {
            id: entry_id.clone(),
            claim_id: claim.id.clone(),
            project_id: project_id.to_owned(),
            provider_amount_minor: provider_amount(parts),
            posted_at: self.now,
            reverses_entry_id: None,
        });
        self.running
            .history
            .entry(claim.participant_pseudonym.clone())
            .or_default()
            .push(
                PriorClaim {
                    outcome_code: claim.outcome_code.clone(),
                    exclusive_group: rule.exclusive_group.clone(),
                    achieved_on: claim.achieved_on,
                    period_start: claim.period_start,
                    quantity: claim.quantity,
                    verified: true,
                },
                pricing.payable_minor,
            );
        self.decisions.push((claim.id.clone(), pricing, entry_id));
    }

    /// Writes the batch: claims marked verified, adjustments, entries, allocations, totals.
    fn post(self, conn: &mut DbConn, verified_by: &str) -> Result<(), ServiceError> {
        let verified: Vec<VerifiedClaim> = self
            .decisions
            .iter()
            .map(|(id, pricing, entry)| VerifiedClaim {
                id,
                gross_minor: pricing.gross_minor,
                payable_minor: pricing.payable_minor,
                paid_units: pricing.paid_units,
                entry_id: entry,
            })
            .collect();
        let started = std::time::Instant::now();
        mark_claims_verified(conn, verified_by, self.now, &verified)?;
        let marked = started.elapsed();
        insert_rows!(conn, claim_adjustments::table, &self.adjustments)?;
        insert_rows!(conn, ledger_entries::table, &self.entries)?;
        let entered = started.elapsed();
        insert_rows!(conn, allocations::table, &self.allocations)?;
        let allocated = started.elapsed();
        queries::add_running_totals(conn, self.rules.project_id(), &self.running.deltas)?;
        tracing::debug!(
            mark_ms = marked.as_millis() as u64,
            entries_ms = (entered - marked).as_millis() as u64,
            allocations_ms = (allocated - entered).as_millis() as u64,
            totals_ms = (started.elapsed() - allocated).as_millis() as u64,
            "verification batch written"
        );
        Ok(())
    }
}

// --- rejection and revocation -----------------------------------------------------------------

/// Refuses a decider that may not decide this claim: a lead commissioner that pays none of it
/// (see [`Decider::may_decide`]).
pub fn check_decider(
    rules: &ProjectRules,
    capacity: Decider,
    claim: &Claim,
) -> Result<(), ServiceError> {
    let weights = share_weights(&rules.payers, claim.achieved_on, claim.home_area.as_deref())
        .unwrap_or_else(|_| vec![0; rules.payers.len()]);
    if capacity.may_decide(&weights) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(not_yours_to_decide().into()))
    }
}

pub fn reject(
    conn: &mut DbConn,
    claim: &Claim,
    by: &str,
    reason: &str,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    if claim.status != SUBMITTED {
        return Err(ServiceError::Conflict(format!(
            "the claim is {}: only a submitted claim can be rejected",
            claim.status
        )));
    }
    diesel::update(claims::table.find(&claim.id))
        .set((
            claims::status.eq(REJECTED),
            claims::decided_by.eq(by),
            claims::decided_at.eq(now),
            claims::rejection_reason.eq(reason),
        ))
        .execute(conn)?;
    super::notices::claim_rejected(conn, claim, reason, now)?;
    Ok(())
}

/// Reverses a verified claim: a new entry undoes its verification entry, each allocation by a
/// new line with the opposite amounts; nothing is edited or deleted.
pub fn revoke(
    conn: &mut DbConn,
    claim: &Claim,
    by: &str,
    reason: &str,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    if claim.status != VERIFIED {
        return Err(ServiceError::Conflict(format!(
            "the claim is {}: only a verified claim can be revoked",
            claim.status
        )));
    }
    let entry_id = new_id("ent");
    let original: Vec<Allocation> = allocations::table
        .filter(allocations::claim_id.eq(&claim.id))
        .filter(allocations::reverses_id.is_null())
        .select(Allocation::as_select())
        .load(conn)?;
    let reversals: Vec<NewAllocation> = original
        .iter()
        .map(|a| NewAllocation {
            entry_id: entry_id.clone(),
            claim_id: a.claim_id.clone(),
            project_id: a.project_id.clone(),
            payer_id: a.payer_id.clone(),
            payer_organisation_id: a.payer_organisation_id.clone(),
            amount_minor: -a.amount_minor,
            shortfall_minor: -a.shortfall_minor,
            achieved_on: a.achieved_on,
            posted_at: now,
            reverses_id: Some(a.id),
            outcome_code: a.outcome_code.clone(),
        })
        .collect();
    let accounts = ProjectAccounts::new(
        &claim.project_id,
        original.iter().map(|a| a.payer_id.as_str()),
    );
    let reversed_parts: Vec<PayerPart> = reversals
        .iter()
        .map(|r| PayerPart {
            allocated: r.amount_minor,
            shortfall: r.shortfall_minor,
        })
        .collect();
    let entry = LedgerEntry {
        id: entry_id,
        claim_id: claim.id.clone(),
        project_id: claim.project_id.clone(),
        provider_amount_minor: provider_amount(&reversed_parts),
        posted_at: now,
        reverses_entry_id: claim.entry_id.clone(),
    };
    let mut deltas: HashMap<String, i64> = HashMap::new();
    for (account, amount) in accounts.entry_lines(&reversed_parts) {
        *deltas.entry(account.to_owned()).or_default() += amount;
    }
    *deltas.entry(units_total(&claim.outcome_code)).or_default() -=
        i64::from(claim.paid_units.unwrap_or(0));
    diesel::insert_into(ledger_entries::table)
        .values(&entry)
        .execute(conn)?;
    insert_rows!(conn, allocations::table, &reversals)?;
    queries::add_running_totals(conn, &claim.project_id, &deltas)?;
    diesel::update(claims::table.find(&claim.id))
        .set((
            claims::status.eq(REVOKED),
            claims::revoked_by.eq(by),
            claims::revoked_at.eq(now),
            claims::revocation_reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(())
}
