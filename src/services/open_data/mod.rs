//! Open data: rebuilding the published tables, reading them page by page or whole, and
//! cutting releases.

pub mod build;
pub mod history;
pub mod read;
pub mod release;
