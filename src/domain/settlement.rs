//! Settlement: which documents a period's unsettled allocations make, and who issues them to
//! whom. Pure: the caller brings the allocations not yet settled, this says where each goes.
//!
//! - Route `direct`: the provider invoices each payer for exactly that payer's allocations.
//! - Route `via_commissioner`: the provider invoices the lead commissioner for the whole
//!   value of every outcome (one line per ledger entry, all payers' parts together), and the
//!   lead's **top-up claim** asks each other payer (the central funds) for its own parts of
//!   the same outcomes.
//!
//! An allocation is settled once in each leg it belongs to ([`Leg`]). Reversals are
//! allocations too, with negative amounts: posted after a document was issued, they appear as
//! credit lines on the next one. A document whose lines sum below zero is a credit note.
//! Allocations of nothing (a payer's part left wholly unfunded) are on no document.

use crate::domain::ids::{ClaimId, EntryId};
use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, NaiveDateTime};

use super::ids::OrganisationId;
use super::money::Minor;
use super::registry::SettlementRoute;

string_enum!(
    /// The kind of a settlement document.
    DocumentKind { Invoice => "invoice", TopUpClaim => "top_up_claim", CreditNote => "credit_note" }
);

string_enum! {
    /// A step in a settlement document's history.
    DocumentAction {
        /// The draft was built.
        Built => "built",
        /// The document was numbered and issued.
        Issued => "issued",
        /// A part payment.
        Payment => "payment",
        /// The payment that settled it in full.
        Paid => "paid",
        /// The document was voided and a credit note issued.
        Voided => "voided",
    }
}

string_enum!(
    /// Where a document is in its life: `draft` (rebuilt freely), `issued` (numbered and
    /// frozen), `paid` (in full) or `void` (cancelled by a credit note).
    DocumentStatus { Draft => "draft", Issued => "issued", Paid => "paid", Void => "void" }
);

string_enum!(
    /// A leg of settlement: what the provider invoices (`invoice`), or what a lead
    /// commissioner claims back from the other payers under `via_commissioner`
    /// (`top_up_claim`). An allocation is settled at most once in each.
    Leg { Invoice => "invoice", TopUpClaim => "top_up_claim" }
);

/// An allocation not yet settled in `leg`, with what its document line shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsettled {
    pub allocation_id: i64,
    pub leg: Leg,
    /// The ledger entry (verification or reversal) the allocation belongs to.
    pub entry_id: EntryId,
    pub claim_id: ClaimId,
    pub payer_organisation_id: OrganisationId,
    pub outcome_code: String,
    pub participant_pseudonym: String,
    pub achieved_on: NaiveDate,
    pub posted_at: NaiveDateTime,
    pub amount_minor: Minor,
}

/// Who settles with whom on a project.
#[derive(Debug, Clone)]
pub struct Parties<'a> {
    pub route: SettlementRoute,
    pub provider: &'a str,
    /// The lead commissioner's organisation (required under `via_commissioner`).
    pub lead: Option<&'a str>,
}

/// One line of a document: one allocation, or under `via_commissioner` one ledger entry's
/// allocations together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftLine {
    pub claim_id: ClaimId,
    pub outcome_code: String,
    pub participant_pseudonym: String,
    pub achieved_on: NaiveDate,
    pub posted_at: NaiveDateTime,
    pub amount_minor: Minor,
    /// The allocations this line settles.
    pub allocation_ids: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftDocument {
    pub kind: DocumentKind,
    pub leg: Leg,
    pub issuer_organisation_id: OrganisationId,
    pub recipient_organisation_id: OrganisationId,
    pub lines: Vec<DraftLine>,
    pub total_minor: Minor,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    #[error("the project settles via its lead commissioner but names none")]
    NoLead,
    #[error("a document's total overflows")]
    Overflow,
}

/// A document being assembled by [`build`].
struct Assembling {
    leg: Leg,
    issuer: String,
    recipient: String,
    lines: Vec<DraftLine>,
    /// Under `via_commissioner`, the line of each ledger entry on the invoice.
    line_of_entry: HashMap<EntryId, usize>,
}

