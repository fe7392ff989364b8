//! End-to-end tests over real HTTP with real signed tokens, on SQLite and PostgreSQL.

mod audit;
mod batching;
mod dimensions;
mod glossary;
mod hr_sync;
mod limits;
mod migrations;
mod observations;
mod relay;
mod security;
mod series;
mod support;
