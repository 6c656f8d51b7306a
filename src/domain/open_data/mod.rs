//! Open data: the standardised, anonymised tables cofund publishes, and the rules that decide
//! what may be in them. Pure: the services read the database and write the tables.

pub mod adjustments;
pub mod catalog;
pub mod classification;
pub mod disclosure;
pub mod history;
pub mod indigo;
pub mod package;
pub mod publish;
pub mod query;
pub mod rows;
pub mod suppression;
pub mod value;
