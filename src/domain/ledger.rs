//! Ledger entries for the split: double-entry, debits positive and credits negative, every
//! entry summing to zero. Pure: the caller stores what these functions return.
//!
//! An entry is stored compactly: one allocation per payer, whose `amount` is the payer's line
//! and whose `shortfall` is the payer's unfunded line, and the entry's own row, which carries
//! the provider's line ([`provider_amount`]). [`verification_lines`] spells the same entry
//! out account by account, which is what the running totals are kept by.

use super::split::PayerPart;

pub fn payer_account(payer_id: &str) -> String {
    format!("payer:{payer_id}")
}

pub fn unfunded_account(payer_id: &str) -> String {
    format!("unfunded:{payer_id}")
}

pub fn provider_account(project_id: &str) -> String {
    format!("provider:{project_id}")
}

/// The provider's line of an entry whose payer lines are `parts`: their total, credited.
pub fn provider_amount<'a>(parts: impl IntoIterator<Item = &'a PayerPart>) -> i64 {
    -parts
        .into_iter()
        .map(|p| p.allocated + p.shortfall)
        .sum::<i64>()
}

/// The lines of a verified claim's entry: each payer's part owed by that payer, each payer's
/// shortfall left unfunded, and the whole payable amount due to the provider.
pub fn verification_lines(project_id: &str, parts: &[(&str, PayerPart)]) -> Vec<(String, i64)> {
    let mut lines = Vec::with_capacity(parts.len() + 1);
    for (payer_id, part) in parts {
        if part.allocated != 0 {
            lines.push((payer_account(payer_id), part.allocated));
        }
        if part.shortfall != 0 {
            lines.push((unfunded_account(payer_id), part.shortfall));
        }
    }
    let provider = provider_amount(parts.iter().map(|(_, part)| part));
    if provider != 0 {
        lines.push((provider_account(project_id), provider));
    }
    lines
}

/// The lines that exactly undo `lines`.
pub fn reversal_lines(lines: &[(String, i64)]) -> Vec<(String, i64)> {
    lines
        .iter()
        .map(|(account, amount)| (account.clone(), -amount))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_balance_and_reversals_cancel() {
        let parts = [
            (
                "pyr_a",
                PayerPart {
                    allocated: 15_000,
                    shortfall: 0,
                },
            ),
            (
                "pyr_b",
                PayerPart {
                    allocated: 30_000,
                    shortfall: 4_505,
                },
            ),
            (
                "pyr_c",
                PayerPart {
                    allocated: 0,
                    shortfall: 0,
                },
            ),
        ];
        let lines = verification_lines("prj_1", &parts);
        assert_eq!(lines.iter().map(|l| l.1).sum::<i64>(), 0);
        assert_eq!(lines.len(), 4, "no line for a payer with nothing to post");
        assert!(lines.contains(&("provider:prj_1".into(), -49_505)));
        assert_eq!(provider_amount(parts.iter().map(|(_, p)| p)), -49_505);
        let reversed = reversal_lines(&lines);
        let net: i64 = lines.iter().chain(&reversed).map(|l| l.1).sum();
        assert_eq!(net, 0);
        assert!(reversed.contains(&("unfunded:pyr_b".into(), -4_505)));
    }
}
