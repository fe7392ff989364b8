//! Customer accounts and their MRR movements, metric-tree edges, and saved dashboards.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Segments {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum Metrics {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum Accounts {
    Table,
    OrgId,
    Id,
    ExternalId,
    Name,
    SegmentId,
    StartedOn,
    RenewsOn,
    Arr,
    HealthScore,
    Risk,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RevenueMovements {
    Table,
    OrgId,
    Id,
    ExternalId,
    AccountId,
    EffectiveOn,
    Kind,
    Amount,
    RecordedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum MetricEdges {
    Table,
    OrgId,
    OutputMetricId,
    InputMetricId,
    Rationale,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Dashboards {
    Table,
    OrgId,
    Id,
    Name,
    Description,
    Visibility,
    OwnerSubject,
    Panels,
    Version,
    CreatedAt,
    UpdatedAt,
}

fn uuid(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().take()
}

fn uuid_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).uuid().null().take()
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

fn tenant_fk(
    from_table: impl IntoIden,
    from_col: impl IntoIden,
    to_table: impl IntoIden,
) -> ForeignKeyCreateStatement {
    let org = Alias::new("org_id");
    ForeignKey::create()
        .from_tbl(from_table)
        .from_col(org.clone())
        .from_col(from_col)
        .to_tbl(to_table)
        .to_col(org)
        .to_col(Alias::new("id"))
        .take()
}

fn org_fk(from_table: impl IntoIden, from_col: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from_tbl(from_table)
        .from_col(from_col)
        .to_tbl(Organizations::Table)
        .to_col(Organizations::Id)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // Exact decimals: NUMERIC on PostgreSQL, canonical text on SQLite.
        let decimal = |col: &dyn Fn() -> ColumnDef, null: bool| {
            let mut def = col();
            match backend {
                DbBackend::Sqlite => def.text(),
                _ => def.decimal(),
            };
            if null {
                def.null()
            } else {
                def.not_null()
            };
            def
        };
        manager
            .create_table(
                Table::create()
                    .table(Accounts::Table)
                    .col(uuid(Accounts::OrgId))
                    .col(uuid(Accounts::Id))
                    .col(text(Accounts::ExternalId))
                    .col(text(Accounts::Name))
                    .col(uuid_null(Accounts::SegmentId))
                    .col(ColumnDef::new(Accounts::StartedOn).date().null())
                    .col(ColumnDef::new(Accounts::RenewsOn).date().null())
                    .col(decimal(&|| ColumnDef::new(Accounts::Arr), false))
                    .col(decimal(&|| ColumnDef::new(Accounts::HealthScore), true))
                    .col(text(Accounts::Risk))
                    .col(timestamp(Accounts::CreatedAt))
                    .col(timestamp(Accounts::UpdatedAt))
                    .primary_key(Index::create().col(Accounts::OrgId).col(Accounts::Id))
                    .foreign_key(&mut org_fk(Accounts::Table, Accounts::OrgId))
                    .foreign_key(&mut tenant_fk(
                        Accounts::Table,
                        Accounts::SegmentId,
                        Segments::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_accounts_external_id")
                    .table(Accounts::Table)
                    .col(Accounts::OrgId)
                    .col(Accounts::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_accounts_risk_renewal")
                    .table(Accounts::Table)
                    .col(Accounts::OrgId)
                    .col(Accounts::Risk)
                    .col(Accounts::RenewsOn)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RevenueMovements::Table)
                    .col(uuid(RevenueMovements::OrgId))
                    .col(uuid(RevenueMovements::Id))
                    .col(text(RevenueMovements::ExternalId))
                    .col(uuid(RevenueMovements::AccountId))
                    .col(
                        ColumnDef::new(RevenueMovements::EffectiveOn)
                            .date()
                            .not_null(),
                    )
                    .col(text(RevenueMovements::Kind))
                    .col(decimal(&|| ColumnDef::new(RevenueMovements::Amount), false))
                    .col(text(RevenueMovements::RecordedBy))
                    .col(timestamp(RevenueMovements::CreatedAt))
                    .col(timestamp(RevenueMovements::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(RevenueMovements::OrgId)
                            .col(RevenueMovements::Id),
                    )
                    .foreign_key(&mut tenant_fk(
                        RevenueMovements::Table,
                        RevenueMovements::AccountId,
                        Accounts::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_revenue_movements_external_id")
                    .table(RevenueMovements::Table)
                    .col(RevenueMovements::OrgId)
                    .col(RevenueMovements::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_revenue_movements_effective_on")
                    .table(RevenueMovements::Table)
                    .col(RevenueMovements::OrgId)
                    .col(RevenueMovements::EffectiveOn)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_revenue_movements_account")
                    .table(RevenueMovements::Table)
                    .col(RevenueMovements::OrgId)
                    .col(RevenueMovements::AccountId)
                    .col(RevenueMovements::EffectiveOn)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MetricEdges::Table)
                    .col(uuid(MetricEdges::OrgId))
                    .col(uuid(MetricEdges::OutputMetricId))
                    .col(uuid(MetricEdges::InputMetricId))
                    .col(text_null(MetricEdges::Rationale))
                    .col(text(MetricEdges::CreatedBy))
                    .col(timestamp(MetricEdges::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(MetricEdges::OrgId)
                            .col(MetricEdges::OutputMetricId)
                            .col(MetricEdges::InputMetricId),
                    )
                    .foreign_key(&mut tenant_fk(
                        MetricEdges::Table,
                        MetricEdges::OutputMetricId,
                        Metrics::Table,
                    ))
                    .foreign_key(&mut tenant_fk(
                        MetricEdges::Table,
                        MetricEdges::InputMetricId,
                        Metrics::Table,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Dashboards::Table)
                    .col(uuid(Dashboards::OrgId))
                    .col(uuid(Dashboards::Id))
                    .col(text(Dashboards::Name))
                    .col(text_null(Dashboards::Description))
                    .col(text(Dashboards::Visibility))
                    .col(text(Dashboards::OwnerSubject))
                    .col(ColumnDef::new(Dashboards::Panels).json_binary().not_null())
                    .col(ColumnDef::new(Dashboards::Version).integer().not_null())
                    .col(timestamp(Dashboards::CreatedAt))
                    .col(timestamp(Dashboards::UpdatedAt))
                    .primary_key(Index::create().col(Dashboards::OrgId).col(Dashboards::Id))
                    .foreign_key(&mut org_fk(Dashboards::Table, Dashboards::OrgId))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Dashboards::Table.into_iden(),
            MetricEdges::Table.into_iden(),
            RevenueMovements::Table.into_iden(),
            Accounts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
