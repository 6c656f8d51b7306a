//! What one rebuild publishes of a project, and what it freezes.
//!
//! A quarter is published once it is closed for claims, `close_after_days` after it ends
//! (claims are submitted monthly and settled quarterly in arrears). The first rebuild after
//! that freezes the quarter: its blocks (one outcome in one quarter) as the ledger holds them
//! then, and whether each is withheld. Every later rebuild and release publishes the frozen
//! quarter as it was, whatever the ledger learns afterwards (a late verification or revocation
//! changes no published cell), so that no two releases differ in a cell and their difference
//! isolates nobody; a withheld block stays withheld. The payers' and the project's totals are
//! sums over the frozen quarters, and every total ever published is kept: the auditor takes
//! each as known, and what the ledger holds beyond the frozen quarters as unknown but for its
//! sign. What the ledger learns of frozen quarters is published apart, as adjustments (see
//! `adjustments`), which the auditor takes as known too.
//!
//! The small-number rules decide first; then the disclosure auditor asks, for every withheld
//! count, what a reader of everything published (the caps that bound included) can rule out.
//! While some count is exposed, more of the quarters being frozen now is withheld, in steps:
//! every block that shares a bound cap with an exposed one (a payer's whole series once its cap
//! binds, an outcome's once its volume cap does, everything once the contract's does), then
//! every block being frozen. If even that leaves a count exposed, the quarters wait: nothing
//! new is published until a later rebuild can publish it safely. If a count is exposed with
//! nothing new published (the ledger moved under frozen cells), the rebuild is refused.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDateTime};

use super::adjustments;
use super::disclosure::{
    self, Adjusted, Block, Cap, CapState, ChangeSince, EarlierCap, EarlierTotal, Exposure, Funded,
    OutcomeTerms, Pay, PayerTerms, Piece, ProjectTerms, Publication, Quantity, Rate, Unpublished,
};
use super::history::{
    Adjustment, CapName, Change, FrozenBlock, FrozenQuarter, History, PublishedCap, PublishedTotal,
};
use super::rows::{
    lay_out, write_rows, Cells, LedgerFacts, MoneyFacts, Parts, ProjectFacts, ProjectRows,
    ResultFacts,
};
use super::value::{Row, Value};
use crate::domain::money::Minor;
use crate::domain::period::Period;

/// What decides a publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Counts from 1 to k−1 are withheld.
    pub k: i64,
    /// A quarter is published this many days after it ends.
    pub close_after_days: u32,
}

/// What a rebuild publishes of a project, and what it adds to its history.
#[derive(Debug)]
pub struct ProjectPublication {
    pub rows: ProjectRows,
    pub newly_frozen: Vec<FrozenQuarter>,
    pub new_totals: Vec<PublishedTotal>,
    pub new_adjustments: Vec<Adjustment>,
    pub new_caps: Vec<PublishedCap>,
    /// The year whose adjustment round this publication held, if it held one.
    pub adjustment_round: Option<i32>,
    /// Closed quarters that could not yet be published safely.
    pub waiting: usize,
    /// Whether quarters or adjustments were ready but nothing new was published, because the
    /// auditor's reader found even the frozen quarters exposed under what the ledger has
    /// learnt since (the rebuild logs it).
    pub held_back: bool,
}

/// Whether `quarter` is closed for claims at `now`.
pub fn is_closed(quarter: Period, rules: Rules, now: NaiveDateTime) -> bool {
    quarter
        .last_day()
        .checked_add_days(Days::new(1 + u64::from(rules.close_after_days)))
        .is_some_and(|closes| now.date() >= closes)
}

/// Publishes the project at `now`: its frozen quarters, and the closed quarters not yet
/// frozen, withheld as the rules and the auditor require. An error says why a rebuild must
/// not publish this project's rows (the previous tables then stay).
pub fn publish(
    project: &ProjectFacts,
    ledger: &LedgerFacts,
    history: &History,
    rules: Rules,
    now: NaiveDateTime,
) -> Result<ProjectPublication, String> {
    publish_with(project, ledger, history, rules, now, Scrutiny::WhatIsNew)
}

/// How much of a publication the auditor examines again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scrutiny {
    /// Every withheld count, whatever is new (what `cofund check` does).
    Everything,
    /// Only when a quarter or an adjustment is newly published: a rebuild that publishes
    /// neither publishes the frozen quarters, their totals (withheld while closed quarters
    /// wait) and the adjustments as before, which were audited when first published, and a
    /// reader learns nothing new from it.
    /// (Its rows are still checked to be written whole and as frozen.)
    WhatIsNew,
}

/// `publish`, examining as much as `scrutiny` says.
pub fn publish_with(
    project: &ProjectFacts,
    ledger: &LedgerFacts,
    history: &History,
    rules: Rules,
    now: NaiveDateTime,
    scrutiny: Scrutiny,
) -> Result<ProjectPublication, String> {
    let candidates = closed_quarters_to_freeze(ledger, history, rules, now);
    let offered = adjustments::offered(project, ledger, history, rules.k, now);
    let adjustment_round = adjustments::round_due(history, now);
    if candidates.is_empty() && offered.is_empty() && scrutiny == Scrutiny::WhatIsNew {
        let publication = republish(project, ledger, history, rules.k, now, 0)?;
        return Ok(ProjectPublication {
            adjustment_round,
            ..publication
        });
    }
    let waiting = candidates.len();
    let (chosen, mut view, mut withheld) =
        match choose(project, ledger, history, candidates, rules, now)? {
            Some(chosen) => chosen,
            // The auditor's reader, told which way what the ledger has learnt since goes,
            // finds the frozen quarters exposed even with nothing new published. Nothing new
            // is then published at all, which tells a real reader nothing it was not told
            // before. The closed quarters wait for a later rebuild; the year's adjustment
            // round is held, so that pending changes wait for the next, as any the auditor
            // keeps back (the day a row appears must say nothing of when a claim changed).
            None if scrutiny == Scrutiny::WhatIsNew => {
                let publication = republish(project, ledger, history, rules.k, now, waiting)?;
                return Ok(ProjectPublication {
                    adjustment_round,
                    held_back: true,
                    ..publication
                });
            }
            None => return Err(NOTHING_COVERS.to_owned()),
        };
    let waiting = waiting - chosen.len();
    let mut rows = rows_while_waiting(project, &view, &mut withheld, waiting);
    let new_adjustments = view.adjust(offered, &withheld, rules.k);
    let published = history.adjustments.iter().chain(&new_adjustments);
    rows.adjustments = adjustments::rows(project, published);
    view.audit_rows(&rows, rules.k, true)?;
    let new_totals = view.new_totals(&withheld, !chosen.is_empty(), history);
    let published_more = !chosen.is_empty() || !new_adjustments.is_empty();
    let new_caps = view.new_caps(published_more);
    let newly_frozen = view.freeze(chosen, &withheld);
    Ok(ProjectPublication {
        rows,
        newly_frozen,
        new_totals,
        new_adjustments,
        new_caps,
        adjustment_round,
        waiting,
        held_back: false,
    })
}

/// The frozen quarters, their totals and the adjustments as published before: audited when
/// they were first published, so only checked to be written whole and as frozen. While closed
/// quarters wait, every total is withheld (see `publish_with`).
fn republish(
    project: &ProjectFacts,
    ledger: &LedgerFacts,
    history: &History,
    k: i64,
    now: NaiveDateTime,
    waiting: usize,
) -> Result<ProjectPublication, String> {
    let view = View::new(project, ledger, history, &[], now)?;
    let mut withheld = view.decided(k);
    let mut rows = rows_while_waiting(project, &view, &mut withheld, waiting);
    rows.adjustments = adjustments::rows(project, history.adjustments.iter());
    view.audit_rows(&rows, k, false)?;
    Ok(ProjectPublication {
        new_totals: view.new_totals(&withheld, false, history),
        new_caps: Vec::new(),
        rows,
        newly_frozen: Vec::new(),
        new_adjustments: Vec::new(),
        adjustment_round: None,
        waiting,
        held_back: false,
    })
}

/// The rows of `view` with `withheld` cells withheld. A total over the published quarters
/// alone would read as the project's while a closed quarter is missing from it: while any
/// is `waiting`, every total is withheld too, zeros included.
fn rows_while_waiting(
    project: &ProjectFacts,
    view: &View,
    withheld: &mut BTreeSet<usize>,
    waiting: usize,
) -> ProjectRows {
    if waiting > 0 {
        withheld.extend(view.cells.payer_totals.values());
        withheld.insert(view.cells.project_total);
    }
    let mut rows = write_rows(project, &view.facts, &view.cells, withheld);
    if waiting > 0 {
        for row in rows.payers.iter_mut() {
            row.values[7] = Value::Suppressed;
        }
    }
    rows
}

/// The quarters chosen to publish, the view of them and its withheld cells.
type Chosen<'a> = (Vec<FrozenQuarter>, View<'a>, BTreeSet<usize>);

const NOTHING_COVERS: &str = "a withheld count of the quarters already published is exposed by what the ledger has learnt since; nothing new can be published to cover it";

