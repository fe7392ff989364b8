//! Table rows, private to the storage layer.

pub mod audit_events;
pub mod job_roles;
pub mod journey_stages;
pub mod metric_versions;
pub mod metrics;
pub mod observations;
pub mod organization_settings;
pub mod organizations;
pub mod people;
pub mod person_roles;
pub mod scorecard_items;
pub mod scorecards;
pub mod segments;
pub mod teams;
