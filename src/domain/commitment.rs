//! Agreement to commitments: a payer's maximum commitment binds it only once that payer has
//! agreed. A project whose payers include an organisation other than its creator's starts
//! `proposed`; each such payer accepts or declines its own commitment; claims are verified
//! (and money split) only once every payer has accepted. An admin records contracts signed
//! elsewhere: what an admin records is accepted as it is made, and so is the creator's own
//! organisation's commitment.

use super::ids::OrganisationId;

string_enum! {
    /// Where a payer's commitment stands.
    CommitmentStatus {
        Proposed => "proposed",
        Accepted => "accepted",
        Declined => "declined",
    }
}

string_enum! {
    /// Where a project's commitments stand together: `agreed` when every payer has accepted,
    /// `declined` when any has declined, `proposed` otherwise.
    Agreement {
        Agreed => "agreed",
        Proposed => "proposed",
        Declined => "declined",
    }
}

/// Who made the project: an admin (recording a contract signed elsewhere), or a member of the
/// organisation named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creator<'a> {
    Admin,
    Organisation(&'a OrganisationId),
}

impl Creator<'_> {
    /// How a payer's commitment stands when the project is made: accepted where the creator
    /// could agree it (an admin, or the payer's own organisation), proposed otherwise.
    pub fn commitment_of(self, payer_organisation_id: &OrganisationId) -> CommitmentStatus {
        match self {
            Creator::Admin => CommitmentStatus::Accepted,
            Creator::Organisation(org) if org == payer_organisation_id => {
                CommitmentStatus::Accepted
            }
            Creator::Organisation(_) => CommitmentStatus::Proposed,
        }
    }

    /// What the history says of a commitment made with the project.
    pub fn note(self, status: CommitmentStatus) -> &'static str {
        match (self, status) {
            (Creator::Admin, _) => "recorded by an admin as agreed (a contract signed elsewhere)",
            (_, CommitmentStatus::Accepted) => "made by the payer's own organisation",
            _ => "proposed: the payer has yet to accept or decline it",
        }
    }
}

/// The project's agreement, from its payers' commitments.
pub fn agreement(commitments: impl IntoIterator<Item = CommitmentStatus>) -> Agreement {
    let mut agreement = Agreement::Agreed;
    for status in commitments {
        match status {
            CommitmentStatus::Declined => return Agreement::Declined,
            CommitmentStatus::Proposed => agreement = Agreement::Proposed,
            CommitmentStatus::Accepted => {}
        }
    }
    agreement
}

/// A payer's answer to a proposed commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Accept,
    /// With the reason, which the payer must give.
    Decline(String),
}

impl Decision {
    /// The status the commitment takes, if it may be decided: only a proposed commitment is,
    /// once (a decline is final; the project would need a variation).
    pub fn apply(&self, current: CommitmentStatus) -> Result<CommitmentStatus, String> {
        if current != CommitmentStatus::Proposed {
            return Err(format!(
                "the commitment is already {}: only a proposed commitment is accepted or declined",
                current.as_str()
            ));
        }
        Ok(match self {
            Decision::Accept => CommitmentStatus::Accepted,
            Decision::Decline(_) => CommitmentStatus::Declined,
        })
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Decision::Accept => None,
            Decision::Decline(reason) => Some(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CommitmentStatus::*;

    #[test]
    fn an_admin_or_the_payer_itself_commits_at_once_and_anyone_else_only_proposes() {
        let (fund_id, council) = (
            OrganisationId::from("org_fund"),
            OrganisationId::from("org_council"),
        );
        assert_eq!(Creator::Admin.commitment_of(&council), Accepted);
        let fund = Creator::Organisation(&fund_id);
        assert_eq!(fund.commitment_of(&fund_id), Accepted);
        assert_eq!(fund.commitment_of(&council), Proposed);
        assert!(Creator::Admin.note(Accepted).contains("admin"));
        assert!(fund.note(Proposed).contains("proposed"));
    }

    #[test]
    fn a_project_is_agreed_only_when_every_payer_has_accepted() {
        assert_eq!(agreement([Accepted, Accepted]), Agreement::Agreed);
        assert_eq!(agreement([Accepted, Proposed]), Agreement::Proposed);
        assert_eq!(
            agreement([Proposed, Declined, Accepted]),
            Agreement::Declined
        );
        assert_eq!(agreement([]), Agreement::Agreed);
    }

    #[test]
    fn only_a_proposed_commitment_is_decided_and_only_once() {
        let decline = Decision::Decline("no budget this year".into());
        assert_eq!(Decision::Accept.apply(Proposed), Ok(Accepted));
        assert_eq!(decline.apply(Proposed), Ok(Declined));
        assert_eq!(decline.reason(), Some("no budget this year"));
        for settled in [Accepted, Declined] {
            assert!(Decision::Accept.apply(settled).is_err());
            assert!(decline.apply(settled).is_err());
        }
    }
}
