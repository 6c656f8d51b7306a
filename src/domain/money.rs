//! Money as integer minor units of an ISO 4217 currency. No floating point anywhere.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

/// An ISO 4217 currency that has minor units (XAU, XDR and the like are refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    exponent: u32,
}

impl Currency {
    pub fn parse(code: &str) -> Result<Currency, String> {
        let currency = iso_currency::Currency::from_code(code)
            .ok_or_else(|| format!("'{code}' is not an ISO 4217 currency code"))?;
        let exponent = currency
            .exponent()
            .ok_or_else(|| format!("'{code}' has no minor unit and cannot be used for payments"))?;
        Ok(Currency {
            code: currency.code(),
            exponent: u32::from(exponent),
        })
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Number of decimal places of the minor unit (2 for GBP, 0 for JPY, 3 for KWD).
    pub fn exponent(&self) -> u32 {
        self.exponent
    }

    /// [`MAX_MAJOR_UNITS`] in this currency's minor units.
    pub fn max_minor(&self) -> i64 {
        MAX_MAJOR_UNITS * 10i64.pow(self.exponent)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// An amount in integer minor units of its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("'{0}' is not a decimal amount such as \"1234.56\"")]
    NotDecimal(String),
    #[error("'{amount}' has more decimal places than {currency} allows ({exponent})")]
    TooPrecise {
        amount: String,
        currency: &'static str,
        exponent: u32,
    },
    #[error("'{0}' is outside the range cofund accepts (up to 1,000,000,000,000 in major units)")]
    OutOfRange(String),
}

/// The largest amount any money field accepts, in major units (£1,000,000,000,000.00): far
/// beyond any fund, and far enough below `i64::MAX` minor units that a price times the largest
/// quantity, or a sum of such products, is caught by checked arithmetic long before it wraps.
pub const MAX_MAJOR_UNITS: i64 = 1_000_000_000_000;

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Parses a decimal string such as "1234.56" exactly; refuses anything that would need
    /// rounding to fit the currency's minor unit.
    pub fn parse(amount: &str, currency: Currency) -> Result<Money, AmountError> {
        let trimmed = amount.trim();
        let valid_chars = !trimmed.is_empty()
            && trimmed
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
            && trimmed.chars().any(|c| c.is_ascii_digit());
        if !valid_chars {
            return Err(AmountError::NotDecimal(amount.to_owned()));
        }
        let decimal =
            Decimal::from_str(trimmed).map_err(|_| AmountError::NotDecimal(amount.to_owned()))?;
        let decimal = decimal.normalize();
        if decimal.scale() > currency.exponent {
            return Err(AmountError::TooPrecise {
                amount: amount.to_owned(),
                currency: currency.code,
                exponent: currency.exponent,
            });
        }
        let minor = decimal
            .checked_mul(Decimal::from(10i64.pow(currency.exponent)))
            .and_then(|d| i64::try_from(d).ok())
            .filter(|m| m.unsigned_abs() <= currency.max_minor().unsigned_abs())
            .ok_or_else(|| AmountError::OutOfRange(amount.to_owned()))?;
        Ok(Money { minor, currency })
    }

    /// `self + other`, or `None` if the currencies differ or the sum would overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        (self.currency == other.currency)
            .then(|| self.minor.checked_add(other.minor))
            .flatten()
            .map(|minor| Money::new(minor, self.currency))
    }

    /// `self × quantity`, or `None` if the product would overflow.
    pub fn checked_mul(self, quantity: i64) -> Option<Money> {
        self.minor
            .checked_mul(quantity)
            .map(|minor| Money::new(minor, self.currency))
    }

    /// The decimal string of the API: always with the currency's number of decimal places.
    pub fn amount_string(&self) -> String {
        format_minor(self.minor, self.currency.exponent)
    }
}

/// An amount in integer minor units of the currency its row or project names: every money
/// column of the rows in `db/models.rs`, and every money field of the domain and the use cases
/// (pricing, the split, ledger lines, settlement, positions, the open-data facts and history).
/// Sums and differences are checked: an overflow is a broken invariant where
/// money moves (amounts are bounded by [`MAX_MAJOR_UNITS`] far below `i64::MAX`), so it stops
/// the operation rather than wrap. Stored as a 64-bit integer, sent as one.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    diesel::AsExpression,
    diesel::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::BigInt)]
#[serde(transparent)]
pub struct Minor(pub i64);

impl Minor {
    pub const ZERO: Minor = Minor(0);

