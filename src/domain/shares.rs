//! Shares of a payment: exact decimals from the API, exact fractions for pro rata.

use std::str::FromStr;

use rust_decimal::Decimal;

/// Decimal shares carry at most this many places, so that `share × 10^9` is an exact integer
/// (the split weighs payers by these integers).
pub const SHARE_SCALE: u32 = 9;

/// Parses a share such as "0.15": a plain decimal between 0 and 1 inclusive with at most
/// [`SHARE_SCALE`] significant decimal places. The text is
/// checked digit by digit before it becomes a `Decimal`, whose parser would otherwise round a
/// share with more digits than it holds (`0.5000000000000000000000000000001` to `0.5`): a share
/// that cannot be represented exactly is refused, never rounded.
pub fn parse_share(raw: &str) -> Result<Decimal, String> {
    let not_a_share = || format!("'{raw}' is not a decimal share such as \"0.15\"");
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    let digits_only = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty()
        || !digits_only(whole)
        || !digits_only(fraction)
        || raw.len() > 64
    {
        return Err(not_a_share());
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    let scale = SHARE_SCALE;
    if whole.len() > 1 || whole == "1" && !fraction.is_empty() || !matches!(whole, "" | "0" | "1") {
        return Err(format!("share {raw} is more than 1"));
    }
    if fraction.len() > scale as usize {
        return Err(format!(
            "share {raw} has more than {scale} significant decimal places and cannot be used exactly"
        ));
    }
    let exact = format!(
        "{}.{}",
        if whole.is_empty() { "0" } else { whole },
        fraction
    );
    let share = Decimal::from_str(exact.trim_end_matches('.')).map_err(|_| not_a_share())?;
    Ok(share.normalize())
}

/// True when the decimals add up to exactly one (decimal addition here is exact).
pub fn sums_to_one(shares: &[Decimal]) -> bool {
    shares
        .iter()
        .try_fold(Decimal::ZERO, |acc, s| acc.checked_add(*s))
        == Some(Decimal::ONE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_decimals_between_zero_and_one() {
        assert_eq!(parse_share("0.15").unwrap(), Decimal::new(15, 2));
        assert_eq!(parse_share("1").unwrap(), Decimal::ONE);
        assert!(parse_share("1.01").is_err());
        assert!(parse_share("-0.1").is_err());
        assert!(parse_share("1e-1").is_err());
        assert!(parse_share("").is_err());
        assert!(parse_share(".").is_err());
        assert_eq!(parse_share(".5").unwrap(), Decimal::new(5, 1));
        assert_eq!(parse_share("00.250000").unwrap(), Decimal::new(25, 2));
        assert_eq!(parse_share("1.000").unwrap(), Decimal::ONE);
    }

    #[test]
    fn a_share_that_cannot_be_held_exactly_is_refused_not_rounded() {
        assert!(parse_share("0.5000000000000000000000000000001").is_err());
        assert!(parse_share("0.1234567891").is_err());
        assert_eq!(
            parse_share("0.123456789").unwrap(),
            Decimal::new(123456789, 9)
        );
        // Trailing zeros are not significant.
        assert_eq!(
            parse_share("0.50000000000000000000000000000000").unwrap(),
            Decimal::new(5, 1)
        );
        assert!(parse_share("1.0000000000000000000000000000001").is_err());
    }

    #[test]
    fn thirds_as_six_place_decimals_sum_to_exactly_one() {
        let thirds: Vec<Decimal> = ["0.333334", "0.333333", "0.333333"]
            .iter()
            .map(|s| parse_share(s).unwrap())
            .collect();
        assert!(sums_to_one(&thirds));
        let short: Vec<Decimal> = ["0.333333", "0.333333", "0.333333"]
            .iter()
            .map(|s| parse_share(s).unwrap())
            .collect();
        assert!(!sums_to_one(&short));
    }
}
