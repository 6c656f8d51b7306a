//! Use cases that combine the pure rules of [`crate::domain`] with storage. A use case is one
//! function that the API, the pages, the command line and the workers all call: it takes the
//! caller (a [`crate::domain::access::Principal`]), decides access, opens its own write
//! transaction and takes its locks, so that a state change and its ledger postings commit
//! together or not at all. The few that a retried request must share a transaction with say
//! so, and run inside [`idempotency::once`].

pub mod access;
pub mod audit;
pub mod check;
pub mod claims;
pub mod commitments;
pub mod corrections;
pub mod documents;
pub mod error;
pub mod idempotency;
pub mod jobs;
pub mod members;
pub mod notices;
pub mod open_data;
pub mod position;
pub mod registry;
pub mod sessions;
pub mod settlement;
pub mod stored_terms;
