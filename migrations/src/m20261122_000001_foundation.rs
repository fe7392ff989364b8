//! Organizations, the metric glossary with its versions, segments, journey stages,
//! observations and the audit trail.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Metrics {
    Table,
    OrgId,
    Id,
    Key,
    Name,
    Definition,
    Unit,
    Currency,
    Direction,
    Perspective,
    Kind,
    Aggregation,
    OwnerTeam,
    Status,
    Formula,
    Version,
    CreatedBy,
    CreatedAt,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum MetricVersions {
    Table,
    OrgId,
    MetricId,
    Version,
    Change,
    ChangedBy,
    ChangedAt,
    Before,
    After,
}

#[derive(DeriveIden)]
enum Segments {
    Table,
    OrgId,
    Id,
    Key,
    Name,
    Description,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum JourneyStages {
    Table,
    OrgId,
    Id,
    Key,
    Name,
    Position,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Observations {
    Table,
    OrgId,
    Id,
    MetricId,
    Granularity,
    PeriodStart,
    SegmentId,
    StageId,
    DimKey,
    Value,
    Source,
    RecordedBy,
    RecordedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    OrgId,
    Id,
    Actor,
    Operation,
    EntityType,
    EntityId,
    Before,
    After,
    At,
}

/// An exact decimal column: `NUMERIC` on PostgreSQL; on SQLite, which has no exact decimal
/// type, canonical text, so every digit survives.
fn exact_decimal(col: impl IntoIden, backend: DbBackend) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    match backend {
        DbBackend::Sqlite => def.text(),
        _ => def.decimal(),
    };
    def.not_null().take()
}

fn uuid(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().take()
}

fn text(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().take()
}

fn text_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().null().take()
}

fn timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

