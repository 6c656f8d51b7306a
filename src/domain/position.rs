//! A fund manager's view ahead of the budget: how close each cap is, and when it will bind at
//! the pace of the last four quarters. Pure: the caller brings the amounts.

use super::period::Period;

/// How close a total is to its cap.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CapWarning {
    /// At least 80 % of the cap is used.
    Near,
    /// The cap is reached: nothing more is paid by this payer.
    Reached,
}

/// Percentages at which a cap warns, compared exactly (no rounding).
pub const NEAR_PERCENT: i128 = 80;
pub const REACHED_PERCENT: i128 = 100;

/// The warning for `used` of `cap`, if any. A cap of zero is reached from the start.
pub fn cap_warning(used: i64, cap: i64) -> Option<CapWarning> {
    let (used, cap) = (i128::from(used) * 100, i128::from(cap));
    if used >= cap * REACHED_PERCENT {
        Some(CapWarning::Reached)
    } else if used >= cap * NEAR_PERCENT {
        Some(CapWarning::Near)
    } else {
        None
    }
}

/// The warning level a move from `before` to `after` (of `cap`) crosses into, if it crosses
/// one: what a notification is sent for.
pub fn crossed(before: i64, after: i64, cap: i64) -> Option<CapWarning> {
    match (cap_warning(before, cap), cap_warning(after, cap)) {
        (b, Some(a)) if b < Some(a) => Some(a),
        _ => None,
    }
}

/// The quarter in which `headroom` runs out if payments go on at the average of the four
/// complete quarters before `current` (`trailing_four_quarters`, their sum), counting
/// `current` as the first quarter of the projection. `None` when nothing was paid in them
/// (there is no pace to project) or nothing is left.
pub fn projected_binding_quarter(
    headroom: i64,
    trailing_four_quarters: i64,
    current: Period,
) -> Option<Period> {
    if headroom <= 0 || trailing_four_quarters <= 0 {
        return None;
    }
    // Quarters needed at a rate of trailing / 4 a quarter: ceil(headroom × 4 / trailing).
    let needed = (i128::from(headroom) * 4 + i128::from(trailing_four_quarters) - 1)
        / i128::from(trailing_four_quarters);
    let mut quarter = current;
    for _ in 1..needed.min(400) {
        quarter = quarter.next();
    }
    Some(quarter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_at_eighty_and_a_hundred_percent_exactly() {
        assert_eq!(cap_warning(79_999, 100_000), None);
        assert_eq!(cap_warning(80_000, 100_000), Some(CapWarning::Near));
        assert_eq!(cap_warning(99_999, 100_000), Some(CapWarning::Near));
        assert_eq!(cap_warning(100_000, 100_000), Some(CapWarning::Reached));
        assert_eq!(cap_warning(0, 0), Some(CapWarning::Reached));
        assert_eq!(crossed(79_000, 81_000, 100_000), Some(CapWarning::Near));
        assert_eq!(crossed(79_000, 100_000, 100_000), Some(CapWarning::Reached));
        assert_eq!(crossed(81_000, 90_000, 100_000), None);
        assert_eq!(
            crossed(90_000, 70_000, 100_000),
            None,
            "a reversal crosses nothing"
        );
        assert_eq!(
            crossed(i64::MAX - 1, i64::MAX, i64::MAX),
            Some(CapWarning::Reached)
        );
    }

    #[test]
    fn a_cap_binds_where_the_last_four_quarters_pace_takes_it() {
        let q = Period::parse("2021-Q1").unwrap();
        // 40,000 over four quarters: 10,000 a quarter; 25,000 left binds in the third quarter
        // counting this one.
        assert_eq!(
            projected_binding_quarter(25_000, 40_000, q),
            Period::parse("2021-Q3")
        );
        assert_eq!(
            projected_binding_quarter(30_000, 40_000, q),
            Period::parse("2021-Q3")
        );
        assert_eq!(
            projected_binding_quarter(30_001, 40_000, q),
            Period::parse("2021-Q4")
        );
        assert_eq!(projected_binding_quarter(1, 40_000, q), Some(q));
        assert_eq!(projected_binding_quarter(0, 40_000, q), None);
        assert_eq!(projected_binding_quarter(1, 0, q), None);
    }
}
