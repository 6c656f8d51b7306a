//! Verifying claims: each priced, split exactly between the payers, and posted to the ledger.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::rules::ProjectRules;
use super::seen::{locked_claim, reread, SeenClaim};
use super::submit::{load_history_with_paid, History, ParticipantHistory};
use crate::clock::Clock;
use crate::db::backend_specific::{mark_claims_verified, VerifiedClaim};
use crate::db::bulk::load_where_in;
use crate::db::models::*;
use crate::db::queries::{self, insert_rows, new_id};
use crate::db::schema::*;
use crate::db::{write_tx, DbConn};
use crate::domain::access::{decider, not_yours_to_decide, Decider, Principal, CLAIM_DECIDERS};
use crate::domain::claim_reports::{Progress, VerifyResult, PROGRESS_EVERY};
use crate::domain::claims::ClaimStatus;
use crate::domain::claims::{
    prerequisite_met, price_claim, OutcomeRule, PaidSoFar, Pricing, PriorClaim, Reason,
};
use crate::domain::ids::{ClaimId, EntryId, OrganisationId, UploadId};
use crate::domain::ledger::{provider_amount, ProjectAccounts};
use crate::domain::money::{Minor, MoneyJson};
use crate::domain::split::{share_weights, split, PayerPart};
use crate::services::error::ServiceError;

/// Reason code of a claim the decider may not decide (see [`Decider::may_decide`]).
pub const NOT_YOURS_TO_DECIDE: &str = "not_yours_to_decide";
/// Reason code of a claim refused because the submitter tried to verify it.
pub const SEPARATION_OF_DUTIES: &str = "separation_of_duties";

pub struct Verifier<'a> {
    /// The authenticated person (the token's `sub`).
    pub subject: &'a str,
    /// The organisation they act for (none for an admin).
    pub organisation_id: Option<&'a OrganisationId>,
    /// In what capacity they decide, from [`crate::domain::access::decider`].
    pub capacity: Decider,
    /// When they decide: the time the allocations are posted at.
    pub at: NaiveDateTime,
    /// Told the claims decided so far, as a batch goes.
    pub progress: Option<Progress<'a>>,
}

/// Running totals of a project while a batch of claims is verified: the stored totals plus
/// what this batch has added so far (`deltas`, written back once at the end).
struct Running {
    stored: HashMap<String, i64>,
    deltas: HashMap<String, i64>,
    history: History,
}

impl Running {
    fn get(&self, name: &str) -> i64 {
        let stored = self.stored.get(name).copied().unwrap_or(0);
        let delta = self.deltas.get(name).copied().unwrap_or(0);
        stored
            .checked_add(delta)
            .expect("running totals are checked before they are added")
    }

    /// Whether every line can be added to its total without overflow, stored or in this batch.
    fn can_add(&self, lines: &[(&str, i64)]) -> bool {
        lines.iter().all(|(name, amount)| {
            let delta = self.deltas.get(*name).copied().unwrap_or(0);
            delta
                .checked_add(*amount)
                .and_then(|d| d.checked_add(self.stored.get(*name).copied().unwrap_or(0)))
                .is_some()
        })
    }

    fn add(&mut self, name: &str, amount: i64) {
        let total = self.deltas.entry(name.to_owned()).or_insert(0);
        *total = total.checked_add(amount).expect("checked by can_add");
    }
}

pub(super) fn units_total(outcome_code: &str) -> String {
    format!("units:{outcome_code}")
}

/// Verifies the given submitted claims of one project: prices each, splits it between the
/// payers and posts the allocations and ledger entries. Claims are taken in achievement-date
/// order, so that a ladder's earlier rung is paid before the later one in the same batch.
pub fn verify(
    conn: &mut DbConn,
    rules: &ProjectRules,
    verifier: &Verifier,
    claim_ids: &[ClaimId],
) -> Result<Vec<VerifyResult>, ServiceError> {
    let found: Vec<Claim> = load_where_in!(
        conn,
        claims::table.select(Claim::as_select()),
        claims::id,
        "claims.id",
        claim_ids
    )?;
    verify_found(conn, rules, verifier, claim_ids, found)
}