fn json_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).json_binary().null().take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();

        manager
            .create_table(
                Table::create()
                    .table(Organizations::Table)
                    .col(uuid(Organizations::Id).primary_key())
                    .col(text(Organizations::Name))
                    .col(timestamp(Organizations::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Metrics::Table)
                    .col(uuid(Metrics::OrgId))
                    .col(uuid(Metrics::Id))
                    .col(text(Metrics::Key))
                    .col(text(Metrics::Name))
                    .col(text(Metrics::Definition))
                    .col(text(Metrics::Unit))
                    .col(text_null(Metrics::Currency))
                    .col(text(Metrics::Direction))
                    .col(text(Metrics::Perspective))
                    .col(text(Metrics::Kind))
                    .col(text(Metrics::Aggregation))
                    .col(text_null(Metrics::OwnerTeam))
                    .col(text(Metrics::Status))
                    .col(text_null(Metrics::Formula))
                    .col(ColumnDef::new(Metrics::Version).integer().not_null())
                    .col(text(Metrics::CreatedBy))
                    .col(timestamp(Metrics::CreatedAt))
                    .col(text(Metrics::UpdatedBy))
                    .col(timestamp(Metrics::UpdatedAt))
                    .primary_key(Index::create().col(Metrics::OrgId).col(Metrics::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Metrics::Table, Metrics::OrgId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_metrics_org_key")
                    .table(Metrics::Table)
                    .col(Metrics::OrgId)
                    .col(Metrics::Key)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MetricVersions::Table)
                    .col(uuid(MetricVersions::OrgId))
                    .col(uuid(MetricVersions::MetricId))
                    .col(ColumnDef::new(MetricVersions::Version).integer().not_null())
                    .col(text(MetricVersions::Change))
                    .col(text(MetricVersions::ChangedBy))
                    .col(timestamp(MetricVersions::ChangedAt))
                    .col(json_null(MetricVersions::Before))
                    .col(json_null(MetricVersions::After))
                    .primary_key(
                        Index::create()
                            .col(MetricVersions::OrgId)
                            .col(MetricVersions::MetricId)
                            .col(MetricVersions::Version),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(MetricVersions::Table)
                            .from_col(MetricVersions::OrgId)
                            .from_col(MetricVersions::MetricId)
                            .to_tbl(Metrics::Table)
                            .to_col(Metrics::OrgId)
                            .to_col(Metrics::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Segments::Table)
                    .col(uuid(Segments::OrgId))
                    .col(uuid(Segments::Id))
                    .col(text(Segments::Key))
                    .col(text(Segments::Name))
                    .col(text_null(Segments::Description))
                    .col(timestamp(Segments::CreatedAt))
                    .col(timestamp(Segments::UpdatedAt))
                    .primary_key(Index::create().col(Segments::OrgId).col(Segments::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Segments::Table, Segments::OrgId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_segments_org_key")
                    .table(Segments::Table)
                    .col(Segments::OrgId)
                    .col(Segments::Key)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(JourneyStages::Table)
                    .col(uuid(JourneyStages::OrgId))
                    .col(uuid(JourneyStages::Id))
                    .col(text(JourneyStages::Key))
                    .col(text(JourneyStages::Name))
                    .col(ColumnDef::new(JourneyStages::Position).integer().not_null())
                    .col(timestamp(JourneyStages::CreatedAt))
                    .col(timestamp(JourneyStages::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(JourneyStages::OrgId)
                            .col(JourneyStages::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(JourneyStages::Table, JourneyStages::OrgId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_journey_stages_org_key")
                    .table(JourneyStages::Table)
                    .col(JourneyStages::OrgId)
                    .col(JourneyStages::Key)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Observations::Table)
                    .col(uuid(Observations::OrgId))
                    .col(uuid(Observations::Id))
                    .col(uuid(Observations::MetricId))
                    .col(text(Observations::Granularity))
                    .col(ColumnDef::new(Observations::PeriodStart).date().not_null())
                    .col(ColumnDef::new(Observations::SegmentId).uuid().null())
                    .col(ColumnDef::new(Observations::StageId).uuid().null())
                    .col(text(Observations::DimKey))
                    .col(exact_decimal(Observations::Value, backend))
                    .col(text_null(Observations::Source))
                    .col(text(Observations::RecordedBy))
                    .col(timestamp(Observations::RecordedAt))
                    .col(timestamp(Observations::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(Observations::OrgId)
                            .col(Observations::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(Observations::Table)
                            .from_col(Observations::OrgId)
                            .from_col(Observations::MetricId)
                            .to_tbl(Metrics::Table)
                            .to_col(Metrics::OrgId)
                            .to_col(Metrics::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(Observations::Table)
                            .from_col(Observations::OrgId)
                            .from_col(Observations::SegmentId)
                            .to_tbl(Segments::Table)
                            .to_col(Segments::OrgId)
                            .to_col(Segments::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(Observations::Table)
                            .from_col(Observations::OrgId)
                            .from_col(Observations::StageId)
                            .to_tbl(JourneyStages::Table)
                            .to_col(JourneyStages::OrgId)
                            .to_col(JourneyStages::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // The natural key: one value per metric, period, segment and stage. `dim_key` folds the
        // optional segment and stage into one non-null column so the key is unique on every
        // backend (NULLs are distinct in unique indexes).
        manager
            .create_index(
                Index::create()
                    .name("ux_observations_natural_key")
                    .table(Observations::Table)
                    .col(Observations::OrgId)
                    .col(Observations::MetricId)
                    .col(Observations::PeriodStart)
                    .col(Observations::Granularity)
                    .col(Observations::DimKey)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(uuid(AuditEvents::OrgId))
                    .col(uuid(AuditEvents::Id))
                    .col(text(AuditEvents::Actor))
                    .col(text(AuditEvents::Operation))
                    .col(text(AuditEvents::EntityType))
                    .col(text_null(AuditEvents::EntityId))
                    .col(json_null(AuditEvents::Before))
                    .col(json_null(AuditEvents::After))
                    .col(timestamp(AuditEvents::At))
                    .primary_key(Index::create().col(AuditEvents::OrgId).col(AuditEvents::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuditEvents::Table, AuditEvents::OrgId)
                            .to(Organizations::Table, Organizations::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_audit_events_org_entity", AuditEvents::EntityId),
            ("ix_audit_events_org_actor", AuditEvents::Actor),
            ("ix_audit_events_org_at", AuditEvents::At),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEvents::Table)
                        .col(AuditEvents::OrgId)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            Observations::Table.into_iden(),
            JourneyStages::Table.into_iden(),
            Segments::Table.into_iden(),
            MetricVersions::Table.into_iden(),
            Metrics::Table.into_iden(),
            Organizations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
