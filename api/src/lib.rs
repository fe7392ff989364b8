//! Tandem's API: the GraphQL schema, authentication and authorization, the HTTP server and
//! the `tandem` command.

pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod server;
pub mod telemetry;
pub mod throttle;

mod audit;
mod dashboards;
mod dimensions;
mod export;
mod goals;
mod governance;
mod graphiql;
mod graphql;
mod graphql_http;
mod incentives;
mod insights;
mod live;
mod metrics;
mod observations;
mod organization;
mod people;
mod revenue;
mod scorecards;
mod sync;

pub use graphql::{
    ApiSchema, Limits, PERSISTED_QUERY_CACHE_ENTRIES, build_schema, build_schema_with,
};
pub use live::LiveSettings;
