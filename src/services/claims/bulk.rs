//! Bulk work on claims, one use case each, run alike by a request and by a job: a file of
//! claims submitted, and many claims verified. Each runs in the caller's write transaction, so
//! that all of it is applied or none.

use crate::domain::ids::{ClaimId, ProjectId, UploadId};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::rules::{lock_project, project_for_provider, ProjectRules};
use super::submit::{submit_rows, Submitter};
use super::verify::{verify, verify_upload, Verifier};
use crate::db::queries;
use crate::db::{write_tx, DbConn};
use crate::domain::access::{decider, Principal};
use crate::domain::claim_reports::{
    BulkMode, BulkReport, BulkVerifyReport, FileRow, Progress, RowStatus,
};
use crate::services::access::load_visible;
use crate::services::error::ServiceError;

/// Checks a bulk file and stores its acceptable rows under one upload, as its provider sends
/// it at `at`. An all-or-nothing file with a bad row is refused
/// ([`ServiceError::BulkRejected`], with the report): the caller's transaction stores nothing.
pub fn submit_file(
    conn: &mut DbConn,
    who: &Principal,
    project_id: &ProjectId,
    rows: Vec<FileRow>,
    mode: BulkMode,
    at: NaiveDateTime,
    progress: Progress,
) -> Result<BulkReport, ServiceError> {
    lock_project(conn, project_id)?;
    let project = project_for_provider(conn, who, project_id)?;
    let rules = ProjectRules::new(project.record, at.date())?;
    let submitter = Submitter::member(who, at)?;
    let upload_id = UploadId::from(queries::new_id("upl"));
    let (results, stored) = submit_rows(
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
    Claims(Vec<ClaimId>),
    Upload(UploadId),
}

/// Verifies many claims of one project, as its deciders may, at `at`.
pub fn verify_claims(
    conn: &mut DbConn,
    who: &Principal,
    project_id: &ProjectId,
    target: &VerifyTarget,
    at: NaiveDateTime,
    progress: Progress,
) -> Result<BulkVerifyReport, ServiceError> {
    lock_project(conn, project_id)?;
    let project = load_visible(conn, who, project_id)?;
    let verifier = Verifier {
        subject: who.subject(),
        organisation_id: who.organisation(),
        capacity: decider(who, &project.parties())?,
        at,
        progress: Some(progress),
    };
    let rules = ProjectRules::new(project.record, at.date())?;
    let (ids, results) = match target {
        VerifyTarget::Claims(ids) => {
            let results = verify(conn, &rules, &verifier, ids)?;
            (ids.clone(), results)
        }
        VerifyTarget::Upload(upload) => verify_upload(conn, &rules, &verifier, upload)?,
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

/// The use case "verify many claims now": [`verify_claims`] in its own write transaction, so
/// that every claim is verified or none.
pub fn verify_now(
    conn: &mut DbConn,
    who: &Principal,
    project_id: &ProjectId,
    target: &VerifyTarget,
    at: NaiveDateTime,
) -> Result<BulkVerifyReport, ServiceError> {
    write_tx(conn, |conn| {
        verify_claims(conn, who, project_id, target, at, &|_| {})
    })
}

/// How many claims `target` names: the ids given, or the claims of the upload.
pub fn claims_named(conn: &mut DbConn, target: &VerifyTarget) -> Result<usize, ServiceError> {
    match target {
        VerifyTarget::Claims(ids) => Ok(ids.len()),
        VerifyTarget::Upload(upload) => Ok(queries::claims::upload_claim_count(conn, upload)?),
    }
}
