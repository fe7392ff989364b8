//! Tandem's database migrations. Each step is one file named `mYYYYMMDD_NNNNNN_<what>.rs`
//! and is frozen once released: later changes are new steps.
//!
//! Every table carries `org_id`; primary keys and unique indexes lead with it and foreign
//! keys include it, so a row can never point at another tenant's row and the schema can be
//! distributed by tenant.
//!
//! Each step keeps its own small column helpers (`uuid`, `text`, `exact_decimal`, `tenant_fk`)
//! on purpose: a helper shared between steps could be changed later and silently alter a
//! released step.

pub use sea_orm_migration::prelude::*;
pub use sea_orm_migration::{MigrationStatus, MigratorTrait};

mod m20261122_000001_foundation;
mod m20261122_000002_people_scorecards;
mod m20261122_000003_goals_okrs;
mod m20261122_000004_incentives;
mod m20261122_000005_governance;
mod m20261122_000006_revenue_dashboards;
mod m20261122_000007_sync;
mod m20261122_000008_live;
mod m20261123_000009_mrr_ledger;
mod m20261123_000010_observation_reads;

/// Runs Tandem's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_foundation::Migration),
            Box::new(m20261122_000002_people_scorecards::Migration),
            Box::new(m20261122_000003_goals_okrs::Migration),
            Box::new(m20261122_000004_incentives::Migration),
            Box::new(m20261122_000005_governance::Migration),
            Box::new(m20261122_000006_revenue_dashboards::Migration),
            Box::new(m20261122_000007_sync::Migration),
            Box::new(m20261122_000008_live::Migration),
            Box::new(m20261123_000009_mrr_ledger::Migration),
            Box::new(m20261123_000010_observation_reads::Migration),
        ]
    }
}
