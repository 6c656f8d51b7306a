//! The time the application acts at. Production reads the system clock; a test moves its own
//! application's clock forward to post allocations in later settlement periods. Each
//! application has its own clock, so tests running side by side never see each other's.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, Utc};

#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_seconds: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock, unmoved.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// Now, in UTC.
    pub fn now(&self) -> NaiveDateTime {
        let offset = chrono::Duration::seconds(self.offset_seconds.load(Ordering::Relaxed));
        Utc::now().naive_utc() + offset
    }

    /// Today's date in UTC.
    pub fn today(&self) -> NaiveDate {
        self.now().date()
    }

    /// Moves this clock (and every copy of it) forward by `days`.
    pub fn advance_days(&self, days: i64) {
        self.advance(chrono::Duration::days(days));
    }

    /// Moves this clock (and every copy of it) forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_seconds
            .fetch_add(by.num_seconds(), Ordering::Relaxed);
    }
}
