//! The closed sets of values that responses and query parameters carry as strings, as
//! OpenAPI enums. Storage keeps them as text (the constants named in each test below); these
//! types document them, and the tests hold the two to the same spelling.

use serde::Serialize;
use utoipa::ToSchema;

/// Where a claim stands.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    /// Waiting for a decision.
    Submitted,
    /// Priced and split; its allocations are in the ledger.
    Verified,
    /// Refused by the decider, with a reason; nothing was allocated.
    Rejected,
    /// Verified, then withdrawn: its allocations were reversed by new ledger entries.
    Revoked,
}

/// What an email of the outbox tells of.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    /// A settlement document was issued to the recipient.
    DocumentIssued,
    /// A claim was rejected; the reason goes to the provider.
    ClaimRejected,
    /// A payer's cap passed 80 %.
    CapNear,
    /// A payer's cap reached 100 %.
    CapReached,
    /// A payer is asked to accept or decline its commitment to a project.
    CommitmentProposed,
    /// A payer accepted or declined its commitment; told to it and to the fund's owner.
    CommitmentDecided,
}

/// Where an email of the outbox stands.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for its next attempt.
    Queued,
    /// Accepted by the mail server.
    Sent,
    /// Given up after its attempts, or refused for good by the mail server.
    Failed,
}

/// A step in a settlement document's history.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentAction {
    /// The draft was built.
    Built,
    /// The document was numbered and issued.
    Issued,
    /// A part payment.
    Payment,
    /// The payment that settled it in full.
    Paid,
    /// The document was voided and a credit note issued.
    Voided,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::models::outbox_status;
    use crate::notify::NotificationKind;
    use crate::services::claims as service;

    fn name(value: impl Serialize) -> String {
        serde_json::to_value(value)
            .expect("serialises")
            .as_str()
            .expect("a string")
            .to_owned()
    }

    #[test]
    fn claim_statuses_are_spelled_as_stored() {
        let stored = [
            service::SUBMITTED,
            service::VERIFIED,
            service::REJECTED,
            service::REVOKED,
        ];
        let documented = [
            ClaimStatus::Submitted,
            ClaimStatus::Verified,
            ClaimStatus::Rejected,
            ClaimStatus::Revoked,
        ];
        assert_eq!(stored.to_vec(), documented.map(name).to_vec());
    }

    #[test]
    fn outbox_values_are_spelled_as_stored() {
        let kinds = [
            (NotificationKind::DocumentIssued, OutboxKind::DocumentIssued),
            (NotificationKind::ClaimRejected, OutboxKind::ClaimRejected),
            (NotificationKind::CapNear, OutboxKind::CapNear),
            (NotificationKind::CapReached, OutboxKind::CapReached),
            (
                NotificationKind::CommitmentProposed,
                OutboxKind::CommitmentProposed,
            ),
            (
                NotificationKind::CommitmentDecided,
                OutboxKind::CommitmentDecided,
            ),
        ];
        for (kind, documented) in kinds {
            assert_eq!(kind.as_str(), name(documented));
        }
        let statuses = [
            outbox_status::QUEUED,
            outbox_status::SENT,
            outbox_status::FAILED,
        ];
        let documented = [
            OutboxStatus::Queued,
            OutboxStatus::Sent,
            OutboxStatus::Failed,
        ];
        assert_eq!(statuses.to_vec(), documented.map(name).to_vec());
    }
}
