//! Integration tests through HTTP. Every test runs on SQLite, and on PostgreSQL when
//! `COFUND_TEST_DATABASE_URL` is set (see .ci/run).

mod access;
mod auth;
mod browser;
mod claims;
mod commitments;
mod demo;
mod disclosure;
mod errors;
mod hardening;
mod helpers;
mod jobs;
mod mail;
mod members;
mod metrics;
mod migrations;
mod open_data;
mod openapi;
mod random_ops;
mod registry;
mod sessions;
mod settlement;