/// Verifies every claim of one bulk upload, as [`verify`] does; returns the upload's claim ids
/// with the results.
pub fn verify_upload(
    conn: &mut DbConn,
    rules: &ProjectRules,
    verifier: &Verifier,
    upload_id: &UploadId,
) -> Result<(Vec<ClaimId>, Vec<VerifyResult>), ServiceError> {
    // By the upload index alone (the planner might otherwise walk the project's claims); an
    // upload of another project is as good as none, and its claims are not named.
    let mut found: Vec<Claim> = claims::table
        .filter(claims::upload_id.eq(upload_id))
        .select(Claim::as_select())
        .load(conn)?;
    found.retain(|c| &c.project_id == rules.project_id());
    let claim_ids: Vec<ClaimId> = found.iter().map(|c| c.id.clone()).collect();
    let results = verify_found(conn, rules, verifier, &claim_ids, found)?;
    Ok((claim_ids, results))
}

/// `found`: the stored claims among `claim_ids`, in any order.
fn verify_found(
    conn: &mut DbConn,
    rules: &ProjectRules,
    verifier: &Verifier,
    claim_ids: &[ClaimId],
    mut found: Vec<Claim>,
) -> Result<Vec<VerifyResult>, ServiceError> {
    let started = std::time::Instant::now();
    rules.check_agreed()?;
    // Filtered here rather than in SQL, where the planner may prefer a project index over
    // the primary key and scan the project's every claim.
    found.retain(|c| &c.project_id == rules.project_id());
    let (mut results, todo) = triage(claim_ids, &found, verifier);
    let mut batch = Batch::start(conn, rules, &todo, verifier.at)?;
    let loaded = started.elapsed();
    for (n, claim) in todo.into_iter().enumerate() {
        let result = batch.decide(claim, verifier)?;
        results.insert(claim.id.clone(), result);
        if let Some(progress) = verifier.progress.filter(|_| (n + 1) % PROGRESS_EVERY == 0) {
            progress(n + 1);
        }
    }
    let decided = started.elapsed();
    // Caps crossed by this batch are told once, from the totals before and after it.
    let verified_any = !batch.decisions.is_empty();
    let before = batch.running.stored.clone();
    batch.post(conn, verifier.subject)?;
    if verified_any {
        let after = queries::projects::running_totals(conn, rules.project_id())?;
        crate::services::notices::cap_crossings(conn, &rules.record, &before, &after, verifier.at)?;
    }
    tracing::debug!(
        claims = claim_ids.len(),
        load_ms = loaded.as_millis() as u64,
        decide_ms = (decided - loaded).as_millis() as u64,
        post_ms = (started.elapsed() - decided).as_millis() as u64,
        "verification batch posted"
    );
    Ok(claim_ids
        .iter()
        .filter_map(|id| results.remove(id))
        .collect())
}

/// Sorts the requested claims into those refused outright (missing, not submitted, submitted
/// by the verifier) and those to price, in pricing order: achievement date, then submission.
fn triage<'c>(
    claim_ids: &[ClaimId],
    found: &'c [Claim],
    verifier: &Verifier,
) -> (HashMap<ClaimId, VerifyResult>, Vec<&'c Claim>) {
    let by_id: HashMap<&str, &Claim> = found.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut refused = HashMap::new();
    let mut todo: Vec<&Claim> = Vec::new();
    let mut queued: HashSet<&str> = HashSet::new();
    for id in claim_ids {
        let reason = match by_id.get(id.as_str()) {
            None => Reason::new("not_found", "no such claim on this project"),
            Some(c) if c.status != ClaimStatus::Submitted => Reason::new(
                "not_submitted",
                format!("the claim is {}, not submitted", c.status.as_str()),
            ),
            // The same person, whatever role or organisation they now act for; or the same
            // organisation, whoever acts for it.
            Some(c)
                if c.submitted_by == verifier.subject
                    || verifier.organisation_id == Some(&c.submitted_by_organisation_id) =>
            {
                Reason::new(
                    SEPARATION_OF_DUTIES,
                    "the person or organisation that submitted a claim cannot verify it",
                )
            }
            Some(c) => {
                if queued.insert(c.id.as_str()) {
                    todo.push(c);
                }
                continue;
            }
        };
        refused.insert(id.clone(), VerifyResult::refused(id, reason));
    }
    todo.sort_by(|a, b| {
        a.achieved_on
            .cmp(&b.achieved_on)
            .then(a.submitted_at.cmp(&b.submitted_at))
            .then(a.id.cmp(&b.id))
    });
    (refused, todo)
}

