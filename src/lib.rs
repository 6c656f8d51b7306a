//! cofund: an open-source server for outcome funds.
//!
//! Layers, from the inside out (`tests/architecture.rs` holds every import to them): [`domain`]
//! holds the pure rules (money, shares, validation, the split) and [`clock`] the time they
//! are given; [`db`] stores them on SQLite or PostgreSQL; [`services`] run the use cases over
//! both, with [`notify`] and [`metrics`]; [`api`] is the HTTP surface, [`web`] the pages
//! people read, and [`workers`] the background work; [`startup`] wires it together from [`config`].

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
pub mod web;
pub mod workers;