/// The closed quarters to publish now: all of them if they can be protected together; else
/// the longest run of them from the earliest that can be, then each later one in turn, in time
/// order, that can be protected with those chosen before it (the rest wait for a later
/// rebuild). With the view of them and its withheld cells, so that the audit that chose them
/// is not run again. `None` when not even the quarters frozen earlier can be protected with
/// nothing new published (the ledger moved under them).
///
/// The run is found by bisection: a quarter that cannot be protected is usually one that
/// completes a bound cap's sum, and then no longer run can be protected either, so a handful
/// of audits find it where one audit per quarter would be needed otherwise (ten years of
/// quarters are frozen at once when a project is first published).
fn choose<'a>(
    project: &'a ProjectFacts,
    ledger: &LedgerFacts,
    history: &History,
    candidates: Vec<FrozenQuarter>,
    rules: Rules,
    now: NaiveDateTime,
) -> Result<Option<Chosen<'a>>, String> {
    let protected =
        |quarters: &[FrozenQuarter]| -> Result<Option<(View<'a>, BTreeSet<usize>)>, String> {
            let view = View::new(project, ledger, history, quarters, now)?;
            Ok(view.protect(rules.k).map(|withheld| (view, withheld)))
        };
    if let Some((view, withheld)) = protected(&candidates)? {
        return Ok(Some((candidates, view, withheld)));
    }
    // Runs of `good` quarters or fewer are known to be protected (none, trivially, until
    // proved otherwise below), runs of `bad` or more are known not to be.
    let (mut good, mut bad) = (0, candidates.len());
    let mut last = None;
    while bad - good > 1 {
        let middle = (good + bad) / 2;
        match protected(&candidates[..middle])? {
            Some(found) => (good, last) = (middle, Some(found)),
            None => bad = middle,
        }
    }
    let mut later = candidates;
    let mut chosen: Vec<FrozenQuarter> = later.drain(..good).collect();
    for quarter in later.into_iter().skip(1) {
        chosen.push(quarter);
        match protected(&chosen)? {
            Some(found) => last = Some(found),
            None => {
                chosen.pop();
            }
        }
    }
    let Some((view, withheld)) = last.map_or_else(|| protected(&[]), |found| Ok(Some(found)))?
    else {
        return Ok(None);
    };
    Ok(Some((chosen, view, withheld)))
}

/// The project's rows with every closed quarter published as if for the first time (no
/// history), for tests and tools that reason about one publication.
pub fn project_rows(
    project: &ProjectFacts,
    ledger: &LedgerFacts,
    k: i64,
) -> Result<ProjectRows, String> {
    let rules = Rules {
        k,
        close_after_days: 0,
    };
    let after_everything = NaiveDateTime::MAX
        .date()
        .and_hms_opt(0, 0, 0)
        .expect("midnight");
    publish(
        project,
        ledger,
        &History::default(),
        rules,
        after_everything,
    )
    .map(|p| p.rows)
}

/// The closed quarters with results that no earlier rebuild froze, as the ledger holds them
/// now.
fn closed_quarters_to_freeze(
    ledger: &LedgerFacts,
    history: &History,
    rules: Rules,
    now: NaiveDateTime,
) -> Vec<FrozenQuarter> {
    let frozen: BTreeSet<Period> = history.frozen.iter().map(|q| q.period).collect();
    let mut quarters: BTreeMap<Period, FrozenQuarter> = BTreeMap::new();
    for ((code, period), results) in &ledger.results {
        if frozen.contains(period) || !is_closed(*period, rules, now) {
            continue;
        }
        let money = ledger
            .payments
            .range((code.clone(), *period, String::new())..)
            .take_while(|((c, p, _), _)| c == code && p == period)
            .map(|((_, _, payer), m)| (payer.clone(), *m))
            .collect();
        let quarter = quarters.entry(*period).or_insert_with(|| FrozenQuarter {
            period: *period,
            frozen_at: now,
            blocks: Vec::new(),
        });
        quarter.blocks.push(FrozenBlock {
            code: code.clone(),
            results: results.clone(),
            money,
            withheld: false,
        });
    }
    quarters.into_values().collect()
}

/// One attempt at a publication: the frozen quarters and the candidates laid out as one
/// project's facts, with what the auditor needs to know about them.
struct View<'a> {
    project: &'a ProjectFacts,
    /// The published blocks' facts, with totals over them.
    facts: LedgerFacts,
    cells: Cells,
    audit: Audit,
    /// The blocks frozen earlier: withheld or not.
    earlier: BTreeMap<(String, Period), bool>,
    now: NaiveDateTime,
}

impl<'a> View<'a> {
    fn new(
        project: &'a ProjectFacts,
        ledger: &LedgerFacts,
        history: &History,
        candidates: &[FrozenQuarter],
        now: NaiveDateTime,
    ) -> Result<View<'a>, String> {
        let mut facts = LedgerFacts::default();
        let mut frozen_at = BTreeMap::new();
        let mut earlier = BTreeMap::new();
        for (quarter, is_earlier) in history
            .frozen
            .iter()
            .map(|q| (q, true))
            .chain(candidates.iter().map(|q| (q, false)))
        {
            for block in &quarter.blocks {
                let key = (block.code.clone(), quarter.period);
                frozen_at.insert(key.clone(), quarter.frozen_at);
                if is_earlier {
                    earlier.insert(key.clone(), block.withheld);
                }
                facts.results.insert(key, block.results.clone());
                for (payer, money) in &block.money {
                    let key = (block.code.clone(), quarter.period, payer.clone());
                    facts.payments.insert(key, *money);
                    let total = facts.payer_totals.entry(payer.clone()).or_default();
                    total.minor += money.minor;
                    total.participants += money.participants;
                    facts.project_total.minor += money.minor;
                }
                facts.project_total.participants += block.results.paid_participants;
            }
        }
        let cells = lay_out(&facts);
        let mut audit = Audit::new(
            project,
            &facts,
            ledger,
            &frozen_at,
            &earlier,
            &history.totals,
        )?;
        for adjustment in &history.adjustments {
            audit.take_as_published(adjustment);
        }
        audit.take_earlier_caps(&history.caps, &history.adjustments);
        Ok(View {
            project,
            facts,
            cells,
            audit,
            earlier,
            now,
        })
    }

    /// Every cell of the blocks in `keys`.
    fn cells_of<'k>(&self, keys: impl Iterator<Item = &'k (String, Period)>) -> BTreeSet<usize> {
        keys.flat_map(|key| self.cells.block_cells[key].iter().copied())
            .collect()
    }

    /// The cells the small-number rules withhold, the frozen decisions kept.
    fn decided(&self, k: i64) -> BTreeSet<usize> {
        self.suppress(k, &BTreeSet::new())
    }

    /// The cells withheld when `also` are, besides the small ones and those withheld earlier,
    /// never withholding a cell published earlier.
    fn suppress(&self, k: i64, also: &BTreeSet<usize>) -> BTreeSet<usize> {
        let shown_earlier = self.cells_of(self.earlier.iter().filter(|e| !e.1).map(|e| e.0));
        let mut withheld = self.cells_of(self.earlier.iter().filter(|e| *e.1).map(|e| e.0));
        withheld.extend(also);
        self.cells
            .grid
            .suppress_pinned(k, &withheld, &shown_earlier)
    }

    /// The withheld cells, or `None` when no withholding of the new blocks protects every
    /// withheld count: the small-number rules' cells, then also every new block sharing a bound
    /// cap with an exposed one, then every new block. Only the first step needs to know every
    /// exposed count; the others ask only whether any is left, and a step that withholds
    /// nothing more is not audited again.
    fn protect(&self, k: i64) -> Option<BTreeSet<usize>> {
        let mut withheld = self.decided(k);
        let exposed = self.audit.exposures(&self.cells, &withheld, k);
        if exposed.is_empty() {
            return Some(withheld);
        }
        let new: BTreeSet<usize> = (0..self.audit.keys.len())
            .filter(|&b| !self.earlier.contains_key(&self.audit.keys[b]))
            .collect();
        let linked = &self.audit.sharing_a_bound_cap(&exposed) & &new;
        for blocks in [linked, new] {
            let mut also = withheld.clone();
            also.extend(self.cells_of(blocks.iter().map(|&b| &self.audit.keys[b])));
            let wider = self.suppress(k, &also);
            if wider == withheld {
                continue;
            }
            withheld = wider;
            if !self.audit.exposes(&self.cells, &withheld, k) {
                return Some(withheld);
            }
        }
        None
    }

    /// The offered adjustments that expose no withheld count, each taken with those before
    /// it, in order; the auditor takes them as published from here on.
    fn adjust(
        &mut self,
        offered: Vec<Adjustment>,
        withheld: &BTreeSet<usize>,
        k: i64,
    ) -> Vec<Adjustment> {
        let mut kept = Vec::new();
        for adjustment in offered {
            let before = (
                self.audit.publication.clone(),
                self.audit.adjusted_so_far.clone(),
            );
            self.audit.take_as_published(&adjustment);
            if self.audit.exposes(&self.cells, withheld, k) {
                (self.audit.publication, self.audit.adjusted_so_far) = before;
            } else {
                kept.push(adjustment);
            }
        }
        kept
    }

    /// Audits the rows as written: each block is withheld whole or not at all, every block
    /// frozen earlier is as it was, and no withheld count is exposed to a reader of them. A
    /// fault between deciding and writing is caught here and never published.
    fn audit_rows(&self, rows: &ProjectRows, k: i64, solve: bool) -> Result<(), String> {
        let metric_ids: BTreeMap<&str, &str> = self
            .project
            .metrics
            .iter()
            .map(|m| (m.code.as_str(), m.id.as_str()))
            .collect();
        let mut withheld = Vec::with_capacity(self.audit.keys.len());
        for key in &self.audit.keys {
            let (code, quarter) = key;
            let metric = Value::text(metric_ids.get(code.as_str()).copied().unwrap_or(code));
            let start = Value::Date(quarter.start());
            let of_block = |r: &&Row| r.values[1] == metric && r.values[2] == start;
            let values: Vec<&Value> = rows
                .results
                .iter()
                .filter(of_block)
                .flat_map(|r| &r.values[4..7])
                .chain(rows.payments.iter().filter(of_block).map(|r| &r.values[6]))
                .collect();
            let suppressed = values.iter().filter(|v| ***v == Value::Suppressed).count();
            if values.is_empty() || (suppressed != 0 && suppressed != values.len()) {
                return Err(format!(
                    "the {code} block of {quarter} is not written whole"
                ));
            }
            if self
                .earlier
                .get(key)
                .is_some_and(|&w| w != (suppressed != 0))
            {
                return Err(format!(
                    "the {code} block of {quarter} changed since it was frozen"
                ));
            }
            withheld.push(suppressed != 0);
        }
        let amount = |v: &Value| match v {
            Value::Amount { minor, .. } => Some(minor.get()),
            _ => None,
        };
        let published = Publication {
            withheld,
            payer_totals: rows.payers.iter().map(|r| amount(&r.values[7])).collect(),
            project_total: amount(&rows.project[0].values[12]),
            ..self.audit.publication.clone()
        };
        if !solve {
            return Ok(());
        }
        let exposed = disclosure::audit(&self.audit.terms, &self.audit.blocks, &published, k);
        match exposed.first() {
            None => Ok(()),
            Some(e) => Err(self.audit.describe(e, exposed.len())),
        }
    }

    /// The totals this publication shows that the history does not hold yet: all of them
    /// when new quarters were frozen (they cover more), else those never published before.
    fn new_totals(
        &self,
        withheld: &BTreeSet<usize>,
        froze_more: bool,
        history: &History,
    ) -> Vec<PublishedTotal> {
        let known: BTreeSet<Option<&str>> =
            history.totals.iter().map(|t| t.payer.as_deref()).collect();
        let payers = self.cells.payer_totals.iter().map(|(payer, &cell)| {
            (
                Some(payer.clone()),
                cell,
                self.facts.payer_totals[payer].minor,
            )
        });
        let project = (
            None,
            self.cells.project_total,
            self.facts.project_total.minor,
        );
        payers
            .chain([project])
            .filter(|(payer, cell, _)| {
                !withheld.contains(cell) && (froze_more || !known.contains(&payer.as_deref()))
            })
            .map(|(payer, _, amount)| PublishedTotal {
                payer,
                as_of: self.now,
                amount,
            })
            .collect()
    }

    /// How the caps stand now, for the history, when this publication shows more than the
    /// last: a rebuild that shows nothing new tells its reader nothing new of them either.
    fn new_caps(&self, published_more: bool) -> Vec<PublishedCap> {
        if !published_more {
            return Vec::new();
        }
        self.audit
            .cap_states()
            .into_iter()
            .map(|state| PublishedCap {
                cap: self.audit.name_of(state.cap),
                as_of: self.now,
                bound: state.bound,
                beyond: state.beyond,
            })
            .collect()
    }

    /// The candidate quarters with the decision on each block.
    fn freeze(
        &self,
        candidates: Vec<FrozenQuarter>,
        withheld: &BTreeSet<usize>,
    ) -> Vec<FrozenQuarter> {
        candidates
            .into_iter()
            .map(|mut quarter| {
                for block in &mut quarter.blocks {
                    let key = (block.code.clone(), quarter.period);
                    block.withheld = withheld.contains(&self.cells.paid[&key]);
                }
                quarter
            })
            .collect()
    }
}

