//! A few years of history for the demo's projects, so that a new user finds numbers in every
//! table, chart and position: each quarter's file of claims submitted after the quarter ends
//! and verified by the validator, every fifth quarter an audit that rejects a few new claims
//! and revokes a few of the quarter before, and each settlement period's documents built,
//! issued and paid (the last period's left outstanding). Every step goes through the services the API calls,
//! dated when it would have happened, so caps, ladders and the split apply as they would
//! have. The groups are large and small (a project's first and last quarters, a council with
//! few young people), so the open-data rules visibly withhold some cells and not others.
//!
//! The history is deterministic: fixed seeds give the same claims, decisions and money on
//! every load (only the ids differ).

use std::collections::{BTreeMap, HashMap};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::db::models::Claim;
use crate::db::{queries, DbConn};
use crate::domain::access::Decider;
use crate::domain::claim_reports::{BulkMode, RowStatus};
use crate::domain::claims::ClaimInput;
use crate::domain::ids::{ClaimId, DocumentId, OrganisationId, ProjectId, UploadId};
use crate::domain::period::Period;
use crate::domain::registry::SettlementFrequency;
use crate::services::access::VisibleProject;
use crate::services::claims::decide;
use crate::services::claims::rules::ProjectRules;
use crate::services::claims::submit::{self, Submitter};
use crate::services::claims::verify::{self, Verifier};
use crate::services::settlement::{self, Actor, Payment};

/// Who plays which part in one project's history.
pub struct Cast {
    pub project_id: String,
    pub provider_id: OrganisationId,
    pub validator_id: OrganisationId,
}

/// What the history holds, for the summary printed after loading.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HistorySummary {
    pub claims: usize,
    pub verified: usize,
    pub rejected: usize,
    pub revoked: usize,
    pub documents: usize,
    pub payments: usize,
}

/// The person each organisation acts through in the history (a token's `sub`).
const PROVIDER: &str = "demo-provider";
const VALIDATOR: &str = "demo-validator";
const FINANCE: &str = "demo-finance";

/// How many claims an audit rejects, and how many it revokes.
const AUDITED: usize = 6;

/// A claim the history will make: what a provider's monthly file would hold.
pub struct Planned {
    participant: String,
    outcome: &'static str,
    achieved_on: NaiveDate,
    quantity: Option<i32>,
    home_area: Option<String>,
    age_at_start: Option<i32>,
    referred_on: Option<NaiveDate>,
}

impl Planned {
    fn new(participant: &str, outcome: &'static str, achieved_on: NaiveDate) -> Planned {
        Planned {
            participant: participant.to_owned(),
            outcome,
            achieved_on,
            quantity: None,
            home_area: None,
            age_at_start: None,
            referred_on: None,
        }
    }

    fn input(&self) -> ClaimInput {
        ClaimInput {
            participant_ref: self.participant.clone(),
            outcome_code: self.outcome.to_owned(),
            achieved_on: self.achieved_on,
            quantity: self.quantity,
            evidence_ref: Some(format!("demo evidence {}", self.achieved_on)),
            home_area: self.home_area.clone(),
            age_at_start: self.age_at_start,
            referred_on: self.referred_on,
        }
    }
}

/// Plays one project's history: its claims quarter by quarter, then its settlement periods.
/// `seed` makes the payment dates the same on every load.
pub fn play(
    conn: &mut DbConn,
    cast: &Cast,
    plans: Vec<Planned>,
    seed: u64,
    pseudonym_key: &[u8],
    summary: &mut HistorySummary,
) -> Result<(), String> {
    // A claim may be rejected or revoked only where nothing later of its participant leans on
    // it (a ladder's next rung would then be refused, as the rules say; the story is clearer
    // without).
    let mut last_of: HashMap<String, NaiveDate> = HashMap::new();
    for p in &plans {
        let last = last_of
            .entry(p.participant.clone())
            .or_insert(p.achieved_on);
        *last = (*last).max(p.achieved_on);
    }
    let mut by_quarter: BTreeMap<NaiveDate, Vec<Planned>> = BTreeMap::new();
    for p in plans {
        let quarter = Period::containing(p.achieved_on, SettlementFrequency::Quarterly);
        by_quarter.entry(quarter.start()).or_default().push(p);
    }
    let mut story = Story {
        conn,
        cast,
        pseudonym_key,
        summary,
        last_of,
        revocable: Vec::new(),
        postings: None,
    };
    for (n, (start, mut rows)) in by_quarter.into_iter().enumerate() {
        rows.sort_by_key(|p| p.achieved_on);
        // Every fifth quarter is audited.
        story.quarter(start, &rows, n % 5 == 3)?;
    }
    let Story {
        conn,
        summary,
        postings,
        ..
    } = story;
    match postings {
        Some((first, last)) => {
            let mut rng = StdRng::seed_from_u64(seed);
            settle(conn, cast, first, last, &mut rng, summary)
        }
        None => Ok(()),
    }
}