/// The documents `unsettled` makes, in a stable order (leg, then issuer and recipient). Every
/// allocation of a non-zero amount lands on exactly one line of its leg; lines are in posting
/// order (allocation ids grow as allocations are posted).
pub fn build(
    parties: &Parties,
    mut unsettled: Vec<Unsettled>,
) -> Result<Vec<DraftDocument>, SettlementError> {
    let lead = match parties.route {
        SettlementRoute::Direct => None,
        SettlementRoute::ViaCommissioner => Some(parties.lead.ok_or(SettlementError::NoLead)?),
    };
    unsettled.sort_unstable_by_key(|a| a.allocation_id);
    let mut documents: Vec<Assembling> = Vec::new();
    for a in unsettled.into_iter().filter(|a| !a.amount_minor.is_zero()) {
        let (issuer, recipient, per_entry) = match (a.leg, lead) {
            (Leg::Invoice, None) => (parties.provider, a.payer_organisation_id.as_str(), false),
            (Leg::Invoice, Some(lead)) => (parties.provider, lead, true),
            // The lead claims nothing back from itself; under `direct` there is no such leg.
            (Leg::TopUpClaim, Some(lead)) if a.payer_organisation_id != lead => {
                (lead, a.payer_organisation_id.as_str(), false)
            }
            (Leg::TopUpClaim, _) => continue,
        };
        let (amount_minor, allocation_id) = (a.amount_minor, a.allocation_id);
        let document = document_for(&mut documents, a.leg, issuer, recipient);
        let line = document.line_for(a, per_entry);
        line.amount_minor = line
            .amount_minor
            .checked_add(amount_minor)
            .ok_or(SettlementError::Overflow)?;
        line.allocation_ids.push(allocation_id);
    }
    documents
        .sort_by(|a, b| (a.leg, &a.issuer, &a.recipient).cmp(&(b.leg, &b.issuer, &b.recipient)));
    documents
        .into_iter()
        .map(|d| {
            let total_minor = checked_total(d.lines.iter().map(|l| l.amount_minor))?;
            Ok(DraftDocument {
                kind: kind_of(d.leg, total_minor),
                leg: d.leg,
                issuer_organisation_id: OrganisationId::from(d.issuer),
                recipient_organisation_id: OrganisationId::from(d.recipient),
                lines: d.lines,
                total_minor,
            })
        })
        .collect()
}

/// The document of `leg` from `issuer` to `recipient`, begun if there is none yet. A project
/// has a handful of payers: a linear search beats hashing two strings.
fn document_for<'d>(
    documents: &'d mut Vec<Assembling>,
    leg: Leg,
    issuer: &str,
    recipient: &str,
) -> &'d mut Assembling {
    let found = (documents.iter())
        .position(|d| d.leg == leg && d.issuer == issuer && d.recipient == recipient);
    match found {
        Some(i) => &mut documents[i],
        None => {
            documents.push(Assembling {
                leg,
                issuer: issuer.to_owned(),
                recipient: recipient.to_owned(),
                lines: Vec::new(),
                line_of_entry: HashMap::new(),
            });
            documents.last_mut().expect("just pushed")
        }
    }
}

impl Assembling {
    /// The line `a` lands on: its ledger entry's line when lines are `per_entry` (under
    /// `via_commissioner`), else a new line of its own.
    fn line_for(&mut self, a: Unsettled, per_entry: bool) -> &mut DraftLine {
        let existing = per_entry
            .then(|| self.line_of_entry.get(&a.entry_id).copied())
            .flatten();
        if let Some(i) = existing {
            return &mut self.lines[i];
        }
        if per_entry {
            self.line_of_entry.insert(a.entry_id, self.lines.len());
        }
        self.lines.push(DraftLine {
            claim_id: a.claim_id,
            outcome_code: a.outcome_code,
            participant_pseudonym: a.participant_pseudonym,
            achieved_on: a.achieved_on,
            posted_at: a.posted_at,
            amount_minor: Minor::ZERO,
            allocation_ids: Vec::with_capacity(1),
        });
        self.lines.last_mut().expect("just pushed")
    }
}