/// A project's published blocks, terms and history as the disclosure auditor reads them.
struct Audit {
    terms: ProjectTerms,
    /// Each outcome's code, in the order of `terms.outcomes`.
    codes: Vec<String>,
    keys: Vec<(String, Period)>,
    /// When each block was frozen.
    frozen_at: Vec<NaiveDateTime>,
    /// Each outcome's adjustments so far, added up.
    adjusted_so_far: BTreeMap<String, Change>,
    /// Whether anything has been revoked from a published block since it was frozen.
    revoked_since_frozen: bool,
    blocks: Vec<Block>,
    payer_ids: Vec<String>,
    /// What the auditor is told beside the blocks and current totals: earlier totals and what
    /// the ledger holds beyond the published blocks.
    publication: Publication,
}

impl Audit {
    fn new(
        project: &ProjectFacts,
        published: &LedgerFacts,
        ledger: &LedgerFacts,
        frozen_at: &BTreeMap<(String, Period), NaiveDateTime>,
        earlier: &BTreeMap<(String, Period), bool>,
        totals: &[PublishedTotal],
    ) -> Result<Audit, String> {
        let terms = project_terms(project);
        let payer_ids: Vec<String> = project
            .payers
            .iter()
            .map(|p| p.organisation_id.clone())
            .collect();
        let mut keys = Vec::new();
        let mut blocks = Vec::new();
        let mut parts = Vec::new();
        for ((code, quarter), r) in &published.results {
            let outcome = project
                .metrics
                .iter()
                .position(|m| &m.code == code)
                .ok_or_else(|| format!("outcome {code} has results but is not on the rate card"))?;
            let key = (code.clone(), *quarter);
            let mut block = block_of(outcome, code, *quarter, r, &payer_ids, published);
            block.frozen_earlier = earlier.contains_key(&key);
            keys.push(key);
            blocks.push(block);
            parts.push(parts_of(code, *quarter, &payer_ids, published));
        }
        let earlier_totals = totals
            .iter()
            .filter_map(|t| {
                let payer = match &t.payer {
                    Some(id) => Some(payer_ids.iter().position(|p| p == id)?),
                    None => None,
                };
                let covered = (0..keys.len())
                    .filter(|&b| frozen_at[&keys[b]] <= t.as_of)
                    .collect();
                Some(EarlierTotal {
                    payer,
                    blocks: covered,
                    amount: t.amount.get(),
                })
            })
            .collect();
        let mut unpublished = unpublished(project, &payer_ids, published, ledger);
        set_rates(&terms, &keys, &parts, &mut blocks, &mut unpublished);
        set_nothing_payable(&terms, &keys, &mut blocks, &unpublished);
        set_pieces(
            project,
            &payer_ids,
            (&keys, &blocks),
            ledger,
            &mut unpublished,
        );
        Ok(Audit {
            revoked_since_frozen: lost_since_frozen(published, ledger),
            terms,
            codes: project.metrics.iter().map(|m| m.code.clone()).collect(),
            frozen_at: keys.iter().map(|key| frozen_at[key]).collect(),
            adjusted_so_far: BTreeMap::new(),
            keys,
            blocks,
            payer_ids,
            publication: Publication {
                earlier_totals,
                unpublished,
                ..Publication::default()
            },
        })
    }

    /// Adds a published adjustment to what the reader knows: all of it, each payer's money
    /// included, whether or not the table shows its money (the reader is assumed to know more
    /// than the table says).
    fn take_as_published(&mut self, adjustment: &Adjustment) {
        let change = &adjustment.change;
        let payers = self.payer_ids.len();
        let outcome = self.codes.iter().position(|c| *c == adjustment.code);
        let known: &mut Adjusted = &mut self.publication.unpublished.adjusted;
        known.money.resize(payers, 0);
        known.payable_units.resize(self.terms.outcomes.len(), 0);
        // A payer no longer on the project has no cap the reader could use.
        let payer = |id: &String| self.payer_ids.iter().position(|p| p == id);
        for (id, minor) in &change.money {
            if let Some(r) = payer(id) {
                known.money[r] += minor.get();
            }
        }
        known.payable_minor += change.payable_minor.get();
        let Some(outcome) = outcome else { return };
        known.payable_units[outcome] += change.payable_units;
        let so_far = self
            .adjusted_so_far
            .entry(adjustment.code.clone())
            .or_default();
        so_far.add(change, 1);
        let mut money = vec![0; payers];
        for (id, minor) in &so_far.money {
            if let Some(r) = payer(id) {
                money[r] += minor.get();
            }
        }
        let covered = (0..self.keys.len()).filter(|&b| {
            self.blocks[b].outcome == outcome && self.frozen_at[b] < adjustment.published_at
        });
        self.publication.changes.push(ChangeSince {
            blocks: covered.collect(),
            achieved_units: so_far.achieved_units,
            paid_units: so_far.paid_units,
            payable_units: so_far.payable_units,
            money: (so_far.payable_minor.get(), money),
        });
    }

    /// Every withheld count exposed when `withheld` cells are.
    fn exposures(&self, cells: &Cells, withheld: &BTreeSet<usize>, k: i64) -> Vec<Exposure> {
        let published = self.published(cells, withheld);
        disclosure::audit(&self.terms, &self.blocks, &published, k)
    }

    /// Whether any withheld count is exposed when `withheld` cells are.
    fn exposes(&self, cells: &Cells, withheld: &BTreeSet<usize>, k: i64) -> bool {
        let published = self.published(cells, withheld);
        disclosure::first_exposure(&self.terms, &self.blocks, &published, k).is_some()
    }

    /// What a reader is shown when `withheld` cells are withheld.
    fn published(&self, cells: &Cells, withheld: &BTreeSet<usize>) -> Publication {
        let shown = |cell: Option<&usize>, value: i64| match cell {
            Some(cell) if withheld.contains(cell) => None,
            _ => Some(value),
        };
        let payer_total = |r: usize| -> i64 { self.blocks.iter().filter_map(|b| b.money[r]).sum() };
        Publication {
            withheld: self
                .keys
                .iter()
                .map(|key| withheld.contains(&cells.paid[key]))
                .collect(),
            payer_totals: (0..self.payer_ids.len())
                .map(|r| shown(cells.payer_totals.get(&self.payer_ids[r]), payer_total(r)))
                .collect(),
            project_total: shown(
                Some(&cells.project_total),
                self.blocks
                    .iter()
                    .flat_map(|b| b.money.iter().flatten())
                    .sum(),
            ),
            ..self.publication.clone()
        }
    }

    /// The blocks that share a cap that has bound with an exposed block.
    fn sharing_a_bound_cap(&self, exposed: &[Exposure]) -> BTreeSet<usize> {
        let blocks = &self.blocks;
        let bound: Vec<Cap> = self
            .cap_states()
            .into_iter()
            .filter(|s| s.bound)
            .map(|s| s.cap)
            .collect();
        // A payer's cap links the blocks it has a row in, an outcome's volume cap the
        // outcome's blocks, the contract's every block with a payable value.
        let shares = |cap: Cap, b: &Block| match cap {
            Cap::Payer(r) => b.money[r].is_some(),
            Cap::Contract => true,
            Cap::Volume(o) => b.outcome == o,
        };
        let counts_against = |cap: Cap, b: &Block| match cap {
            Cap::Volume(o) => b.outcome == o,
            _ => cap.of_block(b) != 0,
        };
        let mut linked = BTreeSet::new();
        for e in exposed {
            for &cap in bound.iter().filter(|&&cap| shares(cap, &blocks[e.block])) {
                linked.extend((0..blocks.len()).filter(|&i| counts_against(cap, &blocks[i])));
            }
            linked.insert(e.block);
        }
        linked
    }