/// One project's history as it is played, quarter by quarter.
struct Story<'a, 'c> {
    conn: &'c mut DbConn,
    cast: &'a Cast,
    pseudonym_key: &'a [u8],
    summary: &'a mut HistorySummary,
    /// Each participant's last achievement.
    last_of: HashMap<String, NaiveDate>,
    /// Last quarter's verified claims that end their participant's story.
    revocable: Vec<ClaimId>,
    /// When the first and the last allocations were posted.
    postings: Option<(NaiveDate, NaiveDate)>,
}

impl Story<'_, '_> {
    /// The quarter starting on `start`: its file submitted nine days after it ends and
    /// decided ten days later. An audit rejects a handful of the new claims and revokes a
    /// handful of the last quarter's (a handful, not one or two here and there: a count of
    /// the few would be withheld, and with it the quarter's figures).
    fn quarter(&mut self, start: NaiveDate, rows: &[Planned], audit: bool) -> Result<(), String> {
        let ends = Period::containing(start, SettlementFrequency::Quarterly).end_exclusive();
        let (conn, cast) = (&mut *self.conn, self.cast);
        let stored = submit_file(conn, cast, rows, at(ends, 9), self.pseudonym_key)?;
        self.summary.claims += stored.len();
        // Stored in the file's order, every row accepted: each claim is its plan's.
        let (mut refuse, mut decide, mut is_last) = (Vec::new(), Vec::new(), Vec::new());
        for (claim, plan) in stored.into_iter().zip(rows) {
            let last = self.last_of.get(&plan.participant) == Some(&plan.achieved_on);
            if audit && last && refuse.len() < AUDITED {
                refuse.push(claim);
            } else {
                is_last.push(last);
                decide.push(claim);
            }
        }
        let decided_at = at(ends, 19);
        for claim in &refuse {
            let why = "the evidence did not show the outcome";
            reject(conn, claim, why, decided_at)?;
        }
        self.summary.rejected += refuse.len();
        let verified = verify_file(conn, cast, &decide, decided_at, self.summary)?;
        let revoked_at = at(ends, 26);
        let audited = if audit { AUDITED } else { 0 };
        for id in self.revocable.drain(..).take(audited) {
            // As stored by its verification (its entry and the units it was paid).
            let claim = queries::claims::find_claim(conn, &id)
                .map_err(|e| e.to_string())?
                .ok_or("a demo claim vanished")?;
            let reason = "evidence withdrawn at audit";
            decide::revoke(conn, &claim, VALIDATOR, reason, revoked_at)
                .map_err(|e| e.to_string())?;
            self.summary.revoked += 1;
        }
        let first = self.postings.map_or(decided_at.date(), |(first, _)| first);
        self.postings = Some((first, revoked_at.date()));
        self.revocable = verified
            .into_iter()
            .zip(is_last)
            .filter_map(|(id, last)| id.filter(|_| last))
            .collect();
        Ok(())
    }
}

/// `days` after `date`, at ten in the morning.
fn at(date: NaiveDate, days: i64) -> NaiveDateTime {
    (date + Duration::days(days))
        .and_hms_opt(10, 0, 0)
        .expect("ten o'clock exists")
}

fn project_of(conn: &mut DbConn, project_id: &ProjectId) -> Result<VisibleProject, String> {
    let (record, fund_owner) = queries::projects::get_project_and_fund_owner(conn, project_id)
        .map_err(|e| e.to_string())?
        .ok_or("a demo project vanished")?;
    Ok(VisibleProject { record, fund_owner })
}

