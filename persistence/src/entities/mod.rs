//! Table rows, private to the storage layer.

pub mod audit_events;
pub mod check_ins;
pub mod goal_links;
pub mod goals;
pub mod incentive_plans;
pub mod job_roles;
pub mod journey_stages;
pub mod key_results;
pub mod metric_versions;
pub mod metrics;
pub mod objectives;
pub mod observations;
pub mod organization_settings;
pub mod organizations;
pub mod payout_statements;
pub mod people;
pub mod person_roles;
pub mod plan_assignees;
pub mod plan_components;
pub mod plan_gates;
pub mod scorecard_items;
pub mod scorecards;
pub mod segments;
pub mod teams;
