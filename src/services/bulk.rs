//! Bulk work on claims, one use case each, run alike by a request and by a job: a file of
//! claims submitted, and many claims verified. Each runs in the caller's write transaction, so
//! that all of it is applied or none.

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::queries;
use crate::db::DbConn;
use crate::domain::access::{decider, may_submit, Principal, Role};
use crate::domain::claims::{participant_ref_reasons, ClaimInput, Reason};
use crate::services::access::{load_visible, VisibleProject};
use crate::services::claims::{
    self as claims, lock_project, BulkMode, ProjectRules, RowResult, RowStatus, Submitter,
    Verifier, VerifyResult,
};
use crate::services::error::ServiceError;

/// Told how many rows are done so far, as the work goes.
pub type Progress<'a> = &'a (dyn Fn(usize) + Sync);

/// What became of a bulk file, row by row.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::bulk_report)]
pub struct BulkReport {
    /// The upload's id (`upl_…`), which verifyClaims takes; null when an all-or-nothing file was
    /// refused.
    pub upload_id: Option<String>,
    /// How the file was taken.
    pub mode: BulkMode,
    /// How many claim rows the file held.
    pub rows: usize,
    /// Rows that meet every rule.
    pub accepted: usize,
    /// Rows that break at least one rule.
    pub rejected: usize,
    /// Claims stored: `accepted`, or none when an all-or-nothing file had a bad row.
    pub stored: usize,
    /// Every row's result, in file order.
    pub results: Vec<RowResult>,
}

/// What verifying many claims did, claim by claim.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::bulk_verify_report)]
pub struct BulkVerifyReport {
    /// How many claims were asked for: the `claim_ids` given, or every claim of the upload.
    pub requested: usize,
    /// How many were verified.
    pub verified: usize,
    /// How many were not verified; `results` says why.
    pub refused: usize,
    /// Every requested claim's result, in the order of `claim_ids` when they were given.
    pub results: Vec<VerifyResult>,
}

/// One row of a bulk file, its participant already pseudonymised (the reference itself is
/// blanked): what a job stores and the submission reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileRow {
    /// The claim, or why the row could not be read as one.
    pub claim: Result<ClaimInput, Vec<Reason>>,
    /// The participant's pseudonym; none for a row that could not be read.
    pub pseudonym: Option<String>,
    /// What is wrong with the participant reference, found before it was forgotten.
    pub participant_reasons: Vec<Reason>,
}

/// Pseudonymises each readable row's participant under the project, and forgets the reference.
pub fn pseudonymise_rows(
    key: &[u8],
    project_id: &str,
    rows: Vec<Result<ClaimInput, Vec<Reason>>>,
) -> Vec<FileRow> {
    rows.into_iter()
        .map(|row| match row {
            Ok(mut claim) => {
                let reference = std::mem::take(&mut claim.participant_ref);
                let pseudonym = crate::domain::pseudonym::pseudonymise(key, project_id, &reference);
                FileRow {
                    claim: Ok(claim),
                    pseudonym: Some(pseudonym),
                    participant_reasons: participant_ref_reasons(&reference),
                }
            }
            Err(reasons) => FileRow {
                claim: Err(reasons),
                pseudonym: None,
                participant_reasons: Vec::new(),
            },
        })
        .collect()
}

/// The project, for its own provider only.
pub fn project_for_provider(
    conn: &mut DbConn,
    principal: &Principal,
    project_id: &str,
) -> Result<VisibleProject, ServiceError> {
    principal.require(&[Role::Provider])?;
    let project = load_visible(conn, principal, project_id)?;
    may_submit(principal, &project.parties())?;
    Ok(project)
}

/// Checks a bulk file and stores its acceptable rows under one upload, as its provider sends
/// it at `at`. An all-or-nothing file with a bad row is refused
/// ([`ServiceError::BulkRejected`], with the report): the caller's transaction stores nothing.
pub fn submit_file(
    conn: &mut DbConn,
    who: &Principal,
    project_id: &str,
    rows: Vec<FileRow>,
    mode: BulkMode,
    at: NaiveDateTime,
    progress: Progress,
) -> Result<BulkReport, ServiceError> {
    lock_project(conn, project_id)?;
    let project = project_for_provider(conn, who, project_id)?;
    let rules = ProjectRules::new(project.record, at.date())?;
    let submitter = Submitter {
        subject: &who.subject,
        organisation_id: who.organisation_id.as_deref().unwrap_or(""),
        at,
    };
    let upload_id = queries::new_id("upl");
    let (results, stored) = claims::submit_rows(
        conn,
        &rules,
        &submitter,
        rows,
        mode,
        Some(&upload_id),
        progress,
    )?;
    let rejected = results
        .iter()
        .filter(|r| r.status == RowStatus::Rejected)
        .count();
    let report = BulkReport {
        // The upload is recorded unless an all-or-nothing file was refused.
        upload_id: (mode == BulkMode::AcceptValid || rejected == 0).then_some(upload_id),
        mode,
        rows: results.len(),
        accepted: results.len() - rejected,
        rejected,
        stored: stored.len(),
        results,
    };
    tracing::info!(project_id = %project_id, rows = report.rows, accepted = report.accepted, rejected = report.rejected, "bulk claims checked");
    if mode == BulkMode::AllOrNothing && rejected > 0 {
        return Err(ServiceError::BulkRejected(Box::new(report)));
    }
    Ok(report)
}

/// Which claims to verify: those named, or every claim of one upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyTarget {
    Claims(Vec<String>),
    Upload(String),
}

/// Verifies many claims of one project, as its deciders may, at `at`.
pub fn verify_claims(
    conn: &mut DbConn,
    who: &Principal,
    project_id: &str,
    target: &VerifyTarget,
    at: NaiveDateTime,
    progress: Progress,
) -> Result<BulkVerifyReport, ServiceError> {
    lock_project(conn, project_id)?;
    let project = load_visible(conn, who, project_id)?;
    let verifier = Verifier {
        subject: &who.subject,
        organisation_id: who.organisation_id.as_deref(),
        capacity: decider(who, &project.parties())?,
        at,
        progress: Some(progress),
    };
    let rules = ProjectRules::new(project.record, at.date())?;
    let (ids, results) = match target {
        VerifyTarget::Claims(ids) => {
            let results = claims::verify(conn, &rules, &verifier, ids)?;
            (ids.clone(), results)
        }
        VerifyTarget::Upload(upload) => claims::verify_upload(conn, &rules, &verifier, upload)?,
    };
    let verified = results.iter().filter(|r| r.verified).count();
    tracing::info!(project_id = %project_id, requested = ids.len(), verified, "claims verified");
    Ok(BulkVerifyReport {
        requested: ids.len(),
        verified,
        refused: results.len() - verified,
        results,
    })
}
