//! Ledger entries for the split: double-entry, debits positive and credits negative, every
//! entry summing to zero. Pure: the caller stores what these functions return.
//!
//! An entry is stored compactly: one allocation per payer, whose `amount` is the payer's line
//! and whose `shortfall` is the payer's unfunded line, and the entry's own row, which carries
//! the provider's line ([`provider_amount`]). [`ProjectAccounts::entry_lines`] spells the same
//! entry out account by account, which is what the running totals are kept by.

use super::money::Minor;
use super::split::PayerPart;
use crate::domain::ids::{PayerId, ProjectId};

/// What every payer's account name starts with.
pub const PAYER_ACCOUNT_PREFIX: &str = "payer:";

pub fn payer_account(payer_id: &PayerId) -> String {
    format!("{PAYER_ACCOUNT_PREFIX}{payer_id}")
}

pub fn unfunded_account(payer_id: &PayerId) -> String {
    format!("unfunded:{payer_id}")
}

pub fn provider_account(project_id: &ProjectId) -> String {
    format!("provider:{project_id}")
}

/// The provider's line of an entry whose payer lines are `parts`: their total, credited.
pub fn provider_amount<'a>(parts: impl IntoIterator<Item = &'a PayerPart>) -> Minor {
    -parts
        .into_iter()
        .map(|p| p.allocated + p.shortfall)
        .sum::<Minor>()
}

/// The account names of one project, made once for the many entries of a batch.
#[derive(Debug, Clone)]
pub struct ProjectAccounts {
    pub provider: String,
    /// By payer position: the payer's account and its unfunded account.
    pub payers: Vec<(String, String)>,
}

impl ProjectAccounts {
    pub fn new<'a>(
        project_id: &ProjectId,
        payer_ids: impl IntoIterator<Item = &'a PayerId>,
    ) -> ProjectAccounts {
        ProjectAccounts {
            provider: provider_account(project_id),
            payers: payer_ids
                .into_iter()
                .map(|id| (payer_account(id), unfunded_account(id)))
                .collect(),
        }
    }

    /// The lines of the entry whose payer lines are `parts` (by payer position): each payer's
    /// part owed by that payer, each payer's shortfall left unfunded, and the whole payable
    /// amount due to the provider. Lines of zero are left out.
    pub fn entry_lines(&self, parts: &[PayerPart]) -> Vec<(&str, Minor)> {
        let mut lines = Vec::with_capacity(parts.len() + 1);
        for ((payer, unfunded), part) in self.payers.iter().zip(parts) {
            if !part.allocated.is_zero() {
                lines.push((payer.as_str(), part.allocated));
            }
            if !part.shortfall.is_zero() {
                lines.push((unfunded.as_str(), part.shortfall));
            }
        }
        let provider = provider_amount(parts);
        if !provider.is_zero() {
            lines.push((self.provider.as_str(), provider));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_balance_and_reversals_cancel() {
        let accounts = ProjectAccounts::new(
            &ProjectId::from("prj_1"),
            &["pyr_a", "pyr_b", "pyr_c"].map(PayerId::from),
        );
        let parts = [
            PayerPart {
                allocated: Minor(15_000),
                shortfall: Minor(0),
            },
            PayerPart {
                allocated: Minor(30_000),
                shortfall: Minor(4_505),
            },
            PayerPart {
                allocated: Minor(0),
                shortfall: Minor(0),
            },
        ];
        let lines = accounts.entry_lines(&parts);
        assert_eq!(lines.iter().map(|l| l.1).sum::<Minor>(), Minor::ZERO);
        assert_eq!(lines.len(), 4, "no line for a payer with nothing to post");
        assert!(lines.contains(&("provider:prj_1", Minor(-49_505))));
        assert!(lines.contains(&("unfunded:pyr_b", Minor(4_505))));
        assert_eq!(provider_amount(&parts), Minor(-49_505));
        let reversed: Vec<PayerPart> = parts
            .iter()
            .map(|p| PayerPart {
                allocated: -p.allocated,
                shortfall: -p.shortfall,
            })
            .collect();
        let net: Minor = lines
            .iter()
            .chain(&accounts.entry_lines(&reversed))
            .map(|l| l.1)
            .sum();
        assert_eq!(net, Minor::ZERO);
        assert!(accounts
            .entry_lines(&reversed)
            .contains(&("unfunded:pyr_b", Minor(-4_505))));
    }
}