fn checked_total(mut amounts: impl Iterator<Item = Minor>) -> Result<Minor, SettlementError> {
    amounts.try_fold(Minor::ZERO, |sum, a| {
        sum.checked_add(a).ok_or(SettlementError::Overflow)
    })
}

/// An invoice or top-up claim whose credits outweigh its charges is a credit note.
fn kind_of(leg: Leg, total_minor: Minor) -> DocumentKind {
    match leg {
        _ if total_minor < Minor::ZERO => DocumentKind::CreditNote,
        Leg::Invoice => DocumentKind::Invoice,
        Leg::TopUpClaim => DocumentKind::TopUpClaim,
    }
}

/// The prefix of an issuer's document numbers, from its name: the initials of its words
/// (`Positive Families Partnership` → `PFP`), padded from the first word to three letters
/// (`The Skill Mill` → `SKM`, `Durham` → `DUR`); `DOC` for a name without letters.
pub fn number_prefix(issuer_name: &str) -> String {
    const SKIPPED: [&str; 5] = ["the", "of", "and", "for", "a"];
    let words: Vec<String> = issuer_name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty() && !SKIPPED.contains(&w.to_ascii_lowercase().as_str()))
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let Some(first) = words.first() else {
        return "DOC".into();
    };
    let initials: String = words
        .iter()
        .take(4)
        .filter_map(|w| w.chars().next())
        .collect();
    if initials.len() >= 3 {
        return initials;
    }
    // Pad with the first word's next letters, keeping the other initials after them.
    let pad = 3 - initials.len();
    let mut prefix: String = first.chars().take(1 + pad).collect();
    prefix.extend(words.iter().skip(1).filter_map(|w| w.chars().next()));
    prefix
}

/// A document number: the issuer's prefix, the year of issue and its place in the issuer's
/// gap-free sequence of that year, e.g. `SKM-2025-0007`.
pub fn document_number(prefix: &str, issued_on: NaiveDate, sequence: i32) -> String {
    format!("{prefix}-{}-{sequence:04}", issued_on.year())
}

string_enum!(
    /// How money settled a document: paid by its recipient (`payment`), paid back by the
    /// issuer of a credit note (`refund`), or a credit note set against an invoice or top-up
    /// claim between the same two parties (`set_off`, recorded on both).
    SettledBy { Payment => "payment", Refund => "refund", SetOff => "set_off" }
);

/// Why a payment cannot be recorded against a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentRefused {
    #[error("a payment is a positive amount")]
    NotPositive,
    #[error("only an issued invoice or top-up claim is paid (this one is {0})")]
    NotPayable(&'static str),
    #[error("a credit note is not paid by its recipient: its issuer refunds it, or it is set against an invoice")]
    CreditNote,
    #[error("only an issued credit note is refunded or set off (this one is {0})")]
    NotCredit(&'static str),
    #[error("this credit note cancels a voided document on which nothing was paid: it owes nothing back")]
    CancelsVoid,
    #[error(
        "this payment would overpay the document: {outstanding_minor} minor units are outstanding"
    )]
    Overpayment { outstanding_minor: Minor },
}

/// Checks a payment's date against the day its document was issued: money paid before a
/// document existed was not paid against it (it belongs to another document, or is a
/// mistyped date).
pub fn check_paid_on(issued_on: Option<NaiveDate>, paid_on: NaiveDate) -> Result<(), String> {
    match issued_on {
        Some(issued_on) if paid_on < issued_on => Err(format!(
            "is before the document was issued ({issued_on}): a payment against it is dated on or after that day"
        )),
        _ => Ok(()),
    }
}

