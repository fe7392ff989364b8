//! An index that answers roll-ups from the index alone: the values of some metrics over a
//! date range, without visiting the table rows (dashboards and formula series read tens of
//! thousands of daily values at once).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // PostgreSQL keys on what the reads filter by and carries the rest; SQLite has no
        // INCLUDE, so every column is a key column there.
        let sql = match manager.get_database_backend() {
            DbBackend::Postgres => {
                "CREATE INDEX ix_observations_rollup ON observations \
                 (org_id, metric_id, period_start) \
                 INCLUDE (granularity, segment_id, stage_id, value)"
            }
            _ => {
                "CREATE INDEX ix_observations_rollup ON observations \
                 (org_id, metric_id, period_start, granularity, segment_id, stage_id, value)"
            }
        };
        manager.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX ix_observations_rollup")
            .await?;
        Ok(())
    }
}