    /// How every cap stands now.
    fn cap_states(&self) -> Vec<CapState> {
        disclosure::cap_states(&self.terms, &self.blocks, &self.publication.unpublished)
    }

    fn name_of(&self, cap: Cap) -> CapName {
        match cap {
            Cap::Payer(r) => CapName::Payer(self.payer_ids[r].clone()),
            Cap::Contract => CapName::Contract,
            Cap::Volume(o) => CapName::Volume(self.codes[o].clone()),
        }
    }

    /// The cap named, if the terms still set it.
    fn cap_named(&self, name: &CapName) -> Option<Cap> {
        let cap = match name {
            CapName::Payer(id) => Cap::Payer(self.payer_ids.iter().position(|p| p == id)?),
            CapName::Contract => Cap::Contract,
            CapName::Volume(code) => Cap::Volume(self.codes.iter().position(|c| c == code)?),
        };
        cap.limit(&self.terms).map(|_| cap)
    }

    /// What an adjustment counted against a cap.
    fn counted_by(&self, cap: Cap, adjustment: &Adjustment) -> i64 {
        let change = &adjustment.change;
        match cap {
            Cap::Payer(r) => (change.money.get(&self.payer_ids[r])).map_or(0, |m| m.get()),
            Cap::Contract => change.payable_minor.get(),
            Cap::Volume(o) if self.codes[o] == adjustment.code => change.payable_units,
            Cap::Volume(_) => 0,
        }
    }

    /// Adds how each cap stood at earlier rebuilds to what the reader knows, but for what the
    /// reader knows anyway: a cap that stood with revocations beyond it and had not bound
    /// says nothing, and one with nothing taken away beyond it says only that what it
    /// counted then was at most the cap. The cap says that now too, so long as nothing has
    /// been taken since: nothing revoked from a published block since it was frozen (whether
    /// or not an adjustment has published it yet), no adjustment since that counts less,
    /// and nothing taken away beyond the rows now (the reader knows which way that goes).
    fn take_earlier_caps(&mut self, caps: &[PublishedCap], adjustments: &[Adjustment]) {
        let now = self.cap_states();
        for kept in caps {
            let Some(cap) = self.cap_named(&kept.cap) else {
                continue;
            };
            let (by_then, since): (Vec<&Adjustment>, Vec<&Adjustment>) = adjustments
                .iter()
                .partition(|a| a.published_at <= kept.as_of);
            let taken_since = self.revoked_since_frozen
                || since.iter().any(|a| self.counted_by(cap, a) < 0)
                || now.iter().any(|s| s.cap == cap && s.beyond < 0);
            let at_most = kept.beyond > 0 || (kept.beyond == 0 && !kept.bound);
            if (kept.beyond < 0 && !kept.bound) || (at_most && !taken_since) {
                continue;
            }
            let blocks = (0..self.keys.len()).filter(|&b| self.frozen_at[b] <= kept.as_of);
            self.publication.earlier_caps.push(EarlierCap {
                state: CapState {
                    cap,
                    bound: kept.bound,
                    beyond: kept.beyond,
                },
                blocks: blocks.collect(),
                adjusted: by_then.iter().map(|a| self.counted_by(cap, a)).sum(),
            });
        }
    }

    fn describe(&self, e: &Exposure, count: usize) -> String {
        let (code, quarter) = &self.keys[e.block];
        let quantity = match e.quantity {
            Quantity::Achieved => "achieved",
            Quantity::Paid => "paid",
        };
        format!(
            "{count} withheld counts are exposed, the first the outcomes {quantity} of {code} in {quarter}: a reader rules out {:?}",
            e.ruled_out
        )
    }
}

/// One block as the auditor reads it: its counts, each payer's money, and (where each outcome
/// is one participant's unit) how many outcomes each payer paid something for.
fn block_of(
    outcome: usize,
    code: &str,
    quarter: Period,
    r: &ResultFacts,
    payer_ids: &[String],
    published: &LedgerFacts,
) -> Block {
    let payments: Vec<Option<MoneyFacts>> = payer_ids
        .iter()
        .map(|payer| {
            let key = (code.to_owned(), quarter, payer.clone());
            published.payments.get(&key).copied()
        })
        .collect();
    let one_unit_each =
        r.achieved_units == r.achieved_participants && r.paid_units == r.paid_participants;
    let paid_for = one_unit_each.then(|| {
        payments
            .iter()
            .map(|m| m.map_or(0, |m| m.participants))
            .collect()
    });
    Block {
        outcome,
        achieved_units: r.achieved_units,
        paid_units: r.paid_units,
        payable_units: r.payable_units,
        payable_minor: r.payable_minor.get(),
        money: payments.iter().map(|m| m.map(|m| m.minor.get())).collect(),
        paid_for,
        rates: vec![None; payer_ids.len()],
        capped: vec![false; payer_ids.len()],
        exhausted: vec![false; payer_ids.len()],
        no_payable_units: false,
        no_payable_value: false,
        frozen_earlier: false,
    }
}

/// Each payer's least and most paid to one participant in a block, where known.
fn parts_of(
    code: &str,
    quarter: Period,
    payer_ids: &[String],
    published: &LedgerFacts,
) -> Vec<Option<Parts>> {
    let parts = |payer: &String| {
        let key = (code.to_owned(), quarter, payer.clone());
        published.payments.get(&key).and_then(|m| m.parts)
    };
    payer_ids.iter().map(parts).collect()
}

fn project_terms(project: &ProjectFacts) -> ProjectTerms {
    ProjectTerms {
        payers: project
            .payers
            .iter()
            .map(|p| PayerTerms {
                cap_minor: p.max_commitment_minor.get(),
            })
            .collect(),
        outcomes: project
            .metrics
            .iter()
            .map(|m| OutcomeTerms {
                price_minor: m.price_minor.get(),
                volume_cap: m.volume_cap,
            })
            .collect(),
        contract_cap_minor: project.max_outcome_payment_minor.map(Minor::get),
    }
}

/// Each block's payer rates and caps (see `Block::rates`). Where a block's parts are known
/// (each outcome one participant's), they say it: every outcome paid the same is paid at that
/// rate exactly; all but one paid the most, the last less or some not at all, is the block in
/// which the payer's cap bound; nothing paid is a payer whose cap had bound. Elsewhere (parts
/// not kept, time units) the binding quarter is taken to be the payer's last with money, once
/// its cap has bound, where it paid the rate it paid for that outcome before.
fn set_rates(
    terms: &ProjectTerms,
    keys: &[(String, Period)],
    parts: &[Vec<Option<Parts>>],
    blocks: &mut [Block],
    beyond: &mut Unpublished,
) {
    beyond.rates = vec![vec![None; terms.outcomes.len()]; terms.payers.len()];
    for (r, payer) in terms.payers.iter().enumerate() {
        let used = blocks.iter().filter_map(|b| b.money[r]).sum::<i64>()
            + beyond.money.get(r).copied().unwrap_or(0);
        let binding = (used >= payer.cap_minor)
            .then(|| {
                (0..blocks.len())
                    .filter(|&b| blocks[b].money[r].unwrap_or(0) > 0)
                    .map(|b| keys[b].1)
                    .max()
            })
            .flatten();
        // Blocks in time order, so that a binding quarter finds the rate paid before it.
        let mut order: Vec<usize> = (0..blocks.len()).collect();
        order.sort_by_key(|&b| keys[b].1);
        let mut last_rate: BTreeMap<usize, Rate> = BTreeMap::new();
        for b in order {
            let block = &mut blocks[b];
            if rate_from_parts(block, r, parts[b][r], &mut last_rate) {
                continue;
            }
            let money = block.money[r].unwrap_or(0);
            // After its cap bound, a payer pays nothing: in later quarters, and in blocks of
            // the binding quarter that came after it.
            let later = binding.is_some_and(|bound| keys[b].1 > bound);
            let after_in_quarter = Some(keys[b].1) == binding && money == 0;
            if later || after_in_quarter {
                block.exhausted[r] = true;
                continue;
            }
            if Some(keys[b].1) == binding && money > 0 {
                // The rate paid before, but not exactly: a phase or a reallocation may have
                // raised what an outcome is paid since.
                block.capped[r] = true;
                block.rates[r] = last_rate.get(&block.outcome).map(|rate| Rate {
                    exact: false,
                    ..*rate
                });
                continue;
            }
            let every_unit = block
                .paid_for
                .as_ref()
                .is_none_or(|paid_for| paid_for[r] == block.payable_units);
            if money > 0 && block.payable_units > 0 && every_unit {
                let rate = Rate {
                    minor: money,
                    units: block.payable_units,
                    exact: false,
                };
                block.rates[r] = Some(rate);
                last_rate.insert(block.outcome, rate);
            }
        }
        for (o, rate) in last_rate {
            beyond.rates[r][o] = Some(rate);
        }
    }
}

/// Payer `r`'s rate and cap in `block` as its parts show them, where each outcome is one
/// participant's and the parts are known; false where they say nothing.
fn rate_from_parts(
    block: &mut Block,
    r: usize,
    parts: Option<Parts>,
    last_rate: &mut BTreeMap<usize, Rate>,
) -> bool {
    let Some(paid_for) = block.paid_for.as_ref().map(|p| p[r]) else {
        return false;
    };
    let money = block.money[r].unwrap_or(0);
    if paid_for == 0 {
        block.exhausted[r] = money == 0;
        return money == 0;
    }
    let Some(Parts { smallest, largest }) = parts else {
        return false;
    };
    let (smallest, largest) = (smallest.get(), largest.get());
    let rate = Rate {
        minor: largest,
        units: 1,
        exact: true,
    };
    if smallest == largest && paid_for == block.payable_units {
        debug_assert_eq!(money, largest * paid_for);
        block.rates[r] = Some(rate);
        last_rate.insert(block.outcome, rate);
        return true;
    }
    // All but one paid the most: the one the cap cut short, or every one of them the most and
    // the rest of the block nothing.
    if money == (paid_for - 1) * largest + smallest {
        block.capped[r] = true;
        block.rates[r] = Some(rate);
        return true;
    }
    false
}

