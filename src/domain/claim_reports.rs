//! What the claim use cases answer, row by row and claim by claim: the types a request, a job
//! and the API serialise. Data only (and the pseudonymisation of a file's rows), so that the
//! service errors may carry a refused file's report without a circle.

use crate::domain::ids::{ClaimId, ProjectId, UploadId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::claims::{participant_ref_reasons, ClaimInput, Reason};
use crate::domain::money::MoneyJson;

/// How a bulk file is taken: `all_or_nothing` (any bad row refuses the whole file) or
/// `accept_valid` (good rows are stored, bad rows reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
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
    #[schema(value_type = Option<String>)]
    pub claim_id: Option<ClaimId>,
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

/// The result of verifying one claim.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerifyResult {
    /// The claim (`clm_…`) this result is for.
    #[schema(value_type = String)]
    pub claim_id: ClaimId,
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
    pub fn refused(claim_id: &ClaimId, reason: Reason) -> VerifyResult {
        VerifyResult {
            claim_id: claim_id.clone(),
            verified: false,
            payable: None,
            reasons: vec![reason],
        }
    }
}

/// How often, in rows, long work reports its progress.
pub const PROGRESS_EVERY: usize = 1_000;

/// Told how many rows are done so far, as the work goes.
pub type Progress<'a> = &'a (dyn Fn(usize) + Sync);

/// What became of a bulk file, row by row.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkReport {
    /// The upload's id (`upl_…`), which verifyClaims takes; null when an all-or-nothing file was
    /// refused.
    #[schema(value_type = Option<String>)]
    pub upload_id: Option<UploadId>,
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
    project_id: &ProjectId,
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
