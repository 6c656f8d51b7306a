//! Submitting claims: every row checked against the rate card and the participant's history.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::rules::{lock_for_submission, project_for_provider, ProjectRules};
use super::seen::{seen_with, SeenClaim};
use crate::clock::Clock;
use crate::db::bulk::load_where_in;
use crate::db::models::*;
use crate::db::queries::{insert_rows, new_id};
use crate::db::schema::*;
use crate::db::DbConn;
use crate::domain::access::Principal;
use crate::domain::claim_reports::{
    pseudonymise_rows, BulkMode, FileRow, Progress, RowResult, RowStatus, PROGRESS_EVERY,
};
use crate::domain::claims::ClaimStatus;
use crate::domain::claims::{
    check_eligibility, Accepted, ClaimInput, OutcomeRule, PriorClaim, Reason,
};
use crate::domain::ids::{ClaimId, OrganisationId, ProjectId, UploadId};
use crate::domain::money::Minor;
use crate::domain::pseudonym::pseudonymise;
use crate::domain::split::share_weights;
use crate::services::error::ServiceError;

pub struct Submitter<'a> {
    pub subject: &'a str,
    pub organisation_id: &'a OrganisationId,
    /// When the claims are received.
    pub at: NaiveDateTime,
}

impl<'a> Submitter<'a> {
    /// The member submitting: callers have asked `domain::access::may_submit` first, which
    /// lets only the project's provider's members submit (an admin is refused here too).
    pub fn member(principal: &'a Principal, at: NaiveDateTime) -> Result<Self, ServiceError> {
        let (_, organisation_id) = principal.member().ok_or_else(|| {
            ServiceError::Forbidden("only the project's provider may submit its claims".into())
        })?;
        Ok(Submitter {
            subject: principal.subject(),
            organisation_id,
            at,
        })
    }
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
    upload_id: Option<&UploadId>,
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
    upload_id: Option<&UploadId>,
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
    let mut history = load_history(
        conn,
        rules,
        &wanted,
        &[ClaimStatus::Submitted, ClaimStatus::Verified],
    )?;