/// Marks the blocks of quarters after the one in which their outcome's volume cap bound (no
/// unit payable) or the contract's cap bound (nothing payable).
fn set_nothing_payable(
    terms: &ProjectTerms,
    keys: &[(String, Period)],
    blocks: &mut [Block],
    beyond: &Unpublished,
) {
    let last_payable =
        |blocks: &[Block], of: &dyn Fn(&Block) -> bool, amount: &dyn Fn(&Block) -> i64| {
            (0..blocks.len())
                .filter(|&b| of(&blocks[b]) && amount(&blocks[b]) > 0)
                .map(|b| keys[b].1)
                .max()
        };
    let value = blocks.iter().map(|b| b.payable_minor).sum::<i64>() + beyond.payable_minor;
    let contract_bound = terms.contract_cap_minor.is_some_and(|cap| value >= cap);
    let contract_binding = contract_bound
        .then(|| last_payable(blocks, &|_| true, &|b| b.payable_minor))
        .flatten();
    for (o, outcome) in terms.outcomes.iter().enumerate() {
        let units = blocks
            .iter()
            .filter(|b| b.outcome == o)
            .map(|b| b.payable_units);
        let units = units.sum::<i64>() + beyond.payable_units.get(o).copied().unwrap_or(0);
        let volume_binding = outcome
            .volume_cap
            .is_some_and(|cap| units >= cap)
            .then(|| last_payable(blocks, &|b| b.outcome == o, &|b| b.payable_units))
            .flatten();
        for (b, block) in blocks.iter_mut().enumerate() {
            let after = |bound: Option<Period>| bound.is_some_and(|q| keys[b].1 > q);
            if block.outcome == o {
                block.no_payable_units = after(volume_binding);
                block.no_payable_value = after(volume_binding) || after(contract_binding);
            }
        }
    }
}

/// What the ledger holds now beyond the published blocks.
fn unpublished(
    project: &ProjectFacts,
    payer_ids: &[String],
    published: &LedgerFacts,
    ledger: &LedgerFacts,
) -> Unpublished {
    let money = |facts: &LedgerFacts, payer: &String| {
        let of_payer = facts.payments.iter().filter(|((_, _, p), _)| p == payer);
        of_payer.map(|(_, m)| m.minor).sum::<Minor>().get()
    };
    let value = |facts: &LedgerFacts| {
        let values = facts.results.values().map(|r| r.payable_minor);
        values.sum::<Minor>().get()
    };
    let units = |facts: &LedgerFacts, code: &str| {
        facts
            .results
            .iter()
            .filter(|((c, _), _)| c == code)
            .map(|(_, r)| r.payable_units)
            .sum::<i64>()
    };
    Unpublished {
        money: payer_ids
            .iter()
            .map(|p| money(ledger, p) - money(published, p))
            .collect(),
        payable_minor: value(ledger) - value(published),
        payable_units: project
            .metrics
            .iter()
            .map(|m| units(ledger, &m.code) - units(published, &m.code))
            .collect(),
        rates: Vec::new(),
        adjusted: Adjusted::default(),
        pieces: Vec::new(),
    }
}

/// What each outcome's payable units beyond the published blocks are made of: outcomes added
/// since (to blocks frozen earlier, and in quarters not published), and outcomes revoked from
/// each kind of block frozen earlier, a kind being what each payer paid one of its outcomes
/// (see `disclosure::Piece`). These are the changes since each block was frozen, those the
/// adjustments published included. A block both added to and revoked from shows only the
/// difference, taken as one or the other (the auditor checks that the truth fits the pieces'
/// money, and else reads it by its direction). Where the pieces do not add up to what lies
/// beyond, the outcome has none.
fn set_pieces(
    project: &ProjectFacts,
    payer_ids: &[String],
    (keys, blocks): (&[(String, Period)], &[Block]),
    ledger: &LedgerFacts,
    beyond: &mut Unpublished,
) {
    let mut pieces: Vec<Vec<Piece>> = vec![Vec::new(); project.metrics.len()];
    for (b, (key, block)) in keys.iter().zip(blocks).enumerate() {
        let units_now = ledger.results.get(key).map_or(0, |r| r.payable_units);
        let change = units_now - block.payable_units;
        if change > 0 {
            let added = money_added(ledger, key, payer_ids, &block.money);
            let pays = payer_ids.iter().enumerate().map(|(r, payer)| {
                let money_now = money_of(ledger, key, payer);
                let quarter = added_to(ledger, key, beyond.rates.get(r), block.outcome);
                added_pay(money_now, block.money[r].unwrap_or(0), change, quarter)
            });
            let value_now = ledger.results.get(key).map_or(0, |r| r.payable_minor.get());
            let paid = Added {
                units: change,
                value: value_now - block.payable_minor,
                money: &added,
                price: project.metrics[block.outcome].price_minor.get(),
            };
            add_added(&mut pieces[block.outcome], pays.collect(), paid);
        } else if change < 0 {
            // A revoked outcome took back what its quarter paid it: the rate, or no more than
            // the rate where the payer's cap bound in that quarter.
            let pays: Vec<Option<Pay>> = (0..block.money.len())
                .map(|r| match (block.money[r], block.rates[r]) {
                    (None | Some(0), _) => Some(Pay::Rate(Rate::NOTHING)),
                    (Some(_), Some(rate)) if block.capped[r] && rate.exact => {
                        Some(Pay::AtMost(most_a_unit(rate)))
                    }
                    (Some(_), _) if block.capped[r] => None,
                    (Some(_), rate) => rate.map(Pay::Rate),
                })
                .collect();
            add_piece(&mut pieces[block.outcome], Some(b), -change, (pays, None));
        }
    }
    let published: BTreeSet<&(String, Period)> = keys.iter().collect();
    let not_published = ledger
        .results
        .iter()
        .filter(|(k, _)| !published.contains(k));
    for (key, r) in not_published.filter(|(_, r)| r.payable_units > 0) {
        if let Some(o) = project.metrics.iter().position(|m| m.code == key.0) {
            let pays = payer_ids.iter().enumerate().map(|(payer, id)| {
                let quarter = added_to(ledger, key, beyond.rates.get(payer), o);
                added_pay(money_of(ledger, key, id), 0, r.payable_units, quarter)
            });
            let added = money_added(ledger, key, payer_ids, &[]);
            let paid = Added {
                units: r.payable_units,
                value: r.payable_minor.get(),
                money: &added,
                price: project.metrics[o].price_minor.get(),
            };
            add_added(&mut pieces[o], pays.collect(), paid);
        }
    }
    beyond.pieces = pieces
        .into_iter()
        .enumerate()
        .map(|(o, of_outcome)| {
            let net: i64 = of_outcome.iter().map(|p| p.sign() * p.units).sum();
            (net == beyond.payable_units[o]).then_some(of_outcome)
        })
        .collect();
}

/// Outcomes added to one quarter of an outcome since it was frozen (or in a quarter not
/// published): how many payable units, their payable value, what each payer was paid for
/// them, and the outcome's price.
struct Added<'a> {
    units: i64,
    value: i64,
    money: &'a [i64],
    price: i64,
}

impl Added<'_> {
    /// What each of them paid all the payers together, where the reader can be taken to know
    /// it: the payers were paid their whole payable value (nothing was left unfunded, so
    /// however a cap moved the parts between payers, they add up to it), it is the same for
    /// each (a whole number of pence a unit), and each payer's money fits what `pays` says
    /// of its part (so that the truth satisfies the auditor's model).
    fn funded(&self, pays: &[Option<Pay>]) -> Option<Funded> {
        let paid_in_full = self.money.iter().sum::<i64>() == self.value;
        let per_unit = (self.value % self.units == 0).then(|| self.value / self.units)?;
        // No outcome is payable beyond its price: an average above it (outcomes added and
        // revoked in one quarter, netted) is not one payable value.
        let one_value = (0..=self.price).contains(&per_unit);
        let fits = pays.iter().zip(self.money).all(|(pay, &money)| {
            let (least, most) = money_within(*pay, self.units, self.price);
            (least..=most).contains(&money)
        });
        (paid_in_full && one_value && fits).then(|| Funded {
            each: per_unit,
            parts: self.money.to_vec(),
        })
    }
}

/// The least and the most `units` outcomes paying `pay` each can come to, in whole pence.
fn money_within(pay: Option<Pay>, units: i64, price: i64) -> (i64, i64) {
    match pay {
        Some(Pay::Rate(rate)) => {
            // `units` outcomes at minor/per each, within a penny each unless exact.
            let per = rate.units.max(1);
            let slack = i64::from(!rate.exact) * units * per;
            let (low, high) = (rate.minor * units - slack, rate.minor * units + slack);
            let ceiling = low.div_euclid(per) + i64::from(low.rem_euclid(per) != 0);
            (ceiling, high.div_euclid(per))
        }
        Some(Pay::AtMost(most)) => (0, most * units),
        None => (0, price * units),
    }
}

/// Adds outcomes added to a quarter to an outcome's pieces, paying `pays`.
fn add_added(pieces: &mut Vec<Piece>, pays: Vec<Option<Pay>>, added: Added) {
    let funded = added.funded(&pays);
    add_piece(pieces, None, added.units, (pays, funded));
}