/// Checks a payment of `amount_minor` against a document, and says whether it pays it in full.
pub fn check_payment(
    kind: DocumentKind,
    status: DocumentStatus,
    total_minor: Minor,
    paid_minor: Minor,
    amount_minor: Minor,
) -> Result<bool, PaymentRefused> {
    if amount_minor <= Minor::ZERO {
        return Err(PaymentRefused::NotPositive);
    }
    if status != DocumentStatus::Issued {
        return Err(PaymentRefused::NotPayable(status.as_str()));
    }
    if kind == DocumentKind::CreditNote {
        return Err(PaymentRefused::CreditNote);
    }
    let outstanding_minor = total_minor - paid_minor;
    if amount_minor > outstanding_minor {
        return Err(PaymentRefused::Overpayment { outstanding_minor });
    }
    Ok(amount_minor == outstanding_minor)
}

/// Checks a refund of `amount_minor` by a credit note's issuer, and says whether it settles
/// the credit note in full. A credit note's total is negative, and what is refunded is kept
/// as negative too, so that what is outstanding is `total − paid` for every document. A
/// credit note that cancels a voided document owes nothing: the document was unpaid, and its
/// outcomes are settled again on a new one.
pub fn check_refund(credit: Settling, amount_minor: Minor) -> Result<bool, PaymentRefused> {
    if amount_minor <= Minor::ZERO {
        return Err(PaymentRefused::NotPositive);
    }
    if credit.kind != DocumentKind::CreditNote {
        return Err(PaymentRefused::NotCredit(credit.kind.as_str()));
    }
    if credit.status != DocumentStatus::Issued {
        return Err(PaymentRefused::NotCredit(credit.status.as_str()));
    }
    if credit.cancels_void {
        return Err(PaymentRefused::CancelsVoid);
    }
    let (total_minor, paid_minor) = (credit.total_minor, credit.paid_minor);
    let outstanding_minor = paid_minor - total_minor;
    if amount_minor > outstanding_minor {
        return Err(PaymentRefused::Overpayment { outstanding_minor });
    }
    Ok(amount_minor == outstanding_minor)
}

/// A document as a set-off sees it.
#[derive(Debug, Clone, Copy)]
pub struct Settling<'a> {
    pub kind: DocumentKind,
    pub status: DocumentStatus,
    pub total_minor: Minor,
    pub paid_minor: Minor,
    pub project_id: &'a str,
    pub issuer: &'a str,
    pub recipient: &'a str,
    pub currency: &'a str,
    /// A credit note made by voiding a document.
    pub cancels_void: bool,
}

/// Why a credit note cannot be set against a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetOffRefused {
    #[error(transparent)]
    Credit(PaymentRefused),
    #[error("a credit note is set against an issued invoice or top-up claim with something outstanding (the document named is a {kind}, {status})")]
    Against {
        kind: &'static str,
        status: &'static str,
    },
    #[error("a credit note is set only against a document of the same project, from the same issuer to the same recipient, in the same currency")]
    OtherParties,
}