    pub fn get(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Minor) -> Option<Minor> {
        self.0.checked_add(other.0).map(Minor)
    }

    pub fn checked_sub(self, other: Minor) -> Option<Minor> {
        self.0.checked_sub(other.0).map(Minor)
    }

    /// The amount `quantity` times over, or `None` past the range of minor units.
    pub fn checked_mul(self, quantity: i64) -> Option<Minor> {
        self.0.checked_mul(quantity).map(Minor)
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn abs(self) -> Minor {
        Minor(self.0.checked_abs().expect("money overflow: abs"))
    }

    /// -1, 0 or 1: the direction money moves.
    pub fn signum(self) -> i64 {
        self.0.signum()
    }
}

impl std::ops::Add for Minor {
    type Output = Minor;
    fn add(self, other: Minor) -> Minor {
        self.checked_add(other)
            .unwrap_or_else(|| panic!("money overflow: {} + {}", self.0, other.0))
    }
}

impl std::ops::Sub for Minor {
    type Output = Minor;
    fn sub(self, other: Minor) -> Minor {
        self.checked_sub(other)
            .unwrap_or_else(|| panic!("money overflow: {} - {}", self.0, other.0))
    }
}

impl std::ops::AddAssign for Minor {
    fn add_assign(&mut self, other: Minor) {
        *self = *self + other;
    }
}

impl std::ops::SubAssign for Minor {
    fn sub_assign(&mut self, other: Minor) {
        *self = *self - other;
    }
}

/// An amount times a count (units, or a sign): checked like every sum of money.
impl std::ops::Mul<i64> for Minor {
    type Output = Minor;
    fn mul(self, count: i64) -> Minor {
        self.checked_mul(count)
            .unwrap_or_else(|| panic!("money overflow: {} × {count}", self.0))
    }
}

impl std::ops::Neg for Minor {
    type Output = Minor;
    fn neg(self) -> Minor {
        Minor(self.0.checked_neg().expect("money overflow: negation"))
    }
}

impl std::iter::Sum for Minor {
    fn sum<I: Iterator<Item = Minor>>(amounts: I) -> Minor {
        amounts.fold(Minor::ZERO, |total, amount| total + amount)
    }
}

impl<'a> std::iter::Sum<&'a Minor> for Minor {
    fn sum<I: Iterator<Item = &'a Minor>>(amounts: I) -> Minor {
        amounts.copied().sum()
    }
}

impl From<i64> for Minor {
    fn from(minor: i64) -> Minor {
        Minor(minor)
    }
}

impl From<Minor> for i64 {
    fn from(minor: Minor) -> i64 {
        minor.0
    }
}

impl fmt::Display for Minor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<DB> diesel::deserialize::FromSql<diesel::sql_types::BigInt, DB> for Minor
where
    DB: diesel::backend::Backend,
    i64: diesel::deserialize::FromSql<diesel::sql_types::BigInt, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        i64::from_sql(bytes).map(Minor)
    }
}

impl<DB> diesel::serialize::ToSql<diesel::sql_types::BigInt, DB> for Minor
where
    DB: diesel::backend::Backend,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
{
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, DB>,
    ) -> diesel::serialize::Result {
        <i64 as diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>>::to_sql(&self.0, out)
    }
}

