//! Tandem's API: the GraphQL schema, authentication and authorization, the HTTP server and
//! the `tandem` command.

pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod server;

mod audit;
mod dimensions;
mod goals;
mod governance;
mod graphql;
mod incentives;
mod metrics;
mod observations;
mod organization;
mod people;
mod scorecards;

pub use graphql::{ApiSchema, Limits, build_schema};