/// How much a set-off of `credit` against `against` settles on each: all that is left of the
/// smaller.
pub fn set_off_amount(credit: Settling, against: Settling) -> Result<Minor, SetOffRefused> {
    check_refund(credit, Minor(1)).map_err(SetOffRefused::Credit)?;
    let outstanding = against.total_minor - against.paid_minor;
    if against.kind == DocumentKind::CreditNote
        || against.status != DocumentStatus::Issued
        || outstanding <= Minor::ZERO
    {
        return Err(SetOffRefused::Against {
            kind: against.kind.as_str(),
            status: against.status.as_str(),
        });
    }
    let same = |a: &Settling, b: &Settling| {
        (a.project_id, a.issuer, a.recipient, a.currency)
            == (b.project_id, b.issuer, b.recipient, b.currency)
    };
    if !same(&credit, &against) {
        return Err(SetOffRefused::OtherParties);
    }
    Ok((credit.paid_minor - credit.total_minor).min(outstanding))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn at(day: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2021, 1, day)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
    }

    fn allocation(id: i64, leg: Leg, entry: &str, payer: &str, amount: i64) -> Unsettled {
        Unsettled {
            allocation_id: id,
            leg,
            entry_id: entry.into(),
            claim_id: format!("clm_{entry}").into(),
            payer_organisation_id: payer.into(),
            outcome_code: "x".into(),
            participant_pseudonym: "p".into(),
            achieved_on: at(1).date(),
            posted_at: at(2),
            amount_minor: Minor(amount),
        }
    }

    #[test]
    fn direct_invoices_each_payer_for_its_own_lines() {
        let parties = Parties {
            route: SettlementRoute::Direct,
            provider: "prov",
            lead: None,
        };
        let docs = build(
            &parties,
            vec![
                allocation(1, Leg::Invoice, "e1", "cbo", 15000),
                allocation(2, Leg::Invoice, "e1", "sof", 34505),
                allocation(3, Leg::Invoice, "e1", "worcs", 50495),
                allocation(4, Leg::Invoice, "e2", "worcs", -50495),
                allocation(5, Leg::Invoice, "e2", "cbo", 0),
            ],
        )
        .unwrap();
        let summary: Vec<(&str, &str, DocumentKind, Minor, usize)> = docs
            .iter()
            .map(|d| {
                (
                    d.issuer_organisation_id.as_str(),
                    d.recipient_organisation_id.as_str(),
                    d.kind,
                    d.total_minor,
                    d.lines.len(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("prov", "cbo", DocumentKind::Invoice, Minor(15000), 1),
                ("prov", "sof", DocumentKind::Invoice, Minor(34505), 1),
                ("prov", "worcs", DocumentKind::Invoice, Minor(0), 2),
            ]
        );
    }

    #[test]
    fn via_commissioner_invoices_the_lead_for_whole_outcomes_and_the_lead_claims_the_top_up() {
        let parties = Parties {
            route: SettlementRoute::ViaCommissioner,
            provider: "prov",
            lead: Some("council"),
        };
        let mut rows = Vec::new();
        for leg in [Leg::Invoice, Leg::TopUpClaim] {
            rows.push(allocation(1, leg, "e1", "dcms", 30000));
            rows.push(allocation(2, leg, "e1", "council", 70000));
        }
        let docs = build(&parties, rows.clone()).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].kind, DocumentKind::Invoice);
        assert_eq!(
            (
                docs[0].recipient_organisation_id.as_str(),
                docs[0].total_minor
            ),
            ("council", Minor(100000))
        );
        assert_eq!(docs[0].lines.len(), 1, "one line per outcome");
        assert_eq!(docs[0].lines[0].allocation_ids, vec![1, 2]);
        assert_eq!(docs[1].kind, DocumentKind::TopUpClaim);
        assert_eq!(
            (
                docs[1].issuer_organisation_id.as_str(),
                docs[1].recipient_organisation_id.as_str(),
                docs[1].total_minor
            ),
            ("council", "dcms", Minor(30000))
        );
        let no_lead = Parties {
            lead: None,
            ..parties
        };
        assert_eq!(build(&no_lead, rows), Err(SettlementError::NoLead));
    }

    #[test]
    fn a_period_of_reversals_alone_is_a_credit_note() {
        let parties = Parties {
            route: SettlementRoute::Direct,
            provider: "prov",
            lead: None,
        };
        let docs = build(
            &parties,
            vec![allocation(9, Leg::Invoice, "e9", "cbo", -100)],
        )
        .unwrap();
        assert_eq!(docs[0].kind, DocumentKind::CreditNote);
        assert_eq!(docs[0].total_minor, Minor(-100));
    }

    #[test]
    fn numbers_read_as_their_issuer() {
        assert_eq!(number_prefix("The Skill Mill"), "SKM");
        assert_eq!(number_prefix("Positive Families Partnership"), "PFP");
        assert_eq!(number_prefix("Durham"), "DUR");
        assert_eq!(number_prefix("Worcestershire County Council"), "WCC");
        assert_eq!(number_prefix("!!!"), "DOC");
        let issued = NaiveDate::from_ymd_opt(2025, 4, 2).unwrap();
        assert_eq!(document_number("SKM", issued, 7), "SKM-2025-0007");
    }

    #[test]
    fn a_credit_note_is_refunded_or_set_off_never_beyond_what_it_owes() {
        use DocumentKind::*;
        use DocumentStatus::*;
        let doc = |kind, status, total_minor, paid_minor| Settling {
            kind,
            status,
            total_minor: Minor(total_minor),
            paid_minor: Minor(paid_minor),
            project_id: "prj",
            issuer: "provider",
            recipient: "council",
            currency: "GBP",
            cancels_void: false,
        };
        let refund = |kind, status, total, paid, amount| {
            check_refund(doc(kind, status, total, paid), Minor(amount))
        };
        assert_eq!(refund(CreditNote, Issued, -500, 0, 200), Ok(false));
        assert_eq!(refund(CreditNote, Issued, -500, -200, 300), Ok(true));
        assert_eq!(
            refund(CreditNote, Issued, -500, -200, 301),
            Err(PaymentRefused::Overpayment {
                outstanding_minor: Minor(300)
            })
        );
        assert_eq!(
            refund(Invoice, Issued, 500, 0, 1),
            Err(PaymentRefused::NotCredit("invoice"))
        );
        assert_eq!(
            refund(CreditNote, Paid, -500, -500, 1),
            Err(PaymentRefused::NotCredit("paid"))
        );
        // A credit note that cancels a voided, unpaid document owes nothing back.
        let cancelling = Settling {
            cancels_void: true,
            ..doc(CreditNote, Issued, -500, 0)
        };
        assert_eq!(
            check_refund(cancelling, Minor(1)),
            Err(PaymentRefused::CancelsVoid)
        );
        assert_eq!(
            set_off_amount(cancelling, doc(Invoice, Issued, 500, 0)),
            Err(SetOffRefused::Credit(PaymentRefused::CancelsVoid))
        );
        let credit = doc(CreditNote, Issued, -500, -100);
        // The smaller of what the credit note owes and what the invoice is owed.
        assert_eq!(
            set_off_amount(credit, doc(Invoice, Issued, 1000, 0)),
            Ok(Minor(400))
        );
        assert_eq!(
            set_off_amount(credit, doc(Invoice, Issued, 1000, 850)),
            Ok(Minor(150))
        );
        assert!(matches!(
            set_off_amount(credit, doc(Invoice, Draft, 1000, 0)),
            Err(SetOffRefused::Against { .. })
        ));
        let elsewhere = Settling {
            recipient: "another council",
            ..doc(Invoice, Issued, 1000, 0)
        };
        assert_eq!(
            set_off_amount(credit, elsewhere),
            Err(SetOffRefused::OtherParties)
        );
    }

    #[test]
    fn a_payment_is_dated_on_or_after_its_document_was_issued() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        assert_eq!(check_paid_on(Some(day(5)), day(5)), Ok(()));
        assert_eq!(check_paid_on(Some(day(5)), day(6)), Ok(()));
        let refused = check_paid_on(Some(day(5)), day(4)).unwrap_err();
        assert!(refused.contains("2026-12-05"), "{refused}");
    }

    #[test]
    fn payments_never_overpay() {
        use DocumentKind::*;
        use DocumentStatus::*;
        assert_eq!(
            check_payment(Invoice, Issued, Minor(1000), Minor(0), Minor(400)),
            Ok(false)
        );
        assert_eq!(
            check_payment(Invoice, Issued, Minor(1000), Minor(400), Minor(600)),
            Ok(true)
        );
        assert_eq!(
            check_payment(Invoice, Issued, Minor(1000), Minor(400), Minor(601)),
            Err(PaymentRefused::Overpayment {
                outstanding_minor: Minor(600)
            })
        );
        assert_eq!(
            check_payment(Invoice, Issued, Minor(1000), Minor(0), Minor(0)),
            Err(PaymentRefused::NotPositive)
        );
        assert_eq!(
            check_payment(Invoice, Draft, Minor(1000), Minor(0), Minor(1)),
            Err(PaymentRefused::NotPayable("draft"))
        );
        assert_eq!(
            check_payment(Invoice, Paid, Minor(1000), Minor(1000), Minor(1)),
            Err(PaymentRefused::NotPayable("paid"))
        );
        assert_eq!(
            check_payment(CreditNote, Issued, Minor(-5), Minor(0), Minor(1)),
            Err(PaymentRefused::CreditNote)
        );
    }

    fn arbitrary_unsettled() -> impl Strategy<Value = Vec<Unsettled>> {
        let payers = ["cbo", "sof", "council", "other"];
        prop::collection::vec(
            (
                0usize..4,
                0u32..6,
                -50_000i64..100_000,
                any::<bool>(),
                1u32..28,
            ),
            0..60,
        )
        .prop_map(move |rows| {
            rows.into_iter()
                .enumerate()
                .map(|(i, (payer, entry, amount, top_up, day))| Unsettled {
                    allocation_id: i as i64,
                    leg: if top_up {
                        Leg::TopUpClaim
                    } else {
                        Leg::Invoice
                    },
                    entry_id: format!("e{entry}").into(),
                    claim_id: format!("c{entry}").into(),
                    payer_organisation_id: payers[payer].into(),
                    outcome_code: "x".into(),
                    participant_pseudonym: "p".into(),
                    achieved_on: at(1).date(),
                    posted_at: at(day),
                    amount_minor: Minor(amount),
                })
                .collect()
        })
    }

    proptest! {
        /// Every allocation of a non-zero amount lands on exactly one line, in a document of
        /// its own leg, and every total is the sum of its lines and of the allocations on it.
        #[test]
        fn every_allocation_lands_on_exactly_one_line(rows in arbitrary_unsettled(), via in any::<bool>()) {
            let parties = if via {
                Parties { route: SettlementRoute::ViaCommissioner, provider: "prov", lead: Some("council") }
            } else {
                Parties { route: SettlementRoute::Direct, provider: "prov", lead: None }
            };
            let docs = build(&parties, rows.clone()).unwrap();
            let mut seen: HashMap<(i64, Leg), usize> = HashMap::new();
            let by_id: HashMap<(i64, Leg), &Unsettled> = rows.iter().map(|r| ((r.allocation_id, r.leg), r)).collect();
            for doc in &docs {
                prop_assert_eq!(doc.total_minor, doc.lines.iter().map(|l| l.amount_minor).sum::<Minor>());
                prop_assert_eq!(doc.kind == DocumentKind::CreditNote, doc.total_minor < Minor::ZERO);
                for line in &doc.lines {
                    let mut sum = Minor::ZERO;
                    for id in &line.allocation_ids {
                        *seen.entry((*id, doc.leg)).or_default() += 1;
                        let a = by_id[&(*id, doc.leg)];
                        sum += a.amount_minor;
                        prop_assert_eq!(&a.claim_id, &line.claim_id);
                        match (doc.leg, via) {
                            (Leg::Invoice, false) => prop_assert_eq!(&a.payer_organisation_id, &doc.recipient_organisation_id),
                            (Leg::Invoice, true) => prop_assert_eq!(doc.recipient_organisation_id.as_str(), "council"),
                            (Leg::TopUpClaim, _) => {
                                prop_assert_eq!(&a.payer_organisation_id, &doc.recipient_organisation_id);
                                prop_assert_eq!(doc.issuer_organisation_id.as_str(), "council");
                            }
                        }
                    }
                    prop_assert_eq!(sum, line.amount_minor);
                }
            }
            for row in &rows {
                let expected = usize::from(
                    !row.amount_minor.is_zero()
                        && match (row.leg, via) {
                            (Leg::Invoice, _) => true,
                            (Leg::TopUpClaim, true) => row.payer_organisation_id != "council",
                            (Leg::TopUpClaim, false) => false,
                        },
                );
                prop_assert_eq!(seen.get(&(row.allocation_id, row.leg)).copied().unwrap_or(0), expected);
            }
        }
    }
}