/// Adds `units` outcomes of a kind to an outcome's pieces: revoked from block `revoked_from`,
/// or added (`None`), paying `pays` and, where known, `funded` all together. Outcomes of one
/// kind, the same way, make one piece.
fn add_piece(
    pieces: &mut Vec<Piece>,
    revoked_from: Option<usize>,
    units: i64,
    (pays, funded): (Vec<Option<Pay>>, Option<Funded>),
) {
    let each = |f: &Option<Funded>| f.as_ref().map(|f| f.each);
    let same = |p: &&mut Piece| {
        p.pays == pays
            && each(&p.funded) == each(&funded)
            && p.revoked_from.is_empty() == revoked_from.is_none()
    };
    match pieces.iter_mut().find(same) {
        Some(kind) => {
            kind.units += units;
            kind.revoked_from.extend(revoked_from);
            if let (Some(all), Some(more)) = (&mut kind.funded, &funded) {
                for (part, added) in all.parts.iter_mut().zip(&more.parts) {
                    *part += added;
                }
            }
        }
        None => pieces.push(Piece {
            revoked_from: revoked_from.into_iter().collect(),
            units,
            pays,
            funded,
        }),
    }
}

/// What each payer's money for one outcome in one quarter gained since it `was` (nothing
/// where not given).
fn money_added(
    ledger: &LedgerFacts,
    key: &(String, Period),
    payer_ids: &[String],
    was: &[Option<i64>],
) -> Vec<i64> {
    let now = |payer: &String| money_of(ledger, key, payer).map_or(0, |m| m.minor.get());
    let was = |r: usize| was.get(r).copied().flatten().unwrap_or(0);
    payer_ids
        .iter()
        .enumerate()
        .map(|(r, payer)| now(payer) - was(r))
        .collect()
}

/// A payer's money in the ledger for one outcome in one quarter.
fn money_of<'l>(
    ledger: &'l LedgerFacts,
    (code, quarter): &(String, Period),
    payer: &str,
) -> Option<&'l MoneyFacts> {
    ledger
        .payments
        .get(&(code.clone(), *quarter, payer.to_string()))
}

/// What a quarter tells of what each outcome added to it paid a payer, beside its money.
struct AddedTo {
    /// Whether each of its outcomes is one participant's only unit: a participant's part is
    /// then an outcome's.
    one_each: bool,
    /// The payer's rate for the outcome as the latest quarters show it.
    rate_now: Option<Rate>,
}

fn added_to(
    ledger: &LedgerFacts,
    key: &(String, Period),
    payer_rates: Option<&Vec<Option<Rate>>>,
    outcome: usize,
) -> AddedTo {
    let result = ledger.results.get(key);
    AddedTo {
        one_each: result.is_some_and(|r| r.achieved_units == r.achieved_participants),
        rate_now: payer_rates.and_then(|rates| rates.get(outcome).copied().flatten()),
    }
}

/// What each of `units` outcomes added to a quarter since it was frozen (or in a quarter not
/// published, `was` nothing) paid one payer, as the reader can be taken to know it. Each was
/// paid the rates in force when it was verified, which a cap binding since may have changed,
/// so this is not the rate the latest quarters show. One rate: nothing, where the payer's
/// money did not grow; exactly what every participant it paid in the quarter was paid, where
/// each outcome is one participant's, that is the same for all and the money added is that
/// for each outcome added; within a penny of the average, where those parts differ by a
/// penny (rounding) and the money added lies between them. Otherwise (a cap cut one short
/// among them, or left some unpaid) each paid at most the most any participant was paid,
/// or, where a participant's outcomes weigh several units, the payer's rate now (the auditor
/// checks that the truth fits, and else reads the payer's money beyond by its direction).
/// `None` where the money went down: only the price bounds it.
fn added_pay(now: Option<&MoneyFacts>, was: i64, units: i64, quarter: AddedTo) -> Option<Pay> {
    debug_assert!(units > 0, "added outcomes are more than none");
    let added = now.map_or(0, |m| m.minor.get()) - was;
    if added == 0 {
        return Some(Pay::Rate(Rate::NOTHING));
    }
    if added < 0 {
        return None;
    }
    let parts = now.and_then(|m| m.parts).filter(|_| quarter.one_each);
    if let Some(parts) = parts {
        let (smallest, largest) = (parts.smallest.get(), parts.largest.get());
        let (least, most) = (smallest * units, largest * units);
        if smallest == largest && added == least {
            return Some(Pay::Rate(Rate {
                minor: smallest,
                units: 1,
                exact: true,
            }));
        }
        if largest - smallest <= 1 && (least..=most).contains(&added) {
            return Some(Pay::Rate(Rate {
                minor: added,
                units,
                exact: false,
            }));
        }
        return Some(Pay::AtMost(largest));
    }
    quarter.rate_now.map(|rate| Pay::AtMost(most_a_unit(rate)))
}

/// The most one unit is paid at `rate`: its amount rounded up, and a penny more where it is
/// exact only to the penny.
fn most_a_unit(rate: Rate) -> i64 {
    let units = rate.units.max(1);
    (rate.minor + units - 1) / units + i64::from(!rate.exact)
}

