//! End-to-end tests over real HTTP with real signed tokens, on SQLite and PostgreSQL.

mod audit;
mod audit_completeness;
mod batching;
mod dimensions;
mod glossary;
mod goals;
mod governance;
mod governance_more;
mod hr_sync;
mod incentives;
mod limits;
mod migrations;
mod observations;
mod okrs;
mod people;
mod relay;
mod scorecards;
mod security;
mod series;
mod support;