/// One verification batch: the project's running totals and the participants' histories as
/// the batch goes, and the rows it will post.
struct Batch<'r> {
    rules: &'r ProjectRules,
    accounts: ProjectAccounts,
    units_names: HashMap<&'r str, String>,
    running: Running,
    now: NaiveDateTime,
    adjustments: Vec<ClaimAdjustment>,
    allocations: Vec<NewAllocation>,
    entries: Vec<LedgerEntry>,
    decisions: Vec<(ClaimId, Pricing, EntryId)>,
}

impl<'r> Batch<'r> {
    fn start(
        conn: &mut DbConn,
        rules: &'r ProjectRules,
        todo: &[&Claim],
        now: NaiveDateTime,
    ) -> Result<Self, ServiceError> {
        let mut pseudonyms: Vec<&str> = todo
            .iter()
            .map(|c| c.participant_pseudonym.as_str())
            .collect();
        pseudonyms.sort_unstable();
        pseudonyms.dedup();
        let project_id = rules.project_id();
        Ok(Batch {
            rules,
            accounts: ProjectAccounts::new(
                project_id,
                rules.record.payers.iter().map(|p| &p.payer.id),
            ),
            units_names: rules
                .outcomes
                .keys()
                .map(|code| (code.as_str(), units_total(code)))
                .collect(),
            running: Running {
                stored: queries::projects::running_totals(conn, project_id)?,
                deltas: HashMap::new(),
                history: load_history_with_paid(
                    conn,
                    rules,
                    &pseudonyms,
                    &[ClaimStatus::Verified],
                )?,
            },
            now,
            adjustments: Vec::new(),
            allocations: Vec::new(),
            entries: Vec::new(),
            decisions: Vec::new(),
        })
    }

    /// Prices and splits one claim against the totals so far and records its rows, or says
    /// why it is refused (nothing is recorded then).
    fn decide(&mut self, claim: &Claim, verifier: &Verifier) -> Result<VerifyResult, ServiceError> {
        let rules = self.rules;
        let rule = rules.outcomes.get(&claim.outcome_code).ok_or_else(|| {
            ServiceError::Internal(format!("claim {} names a missing outcome", claim.id))
        })?;
        let (pricing, parts) = match self.price_and_split(claim, rule, verifier) {
            Ok(decided) => decided,
            Err(reason) => return Ok(VerifyResult::refused(&claim.id, reason)),
        };
        self.record(claim, rule, pricing, &parts);
        let payable = self
            .decisions
            .last()
            .map_or(Minor::ZERO, |d| d.1.payable_minor);
        Ok(VerifyResult {
            claim_id: claim.id.clone(),
            verified: true,
            payable: Some(MoneyJson::from_minor(
                payable,
                &rules.record.project.currency,
            )),
            reasons: Vec::new(),
        })
    }