/// Whether any published block holds less in the ledger now than when it was frozen (payable
/// units, value or a payer's money): whether anything has been revoked from it since.
fn lost_since_frozen(published: &LedgerFacts, ledger: &LedgerFacts) -> bool {
    let results = published.results.iter().any(|(key, frozen)| {
        ledger.results.get(key).map_or(0, |r| r.payable_units) < frozen.payable_units
            || ledger
                .results
                .get(key)
                .map_or(Minor::ZERO, |r| r.payable_minor)
                < frozen.payable_minor
    });
    let money = (published.payments.iter()).any(|(key, frozen)| {
        ledger.payments.get(key).map_or(Minor::ZERO, |m| m.minor) < frozen.minor
    });
    results || money
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::open_data::catalog::table;
    use crate::domain::open_data::rows::tests::{facts, ledger};
    use crate::domain::registry::SettlementRoute;
    use chrono::NaiveDate;

    fn at(y: i32, m: u32, d: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap()
    }

    const RULES: Rules = Rules {
        k: 5,
        close_after_days: 92,
    };

    /// A block of `paid` outcomes, one a participant, with one payer's money.
    fn one_payer_block(paid_for: i64, payable: i64, money: i64) -> Block {
        Block {
            outcome: 0,
            achieved_units: payable,
            paid_units: paid_for,
            payable_units: payable,
            payable_minor: payable * 1_000,
            money: vec![Some(money)],
            paid_for: Some(vec![paid_for]),
            rates: vec![None],
            capped: vec![false],
            exhausted: vec![false],
            no_payable_units: false,
            no_payable_value: false,
            frozen_earlier: false,
        }
    }

    #[test]
    fn the_parts_a_payer_paid_say_its_rate_and_where_its_cap_bound() {
        let parts = |smallest, largest| Some(Parts { smallest, largest });
        let exact = |minor| Rate {
            minor,
            units: 1,
            exact: true,
        };
        let mut rates = BTreeMap::new();
        // Every outcome paid the same: that rate, exactly, and the rate for what follows.
        let mut full = one_payer_block(4, 4, 2_000);
        assert!(rate_from_parts(
            &mut full,
            0,
            parts(Minor(500), Minor(500)),
            &mut rates
        ));
        assert_eq!((full.rates[0], full.capped[0]), (Some(exact(500)), false));
        assert_eq!(rates.get(&0), Some(&exact(500)));
        // All but one paid the most, the last cut short: the cap bound here.
        let mut cut = one_payer_block(3, 4, 1_200);
        assert!(rate_from_parts(
            &mut cut,
            0,
            parts(Minor(200), Minor(500)),
            &mut rates
        ));
        assert_eq!((cut.rates[0], cut.capped[0]), (Some(exact(500)), true));
        // Three paid in full and a fourth payable unit paid nothing: bound here too.
        let mut ended = one_payer_block(3, 4, 1_500);
        assert!(rate_from_parts(
            &mut ended,
            0,
            parts(Minor(500), Minor(500)),
            &mut rates
        ));
        assert!(ended.capped[0]);
        // Nothing paid for any outcome: the cap had bound before.
        let mut after = one_payer_block(0, 4, 0);
        assert!(rate_from_parts(&mut after, 0, None, &mut rates));
        assert!(after.exhausted[0]);
        // Parts that fit neither (two cut short) or are unknown say nothing.
        let mut mixed = one_payer_block(3, 3, 1_200);
        assert!(!rate_from_parts(
            &mut mixed,
            0,
            parts(Minor(300), Minor(600)),
            &mut rates
        ));
        let mut unknown = one_payer_block(4, 4, 2_000);
        assert!(!rate_from_parts(&mut unknown, 0, None, &mut rates));
        assert_eq!(unknown.rates[0], None);
    }

    /// Outcomes added since a quarter was frozen, and those of a quarter not yet published,
    /// are each taken at what they were paid, not at the rates the latest blocks show: the
    /// fund's cap binds among Q1's late outcomes, and the lead pays Q2's alone.
    #[test]
    fn outcomes_added_beyond_the_published_blocks_keep_what_they_were_paid() {
        let project = facts(SettlementRoute::Direct);
        let full = ledger();
        let mut published = full.clone();
        let q2 = *full.results.keys().nth(1).map(|(_, q)| q).unwrap();
        published.results.retain(|(_, q), _| *q != q2);
        published.payments.retain(|(_, q, _), _| *q != q2);
        let q1 = *published.results.keys().next().map(|(_, q)| q).unwrap();
        let mut now = full;
        let mut pay = |quarter, payer: &str, more: i64, parts: Option<(i64, i64)>| {
            let money = now.payments.get_mut(&("a".into(), quarter, payer.into()));
            let money = money.unwrap();
            money.minor += Minor(more);
            money.parts = parts.map(|(smallest, largest)| Parts {
                smallest: Minor(smallest),
                largest: Minor(largest),
            });
        };
        // Three more for Q1: the lead pays £7 each, the fund £3, £3 and what its cap left, £1.
        pay(q1, "lead", 3 * 700, Some((700, 700)));
        pay(q1, "fund", 700, Some((100, 300)));
        // Q2's two: the lead pays £10 each, the fund nothing.
        pay(q2, "lead", 2 * 1_000 - 2 * 700, Some((1_000, 1_000)));
        pay(q2, "fund", -2 * 300, None);
        now.results
            .get_mut(&("a".into(), q1))
            .unwrap()
            .payable_units += 3;
        let key = ("a".to_owned(), q1);
        let frozen_at = BTreeMap::from([(key.clone(), at(2021, 7, 2))]);
        let earlier = BTreeMap::from([(key, true)]);
        let audit = Audit::new(&project, &published, &now, &frozen_at, &earlier, &[]).unwrap();
        let exact = |minor| {
            Some(Pay::Rate(Rate {
                minor,
                units: 1,
                exact: true,
            }))
        };
        // Payers are in the project's order: lead, fund.
        let added = |units, pays, funded| Piece {
            revoked_from: Vec::new(),
            units,
            pays,
            funded,
        };
        // Q2's two were paid in full, £10 each all together, whoever paid it.
        let paid_in_full = Funded {
            each: 1_000,
            parts: vec![2_000, 0],
        };
        assert_eq!(
            audit.publication.unpublished.pieces,
            vec![Some(vec![
                added(3, vec![exact(700), Some(Pay::AtMost(300))], None),
                added(2, vec![exact(1_000), exact(0)], Some(paid_in_full)),
            ])]
        );
    }

    /// What the reader is taken to know of what added outcomes were paid, from the money added
    /// and the least and most any participant of their quarter was paid.
    #[test]
    fn added_outcomes_have_a_rate_only_where_their_quarter_tells_it() {
        let money = |minor, parts: Option<(i64, i64)>| MoneyFacts {
            minor,
            participants: 0,
            parts: parts.map(|(smallest, largest)| Parts {
                smallest: Minor(smallest),
                largest: Minor(largest),
            }),
        };
        let rate = |minor, units, exact| {
            Some(Pay::Rate(Rate {
                minor,
                units,
                exact,
            }))
        };
        let one_each = || AddedTo {
            one_each: true,
            rate_now: None,
        };
        // Nothing more: nothing a unit, whatever the parts.
        let nothing = rate(0, 1, true);
        let no_more = money(Minor(900), Some((300, 300)));
        assert_eq!(added_pay(Some(&no_more), 900, 2, one_each()), nothing);
        assert_eq!(added_pay(None, 0, 2, one_each()), nothing);
        // Every participant paid £3, and £6 added for two: £3 each, exactly.
        let all_alike = money(Minor(1_500), Some((300, 300)));
        assert_eq!(
            added_pay(Some(&all_alike), 900, 2, one_each()),
            rate(300, 1, true)
        );
        // £3 added for two though each was paid £3: one was paid nothing (a cap had bound).
        let at_most = |most| Some(Pay::AtMost(most));
        assert_eq!(
            added_pay(Some(&all_alike), 1_200, 2, one_each()),
            at_most(300)
        );
        // Thirds of a £10 price: £3.33 or £3.34 each, £10.01 for three.
        let thirds = money(Minor(2_002), Some((333, 334)));
        let third = added_pay(Some(&thirds), 1_001, 3, one_each());
        assert_eq!(third, rate(1_001, 3, false));
        // A cap cut one short (£1 of £3): at most £3 each.
        let cut = money(Minor(1_600), Some((100, 300)));
        assert_eq!(added_pay(Some(&cut), 900, 3, one_each()), at_most(300));
        // A participant with two outcomes was paid £6: an outcome's pay is not a participant's.
        // The payer's rate now bounds it (within a penny where it is exact only to that), or
        // nothing does.
        let two_units = money(Minor(1_800), Some((300, 600)));
        let several = |rate_now| AddedTo {
            one_each: false,
            rate_now,
        };
        let now = |minor, units, exact| {
            Some(Rate {
                minor,
                units,
                exact,
            })
        };
        let by_rate = added_pay(Some(&two_units), 900, 3, several(now(300, 1, true)));
        assert_eq!(by_rate, at_most(300));
        let thirds_now = several(now(1_000, 3, false));
        assert_eq!(
            added_pay(Some(&two_units), 900, 3, thirds_now),
            at_most(335)
        );
        assert_eq!(added_pay(Some(&two_units), 900, 3, several(None)), None);
        // The money went down as outcomes were added: only the price bounds it.
        let less = money(Minor(600), Some((300, 300)));
        assert_eq!(added_pay(Some(&less), 900, 1, one_each()), None);
    }

    #[test]
    fn a_small_quarter_withholds_its_counts_its_money_and_the_totals_over_it() {
        let rows = project_rows(&facts(SettlementRoute::Direct), &ledger(), 5).unwrap();
        // Q2 has 2 participants: its counts and both payers' money are withheld, and so are
        // the payers' totals and the project's (each has a withheld part); Q1 stays.
        let withheld = [Value::Suppressed, Value::Suppressed, Value::Suppressed];
        assert_eq!(
            rows.results[0].values[4..],
            [Value::Integer(8), Value::Integer(8), Value::Integer(8)]
        );
        assert_eq!(rows.results[1].values[4..], withheld);
        let q2: Vec<&Value> = rows.payments[2..].iter().map(|r| &r.values[6]).collect();
        assert_eq!(q2, [&Value::Suppressed, &Value::Suppressed]);
        assert_eq!(
            rows.payments[0].values[6],
            Value::amount(Minor(2_400), "GBP")
        );
        assert_eq!(rows.project[0].values[12], Value::Suppressed);
        assert!(rows.payers.iter().all(|r| r.values[7] == Value::Suppressed));
        let conforms =
            |name: &str, rows: &[Row]| rows.iter().all(|r| r.conforms_to(table(name).unwrap()));
        assert!(conforms("projects", &rows.project));
        assert!(conforms("payments_quarterly", &rows.payments));
        assert!(conforms("results_quarterly", &rows.results));
    }

    /// The facts of `ledger()` with fixed shares of 0.7 and 0.3 and the lead's maximum at
    /// exactly what it paid: its cap has bound.
    fn capped() -> ProjectFacts {
        let mut project = facts(SettlementRoute::Direct);
        for (payer, share) in project.payers.iter_mut().zip(["0.7", "0.3"]) {
            payer.share = Some(share.into());
        }
        project.payers[0].max_commitment_minor = Minor(7_000);
        project
    }

    #[test]
    fn a_bound_cap_withholds_the_quarters_it_covers() {
        let rows = project_rows(&capped(), &ledger(), 5).unwrap();
        // The lead paid exactly its maximum over both quarters: with Q1 shown, Q2 would be the
        // maximum less Q1. Both are withheld.
        assert!(rows
            .results
            .iter()
            .all(|r| r.values[5] == Value::Suppressed));
    }

    #[test]
    fn rows_that_show_what_the_auditor_withheld_are_refused() {
        let (project, ledger) = (capped(), ledger());
        let history = History::default();
        let now = at(2030, 1, 1);
        let candidates = closed_quarters_to_freeze(&ledger, &history, RULES, now);
        let view = View::new(&project, &ledger, &history, &candidates, now).unwrap();
        let withheld = view.protect(5).unwrap();
        let mut rows = write_rows(&project, &view.facts, &view.cells, &withheld);
        assert_eq!(view.audit_rows(&rows, 5, true), Ok(()));
        // Q1 shown again, as a faulty writer would: Q2 follows from the lead's maximum.
        let q1 = ledger.results.values().next().unwrap();
        rows.results[0].values[4] = Value::Integer(q1.achieved_units);
        rows.results[0].values[5] = Value::Integer(q1.paid_units);
        rows.results[0].values[6] = Value::Integer(q1.engaged);
        for (row, money) in rows.payments[..2].iter_mut().zip([2_400, 5_600]) {
            row.values[6] = Value::amount(Minor(money), "GBP");
        }
        let refused = view.audit_rows(&rows, 5, true).unwrap_err();
        assert!(refused.contains("exposed"), "{refused}");
        // A block shown in part is refused before any arithmetic.
        rows.payments[0].values[6] = Value::Suppressed;
        let refused = view.audit_rows(&rows, 5, true).unwrap_err();
        assert!(refused.contains("not written whole"), "{refused}");
    }

    #[test]
    fn a_quarter_is_published_once_closed_and_then_never_changes() {
        let project = facts(SettlementRoute::Direct);
        let ledger = ledger();
        // 2021 Q1 closes 92 days after 31 March, Q2 92 days after 30 June.
        let first = publish(
            &project,
            &ledger,
            &History::default(),
            RULES,
            at(2021, 7, 2),
        )
        .unwrap();
        assert_eq!((first.newly_frozen.len(), first.rows.results.len()), (1, 1));
        assert_eq!(first.rows.results[0].values[4], Value::Integer(8));
        // Q1's totals are all published (nothing withheld), and kept, and how each cap stood.
        assert_eq!(first.new_totals.len(), 3);
        let payers = project
            .payers
            .iter()
            .map(|p| CapName::Payer(p.organisation_id.clone()));
        let caps: Vec<CapName> = first.new_caps.iter().map(|c| c.cap.clone()).collect();
        assert_eq!(caps, payers.collect::<Vec<_>>());
        assert!(first
            .new_caps
            .iter()
            .all(|c| c.as_of == at(2021, 7, 2) && !c.bound));
        let history = History {
            frozen: first.newly_frozen,
            totals: first.new_totals,
            caps: first.new_caps,
            ..History::default()
        };
        // Later claims for Q1 change nothing published of it; Q2 is published once closed.
        let mut later = ledger.clone();
        let q1 = *later.results.keys().next().map(|(_, q)| q).unwrap();
        let key = ("a".to_owned(), q1);
        later.results.get_mut(&key).unwrap().achieved_units += 1;
        let second = publish(&project, &later, &history, RULES, at(2021, 10, 2)).unwrap();
        assert_eq!(second.newly_frozen.len(), 1);
        assert_eq!(second.rows.results[0], first.rows.results[0]);
        assert_eq!(second.rows.results[1].values[4], Value::Suppressed);
        // Its withheld Q2 withholds the totals over it; the earlier ones stay known. The caps
        // are kept again, as the reader of this publication sees them.
        assert!(second.new_totals.is_empty());
        assert_eq!(second.new_caps.len(), caps.len());
        let history = History {
            frozen: [history.frozen, second.newly_frozen].concat(),
            totals: history.totals,
            caps: [history.caps, second.new_caps].concat(),
            ..History::default()
        };
        // With a larger k, what was published stays published; with nothing new, no cap's
        // state is kept.
        let rules = Rules { k: 10, ..RULES };
        let third = publish(&project, &later, &history, rules, at(2022, 1, 1)).unwrap();
        assert_eq!(third.rows.results, second.rows.results);
        assert!(third.newly_frozen.is_empty() && third.new_totals.is_empty());
        assert!(third.new_caps.is_empty());
    }

    #[test]
    fn an_earlier_total_over_a_withheld_block_fails_the_audit() {
        let project = facts(SettlementRoute::Direct);
        let ledger = ledger();
        let published = publish(
            &project,
            &ledger,
            &History::default(),
            RULES,
            at(2022, 1, 1),
        )
        .unwrap();
        assert!(published.rows.results[1].values[4] == Value::Suppressed);
        // A total over both quarters, as if published by a faulty earlier rebuild, gives the
        // withheld Q2 back from the shown Q1: nothing new can cover it.
        let history = History {
            frozen: published.newly_frozen,
            totals: vec![PublishedTotal {
                payer: None,
                as_of: at(2022, 1, 1),
                amount: Minor(10_000),
            }],
            ..History::default()
        };
        let later = at(2022, 2, 1);
        let audited = publish_with(
            &project,
            &ledger,
            &history,
            RULES,
            later,
            Scrutiny::Everything,
        );
        let refused = audited.unwrap_err();
        assert!(refused.contains("exposed"), "{refused}");
        // A rebuild that publishes nothing new republishes what was published, unexamined: it
        // tells a reader nothing new (`cofund check` examines everything, as above).
        let again = publish(&project, &ledger, &history, RULES, later).unwrap();
        assert!(again.newly_frozen.is_empty() && again.new_totals.is_empty());
    }

    /// Where even the frozen quarters alone read as exposed under what the ledger holds now
    /// (here a faulty earlier total gives a withheld quarter back), a rebuild publishes
    /// nothing new rather than failing: the closed quarter waits for a later rebuild, every
    /// total is withheld, and the year's adjustment round is held.
    #[test]
    fn a_rebuild_that_nothing_new_can_cover_publishes_nothing_new() {
        let project = facts(SettlementRoute::Direct);
        let ledger = ledger();
        let first = publish(
            &project,
            &ledger,
            &History::default(),
            RULES,
            at(2022, 1, 1),
        );
        let first = first.unwrap();
        let history = History {
            frozen: first.newly_frozen,
            totals: vec![PublishedTotal {
                payer: None,
                as_of: at(2022, 1, 1),
                amount: Minor(10_000),
            }],
            ..History::default()
        };
        // A later quarter like the first, closed by August 2022.
        let mut grown = ledger.clone();
        let q1 = *ledger.results.keys().next().map(|(_, q)| q).unwrap();
        let q3 = crate::domain::open_data::rows::quarter_of(
            NaiveDate::from_ymd_opt(2022, 2, 1).unwrap(),
        );
        let block = ledger.results[&("a".to_owned(), q1)].clone();
        grown.results.insert(("a".to_owned(), q3), block);
        for ((code, quarter, payer), money) in &ledger.payments {
            if *quarter == q1 {
                grown
                    .payments
                    .insert((code.clone(), q3, payer.clone()), *money);
            }
        }
        let next = publish(&project, &grown, &history, RULES, at(2022, 8, 1)).unwrap();
        assert_eq!(next.waiting, 1);
        assert!(next.newly_frozen.is_empty() && next.new_adjustments.is_empty());
        assert!(next.held_back);
        assert_eq!(
            next.adjustment_round,
            Some(2022),
            "pending changes wait a year"
        );
        assert!(next.new_totals.is_empty());
        assert_eq!(next.rows.results, first.rows.results);
        assert!(next
            .rows
            .payers
            .iter()
            .all(|p| p.values[7] == Value::Suppressed));
        assert_eq!(next.rows.project[0].values[12], Value::Suppressed);
    }

    /// Every count of the quarters an adjustment covers, changed by it, is at least zero: a
    /// revocation of every outcome would tell a withheld count from the shown ones.
    #[test]
    fn an_adjustment_that_would_pin_a_withheld_count_waits() {
        let project = facts(SettlementRoute::Direct);
        // Q1: 8 outcomes, shown; Q2: 4, withheld.
        let mut ledger = ledger();
        let q2 = *ledger.results.keys().nth(1).map(|(_, q)| q).unwrap();
        let r = ledger.results.get_mut(&("a".to_owned(), q2)).unwrap();
        *r = ResultFacts {
            achieved_units: 4,
            achieved_participants: 4,
            paid_units: 4,
            paid_participants: 4,
            payable_units: 4,
            payable_minor: Minor(4_000),
            engaged: 4,
        };
        for (payer, share) in [("lead", 7), ("fund", 3)] {
            let key = ("a".to_owned(), q2, payer.to_owned());
            *ledger.payments.get_mut(&key).unwrap() = MoneyFacts {
                minor: Minor(4 * share * 100),
                participants: 4,
                parts: Some(Parts {
                    smallest: Minor(share * 100),
                    largest: Minor(share * 100),
                }),
            };
        }
        let first = publish(
            &project,
            &ledger,
            &History::default(),
            RULES,
            at(2022, 1, 1),
        )
        .unwrap();
        assert_eq!(first.rows.results[0].values[4], Value::Integer(8));
        assert_eq!(first.rows.results[1].values[4], Value::Suppressed);
        let history = History {
            frozen: first.newly_frozen,
            totals: first.new_totals,
            caps: first.new_caps,
            ..History::default()
        };
        // Every outcome of both quarters revoked: −12 would say Q2 held at least 12 − 8 = 4.
        let revoked = LedgerFacts::default();
        let second = publish(&project, &revoked, &history, RULES, at(2023, 2, 1)).unwrap();
        assert_eq!(second.rows.results, first.rows.results);
        assert!(
            second.rows.adjustments.is_empty(),
            "{:?}",
            second.rows.adjustments
        );
        assert_eq!(second.adjustment_round, Some(2023));
        // Q1's eight alone revoked (−8) says nothing of Q2: it is published.
        let mut q1_revoked = ledger.clone();
        q1_revoked.results.retain(|(_, q), _| *q == q2);
        q1_revoked.payments.retain(|(_, q, _), _| *q == q2);
        let third = publish(&project, &q1_revoked, &history, RULES, at(2023, 2, 1)).unwrap();
        assert_eq!(third.rows.adjustments.len(), 1);
        assert_eq!(third.rows.adjustments[0].values[4], Value::Integer(-8));
    }
}

