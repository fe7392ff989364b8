//! End-to-end tests over real HTTP with real signed tokens, on SQLite and PostgreSQL.

mod batching;
mod glossary;