/// Submits one quarter's file as the provider would, keeping the valid rows.
fn submit_file(
    conn: &mut DbConn,
    cast: &Cast,
    rows: &[Planned],
    submitted_at: NaiveDateTime,
    pseudonym_key: &[u8],
) -> Result<Vec<Claim>, String> {
    let project = project_of(conn, &ProjectId::from(cast.project_id.as_str()))?;
    let rules =
        ProjectRules::new(project.record, submitted_at.date()).map_err(|e| e.to_string())?;
    let submitter = Submitter {
        subject: PROVIDER,
        organisation_id: &cast.provider_id,
        at: submitted_at,
    };
    let inputs = rows.iter().map(|p| Ok(p.input())).collect();
    let upload_id = UploadId::from(queries::new_id("upl"));
    let (results, stored) = submit::submit(
        conn,
        &rules,
        &submitter,
        inputs,
        BulkMode::AcceptValid,
        pseudonym_key,
        Some(&upload_id),
    )
    .map_err(|e| e.to_string())?;
    if let Some(refused) = results.iter().find(|r| r.status == RowStatus::Rejected) {
        // The plans follow the rate card; a refused row is a defect of the demo itself.
        return Err(format!(
            "demo claim row {} refused: {:?}",
            refused.row, refused.reasons
        ));
    }
    Ok(stored)
}

/// Verifies the claims as the validator; those the rules refuse (a cap reached) are rejected
/// with the rules' own words. Returns, for each claim, its id if it was verified.
fn verify_file(
    conn: &mut DbConn,
    cast: &Cast,
    claims: &[Claim],
    decided_at: NaiveDateTime,
    summary: &mut HistorySummary,
) -> Result<Vec<Option<ClaimId>>, String> {
    let project = project_of(conn, &ProjectId::from(cast.project_id.as_str()))?;
    let rules = ProjectRules::new(project.record, decided_at.date()).map_err(|e| e.to_string())?;
    let verifier = Verifier {
        subject: VALIDATOR,
        organisation_id: Some(&cast.validator_id),
        capacity: Decider::Validator,
        at: decided_at,
        progress: None,
    };
    let ids: Vec<ClaimId> = claims.iter().map(|c| c.id.clone()).collect();
    let results = verify::verify(conn, &rules, &verifier, &ids).map_err(|e| e.to_string())?;
    let mut verified = Vec::with_capacity(claims.len());
    for (claim, result) in claims.iter().zip(results) {
        assert_eq!(claim.id, result.claim_id, "results come in the order asked");
        if result.verified {
            summary.verified += 1;
            verified.push(Some(claim.id.clone()));
        } else {
            let why = result
                .reasons
                .first()
                .map_or("refused", |r| r.detail.as_str());
            reject(conn, claim, why, decided_at)?;
            summary.rejected += 1;
            verified.push(None);
        }
    }
    Ok(verified)
}

fn reject(conn: &mut DbConn, claim: &Claim, why: &str, at: NaiveDateTime) -> Result<(), String> {
    decide::reject(conn, claim, VALIDATOR, why, at).map_err(|e| e.to_string())
}

/// Builds, issues and pays every settlement period from the first posting's to the last's:
/// each period's drafts are built and issued a week after it ends and paid three to six weeks
/// later; the last period's are left outstanding.
fn settle(
    conn: &mut DbConn,
    cast: &Cast,
    first_posting: NaiveDate,
    last_posting: NaiveDate,
    rng: &mut StdRng,
    summary: &mut HistorySummary,
) -> Result<(), String> {
    let project = project_of(conn, &ProjectId::from(cast.project_id.as_str()))?;
    let last = Period::containing(last_posting, SettlementFrequency::Quarterly);
    let mut period = Period::containing(first_posting, SettlementFrequency::Quarterly);
    loop {
        let issued_at = at(period.end_exclusive(), 6);
        let builder = Actor {
            subject: PROVIDER,
            organisation_id: Some(&cast.provider_id),
            at: issued_at,
        };
        let built = settlement::build_period(conn, &project, period, builder)
            .map_err(|e| format!("demo settlement of {period}: {e}"))?;
        for id in &built.document_ids {
            let paid_at = (period != last).then(|| at(issued_at.date(), rng.gen_range(21..=42)));
            summary.payments += usize::from(issue_and_pay(conn, id, issued_at, paid_at)?);
            summary.documents += 1;
        }
        if period == last {
            return Ok(());
        }
        period = period.next();
    }
}