    fn price_and_split(
        &self,
        claim: &Claim,
        rule: &OutcomeRule,
        verifier: &Verifier,
    ) -> Result<(Pricing, Vec<PayerPart>), Reason> {
        let rules = self.rules;
        let project = &rules.record.project;
        let no_history = ParticipantHistory::default();
        let history = self
            .running
            .history
            .get(&claim.participant_pseudonym)
            .unwrap_or(&no_history);
        prerequisite_met(rule, claim.achieved_on, &history.claims, true)?;
        let weights = share_weights(&rules.payers, claim.achieved_on, claim.home_area.as_deref())
            .map_err(|e| Reason::new("home_area", e.to_string()))?;
        if !verifier.capacity.may_decide(&weights) {
            return Err(Reason::new(NOT_YOURS_TO_DECIDE, not_yours_to_decide()));
        }
        let paid = PaidSoFar {
            outcome_units: self
                .running
                .get(&self.units_names[claim.outcome_code.as_str()]),
            participant_minor: history.paid_minor,
            // The provider's account is credited (negative) with what verified claims pay.
            project_minor: Minor(self.running.get(&self.accounts.provider).saturating_neg()),
        };
        let pricing = price_claim(
            rule,
            claim.quantity,
            project.participant_cap_minor,
            project.max_outcome_payment_minor,
            paid,
            |m| rules.money(m),
        )?;
        let headroom = self.headroom();
        let parts = if pricing.payable_minor > Minor::ZERO && weights.iter().any(|w| *w > 0) {
            split(pricing.payable_minor, &weights, &headroom, rules.cap_policy)
        } else {
            vec![PayerPart::default(); weights.len()]
        };
        assert_split_holds(&claim.id, &pricing, &weights, &parts, &headroom);
        let mut lines: Vec<(&str, i64)> = (self.accounts.entry_lines(&parts).into_iter())
            .map(|(account, amount)| (account, amount.get()))
            .collect();
        let units = self.units_names[claim.outcome_code.as_str()].as_str();
        lines.push((units, i64::from(pricing.paid_units)));
        if !self.running.can_add(&lines) {
            return Err(Reason::new(
                "amount_out_of_range",
                "paying this claim would take the project's running totals beyond the amounts cofund can hold",
            ));
        }
        Ok((pricing, parts))
    }

    /// What each payer's maximum commitment still allows, by payer position.
    fn headroom(&self) -> Vec<Minor> {
        let payers = self.rules.record.payers.iter().zip(&self.accounts.payers);
        payers
            .map(|(p, (account, _))| {
                let allocated = self.running.get(account);
                Minor(p.payer.max_commitment_minor.get().saturating_sub(allocated))
            })
            .collect()
    }

    /// Records a decided claim's rows and adds it to the running totals and its participant's
    /// history, so that the next claim of the batch is priced after it.
    fn record(&mut self, claim: &Claim, rule: &OutcomeRule, pricing: Pricing, parts: &[PayerPart]) {
        let project_id = self.rules.project_id();
        let entry_id = EntryId::from(new_id("ent"));
        for (position, adjustment) in pricing.adjustments.iter().enumerate() {
            self.adjustments.push(ClaimAdjustment {
                claim_id: claim.id.clone(),
                position: position as i32,
                kind: adjustment.kind,
                amount_minor: adjustment.amount_minor,
                detail: adjustment.detail.clone(),
            });
        }
        for (payer, part) in self.rules.record.payers.iter().zip(parts) {
            if part.allocated.is_zero() && part.shortfall.is_zero() {
                continue;
            }
            self.allocations.push(NewAllocation {
                entry_id: entry_id.clone(),
                claim_id: claim.id.clone(),
                project_id: project_id.to_owned(),
                payer_id: payer.payer.id.clone(),
                payer_organisation_id: payer.payer.organisation_id.clone(),
                amount_minor: part.allocated,
                shortfall_minor: part.shortfall,
                achieved_on: claim.achieved_on,
                posted_at: self.now,
                reverses_id: None,
                outcome_code: claim.outcome_code.clone(),
            });
        }
        for (account, amount) in self.accounts.entry_lines(parts) {
            self.running.add(account, amount.get());
        }
        self.running.add(
            &self.units_names[claim.outcome_code.as_str()].clone(),
            i64::from(pricing.paid_units),
        );
        self.entries.push(LedgerEntry {
            id: entry_id.clone(),
            claim_id: claim.id.clone(),
            project_id: project_id.to_owned(),
            provider_amount_minor: provider_amount(parts),
            posted_at: self.now,
            reverses_entry_id: None,
        });
        self.running
            .history
            .entry(claim.participant_pseudonym.clone())
            .or_default()
            .push(
                PriorClaim {
                    outcome_code: claim.outcome_code.clone(),
                    exclusive_group: rule.exclusive_group.clone(),
                    achieved_on: claim.achieved_on,
                    period_start: claim.period_start,
                    quantity: claim.quantity,
                    verified: true,
                },
                pricing.payable_minor,
            );
        self.decisions.push((claim.id.clone(), pricing, entry_id));
    }

