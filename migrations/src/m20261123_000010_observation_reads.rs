//! Faster roll-up reads of observations.
//!
//! `hidden_by_total` marks a value recorded for a journey stage when the same metric, period,
//! granularity and segment also has a value recorded without a stage: roll-ups that do not
//! break down by stage use that total and never read the stage values (docs/series.md,
//! rule 3), so such reads can leave them out. Values are never deleted and keep their
//! dimensions, so the mark only ever turns on, when a total arrives; existing values are
//! marked here.
//!
//! An index answers roll-ups from the index alone: the values of some metrics over a date
//! range, without visiting the table rows (dashboards read tens of thousands of daily values
//! at once).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "ALTER TABLE observations ADD COLUMN hidden_by_total BOOLEAN NOT NULL DEFAULT FALSE",
        )
        .await?;
        db.execute_unprepared(
            "UPDATE observations SET hidden_by_total = TRUE \
             WHERE stage_id IS NOT NULL AND EXISTS (SELECT 1 FROM observations total \
             WHERE total.org_id = observations.org_id \
             AND total.metric_id = observations.metric_id \
             AND total.period_start = observations.period_start \
             AND total.granularity = observations.granularity \
             AND total.stage_id IS NULL \
             AND (total.segment_id = observations.segment_id \
                  OR (total.segment_id IS NULL AND observations.segment_id IS NULL)))",
        )
        .await?;
        // PostgreSQL keys on what the reads filter by and carries the rest; SQLite has no
        // INCLUDE, so every column is a key column there.
        let sql = match manager.get_database_backend() {
            DbBackend::Postgres => {
                "CREATE INDEX ix_observations_rollup ON observations \
                 (org_id, metric_id, period_start) \
                 INCLUDE (granularity, segment_id, stage_id, value, hidden_by_total)"
            }
            _ => {
                "CREATE INDEX ix_observations_rollup ON observations \
                 (org_id, metric_id, period_start, granularity, segment_id, stage_id, value, \
                 hidden_by_total)"
            }
        };
        db.execute_unprepared(sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX ix_observations_rollup")
            .await?;
        db.execute_unprepared("ALTER TABLE observations DROP COLUMN hidden_by_total")
            .await?;
        Ok(())
    }
}