/// Formats integer minor units with `exponent` decimal places, e.g. 34505 → "345.05".
pub fn format_minor(minor: impl Into<Minor>, exponent: u32) -> String {
    let minor = minor.into().get();
    let mut decimal = Decimal::from_i128_with_scale(i128::from(minor), exponent);
    decimal.rescale(exponent);
    decimal.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_add_up_exactly_and_stop_rather_than_wrap() {
        let amounts = [Minor(1_050), Minor(-50), Minor(2)];
        assert_eq!(amounts.iter().sum::<Minor>(), Minor(1_002));
        assert_eq!(Minor(5) - Minor(7), Minor(-2));
        assert_eq!(Minor(i64::MAX).checked_add(Minor(1)), None);
        assert_eq!(Minor(i64::MIN).checked_sub(Minor(1)), None);
        assert!(std::panic::catch_unwind(|| Minor(i64::MAX) + Minor(1)).is_err());
        assert_eq!(Minor(-250) * 3, Minor(-750));
        assert_eq!(Minor(i64::MAX / 2 + 1).checked_mul(2), None);
        assert!(std::panic::catch_unwind(|| Minor(i64::MAX / 2 + 1) * 2).is_err());
        assert_eq!(serde_json::to_string(&Minor(-250)).unwrap(), "-250");
        assert_eq!(format_minor(Minor(-250), 2), "-2.50");
    }

    fn gbp() -> Currency {
        Currency::parse("GBP").unwrap()
    }

    #[test]
    fn parses_and_formats_exactly() {
        assert_eq!(Money::parse("1234.56", gbp()).unwrap().minor, 123456);
        assert_eq!(Money::parse("1000", gbp()).unwrap().minor, 100000);
        assert_eq!(Money::parse("0.1", gbp()).unwrap().minor, 10);
        assert_eq!(Money::parse("1.50", gbp()).unwrap().amount_string(), "1.50");
        assert_eq!(Money::new(34505, gbp()).amount_string(), "345.05");
        assert_eq!(Money::new(-5, gbp()).amount_string(), "-0.05");
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Money::parse("1500", jpy).unwrap().amount_string(), "1500");
    }

    #[test]
    fn refuses_what_would_need_rounding_or_is_not_a_number() {
        assert!(matches!(
            Money::parse("1.005", gbp()),
            Err(AmountError::TooPrecise { .. })
        ));
        assert!(matches!(
            Money::parse("1e3", gbp()),
            Err(AmountError::NotDecimal(_))
        ));
        assert!(matches!(
            Money::parse("", gbp()),
            Err(AmountError::NotDecimal(_))
        ));
        assert!(matches!(
            Money::parse("12,00", gbp()),
            Err(AmountError::NotDecimal(_))
        ));
        assert!(matches!(
            Money::parse("99999999999999999999", gbp()),
            Err(AmountError::OutOfRange(_))
        ));
        assert_eq!(
            Money::parse("1000000000000.00", gbp()).unwrap().minor,
            100_000_000_000_000
        );
        assert!(matches!(
            Money::parse("1000000000000.01", gbp()),
            Err(AmountError::OutOfRange(_))
        ));
        assert!(matches!(
            Money::parse("-1000000000000.01", gbp()),
            Err(AmountError::OutOfRange(_))
        ));
        assert!(Money::parse("1.5", Currency::parse("JPY").unwrap()).is_err());
    }

    #[test]
    fn arithmetic_is_checked() {
        let top = Money::new(i64::MAX - 1, gbp());
        assert_eq!(
            top.checked_add(Money::new(1, gbp())).unwrap().minor,
            i64::MAX
        );
        assert_eq!(top.checked_add(Money::new(2, gbp())), None);
        assert_eq!(top.checked_mul(2), None);
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Money::new(1, gbp()).checked_add(Money::new(1, jpy)), None);
        // The largest KWD price times the largest quantity does not fit: checked, not wrapped.
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::new(kwd.max_minor(), kwd).checked_mul(10_000), None);
    }

    #[test]
    fn currencies_are_iso_4217_with_minor_units() {
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
        assert!(Currency::parse("gbp").is_err());
        assert!(Currency::parse("XXX").is_err());
        assert!(Currency::parse("ABC").is_err());
    }
}

/// Money as the API writes it: `{"amount": "1234.56", "currency": "GBP"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Money, example = json!({"amount": "1000.00", "currency": "GBP"}))]
pub struct MoneyJson {
    /// Decimal string with at most the currency's number of decimal places.
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
}

/// The exponent of a stored currency code. Stored codes are checked when their project is
/// read (`check_currency`); one that is not known is shown with two decimals rather than
/// not at all.
pub fn exponent_of(code: &str) -> u32 {
    Currency::parse(code).map(|c| c.exponent()).unwrap_or(2)
}

/// As people read it: `1234.56 GBP`.
impl fmt::Display for MoneyJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

impl MoneyJson {
    pub fn from_minor(minor: impl Into<Minor>, currency: &str) -> MoneyJson {
        let minor = minor.into().get();
        MoneyJson {
            amount: format_minor(minor, exponent_of(currency)),
            currency: currency.to_owned(),
        }
    }

    /// Parses into exact minor units; errors name `field`.
    pub fn to_money(&self, field: &str) -> Result<Money, crate::domain::FieldError> {
        let currency = Currency::parse(&self.currency)
            .map_err(|e| crate::domain::FieldError::new(format!("{field}.currency"), e))?;
        Money::parse(&self.amount, currency)
            .map_err(|e| crate::domain::FieldError::new(format!("{field}.amount"), e.to_string()))
    }
}
