//! Use cases that combine the pure rules of [`crate::domain`] with storage: each runs inside
//! the caller's write transaction, so that a state change and its ledger postings commit
//! together or not at all.

pub mod access;
pub mod check;
pub mod claims;
pub mod commitments;
pub mod corrections;
pub mod error;
pub mod jobs;
pub mod notices;
pub mod open_data;
pub mod position;
pub mod settlement;
pub mod stored_terms;
