//! Tandem's business types and rules, free of I/O.
//!
//! Every value here is valid once built: parse functions return a typed error naming what is
//! wrong, and the layers above attach the offending input field.

pub mod access;
pub mod dashboards;
pub mod error;
pub mod formula;
pub mod goals;
pub mod governance;
pub mod incentives;
pub mod metrics;
pub mod okrs;
pub mod people;
pub mod periods;
pub mod revenue;
pub mod rollup;
pub mod scorecards;
pub mod segments;

pub use error::{Invalid, RuleViolation};
