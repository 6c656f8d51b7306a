//! The split of a payable amount between a project's payers (DOMAIN.md section 4). Pure and
//! exact: shares are integer weights over a common denominator, never truncated decimals.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::money::Minor;
use super::shares::{sums_to_one, SHARE_SCALE};

string_enum!(
    /// What happens to the part of a payment a capped payer cannot pay.
    CapPolicy { Shortfall => "shortfall", Reallocate => "reallocate" }
);

/// What the split needs to know about one payer, in the order the project lists them.
#[derive(Debug, Clone)]
pub struct PayerShareTerms {
    pub max_commitment_minor: Minor,
    /// Fixed share; `None` on every payer means pro rata to `max_commitment_minor`.
    pub share: Option<Decimal>,
    pub phases: Vec<(NaiveDate, NaiveDate, Decimal)>,
    /// Non-empty for payers that take the local part for participants from these areas.
    pub home_area_codes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareError {
    HomeAreaRequired,
    HomeAreaNotCovered(String),
}

impl std::fmt::Display for ShareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShareError::HomeAreaRequired => {
                f.write_str("home_area is required: this project pays through the participant's home commissioner")
            }
            // The area is not echoed: in a column-shifted file it may be a participant reference.
            ShareError::HomeAreaNotCovered(_) => {
                f.write_str("home_area is not covered by any payer of this project")
            }
        }
    }
}

/// Each payer's share of an outcome achieved on `on` by a participant from `home_area`, as
/// integer weights over their sum: phase shares if a phase is in force, else fixed shares,
/// else pro rata to maximum commitments; then the home-area payers' weights pooled onto the
/// payer covering `home_area`.
pub fn share_weights(
    payers: &[PayerShareTerms],
    on: NaiveDate,
    home_area: Option<&str>,
) -> Result<Vec<i128>, ShareError> {
    let phase_shares: Vec<Option<Decimal>> = payers
        .iter()
        .map(|p| {
            p.phases
                .iter()
                .find(|(from, to, _)| *from <= on && on <= *to)
                .map(|(_, _, s)| *s)
        })
        .collect();
    let mut weights: Vec<i128> = if phase_shares.iter().any(Option::is_some) {
        phase_shares
            .iter()
            .map(|s| decimal_weight(s.unwrap_or(Decimal::ZERO)))
            .collect()
    } else if payers.iter().all(|p| p.share.is_some()) {
        payers
            .iter()
            .map(|p| decimal_weight(p.share.unwrap_or(Decimal::ZERO)))
            .collect()
    } else {
        payers
            .iter()
            .map(|p| i128::from(p.max_commitment_minor.get()))
            .collect()
    };

    let local: Vec<usize> = (0..payers.len())
        .filter(|&i| !payers[i].home_area_codes.is_empty())
        .collect();
    if !local.is_empty() {
        let area = home_area.ok_or(ShareError::HomeAreaRequired)?;
        let home = local
            .iter()
            .copied()
            .find(|&i| payers[i].home_area_codes.iter().any(|c| c == area))
            .ok_or_else(|| ShareError::HomeAreaNotCovered(area.to_owned()))?;
        let pooled: i128 = local.iter().map(|&i| weights[i]).sum();
        for &i in &local {
            weights[i] = 0;
        }
        weights[home] = pooled;
    }
    Ok(weights)
}

/// One payer's phases: first day, last day, share.
pub type Phases = [(NaiveDate, NaiveDate, Decimal)];

/// What is wrong with a phase schedule on the first day it goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseGap {
    /// Some payers have a phase in force and others do not: those would pay nothing.
    Uncovered(NaiveDate),
    /// The shares in force do not sum to exactly one.
    NotWhole(NaiveDate),
}

impl std::fmt::Display for PhaseGap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PhaseGap::Uncovered(day) => write!(
                f,
                "on {day} some payers have a phase and others do not: give every payer a phase for the same dates"
            ),
            PhaseGap::NotWhole(day) => {
                write!(f, "the phase shares in force on {day} do not sum to exactly 1")
            }
        }
    }
}