/// Issues a draft as its issuer and, if `paid_at`, settles it in full: the recipient pays an
/// invoice or top-up claim, the issuer refunds a credit note. Returns whether it was settled.
fn issue_and_pay(
    conn: &mut DbConn,
    id: &DocumentId,
    issued_at: NaiveDateTime,
    paid_at: Option<NaiveDateTime>,
) -> Result<bool, String> {
    let document = queries::documents::get_document(conn, id)
        .map_err(|e| e.to_string())?
        .ok_or("a demo document vanished")?;
    let issuer = Actor {
        subject: FINANCE,
        organisation_id: Some(&document.issuer_organisation_id),
        at: issued_at,
    };
    settlement::issue(conn, id, issuer).map_err(|e| e.to_string())?;
    let (Some(paid_at), total) = (paid_at, document.total_minor) else {
        return Ok(false);
    };
    let payment = Payment {
        amount_minor: total.abs(),
        paid_on: paid_at.date(),
        reference: format!("REMITTANCE {}", paid_at.format("%Y%m%d")),
    };
    match total.signum() {
        1 => {
            let recipient = Actor {
                subject: FINANCE,
                organisation_id: Some(&document.recipient_organisation_id),
                at: paid_at,
            };
            settlement::record_payment(conn, id, &payment, recipient)
        }
        -1 => settlement::record_refund(
            conn,
            id,
            &payment,
            Actor {
                at: paid_at,
                ..issuer
            },
        ),
        _ => return Ok(false), // a document of nothing closes as it is issued
    }
    .map_err(|e| e.to_string())?;
    Ok(true)
}

// --- the projects' stories ---------------------------------------------------------------------

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a demo date exists")
}

/// The first day of each quarter from `start`'s to `end`'s.
fn quarter_starts(start: NaiveDate, end: NaiveDate) -> Vec<NaiveDate> {
    let mut q = Period::containing(start, SettlementFrequency::Quarterly);
    let mut starts = Vec::new();
    while q.start() <= end {
        starts.push(q.start());
        q = q.next();
    }
    starts
}

fn day_in(rng: &mut StdRng, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let span = (to - from).num_days().max(0);
    from + Duration::days(rng.gen_range(0..=span))
}

/// How many start in quarter `q` of `n`: a slow first two quarters and a small last one,
/// `typical` in between.
fn intake(rng: &mut StdRng, q: usize, n: usize, typical: std::ops::RangeInclusive<u32>) -> u32 {
    match q {
        0 => rng.gen_range(1..=3),
        1 => rng.gen_range(3..=4),
        _ if q + 1 == n => rng.gen_range(2..=4),
        _ => rng.gen_range(typical),
    }
}

/// Reconnections: one outcome a participant, a reduction in loneliness at six months.
pub fn reconnections() -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(1);
    let (start, end) = (date(2015, 4, 1), date(2019, 3, 31));
    let quarters = quarter_starts(start, end);
    let mut plans = Vec::new();
    for (q, &from) in quarters.iter().enumerate() {
        let to = Period::containing(from, SettlementFrequency::Quarterly).end_exclusive()
            - Duration::days(1);
        for i in 0..intake(&mut rng, q, quarters.len(), 18..=40) {
            let who = format!("DEMO-RCN-{q:02}{i:02}");
            plans.push(Planned::new(
                &who,
                "loneliness_reduced",
                day_in(&mut rng, from, to.min(end)),
            ));
        }
    }
    plans
}

/// The last day of the quarter that starts on `from`.
fn quarter_end(from: NaiveDate) -> NaiveDate {
    Period::containing(from, SettlementFrequency::Quarterly).end_exclusive() - Duration::days(1)
}