#[cfg(test)]
mod adjustment_tests {
    use super::*;
    use crate::domain::open_data::rows::tests::facts;
    use crate::domain::registry::SettlementRoute;
    use chrono::NaiveDate;

    fn at(y: i32, m: u32, d: u32) -> NaiveDateTime {
        let day = NaiveDate::from_ymd_opt(y, m, d).unwrap();
        day.and_hms_opt(9, 0, 0).unwrap()
    }

    /// `n` outcomes of "a" in the quarter of `day`, paid 90 each (a price of 100 less a
    /// deadweight) by the one payer, "lead".
    fn add(ledger: &mut LedgerFacts, day: NaiveDate, n: i64) {
        let quarter = crate::domain::open_data::rows::quarter_of(day);
        let r = ledger.results.entry(("a".into(), quarter)).or_default();
        r.achieved_units += n;
        r.achieved_participants += n;
        r.paid_units += n;
        r.paid_participants += n;
        r.payable_units += n;
        r.payable_minor += Minor(90 * n);
        r.engaged += n;
        let key = ("a".into(), quarter, "lead".into());
        ledger.payments.entry(key).or_default().add(MoneyFacts {
            minor: Minor(90 * n),
            participants: n,
            parts: Some(Parts {
                smallest: Minor(90),
                largest: Minor(90),
            }),
        });
    }

    /// An adjustment whose money the table withholds is still known to the reader the auditor
    /// models: late outcomes that make a cap bind would otherwise give a withheld quarter away.
    #[test]
    fn an_adjustment_with_its_money_withheld_still_counts_against_a_bound_cap() {
        let mut project = facts(SettlementRoute::Direct);
        project.payers.truncate(1);
        project.payers[0].share = Some("1".into());
        project.payers[0].max_commitment_minor = Minor(2_340);
        project.metrics[0].price_minor = Minor(100);
        let day = |m: u32| NaiveDate::from_ymd_opt(2021, m, 10).unwrap();
        let mut ledger = LedgerFacts::default();
        // 10 outcomes shown, 3 withheld, 7 shown: 1,800 of the payer's 2,340.
        for (month, n) in [(2, 10), (5, 3), (8, 7)] {
            add(&mut ledger, day(month), n);
        }
        let rules = Rules {
            k: 5,
            close_after_days: 92,
        };
        let first = publish(
            &project,
            &ledger,
            &History::default(),
            rules,
            at(2022, 1, 2),
        )
        .unwrap();
        assert_eq!(first.rows.results[1].values[4], Value::Suppressed);
        assert_eq!(first.adjustment_round, Some(2022));
        let history = History {
            frozen: first.newly_frozen,
            totals: first.new_totals,
            caps: first.new_caps,
            adjustment_rounds: BTreeSet::from([2022]),
            ..History::default()
        };
        // Six late outcomes in the first quarter (540) make the cap bind: 2,340 less the shown
        // 900, 630 and 540 leaves 270, three outcomes, for the withheld quarter.
        add(&mut ledger, day(3), 6);
        let second = publish(&project, &ledger, &history, rules, at(2023, 1, 2)).unwrap();
        assert_eq!(second.adjustment_round, Some(2023));
        assert!(
            second.rows.adjustments.is_empty(),
            "{:?}",
            second.rows.adjustments
        );
    }
}
