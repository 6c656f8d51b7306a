//! What earlier rebuilds published of a project, which every later rebuild must agree with:
//! the quarters frozen when first published, the totals and cap states told with them, and
//! the adjustments published since (see `publish` and `adjustments` for the rules).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;

use super::rows::{MoneyFacts, ResultFacts};
use crate::domain::money::Minor;
use crate::domain::period::Period;

/// A quarter of a project as frozen when it was first published.
#[derive(Debug, Clone, PartialEq)]
pub struct FrozenQuarter {
    pub period: Period,
    pub frozen_at: NaiveDateTime,
    pub blocks: Vec<FrozenBlock>,
}

/// One outcome in a frozen quarter.
#[derive(Debug, Clone, PartialEq)]
pub struct FrozenBlock {
    pub code: String,
    pub results: ResultFacts,
    /// Each payer's money, by organisation.
    pub money: BTreeMap<String, MoneyFacts>,
    pub withheld: bool,
}

/// A payer's total (or with `None` the project's) as a rebuild published it: the money of the
/// quarters frozen by `as_of`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedTotal {
    pub payer: Option<String>,
    pub as_of: NaiveDateTime,
    pub amount: Minor,
}

/// A cap of the contract, named as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum CapName {
    /// A payer's maximum commitment, by organisation.
    Payer(String),
    /// The contract's maximum outcome payment.
    Contract,
    /// An outcome's volume cap, by outcome code.
    Volume(String),
}

/// How a cap stood at a rebuild, as the auditor told its reader: kept so that later
/// rebuilds' readers know it too (see `disclosure::EarlierCap`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedCap {
    pub cap: CapName,
    pub as_of: NaiveDateTime,
    pub bound: bool,
    /// Which way what the ledger held beyond what was published went: 1, −1 or 0.
    pub beyond: i64,
}

/// What earlier rebuilds published of a project.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub frozen: Vec<FrozenQuarter>,
    pub totals: Vec<PublishedTotal>,
    /// How the caps stood at each rebuild that published something new.
    pub caps: Vec<PublishedCap>,
    pub adjustments: Vec<Adjustment>,
    /// The years whose adjustment round has been held (see `adjustments`).
    pub adjustment_rounds: BTreeSet<i32>,
}

/// The net change of one outcome's published quarters that one rebuild published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub code: String,
    /// The calendar year whose round published it.
    pub year: i32,
    pub published_at: NaiveDateTime,
    pub change: Change,
    /// Whether its money is shown (see the module's doc).
    pub money_shown: bool,
}

/// A change in what the ledger holds for some blocks: a difference of sums, so any part may
/// be negative.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub achieved_units: i64,
    pub paid_units: i64,
    /// What counts against the volume and contract caps (see `disclosure::Block`).
    pub payable_units: i64,
    pub payable_minor: Minor,
    /// Each payer's money, by organisation.
    pub money: BTreeMap<String, Minor>,
}

impl Change {
    /// `self + sign × other`.
    pub fn add(&mut self, other: &Change, sign: i64) {
        self.achieved_units += sign * other.achieved_units;
        self.paid_units += sign * other.paid_units;
        self.payable_units += sign * other.payable_units;
        self.payable_minor += other.payable_minor * sign;
        for (payer, minor) in &other.money {
            *self.money.entry(payer.clone()).or_default() += *minor * sign;
        }
        self.money.retain(|_, minor| !minor.is_zero());
    }

    /// All payers' money.
    pub fn amount(&self) -> Minor {
        self.money.values().sum()
    }

    pub(super) fn of(results: &ResultFacts, money: BTreeMap<String, Minor>) -> Change {
        Change {
            achieved_units: results.achieved_units,
            paid_units: results.paid_units,
            payable_units: results.payable_units,
            payable_minor: results.payable_minor,
            money,
        }
    }

    /// Whether it changes no count.
    pub(super) fn counts_nothing(&self) -> bool {
        self.achieved_units == 0 && self.paid_units == 0
    }

    /// Whether every outcome paid in these blocks was paid exactly `price`, as far as their
    /// totals tell: no outcome is paid more than its price.
    pub(super) fn at_price(&self, price: Minor) -> bool {
        i128::from(self.amount().get()) == i128::from(price.get()) * i128::from(self.paid_units)
    }
}