/// The Skill Mill: young people from eight councils' areas (Hampshire's few, so its cells are
/// mostly withheld), each paid for by their home council with the DCMS top-up: entry to
/// education or training, to work (employment or self-employment, one of the two), and no
/// proven reoffending for the twelve months after they start.
pub fn skill_mill(home_areas: &[String]) -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(2);
    let (start, end) = (date(2018, 4, 1), date(2023, 3, 31));
    let quarters = quarter_starts(start, end);
    let mut plans = Vec::new();
    for (q, &from) in quarters.iter().enumerate() {
        for i in 0..intake(&mut rng, q, quarters.len(), 8..=16) {
            let who = format!("DEMO-SKM-{q:02}{i:02}");
            // The last council (Hampshire) refers one young person in six.
            let area = if rng.gen_ratio(1, 6) {
                &home_areas[home_areas.len() - 1]
            } else {
                &home_areas[rng.gen_range(0..home_areas.len() - 1)]
            };
            let began = day_in(&mut rng, from, quarter_end(from));
            let claim = |outcome, days: std::ops::RangeInclusive<i64>, rng: &mut StdRng| {
                let on = began + Duration::days(rng.gen_range(days));
                (on <= end).then(|| Planned {
                    home_area: Some(area.clone()),
                    ..Planned::new(&who, outcome, on)
                })
            };
            let mut these = Vec::new();
            if rng.gen_ratio(7, 10) {
                these.push(claim("education_training_entry", 20..=120, &mut rng));
            }
            if rng.gen_ratio(1, 2) {
                let work = if rng.gen_ratio(1, 8) {
                    "self_employment_entry"
                } else {
                    "employment_entry"
                };
                these.push(claim(work, 60..=240, &mut rng));
            }
            if rng.gen_ratio(3, 5) {
                these.push(claim("no_reoffending_12m", 365..=380, &mut rng));
            }
            plans.extend(these.into_iter().flatten());
        }
    }
    plans
}

/// Positive Families Partnership: adolescents on the edge of care, paid £650 a week out of
/// care, claimed each quarter for the whole weeks it held (fewer in the quarter they start),
/// up to the contract's 104 weeks each: those who stay out longest are claimed to the limit
/// and no further.
pub fn positive_families() -> Vec<Planned> {
    const MAX_WEEKS: i32 = 104;
    let mut rng = StdRng::seed_from_u64(3);
    let (start, end) = (date(2020, 1, 1), date(2024, 12, 31));
    let quarters = quarter_starts(start, end);
    let mut plans = Vec::new();
    for q in 0..quarters.len().min(12) {
        for i in 0..intake(&mut rng, q, 12, 4..=9) {
            let who = format!("DEMO-PFP-{q:02}{i:02}");
            let mut weeks_claimed = 0;
            let mut weeks = rng.gen_range(2..=11);
            for &quarter in &quarters[q..] {
                let last_day = quarter_end(quarter);
                let weeks_left = MAX_WEEKS - weeks_claimed;
                plans.push(Planned {
                    quantity: Some(weeks.min(weeks_left)),
                    ..Planned::new(&who, "week_out_of_care", last_day)
                });
                weeks_claimed += weeks.min(weeks_left);
                // Back in care (the story ends), or the limit reached.
                if weeks_claimed == MAX_WEEKS || rng.gen_ratio(1, 9) {
                    break;
                }
                // The next quarter's whole weeks, ending on its last day.
                let next = quarter_end(last_day + Duration::days(1));
                weeks = i32::try_from((next - last_day).num_days() / 7).expect("a quarter's weeks");
            }
        }
    }
    plans
}

/// A participant's ladder: each rung (outcome, days after the one before, the chance of
/// reaching it) in turn, until one is not reached.
struct Ladder<'a> {
    who: &'a str,
    end: NaiveDate,
    plans: &'a mut Vec<Planned>,
    /// Reaches every rung in time (the chances are ignored).
    keen: bool,
}

