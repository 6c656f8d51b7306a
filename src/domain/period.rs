//! Settlement periods: a calendar quarter (`2021-Q1`) or month (`2021-03`). Outcome data is
//! submitted monthly and settled in arrears, quarterly by default.

use std::fmt;

use chrono::{Datelike, Months, NaiveDate};

use super::limits;
use super::registry::SettlementFrequency;

/// One quarter or one month; ordered by start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    start: NaiveDate,
    frequency: SettlementFrequency,
}

impl Period {
    /// Reads `2021-Q1` (a quarter) or `2021-03` (a month), years 1900 to 2199.
    pub fn parse(text: &str) -> Option<Period> {
        // Digits only where numbers go: Rust's integer parser would take a sign (`2021-+3`).
        let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        let (year, rest) = text.split_once('-')?;
        if !digits(year) || !digits(rest.strip_prefix('Q').unwrap_or(rest)) {
            return None;
        }
        if year.len() != 4 {
            return None;
        }
        let year: i32 = year
            .parse()
            .ok()
            .filter(|y| (limits::MIN_DATE.year()..=limits::MAX_DATE.year()).contains(y))?;
        let (month, frequency) = match rest.strip_prefix('Q') {
            Some(q) if q.len() == 1 => {
                let q: u32 = q.parse().ok().filter(|q| (1..=4).contains(q))?;
                ((q - 1) * 3 + 1, SettlementFrequency::Quarterly)
            }
            Some(_) => return None,
            None if rest.len() == 2 => {
                let m: u32 = rest.parse().ok().filter(|m| (1..=12).contains(m))?;
                (m, SettlementFrequency::Monthly)
            }
            None => return None,
        };
        let start = NaiveDate::from_ymd_opt(year, month, 1)?;
        Some(Period { start, frequency })
    }

    /// The period of `frequency` that contains `date`.
    pub fn containing(date: NaiveDate, frequency: SettlementFrequency) -> Period {
        let month = match frequency {
            SettlementFrequency::Quarterly => (date.month0() / 3) * 3 + 1,
            SettlementFrequency::Monthly => date.month(),
        };
        let start = NaiveDate::from_ymd_opt(date.year(), month, 1).expect("the first of a month");
        Period { start, frequency }
    }

    pub fn frequency(&self) -> SettlementFrequency {
        self.frequency
    }

    /// Its first day.
    pub fn start(&self) -> NaiveDate {
        self.start
    }

    /// The first day after it: the period holds every instant before this day begins.
    pub fn end_exclusive(&self) -> NaiveDate {
        self.start
            .checked_add_months(Months::new(self.months()))
            .expect("periods end long before chrono's range does")
    }

    /// Its last day.
    pub fn last_day(&self) -> NaiveDate {
        self.end_exclusive().pred_opt().expect("a period has days")
    }

    /// The period that follows this one.
    pub fn next(&self) -> Period {
        Period {
            start: self.end_exclusive(),
            frequency: self.frequency,
        }
    }

    fn months(&self) -> u32 {
        match self.frequency {
            SettlementFrequency::Quarterly => 3,
            SettlementFrequency::Monthly => 1,
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.frequency {
            SettlementFrequency::Quarterly => {
                write!(f, "{}-Q{}", self.start.year(), self.start.month0() / 3 + 1)
            }
            SettlementFrequency::Monthly => {
                write!(f, "{}-{:02}", self.start.year(), self.start.month())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn quarters_and_months_read_and_print_the_same() {
        let q1 = Period::parse("2021-Q1").unwrap();
        assert_eq!(
            (q1.start(), q1.last_day()),
            (d("2021-01-01"), d("2021-03-31"))
        );
        assert_eq!(q1.to_string(), "2021-Q1");
        let q4 = Period::parse("2021-Q4").unwrap();
        assert_eq!(
            (q4.start(), q4.last_day()),
            (d("2021-10-01"), d("2021-12-31"))
        );
        assert_eq!(q4.next().to_string(), "2022-Q1");
        let feb = Period::parse("2024-02").unwrap();
        assert_eq!(
            (feb.start(), feb.last_day()),
            (d("2024-02-01"), d("2024-02-29"))
        );
        assert_eq!(feb.to_string(), "2024-02");
        assert_eq!(feb.frequency(), SettlementFrequency::Monthly);
        for bad in [
            "2021-Q5", "2021-Q0", "2021-13", "2021-3", "March", "1899-Q4", "2200-01", "21-Q1",
            "2021-Q11", "2021-+3", "+021-03", "2021-Q+", " 2021-03", "2021-03 ",
        ] {
            assert_eq!(Period::parse(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn every_day_lies_in_exactly_the_period_that_contains_it(days in 0i64..109_000, monthly: bool) {
            let date = d("1900-01-01") + chrono::Duration::days(days);
            let frequency = if monthly { SettlementFrequency::Monthly } else { SettlementFrequency::Quarterly };
            let period = Period::containing(date, frequency);
            prop_assert!(period.start() <= date && date < period.end_exclusive());
            prop_assert_eq!(Period::parse(&period.to_string()), Some(period));
            prop_assert_eq!(period.next().start(), period.end_exclusive());
        }
    }
}
