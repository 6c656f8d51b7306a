//! Outcome claims: submitted (one by one or as a provider's file), verified (the split posted
//! to the ledger), rejected and revoked. Each room holds one use case's work:
//! - `rules`: a project's rules read once, and the locks a use case takes before it acts;
//! - `submit`: every rate-card rule against the participant's history, and the claims stored;
//! - `verify`: pricing, the exact split between the payers, and the ledger entries;
//! - `decide`: rejection and revocation;
//! - `seen`: a claim as one caller sees it, the answer of every use case on one claim;
//! - `bulk`: a provider's file and many claims verified at once, as a request or a job runs them.

pub mod bulk;
pub mod decide;
pub mod rules;
pub mod seen;
pub mod submit;
pub mod verify;
