//! Shares of a payment: exact decimals from the API, exact fractions for pro rata.

use std::str::FromStr;

use rust_decimal::Decimal;

/// Parses a share such as "0.15": a plain decimal between 0 and 1 inclusive.
pub fn parse_share(raw: &str) -> Result<Decimal, String> {
    let plain = !raw.is_empty() && raw.chars().all(|c| c.is_ascii_digit() || c == '.');
    let share = Decimal::from_str(raw)
        .ok()
        .filter(|_| plain)
        .ok_or_else(|| format!("'{raw}' is not a decimal share such as \"0.15\""))?;
    if share > Decimal::ONE {
        return Err(format!("share {raw} is more than 1"));
    }
    if share.normalize().scale() > crate::domain::split::SHARE_SCALE {
        return Err(format!(
            "share {raw} has more than {} decimal places",
            crate::domain::split::SHARE_SCALE
        ));
    }
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