    /// Writes the batch: claims marked verified, adjustments, entries, allocations, totals.
    fn post(self, conn: &mut DbConn, verified_by: &str) -> Result<(), ServiceError> {
        let verified: Vec<VerifiedClaim> = self
            .decisions
            .iter()
            .map(|(id, pricing, entry)| VerifiedClaim {
                id,
                gross_minor: pricing.gross_minor,
                payable_minor: pricing.payable_minor,
                paid_units: pricing.paid_units,
                entry_id: entry,
            })
            .collect();
        let started = std::time::Instant::now();
        mark_claims_verified(conn, verified_by, self.now, &verified)?;
        let marked = started.elapsed();
        insert_rows!(conn, claim_adjustments::table, &self.adjustments)?;
        insert_rows!(conn, ledger_entries::table, &self.entries)?;
        let entered = started.elapsed();
        insert_rows!(conn, allocations::table, &self.allocations)?;
        let allocated = started.elapsed();
        queries::projects::add_running_totals(conn, self.rules.project_id(), &self.running.deltas)?;
        tracing::debug!(
            mark_ms = marked.as_millis() as u64,
            entries_ms = (entered - marked).as_millis() as u64,
            allocations_ms = (allocated - entered).as_millis() as u64,
            totals_ms = (started.elapsed() - allocated).as_millis() as u64,
            "verification batch written"
        );
        Ok(())
    }
}

/// The use case "verify one claim": a decider of the claim's project verifies it, in its own
/// transaction under the project's lock, and sees it as it then stands. A claim the rules
/// refuse is an error: a decider that may not decide it is forbidden, a price out of the
/// ledger's range is refused with its reasons, anything else (not submitted, a prerequisite
/// not verified) is a conflict.
pub fn verify_one(
    conn: &mut DbConn,
    principal: &Principal,
    id: &ClaimId,
    clock: &Clock,
) -> Result<SeenClaim, ServiceError> {
    principal.require(CLAIM_DECIDERS)?;
    write_tx(conn, |conn| {
        let (claim, project) = locked_claim(conn, principal, id)?;
        let verifier = Verifier {
            subject: principal.subject(),
            organisation_id: principal.organisation(),
            capacity: decider(principal, &project.parties())?,
            at: clock.now(),
            progress: None,
        };
        let money = project.money(principal);
        let currency = project.record.project.currency.clone();
        let rules = ProjectRules::new(project.record, clock.today())?;
        let result = verify(conn, &rules, &verifier, std::slice::from_ref(&claim.id))?
            .pop()
            .ok_or_else(|| ServiceError::Internal("no verification result".into()))?;
        if !result.verified {
            return Err(refusal(result.reasons));
        }
        reread(conn, &claim.id, currency, money)
    })
}

/// The error a single verification's first reason makes.
fn refusal(reasons: Vec<Reason>) -> ServiceError {
    let reason = reasons
        .into_iter()
        .next()
        .unwrap_or_else(|| Reason::new("refused", "not verified"));
    match reason.code.as_str() {
        SEPARATION_OF_DUTIES | NOT_YOURS_TO_DECIDE => ServiceError::Forbidden(reason.detail),
        "amount_out_of_range" => ServiceError::ClaimRefused(vec![reason]),
        _ => ServiceError::Conflict(reason.detail),
    }
}

/// Where money moves: the parts place exactly the payable amount (unless no payer has a share),
/// none is negative, and none takes a payer past its cap.
fn assert_split_holds(
    claim_id: &ClaimId,
    pricing: &Pricing,
    weights: &[i128],
    parts: &[PayerPart],
    headroom: &[Minor],
) {
    let placed = (parts.iter()).try_fold(Minor::ZERO, |sum, p| {
        sum.checked_add(p.allocated)?.checked_add(p.shortfall)
    });
    assert!(
        placed == Some(pricing.payable_minor) || weights.iter().all(|w| *w == 0),
        "claim {claim_id}: split placed {placed:?} of {}",
        pricing.payable_minor
    );
    for (part, room) in parts.iter().zip(headroom) {
        assert!(
            part.allocated >= Minor::ZERO
                && part.shortfall >= Minor::ZERO
                && part.allocated <= (*room).max(Minor::ZERO),
            "claim {claim_id}: a part {part:?} outside its payer's headroom {room}"
        );
    }
}
