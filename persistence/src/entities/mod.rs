//! Table rows, private to the storage layer.

pub mod audit_events;
pub mod journey_stages;
pub mod metric_versions;
pub mod metrics;
pub mod observations;
pub mod organizations;
pub mod segments;