/// Checks that on every day some phase is in force, every payer has one and their shares sum
/// to one. The schedule can change only where a phase starts or the day after one ends, so
/// checking those days is enough.
pub fn phase_schedule_gap(payers: &[&Phases]) -> Option<PhaseGap> {
    let boundaries: std::collections::BTreeSet<NaiveDate> = payers
        .iter()
        .flat_map(|phases| phases.iter())
        .flat_map(|(from, to, _)| [Some(*from), to.succ_opt()])
        .flatten()
        .collect();
    for day in boundaries {
        let in_force: Vec<Option<Decimal>> = payers
            .iter()
            .map(|phases| {
                phases
                    .iter()
                    .find(|(from, to, _)| *from <= day && day <= *to)
                    .map(|(_, _, share)| *share)
            })
            .collect();
        if in_force.iter().all(Option::is_none) {
            continue;
        }
        if in_force.iter().any(Option::is_none) {
            return Some(PhaseGap::Uncovered(day));
        }
        let shares: Vec<Decimal> = in_force.into_iter().flatten().collect();
        if !sums_to_one(&shares) {
            return Some(PhaseGap::NotWhole(day));
        }
    }
    None
}

fn decimal_weight(share: Decimal) -> i128 {
    let scale = share.scale();
    debug_assert!(
        scale <= SHARE_SCALE,
        "shares are validated to at most 9 places"
    );
    share.mantissa() * 10i128.pow(SHARE_SCALE.saturating_sub(scale))
        / 10i128.pow(scale.saturating_sub(SHARE_SCALE))
}

/// Splits `amount` by `weights` with the largest-remainder rule: each part is
/// `floor(amount × w / Σw)`, and the pence left over go one each to the largest fractional
/// parts, ties to the payer listed first. The parts always sum to exactly `amount`.
///
/// `amount` and every weight must be non-negative and the weights must not all be zero.
pub fn largest_remainder(amount: i64, weights: &[i128]) -> Vec<i64> {
    let total: i128 = weights.iter().sum();
    assert!(
        total > 0 && amount >= 0,
        "split of {amount} by weights summing to {total}"
    );
    let amount = i128::from(amount);
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let raw = amount.checked_mul(w).expect("amount × weight fits in i128");
        parts.push((raw / total) as i64);
        remainders.push((raw % total, i));
    }
    let given: i64 = parts.iter().sum();
    let leftover = (amount as i64 - given) as usize;
    // Same denominator for all, so comparing remainders compares fractional parts.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().take(leftover) {
        parts[i] += 1;
    }
    parts
}

/// One payer's part of one payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PayerPart {
    pub allocated: Minor,
    /// What this payer's share would have been but its cap left unfunded.
    pub shortfall: Minor,
}

