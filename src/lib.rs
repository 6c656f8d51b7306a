//! cofund: an open-source server for outcome funds.
//!
//! Layers, from the inside out: [`domain`] holds the pure rules (money, shares, validation,
//! the split); [`db`] stores them on SQLite or PostgreSQL; [`api`] is the HTTP surface;
//! [`startup`] wires it together from [`config`].

pub mod api;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod metrics;
pub mod notify;
pub mod services;
pub mod startup;
pub mod telemetry;
pub mod workers;