impl Ladder<'_> {
    fn climb(
        &mut self,
        rng: &mut StdRng,
        from: NaiveDate,
        rungs: &[(&'static str, std::ops::RangeInclusive<i64>, u32)],
    ) {
        let mut on = from;
        for (outcome, days, percent) in rungs {
            on += Duration::days(rng.gen_range(days.clone()));
            let reached = rng.gen_ratio(*percent, 100) || self.keen;
            if on > self.end || !reached {
                return;
            }
            self.plans.push(Planned::new(self.who, outcome, on));
        }
    }
}

/// Youth Homelessness Partnership: young people's assessments, accommodation sustained,
/// learning, work and volunteering, each a ladder of outcomes; the £19,000 a participant
/// limit cuts short the few who climb most of them.
pub fn youth_homelessness() -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(4);
    let (start, end) = (date(2019, 1, 1), date(2022, 12, 31));
    let quarters = quarter_starts(start, end);
    let mut plans = Vec::new();
    for (q, &from) in quarters.iter().enumerate() {
        for i in 0..intake(&mut rng, q, quarters.len(), 8..=14) {
            let who = format!("DEMO-YHP-{q:02}{i:02}");
            let began = day_in(&mut rng, from, quarter_end(from));
            // One in eleven climbs every ladder, and the participant limit stops their pay.
            let keen = i % 11 == 5;
            let mut ladder = Ladder {
                who: &who,
                end,
                plans: &mut plans,
                keen,
            };
            ladder.climb(
                &mut rng,
                began,
                &[
                    ("assessment_1", 0..=0, 100),
                    ("assessment_2", 30..=60, 85),
                    ("assessment_3", 30..=60, 70),
                ],
            );
            ladder.climb(
                &mut rng,
                began,
                &[
                    ("accommodation_entry", 14..=90, 75),
                    ("accommodation_3m", 91..=100, 85),
                    ("accommodation_6m", 91..=100, 80),
                    ("accommodation_12m", 182..=190, 75),
                    ("accommodation_18m", 182..=190, 70),
                ],
            );
            ladder.climb(
                &mut rng,
                began,
                &[
                    ("education_training_entry", 30..=150, 45),
                    ("qualification_entry_level", 60..=150, 60),
                    ("qualification_level_1", 90..=200, 50),
                    ("qualification_level_2", 120..=240, 40),
                ],
            );
            let work = if rng.gen_ratio(1, 2) {
                ("full_time_13w", "full_time_26w")
            } else {
                ("part_time_13w", "part_time_26w")
            };
            ladder.climb(
                &mut rng,
                began,
                &[
                    ("employment_entry", 90..=300, 40),
                    (work.0, 91..=110, 70),
                    (work.1, 91..=110, 65),
                ],
            );
            ladder.climb(
                &mut rng,
                began,
                &[
                    ("volunteering_6w", 30..=120, 20),
                    ("volunteering_13w", 49..=60, 75),
                    ("volunteering_20w", 49..=60, 70),
                    ("volunteering_26w", 42..=50, 70),
                ],
            );
        }
    }
    plans
}

/// Futures Ladder (DWP Innovation Fund rate card A): young people referred until the
/// cut-off, the younger paid for better behaviour and attendance at school, the older for
/// qualifications and work.
pub fn futures_ladder() -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(5);
    let (start, cutoff, end) = (date(2012, 9, 1), date(2014, 10, 31), date(2015, 8, 31));
    let quarters = quarter_starts(start, cutoff);
    let mut plans = Vec::new();
    for (q, &from) in quarters.iter().enumerate() {
        for i in 0..intake(&mut rng, q, quarters.len(), 12..=24) {
            let who = format!("DEMO-FUT-{q:02}{i:02}");
            let referred = day_in(&mut rng, from.max(start), quarter_end(from).min(cutoff));
            let age = rng.gen_range(14..=24);
            let mut these = Vec::new();
            let mut ladder = Ladder {
                who: &who,
                end,
                plans: &mut these,
                keen: false,
            };
            if age <= 16 {
                ladder.climb(&mut rng, referred, &[("improved_attendance", 60..=180, 60)]);
                ladder.climb(&mut rng, referred, &[("improved_behaviour", 90..=200, 45)]);
            }
            ladder.climb(
                &mut rng,
                referred,
                &[
                    ("qualification_level_1", 120..=300, 40),
                    ("qualification_level_2", 150..=300, 45),
                    ("qualification_level_3", 200..=365, 25),
                ],
            );
            if age >= 18 {
                ladder.climb(
                    &mut rng,
                    referred,
                    &[
                        ("employment_13w", 100..=300, 35),
                        ("employment_26w", 91..=110, 70),
                    ],
                );
            }
            plans.extend(these.into_iter().map(|p| Planned {
                age_at_start: Some(age),
                referred_on: Some(referred),
                ..p
            }));
        }
    }
    plans
}
