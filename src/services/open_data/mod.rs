//! Open data: rebuilding the published tables, reading them page by page or whole, and
//! cutting releases.

pub mod build;
pub mod history;
pub mod read;
pub mod release;

use crate::domain::open_data::package::Licence;
use crate::domain::open_data::publish::Rules;

/// Open data: the small-number threshold, the licence, and the rebuild interval.
#[derive(Debug, Clone)]
pub struct OpenDataSettings {
    /// Counts from 1 to k−1 are withheld.
    pub k: i64,
    pub licence: Licence,
    /// How often the published tables are rebuilt from the ledger; none: only when a release
    /// is cut or an administrator asks.
    pub refresh: Option<std::time::Duration>,
    /// A quarter is published (and frozen) this many days after it ends, once its claims are
    /// in: claims are submitted monthly and settled quarterly, in arrears.
    pub close_after_days: u32,
}

impl OpenDataSettings {
    /// What decides each publication.
    pub fn rules(&self) -> Rules {
        Rules {
            k: self.k,
            close_after_days: self.close_after_days,
        }
    }
}