    let mut results = Vec::with_capacity(rows.len());
    let mut accepted = Vec::new();
    for (index, (row, pseudonym)) in rows.into_iter().zip(pseudonyms).enumerate() {
        let row_number = index + 1;
        if row_number % PROGRESS_EVERY == 0 {
            progress(row_number);
        }
        match check_file_row(rules, row, pseudonym, &history) {
            Err(reasons) => results.push(RowResult {
                row: row_number,
                status: RowStatus::Rejected,
                claim_id: None,
                reasons,
            }),
            Ok((input, pseudonym, rule, ok)) => {
                let claim = new_claim(
                    project_id,
                    (input, &pseudonym, rule, ok),
                    submitter,
                    upload_id,
                );
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
        let counts = (results.len(), accepted.len());
        record_upload(conn, (upload_id, project_id), submitter, mode, counts)?;
    }
    insert_rows!(conn, claims::table, &accepted)?;
    progress(results.len());
    Ok((results, accepted))
}

/// The rate card's verdict on one row of a file, with the reasons its participant reference
/// was refused (if any) first; a row that could not be read keeps its own reasons.
#[allow(clippy::type_complexity)]
fn check_file_row<'r>(
    rules: &'r ProjectRules,
    row: Result<(ClaimInput, Vec<Reason>), Vec<Reason>>,
    pseudonym: Option<String>,
    history: &HashMap<String, Vec<PriorClaim>>,
) -> Result<(ClaimInput, String, &'r OutcomeRule, Accepted), Vec<Reason>> {
    match (row, pseudonym) {
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
    }
}

/// A submitted claim from a row the rate card accepted.
fn new_claim(
    project_id: &ProjectId,
    (input, pseudonym, rule, ok): (ClaimInput, &str, &OutcomeRule, Accepted),
    submitter: &Submitter,
    upload_id: Option<&UploadId>,
) -> Claim {
    Claim {
        id: ClaimId::from(new_id("clm")),
        project_id: project_id.to_owned(),
        outcome_id: rule.id.clone(),
        outcome_code: rule.code.clone(),
        participant_pseudonym: pseudonym.to_owned(),
        achieved_on: input.achieved_on,
        period_start: ok.period_start,
        quantity: ok.quantity,
        evidence_ref: input.evidence_ref,
        home_area: input.home_area,
        age_at_start: input.age_at_start,
        referred_on: input.referred_on,
        upload_id: upload_id.cloned(),
        status: ClaimStatus::Submitted,
        submitted_by: submitter.subject.to_owned(),
        submitted_by_organisation_id: submitter.organisation_id.clone(),
        submitted_at: submitter.at,
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
    }
}

/// Records a bulk upload with its row counts (rows, accepted).
fn record_upload(
    conn: &mut DbConn,
    (upload_id, project_id): (&UploadId, &ProjectId),
    submitter: &Submitter,
    mode: BulkMode,
    (rows, accepted): (usize, usize),
) -> Result<(), ServiceError> {
    let upload = BulkUpload {
        id: upload_id.clone(),
        project_id: project_id.clone(),
        submitted_by: submitter.subject.to_owned(),
        mode: match mode {
            BulkMode::AllOrNothing => "all_or_nothing",
            BulkMode::AcceptValid => "accept_valid",
        }
        .to_owned(),
        rows_total: rows as i32,
        rows_accepted: accepted as i32,
        rows_rejected: (rows - accepted) as i32,
        created_at: submitter.at,
    };
    diesel::insert_into(bulk_uploads::table)
        .values(&upload)
        .execute(conn)?;
    Ok(())
}

fn check_row<'r>(
    rules: &'r ProjectRules,
    input: &ClaimInput,
    prior: &[PriorClaim],
) -> Result<(&'r OutcomeRule, Accepted), Vec<Reason>> {
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
pub(super) fn load_history(
    conn: &mut DbConn,
    rules: &ProjectRules,
    pseudonyms: &[&str],
    statuses: &[ClaimStatus],
) -> Result<HashMap<String, Vec<PriorClaim>>, ServiceError> {
    Ok(load_history_with_paid(conn, rules, pseudonyms, statuses)?
        .into_iter()
        .map(|(k, v)| (k, v.claims))
        .collect())
}

/// A participant's claims as the rules see them, and what the verified ones paid in all.
#[derive(Debug, Default)]
pub(super) struct ParticipantHistory {
    pub(super) claims: Vec<PriorClaim>,
    pub(super) paid_minor: Minor,
}

impl ParticipantHistory {
    pub(super) fn push(&mut self, claim: PriorClaim, paid_minor: Minor) {
        self.claims.push(claim);
        self.paid_minor += paid_minor;
    }
}

pub(super) type History = HashMap<String, ParticipantHistory>;

/// project, participant, outcome, achieved on, period start, quantity, status, payable
type HistoryRow = (
    ProjectId,
    String,
    String,
    NaiveDate,
    NaiveDate,
    i32,
    ClaimStatus,
    Option<Minor>,
);

pub(super) fn load_history_with_paid(
    conn: &mut DbConn,
    rules: &ProjectRules,
    pseudonyms: &[&str],
    statuses: &[ClaimStatus],
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
        if &project != rules.project_id() || !statuses.contains(&status) {
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
                verified: status == ClaimStatus::Verified,
            },
            payable.unwrap_or(Minor::ZERO),
        );
    }
    Ok(history)
}

/// The use case "submit one claim": the project's provider submits `input`, checked against
/// the rate card and the participant's earlier claims, and sees the claim as stored. A claim
/// the rules refuse is [`ServiceError::ClaimRefused`] with every reason, and nothing is stored.
/// It runs in the caller's write transaction, which a retried request shares (see
/// [`crate::services::idempotency`]).
pub fn submit_one(
    conn: &mut DbConn,
    principal: &Principal,
    project_id: &ProjectId,
    input: ClaimInput,
    pseudonym_key: &[u8],
    clock: &Clock,
) -> Result<SeenClaim, ServiceError> {
    let pseudonym = pseudonymise(pseudonym_key, project_id, &input.participant_ref);
    lock_for_submission(conn, project_id, &pseudonym)?;
    let project = project_for_provider(conn, principal, project_id)?;
    let money = project.money(principal);
    let currency = project.record.project.currency.clone();
    let rules = ProjectRules::new(project.record, clock.today())?;
    let submitter = Submitter::member(principal, clock.now())?;
    let rows = vec![Ok(input)];
    let mode = BulkMode::AllOrNothing;
    let (mut results, mut stored) =
        submit(conn, &rules, &submitter, rows, mode, pseudonym_key, None)?;
    match stored.pop() {
        Some(claim) => seen_with(conn, claim, currency, money),
        None => Err(ServiceError::ClaimRefused(
            results.pop().map(|r| r.reasons).unwrap_or_default(),
        )),
    }
}