/// Splits `amount` by `weights`, holding each payer to its `headroom` (what its maximum
/// commitment still allows). Under `Shortfall` what a capped payer cannot pay is recorded as
/// its shortfall; under `Reallocate` it is split again among payers with headroom left, by
/// their weights and the same rounding, until it is all placed or nobody has headroom; what
/// still cannot be placed is shortfall, attributed to the capped payers in proportion to what
/// they could not pay.
pub fn split(
    amount: Minor,
    weights: &[i128],
    headroom: &[Minor],
    policy: CapPolicy,
) -> Vec<PayerPart> {
    assert_eq!(weights.len(), headroom.len());
    let n = weights.len();
    if amount.is_zero() {
        return vec![PayerPart::default(); n];
    }
    let amount = amount.get();
    let headroom: Vec<i64> = headroom.iter().map(|h| h.get().max(0)).collect();
    let mut allocated = largest_remainder(amount, weights);
    let mut excess = vec![0i64; n];
    for i in 0..n {
        if allocated[i] > headroom[i] {
            excess[i] = allocated[i] - headroom[i];
            allocated[i] = headroom[i];
        }
    }
    let mut pool: i64 = excess.iter().sum();
    if policy == CapPolicy::Shortfall || pool == 0 {
        return (0..n)
            .map(|i| PayerPart {
                allocated: Minor(allocated[i]),
                shortfall: Minor(excess[i]),
            })
            .collect();
    }
    // Each round either places the whole pool or caps at least one more payer: at most n.
    while pool > 0 {
        let eligible: Vec<i128> = (0..n)
            .map(|i| {
                if weights[i] > 0 && allocated[i] < headroom[i] {
                    weights[i]
                } else {
                    0
                }
            })
            .collect();
        if eligible.iter().all(|w| *w == 0) {
            break;
        }
        let extra = largest_remainder(pool, &eligible);
        pool = 0;
        for i in 0..n {
            let give = extra[i].min(headroom[i] - allocated[i]);
            allocated[i] += give;
            pool += extra[i] - give;
        }
    }
    let shortfall = if pool > 0 {
        let by_excess: Vec<i128> = excess.iter().map(|e| i128::from(*e)).collect();
        largest_remainder(pool, &by_excess)
    } else {
        vec![0; n]
    };
    (0..n)
        .map(|i| PayerPart {
            allocated: Minor(allocated[i]),
            shortfall: Minor(shortfall[i]),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn pro_rata(maxes: &[i64]) -> Vec<PayerShareTerms> {
        maxes
            .iter()
            .map(|m| PayerShareTerms {
                max_commitment_minor: Minor(*m),
                share: None,
                phases: vec![],
                home_area_codes: vec![],
            })
            .collect()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn reconnections_three_payers_pro_rata() {
        // CBO £303,000, SOF £697,000, Worcestershire £1,020,000; £1,000.00 verified.
        let payers = pro_rata(&[30_300_000, 69_700_000, 102_000_000]);
        let weights = share_weights(&payers, day("2016-01-01"), None).unwrap();
        assert_eq!(
            largest_remainder(100_000, &weights),
            vec![15_000, 34_505, 50_495]
        );
    }

    #[test]
    fn thirds_never_lose_or_invent_a_penny() {
        let as_decimals: Vec<PayerShareTerms> = ["0.333334", "0.333333", "0.333333"]
            .iter()
            .map(|s| PayerShareTerms {
                max_commitment_minor: Minor(100),
                share: Some(dec(s)),
                phases: vec![],
                home_area_codes: vec![],
            })
            .collect();
        let as_maximums = pro_rata(&[100, 100, 100]);
        for amount in 0..2_000 {
            for payers in [&as_decimals, &as_maximums] {
                let w = share_weights(payers, day("2020-01-01"), None).unwrap();
                let parts = largest_remainder(amount, &w);
                assert_eq!(parts.iter().sum::<i64>(), amount);
                assert!(parts.iter().max().unwrap() - parts.iter().min().unwrap() <= 1);
            }
        }
        // Equal remainders: the leftover penny goes to the payer listed first.
        let w = share_weights(&as_maximums, day("2020-01-01"), None).unwrap();
        assert_eq!(largest_remainder(100, &w), vec![34, 33, 33]);
    }

    #[test]
    fn phases_change_the_shares_by_achievement_date() {
        let mut payers = pro_rata(&[700, 300]);
        payers[0].phases = vec![(day("2015-01-01"), day("2015-12-31"), dec("0.7"))];
        payers[1].phases = vec![(day("2015-01-01"), day("2015-12-31"), dec("0.3"))];
        let start_up = share_weights(&payers, day("2015-06-01"), None).unwrap();
        assert_eq!(largest_remainder(1000, &start_up), vec![700, 300]);
        payers[0].max_commitment_minor = Minor(500);
        payers[1].max_commitment_minor = Minor(500);
        let later = share_weights(&payers, day("2016-06-01"), None).unwrap();
        assert_eq!(largest_remainder(1000, &later), vec![500, 500]);
    }

    #[test]
    fn the_home_commissioner_takes_the_whole_local_part() {
        // The Skill Mill: DCMS £1,418,976 and councils of £230,400 / £210,000.
        let mut payers = pro_rata(&[141_897_600, 23_040_000, 23_040_000, 21_000_000]);
        payers[1].home_area_codes = vec!["E08000021".into()];
        payers[2].home_area_codes = vec!["E06000047".into()];
        payers[3].home_area_codes = vec!["E10000014".into()];
        let w = share_weights(&payers, day("2019-01-01"), Some("E06000047")).unwrap();
        assert_eq!(w[1], 0);
        assert_eq!(w[3], 0);
        assert_eq!(w[2], 23_040_000 + 23_040_000 + 21_000_000);
        let parts = largest_remainder(250_000, &w);
        assert_eq!(parts.iter().sum::<i64>(), 250_000);
        assert_eq!(parts[1] + parts[3], 0);
        assert_eq!(
            share_weights(&payers, day("2019-01-01"), Some("W06000001")),
            Err(ShareError::HomeAreaNotCovered("W06000001".into()))
        );
        assert_eq!(
            share_weights(&payers, day("2019-01-01"), None),
            Err(ShareError::HomeAreaRequired)
        );
    }

    #[test]
    fn a_capped_payer_leaves_a_shortfall_or_a_reallocation() {
        let weights = [50, 50];
        let parts = split(
            Minor(1000),
            &weights,
            &[Minor(200), Minor(10_000)],
            CapPolicy::Shortfall,
        );
        assert_eq!(
            parts[0],
            PayerPart {
                allocated: Minor(200),
                shortfall: Minor(300)
            }
        );
        assert_eq!(
            parts[1],
            PayerPart {
                allocated: Minor(500),
                shortfall: Minor(0)
            }
        );
        let parts = split(
            Minor(1000),
            &weights,
            &[Minor(200), Minor(10_000)],
            CapPolicy::Reallocate,
        );
        assert_eq!(
            parts[0],
            PayerPart {
                allocated: Minor(200),
                shortfall: Minor(0)
            }
        );
        assert_eq!(
            parts[1],
            PayerPart {
                allocated: Minor(800),
                shortfall: Minor(0)
            }
        );
        let parts = split(
            Minor(1000),
            &weights,
            &[Minor(200), Minor(300)],
            CapPolicy::Reallocate,
        );
        assert_eq!(parts.iter().map(|p| p.allocated).sum::<Minor>(), Minor(500));
        assert_eq!(parts.iter().map(|p| p.shortfall).sum::<Minor>(), Minor(500));
    }

    proptest! {
        #[test]
        fn split_invariants_hold(
            amount in 0i64..100_000_000_000,
            payers in prop::collection::vec((1i64..10_000_000_000, 0i64..20_000_000_000), 1..12),
            reallocate in any::<bool>(),
        ) {
            let weights: Vec<i128> = payers.iter().map(|(w, _)| i128::from(*w)).collect();
            let headroom: Vec<Minor> = payers.iter().map(|(_, h)| Minor(*h)).collect();
            let policy = if reallocate { CapPolicy::Reallocate } else { CapPolicy::Shortfall };
            let parts = split(Minor(amount), &weights, &headroom, policy);
            let allocated: Minor = parts.iter().map(|p| p.allocated).sum();
            let shortfall: Minor = parts.iter().map(|p| p.shortfall).sum();
            prop_assert_eq!(allocated + shortfall, Minor(amount));
            for (part, room) in parts.iter().zip(&headroom) {
                prop_assert!(part.allocated >= Minor::ZERO && part.shortfall >= Minor::ZERO);
                prop_assert!(part.allocated <= *room);
            }
            if reallocate && shortfall > Minor::ZERO {
                // Nothing is left unfunded while anyone with a share still has headroom.
                for (part, room) in parts.iter().zip(&headroom) {
                    prop_assert_eq!(part.allocated, *room);
                }
            }
            if !reallocate {
                let uncapped = largest_remainder(amount, &weights);
                for (part, raw) in parts.iter().zip(&uncapped) {
                    prop_assert_eq!(part.allocated + part.shortfall, Minor(*raw));
                }
            }
        }

        #[test]
        fn largest_remainder_is_exact_and_fair(
            amount in 0i64..1_000_000_000_000,
            weights in prop::collection::vec(0i128..1_000_000_000_000, 1..20),
        ) {
            prop_assume!(weights.iter().sum::<i128>() > 0);
            let parts = largest_remainder(amount, &weights);
            let total: i128 = weights.iter().sum();
            prop_assert_eq!(parts.iter().sum::<i64>(), amount);
            for (part, w) in parts.iter().zip(&weights) {
                // Each part is its exact share rounded down or up, never further.
                let raw = i128::from(amount) * w;
                let floor = (raw / total) as i64;
                prop_assert!(*part == floor || *part == floor + 1);
            }
        }
    }

    #[test]
    fn a_phase_schedule_must_cover_every_payer_until_every_phase_ends() {
        let half = Decimal::new(5, 1);
        let a = [(day("2021-01-01"), day("2021-12-31"), half)];
        let b = [(day("2021-01-01"), day("2021-06-30"), half)];
        // From 2021-07-01 only A has a phase: B would pay nothing and A a half.
        assert_eq!(
            phase_schedule_gap(&[&a, &b]),
            Some(PhaseGap::Uncovered(day("2021-07-01")))
        );
        let b = [(day("2021-01-01"), day("2021-12-31"), half)];
        assert_eq!(phase_schedule_gap(&[&a, &b]), None);
        let b = [(day("2021-01-01"), day("2021-12-31"), Decimal::new(4, 1))];
        assert_eq!(
            phase_schedule_gap(&[&a, &b]),
            Some(PhaseGap::NotWhole(day("2021-01-01")))
        );
    }
}
