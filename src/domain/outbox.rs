//! The vocabulary of the email outbox: what a message tells of, and where it stands.

string_enum! {
    /// What an email of the outbox tells of.
    OutboxKind {
        /// A settlement document was issued to the recipient.
        DocumentIssued => "document_issued",
        /// A claim was rejected; the reason goes to the provider.
        ClaimRejected => "claim_rejected",
        /// A payer's cap passed 80 %.
        CapNear => "cap_near",
        /// A payer's cap reached 100 %.
        CapReached => "cap_reached",
        /// A payer is asked to accept or decline its commitment to a project.
        CommitmentProposed => "commitment_proposed",
        /// A payer accepted or declined its commitment; told to it and to the fund's owner.
        CommitmentDecided => "commitment_decided",
    }
}

string_enum! {
    /// Where an email of the outbox stands.
    OutboxStatus {
        /// Waiting for its next attempt.
        Queued => "queued",
        /// Accepted by the mail server.
        Sent => "sent",
        /// Given up after its attempts, or refused for good by the mail server.
        Failed => "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Label;

    #[test]
    fn labels_read_back_as_their_values_and_list_in_words() {
        for status in OutboxStatus::ALL {
            assert_eq!(OutboxStatus::from_label(status.as_str()), Some(*status));
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, status.as_str(), "the API shows the stored label");
        }
        assert_eq!(OutboxStatus::from_label("bounced"), None);
        assert_eq!(OutboxStatus::listed(), "queued, sent or failed");
        assert_eq!(OutboxKind::ALL.len(), 6);
    }
}
